#include "smtp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth.h"
#include "reply.h"
#include "smtpdata.h"
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
	bool need_rset;              /* a transaction may still be open */
	bool abandoned;              /* left in the middle of a DATA body */
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

/* --- the mail transaction --- */

enum {
	CHUNK_SIZE = 1024 * 1024,   /* encoded body held at once; one BDAT chunk */
	READ_BLOCK = 64 * 1024,     /* message bytes per read() */
	READ_MIN = 4096,            /* a chunk is full when less fits */
	PIPE_WINDOW = 100,          /* pipelined commands awaiting replies */
	MAX_ADDR = 900,             /* past any real address; bounds command lines */
	MAX_ENVID = 100,            /* RFC 3461 */
};

/* The reply's lines joined by spaces into buf, control bytes masked so a
 * hostile server cannot drive the terminal it is shown on. */
static void reply_join(const struct smtp_reply *r, char *buf, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < r->lines.n; i++) {
		const unsigned char *p = (const unsigned char *)r->lines.v[i];

		if (i > 0 && n + 1 < size)
			buf[n++] = ' ';
		for (; *p && n + 1 < size; p++)
			buf[n++] = *p < 0x20 || *p == 0x7f ? '?' : (char)*p;
	}
	buf[n] = '\0';
}

static enum mp_status status_of(int code)
{
	if (code >= 400 && code < 500)
		return MP_ERR_TEMP;
	return code >= 500 && code < 600 ? MP_ERR_UNAVAILABLE : MP_ERR_PROTOCOL;
}

/* True if text starts with an RFC 3463 code "5.1.x": no such mailbox,
 * bad destination system or address syntax. */
static bool is_nouser(int code, const char *text)
{
	const char *p = text;

	if (code < 500 || code >= 600 || p[0] != '5' || p[1] != '.' ||
	    p[2] != '1' || p[3] != '.')
		return false;
	p += 4;
	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	return *p == ' ' || *p == '\0';
}

/* The argument of an EHLO keyword: NULL if not offered, "" if it has none. */
static const char *cap_arg(const struct smtp_session *s, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < s->caps.n; i++) {
		const char *c = s->caps.v[i];

		if (strncasecmp(c, name, n) == 0 && (c[n] == '\0' || c[n] == ' '))
			return c[n] ? c + n + 1 : c + n;
	}
	return NULL;
}

/* The SIZE limit, or 0 when there is none. */
static unsigned long long size_limit(const struct smtp_session *s)
{
	const char *a = cap_arg(s, "SIZE");
	unsigned long long v = 0;

	if (!a)
		return 0;
	for (; *a >= '0' && *a <= '9'; a++) {
		if (v > 1000000000000000000ULL)
			return 0;  /* absurd: as good as no limit */
		v = v * 10 + (unsigned)(*a - '0');
	}
	return v;
}

/* The first 80 bytes of s with control bytes as '?', for messages. */
static const char *masked(const char *s, char buf[84])
{
	size_t n = 0;

	for (; *s && n < 80; s++)
		buf[n++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
	buf[n] = '\0';
	return buf;
}

/* An address may hold no byte that could end or split the command. */
static enum mp_status check_addr(const char *a, const char *what,
				 bool *utf8, struct mp_error *err)
{
	size_t n = strlen(a);
	char m[84];

	if (n > MAX_ADDR)
		return mp_fail(err, MP_ERR_USAGE,
			       "%s address is too long (%zu bytes, at most %d)",
			       what, n, MAX_ADDR);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)a[i];

		if (c <= ' ' || c == 0x7f || c == '<' || c == '>')
			return mp_fail(err, MP_ERR_USAGE,
				       "%s address '%s' contains %s", what,
				       masked(a, m),
				       c == '\r' || c == '\n' ? "a line break"
				       : c == ' ' || c == '\t' ? "a blank"
				       : c == '<' || c == '>' ? "'<' or '>'"
				       : "a control character");
		if (c >= 0x80)
			*utf8 = true;
	}
	return MP_OK;
}

