/* mailsend: send mail over SMTP or LMTP, sendmail-compatible. */
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "address.h"
#include "mailsend.h"
#include "options.h"
#include "strutil.h"

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

/* user@host for a message with no sender anywhere. */
static char *local_sender(void)
{
	char host[HOST_NAME_MAX + 1] = "localhost";
	gethostname(host, sizeof host);
	host[sizeof host - 1] = '\0';
	const struct passwd *pw = getpwuid(getuid());
	const char *user = pw ? pw->pw_name : getenv("USER");
	char buf[600];
	snprintf(buf, sizeof buf, "%s@%s", user ? user : "nobody", host);
	return mp_xstrdup(buf);
}

/* The first address of a header value, or NULL. The caller frees. */
static char *first_address(const char *value, char **name)
{
	struct address_list list = { 0 };
	struct mp_error ignored;
	char *addr = NULL;
	if (value && address_parse_list(value, strlen(value), ADDRESS_ALLOW_LOCAL,
					&list, &ignored) == MP_OK && list.n > 0) {
		addr = mp_xstrdup(list.v[0].addr);
		if (name)
			*name = mp_xstrdup(list.v[0].name);
	}
	address_list_free(&list);
	return addr;
}

/* Envelope sender: -f, else the account's from, else the From field,
 * else the login name if it is an address, else user@host. */
static void choose_sender(const struct cli *cli, struct outgoing *msg,
			  const struct strlist *fields)
{
	const char *f = cli_get(cli, "envelope-from");
	char *header_from = first_address(header_value(fields, "From"), NULL);
	const char *policy = cli_get(cli, "rewrite-from");
	bool rewrite = policy && strcmp(policy, "no") != 0 && cli_get(cli, "from");
	if (f && (!*f || !strcmp(f, "<>")))
		msg->from = mp_xstrdup("");   /* the null sender, for bounces */
	else if (f)
		msg->from = first_address(f, NULL);
	/* cron's "-f root" names a local user the provider does not know. */
	if (msg->from && *msg->from && !strchr(msg->from, '@') && rewrite) {
		free(msg->from);
		msg->from = NULL;
	}
	if (!msg->from && cli_get(cli, "from"))
		msg->from = first_address(cli_get(cli, "from"), NULL);
	if (!msg->from && header_from && strchr(header_from, '@'))
		msg->from = mp_xstrdup(header_from);
	if (!msg->from && cli->auth.user && strchr(cli->auth.user, '@'))
		msg->from = mp_xstrdup(cli->auth.user);
	if (!msg->from)
		msg->from = local_sender();
	free(header_from);
}

/* A From field for the sender, with a display name if one is known. */
static char *from_field(const char *addr, const char *name)
{
	char *field;
	size_t size = strlen(addr) + (name ? strlen(name) * 2 : 0) + 32;
	field = mp_xmalloc(size);
	if (name && *name) {
		/* Quote the name: cron's "(Cron Daemon)" comment becomes a phrase. */
		size_t k = (size_t)snprintf(field, size, "From: \"");
		for (const char *p = name; *p; p++) {
			if (*p == '(' || *p == ')')
				continue;
			if (*p == '"' || *p == '\\')
				field[k++] = '\\';
			field[k++] = *p;
		}
		snprintf(field + k, size - k, "\" <%s>", addr);
	} else {
		snprintf(field, size, "From: %s", addr);
	}
	return field;
}

/* -t drops Bcc; a missing From is added, and with rewrite-from the From
 * is replaced by the configured address (local: only when the present
 * one has no domain, as cron's "root (Cron Daemon)"). */
