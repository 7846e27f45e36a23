#include "pop3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/crypto.h>

#include "auth.h"
#include "pop3parse.h"
#include "reply.h"
#include "strlist.h"
#include "strutil.h"

/* A CAPA answer longer than this is not a capability list. */
#define MAX_CAPA_LINES 1000
/* DELEs in flight when pipelining. */
#define DELE_WINDOW 256
/* Most RETRs in flight, whatever the caller asks: a batch of commands must
 * fit the socket buffers while the server is busy sending a message. */
#define MAX_RETR_WINDOW 1000
/* Message bytes are handed to the sink in pieces up to this size. */
#define DATA_CHUNK (64 * 1024)

/* A message's size as LIST gave it: bounds what RETR may send. */
struct known_size {
	unsigned long num;
	unsigned long long size;
};

struct pop3_session {
	const struct server_opts *srv;
	struct conn *conn;
	char *greeting;
	char *challenge;             /* the last AUTH challenge, base64 */
	char *line;                  /* text of the last status reply */
	char resp_code[64];          /* its RFC 2449 code, or "" */
	struct strlist caps;
	struct session_info info;
	/* Not MP_OK once the session lost step with the server (an error in
	 * the middle of a reply): every later command is refused with it. */
	enum mp_status fault;
	/* The CAPA after login was sent ahead with the next command and its
	 * answer is still to be read (see settle). */
	bool capa_pending;
	unsigned long max_messages;  /* cap on counts and message numbers */
	struct known_size *sizes;    /* from the last pop3_sizes, by num */
	size_t nsizes;
};

/* A server line as an error message may show it: see mp_printable. */
static const char *shown(const char *line, size_t len, char out[64])
{
	mp_printable(line, len, out, 64);
	return out;
}

/* Remember that the session is out of step; returns st. */
static enum mp_status fault(struct pop3_session *s, enum mp_status st)
{
	if (st != MP_OK && s->fault == MP_OK)
		s->fault = st;
	return st;
}

static enum mp_status check_fault(const struct pop3_session *s,
				  struct mp_error *err)
{
	if (s->fault == MP_OK)
		return MP_OK;
	return mp_fail(err, s->fault,
		       "the POP3 session cannot go on after an earlier error");
}

static enum mp_status capa_answer(struct pop3_session *s, struct mp_error *err);

/* Read the answer to a post-login CAPA still pending. */
static enum mp_status settle(struct pop3_session *s, struct mp_error *err)
{
	if (!s->capa_pending)
		return MP_OK;
	s->capa_pending = false;
	enum mp_status st = conn_flush(s->conn, err);
	if (st == MP_OK)
		st = capa_answer(s, err);
	return fault(s, st);
}

/* Send one command, or two when second is not NULL, in one write with a
 * pending CAPA; then read CAPA's answer, leaving theirs to the caller. */
static enum mp_status send_settling(struct pop3_session *s, const char *first,
				    const char *second, struct mp_error *err)
{
	enum mp_status st = conn_send_line(s->conn, first, CONN_SHOW_ALL, err);

	if (st == MP_OK && second)
		st = conn_send_line(s->conn, second, CONN_SHOW_ALL, err);
	if (st == MP_OK)
		st = conn_flush(s->conn, err);
	if (st == MP_OK)
		st = settle(s, err);
	return fault(s, st);
}

/* Before a command: the session is in step and knows its capabilities. */
static enum mp_status check_step(struct pop3_session *s, struct mp_error *err)
{
	enum mp_status st = check_fault(s, err);
	return st == MP_OK ? settle(s, err) : st;
}

static bool pipelining(const struct pop3_session *s)
{
	return strlist_has(&s->caps, "PIPELINING");
}

static void update_info(struct pop3_session *s)
{
	s->info.greeting = s->greeting ? s->greeting : "";
	s->info.caps = (const char *const *)s->caps.v;
	s->info.ncaps = s->caps.n;
}

/* Read a status line; *status says +OK, -ERR or "+ " continuation. */
static enum mp_status read_status(struct pop3_session *s, enum pop3_status *status,
				  struct mp_error *err)
{
	const char *line, *text;
	size_t len;
	char show[64];
	enum mp_status st = conn_read_line(s->conn, &line, &len, err);
	if (st != MP_OK)
		return st;
	*status = pop3_parse_status(line, len, &text, s->resp_code);
	if (*status == POP3_BAD)
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "malformed reply from server: '%s'",
			       shown(line, len, show));
	free(s->line);
	s->line = mp_xstrdup(text);
	return MP_OK;
}

