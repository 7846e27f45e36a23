#include "imap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "imapparse.h"
#include "sbuf.h"
#include "strlist.h"
#include "strutil.h"
#include "utf8.h"

/* Untagged responses tolerated while waiting for one command's end: more
 * than a mailbox's worth of FETCH answers plus chatter. */
#define MAX_UNTAGGED 5000000
/* Folders LIST may return. */
#define MAX_FOLDERS 100000
/* Messages one imap_fetch_info may return. */
#define MAX_INFO 2000000
/* Message bytes go to the sink in pieces up to this size. */
#define DATA_CHUNK (64 * 1024)
/* UIDs named by one UID FETCH of bodies, and such commands in flight: a
 * batch of commands must fit the socket buffers while the server is busy
 * sending a message. */
#define UIDS_PER_FETCH 50
#define MAX_FETCH_WINDOW 32
/* LITERAL- allows non-synchronizing literals up to this size. */
#define LITERAL_MINUS_MAX 4096

struct imap_session {
	const struct server_opts *srv;
	struct conn *conn;
	unsigned next_tag;
	char tag[16];                /* tag of the command in flight */
	bool preauth;                /* greeted as already logged in */
	struct imapp p;              /* the response last read */
	char *greeting;
	char *bye;                   /* text of an untagged BYE, if seen */
	char *alert;                 /* text of the last [ALERT], if any */
	struct strlist caps;
	struct session_info info;
	/* Not MP_OK once the session lost step with the server: every later
	 * command is refused with it. */
	enum mp_status fault;
	bool condstore, qresync, utf8;   /* enabled */
	bool nomodseq;               /* the selected mailbox has no MODSEQs */
	bool logout;                 /* LOGOUT sent: BYE is expected */
	uint32_t exists;             /* EXISTS of the selected mailbox */
	char *buf;                   /* DATA_CHUNK bytes for literals */
};

typedef enum mp_status (*body_fn)(struct imap_session *s, void *ctx,
				  struct mp_error *err);
typedef enum mp_status (*resp_fn)(struct imap_session *s, void *ctx,
				  struct mp_error *err);

static void update_info(struct imap_session *s)
{
	s->info.greeting = s->greeting ? s->greeting : "";
	s->info.caps = (const char *const *)s->caps.v;
	s->info.ncaps = s->caps.n;
}

static void set_caps(struct imap_session *s, const char *list)
{
	size_t len = strlen(list), i = 0;

	strlist_clear(&s->caps);
	while (i < len) {
		while (i < len && list[i] == ' ')
			i++;
		size_t start = i;
		while (i < len && list[i] != ' ')
			i++;
		if (i > start)
			strlist_addn(&s->caps, list + start, i - start);
	}
	update_info(s);
}

/* Remember that the session is out of step; returns st. */
static enum mp_status fault(struct imap_session *s, enum mp_status st)
{
	if (st != MP_OK && s->fault == MP_OK)
		s->fault = st;
	return st;
}

static enum mp_status check_step(const struct imap_session *s,
				 struct mp_error *err)
{
	if (s->fault == MP_OK)
		return MP_OK;
	return mp_fail(err, s->fault,
		       "the IMAP session cannot go on after an earlier error");
}

static char *chunk_buf(struct imap_session *s)
{
	if (!s->buf)
		s->buf = mp_xmalloc(DATA_CHUNK);
	return s->buf;
}

/* Read and drop n bytes of a literal. */
static enum mp_status drain(struct imap_session *s, uint64_t n, const char *what,
			    struct mp_error *err)
{
	char *buf = chunk_buf(s);
	enum mp_status st = MP_OK;
	uint64_t left = n;

	conn_trace_pause(s->conn, true);
	while (st == MP_OK && left > 0) {
		size_t k = left > DATA_CHUNK ? DATA_CHUNK : (size_t)left;

		st = conn_read_exact(s->conn, buf, k, err);
		left -= k;
	}
	conn_trace_pause(s->conn, false);
	if (st == MP_OK)
		conn_trace_note(s->conn, "%llu bytes of %s", (unsigned long long)n,
				what);
	return st;
}

/* Read one whole response into s->p, its first line given: for every
 * literal the bytes and the line after them. Message data goes to body
 * (dropped when NULL), other literals are kept or dropped as the parser
 * says. */
static enum mp_status parse_response(struct imap_session *s, const char *line,
				     size_t len, body_fn body, void *ctx,
				     struct mp_error *err)
{
	enum imapp_step step;
	enum mp_status st;

	imapp_begin(&s->p);
	step = imapp_line(&s->p, line, len);
	while (step == IMAPP_LITERAL) {
		uint64_t n = s->p.literal;
		char *value;

		switch (s->p.use) {
		case IMAPP_USE_VALUE:
			value = mp_xmalloc(n ? (size_t)n : 1);
			st = conn_read_exact(s->conn, value, (size_t)n, err);
			if (st == MP_OK)
				step = imapp_literal(&s->p, value, (size_t)n);
			free(value);
			break;
		case IMAPP_USE_BODY:
			st = body ? body(s, ctx, err)
				  : drain(s, n, "message data", err);
			step = imapp_literal(&s->p, NULL, 0);
			break;
		case IMAPP_USE_SKIP:
			st = drain(s, n, "literal data", err);
			step = imapp_literal(&s->p, NULL, 0);
			break;
		}
		if (st != MP_OK)
			return st;
		if (step != IMAPP_MORE)
			break;
		st = conn_read_line(s->conn, &line, &len, err);
		if (st != MP_OK)
			return st;
		step = imapp_line(&s->p, line, len);
	}
	if (step != IMAPP_DONE)
		return mp_fail(err, MP_ERR_PROTOCOL, "%s", s->p.error);
	return MP_OK;
}

/* The same, its first line read here. */
static enum mp_status read_response(struct imap_session *s, body_fn body,
				    void *ctx, struct mp_error *err)
{
	const char *line;
	size_t len;
	enum mp_status st = conn_read_line(s->conn, &line, &len, err);

	if (st != MP_OK)
		return st;
	return parse_response(s, line, len, body, ctx, err);
}

/* "[CODE] text" of a status response, printable, for messages. */
static void status_text(const struct imapp_resp *r, char *buf, size_t size)
{
	char text[200];

	mp_printable(r->text, strlen(r->text), text, sizeof text);
	if (r->code[0])
		snprintf(buf, size, "[%s] %s", r->code, text);
	else
		snprintf(buf, size, "%s", text);
}

/* Act on what a response tells whenever it arrives. */
static void untagged(struct imap_session *s)
{
	const struct imapp_resp *r = &s->p.r;
	char text[300];

	if (r->kind == IMAP_CONTINUATION)
		return;
	if (r->type == IMAPP_T_COND && r->cond == IMAP_COND_BYE &&
	    r->kind == IMAP_UNTAGGED) {
		status_text(r, text, sizeof text);
		free(s->bye);
		s->bye = mp_xstrdup(text[0] ? text : "(no reason given)");
	}
	if (r->type == IMAPP_T_COND && !strcasecmp(r->code, "ALERT")) {
		mp_printable(r->text, strlen(r->text), text, sizeof text);
		free(s->alert);
		s->alert = mp_xstrdup(text);
		conn_trace_note(s->conn, "server alert: %s", text);
	}
	if (r->type == IMAPP_T_COND && r->cond != IMAP_COND_NO &&
	    r->cond != IMAP_COND_BAD && !strcasecmp(r->code, "CAPABILITY"))
		set_caps(s, r->code_args);
	switch (r->type) {
	case IMAPP_T_CAPABILITY:
		set_caps(s, r->words);
		break;
	case IMAPP_T_ENABLED:
		if (mp_word_in_list(r->words, "CONDSTORE"))
			s->condstore = true;
		if (mp_word_in_list(r->words, "QRESYNC"))
			s->qresync = s->condstore = true;
		if (mp_word_in_list(r->words, "UTF8=ACCEPT"))
			s->utf8 = true;
		break;
	case IMAPP_T_EXISTS:
		s->exists = r->num;
		break;
	case IMAPP_T_EXPUNGE:
		if (s->exists > 0)
			s->exists--;
		break;
	default:
		break;
	}
}

/* A read failed: if the server said BYE first, that is the better reason. */
static enum mp_status lost(struct imap_session *s, enum mp_status st,
			   struct mp_error *err)
{
	if (s->bye && st == MP_ERR_TEMP)
		return mp_fail(err, MP_ERR_TEMP, "server closed the connection: %s",
			       s->bye);
	return st;
}

/* A response just read (st: how reading it went), acted on; any failure
 * leaves the session out of step. */
static enum mp_status took_response(struct imap_session *s, enum mp_status st,
				    struct mp_error *err)
{
	if (st != MP_OK)
		return fault(s, lost(s, st, err));
	untagged(s);
	/* Nothing after a BYE means anything; waiting for the hang-up would
	 * only run into the timeout. */
	if (s->p.r.kind == IMAP_UNTAGGED && s->p.r.cond == IMAP_COND_BYE &&
	    !s->logout)
		return fault(s, mp_fail(err, MP_ERR_TEMP,
					"server closed the connection: %s",
					s->bye));
	return MP_OK;
}

