/* imapsync: keep a local copy of IMAP folders, incrementally and
 * crash-safely. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "imap.h"
#include "imapdate.h"
#include "strutil.h"
#include "sync.h"

static const struct opt_def imapsync_opts[] = {
	{ "maildir", 0, OPT_VALUE, "DIR", "back up into DIR, one Maildir per folder" },
	{ "mbox", 0, OPT_VALUE, "DIR", "back up into DIR, one mboxrd file per folder\n"
	  "                             (no flags kept)" },
	{ "stdout", 0, OPT_BOOL, NULL, "write new messages to stdout as an mboxrd stream" },
	{ "mda", 0, OPT_VALUE, "CMD", "pipe each new message to CMD (recorded after exit 0)" },
	{ "folder", 0, OPT_LIST, "PATTERN", "folders to sync (IMAP LIST pattern, * and %; repeatable)" },
	{ "exclude", 0, OPT_LIST, "PATTERN", "skip folders matching this glob (repeatable)" },
	{ "layout", 0, OPT_VALUE, "maildir++|nested", "local folder layout (default maildir++)" },
	{ "jobs", 0, OPT_VALUE, "N", "folders synced in parallel over N connections (default 2)" },
	{ "mirror", 0, OPT_BOOL, NULL, "follow server expunges (moved to the local folder Removed)" },
	{ "since", 0, OPT_VALUE, "DATE", "fetch only mail the server received on or after DATE:\n"
	  "                             25-Nov-2026, 2026-11-25, or 30d (30 days ago)" },
	{ "search", 0, OPT_VALUE, "CRITERIA", "fetch only mail matching these IMAP search keys,\n"
	  "                             e.g. 'FROM boss UNSEEN' (with --since: both apply).\n"
	  "                             Narrowing limits what is fetched, never what is kept:\n"
	  "                             nothing local is removed, kept mail's flags follow,\n"
	  "                             and mail that comes to match later is fetched then" },
	{ "dry-run", 0, OPT_BOOL, NULL, "show what would be fetched, change nothing" },
	{ "json", 0, OPT_BOOL, NULL, "print a JSON summary on stdout" },
	{ "state", 0, OPT_VALUE, "DIR", "with --stdout or --mda: where folder state lives" },
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

/* A setting from the config file is a config error; from argv, usage. */
static enum mp_status bad_setting(const struct cli *cli, const char *name,
				  const char *why, struct mp_error *err)
{
	return mp_fail(err, strcmp(cli_origin(cli, name), "command line")
		       ? MP_ERR_CONFIG : MP_ERR_USAGE,
		       "%s: %s %s", cli_origin(cli, name), name, why);
}

/* --since DATE as a SEARCH date: "25-Nov-2026", "2026-11-25", or "30d",
 * that many days before today (UTC). */
static enum mp_status since_date(const struct cli *cli, const char *v,
				 char out[IMAPDATE_DATE_LEN + 1],
				 struct mp_error *err)
{
	size_t len = strlen(v);
	time_t t;

	if (len >= 2 && len <= 6 && v[len - 1] == 'd' &&
	    strspn(v, "0123456789") == len - 1) {
		t = time(NULL) - (time_t)strtol(v, NULL, 10) * 86400;
	} else if (imapdate_parse_date(v, len, &t, err) != MP_OK) {
		return bad_setting(cli, "since", "takes a date like 25-Nov-2026 or "
				   "2026-11-25, or days back like 30d", err);
	}
	if (imapdate_format_date(t, out, err) != MP_OK)
		return bad_setting(cli, "since", "is out of range", err);
	return MP_OK;
}

/* --since and --search as one set of search keys for run_folder, or
 * NULL when neither narrows the run. The caller frees it. */
static enum mp_status narrowing(const struct cli *cli, char **out,
				struct mp_error *err)
{
	const char *since = cli_get(cli, "since");
	const char *search = cli_get(cli, "search");
	char date[IMAPDATE_DATE_LEN + 1];
	enum mp_status st;

	*out = NULL;
	if (search) {
		if (mp_has_line_break(search, strlen(search)))
			return bad_setting(cli, "search", "must not hold a line break",
					   err);
		if (!search[strspn(search, " \t")])
			return bad_setting(cli, "search", "is empty: give IMAP search "
					   "keys such as 'FROM boss'", err);
	}
	if (since && (st = since_date(cli, since, date, err)) != MP_OK)
		return st;
	if (!since && !search)
		return MP_OK;
	size_t size = (since ? 7 + strlen(date) : 0) + (search ? strlen(search) + 1 : 0) + 1;
	*out = mp_xmalloc(size);
	snprintf(*out, size, "%s%s%s%s", since ? "SINCE " : "", since ? date : "",
		 since && search ? " " : "", search ? search : "");
	return MP_OK;
}

/* A bad value: a usage error from the command line, a config error (with
 * file:line) from the config file. */
static enum mp_status bad_value(const struct cli *cli, const char *name,
				const char *what, struct mp_error *err)
{
	const char *origin = cli_origin(cli, name);
	return mp_fail(err, strcmp(origin, "command line") ? MP_ERR_CONFIG : MP_ERR_USAGE,
		       "%s: %s must be %s, not '%s'", origin, name, what,
		       cli_get(cli, name));
}

