/* Unit tests for common/reply.c: SMTP, POP3 and IMAP line classifiers. */
#include <string.h>

#include "reply.h"
#include "tap.h"

static void smtp_good(const char *line, int code, bool last, const char *text)
{
	struct smtp_reply_line r;

	ok(smtp_parse_reply_line(line, strlen(line), &r), "smtp '%s' parses", line);
	is_int(r.code, code, "smtp '%s': code", line);
	ok(r.last == last, "smtp '%s': %s", line, last ? "last" : "more follows");
	is_str(r.text, text, "smtp '%s': text", line);
}

static void test_smtp(void)
{
	static const char *const bad[] = {
		"", "2", "25", "100 Continue", "199 x", "600 x", "099 x", "25x",
		"2500", "250x text", "250_text", "abc", " 250 x", "2a0 x", "-250",
		"250\t tab",
	};
	struct smtp_reply_line r;

	smtp_good("250 OK", 250, true, "OK");
	smtp_good("250-PIPELINING", 250, false, "PIPELINING");
	smtp_good("250", 250, true, "");
	smtp_good("250 ", 250, true, "");
	smtp_good("250-", 250, false, "");
	smtp_good("220 mail.example.com ESMTP Postfix", 220, true,
		  "mail.example.com ESMTP Postfix");
	smtp_good("354 End data with <CR><LF>.<CR><LF>", 354, true,
		  "End data with <CR><LF>.<CR><LF>");
	smtp_good("421 4.7.0 Try again later", 421, true, "4.7.0 Try again later");
	smtp_good("599 x", 599, true, "x");
	smtp_good("200 x", 200, true, "x");
	smtp_good("550-5.1.1 first", 550, false, "5.1.1 first");

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(!smtp_parse_reply_line(bad[i], strlen(bad[i]), &r),
		   "smtp '%s' rejected", bad[i]);
	ok(!smtp_parse_reply_line("250 OK", 2, &r), "smtp: len is honoured");
	ok(smtp_parse_reply_line("250-OK", 3, &r) && r.last,
	   "smtp: three bytes of a longer buffer are a last line");
}

static void pop3(const char *line, enum pop3_status want, const char *text,
		 const char *code)
{
	const char *t = NULL;
	char rc[64];

	memset(rc, 'x', sizeof(rc));
	is_int(pop3_parse_status(line, strlen(line), &t, rc), want,
	       "pop3 '%s': status", line);
	is_str(t, text, "pop3 '%s': text", line);
	is_str(rc, code, "pop3 '%s': response code", line);
}

static void test_pop3(void)
{
	char line[200], want[64];
	const char *t;
	char rc[64];

	pop3("+OK", POP3_OK, "", "");
	pop3("+OK ", POP3_OK, "", "");
	pop3("+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>", POP3_OK,
	     "POP3 server ready <1896.697170952@dbc.mtview.ca.us>", "");
	pop3("+OK 2 320", POP3_OK, "2 320", "");
	pop3("+ok lower case", POP3_OK, "lower case", "");
	pop3("-ERR", POP3_ERR, "", "");
	pop3("-ERR no such message", POP3_ERR, "no such message", "");
	pop3("-ERR [IN-USE] locked", POP3_ERR, "locked", "IN-USE");
	pop3("-ERR [SYS/TEMP] try later", POP3_ERR, "try later", "SYS/TEMP");
	pop3("-ERR [AUTH]", POP3_ERR, "", "AUTH");
	pop3("+OK [LOGIN-DELAY 900] hi", POP3_OK, "hi", "LOGIN-DELAY 900");
	pop3("-ERR [IN-USE no close", POP3_ERR, "[IN-USE no close", "");
	pop3("-ERR not [IN-USE] here", POP3_ERR, "not [IN-USE] here", "");
	pop3("+ ", POP3_CONT, "", "");
	pop3("+", POP3_CONT, "", "");
	pop3("+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2U+", POP3_CONT,
	     "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2U+", "");
	pop3("+OKAY", POP3_BAD, "", "");
	pop3("-ERROR", POP3_BAD, "", "");
	pop3("+OK\tx", POP3_BAD, "", "");
	pop3("", POP3_BAD, "", "");
	pop3("OK", POP3_BAD, "", "");
	pop3("-", POP3_BAD, "", "");
	pop3("+x", POP3_BAD, "", "");
	pop3("* OK", POP3_BAD, "", "");

	/* A response code longer than the buffer is cut, not overflowed. */
	memset(want, 'C', 63);
	want[63] = '\0';
	strcpy(line, "-ERR [");
	memset(line + 6, 'C', 100);
	strcpy(line + 106, "] text");
	pop3(line, POP3_ERR, "text", want);

	ok(pop3_parse_status("+OK hi", 6, NULL, NULL) == POP3_OK,
	   "pop3: NULL text and code are allowed");
	ok(pop3_parse_status("-ERR [X] y", 8, &t, rc) == POP3_ERR && !strcmp(rc, "X")
	   && !strcmp(t, ""), "pop3: len is honoured");
}