/* The next response, acted on. */
static enum mp_status next_response(struct imap_session *s, body_fn body,
				    void *ctx, struct mp_error *err)
{
	return took_response(s, read_response(s, body, ctx, err), err);
}

static void new_tag(struct imap_session *s)
{
	snprintf(s->tag, sizeof s->tag, "A%04u", ++s->next_tag);
}

/* A tagged command into the write buffer (sent with the next flush). */
static enum mp_status queue_command(struct imap_session *s, const char *cmd,
				    size_t visible, struct mp_error *err)
{
	new_tag(s);
	size_t len = strlen(s->tag) + 1 + strlen(cmd) + 1;
	char *line = mp_xmalloc(len);
	snprintf(line, len, "%s %s", s->tag, cmd);
	enum mp_status st = conn_send_line(s->conn, line,
		visible == CONN_SHOW_ALL ? CONN_SHOW_ALL : strlen(s->tag) + 1 + visible,
		err);
	mp_wipe(line, len);
	free(line);
	return fault(s, st);
}

static enum mp_status send_command(struct imap_session *s, const char *cmd,
				   size_t visible, struct mp_error *err)
{
	enum mp_status st = queue_command(s, cmd, visible, err);
	if (st == MP_OK)
		st = fault(s, conn_flush(s->conn, err));
	return st;
}

/* Read until the tagged end of the command in flight. The tagged line is
 * left in s->p.r; untagged responses are acted on and passed to fn (when
 * given). A failure of fn is returned after the tagged line, so the
 * session stays in step. A continuation request is returned too (*cont)
 * when the caller expects one. */
static enum mp_status wait_for(struct imap_session *s, const char *tag,
			       resp_fn fn, void *ctx, bool *cont,
			       struct mp_error *err)
{
	enum mp_status first = MP_OK;
	struct mp_error first_err = { 0 };

	for (long n = 0; n < MAX_UNTAGGED; n++) {
		enum mp_status st = next_response(s, NULL, NULL, err);
		const struct imapp_resp *r = &s->p.r;

		if (st != MP_OK)
			return st;
		if (r->kind == IMAP_UNTAGGED) {
			if (fn && first == MP_OK)
				first = fn(s, ctx, &first_err);
			continue;
		}
		if (r->kind == IMAP_CONTINUATION) {
			if (cont) {
				*cont = true;
				return MP_OK;
			}
			return fault(s, mp_fail(err, MP_ERR_PROTOCOL,
						"unexpected continuation request "
						"from server"));
		}
		if (strcmp(r->tag, tag) != 0) {
			char shown[40];

			mp_printable(r->tag, strlen(r->tag), shown, sizeof shown);
			return fault(s, mp_fail(err, MP_ERR_PROTOCOL,
						"response for unknown tag '%s'",
						shown));
		}
		if (first != MP_OK) {
			if (err)
				*err = first_err;
			return first;
		}
		return MP_OK;
	}
	return fault(s, mp_fail(err, MP_ERR_PROTOCOL,
				"server sent too many untagged responses"));
}

/* The same for the command sent last. */
static enum mp_status wait_tagged(struct imap_session *s, resp_fn fn,
				  void *ctx, bool *cont, struct mp_error *err)
{
	return wait_for(s, s->tag, fn, ctx, cont, err);
}

/* The error for a tagged NO or BAD: the server's words, or that it gave
 * none. Codes saying "try later" make it temporary. */
static enum mp_status command_failed(struct imap_session *s, const char *what,
				     enum mp_status no_status,
				     struct mp_error *err)
{
	const struct imapp_resp *r = &s->p.r;
	const char *word = r->cond == IMAP_COND_BAD ? "BAD" : "NO";
	char text[300];

	status_text(r, text, sizeof text);
	if (r->cond == IMAP_COND_BAD)
		no_status = MP_ERR_PROTOCOL;
	else if (!strcasecmp(r->code, "UNAVAILABLE") ||
		 !strcasecmp(r->code, "INUSE") ||
		 !strcasecmp(r->code, "EXPUNGEISSUED") ||
		 !strcasecmp(r->code, "LIMIT"))
		no_status = MP_ERR_TEMP;
	else if (!strcasecmp(r->code, "NONEXISTENT"))
		no_status = MP_ERR_NOUSER;
	if (!text[0])
		return mp_fail(err, no_status,
			       "%s: server said %s without giving a reason",
			       what, word);
	return mp_fail(err, no_status, "%s: server said %s %s", what, word,
		       text);
}

/* Run a command with nothing to quote that must end in OK. */
static enum mp_status simple(struct imap_session *s, const char *cmd,
			     struct mp_error *err)
{
	enum mp_status st = send_command(s, cmd, CONN_SHOW_ALL, err);
	if (st == MP_OK)
		st = wait_tagged(s, NULL, NULL, NULL, err);
	if (st == MP_OK && s->p.r.cond != IMAP_COND_OK)
		st = command_failed(s, cmd, MP_ERR_UNAVAILABLE, err);
	return st;
}

static enum mp_status greeting(struct imap_session *s, struct mp_error *err)
{
	const char *line;
	size_t len;
	char shown[104];
	enum mp_status st = conn_read_line(s->conn, &line, &len, err);

	if (st != MP_OK)
		return st;
	mp_printable(line, len, shown, sizeof shown);
	s->greeting = mp_xmalloc(len + 1);
	memcpy(s->greeting, line, len);
	s->greeting[len] = '\0';
	imapp_begin(&s->p);
	const struct imapp_resp *r = &s->p.r;
	if (imapp_line(&s->p, line, len) != IMAPP_DONE ||
	    r->kind != IMAP_UNTAGGED || r->type != IMAPP_T_COND ||
	    (r->cond != IMAP_COND_OK && r->cond != IMAP_COND_PREAUTH &&
	     r->cond != IMAP_COND_BYE))
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "server did not greet as an IMAP server: '%s'",
			       shown);
	if (r->cond == IMAP_COND_BYE) {
		char text[300];

		status_text(r, text, sizeof text);
		return mp_fail(err, MP_ERR_TEMP, "server refused the connection: %s",
			       text);
	}
	if (r->cond == IMAP_COND_PREAUTH) {
		if (s->srv->tls == TLS_MODE_STARTTLS)
			return mp_fail(err, MP_ERR_PROTOCOL,
				       "server greeted with PREAUTH before TLS, "
				       "which would skip STARTTLS; refusing");
		s->preauth = true;
	}
	untagged(s);
	return MP_OK;
}

static enum mp_status starttls(struct imap_session *s, struct mp_error *err)
{
	enum mp_status st = MP_OK;
	if (s->caps.n == 0)
		st = simple(s, "CAPABILITY", err);
	if (st != MP_OK)
		return st;
	if (!strlist_has(&s->caps, "STARTTLS"))
		return session_no_starttls(s->srv, "STARTTLS", err);
	st = send_command(s, "STARTTLS", CONN_SHOW_ALL, err);
	if (st == MP_OK)
		st = wait_tagged(s, NULL, NULL, NULL, err);
	if (st != MP_OK)
		return st;
	if (s->p.r.cond != IMAP_COND_OK) {
		command_failed(s, "server refused STARTTLS", MP_ERR_UNAVAILABLE, err);
		err->status = MP_ERR_UNAVAILABLE;
		return err->status;
	}
	st = conn_start_tls(s->conn, err);
	if (st != MP_OK)
		return st;
	/* Capabilities seen before TLS may have been forged: ask again. */
	strlist_clear(&s->caps);
	return simple(s, "CAPABILITY", err);
}

enum mp_status imap_open(struct imap_session **out,
			 const struct server_opts *srv, struct mp_error *err)
{
	struct imap_session *s = mp_xcalloc(1, sizeof *s);
	s->srv = srv;
	imapp_begin(&s->p);
	enum mp_status st = session_connect(srv, &s->conn, err);
	if (st == MP_OK)
		st = greeting(s, err);
	if (st == MP_OK && srv->tls == TLS_MODE_STARTTLS)
		st = starttls(s, err);
	if (st == MP_OK && s->caps.n == 0)
		st = simple(s, "CAPABILITY", err);
	if (st != MP_OK) {
		imap_close(s);
		return st;
	}
	update_info(s);
	*out = s;
	return MP_OK;
}

/* SASL over IMAP: "tag AUTHENTICATE MECH [ir]", "+ " challenges. */
static enum mp_status wire_start(void *ctx, const char *mech, const char *ir,
				 struct mp_error *err)
{
	struct imap_session *s = ctx;
	char verb[48];
	new_tag(s);
	snprintf(verb, sizeof verb, "%s AUTHENTICATE", s->tag);
	return auth_send_command(s->conn, verb, mech, ir, err);
}

