/* Unit tests for common/mboxrd.c: quoting of ">*From " lines, CRLF to LF,
 * the message end, chunking anywhere, and reading back. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mboxrd.h"
#include "tap.h"

/* Quote in[0..len) in chunks of step bytes (0: one chunk). The caller
 * frees the NUL-terminated result; *outlen its length. */
static char *quote(const char *in, size_t len, size_t step, size_t *outlen)
{
	struct mboxrd_quote q;
	char *out = malloc(MBOXRD_QUOTE_MAX(len) + len + 64);
	size_t o = 0, i = 0;

	mboxrd_quote_init(&q);
	if (step == 0)
		step = len ? len : 1;
	while (i < len) {
		size_t n = len - i < step ? len - i : step;

		o += mboxrd_quote_feed(&q, in + i, n, out + o);
		i += n;
	}
	o += mboxrd_quote_finish(&q, out + o);
	out[o] = '\0';
	*outlen = o;
	return out;
}

static void check(const char *in, const char *want, const char *what)
{
	size_t len = strlen(in), olen;
	char *got = quote(in, len, 0, &olen);
	bool same = true;

	is_str(got, want, "%s", what);
	free(got);
	for (size_t step = 1; step <= 4; step++) {
		got = quote(in, len, step, &olen);
		same = same && strcmp(got, want) == 0;
		free(got);
	}
	for (size_t cut = 0; cut <= len; cut++) {
		struct mboxrd_quote q;
		char buf[1024];
		size_t o;

		mboxrd_quote_init(&q);
		o = mboxrd_quote_feed(&q, in, cut, buf);
		o += mboxrd_quote_feed(&q, in + cut, len - cut, buf + o);
		o += mboxrd_quote_finish(&q, buf + o);
		buf[o] = '\0';
		same = same && strcmp(buf, want) == 0;
	}
	ok(same, "%s: same output for every chunking", what);
}

/* Read an mbox body back (as a reader would: lines, unquoted, the final
 * empty line dropped). Returns false on a separator line. */
static bool unquote(const char *mb, size_t len, char *out, size_t *olen)
{
	size_t i = 0, o = 0;

	while (i < len) {
		const char *lf = memchr(mb + i, '\n', len - i);
		size_t end = lf ? (size_t)(lf - mb) : len;
		const char *u;
		size_t ulen;

		if (mboxrd_read_line(mb + i, end - i, &u, &ulen) != MBOXRD_BODY)
			return false;
		memcpy(out + o, u, ulen);
		o += ulen;
		out[o++] = '\n';
		i = end + 1;
	}
	/* The empty line that ends every message. */
	if (o == 0 || out[o - 1] != '\n')
		return false;
	o--;
	*olen = o;
	return true;
}

int main(void)
{
	const char *u;
	size_t ulen;

	check("hello\n", "hello\n\n", "plain line");
	check("From me\n", ">From me\n\n", "From line quoted");
	check(">From me\n", ">>From me\n\n", ">From line quoted again");
	check(">>>From x\n", ">>>>From x\n\n", ">>>From line");
	check("a\nFrom b\nc\n>From d\n", "a\n>From b\nc\n>>From d\n\n",
	      "From lines in the middle");
	check("From \n", ">From \n\n", "From and a space only");
	check("From\n", "From\n\n", "no space: not quoted");
	check("Fromage\n", "Fromage\n\n", "Fromage: not quoted");
	check(" From x\n", " From x\n\n", "indented: not quoted");
	check(">\n>>\n> From\n", ">\n>>\n> From\n\n", "quote marks alone");
	check("x From y\n", "x From y\n\n", "From mid-line");
	check("From", "From\n\n", "an unfinished From at the end");
	check(">>", ">>\n\n", "unfinished quote marks at the end");
	check("a\r\nFrom b\r\n", "a\n>From b\n\n", "CRLF becomes LF");
	check("a\rb\n", "a\rb\n\n", "a lone CR stays");
	check("a\r\r\nb", "a\r\nb\n\n", "CR CR LF");
	check("a\r", "a\r\n\n", "a CR at the very end");
	check("\r\nFrom x", "\n>From x\n\n", "empty CRLF line, then From");
	check("no newline", "no newline\n\n", "a final newline is added");
	check("", "\n", "an empty message");
	check("\n", "\n\n", "one empty line");
	check("a\n\n", "a\n\n\n", "a message ending in an empty line");

	/* The quoter is ready for the next message after finish. */
	{
		struct mboxrd_quote q;
		char buf[64];
		size_t o;

		mboxrd_quote_init(&q);
		o = mboxrd_quote_feed(&q, "x", 1, buf);
		o += mboxrd_quote_finish(&q, buf + o);
		o += mboxrd_quote_feed(&q, "From y", 6, buf + o);
		o += mboxrd_quote_finish(&q, buf + o);
		buf[o] = '\0';
		is_str(buf, "x\n\n>From y\n\n", "two messages through one quoter");
	}

	/* The worst growth: every line quoted. */
	{
		size_t len = 6 * 1000, olen;
		char *in = malloc(len);
		char *out;

		for (size_t i = 0; i < len; i += 6)
			memcpy(in + i, "From \n", 6);
		out = quote(in, len, 0, &olen);
		is_int(olen, len + 1000 + 1, "every line quoted: one byte each");
		ok(olen - 1 <= MBOXRD_QUOTE_MAX(len), "within MBOXRD_QUOTE_MAX");
		free(out);
		free(in);
	}

	/* Reading. */
	ok(mboxrd_read_line("From a b", 8, &u, &ulen) == MBOXRD_SEPARATOR,
	   "From line is a separator");
	ok(mboxrd_read_line(">From a", 7, &u, &ulen) == MBOXRD_BODY &&
	   ulen == 6 && memcmp(u, "From a", 6) == 0, ">From loses one '>'");
	ok(mboxrd_read_line(">>From ", 7, &u, &ulen) == MBOXRD_BODY &&
	   ulen == 6 && memcmp(u, ">From ", 6) == 0, ">>From loses one '>'");
	ok(mboxrd_read_line(">From", 5, &u, &ulen) == MBOXRD_BODY &&
	   ulen == 5 && memcmp(u, ">From", 5) == 0, ">From without space is kept");
	ok(mboxrd_read_line(">> x", 4, &u, &ulen) == MBOXRD_BODY && ulen == 4,
	   "a quoted reply is kept");
	ok(mboxrd_read_line("", 0, &u, &ulen) == MBOXRD_BODY && ulen == 0,
	   "an empty line");
	ok(mboxrd_read_line("From", 4, &u, &ulen) == MBOXRD_BODY,
	   "From without space is a body line");

	/* Round trip. */
	{
		const char *msg = "From: a@b\nSubject: x\n\nFrom here\n>From there\n"
				  ">>From everywhere\n.\nFrom\n\nend\n";
		size_t len = strlen(msg), qlen, rlen = 0;
		char *q = quote(msg, len, 3, &qlen);
		char back[512];
		bool okay = unquote(q, qlen, back, &rlen);

		ok(okay && rlen == len && memcmp(back, msg, len) == 0,
		   "a message survives quote and unquote");
		free(q);
	}
	return tap_done();
}
