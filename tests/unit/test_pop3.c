/* The POP3 mailbox commands (STAT, LIST+UIDL, RETR, DELE) against a scripted
 * server: each case forks a child that accepts one connection on loopback,
 * answers as its struct fake says, and logs every byte it received (raw)
 * and where each read() began and how long it was (reads). Hostile cases
 * check that every oversized or endless answer ends in a clean error. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "error.h"
#include "fakesrv.h"
#include "pop3.h"
#include "session.h"
#include "tap.h"
#include "url.h"

static struct fake_logs logs;

/* Seconds a fake server may live. */
#define CHILD_LIMIT_S 60

/* --- the fake server (child side) --- */

enum hostile {
	H_NONE,
	H_LIST_FOREVER,       /* LIST: "+OK" and numbered lines until hung up */
	H_HANG_UP_AFTER_LOGIN, /* PASS: "+OK", then the connection is closed */
};

struct fake {
	const char *caps;             /* CAPA lines, '\n'-separated */
	const char *caps_after;       /* ... once logged in; NULL: the same */
	const char *const *msgs;      /* the maildrop, LF line ends */
	size_t nmsgs;
	const char *stat_reply;       /* verbatim answers, or NULL */
	const char *list_reply;
	const char *uidl_reply;
	const char *uidl_one_reply;   /* verbatim answer to "UIDL n", or NULL */
	const char *pass_reply;
	bool no_timestamp;            /* a greeting without APOP's <...> */
	unsigned long retr_err_num;   /* RETR of this message gets retr_err */
	const char *retr_err;
	unsigned long dele_err_num;   /* DELE of this one gets dele_err */
	const char *dele_err;
	unsigned long cut_num;        /* send half of this message, hang up */
	unsigned long raw_num;        /* RETR of this message gets "+OK", then */
	const char *raw_body;         /* ... these bytes as they are, a '\f'
					 standing for a 50 ms pause */
	size_t max_line;              /* the client's line cap; 0: default */
	enum hostile hostile;
};

/* Octets of a message on the wire, CRLF line ends, unstuffed. */
static size_t wire_size(const char *m)
{
	size_t n = strlen(m), lines = 0;

	for (size_t i = 0; i < n; i++)
		lines += m[i] == '\n';
	if (n > 0 && m[n - 1] != '\n')
		lines++, n++;
	return n + lines;
}

/* Send message m as RETR's answer: CRLF, dot-stuffed, "." at the end. With
 * cut, only the first half goes out. */
static int send_message(int fd, const char *m, bool cut)
{
	size_t n = strlen(m), cap = 2 * n + 16, k = 0;
	char *out = malloc(cap);
	bool bol = true;
	int rc;

	if (!out)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (bol && m[i] == '.')
			out[k++] = '.';
		bol = m[i] == '\n';
		if (bol)
			out[k++] = '\r';
		out[k++] = m[i];
	}
	if (!bol) {
		out[k++] = '\r';
		out[k++] = '\n';
	}
	if (cut)
		k /= 2;
	else
		memcpy(out + k, ".\r\n", 3), k += 3;
	rc = write_all(fd, out, k);
	free(out);
	return rc;
}

/* raw_body: written in the pieces its '\f' marks, with pauses between, so
 * the client sees each piece arrive on its own. */
static int send_raw(int fd, const char *b)
{
	for (;;) {
		size_t n = strcspn(b, "\f");

		if (n && write_all(fd, b, n) < 0)
			return -1;
		if (!b[n])
			return 0;
		usleep(50000);
		b += n + 1;
	}
}

static void list_forever(int fd)
{
	static char chunk[1 << 16];
	unsigned long num = 1;

	if (say(fd, "+OK scan listing follows\r\n") < 0)
		return;
	for (;;) {
		size_t k = 0;

		while (k + 32 < sizeof chunk)
			k += (size_t)snprintf(chunk + k, sizeof chunk - k,
					      "%lu 1000\r\n", num++);
		if (write_all(fd, chunk, k) < 0)
			return;
	}
}

#define APOP_STAMP "<1.2@fake.test>"

/* "alice DIGEST" with the MD5 of the greeting's stamp and "secret", in
 * lowercase hex (RFC 1939), computed here independently of the client. */
static bool apop_good(const char *arg)
{
	static const char input[] = APOP_STAMP "secret";
	unsigned char d[16];
	char want[6 + 33] = "alice ";

	if (gnutls_hash_fast(GNUTLS_DIG_MD5, input, sizeof input - 1, d) < 0)
		return false;
	for (int i = 0; i < 16; i++)
		snprintf(want + 6 + 2 * i, 3, "%02x", d[i]);
	return strcmp(arg, want) == 0;
}

static int serve(int fd, const void *arg)
{
	const struct fake *f = arg;
	static char in[1 << 16];
	struct rd r;
	char line[1024], buf[256];
	unsigned long num;
	bool logged_in = false;

	if (!rd_open(&r, fd, &logs, in, sizeof in))
		return 90;
	say(fd, f->no_timestamp ? "+OK fake POP3 ready\r\n"
				: "+OK fake POP3 ready " APOP_STAMP "\r\n");
	for (size_t len = 0; rd_line(&r, line, sizeof line, &len); len = 0) {
		if (!strcasecmp(line, "CAPA")) {
			const char *caps = logged_in && f->caps_after ? f->caps_after
								       : f->caps;
			say(fd, "+OK capabilities\r\n");
			for (const char *p = caps ? caps : ""; *p;) {
				size_t n = strcspn(p, "\n");

				write_all(fd, p, n);
				say(fd, "\r\n");
				p += n + (p[n] == '\n');
			}
			say(fd, ".\r\n");
		} else if (!strncasecmp(line, "APOP ", 5)) {
			say(fd, apop_good(line + 5) ? "+OK logged in\r\n"
						    : "-ERR [AUTH] bad digest\r\n");
			logged_in = apop_good(line + 5);
		} else if (!strncasecmp(line, "USER ", 5)) {
			say(fd, "+OK\r\n");
		} else if (!strncasecmp(line, "PASS ", 5)) {
			say(fd, f->pass_reply ? f->pass_reply : "+OK logged in\r\n");
			logged_in = !f->pass_reply;
			if (f->hostile == H_HANG_UP_AFTER_LOGIN)
				break;
		} else if (!strcasecmp(line, "STAT")) {
			size_t total = 0;

			if (f->stat_reply) {
				say(fd, f->stat_reply);
				continue;
			}
			for (size_t i = 0; i < f->nmsgs; i++)
				total += wire_size(f->msgs[i]);
			snprintf(buf, sizeof buf, "+OK %zu %zu\r\n", f->nmsgs, total);
			say(fd, buf);
		} else if (!strcasecmp(line, "LIST")) {
			if (f->hostile == H_LIST_FOREVER) {
				list_forever(fd);
				break;
			}
			if (f->list_reply) {
				say(fd, f->list_reply);
				continue;
			}
			say(fd, "+OK scan listing follows\r\n");
			for (size_t i = 0; i < f->nmsgs; i++) {
				snprintf(buf, sizeof buf, "%zu %zu\r\n", i + 1,
					 wire_size(f->msgs[i]));
				say(fd, buf);
			}
			say(fd, ".\r\n");
		} else if (!strcasecmp(line, "UIDL")) {
			if (f->uidl_reply) {
				say(fd, f->uidl_reply);
				continue;
			}
			say(fd, "+OK\r\n");
			for (size_t i = 0; i < f->nmsgs; i++) {
				snprintf(buf, sizeof buf, "%zu uid-%zu\r\n", i + 1,
					 i + 1);
				say(fd, buf);
			}
			say(fd, ".\r\n");
		} else if (sscanf(line, "UIDL %lu", &num) == 1) {
			if (f->uidl_one_reply)
				say(fd, f->uidl_one_reply);
			else if (num < 1 || num > f->nmsgs)
				say(fd, "-ERR no such message\r\n");
			else {
				snprintf(buf, sizeof buf, "+OK %lu uid-%lu\r\n", num, num);
				say(fd, buf);
			}
		} else if (sscanf(line, "RETR %lu", &num) == 1) {
			if (num == f->retr_err_num) {
				say(fd, f->retr_err);
			} else if (num == f->raw_num) {
				say(fd, "+OK raw\r\n");
				send_raw(fd, f->raw_body);
			} else if (num < 1 || num > f->nmsgs) {
				say(fd, "-ERR no such message\r\n");
			} else {
				snprintf(buf, sizeof buf, "+OK %zu octets\r\n",
					 wire_size(f->msgs[num - 1]));
				say(fd, buf);
				send_message(fd, f->msgs[num - 1], num == f->cut_num);
				if (num == f->cut_num)
					break;
			}
		} else if (sscanf(line, "DELE %lu", &num) == 1) {
			if (num == f->dele_err_num)
				say(fd, f->dele_err);
			else if (num < 1 || num > f->nmsgs)
				say(fd, "-ERR no such message\r\n");
			else
				say(fd, "+OK marked\r\n");
		} else if (!strcasecmp(line, "QUIT")) {
			say(fd, "+OK bye\r\n");
			break;
		} else {
			say(fd, "-ERR unknown command\r\n");
		}
	}
	rd_close(&r);
	return 0;
}

