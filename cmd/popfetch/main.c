/* popfetch: download POP3 mail once each, into a Maildir, an mbox, an MDA
 * or stdout, deleting on the server only what is safely kept. */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fetch.h"
#include "pop3.h"
#include "strutil.h"

static const struct opt_def popfetch_opts[] = {
	{ "maildir", 0, OPT_VALUE, "DIR", "deliver into this Maildir (created if missing)" },
	{ "mbox", 0, OPT_VALUE, "FILE", "append to this mbox (mboxrd, locked)" },
	{ "mda", 0, OPT_VALUE, "CMD", "pipe each message to CMD (exit 0 delivered, 75 later)" },
	{ "stdout", 0, OPT_BOOL, NULL, "write an mboxrd stream to stdout" },
	{ "keep", 0, OPT_BOOL, NULL, "leave every message on the server (default)" },
	{ "delete", 0, OPT_BOOL, NULL, "delete messages on the server once kept locally" },
	{ "delete-older-than", 0, OPT_VALUE, "AGE", "delete kept messages first fetched AGE ago (30d, 12h)" },
	{ "all", 0, OPT_BOOL, NULL, "fetch every message, also those fetched before" },
	{ "status", 0, OPT_BOOL, NULL, "count new and total messages, fetch nothing" },
	{ "max-size", 0, OPT_VALUE, "SIZE", "skip messages larger than SIZE (10M, 500k)" },
	{ "delete-oversized", 0, OPT_BOOL, NULL, "with --max-size: delete larger messages unread" },
	{ "limit", 0, OPT_VALUE, "N", "fetch at most N messages this run" },
	{ "dry-run", 0, OPT_BOOL, NULL, "show what would be fetched and deleted, change nothing" },
	{ "state", 0, OPT_VALUE, "FILE", "the UIDL state file (default under XDG_STATE_HOME)" },
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

/* "30d", "12h", "90m", "45s", "2w"; a bare number is days. */
static bool parse_age(const char *s, time_t *out)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);
	if (end == s || errno || s[0] == '-')
		return false;
	unsigned long long mult = 86400;
	if (*end) {
		switch (tolower((unsigned char)*end)) {
		case 's': mult = 1; break;
		case 'm': mult = 60; break;
		case 'h': mult = 3600; break;
		case 'd': mult = 86400; break;
		case 'w': mult = 7 * 86400; break;
		default: return false;
		}
		if (end[1])
			return false;
	}
	if (n > 100ULL * 365 * 86400 / mult)
		return false;
	*out = (time_t)(n * mult);
	return true;
}

/* "10M", "500k", "1G", or bytes. */
static bool parse_size(const char *s, unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);
	if (end == s || errno || s[0] == '-')
		return false;
	unsigned long long mult = 1;
	if (*end) {
		switch (toupper((unsigned char)*end)) {
		case 'K': mult = 1024; break;
		case 'M': mult = 1024 * 1024; break;
		case 'G': mult = 1024ULL * 1024 * 1024; break;
		default: return false;
		}
		if (end[1] && !(toupper((unsigned char)end[1]) == 'B' && !end[2]))
			return false;
	}
	if (n > (1ULL << 50) / mult)
		return false;
	*out = n * mult;
	return true;
}

static enum mp_status bad_option(const struct cli *cli, const char *name,
				 const char *what, struct mp_error *err)
{
	return mp_fail(err, strcmp(cli_origin(cli, name), "command line")
		       ? MP_ERR_CONFIG : MP_ERR_USAGE,
		       "%s: %s must be %s, not '%s'", cli_origin(cli, name), name,
		       what, cli_get(cli, name));
}

