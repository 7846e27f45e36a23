/* Unit tests for common/sasl.c: mechanism choice and every mechanism's
 * bytes, with the RFC examples for CRAM-MD5 and SCRAM. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sasl.h"
#include "tap.h"

static const struct sasl_want secure_pw = { NULL, false, true, false };
static const struct sasl_want secure_token = { "auto", true, true, false };

static enum sasl_mech choose(const char *offered, const struct sasl_want *w,
			     enum mp_status *st, struct mp_error *err)
{
	enum sasl_mech m = SASL_PLAIN;

	*st = sasl_choose(offered, w, &m, err);
	return m;
}

static void test_names(void)
{
	is_str(sasl_mech_name(SASL_SCRAM_SHA_256), "SCRAM-SHA-256", "name of SCRAM-SHA-256");
	is_int(sasl_mech_from_name("scram-sha-1"), SASL_SCRAM_SHA_1, "names parse without case");
	is_int(sasl_mech_from_name("SCRAM-SHA-256-PLUS"), SASL_NONE, "-PLUS is unknown");
	is_int(sasl_mech_from_name("GSSAPI"), SASL_NONE, "GSSAPI is unknown");
	ok(sasl_mech_uses_token(SASL_XOAUTH2) && sasl_mech_uses_token(SASL_OAUTHBEARER)
	   && !sasl_mech_uses_token(SASL_PLAIN), "OAuth mechanisms take a token");
	ok(sasl_client_first(SASL_PLAIN) && sasl_client_first(SASL_SCRAM_SHA_1)
	   && sasl_client_first(SASL_SCRAM_SHA_256) && sasl_client_first(SASL_XOAUTH2)
	   && sasl_client_first(SASL_OAUTHBEARER), "client-first mechanisms");
	ok(!sasl_client_first(SASL_LOGIN) && !sasl_client_first(SASL_CRAM_MD5),
	   "LOGIN and CRAM-MD5 wait for the server");
}

static void test_choose(void)
{
	struct mp_error err = { 0 };
	enum mp_status st;
	enum sasl_mech m;
	struct sasl_want w;

	m = choose("PLAIN LOGIN SCRAM-SHA-1 SCRAM-SHA-256 CRAM-MD5", &secure_pw, &st, &err);
	ok(st == MP_OK && m == SASL_SCRAM_SHA_256, "auto prefers SCRAM-SHA-256");
	m = choose("login plain scram-sha-1", &secure_pw, &st, &err);
	ok(st == MP_OK && m == SASL_SCRAM_SHA_1, "then SCRAM-SHA-1, any case");
	m = choose("LOGIN PLAIN CRAM-MD5", &secure_pw, &st, &err);
	ok(st == MP_OK && m == SASL_PLAIN, "then PLAIN");
	m = choose("CRAM-MD5 LOGIN", &secure_pw, &st, &err);
	ok(st == MP_OK && m == SASL_LOGIN, "then LOGIN, never CRAM-MD5 on its own");
	m = choose("SCRAM-SHA-256-PLUS PLAIN", &secure_pw, &st, &err);
	ok(st == MP_OK && m == SASL_PLAIN, "a -PLUS variant is not taken for the plain one");
	m = choose("CRAM-MD5 GSSAPI", &secure_pw, &st, &err);
	ok(st == MP_ERR_UNAVAILABLE && m == SASL_NONE, "nothing usable offered");
	ok(strstr(err.msg, "(offered: CRAM-MD5 GSSAPI)") != NULL, "message lists the offer: %s", err.msg);
	m = choose("", &secure_pw, &st, &err);
	ok(st == MP_ERR_UNAVAILABLE && strstr(err.msg, "offered: none"), "empty offer: %s", err.msg);
	m = choose(NULL, &secure_pw, &st, &err);
	ok(st == MP_ERR_UNAVAILABLE, "NULL offer");

	m = choose("PLAIN XOAUTH2 OAUTHBEARER", &secure_token, &st, &err);
	ok(st == MP_OK && m == SASL_OAUTHBEARER, "token prefers OAUTHBEARER");
	m = choose("PLAIN xoauth2", &secure_token, &st, &err);
	ok(st == MP_OK && m == SASL_XOAUTH2, "then XOAUTH2");
	m = choose("PLAIN SCRAM-SHA-256", &secure_token, &st, &err);
	ok(st == MP_ERR_UNAVAILABLE, "token but no OAuth offered");
	is_str(err.msg, "server offers no OAuth mechanism (offered: PLAIN SCRAM-SHA-256)",
	       "no-OAuth message");

	w = secure_pw;
	w.mech = "cram-md5";
	m = choose("PLAIN CRAM-MD5", &w, &st, &err);
	ok(st == MP_OK && m == SASL_CRAM_MD5, "CRAM-MD5 when named");
	w.mech = "LOGIN";
	m = choose("PLAIN SCRAM-SHA-256", &w, &st, &err);
	ok(st == MP_ERR_UNAVAILABLE, "named but not offered");
	is_str(err.msg, "server does not offer AUTH LOGIN (offered: PLAIN SCRAM-SHA-256)",
	       "not-offered message");
	w.mech = "DIGEST-MD5";
	m = choose("DIGEST-MD5 PLAIN", &w, &st, &err);
	ok(st == MP_ERR_USAGE, "unknown name is a usage error");
	is_str(err.msg, "unknown authentication mechanism 'DIGEST-MD5'", "unknown message");
	w.mech = "SCRAM-SHA-256-PLUS";
	m = choose("SCRAM-SHA-256-PLUS", &w, &st, &err);
	ok(st == MP_ERR_USAGE, "-PLUS cannot be named");

	w = secure_pw;
	w.channel_secure = false;
	m = choose("PLAIN SCRAM-SHA-256", &w, &st, &err);
	ok(st == MP_ERR_UNAVAILABLE && m == SASL_NONE, "plaintext refused");
	is_str(err.msg, "refusing to authenticate over an unencrypted connection (use TLS, or --allow-plaintext-auth to insist)",
	       "plaintext message");
	w.mech = "PLAIN";
	m = choose("PLAIN", &w, &st, &err);
	ok(st == MP_ERR_UNAVAILABLE, "plaintext refused for a named mechanism too");
	w.allow_plaintext = true;
	m = choose("PLAIN", &w, &st, &err);
	ok(st == MP_OK && m == SASL_PLAIN, "plaintext when allowed");
}

/* Run one step, expecting st, and compare the output with want[0..wantlen). */
static bool step_is(struct sasl_client *c, const char *in, enum mp_status want_st,
		    const char *want, size_t wantlen, struct mp_error *err)
{
	const unsigned char *out = NULL;
	size_t outlen = 0;
	enum mp_status st;

	st = sasl_step(c, (const unsigned char *)in, in ? strlen(in) : 0,
		       &out, &outlen, err);
	if (st != want_st) {
		printf("#   status %d, want %d (%s)\n", st, want_st, err->msg);
		return false;
	}
	if (!want)
		return out == NULL;
	if (!out || outlen != wantlen || memcmp(out, want, wantlen) != 0) {
		printf("#   got %zu bytes: '%.*s'\n", outlen, (int)outlen,
		       out ? (const char *)out : "");
		return false;
	}
	return true;
}