/* --- parent side --- */

struct sess {
	struct fake_run run;
	struct pop3_session *s;
};

static bool sess_open(struct sess *x, const struct fake *f)
{
	struct mp_error err = { 0 };

	x->s = NULL;
	if (!fake_run_start(&x->run, serve, f, CHILD_LIMIT_S, "pop3", 10000))
		return false;
	x->run.so.conn.max_line = f->max_line;
	if (pop3_open(&x->s, &x->run.so, &err) != MP_OK) {
		ok(0, "pop3_open: %s", err.msg);
		x->s = NULL;
		return false;
	}
	return true;
}

/* Close without QUIT (the case decides), reap, read the logs. */
static void sess_end(struct sess *x)
{
	pop3_close(x->s);
	x->s = NULL;
	fake_run_end(&x->run, CHILD_LIMIT_S);
	fake_run_logs(&x->run, &logs);
}

static void sess_free(struct sess *x)
{
	fake_run_free(&x->run);
}

/* STAT alone: a glance at no message. */
static enum mp_status stat_only(struct pop3_session *s, unsigned long *count,
				unsigned long long *size, struct mp_error *err)
{
	struct pop3_glance g;
	enum mp_status st = pop3_glance(s, 0, &g, err);

	*count = g.count;
	*size = g.octets;
	return st;
}

/* --- a recording sink --- */

#define MAXMSG 16

struct got {
	char *msg[MAXMSG];
	size_t len[MAXMSG], cap[MAXMSG];
	size_t calls[MAXMSG];
	size_t maxchunk;
	char events[512];          /* "b0 e0 b1 ..." */
	long fail_index;           /* data for this index fails; -1: never */
	bool fail_begin;           /* ... at begin instead */
};

static void event(struct got *g, char what, size_t index)
{
	size_t n = strlen(g->events);

	snprintf(g->events + n, sizeof g->events - n, "%c%zu ", what, index);
}

static enum mp_status g_begin(void *ctx, size_t index, struct mp_error *err)
{
	struct got *g = ctx;

	event(g, 'b', index);
	if (g->fail_begin && (long)index == g->fail_index)
		return mp_fail(err, MP_ERR_IO, "cannot create file: no space");
	return MP_OK;
}

static enum mp_status g_data(void *ctx, size_t index, const char *buf,
			     size_t len, struct mp_error *err)
{
	struct got *g = ctx;

	if (index >= MAXMSG)
		return mp_fail(err, MP_ERR_INTERNAL, "index %zu", index);
	if ((long)index == g->fail_index)
		return mp_fail(err, MP_ERR_IO, "disk full writing message");
	if (g->len[index] + len + 1 > g->cap[index]) {
		g->cap[index] = (g->len[index] + len + 1) * 2;
		g->msg[index] = realloc(g->msg[index], g->cap[index]);
	}
	memcpy(g->msg[index] + g->len[index], buf, len);
	g->len[index] += len;
	g->msg[index][g->len[index]] = '\0';
	g->calls[index]++;
	if (len > g->maxchunk)
		g->maxchunk = len;
	return MP_OK;
}

static enum mp_status g_end(void *ctx, size_t index, struct mp_error *err)
{
	(void)err;
	event(ctx, 'e', index);
	return MP_OK;
}

static void got_init(struct got *g, struct pop3_sink *sink)
{
	memset(g, 0, sizeof *g);
	g->fail_index = -1;
	sink->begin = g_begin;
	sink->data = g_data;
	sink->end = g_end;
	sink->ctx = g;
}

static void got_free(struct got *g)
{
	for (int i = 0; i < MAXMSG; i++)
		free(g->msg[i]);
}

/* Message i as retrieved equals want (with a final LF added if missing). */
static bool same_msg(const struct got *g, size_t i, const char *want)
{
	size_t n = strlen(want);
	bool lf = n == 0 || want[n - 1] == '\n';

	if (g->len[i] != n + !lf)
		return false;
	if (n && memcmp(g->msg[i], want, n))
		return false;
	return lf || g->msg[i][n] == '\n';
}

/* --- the maildrop --- */

static const char m_dots[] =
	"From: a@example.org\n"
	"Subject: dots\n"
	"\n"
	".\n"
	"..\n"
	".x\n"
	"From x\n"
	"\n"
	"\n"
	". \n"
	"last";
static const char m_empty[] = "";
static const char m_bytes[] =
	"Subject: bytes\n"
	"\n"
	"a\rb\n"
	"caf\xc3\xa9 8-bit\n"
	"trailing blank \n"
	"\ttab\n";

static char *big_message(size_t lines)
{
	char *m = malloc(lines * 120 + 64), *p = m;

	if (!m)
		abort();
	p += sprintf(p, "Subject: big\n\n");
	for (size_t i = 0; i < lines; i++) {
		if (i % 7 == 0)
			p += sprintf(p, ".dot line %zu\n", i);
		else if (i % 11 == 0)
			p += sprintf(p, "\n");
		else
			p += sprintf(p, "line %zu of a large message, with some "
				     "padding to make it longer than usual.\n", i);
	}
	return m;
}

#define CAPS_PIPE "TOP\nUIDL\nRESP-CODES\nPIPELINING\nUSER"
#define CAPS_PLAIN "TOP\nUIDL\nRESP-CODES\nUSER"

/* --- cases --- */

static void test_stat(void)
{
	const char *msgs[] = { m_dots, m_bytes };
	struct fake f = { .caps = CAPS_PIPE, .msgs = msgs, .nmsgs = 2 };
	struct mp_error err = { 0 };
	unsigned long count = 0;
	unsigned long long size = 0;
	struct sess x;

	if (!sess_open(&x, &f))
		return;
	is_int(stat_only(x.s, &count, &size, &err), MP_OK, "STAT (%s)", err.msg);
	is_int(count, 2, "two messages");
	is_int(size, wire_size(m_dots) + wire_size(m_bytes), "total size");
	is_int(pop3_quit(x.s, &err), MP_OK, "QUIT");
	sess_end(&x);
	is_int(x.run.child, 0, "server ran to the end");
	sess_free(&x);
}