static void imap(const char *line, enum imap_kind kind, const char *tag,
		 enum imap_cond cond, const char *code, const char *args,
		 const char *text, const char *rest, long long literal)
{
	struct imap_line l;
	char argbuf[200] = "";

	imap_parse_line(line, strlen(line), &l);
	is_int(l.kind, kind, "imap '%s': kind", line);
	is_str(l.tag, tag, "imap '%s': tag", line);
	is_int(l.cond, cond, "imap '%s': condition", line);
	is_str(l.code, code, "imap '%s': code", line);
	if (l.code_args) {
		memcpy(argbuf, l.code_args, l.code_args_len);
		argbuf[l.code_args_len] = '\0';
	}
	is_str(l.code_args ? argbuf : NULL, args, "imap '%s': code args", line);
	is_str(l.text, text, "imap '%s': text", line);
	is_str(l.rest, rest, "imap '%s': rest", line);
	is_int(l.literal, literal, "imap '%s': literal", line);
}

static void imap_bad(const char *line)
{
	struct imap_line l;

	imap_parse_line(line, strlen(line), &l);
	is_int(l.kind, IMAP_BAD_LINE, "imap '%s' is malformed", line);
	ok(l.literal == -1 && l.tag[0] == '\0' && l.cond == IMAP_COND_NONE,
	   "imap '%s': nothing else reported", line);
}

