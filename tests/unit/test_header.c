/* Unit tests for common/header.c: folding, unfolding, user header checks. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "header.h"
#include "tap.h"

static void fold_is(const char *in, const char *want, const char *what)
{
	struct mp_error err;
	char *out = NULL;

	ok(header_fold(in, strlen(in), &out, &err) == MP_OK, "%s: folds", what);
	is_str(out, want, "%s", what);
	free(out);
}

/* Longest line of s (split at CRLF), and whether unfolding restores orig. */
static size_t longest(const char *s)
{
	size_t best = 0;

	for (;;) {
		const char *e = strstr(s, "\r\n");
		size_t n = e ? (size_t)(e - s) : strlen(s);

		if (n > best)
			best = n;
		if (!e)
			return best;
		s = e + 2;
	}
}

static bool unfolds_to(const char *folded, const char *orig)
{
	char *copy = strdup(folded);
	size_t n = header_unfold(copy, strlen(copy));
	bool same = n == strlen(orig) && memcmp(copy, orig, n) == 0;

	free(copy);
	return same;
}

static void test_fold(void)
{
	struct mp_error err;
	char in[1200], want[1300], *out;

	fold_is("Subject: hi", "Subject: hi", "short field unchanged");
	fold_is("", "", "empty field");

	/* "X: " + 20 words: 15 fit the first line exactly (77 chars). */
	strcpy(in, "X:");
	for (int i = 0; i < 20; i++)
		strcat(in, " word");
	strcpy(want, "X:");
	for (int i = 0; i < 15; i++)
		strcat(want, " word");
	strcat(want, "\r\n");
	for (int i = 0; i < 5; i++)
		strcat(want, " word");
	fold_is(in, want, "greedy fold before the blank");

	/* 78 characters fit, 79 do not. */
	memset(in, 'a', 76);
	memcpy(in, "X:", 2);
	in[2] = ' ';
	strcpy(in + 76, " b");
	fold_is(in, in, "a 78-character line stays");
	strcpy(in + 76, " bc");
	strcpy(want, in);
	memcpy(want + 76, "\r\n bc", 6);
	fold_is(in, want, "a 79-character line folds");

	/* Runs of blanks move to the next line whole. */
	memset(in, 'a', 76);
	memcpy(in, "X: ", 3);
	strcpy(in + 76, "  \tb");
	strcpy(want, in);
	memcpy(want + 76, "\r\n  \tb", 7);
	fold_is(in, want, "blank run starts the next line");

	/* Trailing blanks are no break point. */
	memset(in, 'a', 90);
	memcpy(in, "X:a", 3);
	strcpy(in + 90, "   ");
	fold_is(in, in, "no fold before trailing blanks");

	/* A long word goes on its own line, longer than 78. */
	strcpy(in, "X: ");
	memset(in + 3, 'a', 100);
	strcpy(in + 103, " b");
	strcpy(want, "X:\r\n ");
	memset(want + 5, 'a', 100);
	strcpy(want + 105, "\r\n b");
	fold_is(in, want, "long word on its own line");

	/* Over 998 without a break point is refused. */
	memset(in, 'a', 1000);
	memcpy(in, "X:", 2);
	in[1000] = '\0';
	ok(header_fold(in, 1000, &out, &err) == MP_ERR_DATA && !out,
	   "a 1000-character word is refused");
	in[998] = '\0';
	ok(header_fold(in, 998, &out, &err) == MP_OK && strlen(out) == 998,
	   "998 characters are allowed");
	free(out);
	in[2] = ' ';
	in[998] = 'a';
	in[1000] = '\0';
	ok(header_fold(in, 1000, &out, &err) == MP_OK && longest(out) == 998,
	   "a 997-character word fits a continuation line of 998");
	free(out);

	ok(header_fold("X: a\r\nBcc: y", 12, &out, &err) == MP_ERR_DATA,
	   "CR LF refused");
	ok(header_fold("X: a\0b", 6, &out, &err) == MP_ERR_DATA,
	   "NUL refused");

	/* Many lengths of words: lines <= 78 and unfolding restores. */
	{
		bool all = true;
		unsigned state = 7;

		for (int round = 0; round < 300; round++) {
			size_t n = 0;

			strcpy(in, "Subject:");
			n = strlen(in);
			while (n < 1000) {
				size_t w;

				state = state * 1103515245 + 12345;
				w = 1 + (state >> 16) % 30;
				in[n++] = (state >> 8) & 1 ? ' ' : '\t';
				if (n + w > 1100)
					break;
				memset(in + n, 'x', w);
				n += w;
			}
			in[n] = '\0';
			if (header_fold(in, n, &out, &err) != MP_OK) {
				all = false;
				continue;
			}
			all = all && longest(out) <= 78 && unfolds_to(out, in);
			free(out);
		}
		ok(all, "random word lengths: lines <= 78, unfold restores");
	}
}