static bool notify_ok(const char *v)
{
	static const char *const words[] = { "SUCCESS", "FAILURE", "DELAY" };
	unsigned seen = 0;

	if (strcasecmp(v, "NEVER") == 0)
		return true;
	for (;;) {
		size_t n = strcspn(v, ",");
		unsigned bit = 0;

		for (unsigned i = 0; i < 3; i++)
			if (n == strlen(words[i]) && strncasecmp(v, words[i], n) == 0)
				bit = 1u << i;
		if (!bit || (seen & bit))
			return false;
		seen |= bit;
		if (!v[n])
			return true;
		v += n + 1;
	}
}

/* RFC 3461 xtext: '+', '=' and anything outside '!'..'~' as "+XX". */
static void xtext(const char *in, char *out)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *in; in++) {
		unsigned char c = (unsigned char)*in;

		if (c < '!' || c > '~' || c == '+' || c == '=') {
			*out++ = '+';
			*out++ = hex[c >> 4];
			*out++ = hex[c & 15];
		} else {
			*out++ = (char)c;
		}
	}
	*out = '\0';
}

static enum mp_status check_envelope(const struct smtp_envelope *env,
				     bool *utf8, struct mp_error *err)
{
	enum mp_status st;
	char m[84];

	if (!env->from)
		return mp_fail(err, MP_ERR_USAGE, "no envelope sender given");
	if (!env->rcpts || env->nrcpts == 0)
		return mp_fail(err, MP_ERR_USAGE, "no recipients given");
	st = check_addr(env->from, "sender", utf8, err);
	for (size_t i = 0; st == MP_OK && i < env->nrcpts; i++) {
		if (!env->rcpts[i] || !env->rcpts[i][0])
			return mp_fail(err, MP_ERR_USAGE, "empty recipient address");
		st = check_addr(env->rcpts[i], "recipient", utf8, err);
	}
	if (st != MP_OK)
		return st;
	if (env->dsn_notify && !notify_ok(env->dsn_notify))
		return mp_fail(err, MP_ERR_USAGE,
			       "bad DSN notify value '%s' (use NEVER, or a list "
			       "of SUCCESS, FAILURE and DELAY)",
			       masked(env->dsn_notify, m));
	if (env->dsn_ret && strcasecmp(env->dsn_ret, "FULL") != 0 &&
	    strcasecmp(env->dsn_ret, "HDRS") != 0)
		return mp_fail(err, MP_ERR_USAGE,
			       "bad DSN return value '%s' (use FULL or HDRS)",
			       masked(env->dsn_ret, m));
	if (env->envid) {
		size_t n = strlen(env->envid);

		if (n == 0 || n > MAX_ENVID)
			return mp_fail(err, MP_ERR_USAGE,
				       "DSN envelope id must be 1 to %d bytes long",
				       MAX_ENVID);
		for (size_t i = 0; i < n; i++)
			if (env->envid[i] < ' ' || env->envid[i] > '~')
				return mp_fail(err, MP_ERR_USAGE,
					       "DSN envelope id may hold only "
					       "printable ASCII");
	}
	return MP_OK;
}

/* The message on its way out: read in blocks, encoded into one buffer of
 * at most CHUNK_SIZE bytes, which goes out whole (DATA) or as one BDAT. */
struct body {
	int fd;
	struct smtpdata enc;
	char *in, *out;
	size_t len;              /* encoded bytes waiting in out */
	bool eof;                /* the whole message is encoded */
	bool allow_8bit;         /* declared 8-bit, or checked by the caller */
};