/* UIDL, then LIST for the sizes, as popfetch does when there is mail to
 * fetch. On failure nothing is handed out. */
static enum mp_status list_both(struct pop3_session *s, struct pop3_entry **e,
				size_t *n, struct mp_error *err)
{
	enum mp_status st = pop3_uidl(s, e, n, err);

	if (st == MP_OK)
		st = pop3_sizes(s, true, e, n, err);
	if (st != MP_OK) {
		free(*e);
		*e = NULL;
		*n = 0;
	}
	return st;
}

static void test_uidl_then_list(void)
{
	const char *msgs[] = { m_dots, m_empty, m_bytes };
	struct fake f = { .caps = CAPS_PIPE, .msgs = msgs, .nmsgs = 3 };
	struct mp_error err = { 0 };
	struct pop3_entry *e = NULL;
	size_t n = 0;
	struct sess x;

	if (!sess_open(&x, &f))
		return;
	is_int(pop3_uidl(x.s, &e, &n, &err), MP_OK, "UIDL (%s)", err.msg);
	is_int(n, 3, "three entries");
	if (n == 3) {
		ok(e[0].num == 1 && e[1].num == 2 && e[2].num == 3, "numbers");
		is_str(e[2].uidl, "uid-3", "UIDLs");
		ok(e[0].size == 0 && e[2].size == 0, "sizes not known yet");
	}
	is_int(pop3_sizes(x.s, true, &e, &n, &err), MP_OK, "LIST (%s)", err.msg);
	if (n == 3) {
		is_int(e[0].size, wire_size(m_dots), "size from LIST");
		is_int(e[1].size, 2 * 0, "empty message size 0");
		is_str(e[2].uidl, "uid-3", "UIDLs kept");
	}
	is_int(pop3_quit(x.s, &err), MP_OK, "QUIT after LIST");
	sess_end(&x);
	ok(has(x.run.raw, "UIDL\r\nLIST\r\nQUIT\r\n"), "UIDL, then LIST");
	free(e);
	sess_free(&x);
}

static void test_list_without_uidl(void)
{
	const char *msgs[] = { m_dots, m_bytes };
	struct fake f = {
		.caps = CAPS_PLAIN, .msgs = msgs, .nmsgs = 2,
		.uidl_reply = "-ERR unknown command\r\n",
	};
	struct mp_error err = { 0 };
	struct pop3_entry *e = NULL;
	size_t n = 0;
	struct sess x;

	if (!sess_open(&x, &f))
		return;
	is_int(pop3_uidl(x.s, &e, &n, &err), MP_ERR_UNAVAILABLE,
	       "no UIDL (%s)", err.msg);
	is_int(pop3_sizes(x.s, false, &e, &n, &err), MP_OK,
	       "LIST alone (%s)", err.msg);
	ok(n == 2 && e[0].num == 1 && e[1].num == 2 &&
	   e[1].size == wire_size(m_bytes) && !e[0].uidl[0],
	   "entries made from LIST, without UIDLs");
	pop3_quit(x.s, &err);
	sess_end(&x);
	free(e);
	sess_free(&x);
}

static void test_list_plain(void)
{
	const char *msgs[] = { m_dots, m_bytes };
	struct fake f = {
		.caps = CAPS_PLAIN, .msgs = msgs, .nmsgs = 2,
		/* Out of order, with extra text after the size, both legal. */
		.list_reply = "+OK 2 messages\r\n2 99 extra\r\n1 50\r\n.\r\n",
		.uidl_reply = "+OK\r\n1 AAA\r\n2 BBB\r\n.\r\n",
	};
	struct mp_error err = { 0 };
	struct pop3_entry *e = NULL;
	size_t n = 0;
	struct sess x;

	if (!sess_open(&x, &f))
		return;
	is_int(list_both(x.s, &e, &n, &err), MP_OK, "UIDL, then LIST (%s)",
	       err.msg);
	ok(n == 2 && e[0].num == 1 && e[0].size == 50 &&
	   !strcmp(e[0].uidl, "AAA") && e[1].num == 2 && e[1].size == 99 &&
	   !strcmp(e[1].uidl, "BBB"), "sorted and merged by number");
	pop3_quit(x.s, &err);
	sess_end(&x);
	ok(has(x.run.raw, "UIDL\r\nLIST\r\n") &&
	   !same_read(x.run.raw, x.run.reads, "UIDL\r\n", "LIST\r\n"),
	   "LIST only after UIDL's answer");
	free(e);
	sess_free(&x);
}

/* One LIST case expected to fail with status want and a message holding
 * needle; then checks whether QUIT still works. */
static void list_fails(const struct fake *f, enum mp_status want,
		       const char *needle, bool usable, const char *name)
{
	struct mp_error err = { 0 }, qerr = { 0 };
	struct pop3_entry *e = (struct pop3_entry *)1;
	size_t n = 7;
	struct sess x;

	if (!sess_open(&x, f))
		return;
	is_int(list_both(x.s, &e, &n, &err), want, "%s: status (%s)", name,
	       err.msg);
	ok(has(err.msg, needle), "%s: says '%s'", name, needle);
	diag_unless(has(err.msg, needle), err.msg);
	ok(e == NULL && n == 0, "%s: no entries handed out", name);
	if (usable)
		is_int(pop3_quit(x.s, &qerr), MP_OK, "%s: QUIT still works (%s)",
		       name, qerr.msg);
	else
		ok(pop3_quit(x.s, &qerr) != MP_OK,
		   "%s: session refuses further commands", name);
	sess_end(&x);
	ok(x.run.child == 0, "%s: server exited cleanly", name);
	sess_free(&x);
}

