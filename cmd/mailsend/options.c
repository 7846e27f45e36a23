/* mailsend's options, and sendmail's flags translated into them. */
#include "options.h"

#include <stdlib.h>
#include <string.h>

#include "strutil.h"

const struct opt_def mailsend_opts[] = {
	/* sendmail mode: the message on stdin */
	{ "read-recipients", 0, OPT_BOOL, NULL, "-t: recipients from To, Cc, Bcc (Bcc is removed)" },
	{ "envelope-from", 0, OPT_VALUE, "ADDR", "-f, -r: envelope sender" },
	{ "full-name", 0, OPT_VALUE, "NAME", "-F: full name for a From: mailsend adds" },
	{ "ignore-dots", 0, OPT_BOOL, NULL, "-i, -oi: a lone '.' line does not end the message" },
	{ "smtp-stdio", 0, OPT_BOOL, NULL, "-bs: speak SMTP on stdin and stdout" },
	{ "list-queue", 0, OPT_BOOL, NULL, "-bp: list the queued messages" },
	{ "flush", 0, OPT_BOOL, NULL, "-q: send the queued messages" },
	{ "queue", 0, OPT_BOOL, NULL, "queue what cannot be sent now (exit 0)" },
	{ "dsn-notify", 0, OPT_VALUE, "WHEN", "-N: NEVER, or SUCCESS,FAILURE,DELAY" },
	{ "dsn-return", 0, OPT_VALUE, "FULL|HDRS", "-R: what a bounce returns" },
	{ "envid", 0, OPT_VALUE, "ID", "-V: DSN envelope id" },
	{ "from", 0, OPT_VALUE, "ADDR", "your address: From: when composing, envelope sender" },
	{ "rewrite-from", 0, OPT_VALUE, "no|local|always", "put --from into From: (local: when it has no domain)" },
	{ "helo", 0, OPT_VALUE, "NAME", "name to give in EHLO (default localhost)" },
	/* compose mode */
	{ "to", 0, OPT_LIST, "ADDR", "compose: recipient (repeatable)" },
	{ "cc", 0, OPT_LIST, "ADDR", "compose: copy recipient (repeatable)" },
	{ "bcc", 0, OPT_LIST, "ADDR", "compose: blind copy recipient (repeatable)" },
	{ "subject", 0, OPT_VALUE, "TEXT", "compose: subject" },
	{ "header", 0, OPT_LIST, "'N: V'", "compose: add a header field (repeatable)" },
	{ "attach", 0, OPT_LIST, "FILE", "compose: attach a file (repeatable)" },
	{ "body", 0, OPT_VALUE, "FILE", "compose: body text from FILE, not stdin" },
	{ "charset", 0, OPT_VALUE, "NAME", "compose: the body's charset (default: the locale's)" },
	{ "print", 0, OPT_BOOL, NULL, "compose: write the message to stdout, send nothing" },
	/* batch mode */
	{ "batch", 0, OPT_VALUE, "DIR|MBOX", "send every message of a Maildir or mbox" },
	OPT_END
};

struct argv_builder {
	char **opts;
	int nopts;
	char **operands;
	int noperands;
};

static void add(char ***v, int *n, const char *s)
{
	*v = mp_xrealloc(*v, (size_t)(*n + 2) * sizeof **v);
	(*v)[(*n)++] = mp_xstrdup(s);
	(*v)[*n] = NULL;
}

/* A sendmail flag that takes a value: the rest of the word or the next. */
static enum mp_status take_value(char flag, const char *rest, int *i, int argc,
				 char **argv, const char **value,
				 struct mp_error *err)
{
	if (*rest) {
		*value = rest;
		return MP_OK;
	}
	if (*i + 1 >= argc)
		return mp_fail(err, MP_ERR_USAGE, "option -%c needs a value", flag);
	*value = argv[++*i];
	return MP_OK;
}