/* The error for a -ERR reply: RFC 2449/3206 response codes decide. */
static enum mp_status err_reply(struct pop3_session *s, const char *what,
				enum mp_status dflt, struct mp_error *err)
{
	enum mp_status st = dflt;
	const char *code = s->resp_code;
	/* The server's words go into a message a terminal will show. */
	for (char *p = s->line; p && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (!strcasecmp(code, "IN-USE") || !strcasecmp(code, "LOGIN-DELAY") ||
	    !strcasecmp(code, "SYS/TEMP"))
		st = MP_ERR_TEMP;
	else if (!strcasecmp(code, "SYS/PERM"))
		st = MP_ERR_UNAVAILABLE;
	else if (!strcasecmp(code, "AUTH"))
		st = MP_ERR_AUTH;
	if (code[0])
		return mp_fail(err, st, "%s: -ERR [%s] %s", what, code, s->line);
	return mp_fail(err, st, "%s: -ERR %s", what, s->line);
}

static enum mp_status command(struct pop3_session *s, const char *cmd,
			      enum pop3_status *status, struct mp_error *err)
{
	enum mp_status st = conn_send_line(s->conn, cmd, CONN_SHOW_ALL, err);
	if (st == MP_OK)
		st = conn_flush(s->conn, err);
	if (st == MP_OK)
		st = read_status(s, status, err);
	return st;
}

/* The answer to CAPA: the list replaces what was known before; -ERR
 * means none. */
static enum mp_status capa_answer(struct pop3_session *s, struct mp_error *err)
{
	enum pop3_status status;
	strlist_clear(&s->caps);
	enum mp_status st = read_status(s, &status, err);
	if (st != MP_OK || status != POP3_OK)
		goto out;
	for (int n = 0;; n++) {
		const char *line;
		size_t len;
		st = conn_read_line(s->conn, &line, &len, err);
		if (st != MP_OK)
			break;
		if (len == 1 && line[0] == '.')
			break;
		if (n >= MAX_CAPA_LINES) {
			st = mp_fail(err, MP_ERR_PROTOCOL,
				     "CAPA answer longer than %d lines", MAX_CAPA_LINES);
			break;
		}
		if (line[0] == '.')    /* dot-stuffed */
			line++, len--;
		strlist_addn(&s->caps, line, len);
	}
out:
	update_info(s);
	return st;
}

static enum mp_status capa(struct pop3_session *s, struct mp_error *err)
{
	enum mp_status st = conn_send_line(s->conn, "CAPA", CONN_SHOW_ALL, err);
	if (st == MP_OK)
		st = conn_flush(s->conn, err);
	return st == MP_OK ? capa_answer(s, err) : st;
}

static enum mp_status stls(struct pop3_session *s, struct mp_error *err)
{
	if (!strlist_has(&s->caps, "STLS"))
		return session_no_starttls(s->srv, "STLS", err);
	enum pop3_status status;
	enum mp_status st = command(s, "STLS", &status, err);
	if (st != MP_OK)
		return st;
	if (status != POP3_OK) {
		err_reply(s, "server refused STLS", MP_ERR_UNAVAILABLE, err);
		err->status = MP_ERR_UNAVAILABLE;
		return err->status;
	}
	st = conn_start_tls(s->conn, err);
	if (st != MP_OK)
		return st;
	/* Capabilities seen before TLS may have been forged: ask again. */
	return capa(s, err);
}

enum mp_status pop3_open(struct pop3_session **out,
			 const struct server_opts *srv, struct mp_error *err)
{
	struct pop3_session *s = mp_xcalloc(1, sizeof *s);
	s->srv = srv;
	s->max_messages = POP3_MAX_MESSAGES;
	enum pop3_status status;
	enum mp_status st = session_connect(srv, &s->conn, err);
	if (st == MP_OK)
		st = read_status(s, &status, err);
	if (st == MP_OK) {
		s->greeting = mp_xstrdup(s->line);
		if (status != POP3_OK)
			st = err_reply(s, "server refused the connection",
				       MP_ERR_TEMP, err);
	}
	if (st == MP_OK)
		st = capa(s, err);
	if (st == MP_OK && srv->tls == TLS_MODE_STARTTLS)
		st = stls(s, err);
	if (st != MP_OK) {
		pop3_close(s);
		return st;
	}
	*out = s;
	return MP_OK;
}

/* SASL over POP3 (RFC 5034): "AUTH MECH [ir]", "+ " challenges, +OK. */
static enum mp_status wire_start(void *ctx, const char *mech, const char *ir,
				 struct mp_error *err)
{
	struct pop3_session *s = ctx;
	return auth_send_command(s->conn, "AUTH", mech, ir, err);
}

static enum mp_status wire_next(void *ctx, bool *done, const char **challenge,
				struct mp_error *err)
{
	struct pop3_session *s = ctx;
	enum pop3_status status;
	enum mp_status st = read_status(s, &status, err);
	if (st != MP_OK)
		return st;
	if (status == POP3_CONT) {
		free(s->challenge);
		s->challenge = mp_xstrdup(s->line);
		*challenge = s->challenge;
		return MP_OK;
	}
	if (status == POP3_OK) {
		*done = true;
		return MP_OK;
	}
	return err_reply(s, "authentication failed", MP_ERR_AUTH, err);
}

/* Send one line with a secret after the first `visible` bytes. */
static enum mp_status send_secret(struct pop3_session *s, const char *verb,
				  const char *arg, enum pop3_status *status,
				  struct mp_error *err)
{
	char line[1024];
	if ((size_t)snprintf(line, sizeof line, "%s %s", verb, arg) >= sizeof line)
		return mp_fail(err, MP_ERR_USAGE, "%s argument too long", verb);
	enum mp_status st = conn_send_line(s->conn, line, strlen(verb) + 1, err);
	mp_wipe(line, sizeof line);
	if (st == MP_OK)
		st = conn_flush(s->conn, err);
	if (st == MP_OK)
		st = read_status(s, status, err);
	return st;
}

static enum mp_status user_pass(struct pop3_session *s, const struct mp_auth *auth,
				struct mp_error *err)
{
	const char *password;
	enum pop3_status status;
	enum mp_status st = auth_secret(auth, false, &password, err);
	if (st != MP_OK)
		return st;
	char user[300];
	snprintf(user, sizeof user, "USER %s", auth->user);
	st = command(s, user, &status, err);
	if (st == MP_OK && status != POP3_OK)
		return err_reply(s, "server refused the user name", MP_ERR_AUTH, err);
	if (st == MP_OK)
		st = send_secret(s, "PASS", password, &status, err);
	if (st == MP_OK && status != POP3_OK)
		return err_reply(s, "authentication failed", MP_ERR_AUTH, err);
	if (st == MP_OK)
		mp_strlcpy(s->info.auth_used, "USER/PASS", sizeof s->info.auth_used);
	return st;
}

/* APOP (RFC 1939): MD5 over the greeting's timestamp and the password. */
static enum mp_status apop(struct pop3_session *s, const struct mp_auth *auth,
			   struct mp_error *err)
{
	const char *start = s->greeting ? strchr(s->greeting, '<') : NULL;
	const char *end = start ? strchr(start, '>') : NULL;
	if (!start || !end)
		return mp_fail(err, MP_ERR_UNAVAILABLE,
			       "server does not offer APOP (no timestamp in its greeting)");
	const char *password;
	enum mp_status st = auth_secret(auth, false, &password, err);
	if (st != MP_OK)
		return st;
	size_t tlen = (size_t)(end - start + 1), plen = strlen(password);
	char *input = mp_xmalloc(tlen + plen);
	memcpy(input, start, tlen);
	memcpy(input + tlen, password, plen);
	unsigned char digest[16];
	int rc = gnutls_hash_fast(GNUTLS_DIG_MD5, input, tlen + plen, digest);
	mp_wipe(input, tlen + plen);
	free(input);
	if (rc < 0)
		return mp_fail(err, MP_ERR_INTERNAL, "MD5 unavailable for APOP");
	char arg[400];
	int n = snprintf(arg, sizeof arg, "%s ", auth->user);
	for (int i = 0; i < 16 && n > 0 && (size_t)n + 3 < sizeof arg; i++)
		n += snprintf(arg + n, sizeof arg - (size_t)n, "%02x", digest[i]);
	enum pop3_status status;
	st = send_secret(s, "APOP", arg, &status, err);
	if (st == MP_OK && status != POP3_OK)
		return err_reply(s, "authentication failed", MP_ERR_AUTH, err);
	if (st == MP_OK)
		mp_strlcpy(s->info.auth_used, "APOP", sizeof s->info.auth_used);
	return st;
}

enum mp_status pop3_auth(struct pop3_session *s, const struct mp_auth *auth,
			 struct mp_error *err)
{
	if (!auth->user || !*auth->user)
		return mp_fail(err, MP_ERR_USAGE, "no user name given");
	bool user_cmd = auth_wants(auth, "USER") || auth_wants(auth, "APOP");
	const char *sasl = strlist_find_prefix(&s->caps, "SASL ");
	bool automatic = !auth->mech || auth_wants(auth, "auto");
	enum mp_status st;