static enum mp_status wire_next(void *ctx, bool *done, const char **challenge,
				struct mp_error *err)
{
	struct imap_session *s = ctx;
	bool cont = false;
	enum mp_status st = wait_tagged(s, NULL, NULL, &cont, err);
	if (st != MP_OK)
		return st;
	if (cont) {
		*challenge = s->p.r.text;
		return MP_OK;
	}
	if (s->p.r.cond == IMAP_COND_OK) {
		*done = true;
		return MP_OK;
	}
	return command_failed(s, "authentication failed", MP_ERR_AUTH, err);
}

/* Append an IMAP quoted string, or fail if the text cannot be quoted. */
static bool quote(char *out, size_t size, size_t *pos, const char *text)
{
	if (*pos + 1 >= size)
		return false;
	out[(*pos)++] = '"';
	for (const char *p = text; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c == 0x7f)
			return false;
		if (*pos + 3 >= size)
			return false;
		if (c == '"' || c == '\\')
			out[(*pos)++] = '\\';
		out[(*pos)++] = (char)c;
	}
	out[(*pos)++] = '"';
	out[*pos] = '\0';
	return true;
}

/* The LOGIN command, for servers without a usable SASL mechanism. */
static enum mp_status login_command(struct imap_session *s,
				    const struct mp_auth *auth,
				    struct mp_error *err)
{
	if (strlist_has(&s->caps, "LOGINDISABLED"))
		return mp_fail(err, MP_ERR_UNAVAILABLE,
			       "server disables LOGIN and offers no usable "
			       "authentication mechanism");
	if (!conn_is_secure(s->conn) && !auth->allow_plaintext)
		return mp_fail(err, MP_ERR_UNAVAILABLE,
			       "refusing to send a password over an unencrypted "
			       "connection (use TLS, or --allow-plaintext-auth to insist)");
	const char *password;
	enum mp_status st = auth_secret(auth, false, &password, err);
	if (st != MP_OK)
		return st;
	char cmd[2048];
	size_t pos = (size_t)snprintf(cmd, sizeof cmd, "LOGIN ");
	bool fits = quote(cmd, sizeof cmd, &pos, auth->user);
	size_t visible = pos + 1;
	if (fits && pos + 2 < sizeof cmd) {
		cmd[pos++] = ' ';
		fits = quote(cmd, sizeof cmd, &pos, password);
	} else {
		fits = false;
	}
	if (!fits) {
		mp_wipe(cmd, sizeof cmd);
		return mp_fail(err, MP_ERR_USAGE,
			       "user name or password holds characters the IMAP "
			       "LOGIN command cannot carry; use --auth PLAIN");
	}
	st = send_command(s, cmd, visible, err);
	mp_wipe(cmd, sizeof cmd);
	if (st == MP_OK)
		st = wait_tagged(s, NULL, NULL, NULL, err);
	if (st == MP_OK && s->p.r.cond != IMAP_COND_OK)
		st = command_failed(s, "authentication failed", MP_ERR_AUTH, err);
	if (st == MP_OK)
		mp_strlcpy(s->info.auth_used, "LOGIN command", sizeof s->info.auth_used);
	return st;
}

/* The AUTH=X capabilities as one space-separated list. */
static char *offered_mechs(const struct imap_session *s)
{
	size_t size = 1;
	for (size_t i = 0; i < s->caps.n; i++)
		size += strlen(s->caps.v[i]) + 1;
	char *list = mp_xmalloc(size);
	list[0] = '\0';
	for (size_t i = 0; i < s->caps.n; i++) {
		if (strncasecmp(s->caps.v[i], "AUTH=", 5) != 0)
			continue;
		if (list[0])
			strcat(list, " ");
		strcat(list, s->caps.v[i] + 5);
	}
	return list;
}

enum mp_status imap_auth(struct imap_session *s, const struct mp_auth *auth,
			 struct mp_error *err)
{
	if (s->preauth) {
		mp_strlcpy(s->info.auth_used, "PREAUTH", sizeof s->info.auth_used);
		return MP_OK;
	}
	if (!auth->user || !*auth->user)
		return mp_fail(err, MP_ERR_USAGE, "no user name given");
	enum mp_status st = check_step(s, err);
	if (st != MP_OK)
		return st;
	if (auth_wants(auth, "LOGIN-CMD")) {
		st = login_command(s, auth, err);
	} else {
		char *offered = offered_mechs(s);
		bool use_sasl = offered[0] || (auth->mech && !auth_wants(auth, "auto"));
		if (use_sasl) {
			struct sasl_wire wire = { wire_start, wire_next,
						  strlist_has(&s->caps, "SASL-IR") };
			enum sasl_mech used;
			st = auth_sasl(s->conn, auth, offered, s->srv->url.host,
				       s->srv->url.port, &wire, s, &used, err);
			if (st == MP_OK)
				mp_strlcpy(s->info.auth_used, sasl_mech_name(used),
					   sizeof s->info.auth_used);
		} else {
			st = login_command(s, auth, err);
		}
		free(offered);
	}
	if (st != MP_OK)
		return st;
	/* Servers may offer more once we are in; ask unless the OK said. */
	if (!(s->p.r.cond == IMAP_COND_OK &&
	      strcasecmp(s->p.r.code, "CAPABILITY") == 0))
		st = simple(s, "CAPABILITY", err);
	return st;
}

const struct session_info *imap_info(const struct imap_session *s)
{
	return &s->info;
}

struct conn *imap_conn(struct imap_session *s)
{
	return s->conn;
}

const char *imap_alert(const struct imap_session *s)
{
	return s->alert;
}

/* --- the mailbox store --- */

bool imap_has_cap(const struct imap_session *s, const char *name)
{
	return strlist_has(&s->caps, name);
}

bool imap_utf8(const struct imap_session *s)
{
	return s->utf8;
}

/* Strings go out as quoted strings when they are plain printable ASCII,
 * else as literals: 8-bit names, and names holding CR or LF as the server
 * listed them (a literal carries any byte safely). */
static bool plain_ascii(const char *arg)
{
	for (const unsigned char *p = (const unsigned char *)arg; *p; p++)
		if (*p < 0x20 || *p >= 0x7f)
			return false;
	return true;
}

/* Send "tag verb arg... tail", each arg a string, and wait for the tagged
 * end (untagged responses to fn). A synchronizing literal waits for the
 * server's go-ahead; if the command ends instead, s->p.r has the end.
 * Unless breaks_ok (names the server gave), an argument holding CR or LF
 * is the user's mistake and nothing is sent. */
/* Add data[0..n) to the command as a literal: send what is queued in
 * line with the literal's head, wait for the go-ahead (fn takes what comes
 * untagged meanwhile) unless LITERAL+ (or LITERAL- for a short one) lets
 * it follow at once, then go on: data with a line break is written as it
 * is, other data starts the rest of the command in line. *ended: the
 * server answered the command instead of going ahead; s->p.r has it. */
static enum mp_status add_literal(struct imap_session *s, struct sbuf *line,
				  const char *data, size_t n, resp_fn fn,
				  void *ctx, bool *ended, struct mp_error *err)
{
	bool sync = !imap_has_cap(s, "LITERAL+") &&
		    !(imap_has_cap(s, "LITERAL-") && n <= LITERAL_MINUS_MAX);
	char head[40];
	enum mp_status st;

	snprintf(head, sizeof head, "{%zu%s}", n, sync ? "" : "+");
	sbuf_adds(line, head);
	st = conn_send_line(s->conn, line->p, CONN_SHOW_ALL, err);
	sbuf_free(line);
	if (st == MP_OK && sync) {
		bool cont = false;

		st = conn_flush(s->conn, err);
		if (st == MP_OK)
			st = wait_tagged(s, fn, ctx, &cont, err);
		if (st == MP_OK && !cont) {
			*ended = true;
			return MP_OK;
		}
	}
	if (st == MP_OK && (memchr(data, '\r', n) || memchr(data, '\n', n))) {
		/* Not a line: written as it is, noted in the trace. */
		st = conn_write(s->conn, data, n, err);
		if (st == MP_OK)
			conn_trace_note(s->conn, "%zu bytes of literal data", n);
	} else if (st == MP_OK) {
		sbuf_add(line, data, n);
	}
	return fault(s, st);
}

/* Send a command whose arguments are strings (quoted, or literals), and
 * tail as it is. A synchronizing literal waits for the server's go-ahead;
 * should the server refuse it instead, the command is over: *done. */
static enum mp_status send_args(struct imap_session *s, const char *verb,
				const char *const *args, size_t nargs,
				bool breaks_ok, const char *tail, resp_fn fn,
				void *ctx, bool flush, bool *done,
				struct mp_error *err)
{
	struct sbuf line = { 0 };
	enum mp_status st = check_step(s, err);