#define STEP_OK(c, in, lit, err) step_is(c, in, MP_OK, lit, sizeof(lit) - 1, err)

static void test_simple(void)
{
	struct mp_error err = { 0 };
	struct sasl_client *c;

	ok(sasl_start(&c, SASL_PLAIN, "tim", "tanstaaf", NULL, 0, &err) == MP_OK, "PLAIN start");
	ok(STEP_OK(c, NULL, "\0tim\0tanstaaf", &err), "PLAIN initial response");
	ok(sasl_done(c, &err) == MP_OK, "PLAIN done");
	sasl_free(c);

	sasl_start(&c, SASL_PLAIN, "tim", "pw", NULL, 0, &err);
	ok(STEP_OK(c, "", "\0tim\0pw", &err), "PLAIN after an empty challenge");
	ok(step_is(c, "more", MP_ERR_PROTOCOL, NULL, 0, &err), "PLAIN has no second step");
	sasl_free(c);

	sasl_start(&c, SASL_LOGIN, "tim", "secret", NULL, 0, &err);
	ok(STEP_OK(c, "Username:", "tim", &err), "LOGIN user");
	ok(STEP_OK(c, "whatever", "secret", &err), "LOGIN password");
	ok(step_is(c, "Again:", MP_ERR_PROTOCOL, NULL, 0, &err), "LOGIN third challenge fails");
	sasl_free(c);

	sasl_start(&c, SASL_CRAM_MD5, "tim", "tanstaaftanstaaf", NULL, 0, &err);
	ok(STEP_OK(c, "<1896.697170952@postoffice.reston.mci.net>",
		   "tim b913a602c7eda7a495b4e6e7334d3890", &err), "CRAM-MD5 RFC 2195 example");
	sasl_free(c);
	sasl_start(&c, SASL_CRAM_MD5, "tim", "x", NULL, 0, &err);
	ok(step_is(c, "", MP_ERR_PROTOCOL, NULL, 0, &err), "CRAM-MD5 empty challenge fails");
	sasl_free(c);

	ok(sasl_start(&c, SASL_PLAIN, "tim", "pass\r\nQUIT", NULL, 0, &err) == MP_ERR_USAGE
	   && c == NULL, "line break in a password refused");
	ok(sasl_start(&c, SASL_PLAIN, "", "pw", NULL, 0, &err) == MP_ERR_USAGE, "empty user refused");
	ok(sasl_start(&c, SASL_XOAUTH2, "tim", "tok\1en", NULL, 0, &err) == MP_ERR_USAGE,
	   "0x01 in a token refused");
	ok(sasl_start(&c, SASL_NONE, "tim", "pw", NULL, 0, &err) == MP_ERR_INTERNAL,
	   "SASL_NONE refused");

	{
		static char big[9000];
		const unsigned char *out;
		size_t outlen;

		memset(big, 'a', sizeof big);
		sasl_start(&c, SASL_CRAM_MD5, "tim", "x", NULL, 0, &err);
		ok(sasl_step(c, (const unsigned char *)big, sizeof big, &out, &outlen, &err)
		   == MP_ERR_PROTOCOL && out == NULL, "challenge over 8 KiB fails");
		sasl_free(c);
	}
	sasl_free(NULL);
}