	if (!user_cmd && (sasl || !automatic)) {
		struct sasl_wire wire = { wire_start, wire_next, true };
		enum sasl_mech used;
		st = auth_sasl(s->conn, auth, sasl ? sasl : "", s->srv->url.host,
			       s->srv->url.port, &wire, s, &used, err);
		if (st == MP_OK)
			mp_strlcpy(s->info.auth_used, sasl_mech_name(used),
				   sizeof s->info.auth_used);
	} else {
		if (!conn_is_secure(s->conn) && !auth->allow_plaintext)
			return mp_fail(err, MP_ERR_UNAVAILABLE,
				       "refusing to send a password over an unencrypted "
				       "connection (use TLS, or --allow-plaintext-auth to insist)");
		st = auth_wants(auth, "APOP") ? apop(s, auth, err)
					      : user_pass(s, auth, err);
	}
	if (st != MP_OK)
		return st;
	/* Capabilities may change at login, so CAPA again. A server that
	 * pipelines gets it in one write with the next command: that saves
	 * the round trip a run with nothing new mostly consists of. */
	if (pipelining(s)) {
		st = conn_send_line(s->conn, "CAPA", CONN_SHOW_ALL, err);
		s->capa_pending = st == MP_OK;
		return st;
	}
	return capa(s, err);
}

const struct session_info *pop3_info(struct pop3_session *s)
{
	struct mp_error ignored;
	/* An error here stays in s->fault for the next command to report. */
	settle(s, &ignored);
	return &s->info;
}

struct conn *pop3_conn(struct pop3_session *s)
{
	return s->conn;
}

/* --- the mailbox --- */

void pop3_set_max_messages(struct pop3_session *s, unsigned long max)
{
	s->max_messages = max && max < POP3_MAX_MESSAGES ? max
							 : POP3_MAX_MESSAGES;
}

/* A "+ " line where only +OK or -ERR may stand. */
static enum mp_status no_continuation(struct pop3_session *s,
				      enum pop3_status status,
				      struct mp_error *err)
{
	if (status != POP3_CONT)
		return MP_OK;
	return fault(s, mp_fail(err, MP_ERR_PROTOCOL,
				"server sent a '+' continuation where +OK or "
				"-ERR belongs"));
}

/* The reply to a STAT sent. */
static enum mp_status stat_reply(struct pop3_session *s, unsigned long *count,
				 unsigned long long *size, struct mp_error *err)
{
	enum pop3_status status;
	char show[64];
	enum mp_status st = fault(s, read_status(s, &status, err));

	if (st == MP_OK)
		st = no_continuation(s, status, err);
	if (st != MP_OK)
		return st;
	if (status != POP3_OK)
		return err_reply(s, "STAT failed", MP_ERR_PROTOCOL, err);
	if (!pop3_parse_stat(s->line, strlen(s->line), s->max_messages, count,
			     size))
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "server's STAT reply is malformed or counts more "
			       "than %lu messages: '%s'", s->max_messages,
			       shown(s->line, strlen(s->line), show));
	return MP_OK;
}