	if (st != MP_OK)
		return st;
	for (size_t i = 0; !breaks_ok && i < nargs; i++)
		if (strpbrk(args[i], "\r\n"))
			return mp_fail(err, MP_ERR_USAGE,
				       "folder name or pattern holds a line break");
	new_tag(s);
	sbuf_adds(&line, s->tag);
	sbuf_addc(&line, ' ');
	sbuf_adds(&line, verb);
	for (size_t i = 0; i < nargs; i++) {
		const char *a = args[i];

		sbuf_addc(&line, ' ');
		if (plain_ascii(a)) {
			sbuf_addc(&line, '"');
			for (; *a; a++) {
				if (*a == '"' || *a == '\\')
					sbuf_addc(&line, '\\');
				sbuf_addc(&line, *a);
			}
			sbuf_addc(&line, '"');
			continue;
		}
		st = add_literal(s, &line, a, strlen(a), fn, ctx, done, err);
		if (st != MP_OK || *done)
			return st;   /* on *done, refused: the tagged end */
	}
	if (tail)
		sbuf_adds(&line, tail);
	st = conn_send_line(s->conn, line.p ? line.p : "", CONN_SHOW_ALL, err);
	sbuf_free(&line);
	if (st == MP_OK && flush)
		st = conn_flush(s->conn, err);
	return fault(s, st);
}

static enum mp_status command_args(struct imap_session *s, const char *verb,
				   const char *const *args, size_t nargs,
				   bool breaks_ok, const char *tail, resp_fn fn,
				   void *ctx, struct mp_error *err)
{
	bool done = false;
	enum mp_status st = send_args(s, verb, args, nargs, breaks_ok, tail,
				      fn, ctx, true, &done, err);

	if (st != MP_OK || done)
		return st;
	return wait_tagged(s, fn, ctx, NULL, err);
}

enum mp_status imap_enable(struct imap_session *s, struct mp_error *err)
{
	static const char *const wanted[] = { "CONDSTORE", "QRESYNC",
					      "UTF8=ACCEPT" };
	char cmd[64] = "ENABLE", enable_tag[16] = "", id_tag[16] = "";
	enum mp_status st = check_step(s, err);

	if (st != MP_OK)
		return st;
	if (imap_has_cap(s, "ENABLE")) {
		for (size_t i = 0; i < sizeof wanted / sizeof *wanted; i++)
			if (imap_has_cap(s, wanted[i])) {
				strcat(cmd, " ");
				strcat(cmd, wanted[i]);
			}
		if (strcmp(cmd, "ENABLE") != 0) {
			st = queue_command(s, cmd, CONN_SHOW_ALL, err);
			snprintf(enable_tag, sizeof enable_tag, "%s", s->tag);
		}
	}
	if (st == MP_OK && imap_has_cap(s, "ID")) {
		st = queue_command(s, "ID (\"name\" \"mailpipe\")", CONN_SHOW_ALL,
				   err);
		snprintf(id_tag, sizeof id_tag, "%s", s->tag);
	}
	/* Both in one write: one round trip, not two. A refusal of either
	 * only means going without. */
	if (st == MP_OK)
		st = fault(s, conn_flush(s->conn, err));
	if (st == MP_OK && enable_tag[0])
		st = wait_for(s, enable_tag, NULL, NULL, NULL, err);
	if (st == MP_OK && id_tag[0])
		st = wait_for(s, id_tag, NULL, NULL, NULL, err);
	return st;
}

/* --- LIST --- */

/* What STATUS (or LIST-STATUS) asks for. */
static const char *status_items(const struct imap_session *s)
{
	return s->condstore || imap_has_cap(s, "CONDSTORE")
		? "(MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)"
		: "(MESSAGES UIDNEXT UIDVALIDITY)";
}

struct folders {
	struct imap_folder *v;
	size_t n, cap;
};

static enum mp_status list_resp(struct imap_session *s, void *ctx,
				struct mp_error *err)
{
	struct folders *f = ctx;
	const struct imapp_resp *r = &s->p.r;

	if (r->type == IMAPP_T_STATUS && r->mailbox &&
	    (r->status.have & IMAPP_S_UIDVALIDITY)) {
		/* LIST-STATUS: the answer for a folder just listed. */
		for (size_t i = f->n; i-- > 0;) {
			struct imap_folder *d = &f->v[i];
			if (strcmp(d->name, r->mailbox) != 0)
				continue;
			d->has_status = true;
			d->status.uidvalidity = r->status.uidvalidity;
			d->status.uidnext = r->status.uidnext;
			d->status.messages = r->status.messages;
			d->status.highestmodseq = r->status.highestmodseq;
			break;
		}
		return MP_OK;
	}
	if (r->type != IMAPP_T_LIST)
		return MP_OK;
	if (f->n >= MAX_FOLDERS)
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "server lists more than %d folders", MAX_FOLDERS);
	if (f->n == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 64;
		f->v = mp_xrealloc(f->v, f->cap * sizeof *f->v);
	}
	memset(&f->v[f->n], 0, sizeof f->v[f->n]);
	f->v[f->n].name = mp_xstrdup(r->mailbox ? r->mailbox : "");
	f->v[f->n].delim = r->list.delim;
	f->v[f->n].noselect =
		(r->list.attrs & (IMAPP_L_NOSELECT | IMAPP_L_NONEXISTENT)) != 0;
	f->n++;
	return MP_OK;
}

enum mp_status imap_list(struct imap_session *s, const char *pattern,
			 struct imap_folder **out, size_t *n,
			 struct mp_error *err)
{
	struct folders f = { 0 };
	const char *args[] = { "", pattern };
	enum mp_status st;

	char tail[100];

	*out = NULL;
	*n = 0;
	snprintf(tail, sizeof tail, " RETURN (STATUS %s)", status_items(s));
	st = command_args(s, "LIST", args, 2, false,
			  imap_has_cap(s, "LIST-STATUS") ? tail : NULL,
			  list_resp, &f, err);
	if (st == MP_OK && s->p.r.cond != IMAP_COND_OK)
		st = command_failed(s, "LIST failed", MP_ERR_UNAVAILABLE, err);
	if (st != MP_OK) {
		imap_folders_free(f.v, f.n);
		return st;
	}
	*out = f.v;
	*n = f.n;
	return MP_OK;
}

void imap_folders_free(struct imap_folder *f, size_t n)
{
	for (size_t i = 0; f && i < n; i++)
		free(f[i].name);
	free(f);
}

/* --- STATUS and EXAMINE --- */

/* What "folder 'NAME'" looks like in a message. */
static void folder_what(const char *verb, const char *folder, char *buf,
			size_t size)
{
	char name[120];

	mp_printable(folder, strlen(folder), name, sizeof name);
	snprintf(buf, size, "%s '%s' failed", verb, name);
}

struct status_want {
	const char *folder;
	struct imapp_status got;
	bool have, exact;
};

static enum mp_status status_resp(struct imap_session *s, void *ctx,
				  struct mp_error *err)
{
	struct status_want *w = ctx;
	const struct imapp_resp *r = &s->p.r;
	bool exact;

	(void)err;
	if (r->type != IMAPP_T_STATUS)
		return MP_OK;
	exact = r->mailbox && !strcmp(r->mailbox, w->folder);
	/* The server may spell the name its own way (INBOX in another
	 * case): an exact match wins, else the last answer. */
	if (exact || !w->exact) {
		w->got = r->status;
		w->have = true;
		w->exact = exact;
	}
	return MP_OK;
}

enum mp_status imap_status(struct imap_session *s, const char *folder,
			   struct imap_mailbox *out, struct mp_error *err)
{
	struct status_want w = { .folder = folder };
	char tail[80], what[200];
	enum mp_status st;

	memset(out, 0, sizeof *out);
	snprintf(tail, sizeof tail, " %s", status_items(s));
	folder_what("STATUS", folder, what, sizeof what);
	st = command_args(s, "STATUS", &folder, 1, true, tail, status_resp, &w,
			  err);
	if (st != MP_OK)
		return st;
	if (s->p.r.cond != IMAP_COND_OK)
		return command_failed(s, what, MP_ERR_UNAVAILABLE, err);
	if (!w.have || !(w.got.have & IMAPP_S_UIDVALIDITY))
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "%s: server sent no UIDVALIDITY", what);
	out->uidvalidity = w.got.uidvalidity;
	out->uidnext = w.got.uidnext;
	out->messages = w.got.messages;
	out->highestmodseq = w.got.highestmodseq;
	return MP_OK;
}

struct examine_want {
	struct imap_mailbox mb;
	bool uidvalidity;
};

static enum mp_status examine_resp(struct imap_session *s, void *ctx,
				   struct mp_error *err)
{
	struct examine_want *w = ctx;
	const struct imapp_resp *r = &s->p.r;