static enum mp_status fix_header(const struct cli *cli, struct outgoing *msg,
				 const struct strlist *fields, bool drop_bcc,
				 struct mp_error *err)
{
	static const char *const bcc[] = { "Bcc", NULL };
	const char *policy = cli_get(cli, "rewrite-from");
	const char *configured = cli_get(cli, "from");
	if (policy && strcmp(policy, "no") && strcmp(policy, "local") &&
	    strcmp(policy, "always"))
		return mp_fail(err, MP_ERR_USAGE,
			       "rewrite-from must be no, local or always, not '%s'", policy);
	char *name = NULL;
	char *current = first_address(header_value(fields, "From"), &name);
	const char *full = cli_get(cli, "full-name");
	char *replace = NULL;
	bool rewrite = configured && policy &&
		       (!strcmp(policy, "always") ||
			(!strcmp(policy, "local") && (!current || !strchr(current, '@'))));
	if (rewrite) {
		char *addr = first_address(configured, NULL);
		if (addr)
			replace = from_field(addr, full ? full : name);
		free(addr);
	} else if (!header_value(fields, "From")) {
		replace = from_field(msg->from, full);
	}
	enum mp_status st = MP_OK;
	if (replace || (drop_bcc && header_value(fields, "Bcc")))
		st = message_rewrite(msg, drop_bcc ? bcc : NULL, replace, err);
	free(replace);
	free(current);
	free(name);
	return st;
}

/* After a failed delivery: queue a temporary failure if asked, keep a
 * permanent refusal's text in the dead letter file. */
static enum mp_status after_failure(struct cli *cli, struct outgoing *msg,
				    struct delivery *d, struct mp_error *err)
{
	bool queue;
	enum mp_status st = cli_bool(cli, "queue", false, &queue, err);
	if (st != MP_OK)
		return st;
	delivery_report(cli, msg, d);
	if (d->status == MP_ERR_TEMP && queue && d->ndelivered == 0)
		return queue_store(cli, msg, d->err.msg, err);
	if (d->status == MP_ERR_TEMP && queue) {
		/* Keep only the recipients still to be tried. */
		struct strlist pending = { 0 };
		for (size_t i = 0; i < d->nrcpts; i++)
			if (d->results[i].code >= 400 && d->results[i].code < 500)
				strlist_add(&pending, msg->rcpts.v[i]);
		bool refused = false;
		for (size_t i = 0; i < d->nrcpts; i++)
			refused |= d->results[i].code >= 500;
		strlist_clear(&msg->rcpts);
		msg->rcpts = pending;
		st = queue_store(cli, msg, d->err.msg, err);
		if (st == MP_OK && refused)
			st = mp_fail(err, MP_ERR_NOUSER,
				     "some recipients refused the message for good");
		return st;
	}
	*err = d->err;
	if ((d->status == MP_ERR_UNAVAILABLE || d->status == MP_ERR_NOUSER ||
	     d->status == MP_ERR_DATA) && d->ndelivered == 0) {
		struct mp_error dl;
		if (dead_letter(cli, msg, d->err.msg, &dl) != MP_OK)
			fprintf(stderr, "%s: %s\n", cli->prog, dl.msg);
	}
	return d->status;
}

static bool composing(const struct cli *cli)
{
	static const char *const keys[] = { "to", "cc", "bcc", "subject", "header",
					    "attach", "body", "print" };
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		for (size_t k = 0; k < cli->nsettings; k++)
			if (!strcmp(cli->settings[k].name, keys[i]))
				return true;
	return false;
}

/* Write the spooled message to stdout (--print). */
static enum mp_status print_message(const struct outgoing *msg, struct mp_error *err)
{
	char buf[65536];
	ssize_t n;
	off_t off = 0;
	while ((n = pread(msg->fd, buf, sizeof buf, off)) > 0) {
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			return mp_fail(err, MP_ERR_IO, "cannot write to stdout");
		off += n;
	}
	if (fflush(stdout) != 0)
		return mp_fail(err, MP_ERR_IO, "cannot write to stdout");
	return MP_OK;
}

