/* SASL client mechanisms: PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1/256,
 * XOAUTH2, OAUTHBEARER. Only bytes in, bytes out; the protocol modules
 * carry them. */
#include "sasl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

#include "base64.h"
#include "strutil.h"

/* Caps on everything that comes in. */
#define MAX_CHALLENGE   8192    /* decoded server challenge */
#define MAX_USER        1024
#define MAX_SECRET      16384   /* OAuth tokens can run to a few KiB */
#define MAX_HOST        255
#define MAX_NONCE       64      /* our SCRAM nonce */
#define MAX_ITERATIONS  1000000 /* more would let a server stall us */
#define MAX_SALT_B64    1024
#define MAX_HASH        32      /* SHA-256 */
#define NONCE_BYTES     24
#define SHOWN_TEXT      200     /* server text quoted in an error */

static const struct {
	enum sasl_mech mech;
	const char *name;
} mech_names[] = {
	{ SASL_PLAIN,         "PLAIN" },
	{ SASL_LOGIN,         "LOGIN" },
	{ SASL_CRAM_MD5,      "CRAM-MD5" },
	{ SASL_SCRAM_SHA_1,   "SCRAM-SHA-1" },
	{ SASL_SCRAM_SHA_256, "SCRAM-SHA-256" },
	{ SASL_XOAUTH2,       "XOAUTH2" },
	{ SASL_OAUTHBEARER,   "OAUTHBEARER" },
};

const char *sasl_mech_name(enum sasl_mech mech)
{
	for (size_t i = 0; i < sizeof mech_names / sizeof mech_names[0]; i++)
		if (mech_names[i].mech == mech)
			return mech_names[i].name;
	return "NONE";
}

enum sasl_mech sasl_mech_from_name(const char *name)
{
	if (!name)
		return SASL_NONE;
	for (size_t i = 0; i < sizeof mech_names / sizeof mech_names[0]; i++)
		if (strcasecmp(mech_names[i].name, name) == 0)
			return mech_names[i].mech;
	return SASL_NONE;
}

bool sasl_mech_uses_token(enum sasl_mech mech)
{
	return mech == SASL_XOAUTH2 || mech == SASL_OAUTHBEARER;
}

bool sasl_client_first(enum sasl_mech mech)
{
	switch (mech) {
	case SASL_PLAIN:
	case SASL_SCRAM_SHA_1:
	case SASL_SCRAM_SHA_256:
	case SASL_XOAUTH2:
	case SASL_OAUTHBEARER:
		return true;
	default:
		return false;
	}
}

static bool is_scram(enum sasl_mech mech)
{
	return mech == SASL_SCRAM_SHA_1 || mech == SASL_SCRAM_SHA_256;
}

/* Copy untrusted text for an error message: printable ASCII only, cut to
 * SHOWN_TEXT bytes with "..." so a hostile server cannot flood or garble
 * the terminal. */
static void shown_text(char *dst, size_t dstsize, const char *src,
		       size_t srclen)
{
	size_t n = 0, limit = dstsize - 4;

	if (limit > SHOWN_TEXT)
		limit = SHOWN_TEXT;
	for (size_t i = 0; i < srclen; i++) {
		unsigned char ch = (unsigned char)src[i];

		if (n == limit) {
			memcpy(dst + n, "...", 3);
			n += 3;
			break;
		}
		if (ch == '\r' || ch == '\n' || ch == '\t')
			ch = ' ';
		else if (ch < 0x20 || ch > 0x7e)
			ch = '?';
		dst[n++] = (char)ch;
	}
	dst[n] = '\0';
}

static void shown_list(char *dst, size_t dstsize, const char *offered)
{
	size_t len = offered ? strlen(offered) : 0;

	/* Skip surrounding blanks so an empty list reads as "none". */
	while (len && offered[len - 1] == ' ')
		len--;
	while (len && *offered == ' ') {
		offered++;
		len--;
	}
	if (len == 0)
		mp_strlcpy(dst, "none", dstsize);
	else
		shown_text(dst, dstsize, offered, len);
}