/* Encode the next chunk into b->out (replacing what was there). */
static enum mp_status body_fill(struct body *b, struct mp_error *err)
{
	b->len = 0;
	while (!b->eof) {
		size_t room = CHUNK_SIZE - b->len, want;
		ssize_t n;

		if (room < SMTPDATA_OUT_MAX(READ_MIN) + SMTPDATA_FINISH_MAX)
			break;
		want = (room - SMTPDATA_FINISH_MAX) / 2;
		if (want > READ_BLOCK)
			want = READ_BLOCK;
		n = read(b->fd, b->in, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return mp_fail(err, MP_ERR_IO, "cannot read the message: %s",
				       strerror(errno));
		}
		if (n == 0) {
			b->len += smtpdata_finish(&b->enc, b->out + b->len);
			b->eof = true;
			break;
		}
		b->len += smtpdata_feed(&b->enc, b->in, (size_t)n, b->out + b->len);
		if (b->enc.saw_nul)
			return mp_fail(err, MP_ERR_DATA,
				       "the message contains a NUL byte, which "
				       "SMTP cannot carry");
		if (b->enc.saw_8bit && !b->allow_8bit)
			return mp_fail(err, MP_ERR_DATA,
				       "the message has 8-bit bytes beyond its "
				       "first MiB that were not declared");
	}
	return MP_OK;
}

struct txn {
	struct smtp_session *s;
	const struct smtp_envelope *env;
	struct smtp_rcpt_result *res;
	struct body *b;
	bool pipelining, chunking;
	bool rset_queued;        /* slot 0 of the envelope replies is RSET's */
	size_t queued, answered; /* envelope commands sent and answered */
	int mail_code;
	char mail_text[300];
	size_t accepted;         /* recipients the server took */
	size_t delivered;
};

/* Read the reply to the next envelope command not yet answered. */
static enum mp_status read_env_reply(struct txn *t, struct mp_error *err)
{
	struct smtp_reply r = { 0 };
	enum mp_status st = read_reply(t->s, &r, err);
	size_t k = t->answered;

	if (st != MP_OK) {
		reply_clear(&r);
		return st;
	}
	t->answered++;
	if (t->rset_queued) {
		if (k == 0) {
			/* Only clears the ground; a refusal shows at MAIL. */
			reply_clear(&r);
			return MP_OK;
		}
		k--;
	}
	if (k == 0) {
		t->mail_code = r.code;
		reply_join(&r, t->mail_text, sizeof t->mail_text);
	} else {
		struct smtp_rcpt_result *res = &t->res[k - 1];

		res->code = r.code;
		reply_join(&r, res->text, sizeof res->text);
		if (r.code / 100 == 2)
			t->accepted++;
	}
	reply_clear(&r);
	return MP_OK;
}

/* After queuing a command: without PIPELINING wait for its reply; with it,
 * keep at most PIPE_WINDOW in flight so neither side blocks writing while
 * the other does. */
static enum mp_status pace(struct txn *t, struct mp_error *err)
{
	size_t window = t->pipelining ? PIPE_WINDOW : 0;
	enum mp_status st = MP_OK;

	t->queued++;
	while (st == MP_OK && t->queued - t->answered > window)
		st = read_env_reply(t, err);
	return st;
}

static enum mp_status send_envelope(struct txn *t, const char *mail,
				    struct mp_error *err)
{
	struct smtp_session *s = t->s;
	const struct smtp_envelope *env = t->env;
	enum mp_status st = MP_OK;
	char line[MAX_ADDR + 64];

	if (t->rset_queued) {
		st = conn_sendf(s->conn, err, "%s", "RSET");
		if (st == MP_OK)
			st = pace(t, err);
	}
	if (st == MP_OK)
		st = conn_send_line(s->conn, mail, CONN_SHOW_ALL, err);
	if (st == MP_OK)
		st = pace(t, err);
	/* Without pipelining a refused sender ends it here. */
	if (st != MP_OK || (!t->pipelining && t->mail_code / 100 != 2))
		return st;
	for (size_t i = 0; st == MP_OK && i < env->nrcpts; i++) {
		if (env->dsn_notify)
			snprintf(line, sizeof line, "RCPT TO:<%s> NOTIFY=%s",
				 env->rcpts[i], env->dsn_notify);
		else
			snprintf(line, sizeof line, "RCPT TO:<%s>", env->rcpts[i]);
		st = conn_send_line(s->conn, line, CONN_SHOW_ALL, err);
		if (st == MP_OK)
			st = pace(t, err);
	}
	return st;
}