	(void)err;
	if (r->type == IMAPP_T_EXISTS)
		w->mb.messages = r->num;
	if (r->type != IMAPP_T_COND || r->cond != IMAP_COND_OK)
		return MP_OK;
	if (!strcasecmp(r->code, "UIDVALIDITY")) {
		w->mb.uidvalidity = (uint32_t)r->code_num;
		w->uidvalidity = true;
	} else if (!strcasecmp(r->code, "UIDNEXT")) {
		w->mb.uidnext = (uint32_t)r->code_num;
	} else if (!strcasecmp(r->code, "HIGHESTMODSEQ")) {
		w->mb.highestmodseq = r->code_num;
	} else if (!strcasecmp(r->code, "NOMODSEQ")) {
		w->mb.highestmodseq = 0;
	}
	return MP_OK;
}

/* EXAMINE's tagged answer (in s->p.r) and what came before it. */
static enum mp_status examined(struct imap_session *s,
			       const struct examine_want *w, bool condstore,
			       const char *what, struct imap_mailbox *out,
			       struct mp_error *err)
{
	if (s->p.r.cond != IMAP_COND_OK)
		return command_failed(s, what, MP_ERR_UNAVAILABLE, err);
	if (!w->uidvalidity)
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "%s: server sent no UIDVALIDITY", what);
	if (condstore)
		s->condstore = true;
	/* A mailbox without MODSEQs refuses FETCH MODSEQ and CHANGEDSINCE. */
	s->nomodseq = !condstore || w->mb.highestmodseq == 0;
	s->exists = w->mb.messages;
	*out = w->mb;
	return MP_OK;
}

enum mp_status imap_examine(struct imap_session *s, const char *folder,
			    struct imap_mailbox *out, struct mp_error *err)
{
	struct examine_want w = { { 0 }, false };
	bool condstore = s->condstore || imap_has_cap(s, "CONDSTORE");
	char what[200];
	enum mp_status st;

	memset(out, 0, sizeof *out);
	folder_what("EXAMINE", folder, what, sizeof what);
	s->exists = 0;
	st = command_args(s, "EXAMINE", &folder, 1, true,
			  condstore ? " (CONDSTORE)" : NULL, examine_resp, &w,
			  err);
	if (st != MP_OK)
		return st;
	return examined(s, &w, condstore, what, out, err);
}

/* --- FETCH of metadata --- */

struct info_entry {
	struct imap_msginfo m;
	unsigned have;
	size_t order;
};

struct infos {
	struct info_entry *v;
	size_t n, cap;
	uint32_t lo, hi;
};

static void copy_info(struct imap_msginfo *m, const struct imapp_fetch *f)
{
	if (f->have & IMAPP_F_UID)
		m->uid = f->uid;
	if (f->have & IMAPP_F_FLAGS)
		memcpy(m->flags, f->flags, sizeof m->flags);
	if (f->have & IMAPP_F_DATE)
		m->internaldate = f->internaldate;
	if (f->have & IMAPP_F_SIZE)
		m->size = f->size;
	if (f->have & IMAPP_F_MODSEQ)
		m->modseq = f->modseq;
}

static enum mp_status info_resp(struct imap_session *s, void *ctx,
				struct mp_error *err)
{
	struct infos *in = ctx;
	const struct imapp_fetch *f = &s->p.r.fetch;
	struct info_entry *e;

	/* "n:*" answers with the last message even below n; others' FETCH
	 * (flag changes) may come too. */
	if (s->p.r.type != IMAPP_T_FETCH || !(f->have & IMAPP_F_UID) ||
	    f->uid < in->lo || f->uid > in->hi)
		return MP_OK;
	if (in->n >= MAX_INFO)
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "server answers FETCH for more than %d messages",
			       MAX_INFO);
	if (in->n == in->cap) {
		in->cap = in->cap ? 2 * in->cap : 256;
		in->v = mp_xrealloc(in->v, in->cap * sizeof *in->v);
	}
	e = &in->v[in->n];
	memset(e, 0, sizeof *e);
	copy_info(&e->m, f);
	e->have = f->have;
	e->order = in->n++;
	return MP_OK;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct info_entry *x = a, *y = b;

	if (x->m.uid != y->m.uid)
		return x->m.uid < y->m.uid ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* The UID FETCH of message info for first:last (0: "*"), changed since
 * changedsince when not 0, into cmd; in gets the UID bounds it answers. */
static void info_command(const struct imap_session *s, uint32_t first,
			 uint32_t last, uint64_t changedsince, bool modseq,
			 struct infos *in, char *cmd, size_t size)
{
	char range[40];

	if (first == 0)
		first = 1;
	in->lo = last && last < first ? last : first;
	in->hi = last == 0 ? UINT32_MAX : last < first ? first : last;
	if (last)
		snprintf(range, sizeof range, "%u:%u", (unsigned)first,
			 (unsigned)last);
	else
		snprintf(range, sizeof range, "%u:*", (unsigned)first);
	(void)s;
	if (changedsince)
		snprintf(cmd, size, "UID FETCH %s (UID FLAGS INTERNALDATE "
			 "RFC822.SIZE MODSEQ) (CHANGEDSINCE %llu)", range,
			 (unsigned long long)changedsince);
	else
		snprintf(cmd, size, "UID FETCH %s (UID FLAGS INTERNALDATE "
			 "RFC822.SIZE%s)", range, modseq ? " MODSEQ" : "");
}

/* The answers collected, sorted by UID, each once: later answers add to
 * earlier ones. Only messages with their FLAGS are answers to the
 * command. Frees in. */
static void collect_info(struct infos *in, struct imap_msginfo **out,
			 size_t *n)
{
	if (in->n > 1)
		qsort(in->v, in->n, sizeof *in->v, cmp_entry);
	size_t k = 0;
	struct imap_msginfo *res = mp_xmalloc((in->n ? in->n : 1) * sizeof *res);
	for (size_t i = 0; i < in->n; i++) {
		struct info_entry *e = &in->v[i];
		size_t j = i;

		while (j + 1 < in->n && in->v[j + 1].m.uid == e->m.uid) {
			struct info_entry *x = &in->v[++j];
			struct imapp_fetch f = { .have = x->have };

			f.uid = x->m.uid;
			memcpy(f.flags, x->m.flags, sizeof f.flags);
			f.internaldate = x->m.internaldate;
			f.size = x->m.size;
			f.modseq = x->m.modseq;
			copy_info(&e->m, &f);
			e->have |= x->have;
		}
		if (e->have & IMAPP_F_FLAGS)
			res[k++] = e->m;
		i = j;
	}
	free(in->v);
	in->v = NULL;
	*out = res;
	*n = k;
}

enum mp_status imap_fetch_info(struct imap_session *s, uint32_t first,
			       uint32_t last, uint64_t changedsince,
			       struct imap_msginfo **out, size_t *n,
			       struct mp_error *err)
{
	struct infos in = { 0 };
	char cmd[200];
	enum mp_status st = check_step(s, err);

	*out = NULL;
	*n = 0;
	if (st != MP_OK)
		return st;
	bool modseq = s->condstore && !s->nomodseq;
	if (changedsince && !modseq)
		return mp_fail(err, MP_ERR_USAGE,
			       "asking for changes since a MODSEQ needs CONDSTORE, "
			       "which the server does not offer for this folder");
	info_command(s, first, last, changedsince, modseq, &in, cmd, sizeof cmd);
	st = send_command(s, cmd, CONN_SHOW_ALL, err);
	if (st == MP_OK)
		st = wait_tagged(s, info_resp, &in, NULL, err);
	if (st == MP_OK && s->p.r.cond != IMAP_COND_OK)
		st = command_failed(s, "UID FETCH failed", MP_ERR_TEMP, err);
	if (st != MP_OK) {
		free(in.v);
		return st;
	}
	collect_info(&in, out, n);
	return MP_OK;
}

/* --- EXAMINE and the message list in one round trip --- */

enum mp_status imap_open_send(struct imap_session *s, const char *folder,
			      uint64_t changedsince, struct imap_open *op,
			      struct mp_error *err)
{
	bool condstore = s->condstore || imap_has_cap(s, "CONDSTORE");
	bool done = false;
	char cmd[200];
	struct infos in = { 0 };
	enum mp_status st;

	memset(op, 0, sizeof *op);
	op->folder = mp_xstrdup(folder);
	op->since = condstore ? changedsince : 0;
	op->condstore = condstore;
	/* A name sent as a synchronizing literal needs the server's
	 * go-ahead mid-command: no pipelining then. */
	op->sequential = !plain_ascii(folder) && !imap_has_cap(s, "LITERAL+") &&
			 !(imap_has_cap(s, "LITERAL-") &&
			   strlen(folder) <= LITERAL_MINUS_MAX);
	if (op->sequential)
		return check_step(s, err);
	s->exists = 0;
	op->w = mp_xcalloc(1, sizeof *op->w);
	st = send_args(s, "EXAMINE", (const char *const *)&op->folder, 1, true,
		       condstore ? " (CONDSTORE)" : NULL, examine_resp, op->w,
		       false, &done, err);
	if (st != MP_OK || done)
		return st;   /* a refusal is read by imap_open_finish */
	snprintf(op->examine_tag, sizeof op->examine_tag, "%s", s->tag);
	/* One write for both (send_command flushes). The modseq part is
	 * asked for as if the folder keeps MODSEQs; if it does not, the
	 * server refuses and imap_open_finish asks again. */
	info_command(s, 1, 0, op->since, condstore, &in, cmd, sizeof cmd);
	st = send_command(s, cmd, CONN_SHOW_ALL, err);
	if (st == MP_OK)
		snprintf(op->fetch_tag, sizeof op->fetch_tag, "%s", s->tag);
	return st;
}