/* Translate one word that starts with a single '-'. */
static enum mp_status translate(struct argv_builder *b, int *i, int argc,
				char **argv, struct mp_error *err)
{
	const char *word = argv[*i];
	const char *value = NULL;
	enum mp_status st;
	for (const char *p = word + 1; *p; p++) {
		const char *rest = p + 1;
		switch (*p) {
		case 't': add(&b->opts, &b->nopts, "--read-recipients"); continue;
		case 'i': add(&b->opts, &b->nopts, "--ignore-dots"); continue;
		case 'v': add(&b->opts, &b->nopts, "--verbose"); continue;
		case 'q':
			/* -q, or -q with an interval (run once here): flush. */
			add(&b->opts, &b->nopts, "--flush");
			return MP_OK;
		case 'o':
			/* -oi is -i; every other -oX is meaningless here. */
			if (!strcmp(rest, "i"))
				add(&b->opts, &b->nopts, "--ignore-dots");
			else if (!*rest && *i + 1 < argc)
				++*i;   /* "-o X": X is its value */
			return MP_OK;
		case 'B':
			/* The body type is found by looking at the body. */
			return take_value('B', rest, i, argc, argv, &value, err);
		case 'b':
			if (!strcmp(rest, "s"))
				add(&b->opts, &b->nopts, "--smtp-stdio");
			else if (!strcmp(rest, "p"))
				add(&b->opts, &b->nopts, "--list-queue");
			else if (strcmp(rest, "m") != 0)
				return mp_fail(err, MP_ERR_USAGE,
					       "mode -b%s is not supported (only -bm, -bs, -bp)",
					       rest);
			return MP_OK;
		case 'f': case 'r': case 'F': case 'N': case 'R': case 'V': {
			static const char *const names[][2] = {
				{ "f", "--envelope-from" }, { "r", "--envelope-from" },
				{ "F", "--full-name" }, { "N", "--dsn-notify" },
				{ "R", "--dsn-return" }, { "V", "--envid" },
			};
			st = take_value(*p, rest, i, argc, argv, &value, err);
			if (st != MP_OK)
				return st;
			for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
				if (names[k][0][0] == *p) {
					add(&b->opts, &b->nopts, names[k][1]);
					add(&b->opts, &b->nopts, value);
				}
			}
			return MP_OK;
		}
		case 'a': case 'h':
			/* mailsend's own -a ACCOUNT and -h (help). */
			if (*p == 'h') {
				/* sendmail's -h N is a hop count: accepted, ignored. */
				if (*rest)
					return MP_OK;
				if (*i + 1 < argc && argv[*i + 1][0] >= '0' &&
				    argv[*i + 1][0] <= '9') {
					++*i;
					return MP_OK;
				}
				add(&b->opts, &b->nopts, "--help");
				return MP_OK;
			}
			if (*p == 'a') {
				st = take_value('a', rest, i, argc, argv, &value, err);
				if (st != MP_OK)
					return st;
				add(&b->opts, &b->nopts, "--account");
				add(&b->opts, &b->nopts, value);
				return MP_OK;
			}
			return mp_fail(err, MP_ERR_USAGE, "unknown option '%s' (see --help)",
				       word);
		default:
			return mp_fail(err, MP_ERR_USAGE, "unknown option '-%c' (see --help)",
				       *p);
		}
	}
	return MP_OK;
}

enum mp_status sendmail_args(int argc, char **argv, int *new_argc,
			     char ***new_argv, struct mp_error *err)
{
	struct argv_builder b = { 0 };
	enum mp_status st = MP_OK;
	add(&b.opts, &b.nopts, argc > 0 ? argv[0] : "mailsend");
	int i;
	for (i = 1; i < argc && st == MP_OK; i++) {
		const char *w = argv[i];
		if (!strcmp(w, "--")) {
			i++;
			break;
		}
		if (w[0] == '-' && w[1] == '-') {
			/* A long option: keep it, and its value if it takes one. */
			add(&b.opts, &b.nopts, w);
			if (!strchr(w, '=')) {
				for (size_t k = 0; mailsend_opts[k].name; k++)
					if (!strcmp(w + 2, mailsend_opts[k].name) &&
					    mailsend_opts[k].kind != OPT_BOOL && i + 1 < argc)
						add(&b.opts, &b.nopts, argv[++i]);
				for (size_t k = 0; cli_shared_opts[k].name; k++)
					if (!strcmp(w + 2, cli_shared_opts[k].name) &&
					    cli_shared_opts[k].kind != OPT_BOOL && i + 1 < argc)
						add(&b.opts, &b.nopts, argv[++i]);
				if ((!strcmp(w, "--account") || !strcmp(w, "--config")) &&
				    i + 1 < argc)
					add(&b.opts, &b.nopts, argv[++i]);
			}
		} else if (w[0] == '-' && w[1]) {
			st = translate(&b, &i, argc, argv, err);
		} else {
			add(&b.operands, &b.noperands, w);
		}
	}
	for (; i < argc; i++)
		add(&b.operands, &b.noperands, argv[i]);
	if (st != MP_OK) {
		sendmail_args_free(b.nopts, b.opts);
		sendmail_args_free(b.noperands, b.operands);
		return st;
	}
	add(&b.opts, &b.nopts, "--");
	for (int k = 0; k < b.noperands; k++)
		add(&b.opts, &b.nopts, b.operands[k]);
	sendmail_args_free(b.noperands, b.operands);
	*new_argc = b.nopts;
	*new_argv = b.opts;
	return MP_OK;
}

void sendmail_args_free(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
}
