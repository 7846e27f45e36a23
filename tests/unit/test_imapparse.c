/* The pure IMAP response parser: status responses and codes, FETCH, LIST,
 * STATUS and the rest, literals announced and resumed, and hostile input:
 * huge literals and numbers, bad nesting, NUL bytes, endless responses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imapparse.h"
#include "strutil.h"
#include "tap.h"

/* What feeding a wire text produced. */
struct fed {
	enum imapp_step step;     /* DONE or ERROR */
	char body[4096];          /* BODY[] literal bytes */
	size_t body_len;
	int literals;             /* announced */
	int values, bodies, skips;
	uint64_t last_literal;
};

/* Feed one response as it would come off the wire: CRLF lines, literals
 * taken from the text as the parser asks. Leaves the response in p. */
static void feed(struct imapp *p, const char *wire, size_t len, struct fed *f)
{
	size_t pos = 0;

	memset(f, 0, sizeof *f);
	imapp_begin(p);
	for (;;) {
		const char *lf = memchr(wire + pos, '\n', len - pos);
		size_t end = lf ? (size_t)(lf - wire) : len, n = end - pos;

		if (n > 0 && wire[end - 1] == '\r')
			n--;
		f->step = imapp_line(p, wire + pos, n);
		pos = lf ? end + 1 : len;
		while (f->step == IMAPP_LITERAL) {
			size_t k = (size_t)p->literal;

			f->literals++;
			f->last_literal = p->literal;
			if (k > len - pos) {
				f->step = IMAPP_ERROR;  /* input ran out */
				return;
			}
			if (p->use == IMAPP_USE_VALUE) {
				f->values++;
				f->step = imapp_literal(p, wire + pos, k);
			} else {
				if (p->use == IMAPP_USE_BODY) {
					f->bodies++;
					if (f->body_len + k < sizeof f->body) {
						memcpy(f->body + f->body_len,
						       wire + pos, k);
						f->body_len += k;
					}
				} else {
					f->skips++;
				}
				f->step = imapp_literal(p, NULL, 0);
			}
			pos += k;
			if (f->step == IMAPP_MORE)
				break;
		}
		if (f->step != IMAPP_MORE)
			return;
	}
}

#define FEED(p, s, f) feed(p, s, sizeof(s) - 1, f)