static void test_unfold(void)
{
	char buf[64];
	size_t n;

	strcpy(buf, "Subject: a\r\n b\r\n\tc");
	n = header_unfold(buf, strlen(buf));
	buf[n] = '\0';
	is_str(buf, "Subject: a b\tc", "CRLF before blanks removed");
	strcpy(buf, "a\n b");
	n = header_unfold(buf, strlen(buf));
	buf[n] = '\0';
	is_str(buf, "a b", "bare LF before a blank removed");
	strcpy(buf, "a\r\nb\r\n");
	n = header_unfold(buf, strlen(buf));
	buf[n] = '\0';
	is_str(buf, "a\r\nb\r\n", "line ends not followed by blanks stay");
}

static void check_ok(const char *f, size_t want_name, size_t want_off)
{
	struct mp_error err;
	size_t name = 0, off = 0;

	ok(header_check(f, strlen(f), &name, &off, &err) == MP_OK &&
	   name == want_name && off == want_off, "header '%s' accepted", f);
}

static void test_check(void)
{
	static const char *const bad[] = {
		"X Foo: bar", ": bar", "X-Foo", "X-Foo bar", "X-Foo: a\r\nBcc: x",
		"X-Foo: a\nb", "X-Foo: a\rb", "X-Foo: a\x01", "X-Foo: \x7f",
		"X-F\xc3\xa9: a", "X-Foo\t: a", "",
	};
	struct mp_error err;
	size_t name, off;
	char big[HEADER_FIELD_MAX + 10];

	check_ok("X-Foo: bar", 5, 7);
	check_ok("X-Foo:bar", 5, 6);
	check_ok("X-Foo:", 5, 6);
	check_ok("X-Foo: \t bar", 5, 9);
	check_ok("X-Foo: caf\xc3\xa9", 5, 7);
	check_ok("X-Foo: a\tb", 5, 7);
	check_ok("Reply-To: a@b.c", 8, 10);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err.status = MP_OK;
		ok(header_check(bad[i], strlen(bad[i]), &name, &off, &err) ==
		   MP_ERR_USAGE && err.status == MP_ERR_USAGE && err.msg[0],
		   "bad header %zu refused", i);
	}
	ok(header_check("X-Foo: a\0b", 10, &name, &off, &err) == MP_ERR_USAGE,
	   "NUL in value refused");
	memset(big, 'N', 77);
	strcpy(big + 77, ": v");
	ok(header_check(big, strlen(big), &name, &off, &err) == MP_ERR_USAGE,
	   "77-character name refused");
	big[76] = ':';
	ok(header_check(big, strlen(big), &name, &off, &err) == MP_OK &&
	   name == 76, "76-character name accepted");
	memset(big, 'v', sizeof(big));
	memcpy(big, "X: ", 3);
	ok(header_check(big, HEADER_FIELD_MAX + 1, &name, &off, &err) ==
	   MP_ERR_USAGE, "over HEADER_FIELD_MAX refused");
	ok(header_check(big, HEADER_FIELD_MAX, &name, &off, &err) == MP_OK,
	   "HEADER_FIELD_MAX accepted");
}

int main(void)
{
	test_fold();
	test_unfold();
	test_check();
	return tap_done();
}