static void test_list_errors(void)
{
	struct fake f = { .caps = CAPS_PIPE };
	char *uidl;

	f.uidl_reply = "-ERR unknown command\r\n";
	f.list_reply = "+OK\r\n1 10\r\n.\r\n";
	list_fails(&f, MP_ERR_UNAVAILABLE,
		   "server does not support UIDL; popfetch cannot tell old "
		   "messages from new", true, "no UIDL");

	f.caps = CAPS_PLAIN;
	list_fails(&f, MP_ERR_UNAVAILABLE, "server does not support UIDL",
		   true, "no UIDL, no pipelining");
	f.caps = CAPS_PIPE;

	f.uidl_reply = "+OK\r\n1 a\r\n2 b\r\n3 c\r\n.\r\n";
	f.list_reply = "+OK\r\n1 10\r\n2 20\r\n.\r\n";
	list_fails(&f, MP_ERR_PROTOCOL, "UIDL names message 3, which its LIST "
		   "does not", true, "UIDL-only message");

	f.uidl_reply = "+OK\r\n1 a\r\n3 c\r\n.\r\n";
	list_fails(&f, MP_ERR_PROTOCOL, "UIDL leaves out message 2, which its "
		   "LIST names", true, "UIDL and LIST differ in the middle");

	f.uidl_reply = "+OK\r\n1 a\r\n.\r\n";
	list_fails(&f, MP_ERR_PROTOCOL, "UIDL leaves out message 2", true,
		   "LIST-only message");

	f.uidl_reply = "+OK\r\n1 a\r\n2 a\r\n.\r\n";
	list_fails(&f, MP_ERR_PROTOCOL, "messages 1 and 2 the same UIDL 'a'",
		   true, "duplicate UIDL");

	f.uidl_reply = "+OK\r\n1 a\r\n1 b\r\n.\r\n";
	list_fails(&f, MP_ERR_PROTOCOL, "UIDL names message 1 twice", false,
		   "UIDL number twice");

	f.uidl_reply = "+OK\r\n1 a\r\n.\r\n";
	f.list_reply = "+OK\r\n1 10\r\n1 20\r\n.\r\n";
	list_fails(&f, MP_ERR_PROTOCOL, "LIST names message 1 twice", false,
		   "LIST number twice");

	f.list_reply = "+OK\r\n1 10\r\n2 lots\r\n.\r\n";
	list_fails(&f, MP_ERR_PROTOCOL, "malformed LIST line from server: "
		   "'2 lots'", false, "malformed LIST line");

	f.list_reply = "+OK\r\n1 1\x1b[31m\r\n.\r\n";
	list_fails(&f, MP_ERR_PROTOCOL, "'1 1?[31m'", false,
		   "control bytes shown as '?'");

	f.list_reply = "+OK\r\n1099511627776 10\r\n.\r\n";
	list_fails(&f, MP_ERR_PROTOCOL, "'1099511627776 10'", false,
		   "message number 2^40");

	f.list_reply = "+OK\r\n1 10\r\n.\r\n";
	f.uidl_reply = "+OK\r\n1 "
		"0123456789012345678901234567890123456789012345678901234567890123456789x"
		"\r\n.\r\n";
	list_fails(&f, MP_ERR_PROTOCOL, "malformed UIDL line", false,
		   "71-character UIDL");

	/* 100 KB UIDL: over the 64 KiB line cap already. */
	uidl = malloc(100 * 1024 + 64);
	if (!uidl)
		abort();
	strcpy(uidl, "+OK\r\n1 ");
	memset(uidl + 7, 'u', 100 * 1024);
	strcpy(uidl + 7 + 100 * 1024, "\r\n.\r\n");
	f.uidl_reply = uidl;
	list_fails(&f, MP_ERR_PROTOCOL, "line longer than", false,
		   "100 KB UIDL");
	free(uidl);

	f.list_reply = "-ERR [SYS/TEMP] index being rebuilt\r\n";
	f.uidl_reply = "+OK\r\n1 a\r\n.\r\n";
	list_fails(&f, MP_ERR_TEMP, "LIST failed: -ERR [SYS/TEMP] index being "
		   "rebuilt", true, "LIST -ERR [SYS/TEMP] after UIDL");

	f.list_reply = "HELLO THERE\r\n";
	list_fails(&f, MP_ERR_PROTOCOL, "malformed reply from server: "
		   "'HELLO THERE'", false, "malformed status line");
}

static void test_list_forever(void)
{
	struct fake f = { .caps = CAPS_PIPE, .hostile = H_LIST_FOREVER };
	struct mp_error err = { 0 };
	struct pop3_entry *e = NULL;
	size_t n = 0;
	struct sess x;

	if (sess_open(&x, &f)) {
		pop3_set_max_messages(x.s, 1000);
		is_int(list_both(x.s, &e, &n, &err), MP_ERR_PROTOCOL,
		       "endless LIST, cap 1000: protocol error (%s)", err.msg);
		ok(has(err.msg, "LIST answer goes on past 1000 messages"),
		   "says where it stopped");
		ok(e == NULL, "nothing handed out");
		sess_end(&x);
		is_int(x.run.child, 0, "server noticed the hang-up");
		sess_free(&x);
	}

	/* The real cap: a million lines still end cleanly. */
	if (sess_open(&x, &f)) {
		is_int(list_both(x.s, &e, &n, &err), MP_ERR_PROTOCOL,
		       "endless LIST, default cap: protocol error (%s)", err.msg);
		ok(has(err.msg, "past 1000000 messages"), "at POP3_MAX_MESSAGES");
		sess_end(&x);
		sess_free(&x);
	}
}

static void test_stat_hostile(void)
{
	struct fake f = { .caps = CAPS_PIPE };
	struct mp_error err = { 0 };
	unsigned long count = 0;
	unsigned long long size = 0;
	struct sess x;
	char *huge;

	f.stat_reply = "+OK 1099511627776 100\r\n";
	if (sess_open(&x, &f)) {
		is_int(stat_only(x.s, &count, &size, &err), MP_ERR_PROTOCOL,
		       "STAT claiming 2^40 messages (%s)", err.msg);
		ok(has(err.msg, "'1099511627776 100'"), "names the reply");
		is_int(pop3_quit(x.s, &err), MP_OK, "single-line: still in step");
		sess_end(&x);
		sess_free(&x);
	}

	f.stat_reply = "+OK two 100\r\n";
	if (sess_open(&x, &f)) {
		is_int(stat_only(x.s, &count, &size, &err), MP_ERR_PROTOCOL,
		       "STAT with words (%s)", err.msg);
		sess_end(&x);
		sess_free(&x);
	}

	f.stat_reply = "-ERR [IN-USE] mailbox locked by another session\r\n";
	if (sess_open(&x, &f)) {
		is_int(stat_only(x.s, &count, &size, &err), MP_ERR_TEMP,
		       "STAT -ERR [IN-USE] is temporary (%s)", err.msg);
		ok(has(err.msg, "[IN-USE] mailbox locked"), "code and text shown");
		sess_end(&x);
		sess_free(&x);
	}

	/* A 10 MB line: the line cap stops it. */
	huge = malloc(10 * 1024 * 1024 + 16);
	if (!huge)
		abort();
	strcpy(huge, "+OK 1 ");
	memset(huge + 6, '9', 10 * 1024 * 1024);
	strcpy(huge + 6 + 10 * 1024 * 1024, "\r\n");
	f.stat_reply = huge;
	if (sess_open(&x, &f)) {
		is_int(stat_only(x.s, &count, &size, &err), MP_ERR_PROTOCOL,
		       "10 MB STAT line (%s)", err.msg);
		ok(has(err.msg, "line longer than 65536 bytes"), "line cap named");
		ok(pop3_quit(x.s, &err) != MP_OK, "no QUIT on a broken session");
		sess_end(&x);
		sess_free(&x);
	}
	free(huge);
}

static enum mp_status give_password(void *ctx, bool token,
				    const char **secret, struct mp_error *err)
{
	(void)ctx;
	(void)token;
	(void)err;
	*secret = "secret";
	return MP_OK;
}

/* RESP-CODES at login: [IN-USE] is "try later", [AUTH] is refused. */
static void test_auth_codes(void)
{
	struct fake f = { .caps = CAPS_PIPE,
			  .pass_reply = "-ERR [IN-USE] Mailbox is locked\r\n" };
	struct mp_auth auth = { .user = "alice", .mech = "USER",
				.allow_plaintext = true,
				.get_secret = give_password };
	struct mp_error err = { 0 };
	struct sess x;

	if (sess_open(&x, &f)) {
		is_int(pop3_auth(x.s, &auth, &err), MP_ERR_TEMP,
		       "PASS -ERR [IN-USE]: temporary (%s)", err.msg);
		ok(has(err.msg, "[IN-USE] Mailbox is locked"), "reason shown");
		sess_end(&x);
		sess_free(&x);
	}
	f.pass_reply = "-ERR [AUTH] invalid password\r\n";
	if (sess_open(&x, &f)) {
		is_int(pop3_auth(x.s, &auth, &err), MP_ERR_AUTH,
		       "PASS -ERR [AUTH]: refused (%s)", err.msg);
		sess_end(&x);
		sess_free(&x);
	}
	f.pass_reply = "-ERR [SYS/TEMP] backend down\r\n";
	if (sess_open(&x, &f)) {
		is_int(pop3_auth(x.s, &auth, &err), MP_ERR_TEMP,
		       "PASS -ERR [SYS/TEMP]: temporary (%s)", err.msg);
		sess_end(&x);
		sess_free(&x);
	}
	f.pass_reply = NULL;
	if (sess_open(&x, &f)) {
		unsigned long count;
		unsigned long long size;

		memset(&err, 0, sizeof err);
		is_int(pop3_auth(x.s, &auth, &err), MP_OK, "login (%s)", err.msg);
		is_int(stat_only(x.s, &count, &size, &err), MP_OK,
		       "STAT after login");
		pop3_quit(x.s, &err);
		sess_end(&x);
		ok(has(x.run.trace_buf, "C: PASS <redacted>"), "password not traced");
		sess_free(&x);
	}
}