static enum mp_status options(struct cli *cli, struct sync_opts *o,
			      struct mp_error *err)
{
	enum mp_status st;
	bool out_stdout;
	memset(o, 0, sizeof *o);
	if ((st = cli_bool(cli, "stdout", false, &out_stdout, err)) != MP_OK ||
	    (st = cli_bool(cli, "dry-run", false, &o->dry_run, err)) != MP_OK ||
	    (st = cli_bool(cli, "mirror", false, &o->mirror, err)) != MP_OK ||
	    (st = cli_bool(cli, "json", false, &o->json, err)) != MP_OK)
		return st;
	int outputs = (cli_get(cli, "maildir") != NULL) + (cli_get(cli, "mbox") != NULL) +
		      out_stdout + (cli_get(cli, "mda") != NULL);
	if (outputs > 1)
		return mp_fail(err, MP_ERR_USAGE,
			       "choose one of --maildir, --mbox, --stdout and --mda");
	if (outputs == 0)
		return mp_fail(err, MP_ERR_USAGE, "say where the copy goes: --maildir DIR, "
			       "--mbox DIR, --stdout or --mda CMD");
	if (o->json && out_stdout)
		return mp_fail(err, MP_ERR_USAGE,
			       "--json and --stdout both write to stdout; choose one");
	o->output = out_stdout ? OUT_STDOUT : cli_get(cli, "mda") ? OUT_MDA
		  : cli_get(cli, "mbox") ? OUT_MBOX : OUT_MAILDIR;
	o->target = o->output == OUT_MDA ? cli_get(cli, "mda")
		  : o->output == OUT_MBOX ? cli_get(cli, "mbox") : cli_get(cli, "maildir");
	if (o->mirror && o->output != OUT_MAILDIR)
		return mp_fail(err, MP_ERR_USAGE, "--mirror works on a --maildir backup only");

	const char *layout = cli_get(cli, "layout");
	if (layout && strcmp(layout, "maildir++") && strcmp(layout, "nested"))
		return bad_value(cli, "layout", "maildir++ or nested", err);
	o->layout = layout && !strcmp(layout, "nested") ? LAYOUT_NESTED : LAYOUT_MAILDIRPP;
	if (o->output == OUT_MBOX)
		o->layout = LAYOUT_NESTED;   /* mbox files are named by nested names */

	o->jobs = 2;
	const char *jobs = cli_get(cli, "jobs");
	if (jobs) {
		char *end;
		unsigned long n = strtoul(jobs, &end, 10);
		if (!*jobs || *end || n < 1 || n > 16)
			return bad_value(cli, "jobs", "a number from 1 to 16", err);
		o->jobs = (unsigned)n;
	}
	static const char *const all[] = { "*" };
	o->folders = cli_get_all(cli, "folder", &o->nfolders);
	if (!o->nfolders) {
		o->folders = all;
		o->nfolders = 1;
	}
	for (size_t i = 0; i < o->nfolders; i++)
		if (mp_has_line_break(o->folders[i], strlen(o->folders[i])))
			return mp_fail(err, MP_ERR_USAGE, "line breaks are not allowed in --folder");
	o->excludes = cli_get_all(cli, "exclude", &o->nexcludes);
	if ((st = narrowing(cli, &o->search, err)) != MP_OK)
		return st;
	o->quiet = cli->quiet;
	o->progress = !cli->quiet && isatty(STDERR_FILENO);

	if (o->output == OUT_MAILDIR || o->output == OUT_MBOX) {
		if (!o->dry_run && mkdir(o->target, 0700) < 0 && errno != EEXIST)
			return mp_fail(err, MP_ERR_IO, "cannot create %s: %s", o->target,
				       strerror(errno));
		/* mbox: the state inside the backup, beside the files. */
		if (o->output == OUT_MBOX &&
		    (size_t)snprintf(o->state_dir, sizeof o->state_dir, "%s/.mailpipe",
				     o->target) >= sizeof o->state_dir)
			return mp_fail(err, MP_ERR_CONFIG, "backup path too long");
	} else if (cli_get(cli, "state")) {
		snprintf(o->state_dir, sizeof o->state_dir, "%s", cli_get(cli, "state"));
	} else {
		/* One state directory per server, port and user. */
		char dir[4096], id[600];
		if ((st = cli_state_path("imapsync", dir, sizeof dir, err)) != MP_OK)
			return st;
		snprintf(id, sizeof id, "%s@%s_%u", cli->auth.user ? cli->auth.user : "",
			 cli->server.url.host, cli->server.url.port);
		for (char *p = id; *p; p++)
			if (*p == '/' || *p == ':')
				*p = '_';
		if ((size_t)snprintf(o->state_dir, sizeof o->state_dir, "%s/%s", dir, id) >=
		    sizeof o->state_dir)
			return mp_fail(err, MP_ERR_CONFIG, "state path too long");
	}
	return MP_OK;
}

static enum mp_status run(struct cli *cli, struct mp_error *err)
{
	struct sync_opts o = { 0 };
	enum mp_status st = cli_ensure_server(cli, err);
	if (st == MP_OK)
		st = options(cli, &o, err);
	if (st == MP_OK)
		st = sync_run(cli, &o, err);
	free(o.search);
	return st;
}

static const enum mp_proto protos[] = { MP_PROTO_IMAP };

static const struct tool imapsync = {
	.prog = "imapsync",
	.usage = "[-a ACCOUNT | --server URL] (--maildir DIR | --mbox DIR | --stdout | --mda CMD) "
		 "[--folder PATTERN]... [options]",
	.about = "Keep a local copy of IMAP folders, incrementally and crash-safely.",
	.opts = imapsync_opts,
	.protos = protos,
	.nprotos = 1,
	.probe = &probe_ops,
	.run = run,
};

int main(int argc, char **argv)
{
	return cli_main(&imapsync, argc, argv);
}