/* "refused all 3 recipients; <a>: 550 5.1.1 ..." as the right status. */
static enum mp_status refusal(const struct txn *t, const char *what,
			      struct mp_error *err)
{
	enum mp_status st = MP_ERR_UNAVAILABLE;
	bool all_nouser = true;
	size_t first = t->env->nrcpts, nref = 0;

	for (size_t i = 0; i < t->env->nrcpts; i++) {
		const struct smtp_rcpt_result *r = &t->res[i];

		if (r->code / 100 == 2 || r->code == 0)
			continue;
		nref++;
		if (first == t->env->nrcpts)
			first = i;
		if (status_of(r->code) == MP_ERR_TEMP)
			st = MP_ERR_TEMP;
		else if (status_of(r->code) == MP_ERR_PROTOCOL &&
			 st != MP_ERR_TEMP)
			st = MP_ERR_PROTOCOL;
		if (!is_nouser(r->code, r->text))
			all_nouser = false;
	}
	if (first == t->env->nrcpts)
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "server %s no recipient and gave no reason", what);
	if (st == MP_ERR_UNAVAILABLE && all_nouser)
		st = MP_ERR_NOUSER;
	if (nref == 1)
		return mp_fail(err, st, "server %s recipient <%.200s>: %d %.200s",
			       what, t->env->rcpts[first], t->res[first].code,
			       t->res[first].text);
	return mp_fail(err, st, "server %s all %zu recipients; <%.200s>: %d %.200s",
		       what, nref, t->env->rcpts[first], t->res[first].code,
		       t->res[first].text);
}

static enum mp_status reply_fail(const struct smtp_reply *r, const char *what,
				 struct mp_error *err)
{
	char text[300];

	reply_join(r, text, sizeof text);
	return mp_fail(err, status_of(r->code), "%s: %d %s", what, r->code, text);
}

/* The reply (SMTP) or replies (LMTP: one per accepted recipient, in RCPT
 * order) that end the message. */
static enum mp_status read_final(struct txn *t, struct mp_error *err)
{
	struct smtp_reply r = { 0 };
	struct mp_error e = { 0 };
	enum mp_status st = MP_OK;

	if (!t->s->lmtp) {
		st = read_reply(t->s, &r, err);
		if (st == MP_OK && r.code / 100 != 2)
			st = reply_fail(&r, "server refused the message", err);
		if (st == MP_OK)
			t->delivered = t->accepted;
		reply_clear(&r);
		return st;
	}
	for (size_t i = 0; i < t->env->nrcpts; i++) {
		struct smtp_rcpt_result *res = &t->res[i];

		if (res->code / 100 != 2)
			continue;
		if (st == MP_OK)
			st = read_reply(t->s, &r, &e);
		if (st != MP_OK) {
			/* RFC 5321 4.2.5: a lost connection counts as 451. */
			res->code = 451;
			snprintf(res->text, sizeof res->text,
				 "4.4.2 no reply from the server (%.200s)", e.msg);
			continue;
		}
		res->code = r.code;
		reply_join(&r, res->text, sizeof res->text);
		if (r.code / 100 == 2)
			t->delivered++;
		reply_clear(&r);
	}
	reply_clear(&r);
	/* Delivered to some: what happened to the rest is in res. */
	if (t->delivered > 0)
		return MP_OK;
	if (st != MP_OK)
		return mp_fail(err, st, "%s", e.msg);
	return refusal(t, "refused the message for", err);
}

