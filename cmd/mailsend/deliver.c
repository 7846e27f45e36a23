/* Sending spooled messages over one SMTP/LMTP session. */
#include "mailsend.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "address.h"
#include "strutil.h"

/* RFC 5322 2.1.1: no line may be longer than this, line end excluded. */
#define MAX_LINE 998

enum mp_status deliver_open(struct cli *cli, struct smtp_session **out,
			    struct mp_error *err)
{
	*out = NULL;
	enum mp_status st = cli_ensure_server(cli, err);
	if (st == MP_OK)
		st = smtp_open(out, &cli->server, cli_get(cli, "helo"), err);
	if (st == MP_OK && cli->auth.user) {
		st = smtp_auth(*out, &cli->auth, err);
		if (st != MP_OK) {
			smtp_close(*out);
			*out = NULL;
		}
	}
	return st;
}

/* The status for the recipients that did not get the message. */
static enum mp_status refusal_status(const struct delivery *d)
{
	bool temp = false, all_nouser = true;
	for (size_t i = 0; i < d->nrcpts; i++) {
		const struct smtp_rcpt_result *r = &d->results[i];
		if (r->code >= 200 && r->code < 300)
			continue;
		if (r->code < 500)
			temp = true;
		/* 5.1.x: no such mailbox or a bad address. */
		if (r->code < 500 || strncmp(r->text, "5.1.", 4) != 0)
			all_nouser = false;
	}
	return temp ? MP_ERR_TEMP : all_nouser ? MP_ERR_NOUSER : MP_ERR_UNAVAILABLE;
}

enum mp_status deliver_check(const struct outgoing *msg, bool check_line_length,
			     struct mp_error *err)
{
	if (msg->has_nul)
		return mp_fail(err, MP_ERR_DATA, "the message contains a NUL byte");
	if (check_line_length && msg->longest_line > MAX_LINE)
		return mp_fail(err, MP_ERR_DATA,
			"the message has a line of %zu bytes, over the limit of %d "
			"(compose mode encodes long lines)", msg->longest_line, MAX_LINE);
	if (msg->rcpts.n == 0)
		return mp_fail(err, MP_ERR_USAGE, "no recipients given");
	return MP_OK;
}

enum mp_status deliver_message(struct smtp_session *s, struct outgoing *msg,
			       const struct cli *cli, bool check_line_length,
			       struct delivery *d)
{
	memset(d, 0, sizeof *d);
	struct mp_error *err = &d->err;
	if ((d->status = deliver_check(msg, check_line_length, err)) != MP_OK)
		return d->status;

	d->nrcpts = msg->rcpts.n;
	d->results = mp_xcalloc(d->nrcpts, sizeof *d->results);
	struct smtp_envelope env = {
		.from = msg->from ? msg->from : "",
		.rcpts = (const char *const *)msg->rcpts.v,
		.nrcpts = msg->rcpts.n,
		.dsn_notify = cli_get(cli, "dsn-notify"),
		.dsn_ret = cli_get(cli, "dsn-return"),
		.envid = cli_get(cli, "envid"),
	};
	bool utf8 = address_needs_smtputf8(env.from);
	for (size_t i = 0; i < msg->rcpts.n; i++)
		utf8 |= address_needs_smtputf8(msg->rcpts.v[i]);
	if (lseek(msg->fd, 0, SEEK_SET) < 0)
		return d->status = mp_fail(err, MP_ERR_IO, "cannot rewind the message");
	struct smtp_message m = {
		.fd = msg->fd,
		.size = msg->size,
		.has_8bit = msg->has_8bit,
		.needs_smtputf8 = utf8,
	};
	d->status = smtp_send(s, &env, &m, d->results, &d->ndelivered, err);
	if (d->status == MP_OK && d->ndelivered < d->nrcpts) {
		d->status = refusal_status(d);
		mp_fail(err, d->status, "%zu of %zu recipients refused the message",
			d->nrcpts - d->ndelivered, d->nrcpts);
	}
	return d->status;
}

void delivery_report(const struct cli *cli, const struct outgoing *msg,
		     const struct delivery *d)
{
	for (size_t i = 0; i < d->nrcpts && i < msg->rcpts.n; i++) {
		const struct smtp_rcpt_result *r = &d->results[i];
		if (r->code == 0 || (r->code >= 200 && r->code < 300))
			continue;
		fprintf(stderr, "%s: <%s>: %d %s\n", cli->prog, msg->rcpts.v[i],
			r->code, r->text);
	}
}

void delivery_free(struct delivery *d)
{
	free(d->results);
	d->results = NULL;
}

enum mp_status deliver_single(struct cli *cli, struct outgoing *msg,
			      bool check_line_length, struct delivery *d,
			      struct mp_error *err)
{
	struct smtp_session *s;
	memset(d, 0, sizeof *d);
	/* Refuse what no server will take before connecting, so such a
	 * message is never queued either. */
	enum mp_status st = deliver_check(msg, check_line_length, err);
	if (st == MP_OK)
		st = deliver_open(cli, &s, err);
	if (st != MP_OK) {
		d->status = st;
		d->err = *err;
		return st;
	}
	st = deliver_message(s, msg, cli, check_line_length, d);
	struct mp_error ignored;
	smtp_quit(s, &ignored);
	smtp_close(s);
	if (st != MP_OK)
		*err = d->err;
	return st;
}
