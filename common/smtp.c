#include "smtp.h"

#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "reply.h"
#include "strlist.h"
#include "strutil.h"

/* A reply longer than this many lines is not a reply but an attack. */
#define MAX_REPLY_LINES 200

struct smtp_session {
	const struct server_opts *srv;
	struct conn *conn;
	bool lmtp;
	struct strlist greeting;     /* greeting lines, text only */
	struct strlist caps;         /* EHLO keywords, after TLS */
	char *challenge;             /* the last AUTH challenge, base64 */
	struct session_info info;
};

struct smtp_reply {
	int code;
	struct strlist lines;        /* text of each line */
};

static void reply_clear(struct smtp_reply *r)
{
	strlist_clear(&r->lines);
	r->code = 0;
}

/* Read one whole (possibly multi-line) reply. */
static enum mp_status read_reply(struct smtp_session *s, struct smtp_reply *r,
				 struct mp_error *err)
{
	reply_clear(r);
	for (int n = 0; n < MAX_REPLY_LINES; n++) {
		const char *line;
		size_t len;
		enum mp_status st = conn_read_line(s->conn, &line, &len, err);
		if (st != MP_OK)
			return st;
		struct smtp_reply_line rl;
		if (!smtp_parse_reply_line(line, len, &rl))
			return mp_fail(err, MP_ERR_PROTOCOL,
				       "malformed reply from server: '%.80s'", line);
		if (n > 0 && rl.code != r->code)
			return mp_fail(err, MP_ERR_PROTOCOL,
				       "reply lines with different codes (%d, %d)",
				       r->code, rl.code);
		r->code = rl.code;
		strlist_add(&r->lines, rl.text);
		if (rl.last)
			return MP_OK;
	}
	return mp_fail(err, MP_ERR_PROTOCOL, "server reply longer than %d lines",
		       MAX_REPLY_LINES);
}

/* The error for an unexpected reply: 4xx is temporary, 5xx permanent. */
static enum mp_status reply_error(const struct smtp_reply *r, const char *what,
				  struct mp_error *err)
{
	const char *text = r->lines.n ? r->lines.v[0] : "";
	enum mp_status st = r->code >= 400 && r->code < 500 ? MP_ERR_TEMP
			  : r->code >= 500 ? MP_ERR_UNAVAILABLE : MP_ERR_PROTOCOL;
	return mp_fail(err, st, "%s: %d %s", what, r->code, text);
}

static enum mp_status command(struct smtp_session *s, struct smtp_reply *r,
			      struct mp_error *err, const char *fmt, const char *arg)
{
	enum mp_status st = conn_sendf(s->conn, err, fmt, arg);
	if (st == MP_OK)
		st = conn_flush(s->conn, err);
	if (st == MP_OK)
		st = read_reply(s, r, err);
	return st;
}

/* EHLO (LHLO for LMTP); the keywords replace what was known before. */
static enum mp_status hello(struct smtp_session *s, const char *helo,
			    struct smtp_reply *r, struct mp_error *err)
{
	strlist_clear(&s->caps);
	enum mp_status st = command(s, r, err, s->lmtp ? "LHLO %s" : "EHLO %s", helo);
	if (st != MP_OK)
		return st;
	if (r->code == 250) {
		for (size_t i = 1; i < r->lines.n; i++)
			strlist_add(&s->caps, r->lines.v[i]);
		return MP_OK;
	}
	/* An old server: HELO works only where no extension is needed. */
	if (s->lmtp || s->srv->tls == TLS_MODE_STARTTLS || r->code < 500)
		return reply_error(r, s->lmtp ? "LHLO refused" : "EHLO refused", err);
	st = command(s, r, err, "HELO %s", helo);
	if (st == MP_OK && r->code != 250)
		st = reply_error(r, "HELO refused", err);
	return st;
}

static enum mp_status starttls(struct smtp_session *s, const char *helo,
			       struct smtp_reply *r, struct mp_error *err)
{
	if (!strlist_has(&s->caps, "STARTTLS"))
		return session_no_starttls(s->srv, "STARTTLS", err);
	enum mp_status st = command(s, r, err, "%s", "STARTTLS");
	if (st != MP_OK)
		return st;
	if (r->code != 220) {
		reply_error(r, "server refused STARTTLS", err);
		err->status = MP_ERR_UNAVAILABLE;
		return err->status;
	}
	st = conn_start_tls(s->conn, err);
	if (st != MP_OK)
		return st;
	/* What the server said before TLS may have been forged: ask again. */
	return hello(s, helo, r, err);
}

