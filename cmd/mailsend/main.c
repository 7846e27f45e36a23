/* mailsend: send mail over SMTP or LMTP. */
#include <stdio.h>

#include "cli.h"
#include "smtp.h"

static const struct opt_def mailsend_opts[] = {
	{ "helo", 0, OPT_VALUE, "NAME", "name to give in EHLO (default localhost)" },
	OPT_END
};

static const char *helo_name;

static enum mp_status probe_open(void **s, const struct server_opts *srv,
				 struct mp_error *err)
{
	struct smtp_session *session = NULL;
	enum mp_status st = smtp_open(&session, srv, helo_name, err);
	*s = session;
	return st;
}
static enum mp_status probe_auth(void *s, const struct mp_auth *a, struct mp_error *err)
{
	return smtp_auth(s, a, err);
}
static const struct session_info *probe_info(void *s) { return smtp_info(s); }
static struct conn *probe_conn(void *s) { return smtp_conn(s); }
static enum mp_status probe_quit(void *s, struct mp_error *err) { return smtp_quit(s, err); }
static void probe_close(void *s) { smtp_close(s); }

static const struct probe_ops probe_ops = {
	probe_open, probe_auth, probe_info, probe_conn, probe_quit, probe_close, false
};

int main(int argc, char **argv)
{
	static const enum mp_proto protos[] = { MP_PROTO_SMTP, MP_PROTO_LMTP };
	struct cli cli;
	struct mp_error err = { 0 };
	enum mp_status st = cli_init(&cli, "mailsend", mailsend_opts, argc, argv, &err);
	if (st == MP_OK && cli.help) {
		cli_help(&cli, "--probe [--server URL | -a ACCOUNT] [options]",
			 "Send mail over SMTP or LMTP.", stdout);
	} else if (st == MP_OK && cli.version) {
		cli_version(&cli);
	} else if (st == MP_OK) {
		st = cli_server(&cli, protos, 2, &err);
		helo_name = cli_get(&cli, "helo");
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
