/* Unit tests for common/qp.c: exact encodings, line lengths, the line
 * starts that must be hidden from dot-stuffing and mbox quoting, chunking,
 * and decode(encode(x)) round trips. */
#include <stdlib.h>
#include <string.h>

#include "qp.h"
#include "tap.h"

/* Encode in[0..len) in chunks of step bytes (0: one chunk); caller frees. */
static char *encode(const char *in, size_t len, size_t step)
{
	struct qp_enc q;
	char *out = malloc(QP_ENCODE_MAX(len) * 2 + QP_FINISH_MAX + 1);
	size_t o = 0, i = 0;

	qp_encode_init(&q);
	if (step == 0)
		step = len ? len : 1;
	while (i < len) {
		size_t n = len - i < step ? len - i : step;
		size_t w = qp_encode_feed(&q, in + i, n, out + o);

		if (w > QP_ENCODE_MAX(n))
			abort();
		o += w;
		i += n;
	}
	o += qp_encode_finish(&q, out + o);
	out[o] = '\0';
	return out;
}

static void check(const char *in, const char *want, const char *what)
{
	size_t len = strlen(in);
	char *got = encode(in, len, 0);
	bool same = true;

	is_str(got, want, "%s", what);
	free(got);
	for (size_t step = 1; step <= 4; step++) {
		got = encode(in, len, step);
		same = same && strcmp(got, want) == 0;
		free(got);
	}
	ok(same, "%s: same output for every chunking", what);
}

static void test_exact(void)
{
	char in[200], want[300];

	check("", "", "empty");
	check("hello world", "hello world", "plain text is unchanged");
	check("a=b", "a=3Db", "'=' is encoded");
	check("caf\xc3\xa9", "caf=C3=A9", "8-bit bytes are encoded");
	check("a\x01z\x7f", "a=01z=7F", "controls are encoded");
	check("a\tb", "a\tb", "inner TAB stays");
	check("trailing \n", "trailing=20\r\n", "space before LF is encoded");
	check("tab\t\r\nx", "tab=09\r\nx", "TAB before CRLF is encoded");
	check("end ", "end=20", "space at the end is encoded");
	check("two  \n", "two =20\r\n", "only the last blank needs encoding");
	check("line1\r\nline2\nline3", "line1\r\nline2\r\nline3",
	      "CRLF and LF both become CRLF");
	check("x\ry", "x=0Dy", "bare CR is data");
	check("x \ry", "x =0Dy", "blank before a bare CR stays");
	check("x\r", "x=0D", "bare CR at the end");
	check(".\n", "=2E\r\n", "leading dot is encoded");
	check("a\n.b", "a\r\n=2Eb", "dot starting a later line is encoded");
	check("a.b", "a.b", "inner dot stays");
	check("From me\n", "=46rom me\r\n", "\"From \" at a line start is hidden");
	check("x\nFrom y", "x\r\n=46rom y", "on a later line too");
	check("From", "From", "\"From\" alone at the end stays");
	check("From\n", "From\r\n", "\"From\" then a line end stays");
	check("Fromage\n", "Fromage\r\n", "\"Fromage\" stays");
	check("Fro", "Fro", "a held prefix is flushed at the end");
	check("FFrom x", "FFrom x", "\"From \" not at a line start stays");
	check("a From b", "a From b", "inner \"From \" stays");
	check("From  \n", "=46rom =20\r\n", "\"From \" then blanks");

	/* 100 'a': 75 on the first line, a soft break, then 25. */
	memset(in, 'a', 100);
	in[100] = '\0';
	memset(want, 'a', 75);
	memcpy(want + 75, "=\r\n", 3);
	memset(want + 78, 'a', 25);
	want[103] = '\0';
	check(in, want, "long line gets a soft break after 75");

	/* 75 'a' then '.': the dot would start the continuation line. */
	memset(in, 'a', 75);
	strcpy(in + 75, ".");
	memset(want, 'a', 75);
	strcpy(want + 75, "=\r\n=2E");
	check(in, want, "dot after a soft break is encoded");
	strcpy(in + 75, "From x");
	strcpy(want + 75, "=\r\n=46rom x");
	check(in, want, "F after a soft break is encoded");

	/* 74 'a' then "=": =3D no longer fits the line. */
	memset(in, 'a', 74);
	strcpy(in + 74, "=");
	memset(want, 'a', 74);
	strcpy(want + 74, "=\r\n=3D");
	check(in, want, "an escape is never split by a soft break");

	/* 75 chars exactly then a line end: no soft break needed. */
	memset(in, 'a', 75);
	strcpy(in + 75, "\n");
	memset(want, 'a', 75);
	strcpy(want + 75, "\r\n");
	check(in, want, "75 characters fit one line");
}

