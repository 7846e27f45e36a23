/* Unit tests for common/rfc2047.c: exact encodings, Q/B choice, word
 * lengths, UTF-8 boundaries, phrases, errors, and round trips. */
#include <stdlib.h>
#include <string.h>

#include "rfc2047.h"
#include "tap.h"
#include "utf8.h"

static void enc_is(const char *in, enum rfc2047_mode mode, const char *want,
		   const char *what)
{
	struct mp_error err;
	char *out = NULL;

	ok(rfc2047_encode(in, strlen(in), mode, &out, &err) == MP_OK,
	   "%s: encodes", what);
	is_str(out, want, "%s", what);
	free(out);
}

static void test_text(void)
{
	enc_is("", RFC2047_TEXT, "", "empty");
	enc_is("Hello world", RFC2047_TEXT, "Hello world", "ASCII unchanged");
	enc_is("  odd\tspacing  ", RFC2047_TEXT, "  odd\tspacing  ",
	       "ASCII whitespace unchanged");
	enc_is("Z\xc3\xbcrich", RFC2047_TEXT, "=?UTF-8?Q?Z=C3=BCrich?=",
	       "Q when shorter");
	enc_is("J\xc3\xb6rg", RFC2047_TEXT, "=?UTF-8?B?SsO2cmc=?=",
	       "B when shorter");
	enc_is("R\xc3\xa9union du 12 mai", RFC2047_TEXT,
	       "=?UTF-8?Q?R=C3=A9union?= du 12 mai",
	       "only the non-ASCII word is encoded (Q on a tie)");
	enc_is("Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln", RFC2047_TEXT,
	       "=?UTF-8?B?R3LDvMOfZQ==?= aus =?UTF-8?B?S8O2bG4=?=",
	       "ASCII word between encoded words stays");
	enc_is("Cr\xc3\xa8me br\xc3\xbbl\xc3\xa9" "e", RFC2047_TEXT,
	       "=?UTF-8?B?Q3LDqG1lIGJyw7tsw6ll?=",
	       "adjacent words share one run, space inside");
	enc_is("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\xa1"
	       "\xe3\x83\xbc\xe3\x83\xab", RFC2047_TEXT,
	       "=?UTF-8?B?5pel5pys6Kqe44Gu44Oh44O844Or?=", "CJK in B");
	enc_is("see =?x?Q?y?= here", RFC2047_TEXT,
	       "see =?UTF-8?B?PT94P1E/eT89?= here",
	       "a literal \"=?\" word is protected");
	enc_is("a=b ?= ok", RFC2047_TEXT, "a=b ?= ok",
	       "'=' and '?' apart are harmless");
	enc_is("tab\x01" "ctl", RFC2047_TEXT, "=?UTF-8?Q?tab=01ctl?=",
	       "control bytes are encoded");
	enc_is("a_b?c=d \xc3\xa9", RFC2047_TEXT, "a_b?c=d =?UTF-8?B?w6k=?=",
	       "'_', '?', '=' outside encoded words stay");
	enc_is("x_y?=z\xc3\xa9" "abcdefghijklmnopqrstuvwxyz", RFC2047_TEXT,
	       "=?UTF-8?Q?x=5Fy=3F=3Dz=C3=A9abcdefghijklmnopqrstuvwxyz?=",
	       "'_', '?' and '=' escaped in Q");
}

/* Every encoded-word at most 75 chars and decodable to valid UTF-8 alone. */
static bool words_ok(const char *s)
{
	const char *p = s;

	while (*p) {
		size_t n = strcspn(p, " ");

		if (n >= 2 && p[0] == '=' && p[1] == '?') {
			char *alone;
			bool good;

			if (n > 75)
				return false;
			rfc2047_decode(p, n, &alone);
			good = utf8_valid(alone, strlen(alone)) &&
			       strcmp(alone, "") != 0;
			free(alone);
			if (!good)
				return false;
		}
		p += n;
		while (*p == ' ')
			p++;
	}
	return true;
}