/* The reply to "UIDL num": "+OK num uidl"; -ERR (no such message) leaves
 * uidl empty. */
static enum mp_status uidl_one_reply(struct pop3_session *s, unsigned long num,
				     char uidl[72], struct mp_error *err)
{
	enum pop3_status status;
	unsigned long got;
	char show[64];
	enum mp_status st = fault(s, read_status(s, &status, err));

	uidl[0] = '\0';
	if (st == MP_OK)
		st = no_continuation(s, status, err);
	if (st != MP_OK || status != POP3_OK)
		return st;
	if (!pop3_parse_uidl_line(s->line, strlen(s->line), s->max_messages,
				  &got, uidl) || got != num) {
		uidl[0] = '\0';
		return fault(s, mp_fail(err, MP_ERR_PROTOCOL,
					"malformed reply to UIDL %lu: '%s'", num,
					shown(s->line, strlen(s->line), show)));
	}
	return MP_OK;
}

enum mp_status pop3_glance(struct pop3_session *s, unsigned long num,
			   struct pop3_glance *g, struct mp_error *err)
{
	char cmd[40];
	bool together = num > 0 && pipelining(s);
	enum mp_status st = check_fault(s, err);

	memset(g, 0, sizeof *g);
	snprintf(cmd, sizeof cmd, "UIDL %lu", num);
	if (st == MP_OK)
		st = send_settling(s, "STAT", together ? cmd : NULL, err);
	if (st != MP_OK)
		return st;
	st = stat_reply(s, &g->count, &g->octets, err);
	if (st != MP_OK && together)
		return fault(s, st);    /* UIDL's answer left unread */
	if (st != MP_OK || num == 0)
		return st;
	if (!together)
		st = send_settling(s, cmd, NULL, err);
	return st == MP_OK ? uidl_one_reply(s, num, g->uidl, err) : st;
}

/* What LIST and UIDL build. */
struct listing {
	struct pop3_entry *v;
	size_t n, cap;
};

typedef enum mp_status (*listing_fn)(struct pop3_session *s,
				     struct listing *l, const char *line,
				     size_t len, struct mp_error *err);