static void test_oauth(void)
{
	struct mp_error err = { 0 };
	struct sasl_client *c;

	sasl_start(&c, SASL_XOAUTH2, "someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg",
		   "imap.example.com", 993, &err);
	ok(STEP_OK(c, NULL, "user=someuser@example.com\1auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\1\1",
		   &err), "XOAUTH2 initial response");
	ok(step_is(c, "{\"status\":\"401\",\n\"schemes\":\"bearer\"}", MP_ERR_AUTH, "", 0, &err),
	   "XOAUTH2 error challenge: empty answer and MP_ERR_AUTH");
	is_str(err.msg, "server refused the OAuth token: {\"status\":\"401\", \"schemes\":\"bearer\"}",
	       "XOAUTH2 error text");
	ok(sasl_done(c, &err) != MP_OK, "done after a refusal fails");
	sasl_free(c);

	sasl_start(&c, SASL_OAUTHBEARER, "us,er=x", "vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg==",
		   "server.example.com", 143, &err);
	ok(STEP_OK(c, NULL, "n,a=us=2Cer=3Dx,\1host=server.example.com\1port=143\1"
		   "auth=Bearer vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg==\1\1", &err),
	   "OAUTHBEARER initial response");
	ok(sasl_done(c, &err) == MP_OK, "OAUTHBEARER done");
	sasl_free(c);

	sasl_start(&c, SASL_OAUTHBEARER, "u", "t", NULL, 0, &err);
	ok(STEP_OK(c, NULL, "n,a=u,\1auth=Bearer t\1\1", &err), "OAUTHBEARER without host and port");
	ok(step_is(c, "{\"status\":\"invalid_token\"}\x07", MP_ERR_AUTH, "\1", 1, &err),
	   "OAUTHBEARER error challenge answered with 0x01");
	is_str(err.msg, "server refused the OAuth token: {\"status\":\"invalid_token\"}?",
	       "OAUTHBEARER error text, unprintable replaced");
	ok(step_is(c, "again", MP_ERR_PROTOCOL, NULL, 0, &err), "no more challenges after the error");
	sasl_free(c);

	{
		char big[4000];
		size_t n = sizeof big - 1;

		memset(big, 'x', n);
		big[n] = '\0';
		sasl_start(&c, SASL_XOAUTH2, "u", "t", NULL, 0, &err);
		STEP_OK(c, NULL, "user=u\1auth=Bearer t\1\1", &err);
		ok(step_is(c, big, MP_ERR_AUTH, "", 0, &err) && strlen(err.msg) < 300
		   && strstr(err.msg, "xxx...") != NULL, "long error text is cut");
		sasl_free(c);
	}
}