static bool offers(const char *offered, enum sasl_mech mech)
{
	return offered && mp_word_in_list(offered, sasl_mech_name(mech));
}

enum mp_status sasl_choose(const char *offered, const struct sasl_want *want,
			   enum sasl_mech *out, struct mp_error *err)
{
	static const enum sasl_mech token_order[] = {
		SASL_OAUTHBEARER, SASL_XOAUTH2,
	};
	static const enum sasl_mech password_order[] = {
		SASL_SCRAM_SHA_256, SASL_SCRAM_SHA_1, SASL_PLAIN, SASL_LOGIN,
	};
	char list[SHOWN_TEXT + 8];
	enum sasl_mech named = SASL_NONE;
	bool automatic = !want->mech || strcasecmp(want->mech, "auto") == 0;

	*out = SASL_NONE;
	if (!automatic) {
		named = sasl_mech_from_name(want->mech);
		if (named == SASL_NONE) {
			char name[SHOWN_TEXT + 8];

			shown_text(name, sizeof name, want->mech,
				   strlen(want->mech));
			return mp_fail(err, MP_ERR_USAGE,
				       "unknown authentication mechanism '%s'",
				       name);
		}
	}
	if (!want->channel_secure && !want->allow_plaintext)
		return mp_fail(err, MP_ERR_UNAVAILABLE,
			       "refusing to authenticate over an unencrypted connection (use TLS, or --allow-plaintext-auth to insist)");

	shown_list(list, sizeof list, offered);
	if (!automatic) {
		if (!offers(offered, named))
			return mp_fail(err, MP_ERR_UNAVAILABLE,
				       "server does not offer AUTH %s (offered: %s)",
				       sasl_mech_name(named), list);
		*out = named;
		return MP_OK;
	}

	if (want->have_token) {
		for (size_t i = 0; i < sizeof token_order / sizeof token_order[0]; i++)
			if (offers(offered, token_order[i])) {
				*out = token_order[i];
				return MP_OK;
			}
		return mp_fail(err, MP_ERR_UNAVAILABLE,
			       "server offers no OAuth mechanism (offered: %s)",
			       list);
	}
	for (size_t i = 0; i < sizeof password_order / sizeof password_order[0]; i++)
		if (offers(offered, password_order[i])) {
			*out = password_order[i];
			return MP_OK;
		}
	return mp_fail(err, MP_ERR_UNAVAILABLE,
		       "server offers no usable authentication mechanism (offered: %s)",
		       list);
}

/* A growing byte buffer whose old storage is wiped when it moves, since
 * responses hold passwords. */
struct buf {
	unsigned char *p;
	size_t len, cap;
};

static void buf_wipe(struct buf *b)
{
	if (b->p) {
		mp_wipe(b->p, b->cap);
		free(b->p);
	}
	b->p = NULL;
	b->len = b->cap = 0;
}

static void buf_add(struct buf *b, const void *data, size_t n)
{
	if (b->cap - b->len < n + 1) {
		size_t cap = b->cap ? b->cap : 64;
		unsigned char *p;

		while (cap - b->len < n + 1)
			cap *= 2;
		p = mp_xmalloc(cap);
		if (b->p) {
			memcpy(p, b->p, b->len);
			mp_wipe(b->p, b->cap);
			free(b->p);
		}
		b->p = p;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void buf_byte(struct buf *b, unsigned char ch)
{
	buf_add(b, &ch, 1);
}

/* SCRAM and OAUTHBEARER name escaping: ',' -> =2C, '=' -> =3D. */
static void buf_escaped_name(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == ',')
			buf_str(b, "=2C");
		else if (*s == '=')
			buf_str(b, "=3D");
		else
			buf_byte(b, (unsigned char)*s);
	}
}