/* The lines of a multi-line listing after its +OK, up to ".": each goes to
 * fn, or is dropped when fn is NULL. More lines than the message cap is a
 * listing that never ends. */
static enum mp_status read_listing(struct pop3_session *s, const char *what,
				   listing_fn fn, struct listing *l,
				   struct mp_error *err)
{
	for (unsigned long k = 0;; k++) {
		const char *line, *data;
		size_t len, dlen;
		enum mp_status st = conn_read_line(s->conn, &line, &len, err);

		if (st != MP_OK)
			return fault(s, st);
		if (pop3_multiline(line, len, &data, &dlen) == POP3_ML_END)
			return MP_OK;
		if (k >= s->max_messages)
			return fault(s, mp_fail(err, MP_ERR_PROTOCOL,
						"server's %s answer goes on past "
						"%lu messages", what,
						s->max_messages));
		if (fn) {
			st = fn(s, l, data, dlen, err);
			if (st != MP_OK)
				return fault(s, st);
		}
	}
}

static int cmp_num(const void *a, const void *b)
{
	unsigned long x = ((const struct pop3_entry *)a)->num;
	unsigned long y = ((const struct pop3_entry *)b)->num;

	return x < y ? -1 : x > y;
}

static int cmp_uidl(const void *a, const void *b)
{
	const struct pop3_entry *const *x = a, *const *y = b;

	return strcmp((*x)->uidl, (*y)->uidl);
}

static enum mp_status list_line(struct pop3_session *s, struct listing *l,
				const char *line, size_t len,
				struct mp_error *err)
{
	unsigned long num;
	unsigned long long size;
	char show[64];

	if (!pop3_parse_list_line(line, len, s->max_messages, &num, &size))
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "malformed LIST line from server: '%s'",
			       shown(line, len, show));
	/* Grown as lines arrive, never from a count the server claims. */
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 256;
		l->v = mp_xrealloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n].num = num;
	l->v[l->n].size = size;
	l->v[l->n].uidl[0] = '\0';
	l->n++;
	return MP_OK;
}

/* A UIDL line as an entry, its size unknown until LIST. */
static enum mp_status uidl_line(struct pop3_session *s, struct listing *l,
				    const char *line, size_t len,
				    struct mp_error *err)
{
	struct pop3_entry e = { 0 };
	char show[64];

	if (!pop3_parse_uidl_line(line, len, s->max_messages, &e.num, e.uidl))
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "malformed UIDL line from server (a UIDL is 1 "
			       "to 70 printable characters): '%s'",
			       shown(line, len, show));
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 256;
		l->v = mp_xrealloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n++] = e;
	return MP_OK;
}

static bool sorted_by_num(const struct listing *l)
{
	for (size_t i = 1; i < l->n; i++)
		if (l->v[i].num < l->v[i - 1].num)
			return false;
	return true;
}

/* Sorted by number, each number once. Servers list in order, so the sort
 * is mostly a check. */
static enum mp_status check_list(const char *what, struct listing *l,
				 struct mp_error *err)
{
	if (!sorted_by_num(l))
		qsort(l->v, l->n, sizeof *l->v, cmp_num);
	for (size_t i = 1; i < l->n; i++)
		if (l->v[i].num == l->v[i - 1].num)
			return mp_fail(err, MP_ERR_PROTOCOL,
				       "server's %s names message %lu twice",
				       what, l->v[i].num);
	return MP_OK;
}

/* No two messages share a UIDL: popfetch's record of what it has fetched
 * relies on it. */
static enum mp_status check_uidls(const struct listing *l,
				  struct mp_error *err)
{
	const struct pop3_entry **by_uidl;
	enum mp_status st = MP_OK;

	if (l->n < 2)
		return MP_OK;
	by_uidl = mp_xmalloc(l->n * sizeof *by_uidl);
	for (size_t i = 0; i < l->n; i++)
		by_uidl[i] = &l->v[i];
	qsort(by_uidl, l->n, sizeof *by_uidl, cmp_uidl);
	for (size_t i = 1; i < l->n && st == MP_OK; i++)
		if (!strcmp(by_uidl[i]->uidl, by_uidl[i - 1]->uidl))
			st = mp_fail(err, MP_ERR_PROTOCOL,
				     "server gives messages %lu and %lu the same "
				     "UIDL '%s'", by_uidl[i - 1]->num,
				     by_uidl[i]->num, by_uidl[i]->uidl);
	free(by_uidl);
	return st;
}

/* The reply to UIDL: -ERR means the server has none. */
static enum mp_status uidl_reply(struct pop3_session *s, struct listing *l,
				 struct mp_error *err)
{
	enum pop3_status status;
	enum mp_status st = fault(s, read_status(s, &status, err));