static bool has_cap(struct pop3_session *s, const char *cap)
{
	const struct session_info *info = pop3_info(s);

	for (size_t i = 0; i < info->ncaps; i++)
		if (!strcmp(info->caps[i], cap))
			return true;
	return false;
}

/* APOP only when asked for, with the right digest and never the password
 * itself; a greeting without a stamp cannot do APOP. */
static void test_apop(void)
{
	struct fake f = { .caps = CAPS_PIPE };
	struct mp_auth auth = { .user = "alice", .mech = "APOP",
				.allow_plaintext = true,
				.get_secret = give_password };
	struct mp_error err = { 0 };
	struct sess x;

	if (sess_open(&x, &f)) {
		is_int(pop3_auth(x.s, &auth, &err), MP_OK, "APOP login (%s)", err.msg);
		is_str(pop3_info(x.s)->auth_used, "APOP", "APOP used");
		pop3_quit(x.s, &err);
		sess_end(&x);
		ok(has(x.run.raw, "APOP alice ") && !has(x.run.raw, "secret") &&
		   !has(x.run.raw, "USER") && !has(x.run.raw, "PASS"),
		   "a digest goes out, no password");
		sess_free(&x);
	}
	/* Not asked for: USER/PASS, though the greeting has a stamp. */
	auth.mech = NULL;
	if (sess_open(&x, &f)) {
		is_int(pop3_auth(x.s, &auth, &err), MP_OK, "auto login (%s)", err.msg);
		pop3_quit(x.s, &err);
		sess_end(&x);
		ok(has(x.run.raw, "USER alice\r\n") && !has(x.run.raw, "APOP"),
		   "auto does not pick APOP");
		sess_free(&x);
	}
	auth.mech = "APOP";
	f.no_timestamp = true;
	if (sess_open(&x, &f)) {
		is_int(pop3_auth(x.s, &auth, &err), MP_ERR_UNAVAILABLE,
		       "no stamp in the greeting: unavailable (%s)", err.msg);
		sess_end(&x);
		ok(!has(x.run.raw, "APOP") && !has(x.run.raw, "secret"),
		   "nothing sent");
		sess_free(&x);
	}
}

/* CAPA after login: with PIPELINING it goes out in one write with the next
 * command, and its answer is read before that command's. */
static void test_capa_after_login(void)
{
	const char *msgs[] = { m_dots, m_bytes };
	struct fake f = { .caps = CAPS_PIPE, .msgs = msgs, .nmsgs = 2,
			  .caps_after = "UIDL\nPIPELINING\nX-AFTER-LOGIN" };
	struct mp_auth auth = { .user = "alice", .mech = "USER",
				.allow_plaintext = true,
				.get_secret = give_password };
	struct mp_error err = { 0 };
	struct pop3_entry *e = NULL;
	size_t n = 0;
	struct sess x;

	if (sess_open(&x, &f)) {
		is_int(pop3_auth(x.s, &auth, &err), MP_OK, "login (%s)", err.msg);
		is_int(pop3_uidl(x.s, &e, &n, &err), MP_OK, "UIDL (%s)", err.msg);
		is_int((long)n, 2, "both messages listed");
		ok(n == 2 && !strcmp(e[1].uidl, "uid-2"), "UIDL answer read after CAPA's");
		ok(has_cap(x.s, "X-AFTER-LOGIN") && !has_cap(x.s, "TOP"),
		   "capabilities are the ones after login");
		pop3_quit(x.s, &err);
		sess_end(&x);
		ok(same_read(x.run.raw, x.run.reads, "CAPA\r\nUIDL\r\n", "UIDL\r\n"),
		   "CAPA and UIDL sent in one write");
		diag_unless(same_read(x.run.raw, x.run.reads, "CAPA\r\nUIDL\r\n", "UIDL\r\n"),
			    x.run.reads);
		sess_free(&x);
	}
	free(e);
	e = NULL;

	/* pop3_info asks for the answer itself: a probe shows the right list. */
	if (sess_open(&x, &f)) {
		is_int(pop3_auth(x.s, &auth, &err), MP_OK, "login (%s)", err.msg);
		ok(has_cap(x.s, "X-AFTER-LOGIN"), "pop3_info reads a pending CAPA");
		unsigned long count;
		unsigned long long size;
		is_int(stat_only(x.s, &count, &size, &err), MP_OK, "STAT next (%s)",
		       err.msg);
		is_int((long)count, 2, "STAT's answer is STAT's");
		pop3_quit(x.s, &err);
		sess_end(&x);
		sess_free(&x);
	}

	/* Without PIPELINING, CAPA alone and answered before UIDL goes out. */
	f.caps = CAPS_PLAIN;
	if (sess_open(&x, &f)) {
		is_int(pop3_auth(x.s, &auth, &err), MP_OK, "login (%s)", err.msg);
		ok(has_cap(x.s, "X-AFTER-LOGIN"), "capabilities after login");
		is_int(pop3_uidl(x.s, &e, &n, &err), MP_OK, "UIDL (%s)", err.msg);
		pop3_quit(x.s, &err);
		sess_end(&x);
		ok(has(x.run.raw, "CAPA\r\nUIDL\r\n") &&
		   !same_read(x.run.raw, x.run.reads, "CAPA\r\nUIDL\r\n", "UIDL\r\n"),
		   "UIDL only after CAPA's answer");
		sess_free(&x);
	}
	free(e);

	/* A pending CAPA whose answer never comes: a clean error, not a hang
	 * or a misread UIDL. */
	f.caps = CAPS_PIPE;
	f.caps_after = NULL;
	f.uidl_reply = "";
	f.hostile = H_HANG_UP_AFTER_LOGIN;
	if (sess_open(&x, &f)) {
		is_int(pop3_auth(x.s, &auth, &err), MP_OK, "login (%s)", err.msg);
		e = NULL;
		ok(pop3_uidl(x.s, &e, &n, &err) != MP_OK && e == NULL,
		   "connection lost before CAPA's answer: an error (%s)", err.msg);
		unsigned long count;
		unsigned long long size;
		ok(stat_only(x.s, &count, &size, &err) != MP_OK &&
		   has(err.msg, "earlier error"), "later commands refused (%s)",
		   err.msg);
		sess_end(&x);
		sess_free(&x);
	}
}

/* STAT and "UIDL n" at a glance: one write after a pending CAPA with
 * PIPELINING, one at a time without; a missing message is "", a wrong
 * answer a protocol error. */