static void buf_base64(struct buf *b, const void *data, size_t n)
{
	char *text = mp_xmalloc(base64_encoded_size(n));
	size_t len = base64_encode(data, n, text);

	buf_add(b, text, len);
	free(text);
}

struct sasl_client {
	enum sasl_mech mech;
	unsigned step;            /* server messages handled so far */
	char *user;
	char *secret;
	char *host;
	unsigned port;
	struct buf out;           /* the response handed to the caller */
	bool server_error;        /* the server reported an error in-band */

	/* SCRAM */
	char nonce[MAX_NONCE + 1];
	struct buf first_bare;    /* client-first-message-bare */
	unsigned char server_sig[MAX_HASH];
	size_t hashlen;
	bool verified;
};

static void free_str(char *s)
{
	if (s) {
		mp_wipe(s, strlen(s));
		free(s);
	}
}

void sasl_free(struct sasl_client *c)
{
	if (!c)
		return;
	free_str(c->user);
	free_str(c->secret);
	free_str(c->host);
	buf_wipe(&c->out);
	buf_wipe(&c->first_bare);
	mp_wipe(c, sizeof *c);
	free(c);
}

static enum mp_status check_arg(const char *what, const char *s, size_t max,
				const char *forbidden, struct mp_error *err)
{
	size_t len = strlen(s);

	if (len > max)
		return mp_fail(err, MP_ERR_USAGE,
			       "the %s is too long for SASL (%zu bytes, at most %zu)",
			       what, len, max);
	if (mp_has_line_break(s, len))
		return mp_fail(err, MP_ERR_USAGE,
			       "the %s contains a line break", what);
	if (forbidden && strpbrk(s, forbidden))
		return mp_fail(err, MP_ERR_USAGE,
			       "the %s contains a character the mechanism cannot carry",
			       what);
	return MP_OK;
}

enum mp_status sasl_start(struct sasl_client **out, enum sasl_mech mech,
			  const char *user, const char *secret,
			  const char *host, unsigned port, struct mp_error *err)
{
	struct sasl_client *c;
	const char *forbidden = NULL;
	enum mp_status st;

	*out = NULL;
	if (mech < SASL_PLAIN || mech > SASL_OAUTHBEARER)
		return mp_fail(err, MP_ERR_INTERNAL,
			       "no SASL mechanism was chosen");
	if (!user || !*user)
		return mp_fail(err, MP_ERR_USAGE,
			       "AUTH %s needs a user name", sasl_mech_name(mech));
	if (!secret)
		return mp_fail(err, MP_ERR_USAGE,
			       "AUTH %s needs a %s", sasl_mech_name(mech),
			       sasl_mech_uses_token(mech) ? "token" : "password");
	/* The OAuth formats separate fields with 0x01. */
	if (sasl_mech_uses_token(mech))
		forbidden = "\1";
	if ((st = check_arg("user name", user, MAX_USER, forbidden, err)) != MP_OK)
		return st;
	if ((st = check_arg(sasl_mech_uses_token(mech) ? "token" : "password",
			    secret, MAX_SECRET, forbidden, err)) != MP_OK)
		return st;
	if (host && (st = check_arg("host name", host, MAX_HOST, "\1", err)) != MP_OK)
		return st;

	c = mp_xcalloc(1, sizeof *c);
	c->mech = mech;
	c->user = mp_xstrdup(user);
	c->secret = mp_xstrdup(secret);
	c->host = host && *host ? mp_xstrdup(host) : NULL;
	c->port = port;
	if (is_scram(mech))
		c->hashlen = mech == SASL_SCRAM_SHA_1 ? 20 : 32;
	*out = c;
	return MP_OK;
}

enum mp_status sasl_set_nonce(struct sasl_client *c, const char *nonce,
			      struct mp_error *err)
{
	size_t len = strlen(nonce);