struct scram_case {
	enum sasl_mech mech;
	const char *nonce, *client_first, *server_first, *client_final, *server_final;
};

static const struct scram_case rfc5802 = {
	SASL_SCRAM_SHA_1, "fyko+d2lbbFgONRv9qkxdawL",
	"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
	"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
	"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
	"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
};

static const struct scram_case rfc7677 = {
	SASL_SCRAM_SHA_256, "rOprNGfwEbeRWgbNEkqO",
	"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
	"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
};

/* A client for the case, with its first message already produced. */
static struct sasl_client *scram_client(const struct scram_case *t, struct mp_error *err)
{
	struct sasl_client *c = NULL;

	if (sasl_start(&c, t->mech, "user", "pencil", NULL, 0, err) != MP_OK
	    || sasl_set_nonce(c, t->nonce, err) != MP_OK
	    || !step_is(c, NULL, MP_OK, t->client_first, strlen(t->client_first), err)) {
		sasl_free(c);
		return NULL;
	}
	return c;
}

static void test_scram_case(const struct scram_case *t)
{
	const char *name = sasl_mech_name(t->mech);
	struct mp_error err = { 0 };
	struct sasl_client *c;

	c = scram_client(t, &err);
	ok(c != NULL, "%s client-first", name);
	if (!c)
		return;
	ok(sasl_done(c, &err) == MP_ERR_PROTOCOL, "%s done before the exchange fails", name);
	ok(step_is(c, t->server_first, MP_OK, t->client_final, strlen(t->client_final), &err),
	   "%s client-final matches the RFC", name);
	ok(sasl_done(c, &err) == MP_ERR_PROTOCOL, "%s done before verification fails", name);
	is_str(err.msg, "server did not prove it knows the password", "%s unverified message", name);
	ok(step_is(c, t->server_final, MP_OK, "", 0, &err), "%s server signature verifies", name);
	ok(sasl_done(c, &err) == MP_OK, "%s done after verification", name);
	ok(step_is(c, "", MP_ERR_PROTOCOL, NULL, 0, &err), "%s no fourth step", name);
	sasl_free(c);

	/* A wrong server signature: flip one character of v=. */
	c = scram_client(t, &err);
	step_is(c, t->server_first, MP_OK, t->client_final, strlen(t->client_final), &err);
	{
		char bad[128];

		snprintf(bad, sizeof bad, "%s", t->server_final);
		bad[2] = bad[2] == 'A' ? 'B' : 'A';
		ok(step_is(c, bad, MP_ERR_PROTOCOL, NULL, 0, &err), "%s wrong v= fails", name);
		ok(sasl_done(c, &err) == MP_ERR_PROTOCOL, "%s done after a wrong v= fails", name);
	}
	sasl_free(c);

	c = scram_client(t, &err);
	step_is(c, t->server_first, MP_OK, t->client_final, strlen(t->client_final), &err);
	ok(step_is(c, "v=AAAA", MP_ERR_PROTOCOL, NULL, 0, &err), "%s short v= fails", name);
	sasl_free(c);

	c = scram_client(t, &err);
	step_is(c, t->server_first, MP_OK, t->client_final, strlen(t->client_final), &err);
	ok(step_is(c, "e=invalid-proof", MP_ERR_AUTH, "", 0, &err), "%s e= is MP_ERR_AUTH", name);
	ok(strstr(err.msg, "invalid-proof") != NULL, "%s e= text reported: %s", name, err.msg);
	sasl_free(c);
}

