/* The pure POP3 parsers: multi-line unstuffing and the STAT, LIST and UIDL
 * listings, including hostile numbers and UIDLs. */
#include <stdio.h>
#include <string.h>

#include "pop3parse.h"
#include "tap.h"

#define S(lit) lit, sizeof(lit) - 1

static void test_multiline(void)
{
	const char *d;
	size_t n;

	is_int(pop3_multiline(S("."), &d, &n), POP3_ML_END, "'.' ends");
	is_int(pop3_multiline(S(".."), &d, &n), POP3_ML_DATA, "'..' is data");
	ok(n == 1 && d[0] == '.', "'..' unstuffs to '.'");
	is_int(pop3_multiline(S(".x"), &d, &n), POP3_ML_DATA, "'.x' is data");
	ok(n == 1 && d[0] == 'x', "'.x' loses its dot");
	is_int(pop3_multiline(S("...."), &d, &n), POP3_ML_DATA, "'....' data");
	ok(n == 3 && !memcmp(d, "...", 3), "only the first dot goes");
	is_int(pop3_multiline(S(""), &d, &n), POP3_ML_DATA, "empty line is data");
	is_int(n, 0, "empty line stays empty");
	is_int(pop3_multiline(S("From x"), &d, &n), POP3_ML_DATA, "From line");
	ok(n == 6 && !memcmp(d, "From x", 6), "From line untouched");
	is_int(pop3_multiline(S("a.b"), &d, &n), POP3_ML_DATA, "inner dot");
	ok(n == 3 && !memcmp(d, "a.b", 3), "inner dot untouched");
	is_int(pop3_multiline(S(". "), &d, &n), POP3_ML_DATA, "'. ' is data");
	ok(n == 1 && d[0] == ' ', "'. ' unstuffs to ' '");
	is_int(pop3_multiline(S(".\0"), &d, &n), POP3_ML_DATA,
	       "'.' plus NUL is data, not the end");
	ok(n == 1 && d[0] == '\0', "the NUL survives");
}

static void test_stat(void)
{
	unsigned long c = 99;
	unsigned long long sz = 99;

	ok(pop3_parse_stat(S("2 320"), 1000, &c, &sz), "'2 320'");
	ok(c == 2 && sz == 320, "count 2, size 320");
	ok(pop3_parse_stat(S("0 0"), 1000, &c, &sz) && c == 0 && sz == 0,
	   "empty maildrop");
	ok(pop3_parse_stat(S("3 400 more words"), 1000, &c, &sz) && c == 3,
	   "text after the size is allowed (RFC 1939)");
	ok(pop3_parse_stat(S("1000 1"), 1000, &c, &sz), "count at the cap");
	ok(!pop3_parse_stat(S("1001 1"), 1000, &c, &sz), "count over the cap");
	ok(!pop3_parse_stat(S("1099511627776 100"), 1000000, &c, &sz),
	   "2^40 messages refused");
	ok(!pop3_parse_stat(S("99999999999999999999999 1"), ~0UL, &c, &sz),
	   "count overflowing 64 bits refused");
	ok(pop3_parse_stat(S("1 18446744073709551615"), 10, &c, &sz) &&
	   sz == 18446744073709551615ULL, "largest size");
	ok(!pop3_parse_stat(S("1 18446744073709551616"), 10, &c, &sz),
	   "size overflow refused");
	ok(!pop3_parse_stat(S(""), 10, &c, &sz), "empty refused");
	ok(!pop3_parse_stat(S("2"), 10, &c, &sz), "no size refused");
	ok(!pop3_parse_stat(S("2 "), 10, &c, &sz), "blank, no size refused");
	ok(!pop3_parse_stat(S("-2 5"), 10, &c, &sz), "negative refused");
	ok(!pop3_parse_stat(S("+2 5"), 10, &c, &sz), "sign refused");
	ok(!pop3_parse_stat(S("2x 5"), 10, &c, &sz), "junk in count refused");
	ok(!pop3_parse_stat(S("2 5x"), 10, &c, &sz), "junk in size refused");
	ok(!pop3_parse_stat(S("2\0 5"), 10, &c, &sz), "NUL refused");
	ok(!pop3_parse_stat(S("messages: 2"), 10, &c, &sz), "words refused");
}

static void test_list(void)
{
	unsigned long num = 0;
	unsigned long long sz = 0;

	ok(pop3_parse_list_line(S("1 120"), 10, &num, &sz) && num == 1 &&
	   sz == 120, "'1 120'");
	ok(pop3_parse_list_line(S("10 0"), 10, &num, &sz) && num == 10,
	   "number at the cap");
	ok(!pop3_parse_list_line(S("11 5"), 10, &num, &sz), "over the cap");
	ok(!pop3_parse_list_line(S("0 5"), 10, &num, &sz), "message 0 refused");
	ok(pop3_parse_list_line(S("3 200 extra"), 10, &num, &sz) && num == 3,
	   "text after the size allowed");
	ok(!pop3_parse_list_line(S("3"), 10, &num, &sz), "no size refused");
	ok(!pop3_parse_list_line(S("3 x"), 10, &num, &sz), "bad size refused");
	ok(!pop3_parse_list_line(S("garbage"), 10, &num, &sz), "junk refused");
	ok(!pop3_parse_list_line(S("3 20\x01"), 10, &num, &sz),
	   "control byte after size refused");
	ok(!pop3_parse_list_line(S("1099511627776 1"), 1000000, &num, &sz),
	   "2^40 refused");
}

static void test_uidl(void)
{
	unsigned long num = 0;
	char uid[72];
	char line[200];

	ok(pop3_parse_uidl_line(S("1 whqtswO00WBw418f9t5JxYwZ"), 10, &num, uid),
	   "plain UIDL");
	ok(num == 1 && !strcmp(uid, "whqtswO00WBw418f9t5JxYwZ"), "fields");
	ok(pop3_parse_uidl_line(S("2 !~"), 10, &num, uid) && !strcmp(uid, "!~"),
	   "edges of the 0x21-0x7E range");
	ok(pop3_parse_uidl_line(S("2 abc  "), 10, &num, uid) &&
	   !strcmp(uid, "abc"), "trailing blanks tolerated");
	ok(!pop3_parse_uidl_line(S("2 abc def"), 10, &num, uid),
	   "two words refused");
	ok(!pop3_parse_uidl_line(S("2 "), 10, &num, uid), "empty UIDL refused");
	ok(!pop3_parse_uidl_line(S("2"), 10, &num, uid), "no UIDL refused");
	ok(!pop3_parse_uidl_line(S("0 abc"), 10, &num, uid), "message 0");
	ok(!pop3_parse_uidl_line(S("11 abc"), 10, &num, uid), "over the cap");
	ok(!pop3_parse_uidl_line(S("2 ab\x7f"), 10, &num, uid), "DEL refused");
	ok(!pop3_parse_uidl_line(S("2 ab\x80"), 10, &num, uid), "8-bit refused");
	ok(!pop3_parse_uidl_line(S("2 ab\0c"), 10, &num, uid), "NUL refused");

	memset(line, 'u', sizeof line);
	memcpy(line, "7 ", 2);
	ok(pop3_parse_uidl_line(line, 72, 10, &num, uid) && strlen(uid) == 70 &&
	   num == 7, "70 characters accepted");
	ok(!pop3_parse_uidl_line(line, 73, 10, &num, uid),
	   "71 characters refused");
	ok(!pop3_parse_uidl_line(line, sizeof line, 10, &num, uid),
	   "198 characters refused");
}

int main(void)
{
	test_multiline();
	test_stat();
	test_list();
	test_uidl();
	return tap_done();
}