	if (!is_scram(c->mech) || c->step != 0 || c->first_bare.len)
		return mp_fail(err, MP_ERR_USAGE,
			       "a nonce can only be set before a SCRAM exchange starts");
	if (len == 0 || len > MAX_NONCE)
		return mp_fail(err, MP_ERR_USAGE, "the SCRAM nonce has a bad length");
	for (size_t i = 0; i < len; i++)
		if (nonce[i] < 0x21 || nonce[i] > 0x7e || nonce[i] == ',')
			return mp_fail(err, MP_ERR_USAGE,
				       "the SCRAM nonce holds a character it may not");
	memcpy(c->nonce, nonce, len + 1);
	return MP_OK;
}

/* ---- PLAIN, LOGIN, CRAM-MD5 ---- */

static enum mp_status step_plain(struct sasl_client *c, struct mp_error *err)
{
	if (c->step > 0)
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "server sent a challenge after AUTH PLAIN's only message");
	buf_byte(&c->out, 0);
	buf_str(&c->out, c->user);
	buf_byte(&c->out, 0);
	buf_str(&c->out, c->secret);
	return MP_OK;
}

static enum mp_status step_login(struct sasl_client *c, struct mp_error *err)
{
	/* The prompts' text varies between servers; only the order counts. */
	if (c->step == 0)
		buf_str(&c->out, c->user);
	else if (c->step == 1)
		buf_str(&c->out, c->secret);
	else
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "server asked for a third AUTH LOGIN answer");
	return MP_OK;
}

static void buf_hex(struct buf *b, const unsigned char *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		buf_byte(b, (unsigned char)hex[p[i] >> 4]);
		buf_byte(b, (unsigned char)hex[p[i] & 15]);
	}
}

static enum mp_status step_cram(struct sasl_client *c, const unsigned char *in,
				size_t inlen, struct mp_error *err)
{
	unsigned char digest[16];

	if (c->step > 0)
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "server sent a second AUTH CRAM-MD5 challenge");
	if (inlen == 0)
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "server sent an empty AUTH CRAM-MD5 challenge");
	if (gnutls_hmac_fast(GNUTLS_MAC_MD5, c->secret, strlen(c->secret),
			     in, inlen, digest) < 0)
		return mp_fail(err, MP_ERR_INTERNAL,
			       "HMAC-MD5 is not available from GnuTLS");
	buf_str(&c->out, c->user);
	buf_byte(&c->out, ' ');
	buf_hex(&c->out, digest, sizeof digest);
	mp_wipe(digest, sizeof digest);
	return MP_OK;
}

/* ---- XOAUTH2, OAUTHBEARER ---- */

static enum mp_status step_oauth(struct sasl_client *c, const unsigned char *in,
				 size_t inlen, struct mp_error *err)
{
	bool bearer = c->mech == SASL_OAUTHBEARER;
	char text[SHOWN_TEXT + 8];

	if (c->step == 0) {
		if (bearer) {
			buf_str(&c->out, "n,a=");
			buf_escaped_name(&c->out, c->user);
			buf_str(&c->out, ",\1");
			if (c->host) {
				buf_str(&c->out, "host=");
				buf_str(&c->out, c->host);
				buf_byte(&c->out, 1);
			}
			if (c->port) {
				char port[24];

				snprintf(port, sizeof port, "port=%u\1", c->port);
				buf_str(&c->out, port);
			}
		} else {
			buf_str(&c->out, "user=");
			buf_str(&c->out, c->user);
			buf_byte(&c->out, 1);
		}
		buf_str(&c->out, "auth=Bearer ");
		buf_str(&c->out, c->secret);
		buf_str(&c->out, "\1\1");
		return MP_OK;
	}
	if (c->step > 1 || c->server_error)
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "server sent another AUTH %s challenge after its error",
			       sasl_mech_name(c->mech));

	/* A challenge here is the server's JSON error. The exchange must still
	 * be closed (RFC 7628 asks for a lone 0x01) before the failure comes. */
	c->server_error = true;
	if (bearer)
		buf_byte(&c->out, 1);
	else
		buf_add(&c->out, "", 0);
	if (inlen == 0)
		return mp_fail(err, MP_ERR_AUTH,
			       "server refused the OAuth token without saying why");
	shown_text(text, sizeof text, (const char *)in, inlen);
	return mp_fail(err, MP_ERR_AUTH, "server refused the OAuth token: %s",
		       text);
}

