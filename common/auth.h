/* The SASL exchange, driven once for all three protocols. Each protocol
 * says how to send its AUTH command and how to read the server's answers;
 * choosing the mechanism, fetching the secret, base64 and the challenge
 * loop live here. */
#ifndef MAILPIPE_AUTH_H
#define MAILPIPE_AUTH_H

#include "conn.h"
#include "sasl.h"
#include "session.h"

/* How one protocol carries SASL. ctx is the protocol session. */
struct sasl_wire {
	/* Send the command that starts the exchange. ir is the base64 initial
	 * response ("=" when empty) or NULL when none is to be sent. */
	enum mp_status (*start)(void *ctx, const char *mech, const char *ir,
				struct mp_error *err);
	/* Read the server's next answer. Set *challenge (base64 text, valid
	 * until the next read) for a continuation, or *done for success; a
	 * refusal is returned as an error (MP_ERR_AUTH, MP_ERR_TEMP...). */
	enum mp_status (*next)(void *ctx, bool *done, const char **challenge,
			       struct mp_error *err);
	/* The server wants the initial response as a separate line (no SASL-IR). */
	bool ir_in_command;
};

/* Choose a mechanism from the offered list as auth asks, fetch the secret,
 * and run the exchange. On success *used holds the mechanism. */
enum mp_status auth_sasl(struct conn *conn, const struct mp_auth *auth,
			 const char *offered, const char *host, unsigned port,
			 const struct sasl_wire *wire, void *ctx,
			 enum sasl_mech *used, struct mp_error *err);

/* Fetch the password (or token) through auth->get_secret, failing with
 * MP_ERR_CONFIG when none is configured. */
enum mp_status auth_secret(const struct mp_auth *auth, bool token,
			   const char **secret, struct mp_error *err);

/* Send "VERB MECH [ir]" (VERB is "AUTH" or "A0001 AUTHENTICATE") and flush;
 * the trace shows everything but the initial response. */
enum mp_status auth_send_command(struct conn *conn, const char *verb,
				 const char *mech, const char *ir,
				 struct mp_error *err);

/* True if auth->mech names this mechanism (case-insensitive). */
bool auth_wants(const struct mp_auth *auth, const char *mech);

#endif