static enum mp_status run(struct cli *cli, struct mp_error *err)
{
	bool flag;
	enum mp_status st;
	if ((st = cli_bool(cli, "list-queue", false, &flag, err)) != MP_OK || flag)
		return st != MP_OK ? st : queue_list(cli, err);
	if ((st = cli_bool(cli, "flush", false, &flag, err)) != MP_OK || flag)
		return st != MP_OK ? st : queue_flush(cli, err);
	if ((st = cli_bool(cli, "smtp-stdio", false, &flag, err)) != MP_OK || flag)
		return st != MP_OK ? st : smtp_stdio(cli, err);
	if (cli_get(cli, "batch"))
		return batch_send(cli, cli_get(cli, "batch"), err);

	struct outgoing msg;
	struct strlist fields = { 0 };
	bool compose = composing(cli);
	if (compose) {
		st = compose_message(cli, &msg, err);
		const char *f = cli_get(cli, "envelope-from");
		if (st == MP_OK && msg.from && !*msg.from && !(f && (!*f || !strcmp(f, "<>")))) {
			/* No sender given: the same choice as sendmail mode. */
			free(msg.from);
			msg.from = NULL;
			st = message_headers(&msg, &fields, err);
			if (st == MP_OK)
				choose_sender(cli, &msg, &fields);
		}
		if (st == MP_OK && cli_bool(cli, "print", false, &flag, err) == MP_OK && flag) {
			st = print_message(&msg, err);
			strlist_clear(&fields);
			outgoing_free(&msg);
			return st;
		}
	} else {
		bool ignore_dots, read_rcpts;
		st = cli_bool(cli, "ignore-dots", false, &ignore_dots, err);
		if (st == MP_OK)
			st = cli_bool(cli, "read-recipients", false, &read_rcpts, err);
		if (st == MP_OK)
			st = spool_copy(STDIN_FILENO, ignore_dots ? SPOOL_TO_EOF
						     : SPOOL_DOT_LINE, &msg, err);
		else
			memset(&msg, 0, sizeof msg), msg.fd = -1;
		if (st == MP_OK)
			st = message_headers(&msg, &fields, err);
		if (st == MP_OK && read_rcpts)
			st = envelope_from_headers(&msg, &fields, err);
		if (st == MP_OK)
			st = envelope_add_args(&msg, cli->args, cli->nargs, err);
		if (st == MP_OK) {
			choose_sender(cli, &msg, &fields);
			/* Bcc never leaves, with -t or without, as in sendmail. */
			st = fix_header(cli, &msg, &fields, true, err);
		}
	}
	if (st == MP_OK && msg.rcpts.n == 0)
		st = mp_fail(err, MP_ERR_USAGE,
			     "no recipients: give addresses, or -t to read them from the message");
	if (st == MP_OK) {
		struct delivery d;
		st = deliver_single(cli, &msg, !compose, &d, err);
		if (st != MP_OK)
			st = after_failure(cli, &msg, &d, err);
		delivery_free(&d);
	}
	strlist_clear(&fields);
	outgoing_free(&msg);
	return st;
}

static const enum mp_proto protos[] = { MP_PROTO_SMTP, MP_PROTO_LMTP };

static const struct tool mailsend = {
	.prog = "mailsend",
	.usage = "[options] [--] recipient...  (message on stdin)\n"
		 "       mailsend --to ADDR [--subject TEXT] [--attach FILE]... [options]\n"
		 "       mailsend --batch DIR|MBOX | -q | -bp | -bs | --probe",
	.about = "Send mail over SMTP or LMTP; sendmail-compatible.",
	.opts = mailsend_opts,
	.protos = protos,
	.nprotos = 2,
	.probe = &probe_ops,
	.sendmail_style = true,
	.run = run,
};

int main(int argc, char **argv)
{
	int nargc;
	char **nargv;
	struct mp_error err = { 0 };
	if (sendmail_args(argc, argv, &nargc, &nargv, &err) != MP_OK) {
		fprintf(stderr, "mailsend: %s\n", err.msg);
		return cli_exit_code(err.status);
	}
	int rc = cli_main(&mailsend, nargc, nargv);
	sendmail_args_free(nargc, nargv);
	return rc;
}