/* ---- SCRAM-SHA-1, SCRAM-SHA-256 ---- */

static gnutls_mac_algorithm_t scram_mac(const struct sasl_client *c)
{
	return c->mech == SASL_SCRAM_SHA_1 ? GNUTLS_MAC_SHA1 : GNUTLS_MAC_SHA256;
}

static gnutls_digest_algorithm_t scram_digest(const struct sasl_client *c)
{
	return c->mech == SASL_SCRAM_SHA_1 ? GNUTLS_DIG_SHA1 : GNUTLS_DIG_SHA256;
}

static enum mp_status scram_first(struct sasl_client *c, struct mp_error *err)
{
	if (!c->nonce[0]) {
		unsigned char raw[NONCE_BYTES];
		char text[64];

		if (gnutls_rnd(GNUTLS_RND_NONCE, raw, sizeof raw) < 0)
			return mp_fail(err, MP_ERR_INTERNAL,
				       "GnuTLS could not make a random nonce");
		/* 24 bytes make 32 base64 characters, none of them ','. */
		base64_encode(raw, sizeof raw, text);
		mp_strlcpy(c->nonce, text, sizeof c->nonce);
	}
	buf_str(&c->first_bare, "n=");
	buf_escaped_name(&c->first_bare, c->user);
	buf_str(&c->first_bare, ",r=");
	buf_str(&c->first_bare, c->nonce);

	buf_str(&c->out, "n,,");
	buf_add(&c->out, c->first_bare.p, c->first_bare.len);
	return MP_OK;
}

/* Take "X=value" at *p (ending at ',' or end): value in [*v, *v + *vlen),
 * *p moved past the ',' if any. */
static bool scram_attr(const char **p, const char *end, char name,
		       const char **v, size_t *vlen)
{
	const char *s = *p, *comma;

	if (end - s < 2 || s[0] != name || s[1] != '=')
		return false;
	s += 2;
	comma = memchr(s, ',', (size_t)(end - s));
	*v = s;
	*vlen = (size_t)((comma ? comma : end) - s);
	*p = comma ? comma + 1 : end;
	return true;
}

static enum mp_status scram_bad(struct sasl_client *c, struct mp_error *err,
				const char *what)
{
	return mp_fail(err, MP_ERR_PROTOCOL, "server's %s message %s",
		       sasl_mech_name(c->mech), what);
}

