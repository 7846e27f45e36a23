#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "strutil.h"

/* A SASL exchange never needs more round trips than this. */
#define MAX_ROUNDS 10
/* Largest challenge accepted, base64. */
#define MAX_CHALLENGE 16384

bool auth_wants(const struct mp_auth *auth, const char *mech)
{
	return auth->mech && strcasecmp(auth->mech, mech) == 0;
}

enum mp_status auth_secret(const struct mp_auth *auth, bool token,
			   const char **secret, struct mp_error *err)
{
	*secret = NULL;
	if (!auth->get_secret)
		return mp_fail(err, MP_ERR_CONFIG, "no %s configured",
			       token ? "token-command" : "password");
	enum mp_status st = auth->get_secret(auth->ctx, token, secret, err);
	if (st == MP_OK && !*secret)
		return mp_fail(err, MP_ERR_CONFIG, "no %s configured",
			       token ? "token-command" : "password");
	return st;
}

enum mp_status auth_send_command(struct conn *conn, const char *verb,
				 const char *mech, const char *ir,
				 struct mp_error *err)
{
	size_t size = strlen(verb) + strlen(mech) + (ir ? strlen(ir) : 0) + 3;
	char *line = mp_xmalloc(size);
	int visible = snprintf(line, size, "%s %s%s", verb, mech, ir ? " " : "");
	if (ir)
		memcpy(line + visible, ir, strlen(ir) + 1);
	enum mp_status st = conn_send_line(conn, line,
					   ir ? (size_t)visible : CONN_SHOW_ALL, err);
	mp_wipe(line, size);
	free(line);
	if (st == MP_OK)
		st = conn_flush(conn, err);
	return st;
}

static char *encode(const unsigned char *data, size_t len)
{
	if (len == 0)
		return mp_xstrdup("=");
	char *out = mp_xmalloc(base64_encoded_size(len));
	base64_encode(data, len, out);
	return out;
}

/* Tell the server we give up, and swallow its answer. */
static void cancel(struct conn *conn, const struct sasl_wire *wire, void *ctx)
{
	struct mp_error ignored;
	bool done = false;
	const char *challenge;
	if (conn_send_line(conn, "*", CONN_SHOW_ALL, &ignored) == MP_OK &&
	    conn_flush(conn, &ignored) == MP_OK)
		wire->next(ctx, &done, &challenge, &ignored);
}

/* The server reported an error inside the exchange (an OAuth JSON
 * status, a SCRAM e=): send the closing reply the mechanism defines, let
 * the server end the exchange, and keep the server's in-band reason. */
static enum mp_status finish_refused(struct conn *conn,
				     const struct sasl_wire *wire, void *ctx,
				     const unsigned char *out, size_t outlen,
				     struct mp_error *err)
{
	struct mp_error ignored;
	char *resp = encode(out, outlen);
	if (outlen == 0)
		resp[0] = '\0';
	if (conn_send_line(conn, resp, 0, &ignored) == MP_OK &&
	    conn_flush(conn, &ignored) == MP_OK) {
		bool done = false;
		const char *challenge;
		wire->next(ctx, &done, &challenge, &ignored);
	}
	free(resp);
	return err->status;
}

static enum mp_status exchange(struct conn *conn, struct sasl_client *client,
			       enum sasl_mech mech, const struct sasl_wire *wire,
			       void *ctx, struct mp_error *err)
{
	const unsigned char *out;
	size_t outlen;
	enum mp_status st;
	char *ir = NULL;

	if (sasl_client_first(mech)) {
		st = sasl_step(client, NULL, 0, &out, &outlen, err);
		if (st != MP_OK)
			return st;
		ir = encode(out, outlen);
	}
	st = wire->start(ctx, sasl_mech_name(mech),
			 wire->ir_in_command ? ir : NULL, err);
	if (st == MP_OK && ir && !wire->ir_in_command) {
		/* The server first sends an empty challenge. */
		bool done = false;
		const char *challenge = NULL;
		st = wire->next(ctx, &done, &challenge, err);
		if (st == MP_OK && done)
			st = mp_fail(err, MP_ERR_PROTOCOL,
				     "server accepted the login before it began");
		if (st == MP_OK)
			st = conn_send_line(conn, ir, 0, err);
		if (st == MP_OK)
			st = conn_flush(conn, err);
	}
	if (ir) {
		mp_wipe(ir, strlen(ir));
		free(ir);
	}
	if (st != MP_OK)
		return st;

	for (int round = 0; round < MAX_ROUNDS; round++) {
		bool done = false;
		const char *challenge = NULL;
		st = wire->next(ctx, &done, &challenge, err);
		if (st != MP_OK)
			return st;
		if (done)
			return sasl_done(client, err);

		size_t clen = strlen(challenge);
		if (clen > MAX_CHALLENGE) {
			cancel(conn, wire, ctx);
			return mp_fail(err, MP_ERR_PROTOCOL,
				       "server sent an authentication challenge of %zu bytes",
				       clen);
		}
		unsigned char *decoded = mp_xmalloc(clen / 4 * 3 + 4);
		size_t dlen = 0;
		if (clen > 0 && !(clen == 1 && challenge[0] == '=') &&
		    !base64_decode(challenge, clen, decoded, &dlen)) {
			free(decoded);
			cancel(conn, wire, ctx);
			return mp_fail(err, MP_ERR_PROTOCOL,
				       "server sent a challenge that is not base64");
		}
		out = NULL;
		st = sasl_step(client, decoded, dlen, &out, &outlen, err);
		free(decoded);
		if (st == MP_ERR_AUTH && out)
			return finish_refused(conn, wire, ctx, out, outlen, err);
		if (st != MP_OK) {
			cancel(conn, wire, ctx);
			return st;
		}
		char *resp = encode(out, outlen);
		if (outlen == 0)
			resp[0] = '\0';   /* an empty response is an empty line */
		st = conn_send_line(conn, resp, 0, err);
		mp_wipe(resp, strlen(resp));
		free(resp);
		if (st == MP_OK)
			st = conn_flush(conn, err);
		if (st != MP_OK)
			return st;
	}
	return mp_fail(err, MP_ERR_PROTOCOL,
		       "authentication did not finish after %d rounds", MAX_ROUNDS);
}

enum mp_status auth_sasl(struct conn *conn, const struct mp_auth *auth,
			 const char *offered, const char *host, unsigned port,
			 const struct sasl_wire *wire, void *ctx,
			 enum sasl_mech *used, struct mp_error *err)
{
	struct sasl_want want = {
		.mech = auth->mech,
		.have_token = auth->have_token,
		.channel_secure = conn_is_secure(conn),
		.allow_plaintext = auth->allow_plaintext,
	};
	enum sasl_mech mech;
	enum mp_status st = sasl_choose(offered, &want, &mech, err);
	if (st != MP_OK)
		return st;

	const char *secret;
	st = auth_secret(auth, sasl_mech_uses_token(mech), &secret, err);
	if (st != MP_OK)
		return st;

	struct sasl_client *client;
	st = sasl_start(&client, mech, auth->user, secret, host, port, err);
	if (st != MP_OK)
		return st;
	st = exchange(conn, client, mech, wire, ctx, err);
	sasl_free(client);
	if (st == MP_OK)
		*used = mech;
	return st;
}