	if (st == MP_OK)
		st = no_continuation(s, status, err);
	if (st != MP_OK)
		return st;
	if (status == POP3_OK) {
		st = read_listing(s, "UIDL", uidl_line, l, err);
		if (st == MP_OK)
			st = fault(s, check_list("UIDL", l, err));
		return st == MP_OK ? check_uidls(l, err) : st;
	}
	if (s->resp_code[0])
		return err_reply(s, "UIDL failed", MP_ERR_UNAVAILABLE, err);
	return mp_fail(err, MP_ERR_UNAVAILABLE,
		       "server does not support UIDL; popfetch cannot tell old "
		       "messages from new");
}

/* Sizes bound what pop3_retr accepts for each message, also when the
 * server has no UIDL and the caller fetches by number. */
static void keep_sizes(struct pop3_session *s, const struct listing *l)
{
	free(s->sizes);
	s->sizes = l->n ? mp_xmalloc(l->n * sizeof *s->sizes) : NULL;
	for (size_t i = 0; i < l->n; i++) {
		s->sizes[i].num = l->v[i].num;
		s->sizes[i].size = l->v[i].size;
	}
	s->nsizes = l->n;
}

enum mp_status pop3_uidl(struct pop3_session *s, struct pop3_entry **entries,
			 size_t *n, struct mp_error *err)
{
	struct listing l = { 0 };
	enum mp_status st = check_fault(s, err);

	*entries = NULL;
	*n = 0;
	/* UIDL goes out with a pending CAPA: both answers in one round trip. */
	if (st == MP_OK)
		st = send_settling(s, "UIDL", NULL, err);
	if (st != MP_OK)
		return st;
	st = uidl_reply(s, &l, err);
	if (st != MP_OK) {
		free(l.v);
		return st;
	}
	*entries = l.v;
	*n = l.n;
	return MP_OK;
}

/* LIST's sizes onto UIDL's entries (both sorted by number), which must
 * name the same messages. */
static enum mp_status merge_sizes(const struct listing *l,
				  struct pop3_entry *e, size_t n,
				  struct mp_error *err)
{
	size_t j = 0;

	for (size_t i = 0; i < n; i++, j++) {
		if (j < l->n && l->v[j].num < e[i].num)
			break;
		if (j == l->n || l->v[j].num > e[i].num)
			return mp_fail(err, MP_ERR_PROTOCOL,
				       "server's UIDL names message %lu, which "
				       "its LIST does not", e[i].num);
		e[i].size = l->v[j].size;
	}
	if (j < l->n)
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "server's UIDL leaves out message %lu, which "
			       "its LIST names", l->v[j].num);
	return MP_OK;
}

enum mp_status pop3_sizes(struct pop3_session *s, bool from_uidl,
			  struct pop3_entry **entries, size_t *n,
			  struct mp_error *err)
{
	struct listing l = { 0 };
	enum pop3_status status;
	enum mp_status st = check_step(s, err);

	if (st == MP_OK)
		st = conn_send_line(s->conn, "LIST", CONN_SHOW_ALL, err);
	if (st == MP_OK)
		st = conn_flush(s->conn, err);
	if (st == MP_OK)
		st = read_status(s, &status, err);
	if (st == MP_OK)
		st = no_continuation(s, status, err);
	if (st != MP_OK)
		return fault(s, st);
	if (status != POP3_OK)
		return err_reply(s, "LIST failed", MP_ERR_PROTOCOL, err);
	st = read_listing(s, "LIST", list_line, &l, err);
	if (st == MP_OK)
		st = fault(s, check_list("LIST", &l, err));
	if (st == MP_OK && from_uidl)
		st = merge_sizes(&l, *entries, *n, err);
	if (st != MP_OK) {
		free(l.v);
		return st;
	}
	keep_sizes(s, &l);
	if (from_uidl) {
		free(l.v);
	} else {
		*entries = l.v;
		*n = l.n;
	}
	return MP_OK;
}

/* Queue the next batch of `verb NUM` commands once at most half the window
 * is in flight, and send it in one write. */
static enum mp_status send_batch(struct pop3_session *s, const char *verb,
				 const char *tail, const unsigned long *nums,
				 size_t n, size_t *sent, size_t done,
				 size_t window, struct mp_error *err)
{
	enum mp_status st = MP_OK;

	if (*sent == n || *sent - done > window / 2)
		return MP_OK;
	while (st == MP_OK && *sent < n && *sent - done < window) {
		st = conn_sendf(s->conn, err, "%s %lu%s", verb, nums[*sent], tail);
		(*sent)++;
	}
	if (st == MP_OK)
		st = conn_flush(s->conn, err);
	return st;
}

static int cmp_known(const void *a, const void *b)
{
	unsigned long x = ((const struct known_size *)a)->num;
	unsigned long y = ((const struct known_size *)b)->num;

	return x < y ? -1 : x > y;
}

