/* Unit tests for common/mutf7.c: RFC 3501 examples, exact encodings, round
 * trips, and every kind of malformed input the strict decoder refuses. */
#include <stdlib.h>
#include <string.h>

#include "mutf7.h"
#include "tap.h"

/* mUTF-7 m and UTF-8 u must map to each other both ways. */
static void both(const char *m, const char *u, const char *what)
{
	struct mp_error err;
	char *out = NULL;

	ok(mutf7_decode(m, strlen(m), &out, &err) == MP_OK, "%s: decodes", what);
	is_str(out, u, "%s: decoded", what);
	free(out);
	out = NULL;
	ok(mutf7_encode(u, strlen(u), &out, &err) == MP_OK, "%s: encodes", what);
	is_str(out, m, "%s: encoded", what);
	free(out);
}

static void test_examples(void)
{
	both("", "", "empty");
	both("INBOX", "INBOX", "plain ASCII");
	both("~peter/mail/&U,BTFw-/&ZeVnLIqe-",
	     "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/"
	     "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
	     "RFC 3501 example");
	both("&-", "&", "ampersand");
	both("&-&AOk-&-", "&\xc3\xa9&", "ampersands around a run");
	both("Entw&APw-rfe", "Entw\xc3\xbcrfe", "German Drafts");
	both("&AOk-", "\xc3\xa9", "one 2-byte character, 2 padding bits");
	both("&IKw-", "\xe2\x82\xac", "euro sign");
	both("&2D3eAA-", "\xf0\x9f\x98\x80", "surrogate pair (emoji)");
	both("a&AAo-b", "a\nb", "a newline is encoded");
	both("&AAEAfw-", "\x01\x7f", "controls in one run");
	both("&AOkA6QDp-", "\xc3\xa9\xc3\xa9\xc3\xa9",
	     "three units, no padding bits");
	both("Sent Items - 2024", "Sent Items - 2024", "'-' outside a run");
	both("&ZeVnLIqe-/&ZeVnLIqe-",
	     "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e/"
	     "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
	     "two runs split by ASCII");
}

static void bad_decode(const char *m, size_t len, const char *what)
{
	struct mp_error err = { 0 };
	char *out = (char *)1;

	ok(mutf7_decode(m, len, &out, &err) == MP_ERR_PROTOCOL &&
	   err.status == MP_ERR_PROTOCOL && out == NULL && err.msg[0],
	   "refused: %s", what);
}

static void test_malformed(void)
{
#define BAD(s, what) bad_decode(s, sizeof(s) - 1, what)
	BAD("&", "lone '&' at the end");
	BAD("&AOk", "unterminated run");
	BAD("a&U,BTFw", "unterminated run after text");
	BAD("&AO!-", "bad base64 character");
	BAD("&AO/-", "'/' is not modified base64");
	BAD("&AO=-", "padding is not allowed");
	BAD("&AOl-", "non-zero padding bits");
	BAD("&AOkA-", "odd byte count");
	BAD("&AA-", "one byte only");
	BAD("&A-", "six bits only");
	BAD("&AOkA6QD-", "five bytes");
	BAD("&AOkA6QDpA-", "a spare base64 character");
	BAD("&AGE-", "run encodes printable 'a'");
	BAD("&ACY-", "run encodes '&'");
	BAD("&AGEA6Q-", "run mixing printable ASCII and others");
	BAD("&AAA-", "NUL");
	BAD("&2D0-", "lone high surrogate");
	BAD("&3gA-", "lone low surrogate");
	BAD("&2D3YPQ-", "high surrogate followed by high surrogate");
	BAD("&3gDYPQ-", "low then high surrogate");
	BAD("&2D0-&3gA-", "pair split over two runs");
	BAD("&AOk-&AOk-", "two runs back to back");
	BAD("a\nb", "raw newline");
	BAD("a\tb", "raw tab");
	BAD("\xc3\xa9", "raw UTF-8");
	BAD("a\x7f", "raw DEL");
	BAD("&&-", "'&' inside a run");
	BAD("&AOk &-", "space inside a run");
	bad_decode("a\0b", 3, "raw NUL");
#undef BAD
}

static void test_encode_errors(void)
{
	struct mp_error err;
	char *out = (char *)1, *big;

	ok(mutf7_encode("\xc3", 1, &out, &err) == MP_ERR_DATA && !out,
	   "truncated UTF-8 refused");
	ok(mutf7_encode("\xed\xa0\x80", 3, &out, &err) == MP_ERR_DATA,
	   "UTF-8 surrogate refused");
	ok(mutf7_encode("\xc0\xaf", 2, &out, &err) == MP_ERR_DATA,
	   "overlong UTF-8 refused");
	ok(mutf7_encode("a\0b", 3, &out, &err) == MP_ERR_DATA, "NUL refused");
	big = malloc(MUTF7_MAX + 1);
	memset(big, 'a', MUTF7_MAX + 1);
	ok(mutf7_encode(big, MUTF7_MAX + 1, &out, &err) == MP_ERR_DATA,
	   "encode: over MUTF7_MAX refused");
	ok(mutf7_decode(big, MUTF7_MAX + 1, &out, &err) == MP_ERR_PROTOCOL,
	   "decode: over MUTF7_MAX refused");
	ok(mutf7_decode(big, MUTF7_MAX, &out, &err) == MP_OK &&
	   strlen(out) == MUTF7_MAX, "decode: MUTF7_MAX bytes accepted");
	free(out);
	free(big);
}

static void test_round_trip(void)
{
	static const char *const names[] = {
		"\xd0\x9e\xd1\x82\xd0\xbf\xd1\x80\xd0\xb0\xd0\xb2\xd0\xbb\xd0"
		"\xb5\xd0\xbd\xd0\xbd\xd1\x8b\xd0\xb5",   /* Russian "Sent" */
		"\xe2\x82\xac \xc2\xa3 & $",
		"a&b&&c",
		"\xf0\x9f\x93\xa7 Mail \xf0\x9f\x98\x80\xf0\x9f\x98\x81",
		"\xef\xbf\xbd\xef\xbf\xbf",
		"\x1b[31mred",
		"\xf4\x8f\xbf\xbf",   /* U+10FFFF */
	};
	struct mp_error err;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *m = NULL, *u = NULL;

		ok(mutf7_encode(names[i], strlen(names[i]), &m, &err) == MP_OK &&
		   mutf7_decode(m, strlen(m), &u, &err) == MP_OK,
		   "round trip %zu: encodes and decodes", i);
		is_str(u, names[i], "round trip %zu", i);
		for (const char *p = m; p && *p; p++)
			if (*p < 0x20 || *p > 0x7e) {
				ok(0, "round trip %zu: encoded form not ASCII", i);
				break;
			}
		free(m);
		free(u);
	}
}

int main(void)
{
	test_examples();
	test_malformed();
	test_encode_errors();
	test_round_trip();
	return tap_done();
}
