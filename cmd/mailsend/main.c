/* mailsend: send mail over SMTP or LMTP. */
#include "cli.h"
#include "smtp.h"

static const struct opt_def mailsend_opts[] = {
	{ "helo", 0, OPT_VALUE, "NAME", "name to give in EHLO (default localhost)" },
	OPT_END
};

static enum mp_status probe_open(void **s, const struct cli *cli,
				 struct mp_error *err)
{
	struct smtp_session *session = NULL;
	enum mp_status st = smtp_open(&session, &cli->server,
				      cli_get(cli, "helo"), err);
	*s = session;
	return st;
}
static enum mp_status probe_auth(void *s, const struct mp_auth *a, struct mp_error *err) { return smtp_auth(s, a, err); }
static const struct session_info *probe_info(void *s) { return smtp_info(s); }
static struct conn *probe_conn(void *s) { return smtp_conn(s); }
static enum mp_status probe_quit(void *s, struct mp_error *err) { return smtp_quit(s, err); }
static void probe_close(void *s) { smtp_close(s); }

static const struct probe_ops probe_ops = {
	probe_open, probe_auth, probe_info, probe_conn, probe_quit, probe_close, false
};

static const enum mp_proto protos[] = { MP_PROTO_SMTP, MP_PROTO_LMTP };

static const struct tool mailsend = {
	.prog = "mailsend",
	.usage = "--probe [--server URL | -a ACCOUNT] [options]",
	.about = "Send mail over SMTP or LMTP.",
	.opts = mailsend_opts,
	.protos = protos,
	.nprotos = 2,
	.probe = &probe_ops,
};

int main(int argc, char **argv)
{
	return cli_main(&mailsend, argc, argv);
}
