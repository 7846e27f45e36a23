/* Unit tests for common/smtpdata.c: CRLF normalisation, dot-stuffing,
 * chunk boundaries anywhere, and the statistics the caller relies on. */
#include <stdlib.h>
#include <string.h>

#include "smtpdata.h"
#include "tap.h"

/* Encode in[0..len) fed in chunks of `step` bytes (0: one chunk). Returns
 * a NUL-terminated string the caller frees; *st gets the final state. */
static char *encode(enum smtpdata_mode mode, const char *in, size_t len,
		    size_t step, struct smtpdata *st)
{
	char *out = malloc(SMTPDATA_OUT_MAX(len) + SMTPDATA_FINISH_MAX + 1);
	size_t o = 0, i = 0;

	smtpdata_init(st, mode);
	if (step == 0)
		step = len ? len : 1;
	while (i < len) {
		size_t n = len - i < step ? len - i : step;

		o += smtpdata_feed(st, in + i, n, out + o);
		i += n;
	}
	o += smtpdata_finish(st, out + o);
	out[o] = '\0';
	return out;
}

/* The encoding must not depend on where the input is split. */
static void check(enum smtpdata_mode mode, const char *in, const char *want,
		  const char *what)
{
	size_t len = strlen(in);
	struct smtpdata st;
	char *got = encode(mode, in, len, 0, &st);
	bool same = true;

	is_str(got, want, "%s", what);
	is_int(st.out_bytes, strlen(want), "%s: out_bytes", what);
	free(got);
	for (size_t step = 1; step <= 3 && step < len + 1; step++) {
		got = encode(mode, in, len, step, &st);
		same = same && strcmp(got, want) == 0;
		free(got);
	}
	/* Two chunks split at every position. */
	for (size_t cut = 0; cut <= len; cut++) {
		char buf[512];
		size_t o;

		smtpdata_init(&st, mode);
		o = smtpdata_feed(&st, in, cut, buf);
		o += smtpdata_feed(&st, in + cut, len - cut, buf + o);
		o += smtpdata_finish(&st, buf + o);
		buf[o] = '\0';
		same = same && strcmp(buf, want) == 0;
	}
	ok(same, "%s: same output for every chunking", what);
}

static void test_encoding(void)
{
	check(SMTPDATA_DOT, "", ".\r\n", "empty message");
	check(SMTPDATA_DOT, "a\nb\n", "a\r\nb\r\n.\r\n", "LF becomes CRLF");
	check(SMTPDATA_DOT, "a\r\nb\r\n", "a\r\nb\r\n.\r\n", "CRLF stays");
	check(SMTPDATA_DOT, "a\r\nb\nc\r\n", "a\r\nb\r\nc\r\n.\r\n",
	      "mixed line ends");
	check(SMTPDATA_DOT, "a\nb", "a\r\nb\r\n.\r\n",
	      "missing final line end is added");
	check(SMTPDATA_DOT, "a\rb", "a\r\nb\r\n.\r\n", "bare CR ends a line");
	check(SMTPDATA_DOT, "a\r\r\nb\n", "a\r\n\r\nb\r\n.\r\n",
	      "CR CR LF is two line ends");
	check(SMTPDATA_DOT, ".\n", "..\r\n.\r\n", "a lone dot is stuffed");
	check(SMTPDATA_DOT, "x\n.\n", "x\r\n..\r\n.\r\n",
	      "a lone dot after a line is stuffed");
	check(SMTPDATA_DOT, ".a\n..b\nc.d\n", "..a\r\n...b\r\nc.d\r\n.\r\n",
	      "only line-initial dots are stuffed");
	check(SMTPDATA_DOT, "\r\n.\r\n", "\r\n..\r\n.\r\n",
	      "an embedded terminator is stuffed");
	check(SMTPDATA_DOT, "a\r.\r\n", "a\r\n..\r\n.\r\n",
	      "a dot after a bare CR is stuffed");
	check(SMTPDATA_DOT, "a\n\n\n", "a\r\n\r\n\r\n.\r\n", "empty lines");
	check(SMTPDATA_DOT, ".", "..\r\n.\r\n", "a dot without line end");
	check(SMTPDATA_BDAT, ".a\n.\nb", ".a\r\n.\r\nb\r\n",
	      "BDAT: no stuffing, no terminator");
	check(SMTPDATA_BDAT, "", "", "BDAT: empty message");
	check(SMTPDATA_BDAT, "a\rb\r\n", "a\r\nb\r\n", "BDAT: bare CR too");
}

static void test_stats(void)
{
	struct smtpdata st;
	char *out;

	out = encode(SMTPDATA_DOT, "abc\nabcdef\r\nab", 14, 0, &st);
	is_int(st.longest, 6, "longest line without its line end");
	is_int(st.msg_bytes, 17, "message size counts CRLF line ends");
	is_int(st.out_bytes, 20, "output size includes the terminator");
	ok(!st.saw_nul && !st.saw_8bit, "no NUL, no 8-bit");
	free(out);

	out = encode(SMTPDATA_DOT, ".\n", 2, 1, &st);
	is_int(st.longest, 1, "stuffing does not count toward line length");
	is_int(st.msg_bytes, 3, "stuffing does not count toward the size");
	is_int(st.out_bytes, 7, "but it is in the output size");
	free(out);

	out = encode(SMTPDATA_DOT, "a\0b\n", 4, 0, &st);
	ok(st.saw_nul, "NUL byte is reported");
	ok(memcmp(out, "a\0b\r\n", 5) == 0, "and passed through");
	free(out);

	out = encode(SMTPDATA_DOT, "caf\xc3\xa9\n", 6, 2, &st);
	ok(st.saw_8bit && !st.saw_nul, "8-bit byte is reported");
	free(out);

	{
		char big[2000];

		memset(big, 'x', sizeof(big));
		big[999] = '\n';
		out = encode(SMTPDATA_DOT, big, sizeof(big), 7, &st);
		is_int(st.longest, 1000, "longest line across many chunks");
		free(out);
	}
}

static void test_bound(void)
{
	static const char *const worst[] = { "\r\r\r\r", "\n\n\n\n", "....",
					     "\r.\r.", "\n.\n." };
	bool fits = true;

	for (size_t i = 0; i < sizeof(worst) / sizeof(worst[0]); i++) {
		for (size_t cut = 0; cut <= 4; cut++) {
			struct smtpdata st;
			char buf[64];
			size_t a, b;

			smtpdata_init(&st, SMTPDATA_DOT);
			a = smtpdata_feed(&st, worst[i], cut, buf);
			b = smtpdata_feed(&st, worst[i] + cut, 4 - cut, buf);
			fits = fits && a <= SMTPDATA_OUT_MAX(cut) &&
			       b <= SMTPDATA_OUT_MAX(4 - cut) &&
			       smtpdata_finish(&st, buf) <= SMTPDATA_FINISH_MAX;
		}
	}
	ok(fits, "output stays within SMTPDATA_OUT_MAX for the worst inputs");
}

int main(void)
{
	test_encoding();
	test_stats();
	test_bound();
	return tap_done();
}