/* Server-first messages that must be refused, for SCRAM-SHA-1's RFC nonce. */
static void test_scram_bad(void)
{
	static const char *const bad[] = {
		"r=someoneelse3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		"r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096",
		"r=fyko+d2lbbFgONRv9qkxdaw,s=QSXCR+Q6sek8bf92,i=4096",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=0",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=1000001",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=99999999999999999999999",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=-1",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=,i=4096",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=Q*XCR+Q6sek8bf92,i=4096",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfc,i=4096,s=QSXCR+Q6sek8bf92",
		"m=ext,r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4096",
		"",
		"garbage",
	};
	struct mp_error err = { 0 };

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct sasl_client *c = scram_client(&rfc5802, &err);

		ok(c && step_is(c, bad[i], MP_ERR_PROTOCOL, NULL, 0, &err),
		   "server-first refused: '%s' (%s)", bad[i], err.msg);
		sasl_free(c);
	}

	{
		/* NUL inside the challenge. */
		static const unsigned char nul[] = "r=fyko+d2lbbFgONRv9qkxdawL3r\0c,s=QSXCR+Q6sek8bf92,i=4096";
		struct sasl_client *c = scram_client(&rfc5802, &err);
		const unsigned char *out;
		size_t outlen;

		ok(sasl_step(c, nul, sizeof nul - 1, &out, &outlen, &err) == MP_ERR_PROTOCOL,
		   "NUL in server-first refused");
		sasl_free(c);
	}
	{
		/* Extensions after i= are allowed and ignored, but change nothing
		 * we can check here except that the step succeeds. */
		struct sasl_client *c = scram_client(&rfc5802, &err);
		const char *sf = "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=1,x=ext";
		const unsigned char *out;
		size_t outlen;

		ok(sasl_step(c, (const unsigned char *)sf, strlen(sf), &out, &outlen, &err) == MP_OK
		   && outlen > 0 && memcmp(out, "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfc,p=", 40) == 0,
		   "trailing extension ignored");
		sasl_free(c);
	}
}

static void test_scram_misc(void)
{
	struct mp_error err = { 0 };
	struct sasl_client *c;
	const unsigned char *out;
	size_t outlen;

	/* Random nonce: 24 bytes as 32 base64 characters. */
	sasl_start(&c, SASL_SCRAM_SHA_256, "a,b=c", "pw", NULL, 0, &err);
	ok(sasl_step(c, NULL, 0, &out, &outlen, &err) == MP_OK
	   && outlen == strlen("n,,n=a=2Cb=3Dc,r=") + 32
	   && memcmp(out, "n,,n=a=2Cb=3Dc,r=", 17) == 0
	   && memchr(out + 17, ',', 32) == NULL, "random nonce, escaped user name");
	ok(sasl_set_nonce(c, "late", &err) == MP_ERR_USAGE, "nonce cannot be set after starting");
	sasl_free(c);

	sasl_start(&c, SASL_SCRAM_SHA_1, "u", "pw", NULL, 0, &err);
	ok(sasl_set_nonce(c, "has,comma", &err) == MP_ERR_USAGE, "nonce with a comma refused");
	ok(step_is(c, "r=abc", MP_ERR_PROTOCOL, NULL, 0, &err), "challenge before client-first refused");
	sasl_free(c);

	sasl_start(&c, SASL_PLAIN, "u", "pw", NULL, 0, &err);
	ok(sasl_set_nonce(c, "abc", &err) == MP_ERR_USAGE, "nonce only for SCRAM");
	sasl_free(c);

	ok(sasl_start(&c, SASL_SCRAM_SHA_1, "u\nv", "pw", NULL, 0, &err) == MP_ERR_USAGE,
	   "user name with LF refused");

	/* An empty password still derives keys (values from an independent
	 * PBKDF2/HMAC computation). */
	sasl_start(&c, SASL_SCRAM_SHA_256, "u", "", NULL, 0, &err);
	sasl_set_nonce(c, "abc", &err);
	STEP_OK(c, NULL, "n,,n=u,r=abc", &err);
	ok(STEP_OK(c, "r=abcdef,s=QSXCR+Q6sek8bf92,i=2",
		   "c=biws,r=abcdef,p=ym1Sp6bqmRf8ZATwoSQrdoTuIZv6dIXqy2Qu9gfh+hA=", &err),
	   "SCRAM with an empty password");
	ok(STEP_OK(c, "v=mC5zOMFOfiAzEWZvsWm7Ip+Y+38O0FvvLfcdGGxR13o=,x=ext", "", &err)
	   && sasl_done(c, &err) == MP_OK, "server-final with an extension verifies");
	sasl_free(c);
}

int main(void)
{
	test_names();
	test_choose();
	test_simple();
	test_oauth();
	test_scram_case(&rfc5802);
	test_scram_case(&rfc7677);
	test_scram_bad();
	test_scram_misc();
	return tap_done();
}