/* The default state file: one per server, port and user. */
static enum mp_status default_state_path(const struct cli *cli, char *out,
					 size_t size, struct mp_error *err)
{
	char dir[4096];
	enum mp_status st = cli_state_path("popfetch", dir, sizeof dir, err);
	if (st != MP_OK)
		return st;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return mp_fail(err, MP_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
	char id[600];
	snprintf(id, sizeof id, "%s@%s_%u", cli->auth.user ? cli->auth.user : "",
		 cli->server.url.host, cli->server.url.port);
	/* Keep the name to characters that are safe in any file system. */
	for (char *p = id; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("@._-", *p))
			*p = '_';
	if ((size_t)snprintf(out, size, "%s/%s.state", dir, id) >= size)
		return mp_fail(err, MP_ERR_CONFIG, "state path too long");
	return MP_OK;
}

/* Read every option into a fetch plan. */
static enum mp_status plan(struct cli *cli, struct fetch_plan *p,
			   struct mp_error *err)
{
	enum mp_status st;
	memset(p, 0, sizeof *p);
	bool out_stdout;
	struct { const char *name; bool *flag; } flags[] = {
		{ "stdout", &out_stdout }, { "delete", &p->delete_fetched },
		{ "keep", &p->keep }, { "all", &p->all }, { "status", &p->status },
		{ "delete-oversized", &p->delete_oversized },
		{ "dry-run", &p->dry_run },
	};
	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
		if ((st = cli_bool(cli, flags[i].name, false, flags[i].flag, err)) != MP_OK)
			return st;
	int outputs = 0;
	if (cli_get(cli, "maildir"))
		p->output = OUTPUT_MAILDIR, p->target = cli_get(cli, "maildir"), outputs++;
	if (cli_get(cli, "mbox"))
		p->output = OUTPUT_MBOX, p->target = cli_get(cli, "mbox"), outputs++;
	if (cli_get(cli, "mda"))
		p->output = OUTPUT_MDA, p->target = cli_get(cli, "mda"), outputs++;
	if (out_stdout)
		p->output = OUTPUT_STDOUT, outputs++;
	if (outputs > 1)
		return mp_fail(err, MP_ERR_USAGE,
			       "choose one of --maildir, --mbox, --mda and --stdout");
	if (outputs == 0 && !p->status && !p->dry_run)
		return mp_fail(err, MP_ERR_USAGE,
			       "say where mail goes: --maildir DIR, --mbox FILE, "
			       "--mda CMD or --stdout");
	if (p->keep && (p->delete_fetched || cli_get(cli, "delete-older-than")))
		return mp_fail(err, MP_ERR_USAGE, "--keep contradicts --delete");
	const char *v;
	if ((v = cli_get(cli, "delete-older-than"))) {
		if (!parse_age(v, &p->delete_age))
			return bad_option(cli, "delete-older-than", "an age such as 30d or 12h", err);
		p->delete_by_age = true;
	}
	if ((v = cli_get(cli, "max-size")) && !parse_size(v, &p->max_size))
		return bad_option(cli, "max-size", "a size such as 10M or 500k", err);
	if (p->delete_oversized && !p->max_size)
		return mp_fail(err, MP_ERR_USAGE, "--delete-oversized needs --max-size");
	if ((v = cli_get(cli, "limit"))) {
		char *end;
		errno = 0;
		unsigned long n = strtoul(v, &end, 10);
		if (!*v || *end || errno || v[0] == '-' || n == 0)
			return bad_option(cli, "limit", "a positive number", err);
		p->limit = n;
	}
	if ((v = cli_get(cli, "state")))
		snprintf(p->state_path, sizeof p->state_path, "%s", v);
	else if ((st = default_state_path(cli, p->state_path, sizeof p->state_path, err)) != MP_OK)
		return st;
	p->progress = !cli->quiet && isatty(STDERR_FILENO);
	p->quiet = cli->quiet;
	return MP_OK;
}

static enum mp_status run(struct cli *cli, struct mp_error *err)
{
	struct fetch_plan p;
	enum mp_status st = cli_ensure_server(cli, err);
	if (st == MP_OK)
		st = plan(cli, &p, err);
	if (st == MP_OK)
		st = fetch_run(cli, &p, err);
	return st;
}

static const enum mp_proto protos[] = { MP_PROTO_POP3 };

static const struct tool popfetch = {
	.prog = "popfetch",
	.usage = "[-a ACCOUNT | --server URL] (--maildir DIR | --mbox FILE | "
		 "--mda CMD | --stdout) [--keep | --delete | --delete-older-than AGE] "
		 "[options]",
	.about = "Download POP3 mail, once each; delete on the server only what "
		 "is safely kept.",
	.opts = popfetch_opts,
	.protos = protos,
	.nprotos = 1,
	.probe = &probe_ops,
	.run = run,
};

int main(int argc, char **argv)
{
	return cli_main(&popfetch, argc, argv);
}
