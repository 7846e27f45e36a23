/* imapsync: keep a local copy of IMAP folders. */
#include "cli.h"
#include "imap.h"

static const struct opt_def imapsync_opts[] = {
	OPT_END
};

static enum mp_status probe_open(void **s, const struct cli *cli,
				 struct mp_error *err)
{
	struct imap_session *session = NULL;
	enum mp_status st = imap_open(&session, &cli->server, err);
	*s = session;
	return st;
}
static enum mp_status probe_auth(void *s, const struct mp_auth *a, struct mp_error *err) { return imap_auth(s, a, err); }
static const struct session_info *probe_info(void *s) { return imap_info(s); }
static struct conn *probe_conn(void *s) { return imap_conn(s); }
static enum mp_status probe_quit(void *s, struct mp_error *err) { return imap_logout(s, err); }
static void probe_close(void *s) { imap_close(s); }

static const struct probe_ops probe_ops = {
	probe_open, probe_auth, probe_info, probe_conn, probe_quit, probe_close, true
};

static const enum mp_proto protos[] = { MP_PROTO_IMAP };

static const struct tool imapsync = {
	.prog = "imapsync",
	.usage = "--probe [--server URL | -a ACCOUNT] [options]",
	.about = "Keep a local copy of IMAP folders.",
	.opts = imapsync_opts,
	.protos = protos,
	.nprotos = 1,
	.probe = &probe_ops,
};

int main(int argc, char **argv)
{
	return cli_main(&imapsync, argc, argv);
}