/* Parse server-first, derive the keys, answer with client-final. */
static enum mp_status scram_final(struct sasl_client *c, const char *in,
				  size_t inlen, struct mp_error *err)
{
	const char *p = in, *end = in + inlen;
	const char *rnonce, *salt64, *iter;
	size_t rlen, saltlen64, iterlen, saltlen, noncelen = strlen(c->nonce);
	unsigned long iterations = 0;
	unsigned char salt[MAX_SALT_B64];
	unsigned char salted[MAX_HASH], client_key[MAX_HASH];
	unsigned char stored_key[MAX_HASH], client_sig[MAX_HASH];
	unsigned char server_key[MAX_HASH];
	struct buf auth = { 0 }, final = { 0 };
	gnutls_datum_t key, saltd;
	gnutls_mac_algorithm_t mac = scram_mac(c);
	size_t hl = c->hashlen;
	enum mp_status st = MP_OK;

	if (inlen >= 2 && in[0] == 'm' && in[1] == '=')
		return scram_bad(c, err, "demands an extension mailpipe does not support");
	if (!scram_attr(&p, end, 'r', &rnonce, &rlen))
		return scram_bad(c, err, "does not start with the nonce");
	if (rlen <= noncelen || memcmp(rnonce, c->nonce, noncelen) != 0)
		return scram_bad(c, err, "does not extend the client's nonce");
	for (size_t i = 0; i < rlen; i++)
		if (rnonce[i] < 0x21 || rnonce[i] > 0x7e)
			return scram_bad(c, err, "has a nonce with unprintable characters");
	if (!scram_attr(&p, end, 's', &salt64, &saltlen64))
		return scram_bad(c, err, "has no salt after the nonce");
	if (saltlen64 == 0 || saltlen64 > MAX_SALT_B64 - 3
	    || !base64_decode(salt64, saltlen64, salt, &saltlen) || saltlen == 0)
		return scram_bad(c, err, "has a malformed salt");
	if (!scram_attr(&p, end, 'i', &iter, &iterlen))
		return scram_bad(c, err, "has no iteration count after the salt");
	if (iterlen == 0)
		return scram_bad(c, err, "has an empty iteration count");
	for (size_t i = 0; i < iterlen; i++) {
		if (iter[i] < '0' || iter[i] > '9')
			return scram_bad(c, err, "has a malformed iteration count");
		iterations = iterations * 10 + (unsigned long)(iter[i] - '0');
		if (iterations > MAX_ITERATIONS)
			return mp_fail(err, MP_ERR_PROTOCOL,
				       "server's %s iteration count is over mailpipe's limit of %d",
				       sasl_mech_name(c->mech), MAX_ITERATIONS);
	}
	if (iterations == 0)
		return scram_bad(c, err, "has an iteration count of zero");
	/* Any later attributes are extensions, which the client may ignore. */

	key.data = (unsigned char *)c->secret;
	key.size = (unsigned)strlen(c->secret);
	saltd.data = salt;
	saltd.size = (unsigned)saltlen;
	if (gnutls_pbkdf2(mac, &key, &saltd, (unsigned)iterations, salted, hl) < 0
	    || gnutls_hmac_fast(mac, salted, hl, "Client Key", 10, client_key) < 0
	    || gnutls_hash_fast(scram_digest(c), client_key, hl, stored_key) < 0
	    || gnutls_hmac_fast(mac, salted, hl, "Server Key", 10, server_key) < 0) {
		st = mp_fail(err, MP_ERR_INTERNAL,
			     "GnuTLS could not compute the %s keys",
			     sasl_mech_name(c->mech));
		goto out;
	}

	/* client-final-message-without-proof; "biws" is base64 of "n,,". */
	buf_str(&final, "c=biws,r=");
	buf_add(&final, rnonce, rlen);

	buf_add(&auth, c->first_bare.p, c->first_bare.len);
	buf_byte(&auth, ',');
	buf_add(&auth, in, inlen);
	buf_byte(&auth, ',');
	buf_add(&auth, final.p, final.len);

	if (gnutls_hmac_fast(mac, stored_key, hl, auth.p, auth.len, client_sig) < 0
	    || gnutls_hmac_fast(mac, server_key, hl, auth.p, auth.len,
				c->server_sig) < 0) {
		st = mp_fail(err, MP_ERR_INTERNAL,
			     "GnuTLS could not compute the %s signatures",
			     sasl_mech_name(c->mech));
		goto out;
	}
	/* ClientProof = ClientKey XOR ClientSignature, into client_key. */
	for (size_t i = 0; i < hl; i++)
		client_key[i] ^= client_sig[i];

	buf_add(&c->out, final.p, final.len);
	buf_str(&c->out, ",p=");
	buf_base64(&c->out, client_key, hl);
out:
	mp_wipe(salted, sizeof salted);
	mp_wipe(client_key, sizeof client_key);
	mp_wipe(stored_key, sizeof stored_key);
	mp_wipe(client_sig, sizeof client_sig);
	mp_wipe(server_key, sizeof server_key);
	buf_wipe(&auth);
	buf_wipe(&final);
	return st;
}

