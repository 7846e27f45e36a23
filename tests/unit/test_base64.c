/* Unit tests for common/base64.c: RFC 4648 vectors and bad input. */
#include <string.h>

#include "base64.h"
#include "tap.h"

static const struct {
	const char *plain, *b64;
} vectors[] = {
	/* RFC 4648 section 10 */
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
	/* a SASL PLAIN response */
	{ "\0user\0pass", "AHVzZXIAcGFzcw==" },
};

static void test_vectors(void)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const char *p = vectors[i].plain;
		size_t plen = i == 7 ? 10 : strlen(p);
		char enc[64];
		unsigned char dec[64];
		size_t n, declen;

		is_int(base64_encoded_size(plen), strlen(vectors[i].b64) + 1,
		       "encoded size of %zu bytes", plen);
		n = base64_encode(p, plen, enc);
		is_str(enc, vectors[i].b64, "encode vector %zu", i);
		is_int(n, strlen(vectors[i].b64), "encode length %zu", i);
		ok(base64_decode(vectors[i].b64, n, dec, &declen),
		   "decode '%s'", vectors[i].b64);
		ok(declen == plen && memcmp(dec, p, plen) == 0,
		   "decode '%s' gives the input", vectors[i].b64);
	}
}

static void test_all_bytes(void)
{
	unsigned char in[256], dec[256 * 3 / 4 + 400];
	char enc[400];
	size_t n, declen;

	for (int i = 0; i < 256; i++)
		in[i] = (unsigned char)i;
	n = base64_encode(in, sizeof(in), enc);
	is_int(n, 344, "256 bytes encode to 344 characters");
	ok(strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		  "0123456789+/=") == n, "only alphabet characters");
	ok(base64_decode(enc, n, dec, &declen) && declen == 256 &&
	   memcmp(dec, in, 256) == 0, "every byte value round-trips");
	ok(strstr(enc, "+") && strstr(enc, "/"), "62 and 63 map to + and /");
}

static void test_bad(void)
{
	static const char *const bad[] = {
		"Zg",           /* missing padding */
		"Zg=",          /* short padding */
		"Zm9v\n",       /* whitespace */
		"Zm 9",         /* blank */
		"Z===",         /* too much padding */
		"====",         /* padding only */
		"Zg==Zg==",     /* padding in the middle */
		"Zm=v",         /* padding then data */
		"Zh==",         /* non-zero unused bits */
		"Zm9=",         /* non-zero unused bits */
		"Zm9v-_==",     /* base64url alphabet */
		"Zm9*",         /* outside the alphabet */
		"A",            /* one character */
		"\xc3\xa9\xc3\xa9", /* non-ASCII */
	};
	unsigned char out[32];
	size_t n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = 99;
		ok(!base64_decode(bad[i], strlen(bad[i]), out, &n),
		   "reject bad input %zu", i);
	}
	ok(!base64_decode("Zm\0v", 4, out, &n), "reject NUL");
	ok(base64_decode("Zm9vYmFy", 0, out, &n) && n == 0,
	   "zero length decodes to nothing");
	ok(base64_decode("Zm9vYmFy", 4, out, &n) && n == 3 &&
	   memcmp(out, "foo", 3) == 0, "only len bytes are read");
}

int main(void)
{
	test_vectors();
	test_all_bytes();
	test_bad();
	return tap_done();
}
