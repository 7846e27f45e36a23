#include "imap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "reply.h"
#include "strlist.h"
#include "strutil.h"

/* Literals in responses other than message data are skipped up to this. */
#define MAX_SKIPPED_LITERAL (1024 * 1024)
/* Untagged responses tolerated while waiting for one command's end. */
#define MAX_UNTAGGED 100000

struct imap_session {
	const struct server_opts *srv;
	struct conn *conn;
	unsigned next_tag;
	char tag[16];                /* tag of the command in flight */
	bool preauth;                /* greeted as already logged in */
	char *line;                  /* the current response line, a stable copy */
	struct imap_line parsed;     /* ... parsed; points into line */
	char *greeting;
	char *bye;                   /* text of an untagged BYE, if seen */
	struct strlist caps;
	struct session_info info;
};

static void update_info(struct imap_session *s)
{
	s->info.greeting = s->greeting ? s->greeting : "";
	s->info.caps = (const char *const *)s->caps.v;
	s->info.ncaps = s->caps.n;
}

static void set_caps(struct imap_session *s, const char *list, size_t len)
{
	strlist_clear(&s->caps);
	size_t i = 0;
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

/* Discard a literal the caller has no use for, with its trailing line. */
static enum mp_status skip_literal(struct imap_session *s, long long size,
				   struct mp_error *err)
{
	if (size > MAX_SKIPPED_LITERAL)
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "server sent an unexpected literal of %lld bytes", size);
	char buf[4096];
	while (size > 0) {
		size_t n = size > (long long)sizeof buf ? sizeof buf : (size_t)size;
		enum mp_status st = conn_read_exact(s->conn, buf, n, err);
		if (st != MP_OK)
			return st;
		size -= (long long)n;
	}
	return MP_OK;
}

/* Read one response line into s->line/s->parsed. Literals inside it are
 * skipped: nothing this module reads yet carries data in a literal. */
static enum mp_status read_response(struct imap_session *s, struct mp_error *err)
{
	const char *line;
	size_t len;
	enum mp_status st = conn_read_line(s->conn, &line, &len, err);
	if (st != MP_OK)
		return st;
	free(s->line);
	s->line = mp_xmalloc(len + 1);
	memcpy(s->line, line, len);
	s->line[len] = '\0';
	imap_parse_line(s->line, len, &s->parsed);
	if (s->parsed.kind == IMAP_BAD_LINE)
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "malformed response from server: '%.80s'", s->line);
	long long literal = s->parsed.literal;
	while (literal >= 0) {
		st = skip_literal(s, literal, err);
		if (st == MP_OK)
			st = conn_read_line(s->conn, &line, &len, err);
		if (st != MP_OK)
			return st;
		struct imap_line more;
		imap_parse_line(line, len, &more);
		literal = more.literal;
	}
	return MP_OK;
}

/* "[CODE] text" of a status response, for messages. */
static void status_text(const struct imap_line *l, char *buf, size_t size)
{
	const char *text = l->text ? l->text : "";
	if (l->code[0])
		snprintf(buf, size, "[%s] %s", l->code, text);
	else
		snprintf(buf, size, "%s", *text ? text : "(no text)");
}

