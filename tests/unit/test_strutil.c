/* Unit tests for common/strutil.c and common/error.c. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "strutil.h"
#include "tap.h"

static void test_strlcpy(void)
{
	char buf[6];

	ok(mp_strlcpy(buf, "hello", sizeof(buf)), "strlcpy: exact fit");
	is_str(buf, "hello", "strlcpy: exact fit copied");
	ok(!mp_strlcpy(buf, "hello!", sizeof(buf)), "strlcpy: one too long");
	is_str(buf, "hello", "strlcpy: truncated and terminated");
	ok(mp_strlcpy(buf, "", sizeof(buf)), "strlcpy: empty");
	is_str(buf, "", "strlcpy: empty copied");
	memset(buf, 'x', sizeof(buf));
	ok(!mp_strlcpy(buf, "a", 1), "strlcpy: size 1 cannot hold 'a'");
	is_int(buf[0], 0, "strlcpy: size 1 leaves an empty string");
	ok(buf[1] == 'x', "strlcpy: size 1 writes one byte only");
	ok(!mp_strlcpy(buf, "a", 0), "strlcpy: size 0 fails");
	ok(buf[1] == 'x', "strlcpy: size 0 writes nothing");
}

static void test_line_break(void)
{
	ok(!mp_has_line_break("user@example.com", 16), "no line break");
	ok(mp_has_line_break("a\rb", 3), "CR found");
	ok(mp_has_line_break("a\nb", 3), "LF found");
	ok(mp_has_line_break("a\0b", 3), "NUL found");
	ok(!mp_has_line_break("ab\n", 2), "only the given length is checked");
	ok(!mp_has_line_break("", 0), "empty has none");
	ok(!mp_has_line_break("tab\there", 8), "a tab is not a line break");
}

static void test_word_in_list(void)
{
	const char *caps = "PLAIN LOGIN  XOAUTH2\tSCRAM-SHA-256";

	ok(mp_word_in_list(caps, "PLAIN"), "first word");
	ok(mp_word_in_list(caps, "plain"), "case-insensitive");
	ok(mp_word_in_list(caps, "XOAUTH2"), "after two blanks");
	ok(mp_word_in_list(caps, "scram-sha-256"), "after a tab, last word");
	ok(!mp_word_in_list(caps, "SCRAM-SHA-1"), "prefix of a word is no match");
	ok(!mp_word_in_list(caps, "LOG"), "part of a word is no match");
	ok(!mp_word_in_list(caps, "LOGIN XOAUTH2"), "two words are no word");
	ok(!mp_word_in_list("", "PLAIN"), "empty list");
	ok(!mp_word_in_list(caps, ""), "empty word");
	ok(!mp_word_in_list(NULL, "PLAIN"), "NULL list");
}

static void test_skip_prefix(void)
{
	is_str(mp_skip_prefix("AUTH=PLAIN", "auth="), "PLAIN", "prefix any case");
	is_str(mp_skip_prefix("SIZE", "SIZE"), "", "prefix is the whole string");
	ok(mp_skip_prefix("SIZ", "SIZE") == NULL, "string shorter than prefix");
	ok(mp_skip_prefix("8BITMIME", "SIZE") == NULL, "other word");
}

static void test_hexdigit(void)
{
	is_int(mp_hexdigit('0'), 0, "0");
	is_int(mp_hexdigit('9'), 9, "9");
	is_int(mp_hexdigit('a'), 10, "a");
	is_int(mp_hexdigit('F'), 15, "F");
	is_int(mp_hexdigit('g'), -1, "g is none");
	is_int(mp_hexdigit('/'), -1, "/ is none");
	is_int(mp_hexdigit(0xff), -1, "8-bit is none");
}

static void test_printable(void)
{
	char out[16];

	mp_printable("abc", 3, out, sizeof out);
	is_str(out, "abc", "short text as it is");
	mp_printable("a\x1b[31mb\xff", 8, out, sizeof out);
	is_str(out, "a?[31mb?", "escape and 8-bit bytes as '?'");
	mp_printable("0123456789abcdefghij", 20, out, sizeof out);
	is_str(out, "0123456789ab...", "cut with '...'");
	ok(strlen(out) == sizeof out - 1, "fills the buffer exactly");
}

static void test_alloc(void)
{
	char *s = mp_xstrdup("abc");
	unsigned char *z;
	void *p;

	is_str(s, "abc", "xstrdup copies");
	free(s);
	p = mp_xmalloc(0);
	ok(p != NULL, "xmalloc(0) gives a pointer");
	p = mp_xrealloc(p, 100);
	ok(p != NULL, "xrealloc grows");
	free(p);
	z = mp_xcalloc(4, 8);
	ok(z && z[0] == 0 && z[31] == 0, "xcalloc zeroes");
	free(z);
}

static void test_wipe(void)
{
	char secret[] = "hunter2";
	int zero = 1;

	mp_wipe(secret, sizeof(secret));
	for (size_t i = 0; i < sizeof(secret); i++)
		if (secret[i])
			zero = 0;
	ok(zero, "wipe zeroes every byte");
}

static void test_error(void)
{
	struct mp_error err = { 0 };
	char longer[600];

	is_int(mp_fail(&err, MP_ERR_USAGE, "bad %s %d", "port", 7),
	       MP_ERR_USAGE, "mp_fail returns the status");
	is_int(err.status, MP_ERR_USAGE, "mp_fail records the status");
	is_str(err.msg, "bad port 7", "mp_fail formats the message");
	is_int(mp_fail(NULL, MP_ERR_IO, "x"), MP_ERR_IO, "mp_fail tolerates NULL");

	mp_error_prefix(&err, "imaps://host");
	is_str(err.msg, "imaps://host: bad port 7", "prefix added");
	mp_error_prefix(NULL, "x");
	ok(1, "prefix tolerates NULL");
	mp_error_prefix(&err, "");
	is_str(err.msg, "imaps://host: bad port 7", "empty prefix changes nothing");

	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	mp_fail(&err, MP_ERR_DATA, "%s", longer);
	is_int(strlen(err.msg), sizeof(err.msg) - 1, "long message truncated");
	mp_error_prefix(&err, "ctx");
	is_int(strlen(err.msg), sizeof(err.msg) - 1, "prefix keeps it in bounds");
	ok(strncmp(err.msg, "ctx: aaa", 8) == 0, "prefix comes first");

	mp_fail(&err, MP_ERR_DATA, "short");
	mp_error_prefix(&err, longer);
	is_int(strlen(err.msg), sizeof(err.msg) - 1, "long prefix kept in bounds");
}

int main(void)
{
	test_strlcpy();
	test_line_break();
	test_word_in_list();
	test_skip_prefix();
	test_hexdigit();
	test_printable();
	test_alloc();
	test_wipe();
	test_error();
	return tap_done();
}