enum mp_status imap_open_finish(struct imap_session *s, struct imap_open *op,
				struct imap_mailbox *mb,
				struct imap_msginfo **info, size_t *n,
				struct mp_error *err)
{
	char what[200];
	enum mp_status st;

	*info = NULL;
	*n = 0;
	memset(mb, 0, sizeof *mb);
	folder_what("EXAMINE", op->folder, what, sizeof what);
	if (op->sequential) {
		st = imap_examine(s, op->folder, mb, err);
		if (s->nomodseq)
			op->since = 0;
		if (st == MP_OK && mb->messages > 0)
			st = imap_fetch_info(s, 1, 0, op->since, info, n, err);
		return st;
	}
	if (!op->examine_tag[0]) {
		/* The name's literal was refused: EXAMINE's answer is in. */
		st = check_step(s, err);
		return st == MP_OK ? examined(s, op->w, op->condstore, what, mb, err)
				   : st;
	}
	st = wait_for(s, op->examine_tag, examine_resp, op->w, NULL, err);
	if (st == MP_OK)
		st = examined(s, op->w, op->condstore, what, mb, err);
	struct mp_error ferr = { 0 };
	struct infos in = { .lo = 1, .hi = UINT32_MAX };
	/* Read the FETCH's answer whatever became of EXAMINE, to stay in
	 * step with the server. */
	enum mp_status fst = op->fetch_tag[0]
		? wait_for(s, op->fetch_tag, info_resp, &in, NULL, &ferr)
		: MP_OK;
	if (st == MP_OK && fst != MP_OK) {
		*err = ferr;
		st = fst;
	}
	bool refused = fst == MP_OK && s->p.r.cond != IMAP_COND_OK;
	if (st != MP_OK) {
		free(in.v);
		return st;
	}
	if (refused) {
		/* CHANGEDSINCE or MODSEQ in a folder without MODSEQs, or
		 * "1:*" in an empty one: ask plainly. */
		free(in.v);
		if (s->nomodseq)
			op->since = 0;
		if (mb->messages == 0)
			return MP_OK;
		return imap_fetch_info(s, 1, 0, op->since, info, n, err);
	}
	collect_info(&in, info, n);
	return MP_OK;
}

void imap_open_free(struct imap_open *op)
{
	free(op->folder);
	free(op->w);
	memset(op, 0, sizeof *op);
}

/* --- FETCH of bodies --- */

struct uid_index {
	uint32_t uid;
	size_t index;
};