static void test_imap(void)
{
	char line[200];
	struct imap_line l;

	imap("* OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot ready.", IMAP_UNTAGGED,
	     "", IMAP_COND_OK, "CAPABILITY", "IMAP4rev1 STARTTLS", "Dovecot ready.",
	     "OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot ready.", -1);
	imap("* PREAUTH hello", IMAP_UNTAGGED, "", IMAP_COND_PREAUTH, "", NULL,
	     "hello", "PREAUTH hello", -1);
	imap("* BYE shutting down", IMAP_UNTAGGED, "", IMAP_COND_BYE, "", NULL,
	     "shutting down", "BYE shutting down", -1);
	imap("* ok lower", IMAP_UNTAGGED, "", IMAP_COND_OK, "", NULL, "lower",
	     "ok lower", -1);
	imap("* NO [ALERT] quota", IMAP_UNTAGGED, "", IMAP_COND_NO, "ALERT", NULL,
	     "quota", "NO [ALERT] quota", -1);
	imap("* OK [UIDVALIDITY 3857529045] UIDs valid", IMAP_UNTAGGED, "",
	     IMAP_COND_OK, "UIDVALIDITY", "3857529045", "UIDs valid",
	     "OK [UIDVALIDITY 3857529045] UIDs valid", -1);
	imap("* OK [READ-WRITE]", IMAP_UNTAGGED, "", IMAP_COND_OK, "READ-WRITE",
	     NULL, "", "OK [READ-WRITE]", -1);
	imap("* OK", IMAP_UNTAGGED, "", IMAP_COND_OK, "", NULL, "", "OK", -1);
	imap("* OK [ALERT unclosed", IMAP_UNTAGGED, "", IMAP_COND_OK, "", NULL,
	     "[ALERT unclosed", "OK [ALERT unclosed", -1);
	imap("* OK hi {5}", IMAP_UNTAGGED, "", IMAP_COND_OK, "", NULL, "hi {5}",
	     "OK hi {5}", -1);
	imap("* OK {curly} text", IMAP_UNTAGGED, "", IMAP_COND_OK, "", NULL,
	     "{curly} text", "OK {curly} text", -1);
	imap("* OKAY", IMAP_UNTAGGED, "", IMAP_COND_NONE, "", NULL, "OKAY",
	     "OKAY", -1);
	imap("* CAPABILITY IMAP4rev1 IDLE", IMAP_UNTAGGED, "", IMAP_COND_NONE, "",
	     NULL, "CAPABILITY IMAP4rev1 IDLE", "CAPABILITY IMAP4rev1 IDLE", -1);
	imap("* 23 EXISTS", IMAP_UNTAGGED, "", IMAP_COND_NONE, "", NULL,
	     "23 EXISTS", "23 EXISTS", -1);
	imap("* 1 FETCH (UID 7 BODY[] {342}", IMAP_UNTAGGED, "", IMAP_COND_NONE,
	     "", NULL, "1 FETCH (UID 7 BODY[] {342}",
	     "1 FETCH (UID 7 BODY[] {342}", 342);
	imap("* 1 FETCH (BODY[] {0}", IMAP_UNTAGGED, "", IMAP_COND_NONE, "",
	     NULL, "1 FETCH (BODY[] {0}", "1 FETCH (BODY[] {0}", 0);
	imap("* LIST () \"/\" {12+}", IMAP_UNTAGGED, "", IMAP_COND_NONE, "", NULL,
	     "LIST () \"/\" {12+}", "LIST () \"/\" {12+}", 12);
	imap("* 1 FETCH (BINARY[] ~{4611686018427387904}", IMAP_UNTAGGED, "",
	     IMAP_COND_NONE, "", NULL, "1 FETCH (BINARY[] ~{4611686018427387904}",
	     "1 FETCH (BINARY[] ~{4611686018427387904}", 4611686018427387904LL);
	imap("* 1 FETCH (X y})", IMAP_UNTAGGED, "", IMAP_COND_NONE, "", NULL,
	     "1 FETCH (X y})", "1 FETCH (X y})", -1);

	imap("+ Ready for literal", IMAP_CONTINUATION, "", IMAP_COND_NONE, "",
	     NULL, "Ready for literal", "Ready for literal", -1);
	imap("+", IMAP_CONTINUATION, "", IMAP_COND_NONE, "", NULL, "", "", -1);
	imap("+ ", IMAP_CONTINUATION, "", IMAP_COND_NONE, "", NULL, "", "", -1);
	imap("+ dGVzdA==", IMAP_CONTINUATION, "", IMAP_COND_NONE, "", NULL,
	     "dGVzdA==", "dGVzdA==", -1);
	imap("+ go {on}", IMAP_CONTINUATION, "", IMAP_COND_NONE, "", NULL,
	     "go {on}", "go {on}", -1);

	imap("a1 OK LOGIN completed", IMAP_TAGGED, "a1", IMAP_COND_OK, "", NULL,
	     "LOGIN completed", "OK LOGIN completed", -1);
	imap("A0002 NO [AUTHENTICATIONFAILED] Invalid credentials", IMAP_TAGGED,
	     "A0002", IMAP_COND_NO, "AUTHENTICATIONFAILED", NULL,
	     "Invalid credentials",
	     "NO [AUTHENTICATIONFAILED] Invalid credentials", -1);
	imap("t BAD", IMAP_TAGGED, "t", IMAP_COND_BAD, "", NULL, "", "BAD", -1);
	imap("x.y_z-1] ok [COPYUID 38505 304,319:320 3956:3958] Done",
	     IMAP_TAGGED, "x.y_z-1]", IMAP_COND_OK, "COPYUID",
	     "38505 304,319:320 3956:3958", "Done",
	     "ok [COPYUID 38505 304,319:320 3956:3958] Done", -1);
	imap("a OK done {5}", IMAP_TAGGED, "a", IMAP_COND_OK, "", NULL,
	     "done {5}", "OK done {5}", -1);

	/* A 31-character tag is the longest. */
	memset(line, 'T', 31);
	strcpy(line + 31, " OK fine");
	imap_parse_line(line, strlen(line), &l);
	ok(l.kind == IMAP_TAGGED && strlen(l.tag) == 31, "31-character tag");
	memset(line, 'T', 32);
	strcpy(line + 32, " OK fine");
	imap_bad(line);

	/* A response code longer than the buffer is cut, not overflowed. */
	strcpy(line, "* OK [");
	memset(line + 6, 'C', 100);
	strcpy(line + 106, " args] text");
	imap_parse_line(line, strlen(line), &l);
	ok(l.kind == IMAP_UNTAGGED && strlen(l.code) == 63 &&
	   l.code_args_len == 4 && !strcmp(l.text, "text"), "long code cut to 63");

	imap_bad("");
	imap_bad("*");
	imap_bad("* ");
	imap_bad("*OK");
	imap_bad("a1");
	imap_bad("a1 ");
	imap_bad("a1 FOO bar");
	imap_bad("a1 BYE now");
	imap_bad("a1 PREAUTH x");
	imap_bad("a1 OKAY");
	imap_bad(" a1 OK x");
	imap_bad("a+1 OK x");
	imap_bad("a*1 OK x");
	imap_bad("a(1 OK x");
	imap_bad("a\"1 OK x");
	imap_bad("a%1 OK x");
	imap_bad("a{1 OK x");
	imap_bad("a\\1 OK x");
	imap_bad("a\x01 OK x");
	imap_bad("\xc3\xa9 OK x");
	imap_bad("* 1 FETCH (BODY[] {}");
	imap_bad("* 1 FETCH (BODY[] {+}");
	imap_bad("* 1 FETCH (BODY[] {abc}");
	imap_bad("* 1 FETCH (BODY[] {-1}");
	imap_bad("* 1 FETCH (BODY[] {12 }");
	imap_bad("* 1 FETCH (BODY[] {1++}");
	imap_bad("* 1 FETCH (BODY[] {4611686018427387905}");
	imap_bad("* 1 FETCH (BODY[] {9223372036854775807}");
	imap_bad("* 1 FETCH (BODY[] {9223372036854775808}");
	imap_bad("* 1 FETCH (BODY[] {99999999999999999999999999}");

	imap_parse_line("a1 OK done", 5, &l);
	ok(l.kind == IMAP_TAGGED && l.cond == IMAP_COND_OK, "imap: len is honoured");
	imap_parse_line("* 1 FETCH (BODY[] {5}xx", 21, &l);
	ok(l.kind == IMAP_UNTAGGED && l.literal == 5,
	   "imap: literal found at the given end");
}

int main(void)
{
	test_smtp();
	test_pop3();
	test_imap();
	return tap_done();
}