/* The most bytes message num may bring: twice its LIST size plus 1 MiB
 * (servers' sizes are close, not always exact); unbounded if unknown. */
static unsigned long long body_limit(const struct pop3_session *s,
				     unsigned long num, unsigned long long *listed)
{
	struct known_size key = { .num = num };
	const struct known_size *k = NULL;

	if (s->nsizes)
		k = bsearch(&key, s->sizes, s->nsizes, sizeof *s->sizes,
			    cmp_known);

	*listed = k ? k->size : 0;
	if (!k || k->size > (~0ULL - (1ULL << 20)) / 2)
		return ~0ULL;
	return 2 * k->size + (1ULL << 20);
}

/* How one message's retrieval went for the sink. */
struct sink_state {
	const struct pop3_sink *sink;  /* NULL: drop the lines */
	enum mp_status st;             /* the sink's first failure */
	struct mp_error err;
	char *buf;                     /* DATA_CHUNK bytes */
	size_t blen;
};

static void sink_data(struct sink_state *k, size_t index, const char *p,
		      size_t len)
{
	if (k->st == MP_OK && len > 0)
		k->st = k->sink->data(k->sink->ctx, index, p, len, &k->err);
}

/* Collect message bytes, handing the sink full DATA_CHUNK pieces. */
static void sink_put(struct sink_state *k, size_t index, const char *p,
		     size_t len)
{
	while (len > 0 && k->sink && k->st == MP_OK) {
		size_t n = DATA_CHUNK - k->blen;

		if (n > len)
			n = len;
		memcpy(k->buf + k->blen, p, n);
		k->blen += n;
		p += n;
		len -= n;
		if (k->blen == DATA_CHUNK) {
			sink_data(k, index, k->buf, k->blen);
			k->blen = 0;
		}
	}
}

/* One message after its +OK, up to ".": unstuffed bytes to the sink (or
 * dropped). Lines come in pieces, so a line of any length streams; only
 * the message's total is bounded. Returns failures of the connection or a
 * message far over its listed size; the sink's own go to k->st, and the
 * bytes after one are dropped so the session stays in step. */
static enum mp_status read_body(struct pop3_session *s, unsigned long num,
				size_t index, struct sink_state *k,
				struct mp_error *err)
{
	unsigned long long listed, limit = body_limit(s, num, &listed);
	unsigned long long total = 0;
	enum mp_status st = MP_OK;
	bool bol = true;        /* the next piece starts a line */
	bool held_cr = false;   /* the last piece ended in a CR, not yet sent */

	k->blen = 0;
	if (k->sink && k->sink->begin && k->st == MP_OK)
		k->st = k->sink->begin(k->sink->ctx, index, &k->err);
	conn_trace_pause(s->conn, true);
	for (;;) {
		const char *p;
		size_t len, keep;
		bool end;

		st = conn_read_piece(s->conn, &p, &len, &end, err);
		if (st != MP_OK)
			break;
		if (bol) {
			/* A short line always comes in one piece, so the end
			 * marker cannot be split. */
			if (end && ((len == 2 && !memcmp(p, ".\n", 2)) ||
				    (len == 3 && !memcmp(p, ".\r\n", 3))))
				break;
			if (p[0] == '.')    /* dot-stuffed */
				p++, len--;
		}
		if (held_cr) {
			/* It was half of a CRLF only if the LF comes next. */
			if (!(end && len == 1))
				sink_put(k, index, "\r", 1), total++;
			held_cr = false;
		}
		if (end) {
			/* The line end, CRLF or a bare LF, becomes LF. */
			keep = len - 1;
			if (keep > 0 && p[keep - 1] == '\r')
				keep--;
		} else {
			keep = len;
			if (p[keep - 1] == '\r')
				held_cr = true, keep--;
		}
		total += keep + end;
		if (total > limit) {
			st = mp_fail(err, MP_ERR_PROTOCOL,
				     "server sends more for message %lu than the "
				     "%llu octets its LIST gave", num, listed);
			break;
		}
		sink_put(k, index, p, keep);
		if (end)
			sink_put(k, index, "\n", 1);
		bol = end;
	}
	conn_trace_pause(s->conn, false);
	if (st != MP_OK)
		return fault(s, st);
	conn_trace_note(s->conn, "%llu bytes of message data", total);
	if (k->sink) {
		sink_data(k, index, k->buf, k->blen);
		if (k->sink->end && k->st == MP_OK)
			k->st = k->sink->end(k->sink->ctx, index, &k->err);
	}
	return MP_OK;
}