/* Stream the body after the server's 354: the first chunk is in b. */
static enum mp_status send_data_body(struct txn *t, struct mp_error *err)
{
	struct body *b = t->b;
	enum mp_status st;

	for (;;) {
		st = conn_write(t->s->conn, b->out, b->len, err);
		if (st != MP_OK || b->eof)
			break;
		st = body_fill(b, err);
		if (st != MP_OK) {
			/* Only closing the connection can stop the server now. */
			t->s->abandoned = true;
			return st;
		}
	}
	if (st != MP_OK)
		return st;
	conn_trace_note(t->s->conn, "%llu bytes of message data",
			b->enc.out_bytes);
	return read_final(t, err);
}

static enum mp_status send_bdat(struct txn *t, struct mp_error *err)
{
	enum mp_status st = conn_sendf(t->s->conn, err, t->b->eof ? "BDAT %zu LAST"
							  : "BDAT %zu", t->b->len);
	if (st == MP_OK)
		st = conn_write(t->s->conn, t->b->out, t->b->len, err);
	return st;
}

/* Read one reply to a BDAT that is not the last. The first refusal is
 * kept in *refused (MP_OK while there is none) and in err. */
static enum mp_status read_chunk_reply(struct txn *t, enum mp_status *refused,
				       struct mp_error *err)
{
	struct smtp_reply r = { 0 };
	enum mp_status st = read_reply(t->s, &r, err);

	if (st == MP_OK && r.code / 100 != 2 && *refused == MP_OK)
		*refused = reply_fail(&r, "server refused part of the message",
				      err);
	reply_clear(&r);
	return st;
}

/* BDAT chunks after the envelope was answered. With PIPELINING the next
 * chunk goes out while the reply to the previous one is on its way; the
 * LAST one waits until every earlier chunk is answered, so a refusal can
 * still be undone with RSET and the count of final replies is certain. */
static enum mp_status send_chunks(struct txn *t, struct mp_error *err)
{
	struct body *b = t->b;
	size_t in_flight = 0, window = t->pipelining ? 1 : 0;
	enum mp_status st = MP_OK, refused = MP_OK, body_st = MP_OK;
	struct mp_error later;

	while (!b->eof) {
		st = send_bdat(t, err);
		if (st != MP_OK)
			return st;
		in_flight++;
		while (st == MP_OK && in_flight > window) {
			st = read_chunk_reply(t, &refused, err);
			in_flight--;
		}
		if (st != MP_OK || refused != MP_OK)
			break;
		body_st = body_fill(b, err);
		if (body_st != MP_OK)
			break;
	}
	/* Every chunk sent is answered, to stay in step; the first trouble
	 * is the one reported. RSET (sent before the next MAIL) then drops
	 * the chunks given so far. */
	while (st == MP_OK && in_flight > 0) {
		bool first = refused == MP_OK && body_st == MP_OK;

		st = read_chunk_reply(t, &refused, first ? err : &later);
		in_flight--;
	}
	if (body_st != MP_OK)
		return body_st;
	if (st != MP_OK || refused != MP_OK)
		return st != MP_OK ? st : refused;
	st = send_bdat(t, err);
	if (st != MP_OK)
		return st;
	conn_trace_note(t->s->conn, "%llu bytes of message data",
			b->enc.out_bytes);
	return read_final(t, err);
}

/* Nobody to send the message to: end what the pipeline started so the
 * session can go on. The refusal is what the caller hears about; a failure
 * here has broken the connection, which the next command reports. */