static void test_glance(void)
{
	const char *msgs[] = { m_dots, m_bytes, m_dots };
	struct fake f = { .caps = CAPS_PIPE, .msgs = msgs, .nmsgs = 3 };
	struct mp_auth auth = { .user = "alice", .mech = "USER",
				.allow_plaintext = true,
				.get_secret = give_password };
	struct mp_error err = { 0 };
	struct pop3_glance g;
	struct sess x;

	if (sess_open(&x, &f)) {
		is_int(pop3_auth(x.s, &auth, &err), MP_OK, "login (%s)", err.msg);
		is_int(pop3_glance(x.s, 3, &g, &err), MP_OK, "glance (%s)", err.msg);
		is_int((long)g.count, 3, "STAT's count");
		ok(g.octets == wire_size(m_dots) * 2 + wire_size(m_bytes),
		   "STAT's octets");
		is_str(g.uidl, "uid-3", "message 3's UIDL");
		is_int(pop3_glance(x.s, 4, &g, &err), MP_OK, "glance past the end");
		is_str(g.uidl, "", "no message 4: no UIDL");
		is_int(pop3_glance(x.s, 0, &g, &err), MP_OK, "STAT alone");
		pop3_quit(x.s, &err);
		sess_end(&x);
		ok(same_read(x.run.raw, x.run.reads, "CAPA\r\nSTAT\r\nUIDL 3\r\n", "UIDL 3\r\n"),
		   "CAPA, STAT and UIDL 3 in one write");
		ok(!has(x.run.raw, "UIDL 0"), "no UIDL for number 0");
		sess_free(&x);
	}

	f.caps = CAPS_PLAIN;
	if (sess_open(&x, &f)) {
		is_int(pop3_auth(x.s, &auth, &err), MP_OK, "login (%s)", err.msg);
		is_int(pop3_glance(x.s, 2, &g, &err), MP_OK, "glance (%s)", err.msg);
		is_str(g.uidl, "uid-2", "message 2's UIDL");
		pop3_quit(x.s, &err);
		sess_end(&x);
		ok(has(x.run.raw, "STAT\r\nUIDL 2\r\n") &&
		   !same_read(x.run.raw, x.run.reads, "STAT\r\n", "UIDL 2\r\n"),
		   "without PIPELINING, UIDL 2 after STAT's answer");
		sess_free(&x);
	}

	f.caps = CAPS_PIPE;
	f.uidl_one_reply = "+OK 2 uid-2\r\n";
	if (sess_open(&x, &f)) {
		is_int(pop3_auth(x.s, &auth, &err), MP_OK, "login (%s)", err.msg);
		is_int(pop3_glance(x.s, 3, &g, &err), MP_ERR_PROTOCOL,
		       "an answer for another message: protocol error (%s)", err.msg);
		is_str(g.uidl, "", "and no UIDL");
		sess_end(&x);
		sess_free(&x);
	}
	f.uidl_one_reply = NULL;
	f.stat_reply = "-ERR [SYS/TEMP] no\r\n";
	if (sess_open(&x, &f)) {
		unsigned long count;
		unsigned long long size;

		is_int(pop3_auth(x.s, &auth, &err), MP_OK, "login (%s)", err.msg);
		ok(pop3_glance(x.s, 3, &g, &err) != MP_OK, "STAT refused: an error");
		ok(stat_only(x.s, &count, &size, &err) != MP_OK &&
		   has(err.msg, "earlier error"),
		   "UIDL's answer unread: the session is out of step");
		sess_end(&x);
		sess_free(&x);
	}
}

static void test_retr_exact(void)
{
	char *big = big_message(3000);
	const char *msgs[] = { m_dots, m_empty, m_bytes, big };
	struct fake f = { .caps = CAPS_PIPE, .msgs = msgs, .nmsgs = 4 };
	unsigned long nums[] = { 1, 2, 3, 4 };
	struct mp_error err = { 0 };
	struct pop3_entry *e = NULL;
	struct pop3_sink sink;
	struct got g;
	size_t n;
	struct sess x;
	char note[64];

	got_init(&g, &sink);
	if (!sess_open(&x, &f))
		goto out;
	is_int(list_both(x.s, &e, &n, &err), MP_OK, "list first (%s)", err.msg);
	is_int(pop3_retr(x.s, nums, 4, 8, &sink, &err), MP_OK,
	       "RETR of four messages (%s)", err.msg);
	is_str(g.events, "b0 e0 b1 e1 b2 e2 b3 e3 ", "begin/end in order");
	ok(same_msg(&g, 0, m_dots), "dots message byte-exact");
	diag_unless(same_msg(&g, 0, m_dots), g.msg[0]);
	ok(same_msg(&g, 1, m_empty) && g.calls[1] == 0,
	   "empty message: no data at all");
	ok(same_msg(&g, 2, m_bytes), "CR, 8-bit and blanks kept, CRLF -> LF");
	ok(same_msg(&g, 3, big), "%zu-byte message byte-exact", strlen(big));
	ok(g.calls[3] <= strlen(big) / 60000 + 2,
	   "large pieces: %zu data calls for %zu bytes", g.calls[3], strlen(big));
	ok(g.maxchunk <= 64 * 1024, "no piece over 64 KiB (%zu)", g.maxchunk);
	is_int(pop3_quit(x.s, &err), MP_OK, "QUIT");
	sess_end(&x);
	ok(same_read(x.run.raw, x.run.reads, "RETR 1\r\n", "RETR 4\r\n"),
	   "all four RETRs in one read (pipelined)");
	snprintf(note, sizeof note, "S: +OK %zu octets\n", wire_size(m_dots));
	ok(has(x.run.trace_buf, note), "status lines traced");
	ok(!has(x.run.trace_buf, "From x") && !has(x.run.trace_buf, "dot line"),
	   "message bodies not traced");
	snprintf(note, sizeof note, "-- %zu bytes of message data\n",
		 strlen(big));
	ok(has(x.run.trace_buf, note), "trace notes the message size");
	diag_unless(has(x.run.trace_buf, note), x.run.trace_buf);
	sess_free(&x);
out:
	free(e);
	got_free(&g);
	free(big);
}

static void test_retr_window(void)
{
	const char *msgs[] = { m_dots, m_bytes, m_dots, m_bytes, m_dots,
			       m_bytes, m_dots, m_bytes };
	struct fake f = { .caps = CAPS_PIPE, .msgs = msgs, .nmsgs = 8 };
	unsigned long nums[] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct mp_error err = { 0 };
	struct pop3_sink sink;
	struct got g;
	struct sess x;

	got_init(&g, &sink);
	if (sess_open(&x, &f)) {
		is_int(pop3_retr(x.s, nums, 8, 4, &sink, &err), MP_OK,
		       "window 4 over 8 messages (%s)", err.msg);
		ok(same_msg(&g, 7, m_bytes), "last one intact");
		pop3_quit(x.s, &err);
		sess_end(&x);
		ok(same_read(x.run.raw, x.run.reads, "RETR 1\r\n", "RETR 4\r\n"),
		   "the first four RETRs sent together");
		ok(!same_read(x.run.raw, x.run.reads, "RETR 1\r\n", "RETR 5\r\n"),
		   "but not the fifth");
		ok(same_read(x.run.raw, x.run.reads, "RETR 5\r\n", "RETR 6\r\n"),
		   "refilled in a batch once half were done");
		diag_unless(same_read(x.run.raw, x.run.reads, "RETR 5\r\n", "RETR 6\r\n"),
			    x.run.reads);
		sess_free(&x);
	}
	got_free(&g);

	/* Without PIPELINING one at a time, whatever the window. */
	f.caps = CAPS_PLAIN;
	got_init(&g, &sink);
	if (sess_open(&x, &f)) {
		is_int(pop3_retr(x.s, nums, 3, 4, &sink, &err), MP_OK,
		       "no PIPELINING (%s)", err.msg);
		ok(same_msg(&g, 2, m_dots), "third intact");
		pop3_quit(x.s, &err);
		sess_end(&x);
		ok(has(x.run.raw, "RETR 1\r\n") &&
		   !same_read(x.run.raw, x.run.reads, "RETR 1\r\n", "RETR 2\r\n"),
		   "RETR 2 only after message 1");
		sess_free(&x);
	}
	got_free(&g);
}