static void test_long(void)
{
	struct mp_error err;
	char in[400], want[200], *out;

	/* 100 CJK characters: 300 bytes, B, 45 bytes (15 chars) a word. */
	for (int i = 0; i < 100; i++)
		memcpy(in + 3 * i, "\xe6\x97\xa5", 3);
	ok(rfc2047_encode(in, 300, RFC2047_TEXT, &out, &err) == MP_OK,
	   "long CJK text encodes");
	ok(words_ok(out), "every word <= 75 and whole characters");
	/* Six words of 45 bytes (72 characters), one of 30 (52), 6 blanks. */
	ok(strncmp(out, "=?UTF-8?B?", 10) == 0 && strlen(out) == 6 * 72 + 52 + 6,
	   "seven B words for 100 characters");
	free(out);

	/* A 100-character ASCII word cannot be folded: split into Q words. */
	memset(in, 'x', 100);
	in[100] = '\0';
	strcpy(want, "=?UTF-8?Q?");
	memset(want + 10, 'x', 63);
	strcpy(want + 73, "?= =?UTF-8?Q?");
	memset(want + 86, 'x', 37);
	strcpy(want + 123, "?=");
	enc_is(in, RFC2047_TEXT, want, "an overlong word is split");
	memset(in, 'x', 77);
	in[77] = '\0';
	enc_is(in, RFC2047_TEXT, in, "a 77-character word stays");

	/* Mixed 2-byte characters never split across words. */
	for (int i = 0; i < 90; i++)
		memcpy(in + 2 * i, i % 3 ? "\xc3\xa9" : "a ", 2);
	ok(rfc2047_encode(in, 180, RFC2047_TEXT, &out, &err) == MP_OK &&
	   words_ok(out), "mixed text: words <= 75, no split characters");
	free(out);
}

static void test_phrase(void)
{
	enc_is("John Smith", RFC2047_PHRASE, "John Smith", "atoms stay");
	enc_is("", RFC2047_PHRASE, "", "empty name");
	enc_is("Smith, John", RFC2047_PHRASE, "\"Smith, John\"",
	       "specials are quoted");
	enc_is("John Q. Public", RFC2047_PHRASE, "\"John Q. Public\"",
	       "a dot is quoted");
	enc_is("a \"b\" c\\", RFC2047_PHRASE, "\"a \\\"b\\\" c\\\\\"",
	       "quote and backslash escaped");
	enc_is("John  Smith", RFC2047_PHRASE, "\"John  Smith\"",
	       "double space kept by quoting");
	enc_is(" John", RFC2047_PHRASE, "\" John\"", "leading space quoted");
	enc_is("=?x?=", RFC2047_PHRASE, "\"=?x?=\"",
	       "a look-alike encoded-word is quoted");
	enc_is("J\xc3\xb6rg M\xc3\xbcller", RFC2047_PHRASE,
	       "=?UTF-8?B?SsO2cmcgTcO8bGxlcg==?=", "non-ASCII name encoded whole");
	enc_is("M\xc3\xbcller, Hans-Peter", RFC2047_PHRASE,
	       "=?UTF-8?Q?M=C3=BCller=2C_Hans-Peter?=",
	       "phrase Q escapes ',' (RFC 2047 5.3)");
	enc_is("M\xc3\xbcller (IT) <x> Hans-Peter Schmidt-Lauterbach",
	       RFC2047_PHRASE,
	       "=?UTF-8?Q?M=C3=BCller_=28IT=29_=3Cx=3E_Hans-Peter_"
	       "Schmidt-Lauterbach?=",
	       "phrase Q escapes parens and angles");
	enc_is("Cron Daemon", RFC2047_PHRASE, "Cron Daemon", "cron's name");
}