static bool has(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

static void test_status(void)
{
	struct imapp p = { 0 };
	struct fed f;

	FEED(&p, "A0001 OK [READ-ONLY] EXAMINE completed\r\n", &f);
	is_int(f.step, IMAPP_DONE, "tagged OK");
	ok(p.r.kind == IMAP_TAGGED && p.r.type == IMAPP_T_COND &&
	   p.r.cond == IMAP_COND_OK, "kind, type, cond");
	is_str(p.r.tag, "A0001", "tag");
	is_str(p.r.code, "READ-ONLY", "code");
	is_str(p.r.code_args, "", "no code args");
	is_str(p.r.text, "EXAMINE completed", "text");

	FEED(&p, "A2 NO\r\n", &f);
	ok(f.step == IMAPP_DONE && p.r.cond == IMAP_COND_NO, "NO without text");
	is_str(p.r.text, "", "empty text");

	FEED(&p, "A3 bad [PARSE] what?\r\n", &f);
	ok(f.step == IMAPP_DONE && p.r.cond == IMAP_COND_BAD, "bad, any case");
	FEED(&p, "A3 FOO bar\r\n", &f);
	is_int(f.step, IMAPP_ERROR, "tagged response must be OK/NO/BAD");
	ok(has(p.error, "'A3 FOO bar'"), "error shows the line (%s)", p.error);
	FEED(&p, "A3 PREAUTH x\r\n", &f);
	is_int(f.step, IMAPP_ERROR, "tagged PREAUTH refused");
	FEED(&p, "A(3 OK x\r\n", &f);
	is_int(f.step, IMAPP_ERROR, "bad tag character");

	FEED(&p, "* OK [UIDVALIDITY 3857529045] UIDs valid\r\n", &f);
	ok(f.step == IMAPP_DONE && p.r.kind == IMAP_UNTAGGED &&
	   p.r.cond == IMAP_COND_OK, "untagged OK");
	is_str(p.r.code, "UIDVALIDITY", "UIDVALIDITY code");
	is_int(p.r.code_num, 3857529045u, "its number");
	is_str(p.r.text, "UIDs valid", "text after code");

	FEED(&p, "* OK [UIDNEXT 4392] Predicted next UID\r\n", &f);
	is_int(p.r.code_num, 4392, "UIDNEXT");
	FEED(&p, "* OK [HIGHESTMODSEQ 715194045007]\r\n", &f);
	ok(f.step == IMAPP_DONE && p.r.code_num == 715194045007ull,
	   "HIGHESTMODSEQ as 64 bits");
	is_str(p.r.text, "", "no text");
	FEED(&p, "* OK [NOMODSEQ] Sorry, this mailbox format doesn't support "
	     "modsequences\r\n", &f);
	ok(f.step == IMAPP_DONE && !strcmp(p.r.code, "NOMODSEQ"), "NOMODSEQ");
	FEED(&p, "* OK [UIDVALIDITY 4294967296] x\r\n", &f);
	is_int(f.step, IMAPP_ERROR, "UIDVALIDITY over 32 bits");
	FEED(&p, "* OK [UIDNEXT abc] x\r\n", &f);
	is_int(f.step, IMAPP_ERROR, "UIDNEXT not a number");
	FEED(&p, "* OK [UIDVALIDITY] x\r\n", &f);
	is_int(f.step, IMAPP_ERROR, "UIDVALIDITY without number");

	FEED(&p, "* OK [CAPABILITY IMAP4rev1 LITERAL+ ID] Dovecot ready.\r\n", &f);
	is_str(p.r.code, "CAPABILITY", "CAPABILITY code");
	is_str(p.r.code_args, "IMAP4rev1 LITERAL+ ID", "capability list");
	is_str(p.r.text, "Dovecot ready.", "greeting text");

	FEED(&p, "* NO [ALERT] Mailbox is at 95% of quota\r\n", &f);
	ok(f.step == IMAPP_DONE && p.r.cond == IMAP_COND_NO &&
	   !strcmp(p.r.code, "ALERT"), "ALERT");
	is_str(p.r.text, "Mailbox is at 95% of quota", "alert text");

	FEED(&p, "* BYE Autologout; idle for too long\r\n", &f);
	ok(f.step == IMAPP_DONE && p.r.cond == IMAP_COND_BYE, "BYE");
	FEED(&p, "* OK [no close bracket\r\n", &f);
	ok(f.step == IMAPP_DONE && !p.r.code[0], "unclosed code is text");
	is_str(p.r.text, "[no close bracket", "... all of it");
	FEED(&p, "* OK text ending in {5}\r\n", &f);
	ok(f.step == IMAPP_DONE && f.literals == 0,
	   "braces in status text are no literal");

	FEED(&p, "+ dGVzdA==\r\n", &f);
	ok(f.step == IMAPP_DONE && p.r.kind == IMAP_CONTINUATION, "continuation");
	is_str(p.r.text, "dGVzdA==", "challenge");
	FEED(&p, "+\r\n", &f);
	ok(f.step == IMAPP_DONE && p.r.kind == IMAP_CONTINUATION &&
	   !p.r.text[0], "bare +");

	FEED(&p, "* CAPABILITY IMAP4rev1 ENABLE CONDSTORE\r\n", &f);
	ok(p.r.type == IMAPP_T_CAPABILITY, "CAPABILITY response");
	is_str(p.r.words, "IMAP4rev1 ENABLE CONDSTORE", "its words");
	FEED(&p, "* ENABLED CONDSTORE UTF8=ACCEPT\r\n", &f);
	ok(p.r.type == IMAPP_T_ENABLED, "ENABLED response");
	is_str(p.r.words, "CONDSTORE UTF8=ACCEPT", "its words");
	FEED(&p, "* VANISHED (EARLIER) 41,43:116\r\n", &f);
	ok(p.r.type == IMAPP_T_VANISHED && p.r.vanished_earlier, "VANISHED");
	is_str(p.r.words, "41,43:116", "the UID set");

	FEED(&p, "garbage\r\n", &f);
	is_int(f.step, IMAPP_ERROR, "a line that is no response");
	FEED(&p, "*\r\n", &f);
	is_int(f.step, IMAPP_ERROR, "a lone '*'");
	FEED(&p, "* \r\n", &f);
	is_int(f.step, IMAPP_ERROR, "'* ' and nothing");
	imapp_free(&p);
}

static void test_numbers(void)
{
	struct imapp p = { 0 };
	struct fed f;

	FEED(&p, "* 23 EXISTS\r\n", &f);
	ok(f.step == IMAPP_DONE && p.r.type == IMAPP_T_EXISTS && p.r.num == 23,
	   "EXISTS");
	FEED(&p, "* 0 EXISTS\r\n", &f);
	ok(f.step == IMAPP_DONE && p.r.num == 0, "0 EXISTS");
	FEED(&p, "* 5 RECENT\r\n", &f);
	ok(f.step == IMAPP_DONE && p.r.type == IMAPP_T_RECENT, "RECENT");
	FEED(&p, "* 3 EXPUNGE\r\n", &f);
	ok(f.step == IMAPP_DONE && p.r.type == IMAPP_T_EXPUNGE && p.r.num == 3,
	   "EXPUNGE");
	FEED(&p, "* 0 EXPUNGE\r\n", &f);
	is_int(f.step, IMAPP_ERROR, "EXPUNGE of message 0");
	FEED(&p, "* 4294967296 EXISTS\r\n", &f);
	is_int(f.step, IMAPP_ERROR, "EXISTS over 32 bits");
	FEED(&p, "* 99999999999999999999999999 EXISTS\r\n", &f);
	is_int(f.step, IMAPP_ERROR, "EXISTS of 26 digits");
	FEED(&p, "* 3 EXISTS junk\r\n", &f);
	is_int(f.step, IMAPP_ERROR, "junk after EXISTS");
	FEED(&p, "* 3 EXISTS   \r\n", &f);
	is_int(f.step, IMAPP_DONE, "trailing blanks are fine");
	imapp_free(&p);
}

static void test_fetch(void)
{
	struct imapp p = { 0 };
	struct fed f;
	const struct imapp_fetch *x = &p.r.fetch;

	FEED(&p, "* 12 FETCH (UID 4827313 FLAGS (\\Seen \\Answered $Forwarded) "
	     "INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE 44827 "
	     "MODSEQ (12121231000))\r\n", &f);
	is_int(f.step, IMAPP_DONE, "full FETCH (%s)", p.error);
	ok(p.r.type == IMAPP_T_FETCH && p.r.num == 12, "FETCH 12");
	is_int(x->uid, 4827313, "UID");
	is_str(x->flags, "\\Seen \\Answered $Forwarded", "FLAGS");
	is_int(x->internaldate, 837596665, "INTERNALDATE in UTC");
	is_int(x->size, 44827, "RFC822.SIZE");
	is_int(x->modseq, 12121231000ull, "MODSEQ");
	is_int(x->have, IMAPP_F_UID | IMAPP_F_FLAGS | IMAPP_F_DATE |
	       IMAPP_F_SIZE | IMAPP_F_MODSEQ, "have bits");

	FEED(&p, "* 1 FETCH (FLAGS () UID 7 INTERNALDATE \" 1-Jan-2020 00:00:00 "
	     "+0000\" RFC822.SIZE 0)\r\n", &f);
	is_int(f.step, IMAPP_DONE, "FETCH without MODSEQ, empty FLAGS");
	ok(!(x->have & IMAPP_F_MODSEQ) && x->modseq == 0, "no MODSEQ");
	is_str(x->flags, "", "empty flags");
	is_int(x->internaldate, 1577836800, "space-padded day");

	FEED(&p, "* 2 fetch (uid 9 flags (\\Seen))\r\n", &f);
	ok(f.step == IMAPP_DONE && x->uid == 9 && !strcmp(x->flags, "\\Seen"),
	   "lower-case names");

	/* BODY[] as a literal, UID before and FLAGS after it. */
	FEED(&p, "* 3 FETCH (UID 10 BODY[] {12}\r\nSubject: x\r\n "
	     "FLAGS (\\Seen))\r\n", &f);
	is_int(f.step, IMAPP_DONE, "FETCH with a BODY[] literal (%s)", p.error);
	is_int(f.bodies, 1, "one body literal");
	ok(f.body_len == 12 && !memcmp(f.body, "Subject: x\r\n", 12),
	   "its bytes, untouched");
	is_int(x->body_size, 12, "body_size");
	ok((x->have & IMAPP_F_BODY) && x->uid == 10 &&
	   !strcmp(x->flags, "\\Seen"), "fields before and after");

	FEED(&p, "* 3 FETCH (UID 11 BODY[] \"a \\\"q\\\" b\")\r\n", &f);
	ok(f.step == IMAPP_DONE && x->body && x->body_len == 7 &&
	   !memcmp(x->body, "a \"q\" b", 7), "BODY[] as a quoted string");
	FEED(&p, "* 3 FETCH (UID 12 BODY[] NIL)\r\n", &f);
	ok(f.step == IMAPP_DONE && (x->have & IMAPP_F_BODY_NIL) &&
	   !(x->have & IMAPP_F_BODY), "BODY[] NIL");
	FEED(&p, "* 3 FETCH (UID 12 BODY[] {0}\r\n)\r\n", &f);
	ok(f.step == IMAPP_DONE && f.bodies == 1 && x->body_size == 0,
	   "empty literal");
	FEED(&p, "* 3 FETCH (UID 12 BODY[] {3}\r\nabc BODY[] {2}\r\nde)\r\n", &f);
	ok(f.step == IMAPP_DONE && f.bodies == 1 && f.skips == 1,
	   "a second BODY[] is dropped");
	FEED(&p, "* 3 FETCH (BODY[HEADER.FIELDS (FROM TO)] {4}\r\nab\r\n "
	     "BODY[]<0> {2}\r\nxy UID 3)\r\n", &f);
	ok(f.step == IMAPP_DONE && f.bodies == 0 && f.skips == 2 && x->uid == 3,
	   "other sections are passed over (%s)", p.error);
	FEED(&p, "* 3 FETCH (UID 13 BODY[] ~{3}\r\nabc)\r\n", &f);
	ok(f.step == IMAPP_DONE && f.bodies == 1, "literal8");
	FEED(&p, "* 3 FETCH (UID 13 BODY[] {3+}\r\nabc)\r\n", &f);
	ok(f.step == IMAPP_DONE && f.bodies == 1, "{N+} form");

	/* Things FETCH may carry that nobody asked for. */
	FEED(&p, "* 4 FETCH (X-GM-MSGID 1278455344230334865 ENVELOPE (\"Mon, 7 "
	     "Feb 1994\" {5}\r\nhello ((\"A\" NIL \"a\" \"b.org\")) NIL NIL) "
	     "BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL "
	     "NIL \"7BIT\" 3 1) \"MIXED\") UID 44)\r\n", &f);
	is_int(f.step, IMAPP_DONE, "ENVELOPE and BODYSTRUCTURE passed over (%s)",
	       p.error);
	ok(f.skips == 1 && x->uid == 44, "literal inside dropped, UID kept");

	/* Flags that do not fit are left out, the rest kept. */
	{
		char line[2000];
		int n = snprintf(line, sizeof line, "* 5 FETCH (FLAGS (\\Seen");

		for (int i = 0; i < 40; i++)
			n += snprintf(line + n, sizeof line - (size_t)n,
				      " keyword%02d", i);
		snprintf(line + n, sizeof line - (size_t)n, " \\Flagged) UID 1)\r\n");
		feed(&p, line, strlen(line), &f);
		ok(f.step == IMAPP_DONE && strlen(x->flags) < 256 &&
		   has(x->flags, "\\Seen keyword00 ") &&
		   has(x->flags, "\\Flagged"),
		   "long FLAGS cut at whole keywords, system flags kept");
		ok(x->flags[strlen(x->flags) - 1] != ' ' &&
		   !has(x->flags, "  "), "no stray blanks: '%s'", x->flags);
	}

	static const char *const bad[] = {
		"* 1 FETCH (UID abc)\r\n",
		"* 1 FETCH (UID 0)\r\n",
		"* 1 FETCH (UID 4294967296)\r\n",
		"* 1 FETCH (UID 5\r\n",
		"* 1 FETCH UID 5\r\n",
		"* 1 FETCH (UID 5) junk\r\n",
		"* 1 FETCH (UID 5 UID 6)\r\n",
		"* 1 FETCH (FLAGS \\Seen)\r\n",
		"* 1 FETCH (FLAGS (\\Seen (x)))\r\n",
		"* 1 FETCH (FLAGS (\"quoted\"))\r\n",
		"* 1 FETCH (INTERNALDATE \"yesterday\")\r\n",
		"* 1 FETCH (INTERNALDATE \"31-Feb-2020 00:00:00 +0000\")\r\n",
		"* 1 FETCH (INTERNALDATE 17-Jul-1996)\r\n",
		"* 1 FETCH (RFC822.SIZE 99999999999999999999)\r\n",
		"* 1 FETCH (RFC822.SIZE -1)\r\n",
		"* 1 FETCH (MODSEQ 5)\r\n",
		"* 1 FETCH (MODSEQ (x))\r\n",
		"* 1 FETCH (MODSEQ (5 6))\r\n",
		"* 1 FETCH (BODY[] ATOM)\r\n",
		"* 1 FETCH (BODY[] (1 2))\r\n",
		"* 1 FETCH (X (a b)\r\n",
		"* 1 FETCH (X a b))\r\n",
		"* 1 FETCH (BODY[ {3}\r\n",
		"* 1 FETCH (UID 5 \"unterminated)\r\n",
		"* 1 FETCH (UID \x01)\r\n",
		"* 1 FETCH ((UID 5))\r\n",
		"* 1 FETCH ()x\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char shown[80];

		feed(&p, bad[i], strlen(bad[i]), &f);
		mp_printable(bad[i], strlen(bad[i]) - 2, shown, sizeof shown);
		ok(f.step == IMAPP_ERROR && has(p.error, "FETCH"),
		   "malformed: %s (%s)", shown, p.error);
	}
	imapp_free(&p);
}

/* "* 1 FETCH (X ((...)))" with levels parentheses around nothing. */
static void deep_fetch(char *out, size_t size, int levels)
{
	size_t n = (size_t)snprintf(out, size, "* 1 FETCH (X ");

	for (int i = 0; i < levels; i++)
		out[n++] = '(';
	for (int i = 0; i < levels; i++)
		out[n++] = ')';
	memcpy(out + n, ")\r\n", 4);
}

static void test_literals(void)
{
	struct imapp p = { 0 };
	struct fed f;
	char deep[400];

	FEED(&p, "* 1 FETCH (UID 5 BODY[] {4611686018427387904}\r\n", &f);
	ok(f.step == IMAPP_ERROR && f.literals == 0, "2^62 literal refused "
	   "before any byte is read");
	ok(has(p.error, "4611686018427387904"), "says the size (%s)", p.error);
	FEED(&p, "* 1 FETCH (UID 5 BODY[] {2147483649}\r\n", &f);
	ok(f.step == IMAPP_ERROR && f.literals == 0, "2 GiB + 1 refused");
	imapp_begin(&p);
	is_int(imapp_line(&p, "* 1 FETCH (UID 5 BODY[] {2147483648}", 36),
	       IMAPP_LITERAL, "2 GiB exactly is allowed");
	is_int(p.literal, 2147483648u, "its size");
	is_int(imapp_line(&p, ")", 1), IMAPP_ERROR,
	       "a line before the literal was given is refused");
	FEED(&p, "* 1 FETCH (UID 5 BODY[] {99999999999999999999999}\r\n", &f);
	ok(f.step == IMAPP_ERROR && has(p.error, "literal"), "literal size "
	   "overflowing 64 bits (%s)", p.error);
	FEED(&p, "* 1 FETCH (UID 5 BODY[] {}\r\n", &f);
	is_int(f.step, IMAPP_ERROR, "empty literal size");
	FEED(&p, "* 1 FETCH (UID 5 BODY[] {5} )\r\n", &f);
	is_int(f.step, IMAPP_ERROR, "text after a literal announcement");
	FEED(&p, "* 1 FETCH (UID 5 BODY[] {-5}\r\n", &f);
	is_int(f.step, IMAPP_ERROR, "negative literal");
	FEED(&p, "* SEARCH {70000}\r\n", &f);
	ok(f.literals == 1 && f.last_literal == 70000 &&
	   p.use == IMAPP_USE_SKIP, "unknown response's literal is to be dropped");
	FEED(&p, "* LIST () \"/\" {65537}\r\n", &f);
	ok(f.step == IMAPP_ERROR && f.literals == 0, "mailbox literal over "
	   "64 KiB refused (%s)", p.error);

	/* Nesting. */
	deep_fetch(deep, sizeof deep, 65);
	feed(&p, deep, strlen(deep), &f);
	ok(f.step == IMAPP_ERROR && has(p.error, "deep"), "65 levels refused");
	deep_fetch(deep, sizeof deep, 64);
	feed(&p, deep, strlen(deep), &f);
	is_int(f.step, IMAPP_DONE, "64 levels pass (%s)", p.error);

	/* A response that never ends: literals, line after line. */
	{
		size_t cap = 11000 * 16, k = 0;
		char *w = malloc(cap);

		k += (size_t)snprintf(w, cap, "* 1 FETCH (X {1}\r\n");
		for (int i = 0; i < 10500; i++)
			k += (size_t)snprintf(w + k, cap - k, "a X {1}\r\n");
		feed(&p, w, k, &f);
		ok(f.step == IMAPP_ERROR && has(p.error, "lines"),
		   "endless literal chain stops (%s)", p.error);
		ok(f.literals < 10001, "... within the line cap (%d)", f.literals);
		free(w);
	}
	/* A line of more than the item cap. */
	{
		size_t cap = 100010 * 2 + 64, k = 0;
		char *w = malloc(cap);

		k += (size_t)snprintf(w, cap, "* SEARCH");
		for (int i = 0; i < 100005; i++) {
			w[k++] = ' ';
			w[k++] = '1';
		}
		feed(&p, w, k, &f);
		ok(f.step == IMAPP_ERROR && has(p.error, "items"),
		   "100005 items refused (%s)", p.error);
		free(w);
	}

	/* NUL bytes. */
	FEED(&p, "* 1 FETCH (UID 5 FLAGS (\\Se\0en))\r\n", &f);
	ok(f.step == IMAPP_ERROR && has(p.error, "NUL"), "NUL in a line");
	ok(has(p.error, "\\Se?en"), "shown as '?' (%s)", p.error);
	FEED(&p, "* LIST () \"/\" {3}\r\na\0b\r\n", &f);
	ok(f.step == IMAPP_ERROR && has(p.error, "NUL"),
	   "NUL in a mailbox literal (%s)", p.error);

	/* Wrong use of the interface. */
	imapp_begin(&p);
	is_int(imapp_literal(&p, NULL, 0), IMAPP_ERROR, "no literal announced");
	imapp_begin(&p);
	is_int(imapp_line(&p, "* LIST () \"/\" {3}", 17), IMAPP_LITERAL,
	       "value literal");
	is_int(imapp_literal(&p, "ab", 2), IMAPP_ERROR, "value of the wrong size");
	imapp_begin(&p);
	is_int(imapp_line(&p, "* 1 EXISTS", 10), IMAPP_DONE, "done");
	is_int(imapp_line(&p, "* 2 EXISTS", 10), IMAPP_ERROR,
	       "another line without imapp_begin");
	imapp_free(&p);
}

static void test_list(void)
{
	struct imapp p = { 0 };
	struct fed f;

	FEED(&p, "* LIST (\\HasNoChildren) \"/\" INBOX\r\n", &f);
	ok(f.step == IMAPP_DONE && p.r.type == IMAPP_T_LIST, "LIST");
	ok(p.r.mailbox && !strcmp(p.r.mailbox, "INBOX") && p.r.mailbox_len == 5,
	   "atom name");
	ok(p.r.list.delim == '/' && p.r.list.attrs == 0, "delimiter, no flags");

	FEED(&p, "* LIST (\\Noselect \\HasChildren) \".\" \"a \\\"q\\\" \\\\ b\"\r\n",
	     &f);
	is_str(p.r.mailbox, "a \"q\" \\ b", "quoted name with escapes");
	ok(p.r.list.attrs == (IMAPP_L_NOSELECT | IMAPP_L_HASCHILDREN),
	   "\\Noselect and \\HasChildren");
	ok(p.r.list.delim == '.', "'.' delimiter");

	FEED(&p, "* LIST () NIL {7}\r\n../../x\r\n", &f);
	ok(f.step == IMAPP_DONE && f.values == 1, "literal name (%s)", p.error);
	is_str(p.r.mailbox, "../../x", "'../../x' as it is");
	ok(p.r.list.delim == 0, "NIL delimiter");

	FEED(&p, "* LIST (\\NonExistent) \"/\" /abs\r\n", &f);
	is_str(p.r.mailbox, "/abs", "'/abs' as an atom");
	ok(p.r.list.attrs == IMAPP_L_NONEXISTENT, "\\NonExistent");

	FEED(&p, "* LIST () \"\\\\\" \"caf\xc3\xa9\"\r\n", &f);
	ok(f.step == IMAPP_DONE && p.r.list.delim == '\\', "'\\\\' delimiter");
	is_str(p.r.mailbox, "caf\xc3\xa9", "8-bit quoted name");
	FEED(&p, "* LIST () \"/\" Entw&APw-rfe\r\n", &f);
	is_str(p.r.mailbox, "Entw&APw-rfe", "modified UTF-7 atom");
	FEED(&p, "* LIST () \"/\" \xe2\x82\xac\r\n", &f);
	is_str(p.r.mailbox, "\xe2\x82\xac", "8-bit atom");
	FEED(&p, "* LIST () \"/\" {6}\r\nnew\r\nl\r\n", &f);
	ok(f.step == IMAPP_DONE && p.r.mailbox_len == 6 &&
	   !memcmp(p.r.mailbox, "new\r\nl", 6), "CRLF inside a literal name");
	FEED(&p, "* LIST () \"/\" \"\"\r\n", &f);
	ok(f.step == IMAPP_DONE && p.r.mailbox_len == 0, "empty name");
	FEED(&p, "* LIST (\\Subscribed) \"/\" \"Foo\" (\"CHILDINFO\" "
	     "(\"SUBSCRIBED\")) (\"OLDNAME\" ({3}\r\nBar))\r\n", &f);
	ok(f.step == IMAPP_DONE && !strcmp(p.r.mailbox, "Foo") && f.skips == 1,
	   "extended data passed over (%s)", p.error);

	static const char *const bad[] = {
		"* LIST \\Noselect \"/\" x\r\n",
		"* LIST () \"//\" x\r\n",
		"* LIST () / x\r\n",
		"* LIST () \"/\"\r\n",
		"* LIST () \"/\" (x)\r\n",
		"* LIST (\"x\") \"/\" x\r\n",
		"* LIST () \"/\" x )\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		feed(&p, bad[i], strlen(bad[i]), &f);
		ok(f.step == IMAPP_ERROR && has(p.error, "LIST"),
		   "malformed LIST %zu (%s)", i, p.error);
	}
	imapp_free(&p);
}

static void test_status_data(void)
{
	struct imapp p = { 0 };
	struct fed f;
	const struct imapp_status *s = &p.r.status;

	FEED(&p, "* STATUS INBOX (MESSAGES 231 UIDNEXT 44292 UIDVALIDITY 1 "
	     "HIGHESTMODSEQ 7011231777)\r\n", &f);
	ok(f.step == IMAPP_DONE && p.r.type == IMAPP_T_STATUS, "STATUS");
	is_str(p.r.mailbox, "INBOX", "name");
	ok(s->messages == 231 && s->uidnext == 44292 && s->uidvalidity == 1 &&
	   s->highestmodseq == 7011231777ull, "numbers");
	is_int(s->have, IMAPP_S_MESSAGES | IMAPP_S_UIDNEXT | IMAPP_S_UIDVALIDITY |
	       IMAPP_S_HIGHESTMODSEQ, "have bits");
	FEED(&p, "* STATUS {5}\r\nA b c (UNSEEN 3 X-SIZE (1 2) MESSAGES 0)\r\n",
	     &f);
	ok(f.step == IMAPP_DONE && !strcmp(p.r.mailbox, "A b c") &&
	   s->unseen == 3 && (s->have & IMAPP_S_MESSAGES), "literal name, "
	   "unknown attribute passed over (%s)", p.error);
	FEED(&p, "* STATUS \"x\" ()\r\n", &f);
	ok(f.step == IMAPP_DONE && s->have == 0, "nothing in it");
	static const char *const bad[] = {
		"* STATUS INBOX MESSAGES 1\r\n",
		"* STATUS INBOX (MESSAGES x)\r\n",
		"* STATUS INBOX (UIDVALIDITY 4294967296)\r\n",
		"* STATUS INBOX (MESSAGES 1\r\n",
		"* STATUS (MESSAGES 1)\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		feed(&p, bad[i], strlen(bad[i]), &f);
		ok(f.step == IMAPP_ERROR && has(p.error, "STATUS"),
		   "malformed STATUS %zu (%s)", i, p.error);
	}
	imapp_free(&p);
}

static void test_other(void)
{
	struct imapp p = { 0 };
	struct fed f;

	FEED(&p, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n", &f);
	ok(f.step == IMAPP_DONE && p.r.type == IMAPP_T_OTHER, "FLAGS passed over");
	FEED(&p, "* SEARCH 2 84 882\r\n", &f);
	ok(f.step == IMAPP_DONE && p.r.type == IMAPP_T_OTHER, "SEARCH");
	FEED(&p, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n", &f);
	ok(f.step == IMAPP_DONE, "NAMESPACE");
	FEED(&p, "* ID (\"name\" \"Dovecot\" \"x\" {3}\r\nabc)\r\n", &f);
	ok(f.step == IMAPP_DONE && f.skips == 1, "ID with a literal");
	FEED(&p, "* 3 XFOO bar\r\n", &f);
	ok(f.step == IMAPP_DONE && p.r.type == IMAPP_T_OTHER, "unknown numbered");
	FEED(&p, "* XFOO \"unterminated\r\n", &f);
	is_int(f.step, IMAPP_ERROR, "unknown, malformed");
	imapp_free(&p);
}

int main(void)
{
	test_status();
	test_numbers();
	test_fetch();
	test_literals();
	test_list();
	test_status_data();
	test_other();
	return tap_done();
}