static void test_retr_errors(void)
{
	char *big = big_message(5000);
	const char *msgs[] = { m_dots, big, m_bytes, m_dots };
	unsigned long nums[] = { 1, 2, 3, 4 };
	struct fake f = { .caps = CAPS_PIPE, .msgs = msgs, .nmsgs = 4 };
	struct mp_error err = { 0 };
	struct pop3_sink sink;
	struct got g;
	struct sess x;

	/* Sink fails on message 2 of 4, mid-way through a big one. */
	got_init(&g, &sink);
	g.fail_index = 1;
	if (sess_open(&x, &f)) {
		is_int(pop3_retr(x.s, nums, 4, 2, &sink, &err), MP_ERR_IO,
		       "sink error returned (%s)", err.msg);
		is_str(err.msg, "disk full writing message", "the sink's words");
		is_str(g.events, "b0 e0 b1 ", "no end for 2, nothing after");
		memset(&err, 0, sizeof err);
		is_int(pop3_dele(x.s, nums, 1, &err), MP_OK,
		       "DELE afterwards works (%s)", err.msg);
		is_int(pop3_quit(x.s, &err), MP_OK, "QUIT works (%s)", err.msg);
		sess_end(&x);
		/* Window 2: RETR 3 went out when message 1 was done and was
		 * drained; RETR 4 never. */
		is_int(count_of(x.run.raw, "RETR "), 3, "no RETR sent after the error");
		ok(has(x.run.raw, "DELE 1\r\nQUIT\r\n"), "DELE 1 and QUIT reached the "
		   "server");
		is_int(x.run.child, 0, "server saw a clean QUIT");
		sess_free(&x);
	}
	got_free(&g);

	/* Sink refuses to begin message 1. */
	got_init(&g, &sink);
	g.fail_index = 0;
	g.fail_begin = true;
	if (sess_open(&x, &f)) {
		is_int(pop3_retr(x.s, nums, 4, 2, &sink, &err), MP_ERR_IO,
		       "begin error returned (%s)", err.msg);
		is_str(g.events, "b0 ", "no data, no end");
		is_int(pop3_quit(x.s, &err), MP_OK, "QUIT works");
		sess_end(&x);
		sess_free(&x);
	}
	got_free(&g);

	/* -ERR [SYS/TEMP] for message 2: the others drained. */
	f.retr_err_num = 2;
	f.retr_err = "-ERR [SYS/TEMP] cannot open message file\r\n";
	got_init(&g, &sink);
	if (sess_open(&x, &f)) {
		is_int(pop3_retr(x.s, nums, 4, 4, &sink, &err), MP_ERR_TEMP,
		       "RETR -ERR [SYS/TEMP] is temporary (%s)", err.msg);
		ok(has(err.msg, "message 2") && has(err.msg, "cannot open"),
		   "names the message and says why");
		is_str(g.events, "b0 e0 ", "message 1 done, none after");
		memset(&err, 0, sizeof err);
		is_int(pop3_quit(x.s, &err), MP_OK, "QUIT works (%s)", err.msg);
		sess_end(&x);
		sess_free(&x);
	}
	got_free(&g);

	f.retr_err = "-ERR no such message\r\n";
	got_init(&g, &sink);
	if (sess_open(&x, &f)) {
		is_int(pop3_retr(x.s, nums, 4, 1, &sink, &err), MP_ERR_PROTOCOL,
		       "plain -ERR: protocol error (%s)", err.msg);
		is_int(pop3_quit(x.s, &err), MP_OK, "QUIT works");
		sess_end(&x);
		is_int(count_of(x.run.raw, "RETR "), 2, "window 1: stopped at once");
		sess_free(&x);
	}
	got_free(&g);
	f.retr_err_num = 0;

	/* Connection cut in the middle of message 2. */
	f.cut_num = 2;
	got_init(&g, &sink);
	if (sess_open(&x, &f)) {
		is_int(pop3_retr(x.s, nums, 4, 4, &sink, &err), MP_ERR_TEMP,
		       "cut mid-message: temporary (%s)", err.msg);
		is_str(g.events, "b0 e0 b1 ", "message 2 never ends");
		ok(g.len[1] > 0 && g.len[1] < strlen(big), "only part of it came");
		ok(pop3_quit(x.s, &err) == MP_ERR_TEMP,
		   "later commands refused with the same status");
		sess_end(&x);
		sess_free(&x);
	}
	got_free(&g);
	free(big);
}

/* A message with one line of n bytes: dots (also first), bare CRs (also
 * last), 8-bit, never an LF. */
static char *long_line_message(size_t n)
{
	static const char head[] = "Subject: long line\n\n";
	static const char tail[] = "\n.\nend\n";
	static const char mix[] = "..\r Zz\xc3\xa9.x\r\r";
	char *m = malloc(sizeof head + n + sizeof tail), *p = m;

	if (!m)
		abort();
	memcpy(p, head, sizeof head - 1);
	p += sizeof head - 1;
	for (size_t i = 0; i < n; i++)
		*p++ = mix[(i * 7 + i / 3) % (sizeof mix - 1)];
	p[-1] = '\r';
	p[-(long)n] = '.';
	memcpy(p, tail, sizeof tail);
	return m;
}

/* Body lines longer than the line cap stream through whole. */
static void test_retr_long_lines(void)
{
	char *l200k = long_line_message(200 * 1000);
	char *l3m = long_line_message(3 * 1000 * 1000);
	char *dots = malloc(300 * 1000 + 64), *crs = malloc(100 * 1000 + 64);
	const char *msgs[5];
	unsigned long nums[] = { 1, 2, 3, 4, 5 };
	struct fake f = { .caps = CAPS_PIPE, .msgs = msgs, .nmsgs = 5 };
	struct mp_error err = { 0 };
	struct pop3_entry *e = NULL;
	struct pop3_sink sink;
	struct got g;
	size_t n;
	struct sess x;
	char note[64];

	if (!dots || !crs)
		abort();
	/* A line of nothing but dots: only its first may be unstuffed. */
	memset(dots, '.', 300 * 1000);
	strcpy(dots + 300 * 1000, "\n..\n.\n");
	/* Nothing but CRs: a piece ends in a CR each time. */
	memset(crs, '\r', 100 * 1000);
	strcpy(crs + 100 * 1000, "\nafter\n");
	msgs[0] = m_dots;
	msgs[1] = l200k;
	msgs[2] = l3m;
	msgs[3] = dots;
	msgs[4] = crs;
	got_init(&g, &sink);
	if (!sess_open(&x, &f))
		goto out;
	is_int(list_both(x.s, &e, &n, &err), MP_OK, "list (%s)", err.msg);
	is_int(pop3_retr(x.s, nums, 5, 8, &sink, &err), MP_OK,
	       "RETR of messages with long lines (%s)", err.msg);
	is_str(g.events, "b0 e0 b1 e1 b2 e2 b3 e3 b4 e4 ", "all end");
	ok(same_msg(&g, 0, m_dots), "a short one before them intact");
	ok(same_msg(&g, 1, l200k), "a 200 KB line byte-exact");
	ok(same_msg(&g, 2, l3m), "a 3 MB line byte-exact");
	ok(same_msg(&g, 3, dots), "a 300 KB line of dots byte-exact");
	ok(same_msg(&g, 4, crs), "a 100 KB line of CRs byte-exact");
	ok(g.maxchunk <= 64 * 1024, "no piece over 64 KiB (%zu)", g.maxchunk);
	ok(g.calls[2] <= strlen(l3m) / 60000 + 2,
	   "large pieces: %zu data calls for 3 MB", g.calls[2]);
	is_int(pop3_quit(x.s, &err), MP_OK, "QUIT: still in step (%s)", err.msg);
	sess_end(&x);
	snprintf(note, sizeof note, "-- %zu bytes of message data\n",
		 strlen(l3m));
	ok(has(x.run.trace_buf, note), "trace notes the 3 MB message's size");
	ok(!has(x.run.trace_buf, "Zz"), "long lines not traced");
	sess_free(&x);
out:
	free(e);
	got_free(&g);
	free(l200k);
	free(l3m);
	free(dots);
	free(crs);
}