static void unwind(struct txn *t, bool data_queued, bool bdat_queued)
{
	struct smtp_reply r = { 0 };
	struct mp_error e;
	enum mp_status st = MP_OK;

	if (data_queued) {
		st = read_reply(t->s, &r, &e);
		/* RFC 2920 3.1: DATA accepted anyway is ended with a lone dot. */
		if (st == MP_OK && r.code == 354) {
			conn_trace_note(t->s->conn, "no recipient: empty message");
			st = conn_write(t->s->conn, ".\r\n", 3, &e);
			if (st == MP_OK)
				st = read_reply(t->s, &r, &e);
		}
	} else if (bdat_queued) {
		size_t n = t->s->lmtp && t->accepted ? t->accepted : 1;

		for (size_t i = 0; st == MP_OK && i < n; i++)
			st = read_reply(t->s, &r, &e);
	}
	reply_clear(&r);
}

enum mp_status smtp_send(struct smtp_session *s,
			 const struct smtp_envelope *env,
			 const struct smtp_message *msg,
			 struct smtp_rcpt_result *results, size_t *ndelivered,
			 struct mp_error *err)
{
	struct txn t = { .s = s, .env = env, .res = results };
	struct body b = { .fd = msg->fd };
	bool utf8 = msg->needs_smtputf8, has8, data_queued = false,
	     bdat_queued = false;
	unsigned long long limit, size;
	bool size_known;
	char mail[MAX_ADDR + 512], envid[3 * MAX_ENVID + 1];
	enum mp_status st;
	size_t n;

	*ndelivered = 0;
	for (size_t i = 0; env->rcpts && i < env->nrcpts; i++) {
		results[i].code = 0;
		results[i].text[0] = '\0';
	}
	if (s->abandoned)
		return mp_fail(err, MP_ERR_INTERNAL, "this SMTP session was left "
			       "in the middle of a message; open a new one");
	st = check_envelope(env, &utf8, err);
	if (st != MP_OK)
		return st;
	if (msg->fd < 0)
		return mp_fail(err, MP_ERR_USAGE, "no message to send");
	if (utf8 && !cap_arg(s, "SMTPUTF8"))
		return mp_fail(err, MP_ERR_UNAVAILABLE,
			       "the server does not offer SMTPUTF8, which the "
			       "message's UTF-8 addresses need");
	if ((env->dsn_notify || env->dsn_ret || env->envid) && !cap_arg(s, "DSN"))
		return mp_fail(err, MP_ERR_UNAVAILABLE,
			       "the server does not offer DSN, so delivery "
			       "notifications cannot be requested");
	limit = size_limit(s);
	if (limit && msg->size > 0 && (unsigned long long)msg->size > limit)
		return mp_fail(err, MP_ERR_UNAVAILABLE,
			       "message of %lld bytes exceeds the server's limit "
			       "of %llu bytes", msg->size, limit);

	t.pipelining = cap_arg(s, "PIPELINING") != NULL;
	t.chunking = cap_arg(s, "CHUNKING") != NULL;
	/* The first chunk is read before anything is sent, so most messages
	 * are judged (NUL, 8-bit, exact size) while they can still be
	 * refused cleanly. */
	smtpdata_init(&b.enc, t.chunking ? SMTPDATA_BDAT : SMTPDATA_DOT);
	b.in = mp_xmalloc(READ_BLOCK);
	b.out = mp_xmalloc(CHUNK_SIZE);
	b.allow_8bit = true;
	t.b = &b;
	st = body_fill(&b, err);
	if (st != MP_OK)
		goto out;
	has8 = msg->has_8bit || b.enc.saw_8bit;
	b.allow_8bit = has8;
	if (has8 && !cap_arg(s, "8BITMIME")) {
		st = mp_fail(err, MP_ERR_DATA,
			     "the message has 8-bit bytes but the server does not "
			     "offer 8BITMIME; send it MIME-encoded instead");
		goto out;
	}
	size_known = b.eof || msg->size >= 0;
	size = b.enc.msg_bytes;
	if (!b.eof && msg->size >= 0 && (unsigned long long)msg->size > size)
		size = (unsigned long long)msg->size;
	if (limit && size_known && size > limit) {
		st = mp_fail(err, MP_ERR_UNAVAILABLE,
			     "message of %llu bytes exceeds the server's limit of "
			     "%llu bytes", size, limit);
		goto out;
	}