/* RETR, or TOP with tail " 0": the same answer, whole or headers only. */
static enum mp_status retrieve(struct pop3_session *s, const char *verb,
			       const char *tail, const unsigned long *nums,
			       size_t n, size_t window,
			       const struct pop3_sink *sink, struct mp_error *err)
{
	struct sink_state k = { .sink = sink, .st = MP_OK };
	enum mp_status first = MP_OK, st = check_step(s, err);
	struct mp_error first_err = { 0 };
	enum pop3_status status;
	size_t sent = 0;

	if (st != MP_OK)
		return st;
	if (!pipelining(s) || window < 1)
		window = 1;
	if (window > MAX_RETR_WINDOW)
		window = MAX_RETR_WINDOW;
	k.buf = mp_xmalloc(DATA_CHUNK);
	for (size_t done = 0; done < n; done++) {
		/* After a failure only the RETRs already sent are read. */
		if (first == MP_OK)
			st = send_batch(s, verb, tail, nums, n, &sent, done,
					window, err);
		else if (done == sent)
			break;
		if (st == MP_OK)
			st = read_status(s, &status, err);
		if (st == MP_OK)
			st = no_continuation(s, status, err);
		if (st != MP_OK)
			break;
		if (status != POP3_OK) {
			if (first == MP_OK) {
				char what[64];

				snprintf(what, sizeof what,
					 "cannot retrieve message %lu", nums[done]);
				first = err_reply(s, what, MP_ERR_PROTOCOL,
						  &first_err);
				k.sink = NULL;
			}
			continue;
		}
		st = read_body(s, nums[done], done, &k, err);
		if (st != MP_OK)
			break;
		if (k.st != MP_OK && first == MP_OK) {
			first = k.st;
			first_err = k.err;
			k.sink = NULL;
		}
	}
	free(k.buf);
	if (st != MP_OK)
		fault(s, st);
	if (first != MP_OK) {
		/* The first failure is the news, even if draining failed. */
		if (err)
			*err = first_err;
		return first;
	}
	return st;
}

enum mp_status pop3_retr(struct pop3_session *s, const unsigned long *nums,
			 size_t n, size_t window, const struct pop3_sink *sink,
			 struct mp_error *err)
{
	return retrieve(s, "RETR", "", nums, n, window, sink, err);
}

enum mp_status pop3_top(struct pop3_session *s, const unsigned long *nums,
			size_t n, size_t window, const struct pop3_sink *sink,
			struct mp_error *err)
{
	if (!strlist_has(&s->caps, "TOP"))
		return mp_fail(err, MP_ERR_UNAVAILABLE, "server does not offer TOP");
	return retrieve(s, "TOP", " 0", nums, n, window, sink, err);
}

enum mp_status pop3_dele(struct pop3_session *s, const unsigned long *nums,
			 size_t n, struct mp_error *err)
{
	enum mp_status first = MP_OK, st = check_step(s, err);
	struct mp_error first_err = { 0 };
	enum pop3_status status;
	size_t sent = 0, window = pipelining(s) ? DELE_WINDOW : 1;

	if (st != MP_OK)
		return st;
	for (size_t done = 0; done < n; done++) {
		if (first == MP_OK)
			st = send_batch(s, "DELE", "", nums, n, &sent, done,
					window, err);
		else if (done == sent)
			break;
		if (st == MP_OK)
			st = read_status(s, &status, err);
		if (st == MP_OK)
			st = no_continuation(s, status, err);
		if (st != MP_OK)
			break;
		if (status != POP3_OK && first == MP_OK) {
			char what[64];

			snprintf(what, sizeof what, "cannot delete message %lu",
				 nums[done]);
			first = err_reply(s, what, MP_ERR_PROTOCOL, &first_err);
		}
	}
	if (st != MP_OK)
		fault(s, st);
	if (first != MP_OK) {
		if (err)
			*err = first_err;
		return first;
	}
	return st;
}

enum mp_status pop3_quit(struct pop3_session *s, struct mp_error *err)
{
	enum pop3_status status;
	enum mp_status st = check_step(s, err);
	if (st != MP_OK)
		return st;
	st = command(s, "QUIT", &status, err);
	if (st == MP_OK && status != POP3_OK)
		st = err_reply(s, "QUIT failed", MP_ERR_TEMP, err);
	return st;
}

enum mp_status pop3_quit_nowait(struct pop3_session *s, struct mp_error *err)
{
	/* Nothing is read, so a pending CAPA's answer may stay unread. */
	enum mp_status st = check_fault(s, err);

	if (st == MP_OK)
		st = conn_send_line(s->conn, "QUIT", CONN_SHOW_ALL, err);
	if (st == MP_OK)
		st = conn_flush(s->conn, err);
	return st;
}

void pop3_close(struct pop3_session *s)
{
	if (!s)
		return;
	conn_close(s->conn);
	free(s->greeting);
	free(s->challenge);
	free(s->line);
	free(s->sizes);
	strlist_clear(&s->caps);
	free(s);
}
