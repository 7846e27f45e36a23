/* The frame every tool's main() runs in. */
#include "cli.h"

#include <stdio.h>

int cli_main(const struct tool *tool, int argc, char **argv)
{
	struct cli cli;
	struct mp_error err = { 0 };
	enum mp_status st = cli_init(&cli, tool->prog, tool->opts, argc, argv, &err);
	cli.sendmail_style = tool->sendmail_style;
	if (st == MP_OK && cli.help) {
		cli_help(&cli, tool->usage, tool->about, stdout);
	} else if (st == MP_OK && cli.version) {
		cli_version(&cli);
	} else if (st == MP_OK) {
		cli.protos = tool->protos;
		cli.nprotos = tool->nprotos;
		/* A tool's own work may not need a server (mailsend -bp). */
		if (cli.probe || !tool->run || cli_get(&cli, "server"))
			st = cli_ensure_server(&cli, &err);
		if (st == MP_OK && cli.probe)
			st = cli_probe(&cli, tool->probe, &err);
		else if (st == MP_OK && tool->run)
			st = tool->run(&cli, &err);
		else if (st == MP_OK)
			st = mp_fail(&err, MP_ERR_USAGE,
				     "no action given; this version offers --probe (see --help)");
	}
	if (st != MP_OK)
		cli_error(&cli, &err);
	cli_free(&cli);
	return cli_exit_code(st);
}

enum mp_status cli_ensure_server(struct cli *cli, struct mp_error *err)
{
	if (cli->server_ready)
		return MP_OK;
	enum mp_status st = cli_server(cli, cli->protos, cli->nprotos, err);
	cli->server_ready = st == MP_OK;
	return st;
}