static bool same_bytes(const unsigned char *a, const unsigned char *b, size_t n)
{
	unsigned char diff = 0;

	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

/* Check server-final: "v=signature" or "e=error". */
static enum mp_status scram_verify(struct sasl_client *c, const char *in,
				   size_t inlen, struct mp_error *err)
{
	const char *p = in, *end = in + inlen, *v;
	size_t vlen, siglen;
	unsigned char sig[MAX_HASH + 8];

	if (scram_attr(&p, end, 'e', &v, &vlen)) {
		char text[SHOWN_TEXT + 8];

		c->server_error = true;
		buf_add(&c->out, "", 0);
		shown_text(text, sizeof text, v, vlen);
		return mp_fail(err, MP_ERR_AUTH,
			       "server refused %s authentication: %s",
			       sasl_mech_name(c->mech), text);
	}
	if (!scram_attr(&p, end, 'v', &v, &vlen))
		return scram_bad(c, err, "has neither a signature nor an error");
	if (vlen > (MAX_HASH / 3 + 2) * 4 || !base64_decode(v, vlen, sig, &siglen)
	    || siglen != c->hashlen || !same_bytes(sig, c->server_sig, c->hashlen))
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "server's %s signature is wrong, so it does not know the password",
			       sasl_mech_name(c->mech));
	c->verified = true;
	buf_add(&c->out, "", 0);
	return MP_OK;
}

static enum mp_status step_scram(struct sasl_client *c, const unsigned char *in,
				 size_t inlen, struct mp_error *err)
{
	const char *text = (const char *)in;

	if (inlen && memchr(in, '\0', inlen))
		return scram_bad(c, err, "holds a NUL byte");
	switch (c->step) {
	case 0:
		if (inlen)
			return mp_fail(err, MP_ERR_PROTOCOL,
				       "server sent a challenge before the client's first %s message",
				       sasl_mech_name(c->mech));
		return scram_first(c, err);
	case 1:
		return scram_final(c, text, inlen, err);
	case 2:
		return scram_verify(c, text, inlen, err);
	default:
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "server sent another %s challenge after the exchange ended",
			       sasl_mech_name(c->mech));
	}
}

enum mp_status sasl_step(struct sasl_client *c, const unsigned char *in,
			 size_t inlen, const unsigned char **out,
			 size_t *outlen, struct mp_error *err)
{
	enum mp_status st;

	*out = NULL;
	*outlen = 0;
	if (!in)
		inlen = 0;
	if (inlen > MAX_CHALLENGE)
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "server sent a %zu-byte AUTH %s challenge, over the %d-byte limit",
			       inlen, sasl_mech_name(c->mech), MAX_CHALLENGE);
	buf_wipe(&c->out);

	switch (c->mech) {
	case SASL_PLAIN:
		st = step_plain(c, err);
		break;
	case SASL_LOGIN:
		st = step_login(c, err);
		break;
	case SASL_CRAM_MD5:
		st = step_cram(c, in, inlen, err);
		break;
	case SASL_SCRAM_SHA_1:
	case SASL_SCRAM_SHA_256:
		st = step_scram(c, in, inlen, err);
		break;
	case SASL_XOAUTH2:
	case SASL_OAUTHBEARER:
		st = step_oauth(c, in, inlen, err);
		break;
	default:
		return mp_fail(err, MP_ERR_INTERNAL, "no SASL mechanism was chosen");
	}
	c->step++;
	/* On an in-band server error the closing response is still handed out. */
	if (st == MP_OK || (st == MP_ERR_AUTH && c->server_error)) {
		if (!c->out.p)
			buf_add(&c->out, "", 0);
		*out = c->out.p;
		*outlen = c->out.len;
	} else {
		buf_wipe(&c->out);
	}
	return st;
}

enum mp_status sasl_done(struct sasl_client *c, struct mp_error *err)
{
	if (c->server_error)
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "server reported success after refusing AUTH %s",
			       sasl_mech_name(c->mech));
	if (is_scram(c->mech) && !c->verified)
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "server did not prove it knows the password");
	return MP_OK;
}
