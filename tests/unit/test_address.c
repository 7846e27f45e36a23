/* Unit tests for common/address.c: RFC 5322 address lists (modern and
 * obsolete forms), refusals, caps, and envelope address checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "tap.h"

/* in[0..len) with control bytes shown as \xNN, so TAP lines stay whole. */
static const char *show(const char *in, size_t len, char *buf, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 5 < size; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c < ' ' || c == 0x7f)
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
	return buf;
}

/* The list as "name|addr;name|addr", or "ERR" on failure. */
static char *render(const char *in, size_t len, unsigned flags,
		    enum mp_status *st)
{
	struct address_list l = { 0 };
	struct mp_error err;
	char *out = malloc(len * 2 + 16);

	out[0] = '\0';
	*st = address_parse_list(in, len, flags, &l, &err);
	if (*st != MP_OK) {
		strcpy(out, "ERR");
		address_list_free(&l);
		return out;
	}
	for (size_t i = 0; i < l.n; i++) {
		if (i)
			strcat(out, ";");
		strcat(out, l.v[i].name);
		strcat(out, "|");
		strcat(out, l.v[i].addr);
	}
	address_list_free(&l);
	return out;
}

static void parse_is(const char *in, unsigned flags, const char *want)
{
	enum mp_status st;
	char *got = render(in, strlen(in), flags, &st);

	is_str(got, want, "parse '%s'", in);
	free(got);
}

static void test_good(void)
{
	parse_is("a@b.c", 0, "|a@b.c");
	parse_is("John Doe <john@example.com>", 0, "John Doe|john@example.com");
	parse_is("\"Doe, John\" <john@example.com>, jane@example.com", 0,
		 "Doe, John|john@example.com;|jane@example.com");
	parse_is("john@example.com (John Doe)", 0, "John Doe|john@example.com");
	parse_is("<john@example.com> (John Doe)", 0, "John Doe|john@example.com");
	parse_is("Jo <j@x.org> (ignored)", 0, "Jo|j@x.org");
	parse_is("a@b.c (Comment (nested) \\) x)", 0, "Comment (nested) ) x|a@b.c");
	parse_is("root (Cron Daemon)", ADDRESS_ALLOW_LOCAL, "Cron Daemon|root");
	parse_is("root", ADDRESS_ALLOW_LOCAL, "|root");
	parse_is("<root>", ADDRESS_ALLOW_LOCAL, "|root");
	parse_is("root, a@b.c", ADDRESS_ALLOW_LOCAL, "|root;|a@b.c");
	parse_is("undisclosed-recipients:;", 0, "");
	parse_is("undisclosed-recipients:", 0, "");
	parse_is("Team: a@x.org, Bee <b@y.org>;, c@z.org", 0,
		 "|a@x.org;Bee|b@y.org;|c@z.org");
	parse_is("Team: a@x.org; c@z.org", 0, "ERR");
	parse_is("Team:;, c@z.org", 0, "|c@z.org");
	parse_is("<@relay.example:user@example.com>", 0, "|user@example.com");
	parse_is("<@a.example,@b.example:user@example.com>", 0,
		 "|user@example.com");
	parse_is("\"john doe\"@example.com", 0, "|\"john doe\"@example.com");
	parse_is("\"john\"@example.com", 0, "|john@example.com");
	parse_is("\"a\\\"b\"@example.com", 0, "|\"a\\\"b\"@example.com");
	parse_is("John Q. Public <jqp@example.com>", 0,
		 "John Q. Public|jqp@example.com");
	parse_is("\"Qu\\\"ote\" <a@b.c>", 0, "Qu\"ote|a@b.c");
	parse_is("\"Smith\"  ,  \"John\" <a@b.c>", 0, "ERR");
	parse_is("Mixed \"quoted part\" name <a@b.c>", 0,
		 "Mixed quoted part name|a@b.c");
	parse_is("=?UTF-8?Q?J=C3=B6rg?= <j@x.de>", 0,
		 "=?UTF-8?Q?J=C3=B6rg?=|j@x.de");
	parse_is("J\xc3\xb6rg <j\xc3\xb6rg@ex\xc3\xa4mple.de>", 0,
		 "J\xc3\xb6rg|j\xc3\xb6rg@ex\xc3\xa4mple.de");
	parse_is("user@[192.0.2.1]", 0, "|user@[192.0.2.1]");
	parse_is("user@[IPv6:2001:db8::1]", 0, "|user@[IPv6:2001:db8::1]");
	parse_is("john . doe @ example . com", 0, "|john.doe@example.com");
	parse_is("  , a@b.c ,, ", 0, "|a@b.c");
	parse_is("", 0, "");
	parse_is("   ", 0, "");
	parse_is("a+tag@sub.example.co.uk", 0, "|a+tag@sub.example.co.uk");
	parse_is("a@b.c,d@e.f", 0, "|a@b.c;|d@e.f");
	parse_is("\t<a@b.c>\t", 0, "|a@b.c");
}

