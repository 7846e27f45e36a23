/* SASL client mechanisms, written once for SMTP, IMAP and POP3.
 *
 * The protocol modules carry the bytes (base64 on their wire, in their
 * command syntax); this module decides what the bytes are. Crypto (hashes,
 * HMAC, PBKDF2, random nonces) comes from GnuTLS's crypto API. */
#ifndef MAILPIPE_SASL_H
#define MAILPIPE_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include "error.h"

enum sasl_mech {
	SASL_NONE = 0,
	SASL_PLAIN,
	SASL_LOGIN,
	SASL_CRAM_MD5,
	SASL_SCRAM_SHA_1,
	SASL_SCRAM_SHA_256,
	SASL_XOAUTH2,
	SASL_OAUTHBEARER,
};

/* "SCRAM-SHA-256" etc. */
const char *sasl_mech_name(enum sasl_mech mech);
/* Case-insensitive; SASL_NONE if unknown. */
enum sasl_mech sasl_mech_from_name(const char *name);
/* True for the OAuth mechanisms, which take a token instead of a password. */
bool sasl_mech_uses_token(enum sasl_mech mech);

struct sasl_want {
	const char *mech;        /* NULL or "auto": choose; else that name */
	bool have_token;         /* a token-command is configured */
	bool channel_secure;     /* TLS is up (or a local socket) */
	bool allow_plaintext;    /* the user explicitly allows auth without TLS */
};

/* Choose a mechanism from the server's space-separated list. Automatic
 * choice takes the strongest offered: with a token OAUTHBEARER, XOAUTH2;
 * else SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, LOGIN. CRAM-MD5 only when named.
 * Errors: MP_ERR_USAGE for an unknown name; MP_ERR_UNAVAILABLE when nothing
 * usable is offered, the named one is not offered, or the channel is not
 * secure and the user did not allow authenticating in plaintext. */
enum mp_status sasl_choose(const char *offered, const struct sasl_want *want,
			   enum sasl_mech *out, struct mp_error *err);

struct sasl_client;

/* Start a client. user and secret (password, or the token for OAuth
 * mechanisms) are copied; the copies are wiped by sasl_free. host is used
 * by XOAUTH2/OAUTHBEARER ("host=" field). The caller frees *out. */
enum mp_status sasl_start(struct sasl_client **out, enum sasl_mech mech,
			  const char *user, const char *secret,
			  const char *host, unsigned port, struct mp_error *err);

/* True if the mechanism speaks first (PLAIN, SCRAM-*, XOAUTH2, OAUTHBEARER):
 * call sasl_step with in = NULL for the initial response. */
bool sasl_client_first(enum sasl_mech mech);

/* Given the server's decoded challenge in[0..inlen) (NULL/0 for the initial
 * response), produce the client's response in *out and *outlen (raw bytes, to be
 * base64-encoded by the caller). *out is owned by the client and valid until
 * the next call. For SCRAM the third step verifies the server's signature and
 * answers with an empty response. Errors: MP_ERR_PROTOCOL for a malformed or
 * forged challenge, MP_ERR_AUTH when the server reports an error inside the
 * exchange (SCRAM "e=", XOAUTH2/OAUTHBEARER JSON). With MP_ERR_AUTH,
 * *out and *outlen still hold the response that ends the exchange (empty, or
 * "\1" for OAUTHBEARER): send it, read the server's failure reply, then
 * report err. On any other error *out is NULL. */
enum mp_status sasl_step(struct sasl_client *c, const unsigned char *in,
			 size_t inlen, const unsigned char **out,
			 size_t *outlen, struct mp_error *err);

/* Call after the server said the login succeeded: fails (MP_ERR_PROTOCOL)
 * if a SCRAM server never proved it knows the password. */
enum mp_status sasl_done(struct sasl_client *c, struct mp_error *err);

/* For tests only: use this client nonce (printable ASCII without ',',
 * at most 64 bytes) instead of a random one. Call before the first step. */
enum mp_status sasl_set_nonce(struct sasl_client *c, const char *nonce,
			      struct mp_error *err);

/* Wipe secrets and free (NULL is fine). */
void sasl_free(struct sasl_client *c);

#endif