/* Act on an untagged response seen at any time. */
static void untagged(struct imap_session *s)
{
	const struct imap_line *l = &s->parsed;
	if (l->cond == IMAP_COND_BYE) {
		char text[300];
		status_text(l, text, sizeof text);
		free(s->bye);
		s->bye = mp_xstrdup(text);
	}
	if (l->cond != IMAP_COND_NONE && strcasecmp(l->code, "CAPABILITY") == 0 &&
	    l->code_args)
		set_caps(s, l->code_args, l->code_args_len);
	else if (l->cond == IMAP_COND_NONE && l->rest &&
		 strncasecmp(l->rest, "CAPABILITY ", 11) == 0)
		set_caps(s, l->rest + 11, strlen(l->rest + 11));
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

static enum mp_status send_command(struct imap_session *s, const char *cmd,
				   size_t visible, struct mp_error *err)
{
	snprintf(s->tag, sizeof s->tag, "A%04u", ++s->next_tag);
	size_t len = strlen(s->tag) + 1 + strlen(cmd) + 1;
	char *line = mp_xmalloc(len);
	snprintf(line, len, "%s %s", s->tag, cmd);
	enum mp_status st = conn_send_line(s->conn, line,
		visible == CONN_SHOW_ALL ? CONN_SHOW_ALL : strlen(s->tag) + 1 + visible,
		err);
	mp_wipe(line, len);
	free(line);
	if (st == MP_OK)
		st = conn_flush(s->conn, err);
	return st;
}

/* Read until the tagged end of the command in flight. The tagged line is
 * left in s->parsed; untagged responses are acted on. A continuation
 * request is returned too (*cont) when the caller expects one. */
static enum mp_status wait_tagged(struct imap_session *s, bool *cont,
				  struct mp_error *err)
{
	for (long n = 0; n < MAX_UNTAGGED; n++) {
		enum mp_status st = read_response(s, err);
		if (st != MP_OK)
			return lost(s, st, err);
		switch (s->parsed.kind) {
		case IMAP_UNTAGGED:
			untagged(s);
			continue;
		case IMAP_CONTINUATION:
			if (cont) {
				*cont = true;
				return MP_OK;
			}
			return mp_fail(err, MP_ERR_PROTOCOL,
				       "unexpected continuation request from server");
		case IMAP_TAGGED:
			if (strcmp(s->parsed.tag, s->tag) != 0)
				return mp_fail(err, MP_ERR_PROTOCOL,
					       "response for unknown tag '%s'",
					       s->parsed.tag);
			if (s->parsed.cond != IMAP_COND_OK &&
			    s->parsed.cond != IMAP_COND_NO &&
			    s->parsed.cond != IMAP_COND_BAD)
				return mp_fail(err, MP_ERR_PROTOCOL,
					       "malformed tagged response: '%.80s'",
					       s->line);
			if (s->parsed.cond == IMAP_COND_OK &&
			    strcasecmp(s->parsed.code, "CAPABILITY") == 0 &&
			    s->parsed.code_args)
				set_caps(s, s->parsed.code_args,
					 s->parsed.code_args_len);
			return MP_OK;
		case IMAP_BAD_LINE:
			break;
		}
		return mp_fail(err, MP_ERR_PROTOCOL, "malformed response");
	}
	return mp_fail(err, MP_ERR_PROTOCOL,
		       "server sent too many untagged responses");
}

/* The error for a tagged NO or BAD. */
static enum mp_status command_failed(struct imap_session *s, const char *what,
				     enum mp_status no_status,
				     struct mp_error *err)
{
	char text[300];
	status_text(&s->parsed, text, sizeof text);
	if (s->parsed.cond == IMAP_COND_BAD)
		return mp_fail(err, MP_ERR_PROTOCOL, "%s: server said BAD %s",
			       what, text);
	if (strcasecmp(s->parsed.code, "UNAVAILABLE") == 0 ||
	    strcasecmp(s->parsed.code, "INUSE") == 0)
		no_status = MP_ERR_TEMP;
	return mp_fail(err, no_status, "%s: %s", what, text);
}

/* Run a command with no arguments that must end in OK. */
static enum mp_status simple(struct imap_session *s, const char *cmd,
			     struct mp_error *err)
{
	enum mp_status st = send_command(s, cmd, CONN_SHOW_ALL, err);
	if (st == MP_OK)
		st = wait_tagged(s, NULL, err);
	if (st == MP_OK && s->parsed.cond != IMAP_COND_OK)
		st = command_failed(s, cmd, MP_ERR_UNAVAILABLE, err);
	return st;
}

static enum mp_status greeting(struct imap_session *s, struct mp_error *err)
{
	enum mp_status st = read_response(s, err);
	if (st != MP_OK)
		return st;
	const struct imap_line *l = &s->parsed;
	if (l->kind != IMAP_UNTAGGED ||
	    (l->cond != IMAP_COND_OK && l->cond != IMAP_COND_PREAUTH &&
	     l->cond != IMAP_COND_BYE))
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "server did not greet as an IMAP server: '%.80s'",
			       s->line);
	s->greeting = mp_xstrdup(s->line);
	if (l->cond == IMAP_COND_BYE)
		return mp_fail(err, MP_ERR_TEMP, "server refused the connection: %s",
			       l->text ? l->text : "");
	if (l->cond == IMAP_COND_PREAUTH) {
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
		st = wait_tagged(s, NULL, err);
	if (st != MP_OK)
		return st;
	if (s->parsed.cond != IMAP_COND_OK) {
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
	snprintf(s->tag, sizeof s->tag, "A%04u", ++s->next_tag);
	snprintf(verb, sizeof verb, "%s AUTHENTICATE", s->tag);
	return auth_send_command(s->conn, verb, mech, ir, err);
}

static enum mp_status wire_next(void *ctx, bool *done, const char **challenge,
				struct mp_error *err)
{
	struct imap_session *s = ctx;
	bool cont = false;
	enum mp_status st = wait_tagged(s, &cont, err);
	if (st != MP_OK)
		return st;
	if (cont) {
		const char *text = s->line + 1;
		while (*text == ' ')
			text++;
		*challenge = text;
		return MP_OK;
	}
	if (s->parsed.cond == IMAP_COND_OK) {
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
		st = wait_tagged(s, NULL, err);
	if (st == MP_OK && s->parsed.cond != IMAP_COND_OK)
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
	enum mp_status st;
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
	if (!(s->parsed.cond == IMAP_COND_OK &&
	      strcasecmp(s->parsed.code, "CAPABILITY") == 0))
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

enum mp_status imap_logout(struct imap_session *s, struct mp_error *err)
{
	enum mp_status st = send_command(s, "LOGOUT", CONN_SHOW_ALL, err);
	if (st == MP_OK)
		st = wait_tagged(s, NULL, err);
	return st;
}

void imap_close(struct imap_session *s)
{
	if (!s)
		return;
	conn_close(s->conn);
	free(s->line);
	free(s->greeting);
	free(s->bye);
	strlist_clear(&s->caps);
	free(s);
}