static void parse_fails(const char *in, size_t len, unsigned flags,
			enum mp_status want)
{
	struct address_list l = { 0 };
	struct mp_error err = { 0 };
	enum mp_status st = address_parse_list(in, len, flags, &l, &err);
	char a[128], b[600];

	ok(st == want && err.status == want && err.msg[0] && l.n == 0,
	   "refuse '%s' (%s)", show(in, len, a, sizeof(a)),
	   show(err.msg, strlen(err.msg), b, sizeof(b)));
	address_list_free(&l);
}

static void test_bad(void)
{
	static const char *const bad[] = {
		"a@", "@b.c", "a@@b.c", "<a@b.c", "a@b.c>", "John Doe",
		"a@b.c d@e.f", "\"unterminated@b.c", "(unclosed a@b.c",
		"a@b.c)", "a@-b.c", "a@b-.c", "a@b..c", "a@b.c.", ".a@b.c",
		"a.@b.c", "a..b@c.d", "<>", "Name <>", "G: a@b.c, H: x@y.z;;",
		"a@b.c; d@e.f", "a@b.c, root", "root", ": a@b.c;",
		"a@[1.2.3.4", "<@relay a@b.c>", "a\\b@c.d", "a@b_c!.d",
		"a@b.c\x01", "a@b.c \x7f", "<a@b.c> <d@e.f>", "a@b.c <d@e.f>",
		"John <a@b.c> Doe", "x@y.z,\"a b\" c@d.e", "a@[b[c]",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		parse_fails(bad[i], strlen(bad[i]), 0, MP_ERR_USAGE);
	parse_fails("a@b.c\r\nBcc: x@y.z", 17, 0, MP_ERR_USAGE);
	parse_fails("a@b.c\nBcc: x@y.z", 16, ADDRESS_ERR_DATA, MP_ERR_DATA);
	parse_fails("a@b.c\0x@y.z", 11, 0, MP_ERR_USAGE);
	parse_fails("a@b.c\r", 6, ADDRESS_ALLOW_LOCAL, MP_ERR_USAGE);
	parse_fails("John Doe", 8, ADDRESS_ALLOW_LOCAL | ADDRESS_ERR_DATA,
		    MP_ERR_DATA);
	parse_fails("a@b\xc3(.c", 8, 0, MP_ERR_USAGE);
}

static void test_append_and_rollback(void)
{
	struct address_list l = { 0 };
	struct mp_error err;

	ok(address_parse_list("a@b.c", 5, 0, &l, &err) == MP_OK && l.n == 1,
	   "first list parsed");
	ok(address_parse_list("d@e.f, G <g@h.i>", 16, 0, &l, &err) == MP_OK &&
	   l.n == 3 && strcmp(l.v[2].addr, "g@h.i") == 0 &&
	   strcmp(l.v[2].name, "G") == 0, "second list appended");
	ok(address_parse_list("x@y.z, broken@", 14, 0, &l, &err) ==
	   MP_ERR_USAGE && l.n == 3, "a failed list adds nothing");
	ok(strstr(err.msg, "broken@") != NULL,
	   "the message names the bad address: %s", err.msg);
	address_list_free(&l);
	ok(l.n == 0 && l.v == NULL, "free empties the list");
}

static void test_caps(void)
{
	struct address_list l = { 0 };
	struct mp_error err;
	size_t cap = (ADDRESS_LIST_MAX + 1) * 8;
	char *s = malloc(cap), *p = s;

	for (int i = 0; i < ADDRESS_LIST_MAX + 1; i++)
		p += sprintf(p, "%sa@b.c", i ? "," : "");
	ok(address_parse_list(s, (size_t)(p - s) - 6, 0, &l, &err) == MP_OK &&
	   l.n == ADDRESS_LIST_MAX, "%d addresses accepted", ADDRESS_LIST_MAX);
	address_list_free(&l);
	ok(address_parse_list(s, (size_t)(p - s), 0, &l, &err) == MP_ERR_USAGE &&
	   l.n == 0, "%d addresses refused", ADDRESS_LIST_MAX + 1);
	free(s);

	s = malloc(1100);
	memset(s, 'a', 1100);
	memcpy(s + 994, "@b.cd", 5);
	ok(address_parse_list(s, 999, 0, &l, &err) == MP_ERR_USAGE,
	   "a 999-byte address refused");
	ok(address_parse_list(s + 1, 998, 0, &l, &err) == MP_OK && l.n == 1,
	   "a 998-byte address accepted");
	address_list_free(&l);
	memset(s, 'n', 1100);
	memcpy(s + 1000, " <a@b.c>", 8);
	ok(address_parse_list(s, 1008, 0, &l, &err) == MP_ERR_USAGE,
	   "a 1000-byte display name refused");
	free(s);
}

static void test_envelope(void)
{
	static const char *const good[] = {
		"a@b.c", "a.b+tag@sub.example.co.uk", "\"a b\"@c.d",
		"\"a\\\"b\"@c.d", "user@[IPv6:2001:db8::1]", "user@[192.0.2.1]",
		"j\xc3\xb6rg@ex\xc3\xa4mple.de", "a@localhost", "x_y@my_host.lan",
		"!#$%&'*+-/=?^_`{|}~@x.y", "a@b-c.d",
	};
	static const char *const bad[] = {
		"", "a b@c.d", "<a@b.c>", "a@b.c>", "a@b c", "a@", "a",
		"a@b\tc", "a@b.c\r", "a@b.c\n", ".a@b.c", "a.@b.c", "a..b@c.d",
		"\"a b@c.d", "\"a\"b@c.d", "a@b..c", "a@.b", "a@b.", "a@-b.c",
		"a@b-.c", "a@[1.2.3.4", "a@[]", "a@[a b]", "a,b@c.d", "a@b,c",
		"a@b@c.d", "\xc3(@b.c", "a@b(c).d", "a(b)@c.d", "a\x7f@b.c",
		"a@[<x>]", "a@[1,2]", "a@[a\\b]", "\"a>b\"@c.d",
		"\"a> NOTIFY=NEVER\"@c.d", "\"<a\"@c.d", "\"\\>\"@c.d",
	};
	struct mp_error err;
	char label[80], a[128], b[600];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ok(address_check_envelope(good[i], 0, &err) == MP_OK,
		   "envelope '%s' accepted", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err.status = MP_OK;
		ok(address_check_envelope(bad[i], 0, &err) == MP_ERR_USAGE &&
		   err.status == MP_ERR_USAGE && err.msg[0],
		   "envelope '%s' refused (%s)",
		   show(bad[i], strlen(bad[i]), a, sizeof(a)),
		   show(err.msg, strlen(err.msg), b, sizeof(b)));
	}
	ok(address_check_envelope("root", ADDRESS_ALLOW_LOCAL, &err) == MP_OK,
	   "bare local part with ADDRESS_ALLOW_LOCAL");
	ok(address_check_envelope("a b", ADDRESS_ALLOW_LOCAL, &err) ==
	   MP_ERR_USAGE, "but not with a blank");
	ok(address_check_envelope("a@", ADDRESS_ERR_DATA, &err) == MP_ERR_DATA,
	   "ADDRESS_ERR_DATA gives MP_ERR_DATA");
	memset(label, 'a', 64);
	strcpy(label + 64, ".c");
	ok(address_check_envelope(label, ADDRESS_ALLOW_LOCAL, &err) == MP_OK,
	   "a long local part is fine");
	memmove(label + 2, label, 67);
	memcpy(label, "x@", 2);
	ok(address_check_envelope(label, 0, &err) == MP_ERR_USAGE,
	   "a 64-character domain label refused");
	label[3] = '.';
	ok(address_check_envelope(label, 0, &err) == MP_OK,
	   "a 62-character label accepted");

	ok(address_needs_smtputf8("j\xc3\xb6rg@example.de"), "UTF-8 needs SMTPUTF8");
	ok(!address_needs_smtputf8("jorg@example.de"), "ASCII does not");
}

int main(void)
{
	test_good();
	test_bad();
	test_append_and_rollback();
	test_caps();
	test_envelope();
	return tap_done();
}
