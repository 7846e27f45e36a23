/* popfetch: download POP3 mail, once each. */
#include <stdio.h>

#include "cli.h"
#include "pop3.h"

static const struct opt_def popfetch_opts[] = {
	OPT_END
};


static enum mp_status probe_open(void **s, const struct server_opts *srv,
				 struct mp_error *err)
{
	struct pop3_session *session = NULL;
	enum mp_status st = pop3_open(&session, srv, err);
	*s = session;
	return st;
}
static enum mp_status probe_auth(void *s, const struct mp_auth *a, struct mp_error *err)
{
	return pop3_auth(s, a, err);
}
static const struct session_info *probe_info(void *s) { return pop3_info(s); }
static struct conn *probe_conn(void *s) { return pop3_conn(s); }
static enum mp_status probe_quit(void *s, struct mp_error *err) { return pop3_quit(s, err); }
static void probe_close(void *s) { pop3_close(s); }

static const struct probe_ops probe_ops = {
	probe_open, probe_auth, probe_info, probe_conn, probe_quit, probe_close, true
};

int main(int argc, char **argv)
{
	static const enum mp_proto protos[] = { MP_PROTO_POP3 };
	struct cli cli;
	struct mp_error err = { 0 };
	enum mp_status st = cli_init(&cli, "popfetch", popfetch_opts, argc, argv, &err);
	if (st == MP_OK && cli.help) {
		cli_help(&cli, "--probe [--server URL | -a ACCOUNT] [options]",
			 "Download POP3 mail, once each.", stdout);
	} else if (st == MP_OK && cli.version) {
		cli_version(&cli);
	} else if (st == MP_OK) {
		st = cli_server(&cli, protos, 1, &err);
		if (st == MP_OK && cli.probe)
			st = cli_probe(&cli, &probe_ops, &err);
		else if (st == MP_OK)
			st = mp_fail(&err, MP_ERR_USAGE,
				     "no action given; this version offers --probe (see --help)");
	}
	if (st != MP_OK)
		cli_error(&cli, &err);
	cli_free(&cli);
	return cli_exit_code(st);
}