static int cmp_uid_index(const void *a, const void *b)
{
	const struct uid_index *x = a, *y = b;

	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

struct bodies {
	const struct imap_sink *sink;
	struct uid_index *map;      /* the wanted UIDs, sorted */
	size_t n;
	bool *seen;                 /* by index: begun (or refused) once */
	/* The first sink failure or unusable answer: it stops the run. */
	enum mp_status first;
	struct mp_error first_err;
	/* The message whose data arrived and awaits its end call. */
	bool active;
	size_t index;
	struct imap_msginfo info;
};

static void stop(struct bodies *b, enum mp_status st, const struct mp_error *e)
{
	if (b->first == MP_OK && st != MP_OK) {
		b->first = st;
		b->first_err = *e;
	}
}

/* The index of a wanted UID not yet delivered, or -1. */
static long wanted(struct bodies *b, uint32_t uid)
{
	struct uid_index key = { uid, 0 };
	size_t lo = 0, hi = b->n;

	/* The first entry for uid (a UID asked twice is delivered once). */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cmp_uid_index(&b->map[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == b->n || b->map[lo].uid != uid || b->seen[b->map[lo].index])
		return -1;
	return (long)b->map[lo].index;
}

/* CRLF -> LF in buf[start..end) in place, holding back a CR that ends
 * the piece (*cr): its LF may start the next one. Returns the new end. */
static size_t unfold(char *buf, size_t start, size_t end, bool *cr)
{
	size_t r = start, w = start;

	while (r < end) {
		char *c = memchr(buf + r, '\r', end - r);
		size_t seg = c ? (size_t)(c - (buf + r)) : end - r;

		if (w != r)
			memmove(buf + w, buf + r, seg);
		w += seg;
		r += seg;
		if (!c)
			break;
		if (r + 1 == end) {
			*cr = true;
			break;
		}
		if (buf[r + 1] != '\n')
			buf[w++] = '\r';
		r++;
	}
	return w;
}

static void sink_data(struct bodies *b, const char *p, size_t len)
{
	struct mp_error e;

	if (b->first == MP_OK && b->active && len > 0) {
		enum mp_status st = b->sink->data(b->sink->ctx, b->index, p,
						  len, &e);
		if (st != MP_OK) {
			stop(b, st, &e);
			b->active = false;
		}
	}
}

/* Begin delivering the message of the FETCH being read, if wanted. */
static void begin_message(struct imap_session *s, struct bodies *b)
{
	const struct imapp_fetch *f = &s->p.r.fetch;
	struct mp_error e;
	long index;

	b->active = false;
	if (b->first != MP_OK)
		return;
	if (!(f->have & IMAPP_F_UID)) {
		mp_fail(&e, MP_ERR_PROTOCOL,
			"server sent message data before the message's UID, "
			"so it cannot be told which message it is");
		stop(b, MP_ERR_PROTOCOL, &e);
		return;
	}
	index = wanted(b, f->uid);
	if (index < 0)
		return;          /* not asked for, or already delivered */
	b->index = (size_t)index;
	b->seen[index] = true;
	memset(&b->info, 0, sizeof b->info);
	copy_info(&b->info, f);
	if (!(f->have & IMAPP_F_SIZE))
		b->info.size = f->body ? f->body_len : f->body_size;
	if (b->sink->begin) {
		enum mp_status st = b->sink->begin(b->sink->ctx, b->index,
						   &b->info, &e);
		if (st != MP_OK) {
			stop(b, st, &e);
			return;
		}
	}
	b->active = true;
}

/* A BODY[] literal: streamed to the sink with CRLF made LF, or dropped.
 * Only the connection's failures are returned; the sink's stop the run. */
static enum mp_status body_literal(struct imap_session *s, void *ctx,
				   struct mp_error *err)
{
	struct bodies *b = ctx;
	uint64_t n = s->p.literal, left = n;
	char *buf = chunk_buf(s);
	enum mp_status st = MP_OK;
	bool cr = false;

	begin_message(s, b);
	if (!b->active)
		return drain(s, n, "message data", err);
	conn_trace_pause(s->conn, true);
	while (left > 0) {
		/* One byte kept free in front for a CR held back. */
		size_t k = left > DATA_CHUNK - 1 ? DATA_CHUNK - 1 : (size_t)left;
		size_t start = 1, end;

		st = conn_read_exact(s->conn, buf + 1, k, err);
		if (st != MP_OK)
			break;
		left -= k;
		if (!b->active)
			continue;
		if (cr && buf[1] != '\n') {
			buf[0] = '\r';
			start = 0;
		}
		cr = false;
		end = unfold(buf, start, k + 1, &cr);
		sink_data(b, buf + start, end - start);
	}
	conn_trace_pause(s->conn, false);
	if (st != MP_OK) {
		b->active = false;   /* cut off: never ended */
		return st;
	}
	if (cr)
		sink_data(b, "\r", 1);
	conn_trace_note(s->conn, "%llu bytes of message data",
			(unsigned long long)n);
	return MP_OK;
}

/* A FETCH response is complete: end the message it carried, or deliver
 * one that came as a quoted string. */
static void fetch_done(struct imap_session *s, struct bodies *b)
{
	const struct imapp_fetch *f = &s->p.r.fetch;
	struct mp_error e;

	if (s->p.r.type != IMAPP_T_FETCH)
		return;
	if (f->body) {
		begin_message(s, b);
		if (b->active) {
			char *copy = mp_xmalloc(f->body_len ? f->body_len : 1);
			bool cr = false;
			size_t end;

			memcpy(copy, f->body, f->body_len);
			end = unfold(copy, 0, f->body_len, &cr);
			sink_data(b, copy, end);
			if (cr)
				sink_data(b, "\r", 1);
			free(copy);
		}
	}
	if (!b->active)
		return;
	/* What came after the data completes what begin was shown. */
	copy_info(&b->info, f);
	b->active = false;
	if (b->first == MP_OK && b->sink->end) {
		enum mp_status st = b->sink->end(b->sink->ctx, b->index, &e);

		stop(b, st, &e);
	}
}

/* Queue one UID FETCH for uids[from..to) and return its tag number. */
static enum mp_status queue_fetch(struct imap_session *s, const uint32_t *uids,
				  size_t from, size_t to, unsigned *tag,
				  struct mp_error *err)
{
	uint32_t set[UIDS_PER_FETCH];
	size_t k = to - from, i = 0;
	struct sbuf line = { 0 };
	char num[32];
	enum mp_status st;

	memcpy(set, uids + from, k * sizeof *set);
	qsort(set, k, sizeof *set, cmp_u32);
	new_tag(s);
	*tag = s->next_tag;
	sbuf_adds(&line, s->tag);
	sbuf_adds(&line, " UID FETCH ");
	while (i < k) {
		size_t j = i;

		/* Runs of consecutive UIDs as ranges. */
		while (j + 1 < k && set[j + 1] <= set[j] + 1)
			j++;
		if (i > 0)
			sbuf_addc(&line, ',');
		if (set[j] == set[i])
			snprintf(num, sizeof num, "%u", (unsigned)set[i]);
		else
			snprintf(num, sizeof num, "%u:%u", (unsigned)set[i],
				 (unsigned)set[j]);
		sbuf_adds(&line, num);
		i = j + 1;
	}
	sbuf_adds(&line, " (UID FLAGS INTERNALDATE BODY.PEEK[])");
	st = conn_send_line(s->conn, line.p, CONN_SHOW_ALL, err);
	sbuf_free(&line);
	return st;
}

enum mp_status imap_fetch_bodies(struct imap_session *s, const uint32_t *uids,
				 size_t n, size_t window,
				 const struct imap_sink *sink, struct mp_error *err)
{
	struct bodies b = { .sink = sink, .n = n };
	enum mp_status st = check_step(s, err);
	unsigned inflight[MAX_FETCH_WINDOW];
	size_t ninflight = 0, sent = 0, per;

	if (st != MP_OK)
		return st;
	for (size_t i = 0; i < n; i++)
		if (uids[i] == 0)
			return mp_fail(err, MP_ERR_USAGE, "UID 0 asked for");
	if (n == 0)
		return MP_OK;
	if (window < 1)
		window = 1;
	if (window > MAX_FETCH_WINDOW)
		window = MAX_FETCH_WINDOW;
	/* Spread the UIDs over the window, so a few messages are pipelined
	 * too; many go UIDS_PER_FETCH to a command. */
	per = (n + window - 1) / window;
	if (per > UIDS_PER_FETCH)
		per = UIDS_PER_FETCH;
	b.map = mp_xmalloc(n * sizeof *b.map);
	b.seen = mp_xcalloc(n, sizeof *b.seen);
	for (size_t i = 0; i < n; i++) {
		b.map[i].uid = uids[i];
		b.map[i].index = i;
	}
	qsort(b.map, n, sizeof *b.map, cmp_uid_index);

	for (;;) {
		/* Refill in one write once at most half the window is busy;
		 * after a failure only what was sent is read. */
		if (b.first == MP_OK && sent < n && ninflight <= window / 2) {
			while (st == MP_OK && sent < n && ninflight < window) {
				size_t to = sent + per < n ? sent + per : n;

				st = queue_fetch(s, uids, sent, to,
						 &inflight[ninflight], err);
				ninflight++;
				sent = to;
			}
			if (st == MP_OK)
				st = conn_flush(s->conn, err);
			if (st != MP_OK) {
				fault(s, st);
				break;
			}
		}
		if (ninflight == 0)
			break;
		st = next_response(s, body_literal, &b, err);
		if (st != MP_OK)
			break;
		const struct imapp_resp *r = &s->p.r;
		if (r->kind == IMAP_UNTAGGED) {
			fetch_done(s, &b);
			continue;
		}
		if (r->kind == IMAP_CONTINUATION) {
			st = fault(s, mp_fail(err, MP_ERR_PROTOCOL,
					      "unexpected continuation request "
					      "from server"));
			break;
		}
		size_t k;
		for (k = 0; k < ninflight; k++) {
			char tag[16];

			snprintf(tag, sizeof tag, "A%04u", inflight[k]);
			if (!strcmp(tag, r->tag))
				break;
		}
		if (k == ninflight) {
			char tag[40];

			mp_printable(r->tag, strlen(r->tag), tag, sizeof tag);
			st = fault(s, mp_fail(err, MP_ERR_PROTOCOL,
					      "response for unknown tag '%s'", tag));
			break;
		}
		inflight[k] = inflight[--ninflight];
		/* A message expunged meanwhile is simply not delivered. */
		if (r->cond != IMAP_COND_OK &&
		    strcasecmp(r->code, "EXPUNGEISSUED") != 0) {
			struct mp_error e;

			stop(&b, command_failed(s, "UID FETCH failed",
						MP_ERR_TEMP, &e), &e);
		}
	}
	free(b.map);
	free(b.seen);
	if (b.first != MP_OK) {
		/* The first failure is the news, even if draining failed. */
		if (err)
			*err = b.first_err;
		return b.first;
	}
	return st;
}

/* --- SEARCH --- */

/* UIDs one imap_uid_search may return. */
#define MAX_SEARCH 2000000
/* Bytes of one "* SEARCH" line: room for MAX_SEARCH ten-digit UIDs and
 * some MODSEQ, far less than a server that never ends the line. */
#define SEARCH_LINE_MAX ((uint64_t)64 << 20)
/* Criteria a user may give. */
#define CRITERIA_MAX 8000

/* The numbers of "* SEARCH" lines, read piece by piece: a line may be
 * longer than any line the connection would hold. */
struct search {
	uint32_t *v;
	size_t n, cap;
	uint64_t num;            /* the number being read */
	bool in_num;
	int paren;               /* inside "(MODSEQ n)" */
	bool over;               /* more than MAX_SEARCH */
	char bad[80];            /* what was malformed, or "" */
};

/* Note the first thing malformed: why, and the bytes from p on (up to the
 * line's end) to show where. */
static void search_bad(struct search *x, const char *why, const char *p,
		       size_t len)
{
	char at[48];
	size_t k = 0;

	if (x->bad[0])
		return;
	while (k < len && k < 40 && p[k] != '\r' && p[k] != '\n')
		k++;
	mp_printable(p, k, at, sizeof at);
	if (at[0])
		snprintf(x->bad, sizeof x->bad, "%s at '%s'", why, at);
	else
		snprintf(x->bad, sizeof x->bad, "%s", why);
}

static void search_end_num(struct search *x)
{
	if (!x->in_num)
		return;
	x->in_num = false;
	if (x->num == 0 || x->num > UINT32_MAX) {
		search_bad(x, x->num ? "a UID above 4294967295" : "UID 0", "", 0);
		return;
	}
	if (x->n >= MAX_SEARCH) {
		x->over = true;
		return;
	}
	if (x->n == x->cap) {
		x->cap = x->cap ? 2 * x->cap : 1024;
		x->v = mp_xrealloc(x->v, x->cap * sizeof *x->v);
	}
	x->v[x->n++] = (uint32_t)x->num;
}

/* Take p[0..len) of a SEARCH line (after the word SEARCH). CR and LF
 * count as blanks, so a line end or a CRLF split between pieces needs no
 * care. */
static void search_feed(struct search *x, const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (x->paren > 0) {
			if (c == '(' && x->paren < IMAPP_DEPTH_MAX)
				x->paren++;
			else if (c == ')')
				x->paren--;
			else if (c < 0x20 && c != '\r' && c != '\n')
				search_bad(x, "a control character", "", 0);
		} else if (c >= '0' && c <= '9') {
			/* Past 2^32 it stays there: no overflow, still too big. */
			if (x->num <= UINT32_MAX)
				x->num = x->num * 10 + (c - '0');
			x->in_num = true;
		} else if (c == ' ' || c == '\r' || c == '\n') {
			search_end_num(x);
			x->num = 0;
		} else if (c == '(' && !x->in_num) {
			x->paren = 1;    /* (MODSEQ n) after a search by MODSEQ */
		} else {
			search_bad(x, "not a number", p + i, len - i);
			x->in_num = false;
			x->num = 0;
		}
	}
}

static bool is_search_line(const char *p, size_t len)
{
	return len >= 8 && !strncasecmp(p, "* SEARCH", 8) &&
	       (len == 8 || p[8] == ' ' || p[8] == '\r' || p[8] == '\n');
}

/* Read until the tagged end of the UID SEARCH in flight, the numbers of
 * its SEARCH lines into x, other responses acted on as always. */
static enum mp_status search_wait(struct imap_session *s, struct search *x,
				  struct mp_error *err)
{
	for (long k = 0; k < MAX_UNTAGGED; k++) {
		const char *data;
		size_t len;
		bool end;
		enum mp_status st = conn_read_piece(s->conn, &data, &len, &end, err);

		if (st != MP_OK)
			return fault(s, lost(s, st, err));
		if (is_search_line(data, len)) {
			uint64_t bytes = len;

			search_feed(x, data + 8, len - 8);
			while (!end) {
				st = conn_read_piece(s->conn, &data, &len, &end, err);
				if (st != MP_OK)
					return fault(s, lost(s, st, err));
				bytes += len;
				if (bytes > SEARCH_LINE_MAX)
					return fault(s, mp_fail(err, MP_ERR_PROTOCOL,
						"server sent a SEARCH response longer "
						"than %llu bytes",
						(unsigned long long)SEARCH_LINE_MAX));
				search_feed(x, data, len);
			}
			search_end_num(x);
			if (x->paren > 0)
				search_bad(x, "an unclosed parenthesis", "", 0);
			x->paren = 0;
			continue;
		}
		if (!end)
			return fault(s, mp_fail(err, MP_ERR_PROTOCOL,
						"server sent a line longer than "
						"allowed while answering SEARCH"));
		if (len > 0 && data[len - 1] == '\n')
			len--;
		if (len > 0 && data[len - 1] == '\r')
			len--;
		st = took_response(s, parse_response(s, data, len, NULL, NULL,
						     err), err);
		if (st != MP_OK)
			return st;

		const struct imapp_resp *r = &s->p.r;
		if (r->kind == IMAP_UNTAGGED)
			continue;
		if (r->kind == IMAP_CONTINUATION)
			return fault(s, mp_fail(err, MP_ERR_PROTOCOL,
						"unexpected continuation request "
						"from server"));
		if (strcmp(r->tag, s->tag) != 0) {
			char tag[40];

			mp_printable(r->tag, strlen(r->tag), tag, sizeof tag);
			return fault(s, mp_fail(err, MP_ERR_PROTOCOL,
						"response for unknown tag '%s'", tag));
		}
		return MP_OK;
	}
	return fault(s, mp_fail(err, MP_ERR_PROTOCOL,
				"server sent too many untagged responses"));
}

/* Bytes that end a word of the criteria. */
static bool word_byte(char c)
{
	return c && c != ' ' && c != '(' && c != ')' && c != '"';
}

static bool has_8bit(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] >= 0x80)
			return true;
	return false;
}

