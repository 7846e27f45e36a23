/* What the three protocol sessions share: where to connect, how to secure
 * the connection, and how to log in. */
#ifndef MAILPIPE_SESSION_H
#define MAILPIPE_SESSION_H

#include <stdbool.h>
#include "conn.h"
#include "error.h"
#include "url.h"

enum tls_mode {
	TLS_MODE_IMPLICIT,   /* smtps, imaps, pop3s */
	TLS_MODE_STARTTLS,   /* plain schemes: STARTTLS/STLS is required */
	TLS_MODE_NONE,       /* only when the user explicitly said --tls=no */
};

struct server_opts {
	struct mp_url url;
	enum tls_mode tls;
	struct conn_opts conn;
};

/* How to log in. The secret is asked for only once the mechanism is known,
 * so a password command or a prompt runs only when it is needed. */
struct mp_auth {
	const char *user;
	const char *mech;          /* NULL or "auto", or a SASL name; for POP3
				      also "USER" and "APOP", for IMAP "LOGIN-CMD" */
	bool have_token;           /* a token-command is configured */
	bool allow_plaintext;      /* authenticate even without TLS */
	/* Fill *secret with the password (token == false) or the OAuth token.
	 * The string must stay valid until the session is closed. */
	enum mp_status (*get_secret)(void *ctx, bool token, const char **secret,
				     struct mp_error *err);
	void *ctx;
};

/* What --probe prints about a session, and what a successful login used. */
struct session_info {
	const char *greeting;      /* the server's greeting text */
	const char *const *caps;   /* capabilities, after TLS (and after login
				      once authenticated) */
	size_t ncaps;
	char auth_used[48];        /* "SCRAM-SHA-256", "USER/PASS", ... */
};



/* Open the connection srv describes (TCP, or the unix socket of an
 * lmtp:/// URL) and, for implicit TLS, complete the handshake. */
enum mp_status session_connect(const struct server_opts *srv,
			       struct conn **out, struct mp_error *err);

/* The error for a plain URL whose server does not offer STARTTLS. */
enum mp_status session_no_starttls(const struct server_opts *srv,
				   const char *command, struct mp_error *err);
#endif
