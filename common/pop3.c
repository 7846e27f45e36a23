#include "pop3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/crypto.h>

#include "auth.h"
#include "reply.h"
#include "strlist.h"
#include "strutil.h"

/* A CAPA answer longer than this is not a capability list. */
#define MAX_CAPA_LINES 1000

struct pop3_session {
	const struct server_opts *srv;
	struct conn *conn;
	char *greeting;
	char *challenge;             /* the last AUTH challenge, base64 */
	char *line;                  /* text of the last status reply */
	char resp_code[64];          /* its RFC 2449 code, or "" */
	struct strlist caps;
	struct session_info info;
};

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
	enum mp_status st = conn_read_line(s->conn, &line, &len, err);
	if (st != MP_OK)
		return st;
	*status = pop3_parse_status(line, len, &text, s->resp_code);
	if (*status == POP3_BAD)
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "malformed reply from server: '%.80s'", line);
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

/* CAPA: the list replaces what was known before; -ERR means none. */
static enum mp_status capa(struct pop3_session *s, struct mp_error *err)
{
	enum pop3_status status;
	strlist_clear(&s->caps);
	enum mp_status st = command(s, "CAPA", &status, err);
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
	if (st == MP_OK)
		st = capa(s, err);
	return st;
}

const struct session_info *pop3_info(const struct pop3_session *s)
{
	return &s->info;
}

struct conn *pop3_conn(struct pop3_session *s)
{
	return s->conn;
}

enum mp_status pop3_quit(struct pop3_session *s, struct mp_error *err)
{
	enum pop3_status status;
	enum mp_status st = command(s, "QUIT", &status, err);
	if (st == MP_OK && status != POP3_OK)
		st = err_reply(s, "QUIT failed", MP_ERR_TEMP, err);
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
	strlist_clear(&s->caps);
	free(s);
}
