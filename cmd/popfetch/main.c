/* popfetch: download POP3 mail, once each. */
#include "cli.h"
#include "pop3.h"

static const struct opt_def popfetch_opts[] = {
	OPT_END
};

static enum mp_status probe_open(void **s, const struct cli *cli,
				 struct mp_error *err)
{
	struct pop3_session *session = NULL;
	enum mp_status st = pop3_open(&session, &cli->server, err);
	*s = session;
	return st;
}
static enum mp_status probe_auth(void *s, const struct mp_auth *a, struct mp_error *err) { return pop3_auth(s, a, err); }
static const struct session_info *probe_info(void *s) { return pop3_info(s); }
static struct conn *probe_conn(void *s) { return pop3_conn(s); }
static enum mp_status probe_quit(void *s, struct mp_error *err) { return pop3_quit(s, err); }
static void probe_close(void *s) { pop3_close(s); }

static const struct probe_ops probe_ops = {
	probe_open, probe_auth, probe_info, probe_conn, probe_quit, probe_close, true
};

static const enum mp_proto protos[] = { MP_PROTO_POP3 };

static const struct tool popfetch = {
	.prog = "popfetch",
	.usage = "--probe [--server URL | -a ACCOUNT] [options]",
	.about = "Download POP3 mail, once each.",
	.opts = popfetch_opts,
	.protos = protos,
	.nprotos = 1,
	.probe = &probe_ops,
};

int main(int argc, char **argv)
{
	return cli_main(&popfetch, argc, argv);
}