static void test_errors(void)
{
	static const struct {
		const char *in;
		size_t len;
		enum mp_status want;
		const char *what;
	} bad[] = {
		{ "a\r\nBcc: x", 9, MP_ERR_USAGE, "CRLF" },
		{ "a\nb", 3, MP_ERR_USAGE, "LF" },
		{ "a\0b", 3, MP_ERR_USAGE, "NUL" },
		{ "\xc3(", 2, MP_ERR_DATA, "bad continuation" },
		{ "\xc3", 1, MP_ERR_DATA, "truncated sequence" },
		{ "\xc0\xaf", 2, MP_ERR_DATA, "overlong form" },
		{ "\xed\xa0\x80", 3, MP_ERR_DATA, "surrogate" },
		{ "\xf4\x90\x80\x80", 4, MP_ERR_DATA, "above U+10FFFF" },
		{ "\xff", 1, MP_ERR_DATA, "0xff" },
	};
	struct mp_error err;
	char *out, *big;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		out = (char *)1;
		err.status = MP_OK;
		for (int m = 0; m < 2; m++)
			ok(rfc2047_encode(bad[i].in, bad[i].len,
					  m ? RFC2047_PHRASE : RFC2047_TEXT,
					  &out, &err) == bad[i].want &&
			   err.status == bad[i].want && out == NULL &&
			   err.msg[0], "%s refused (%s)", bad[i].what,
			   m ? "phrase" : "text");
	}
	big = malloc(RFC2047_MAX + 1);
	memset(big, 'a', RFC2047_MAX + 1);
	ok(rfc2047_encode(big, RFC2047_MAX + 1, RFC2047_TEXT, &out, &err) ==
	   MP_ERR_USAGE, "over RFC2047_MAX refused");
	free(big);
}

static void dec_is(const char *in, const char *want, const char *what)
{
	char *out;

	rfc2047_decode(in, strlen(in), &out);
	is_str(out, want, "decode: %s", what);
	free(out);
}

static void test_decode(void)
{
	dec_is("plain text", "plain text", "plain text");
	dec_is("=?UTF-8?Q?a?= =?UTF-8?Q?b?=", "ab",
	       "space between encoded words dropped");
	dec_is("=?utf-8?q?a_b?=", "a b", "lower case, underscore");
	dec_is("x =?UTF-8?B?w6k=?= y", "x \xc3\xa9 y", "B between text");
	dec_is("=?ISO-8859-1?Q?a?=", "=?ISO-8859-1?Q?a?=",
	       "other charsets left alone");
	dec_is("=?UTF-8?Q?a?=\r\n =?UTF-8?Q?b?=", "ab", "folded words");
	dec_is("a\r\n b", "a b", "unfolded");
	dec_is("=?UTF-8?Q?=ZZ?=", "=?UTF-8?Q?=ZZ?=", "bad Q left alone");
	dec_is("=?UTF-8?B?w6k?=", "=?UTF-8?B?w6k?=", "bad B left alone");
	dec_is("a=?UTF-8?Q?b?=", "a=?UTF-8?Q?b?=", "not a separate word");
	dec_is("=?UTF-8*en?Q?hi?=", "hi", "language tag");
	dec_is("=?UTF-8?Q?a?= b =?UTF-8?Q?c?=", "a b c",
	       "space next to plain text kept");
}

static void test_round_trip(void)
{
	static const char *const texts[] = {
		"Hello world",
		"Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln",
		"  two  spaces  \xc3\xa9  ",
		"\xc3\xa9\t\xc3\xa9",
		"=?UTF-8?Q?fake?= \xe2\x82\xac",
		"price: 5 \xe2\x82\xac (approx.) _under_score_",
		"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80 emoji",
		"a\xc3\xa9 \xc3\xa9 \xc3\xa9 b",
	};
	struct mp_error err;

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		char *enc, *dec;

		if (rfc2047_encode(texts[i], strlen(texts[i]), RFC2047_TEXT,
				   &enc, &err) != MP_OK) {
			ok(0, "round trip %zu: encode failed: %s", i, err.msg);
			continue;
		}
		rfc2047_decode(enc, strlen(enc), &dec);
		is_str(dec, texts[i], "round trip %zu", i);
		ok(words_ok(enc), "round trip %zu: words well-formed", i);
		free(enc);
		free(dec);
	}
}

int main(void)
{
	test_text();
	test_long();
	test_phrase();
	test_errors();
	test_decode();
	test_round_trip();
	return tap_done();
}