	n = (size_t)snprintf(mail, sizeof mail, "MAIL FROM:<%s>", env->from);
	if (cap_arg(s, "SIZE") && size_known)
		n += (size_t)snprintf(mail + n, sizeof mail - n, " SIZE=%llu", size);
	if (has8)
		n += (size_t)snprintf(mail + n, sizeof mail - n, " BODY=8BITMIME");
	if (utf8)
		n += (size_t)snprintf(mail + n, sizeof mail - n, " SMTPUTF8");
	if (env->dsn_ret)
		n += (size_t)snprintf(mail + n, sizeof mail - n, " RET=%s",
				      env->dsn_ret);
	if (env->envid) {
		xtext(env->envid, envid);
		snprintf(mail + n, sizeof mail - n, " ENVID=%s", envid);
	}

	t.rset_queued = s->need_rset;
	s->need_rset = true;
	st = send_envelope(&t, mail, err);
	if (st == MP_OK && t.pipelining) {
		/* One round trip: with CHUNKING a message that fits one chunk
		 * rides along; DATA's go-ahead is read with the rest. */
		if (!t.chunking) {
			st = conn_sendf(s->conn, err, "%s", "DATA");
			data_queued = true;
		} else if (b.eof) {
			st = send_bdat(&t, err);
			bdat_queued = true;
			conn_trace_note(s->conn, "%llu bytes of message data",
					b.enc.out_bytes);
		}
	}
	while (st == MP_OK && t.answered < t.queued)
		st = read_env_reply(&t, err);
	if (st != MP_OK)
		goto out;

	if (t.mail_code / 100 != 2 || t.accepted == 0) {
		unwind(&t, data_queued, bdat_queued);
		if (t.mail_code / 100 != 2)
			st = mp_fail(err, status_of(t.mail_code),
				     "server refused sender <%.200s>: %d %.200s",
				     env->from, t.mail_code, t.mail_text);
		else
			st = refusal(&t, "refused", err);
		goto out;
	}

	if (bdat_queued) {
		st = read_final(&t, err);
	} else if (t.chunking) {
		st = send_chunks(&t, err);
	} else {
		struct smtp_reply r = { 0 };

		if (!data_queued)
			st = conn_sendf(s->conn, err, "%s", "DATA");
		if (st == MP_OK)
			st = read_reply(s, &r, err);
		if (st == MP_OK && r.code != 354)
			st = r.code / 100 == 2 ? mp_fail(err, MP_ERR_PROTOCOL,
				"server answered DATA with %d, not 354", r.code)
				: reply_fail(&r, "server refused DATA", err);
		reply_clear(&r);
		if (st == MP_OK)
			st = send_data_body(&t, err);
	}
	if (st == MP_OK)
		s->need_rset = false;
out:
	*ndelivered = t.delivered;
	free(b.in);
	free(b.out);
	return st;
}

enum mp_status smtp_reset(struct smtp_session *s, struct mp_error *err)
{
	struct smtp_reply r = { 0 };
	enum mp_status st;

	if (s->abandoned)
		return mp_fail(err, MP_ERR_INTERNAL, "this SMTP session was left "
			       "in the middle of a message; open a new one");
	st = command(s, &r, err, "%s", "RSET");
	if (st == MP_OK && r.code / 100 != 2)
		st = reply_fail(&r, "server refused RSET", err);
	if (st == MP_OK)
		s->need_rset = false;
	reply_clear(&r);
	return st;
}

enum mp_status smtp_quit(struct smtp_session *s, struct mp_error *err)
{
	struct smtp_reply r = {0};
	enum mp_status st;

	/* Mid-body, QUIT would only become part of the message. */
	if (s->abandoned)
		return MP_OK;
	st = command(s, &r, err, "%s", "QUIT");
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