/* Wire bytes cut where a piece ends, with a line cap of 100 so a 120-byte
 * run fills the buffer: what follows the cut continues the line, so a
 * "." or ".." there is text and a CR before the cut may start a CRLF. */
static void test_retr_piece_edges(void)
{
	static const char a120[] =
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	static const struct {
		const char *wire, *want, *name;
	} cases[] = {
		{ "%s\f.\r\n.\r\n", "%s.\n", "'.' CRLF after a cut is text" },
		{ "%s\f..\r\n.\r\n", "%s..\n", "'..' after a cut stays two dots" },
		{ "%s\r\f\n.\r\n", "%s\n", "CR | LF is one line end" },
		{ "%s\r\f\r\n.\r\n", "%s\r\n", "CR | CRLF: the first CR is text" },
		{ "%s\r\fx\r\n.\r\n", "%s\rx\n", "CR | x: a bare CR kept" },
		{ "%s\r\n..\f\r\n...\f\r\n.\f\r\n", "%s\n.\n..\n",
		  "'.' and '..' lines split across writes" },
		{ "%s\f%s\f%s\r\n.\r\n", "%s%s%s\n", "one line in three pieces" },
	};
	const char *msgs[] = { m_dots, m_bytes };
	unsigned long nums[] = { 1, 2 };
	struct fake f = { .caps = CAPS_PIPE, .msgs = msgs, .nmsgs = 2,
			  .raw_num = 1, .max_line = 100 };

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char wire[512], want[512];
		struct mp_error err = { 0 };
		struct pop3_sink sink;
		struct got g;
		struct sess x;

		snprintf(wire, sizeof wire, cases[i].wire, a120, a120, a120);
		snprintf(want, sizeof want, cases[i].want, a120, a120, a120);
		f.raw_body = wire;
		got_init(&g, &sink);
		if (sess_open(&x, &f)) {
			is_int(pop3_retr(x.s, nums, 2, 2, &sink, &err), MP_OK,
			       "%s: RETR (%s)", cases[i].name, err.msg);
			ok(same_msg(&g, 0, want), "%s", cases[i].name);
			ok(same_msg(&g, 1, m_bytes), "%s: the next message intact",
			   cases[i].name);
			pop3_quit(x.s, &err);
			sess_end(&x);
			sess_free(&x);
		}
		got_free(&g);
	}
}

/* A message far over its LIST size is an endless RETR answer. */
static void test_retr_oversize(void)
{
	char *huge = big_message(30000);
	const char *msgs[] = { m_dots, huge };
	unsigned long nums[] = { 1, 2 };
	struct fake f = { .caps = CAPS_PIPE, .msgs = msgs, .nmsgs = 2,
			  .list_reply = "+OK\r\n1 100\r\n2 20\r\n.\r\n",
			  .uidl_reply = "+OK\r\n1 a\r\n2 b\r\n.\r\n" };
	struct mp_error err = { 0 };
	struct pop3_entry *e = NULL;
	struct pop3_sink sink;
	struct got g;
	struct sess x;
	size_t n;

	got_init(&g, &sink);
	if (sess_open(&x, &f)) {
		is_int(list_both(x.s, &e, &n, &err), MP_OK, "list (%s)", err.msg);
		is_int(pop3_retr(x.s, nums, 2, 2, &sink, &err), MP_ERR_PROTOCOL,
		       "message far over its LIST size (%s)", err.msg);
		ok(has(err.msg, "message 2") && has(err.msg, "20 octets"),
		   "names it and its listed size");
		is_str(g.events, "b0 e0 b1 ", "no end for it");
		ok(g.len[1] <= 2 * 20 + (1 << 20), "stopped near the bound");
		sess_end(&x);
		sess_free(&x);
	}
	free(e);
	got_free(&g);
	free(huge);
}

static void test_dele(void)
{
	const char *msgs[] = { m_dots, m_bytes, m_dots, m_bytes };
	unsigned long nums[] = { 1, 2, 3, 4 };
	struct fake f = { .caps = CAPS_PIPE, .msgs = msgs, .nmsgs = 4 };
	struct mp_error err = { 0 };
	struct sess x;

	if (sess_open(&x, &f)) {
		is_int(pop3_dele(x.s, nums, 4, &err), MP_OK, "DELE x4 (%s)",
		       err.msg);
		is_int(pop3_quit(x.s, &err), MP_OK, "QUIT");
		sess_end(&x);
		ok(same_read(x.run.raw, x.run.reads, "DELE 1\r\n", "DELE 4\r\n"),
		   "DELEs pipelined in one write");
		sess_free(&x);
	}

	f.dele_err_num = 2;
	f.dele_err = "-ERR [SYS/PERM] mailbox is read-only\r\n";
	if (sess_open(&x, &f)) {
		is_int(pop3_dele(x.s, nums, 4, &err), MP_ERR_UNAVAILABLE,
		       "DELE -ERR [SYS/PERM] (%s)", err.msg);
		ok(has(err.msg, "cannot delete message 2"), "names the message");
		memset(&err, 0, sizeof err);
		is_int(pop3_quit(x.s, &err), MP_OK, "QUIT still in step (%s)",
		       err.msg);
		sess_end(&x);
		sess_free(&x);
	}

	f.caps = CAPS_PLAIN;
	f.dele_err = "-ERR message 2 already deleted\r\n";
	if (sess_open(&x, &f)) {
		is_int(pop3_dele(x.s, nums, 4, &err), MP_ERR_PROTOCOL,
		       "plain -ERR for DELE (%s)", err.msg);
		is_int(pop3_quit(x.s, &err), MP_OK, "QUIT works");
		sess_end(&x);
		ok(!has(x.run.raw, "DELE 3"), "no pipelining: stopped at the failure");
		sess_free(&x);
	}
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (!fake_logs_make(&logs, "/tmp/mp-pop3-XXXXXX")) {
		perror("mkdtemp");
		return 2;
	}

	test_stat();
	test_uidl_then_list();
	test_list_without_uidl();
	test_list_plain();
	test_list_errors();
	test_list_forever();
	test_stat_hostile();
	test_auth_codes();
	test_apop();
	test_capa_after_login();
	test_glance();
	test_retr_oversize();
	test_retr_exact();
	test_retr_long_lines();
	test_retr_piece_edges();
	test_retr_window();
	test_retr_errors();
	test_dele();

	fake_logs_remove(&logs);
	return tap_done();
}