static void update_info(struct smtp_session *s)
{
	s->info.greeting = s->greeting.n ? s->greeting.v[0] : "";
	s->info.caps = (const char *const *)s->caps.v;
	s->info.ncaps = s->caps.n;
}

enum mp_status smtp_open(struct smtp_session **out,
			 const struct server_opts *srv, const char *helo,
			 struct mp_error *err)
{
	struct smtp_session *s = mp_xcalloc(1, sizeof *s);
	struct smtp_reply r = {0};
	s->srv = srv;
	s->lmtp = srv->url.proto == MP_PROTO_LMTP;
	if (!helo || !*helo)
		helo = "localhost";
	if (mp_has_line_break(helo, strlen(helo)) || strchr(helo, ' ')) {
		free(s);
		return mp_fail(err, MP_ERR_USAGE, "bad HELO name '%s'", helo);
	}

	enum mp_status st = session_connect(srv, &s->conn, err);
	if (st == MP_OK)
		st = read_reply(s, &r, err);
	if (st == MP_OK) {
		for (size_t i = 0; i < r.lines.n; i++)
			strlist_add(&s->greeting, r.lines.v[i]);
		if (r.code != 220)
			st = reply_error(&r, "server refused the connection", err);
	}
	if (st == MP_OK)
		st = hello(s, helo, &r, err);
	if (st == MP_OK && srv->tls == TLS_MODE_STARTTLS)
		st = starttls(s, helo, &r, err);
	reply_clear(&r);
	if (st != MP_OK) {
		smtp_close(s);
		return st;
	}
	update_info(s);
	*out = s;
	return MP_OK;
}

/* SASL over SMTP: "AUTH MECH [ir]", 334 challenges, 235 success. */
static enum mp_status wire_start(void *ctx, const char *mech, const char *ir,
				 struct mp_error *err)
{
	struct smtp_session *s = ctx;
	return auth_send_command(s->conn, "AUTH", mech, ir, err);
}

static enum mp_status wire_next(void *ctx, bool *done, const char **challenge,
				struct mp_error *err)
{
	struct smtp_session *s = ctx;
	struct smtp_reply r = {0};
	enum mp_status st = read_reply(s, &r, err);
	if (st != MP_OK)
		return st;
	if (r.code == 334) {
		free(s->challenge);
		s->challenge = mp_xstrdup(r.lines.n ? r.lines.v[0] : "");
		*challenge = s->challenge;
	} else if (r.code == 235) {
		*done = true;
	} else {
		reply_error(&r, "authentication failed", err);
		if (r.code >= 500)
			err->status = MP_ERR_AUTH;
		st = err->status;
	}
	reply_clear(&r);
	return st;
}

enum mp_status smtp_auth(struct smtp_session *s, const struct mp_auth *auth,
			 struct mp_error *err)
{
	const char *offered = strlist_find_prefix(&s->caps, "AUTH ");
	if (!offered)
		offered = strlist_find_prefix(&s->caps, "AUTH=");
	if (!offered)
		return mp_fail(err, MP_ERR_UNAVAILABLE,
			       "server offers no authentication (AUTH) here");
	struct sasl_wire wire = { wire_start, wire_next, true };
	enum sasl_mech used;
	enum mp_status st = auth_sasl(s->conn, auth, offered, s->srv->url.host,
				      s->srv->url.port, &wire, s, &used, err);
	if (st == MP_OK)
		mp_strlcpy(s->info.auth_used, sasl_mech_name(used),
			   sizeof s->info.auth_used);
	return st;
}

const struct session_info *smtp_info(const struct smtp_session *s)
{
	return &s->info;
}

struct conn *smtp_conn(struct smtp_session *s)
{
	return s->conn;
}

enum mp_status smtp_quit(struct smtp_session *s, struct mp_error *err)
{
	struct smtp_reply r = {0};
	enum mp_status st = command(s, &r, err, "%s", "QUIT");
	reply_clear(&r);
	return st;
}

void smtp_close(struct smtp_session *s)
{
	if (!s)
		return;
	conn_close(s->conn);
	strlist_clear(&s->greeting);
	strlist_clear(&s->caps);
	free(s->challenge);
	free(s);
}
