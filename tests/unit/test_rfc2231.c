/* Unit tests for common/rfc2231.c: token, quoted-string, extended value,
 * continuations, and refusals. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rfc2231.h"
#include "tap.h"

static void param_is(const char *value, const char *want, const char *what)
{
	struct mp_error err;
	char *out = NULL;

	ok(rfc2231_param("filename", value, strlen(value), &out, &err) == MP_OK,
	   "%s: accepted", what);
	is_str(out, want, "%s", what);
	free(out);
}

static int hexval(char c)
{
	return c >= 'A' ? c - 'A' + 10 : c - '0';
}

/* Undo continuations: each piece <= 76, numbered in order, "%" escapes
 * whole; the decoded concatenation is returned (caller frees) or NULL. */
static char *reassemble(const char *s)
{
	char *out = malloc(strlen(s) + 1);
	size_t o = 0;
	unsigned part = 0;

	while (*s) {
		const char *end = strstr(s, "; ");
		size_t n = end ? (size_t)(end - s) : strlen(s);
		char head[32];
		size_t h;

		snprintf(head, sizeof(head), "filename*%u*=%s", part,
			 part == 0 ? "utf-8''" : "");
		h = strlen(head);
		if (n > 76 || strncmp(s, head, h) != 0)
			goto bad;
		for (size_t i = h; i < n; i++) {
			if (s[i] == '%') {
				if (i + 2 >= n)
					goto bad;   /* split escape */
				out[o++] = (char)(hexval(s[i + 1]) << 4 |
						  hexval(s[i + 2]));
				i += 2;
			} else {
				out[o++] = s[i];
			}
		}
		part++;
		s += n;
		if (*s)
			s += 2;
	}
	out[o] = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

static void test_forms(void)
{
	char in[300], want[700];

	param_is("report.pdf", "filename=report.pdf", "a token");
	param_is("my report.pdf", "filename=\"my report.pdf\"", "a blank: quoted");
	param_is("a\"b\\c.txt", "filename=\"a\\\"b\\\\c.txt\"",
		 "quote and backslash escaped");
	param_is("x(1).txt", "filename=\"x(1).txt\"", "tspecials: quoted");
	param_is("r\xc3\xa9sum\xc3\xa9.pdf",
		 "filename*=utf-8''r%C3%A9sum%C3%A9.pdf", "UTF-8: extended");
	param_is("a\tb", "filename*=utf-8''a%09b", "a TAB: extended");
	param_is("100% sure.txt", "filename=\"100% sure.txt\"",
		 "percent in quotes stays");
	param_is("a'b*c%d.txt", "filename=a'b*c%d.txt",
		 "token characters stay");

	/* A token of 67 fits "filename=" (9) + 67 = 76; 68 does not. */
	memset(in, 'a', 67);
	in[67] = '\0';
	strcpy(want, "filename=");
	strcat(want, in);
	param_is(in, want, "a 76-character token piece");
	memset(in, 'a', 68);
	in[68] = '\0';
	/* 76 - strlen("filename*0*=utf-8''") = 57 on the first piece. */
	snprintf(want, sizeof(want), "filename*0*=utf-8''%.57s; filename*1*=%s",
		 in, in + 57);
	param_is(in, want, "a longer token no longer fits: continuations");
}

static void test_continuations(void)
{
	struct mp_error err;
	char in[1200], *out, *back;

	/* 60 e-acute: 360 characters percent-encoded: continuations. */
	for (int i = 0; i < 60; i++)
		memcpy(in + 2 * i, "\xc3\xa9", 2);
	ok(rfc2231_param("filename", in, 120, &out, &err) == MP_OK,
	   "long UTF-8 name accepted");
	ok(strncmp(out, "filename*0*=utf-8''%C3%A9", 25) == 0,
	   "first piece has the charset");
	back = reassemble(out);
	ok(back && strlen(back) == 120 && memcmp(back, in, 120) == 0,
	   "pieces <= 76, in order, escapes whole, reassemble to the name");
	{
		/* No piece may end inside a UTF-8 sequence either. */
		bool whole = true;

		for (const char *p = strstr(out, "; "); p; p = strstr(p + 1, "; "))
			whole = whole && strncmp(p - 3, "%A9", 3) == 0;
		ok(whole, "pieces end on character boundaries");
	}
	free(back);
	free(out);

	memset(in, 'x', 200);
	ok(rfc2231_param("filename", in, 200, &out, &err) == MP_OK &&
	   (back = reassemble(out)) != NULL && strlen(back) == 200,
	   "long ASCII name in continuations");
	free(back);
	free(out);

	memset(in, 'y', RFC2231_MAX);
	ok(rfc2231_param("name", in, RFC2231_MAX, &out, &err) == MP_OK,
	   "RFC2231_MAX bytes accepted");
	free(out);
}

static void test_bad(void)
{
	static const struct {
		const char *v;
		size_t len;
		enum mp_status want;
	} bad[] = {
		{ "a\r\nb", 4, MP_ERR_USAGE },
		{ "a\nb", 3, MP_ERR_USAGE },
		{ "a\0b", 3, MP_ERR_USAGE },
		{ "", 0, MP_ERR_USAGE },
		{ "caf\xe9.txt", 8, MP_ERR_DATA },
	};
	struct mp_error err;
	char *out, *big;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		out = (char *)1;
		ok(rfc2231_param("filename", bad[i].v, bad[i].len, &out, &err) ==
		   bad[i].want && out == NULL && err.msg[0],
		   "bad value %zu refused", i);
	}
	big = malloc(RFC2231_MAX + 1);
	memset(big, 'a', RFC2231_MAX + 1);
	ok(rfc2231_param("filename", big, RFC2231_MAX + 1, &out, &err) ==
	   MP_ERR_USAGE, "over RFC2231_MAX refused");
	free(big);
}

int main(void)
{
	test_forms();
	test_continuations();
	test_bad();
	return tap_done();
}