/* Send "tag UID SEARCH [CHARSET UTF-8] (criteria)", 8-bit words and
 * quoted strings of the criteria as literals. */
static enum mp_status search_send(struct imap_session *s, const char *crit,
				  bool eight, bool *ended, struct mp_error *err)
{
	struct sbuf line = { 0 };
	enum mp_status st = MP_OK;
	const char *p = crit;

	new_tag(s);
	sbuf_adds(&line, s->tag);
	sbuf_adds(&line, " UID SEARCH ");
	/* Under UTF8=ACCEPT a CHARSET is refused: strings are UTF-8. */
	if (eight && !s->utf8)
		sbuf_adds(&line, "CHARSET UTF-8 ");
	sbuf_addc(&line, '(');
	while (st == MP_OK && !*ended && *p) {
		const char *q = p;

		if (*p == '"') {
			struct sbuf text = { 0 };

			for (q = p + 1; *q && *q != '"'; q++) {
				if (*q == '\\' && q[1])
					q++;
				sbuf_addc(&text, *q);
			}
			if (*q)
				q++;
			if (has_8bit(p, (size_t)(q - p)))
				st = add_literal(s, &line, text.p ? text.p : "",
						 text.n, NULL, NULL, ended, err);
			else
				sbuf_add(&line, p, (size_t)(q - p));
			sbuf_free(&text);
		} else if (word_byte(*p)) {
			while (word_byte(*q))
				q++;
			if (has_8bit(p, (size_t)(q - p)))
				st = add_literal(s, &line, p, (size_t)(q - p),
						 NULL, NULL, ended, err);
			else
				sbuf_add(&line, p, (size_t)(q - p));
		} else {
			sbuf_addc(&line, *q++);
		}
		p = q;
	}
	if (st == MP_OK && !*ended) {
		sbuf_addc(&line, ')');
		st = conn_send_line(s->conn, line.p, CONN_SHOW_ALL, err);
		if (st == MP_OK)
			st = conn_flush(s->conn, err);
		st = fault(s, st);
	}
	sbuf_free(&line);
	return st;
}

/* Why criteria cannot be sent, or NULL. */
static const char *criteria_problem(const char *crit)
{
	size_t len = strlen(crit), i = 0, quotes = 0;

	if (mp_has_line_break(crit, len))
		return "the search criteria hold a line break";
	if (len > CRITERIA_MAX)
		return "the search criteria are longer than 8000 bytes";
	while (crit[i] == ' ' || crit[i] == '\t')
		i++;
	if (!crit[i])
		return "no search criteria given";
	if (!strncasecmp(crit + i, "CHARSET", 7) && !word_byte(crit[i + 7]))
		return "leave CHARSET out of the search criteria: UTF-8 is "
		       "declared when they hold non-ASCII text";
	if (has_8bit(crit, len) && !utf8_valid(crit, len))
		return "the search criteria hold 8-bit bytes that are not UTF-8";
	/* An unclosed quote would swallow the closing parenthesis, and an
	 * 8-bit string in it could not be sent as a literal. A literal's
	 * head ({N}) outside quotes has servers wait for bytes that the
	 * one line of criteria cannot give. */
	for (const char *p = crit; *p; p++) {
		if (*p == '\\' && quotes % 2 && p[1])
			p++;
		else if (*p == '"')
			quotes++;
		else if (*p == '{' && quotes % 2 == 0)
			return "the search criteria hold a '{' outside double "
			       "quotes, which IMAP reads as a literal; quote "
			       "the text";
	}
	if (quotes % 2)
		return "the search criteria have an unclosed double quote";
	return NULL;
}

enum mp_status imap_uid_search(struct imap_session *s, const char *criteria,
			       uint32_t **uids, size_t *n, struct mp_error *err)
{
	struct search x = { 0 };
	const char *problem;
	bool ended = false;
	enum mp_status st = check_step(s, err);

	*uids = NULL;
	*n = 0;
	if (st != MP_OK)
		return st;
	if ((problem = criteria_problem(criteria)))
		return mp_fail(err, MP_ERR_USAGE, "%s", problem);
	st = search_send(s, criteria, has_8bit(criteria, strlen(criteria)),
			 &ended, err);
	if (st == MP_OK && !ended)
		st = search_wait(s, &x, err);
	if (st == MP_OK && s->p.r.cond != IMAP_COND_OK) {
		const struct imapp_resp *r = &s->p.r;
		char text[300];

		status_text(r, text, sizeof text);
		if (r->cond == IMAP_COND_BAD || !strcasecmp(r->code, "BADCHARSET"))
			st = mp_fail(err, MP_ERR_USAGE,
				     "the server refused the search criteria: %s",
				     text[0] ? text : "(no reason given)");
		else
			st = command_failed(s, "UID SEARCH failed",
					    MP_ERR_UNAVAILABLE, err);
	}
	if (st == MP_OK && x.bad[0])
		st = mp_fail(err, MP_ERR_PROTOCOL,
			     "malformed SEARCH response from server: %s", x.bad);
	if (st == MP_OK && x.over)
		st = mp_fail(err, MP_ERR_PROTOCOL,
			     "server answers SEARCH with more than %d messages",
			     MAX_SEARCH);
	if (st != MP_OK) {
		free(x.v);
		return st;
	}
	if (x.n > 1)
		qsort(x.v, x.n, sizeof *x.v, cmp_u32);
	size_t k = 0;
	for (size_t i = 0; i < x.n; i++)
		if (k == 0 || x.v[i] != x.v[k - 1])
			x.v[k++] = x.v[i];
	if (k == 0) {
		free(x.v);
		x.v = NULL;
	}
	*uids = x.v;
	*n = k;
	return MP_OK;
}

enum mp_status imap_logout(struct imap_session *s, struct mp_error *err)
{
	enum mp_status st = check_step(s, err);

	if (st != MP_OK)
		return st;
	s->logout = true;
	st = send_command(s, "LOGOUT", CONN_SHOW_ALL, err);
	if (st == MP_OK)
		st = wait_tagged(s, NULL, NULL, NULL, err);
	/* A server that says BYE and hangs up without the OK is done too. */
	if (st == MP_ERR_TEMP && s->bye)
		st = MP_OK;
	return st;
}

enum mp_status imap_logout_nowait(struct imap_session *s, struct mp_error *err)
{
	enum mp_status st = check_step(s, err);

	if (st != MP_OK)
		return st;
	s->logout = true;
	return send_command(s, "LOGOUT", CONN_SHOW_ALL, err);
}

void imap_close(struct imap_session *s)
{
	if (!s)
		return;
	conn_close(s->conn);
	imapp_free(&s->p);
	free(s->greeting);
	free(s->bye);
	free(s->alert);
	free(s->buf);
	strlist_clear(&s->caps);
	free(s);
}