static bool decode_is(const char *text, const char *want, size_t wlen)
{
	unsigned char out[256];
	size_t n;

	return qp_decode(text, strlen(text), out, &n) && n == wlen &&
	       memcmp(out, want, wlen) == 0;
}

static void test_decode(void)
{
	unsigned char out[64];
	size_t n;

	ok(decode_is("a=3Db", "a=b", 3), "decode =3D");
	ok(decode_is("caf=c3=a9", "caf\xc3\xa9", 5), "lower-case hex");
	ok(decode_is("ab=\r\ncd", "abcd", 4), "soft break with CRLF");
	ok(decode_is("ab=\ncd", "abcd", 4), "soft break with LF");
	ok(decode_is("a \r\nb", "a\r\nb", 4), "blank before a line end dropped");
	ok(decode_is("a \t", "a", 1), "blank at the end dropped");
	ok(decode_is("a b =\r\nc", "a b c", 5), "blank before a soft break kept");
	ok(decode_is("=00", "\0", 1), "=00 is a NUL byte");
	ok(!qp_decode("a=zz", 4, out, &n), "bad hex refused");
	ok(!qp_decode("a=4", 3, out, &n), "truncated escape refused");
	ok(!qp_decode("a=", 2, out, &n), "lone '=' at the end refused");
	ok(!qp_decode("a=\rb", 4, out, &n), "'=' CR without LF refused");
}

/* Lines at most 76, none starting with '.' or "From ". */
static bool well_formed(const char *e)
{
	const char *line = e;

	for (;;) {
		const char *end = strstr(line, "\r\n");
		size_t n = end ? (size_t)(end - line) : strlen(line);

		if (n > 76 || line[0] == '.' || strncmp(line, "From ", 5) == 0)
			return false;
		for (size_t i = 0; i < n; i++)
			if (line[i] == '\r' || line[i] == '\n' ||
			    (unsigned char)line[i] >= 0x7f ||
			    ((unsigned char)line[i] < ' ' && line[i] != '\t'))
				return false;
		if (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
			return false;
		if (!end)
			return true;
		line = end + 2;
	}
}

static void test_round_trip(void)
{
	unsigned state = 12345;
	bool all_ok = true, all_formed = true;

	for (int round = 0; round < 500; round++) {
		char in[600], norm[1200];
		size_t len = 0, nlen = 0, dlen;
		char *enc;
		unsigned char *dec;

		/* Text biased toward the interesting bytes. */
		state = state * 1103515245 + 12345;
		len = (state >> 16) % sizeof(in);
		for (size_t i = 0; i < len; i++) {
			static const char pick[] = "aF. \t\r\n=From.";

			state = state * 1103515245 + 12345;
			in[i] = (state >> 16) % 3 ? pick[(state >> 20) % 13]
						  : (char)(state >> 8);
		}
		for (size_t i = 0; i < len; i++) {
			if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
				norm[nlen++] = '\r';
			norm[nlen++] = in[i];
		}
		enc = encode(in, len, (size_t)round % 7);
		dec = malloc(strlen(enc) + 1);
		all_formed = all_formed && well_formed(enc);
		all_ok = all_ok && qp_decode(enc, strlen(enc), dec, &dlen) &&
			 dlen == nlen && memcmp(dec, norm, nlen) == 0;
		free(enc);
		free(dec);
	}
	ok(all_formed, "random text encodes to well-formed lines");
	ok(all_ok, "random text round-trips (LF normalised to CRLF)");
}

int main(void)
{
	test_exact();
	test_decode();
	test_round_trip();
	return tap_done();
}
