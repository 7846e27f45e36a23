/* The IMAP mailbox store (ENABLE, LIST, STATUS, EXAMINE, UID FETCH) against
 * a scripted server: each case forks a child that accepts one connection
 * on loopback, answers as its struct fake says, and logs every byte it
 * received (raw) and where each read() began and how long it was (reads).
 * Hostile cases check that each ends in a clean error, and which of them
 * leave the session usable. UID SEARCH is answered as the case says,
 * up to a SEARCH line of millions of UIDs. */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "error.h"
#include "fakesrv.h"
#include "imap.h"
#include "session.h"
#include "tap.h"
#include "url.h"

static struct fake_logs logs;

/* Seconds a fake server may live. */
#define CHILD_LIMIT_S 60

/* --- the mailbox --- */

/* One message. Its body is wire bytes (CRLF as sent), or generated: gen
 * bytes of 100-byte lines (98 letters and CRLF), see gen_byte. */
struct msg {
	uint32_t uid;
	const char *flags;
	const char *date;
	const char *wire;
	size_t len;
	size_t gen;
	uint64_t modseq;
	bool gone;            /* expunged meanwhile: never sent */
};

static char gen_byte(size_t i)
{
	size_t col = i % 100;

	if (col == 98)
		return '\r';
	if (col == 99)
		return '\n';
	return (char)('a' + (i / 100) % 26);
}

/* The same after CRLF -> LF: 99-byte lines. */
static char gen_lf_byte(size_t j)
{
	return j % 99 == 98 ? '\n' : (char)('a' + (j / 99) % 26);
}

static size_t msg_size(const struct msg *m)
{
	return m->wire ? m->len : m->gen;
}

/* --- the fake server (child side) --- */

enum hostile {
	H_NONE,
	H_HUGE,          /* target's literal announced as 2^62 bytes */
	H_CUT,           /* half of target's literal, then hang up */
	H_CHATTER,       /* EXPUNGE, EXISTS and others' FETCH between answers */
	H_BYE,           /* BYE after the first message, then hang up */
	H_MALFORMED,     /* target's FETCH is malformed */
	H_BODY_FIRST,    /* BODY[] before UID */
	H_FLAGS_AFTER,   /* FLAGS and INTERNALDATE after BODY[] */
	H_QUOTED,        /* bodies as quoted strings */
};

struct fake {
	const char *caps;             /* after IMAP4rev1 in the greeting */
	const struct msg *msgs;
	size_t nmsgs;
	const char *list_reply;       /* untagged answers, verbatim */
	size_t list_len;              /* its length, if it holds NUL */
	const char *status_reply;
	const char *examine_reply;
	const char *info_reply;       /* instead of generated FETCH info */
	const char *list_tagged;      /* "NO ..." instead of OK */
	const char *status_tagged;
	const char *examine_tagged;
	const char *fetch_tagged;
	const char *search_reply;     /* untagged answers to UID SEARCH */
	const char *search_tagged;
	size_t search_count;          /* first: "* SEARCH N ... 2 1" */
	enum hostile hostile;
	uint32_t target;              /* the UID a hostile action hits */
};

static bool rd_bytes(struct rd *r, char *out, size_t n)
{
	while (r->end - r->start < n)
		if (!rd_fill(r))
			return false;
	memcpy(out, r->buf + r->start, n);
	r->start += n;
	return true;
}

/* A command, with its literals read in (a synchronizing one gets "+"). */
static bool read_command(struct rd *r, int fd, char *cmd, size_t cap)
{
	size_t len = 0;

	if (!rd_line(r, cmd, cap, &len))
		return false;
	for (;;) {
		char *open = len ? strrchr(cmd, '{') : NULL;
		unsigned long n;
		char close[3] = "";

		if (!open || cmd[len - 1] != '}' ||
		    sscanf(open, "{%lu%2[+}]", &n, close) != 2)
			return true;
		*open = '\0';
		len = (size_t)(open - cmd);
		if (close[0] != '+')
			say(fd, "+ go ahead\r\n");
		if (len + n >= cap || !rd_bytes(r, cmd + len, n))
			return false;
		len += n;
		if (!rd_line(r, cmd, cap, &len))
			return false;
	}
}

/* Is uid in the IMAP set ("1,3:5,7:*"); '*' is the largest UID. */
static bool in_set(const char *set, uint32_t uid)
{
	while (*set && *set != ' ') {
		unsigned long a, b;
		char *end;

		a = *set == '*' ? UINT32_MAX : strtoul(set, &end, 10);
		if (*set == '*')
			end = (char *)set + 1;
		b = a;
		if (*end == ':') {
			set = end + 1;
			b = *set == '*' ? UINT32_MAX : strtoul(set, &end, 10);
			if (*set == '*')
				end = (char *)set + 1;
		}
		if (a > b) {
			unsigned long t = a;
			a = b;
			b = t;
		}
		if (uid >= a && uid <= b)
			return true;
		set = end + (*end == ',');
	}
	return false;
}

static void send_body(int fd, const struct msg *m, size_t upto)
{
	if (m->wire) {
		write_all(fd, m->wire, upto);
		return;
	}
	static char chunk[1 << 16];
	for (size_t off = 0; off < upto;) {
		size_t k = upto - off < sizeof chunk ? upto - off : sizeof chunk;

		for (size_t i = 0; i < k; i++)
			chunk[i] = gen_byte(off + i);
		if (write_all(fd, chunk, k) < 0)
			return;
		off += k;
	}
}

static void quoted_body(int fd, const struct msg *m)
{
	say(fd, "\"");
	for (size_t i = 0; i < m->len; i++) {
		if (m->wire[i] == '"' || m->wire[i] == '\\')
			say(fd, "\\");
		write_all(fd, m->wire + i, 1);
	}
	say(fd, "\"");
}

/* The answers to UID FETCH set (... BODY.PEEK[]). False: hang up now. */
static bool fetch_bodies(int fd, const struct fake *f, const char *set)
{
	char buf[512];
	bool first = true;

	for (size_t i = 0; i < f->nmsgs; i++) {
		const struct msg *m = &f->msgs[i];
		bool target = m->uid == f->target;

		if (!in_set(set, m->uid) || m->gone)
			continue;
		if (f->hostile == H_CHATTER) {
			say(fd, "* 2 EXPUNGE\r\n* 9 EXISTS\r\n"
			    "* 55 FETCH (UID 9999 FLAGS (\\Seen) BODY[] {8}\r\n"
			    "nope\r\n\r\n)\r\n* 4 FETCH (FLAGS (\\Deleted))\r\n");
		}
		if (f->hostile == H_BYE && !first) {
			say(fd, "* BYE shutting down for maintenance\r\n");
			return false;
		}
		first = false;
		if (f->hostile == H_HUGE && target) {
			snprintf(buf, sizeof buf, "* %zu FETCH (UID %u BODY[] "
				 "{4611686018427387904}\r\n", i + 1, m->uid);
			say(fd, buf);
			say(fd, "xxxxxxxxxxxxxxxxxxxxxxxxxxxx");
			continue;
		}
		if (f->hostile == H_MALFORMED && target) {
			snprintf(buf, sizeof buf, "* %zu FETCH (UID %u FLAGS \\Seen "
				 "BODY[] {5}\r\nhello)\r\n", i + 1, m->uid);
			say(fd, buf);
			continue;
		}
		if (f->hostile == H_BODY_FIRST && target)
			snprintf(buf, sizeof buf, "* %zu FETCH (BODY[] {%zu}\r\n",
				 i + 1, msg_size(m));
		else if (f->hostile == H_FLAGS_AFTER)
			snprintf(buf, sizeof buf, "* %zu FETCH (UID %u BODY[] "
				 "{%zu}\r\n", i + 1, m->uid, msg_size(m));
		else if (f->hostile == H_QUOTED)
			snprintf(buf, sizeof buf, "* %zu FETCH (UID %u FLAGS (%s) "
				 "BODY[] ", i + 1, m->uid, m->flags);
		else
			snprintf(buf, sizeof buf, "* %zu FETCH (UID %u FLAGS (%s) "
				 "INTERNALDATE \"%s\" BODY[] {%zu}\r\n", i + 1,
				 m->uid, m->flags, m->date, msg_size(m));
		say(fd, buf);
		if (f->hostile == H_QUOTED) {
			quoted_body(fd, m);
			say(fd, ")\r\n");
			continue;
		}
		if (f->hostile == H_CUT && target) {
			send_body(fd, m, msg_size(m) / 2);
			return false;
		}
		send_body(fd, m, msg_size(m));
		if (f->hostile == H_BODY_FIRST && target)
			snprintf(buf, sizeof buf, " UID %u)\r\n", m->uid);
		else if (f->hostile == H_FLAGS_AFTER)
			snprintf(buf, sizeof buf, " FLAGS (%s) INTERNALDATE \"%s\")\r\n",
				 m->flags, m->date);
		else
			snprintf(buf, sizeof buf, ")\r\n");
		say(fd, buf);
	}
	return true;
}

static void fetch_info(int fd, const struct fake *f, const char *set,
		       const char *cmd)
{
	const char *cs = strstr(cmd, "CHANGEDSINCE ");
	unsigned long long since = cs ? strtoull(cs + 13, NULL, 10) : 0;
	bool modseq = has(cmd, "MODSEQ"), any = false;
	char buf[512];

	if (f->info_reply) {
		say(fd, f->info_reply);
		return;
	}
	for (size_t pass = 0; pass < 2 && !any; pass++)
		for (size_t i = 0; i < f->nmsgs; i++) {
			const struct msg *m = &f->msgs[i];
			int n;

			/* "n:*" always names the last message (second pass). */
			if (m->gone || (pass == 0 && !in_set(set, m->uid)) ||
			    (pass == 1 && (i + 1 != f->nmsgs || !strchr(set, '*'))) ||
			    m->modseq <= since)
				continue;
			any = true;
			n = snprintf(buf, sizeof buf, "* %zu FETCH (UID %u FLAGS (%s) "
				     "INTERNALDATE \"%s\" RFC822.SIZE %zu", i + 1,
				     m->uid, m->flags, m->date, msg_size(m));
			if (modseq)
				snprintf(buf + n, sizeof buf - (size_t)n,
					 " MODSEQ (%llu)",
					 (unsigned long long)m->modseq);
			say(fd, buf);
			say(fd, ")\r\n");
		}
}

/* One SEARCH line naming UIDs n down to 1. */
static void search_lines(int fd, size_t n)
{
	static char buf[1 << 16];
	size_t len = (size_t)snprintf(buf, sizeof buf, "* SEARCH");

	for (size_t uid = n; uid > 0; uid--) {
		if (len + 16 > sizeof buf) {
			if (write_all(fd, buf, len) < 0)
				return;
			len = 0;
		}
		len += (size_t)snprintf(buf + len, sizeof buf - len, " %zu", uid);
	}
	memcpy(buf + len, "\r\n", 2);
	write_all(fd, buf, len + 2);
}

static void tagged(int fd, const char *tag, const char *reply,
		   const char *dflt)
{
	char buf[512];

	snprintf(buf, sizeof buf, "%s %s\r\n", tag, reply ? reply : dflt);
	say(fd, buf);
}

static int serve(int fd, const void *arg)
{
	const struct fake *f = arg;
	static char in[1 << 16];
	static char cmd[1 << 16];
	struct rd r;
	char buf[600];

	if (!rd_open(&r, fd, &logs, in, sizeof in))
		return 90;
	snprintf(buf, sizeof buf, "* OK [CAPABILITY IMAP4rev1 %s] fake IMAP "
		 "ready\r\n", f->caps ? f->caps : "");
	say(fd, buf);
	while (read_command(&r, fd, cmd, sizeof cmd)) {
		char tag[32];
		const char *rest = strchr(cmd, ' ');
		size_t tn = rest ? (size_t)(rest - cmd) : 0;

		if (!rest || tn >= sizeof tag) {
			say(fd, "* BAD no tag\r\n");
			continue;
		}
		memcpy(tag, cmd, tn);
		tag[tn] = '\0';
		rest++;
		if (!strcasecmp(rest, "CAPABILITY")) {
			snprintf(buf, sizeof buf, "* CAPABILITY IMAP4rev1 %s\r\n",
				 f->caps ? f->caps : "");
			say(fd, buf);
			tagged(fd, tag, NULL, "OK done");
		} else if (!strncasecmp(rest, "ENABLE ", 7)) {
			snprintf(buf, sizeof buf, "* ENABLED %s\r\n", rest + 7);
			say(fd, buf);
			tagged(fd, tag, NULL, "OK enabled");
		} else if (!strncasecmp(rest, "ID ", 3)) {
			say(fd, "* ID (\"name\" \"fake\")\r\n");
			tagged(fd, tag, NULL, "OK ID done");
		} else if (!strncasecmp(rest, "LIST ", 5)) {
			if (f->list_reply)
				write_all(fd, f->list_reply, f->list_len ?
					  f->list_len : strlen(f->list_reply));
			tagged(fd, tag, f->list_tagged, "OK LIST done");
		} else if (!strncasecmp(rest, "STATUS ", 7)) {
			say(fd, f->status_reply ? f->status_reply : "");
			tagged(fd, tag, f->status_tagged, "OK STATUS done");
		} else if (!strncasecmp(rest, "EXAMINE ", 8)) {
			say(fd, f->examine_reply ? f->examine_reply : "");
			tagged(fd, tag, f->examine_tagged,
			       "OK [READ-ONLY] EXAMINE done");
		} else if (!strncasecmp(rest, "UID FETCH ", 10)) {
			const char *set = rest + 10;

			if (has(rest, "BODY.PEEK[]")) {
				if (!fetch_bodies(fd, f, set))
					break;
				if (f->hostile == H_HUGE)
					continue;   /* never ends */
			} else {
				fetch_info(fd, f, set, rest);
			}
			tagged(fd, tag, f->fetch_tagged, "OK FETCH done");
		} else if (!strncasecmp(rest, "UID SEARCH ", 11)) {
			if (f->search_count)
				search_lines(fd, f->search_count);
			say(fd, f->search_reply ? f->search_reply : "");
			tagged(fd, tag, f->search_tagged, "OK SEARCH done");
		} else if (!strcasecmp(rest, "LOGOUT")) {
			say(fd, "* BYE logging out\r\n");
			tagged(fd, tag, NULL, "OK LOGOUT done");
			break;
		} else {
			tagged(fd, tag, NULL, "BAD unknown command");
		}
	}
	rd_close(&r);
	return 0;
}

/* --- parent side --- */

struct sess {
	struct fake_run run;
	struct imap_session *s;
};

static bool sess_open(struct sess *x, const struct fake *f)
{
	struct mp_error err = { 0 };

	x->s = NULL;
	if (!fake_run_start(&x->run, serve, f, CHILD_LIMIT_S, "imap", 10000))
		return false;
	if (imap_open(&x->s, &x->run.so, &err) != MP_OK) {
		ok(0, "imap_open: %s", err.msg);
		x->s = NULL;
		return false;
	}
	return true;
}

/* Close (LOGOUT or not is the case's business), reap, read the logs. */
static void sess_end(struct sess *x)
{
	imap_close(x->s);
	x->s = NULL;
	fake_run_end(&x->run, CHILD_LIMIT_S);
	fake_run_logs(&x->run, &logs);
}

static void sess_free(struct sess *x)
{
	fake_run_free(&x->run);
}

/* The read() that brought the k-th (0-based) occurrence of needle. */
static long read_of(const struct sess *x, const char *needle, int k)
{
	const char *p = x->run.raw;

	for (int j = 0; p && j <= k; j++) {
		p = strstr(p, needle);
		if (p && j < k)
			p++;
	}
	return p ? read_index(x->run.reads, (size_t)(p - x->run.raw)) : -1;
}

/* --- a recording sink --- */

#define MAXMSG 16

struct got {
	char *msg[MAXMSG];
	size_t len[MAXMSG], cap[MAXMSG];
	size_t calls[MAXMSG];
	size_t maxchunk;
	char events[512];          /* "b0 e0 b1 ..." */
	struct imap_msginfo at_begin[MAXMSG], at_end[MAXMSG];
	const struct imap_msginfo *cur;
	long fail_index;           /* data for this index fails; -1: never */
	size_t fail_after;         /* ... once this many bytes came */
	bool fail_begin;           /* ... at begin instead */
};

static void event(struct got *g, char what, size_t index)
{
	size_t n = strlen(g->events);

	snprintf(g->events + n, sizeof g->events - n, "%c%zu ", what, index);
}

static enum mp_status g_begin(void *ctx, size_t index,
			      const struct imap_msginfo *info,
			      struct mp_error *err)
{
	struct got *g = ctx;

	event(g, 'b', index);
	if (index < MAXMSG)
		g->at_begin[index] = *info;
	g->cur = info;
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
	if ((long)index == g->fail_index && !g->fail_begin &&
	    g->len[index] + len > g->fail_after)
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
	struct got *g = ctx;

	(void)err;
	event(g, 'e', index);
	if (index < MAXMSG)
		g->at_end[index] = *g->cur;
	return MP_OK;
}

static void got_init(struct got *g, struct imap_sink *sink)
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

/* wire[0..n) with each CRLF made LF, in a new string. */
static char *lf_form(const char *wire, size_t n, size_t *out_len)
{
	char *o = malloc(n + 1);
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (wire[i] == '\r' && i + 1 < n && wire[i + 1] == '\n')
			continue;
		o[k++] = wire[i];
	}
	o[k] = '\0';
	*out_len = k;
	return o;
}

static bool same_msg(const struct got *g, size_t i, const struct msg *m)
{
	size_t n;
	char *want = lf_form(m->wire, m->len, &n);
	bool same = g->len[i] == n && (n == 0 || !memcmp(g->msg[i], want, n));

	free(want);
	return same;
}

#define W(s) s, sizeof(s) - 1
#define DATE1 "17-Jul-1996 02:44:25 -0700"
#define DATE1_T 837596665
#define DATE2 " 1-Jan-2020 00:00:00 +0000"
#define DATE2_T 1577836800

/* --- cases --- */

/* Checks a generated message as it streams, keeping nothing. */
struct checker {
	size_t pos, calls, maxchunk;
	bool good, ended;
};

static enum mp_status c_begin(void *ctx, size_t index,
			      const struct imap_msginfo *info,
			      struct mp_error *err)
{
	(void)ctx, (void)index, (void)info, (void)err;
	return MP_OK;
}

static enum mp_status c_data(void *ctx, size_t index, const char *buf,
			     size_t len, struct mp_error *err)
{
	struct checker *c = ctx;

	(void)index, (void)err;
	for (size_t i = 0; i < len && c->good; i++)
		if (buf[i] != gen_lf_byte(c->pos + i))
			c->good = false;
	c->pos += len;
	c->calls++;
	if (len > c->maxchunk)
		c->maxchunk = len;
	return MP_OK;
}

static enum mp_status c_end(void *ctx, size_t index, struct mp_error *err)
{
	(void)index, (void)err;
	((struct checker *)ctx)->ended = true;
	return MP_OK;
}

static void test_memory(void)
{
	const size_t big = 3 * 1000 * 1000;   /* a multiple of 100 */
	struct msg msgs[] = { { .uid = 7, .flags = "", .date = DATE1, .gen = big } };
	struct fake f = { .msgs = msgs, .nmsgs = 1 };
	struct checker c = { .good = true };
	struct imap_sink sink = { c_begin, c_data, c_end, &c };
	uint32_t uid = 7;
	struct mp_error err = { 0 };
	struct sess x;
	long before, after;

	before = tap_peak_rss_kib();
	if (!sess_open(&x, &f))
		return;
	is_int(imap_fetch_bodies(x.s, &uid, 1, 4, &sink, &err), MP_OK,
	       "3 MB literal (%s)", err.msg);
	ok(c.good && c.ended, "byte-exact, CRLF made LF");
	is_int(c.pos, big / 100 * 99, "all of it");
	ok(c.maxchunk <= 64 * 1024, "pieces of at most 64 KiB (%zu)", c.maxchunk);
	ok(c.calls <= big / 60000 + 2, "in large pieces (%zu calls)", c.calls);
	is_int(imap_logout(x.s, &err), MP_OK, "LOGOUT");
	after = tap_peak_rss_kib();
	sess_end(&x);
	if (before < 0 || after < 0)
		tap_skip("no VmHWM in /proc/self/status");
	else
		ok(after - before < 1536, "peak RSS grew by %ld KiB for a 3 MB "
		   "message", after - before);
	ok(has(x.run.trace_buf, "-- 3000000 bytes of message data\n"),
	   "trace notes the literal's size");
	ok(!has(x.run.trace_buf, "aaaaaaaaaa"), "message data not traced");
	sess_free(&x);
}

static void test_enable(void)
{
	struct fake f = { .caps = "ENABLE CONDSTORE QRESYNC UTF8=ACCEPT ID "
			  "LITERAL+" };
	struct mp_error err = { 0 };
	struct sess x;

	if (sess_open(&x, &f)) {
		ok(imap_has_cap(x.s, "condstore"), "capability, any case");
		ok(!imap_has_cap(x.s, "XLIST"), "not offered");
		ok(!imap_utf8(x.s), "UTF-8 only once enabled");
		is_int(imap_enable(x.s, &err), MP_OK, "ENABLE (%s)", err.msg);
		ok(imap_utf8(x.s), "UTF8=ACCEPT enabled");
		is_int(imap_logout(x.s, &err), MP_OK, "LOGOUT (%s)", err.msg);
		sess_end(&x);
		ok(has(x.run.raw, " ENABLE CONDSTORE QRESYNC UTF8=ACCEPT\r\n"),
		   "ENABLE asks for all three");
		ok(has(x.run.raw, " ID (\"name\" \"mailpipe\")\r\n"), "ID sent");
		ok(same_read(x.run.raw, x.run.reads, " ENABLE CONDSTORE", " ID ("),
		   "ENABLE and ID in one write");
		is_int(x.run.child, 0, "server ran to the end");
		sess_free(&x);
	}

	f.caps = "ENABLE UTF8=ACCEPT";
	if (sess_open(&x, &f)) {
		is_int(imap_enable(x.s, &err), MP_OK, "ENABLE, UTF8 only");
		imap_logout(x.s, &err);
		sess_end(&x);
		ok(has(x.run.raw, " ENABLE UTF8=ACCEPT\r\n") && !has(x.run.raw, " ID "),
		   "only what is offered");
		sess_free(&x);
	}

	f.caps = "CONDSTORE";
	if (sess_open(&x, &f)) {
		is_int(imap_enable(x.s, &err), MP_OK, "no ENABLE offered");
		ok(!imap_utf8(x.s), "nothing enabled");
		imap_logout(x.s, &err);
		sess_end(&x);
		ok(!has(x.run.raw, "ENABLE"), "no ENABLE sent");
		sess_free(&x);
	}
}

static void test_list(void)
{
	struct fake f = {
		.caps = "LITERAL+",
		.list_reply =
			"* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
			"* LIST (\\Noselect \\HasChildren) \"/\" \"a \\\"q\\\" \\\\ b\"\r\n"
			"* LIST () \"/\" {7}\r\n../../x\r\n"
			"* LIST (\\NonExistent) \"/\" /abs\r\n"
			"* LIST () NIL \"caf\xc3\xa9\"\r\n"
			"* LIST () \"/\" Entw&APw-rfe\r\n"
			"* 3 EXISTS\r\n"
			"* LIST () \"/\" {4}\r\na/..\r\n",
	};
	struct imap_folder *fl = NULL;
	struct mp_error err = { 0 };
	size_t n = 0;
	struct sess x;

	if (sess_open(&x, &f)) {
		is_int(imap_list(x.s, "*", &fl, &n, &err), MP_OK, "LIST (%s)",
		       err.msg);
		is_int(n, 7, "seven folders");
		if (n == 7) {
			is_str(fl[0].name, "INBOX", "atom");
			ok(fl[0].delim == '/' && !fl[0].noselect, "delim, selectable");
			is_str(fl[1].name, "a \"q\" \\ b", "quoted with escapes");
			ok(fl[1].noselect, "\\Noselect");
			is_str(fl[2].name, "../../x", "literal '../../x' as it is");
			is_str(fl[3].name, "/abs", "'/abs' as it is");
			ok(fl[3].noselect, "\\NonExistent counts as not selectable");
			is_str(fl[4].name, "caf\xc3\xa9", "8-bit name");
			ok(fl[4].delim == 0, "NIL delimiter");
			is_str(fl[5].name, "Entw&APw-rfe", "modified UTF-7 untouched");
			is_str(fl[6].name, "a/..", "after an EXISTS");
		}
		imap_folders_free(fl, n);
		fl = NULL;
		is_int(imap_list(x.s, "caf\xc3\xa9/%", &fl, &n, &err), MP_OK,
		       "8-bit pattern (%s)", err.msg);
		imap_folders_free(fl, n);
		fl = NULL;
		is_int(imap_list(x.s, "a\nb", &fl, &n, &err), MP_ERR_USAGE,
		       "pattern with a line break refused (%s)", err.msg);
		ok(fl == NULL && n == 0, "nothing handed out");
		is_int(imap_logout(x.s, &err), MP_OK, "LOGOUT after all that");
		sess_end(&x);
		ok(has(x.run.raw, " LIST \"\" \"*\"\r\n"), "LIST \"\" \"*\" sent");
		ok(has(x.run.raw, " LIST \"\" {7+}\r\ncaf\xc3\xa9/%\r\n"),
		   "8-bit pattern as a LITERAL+ literal");
		ok(!has(x.run.raw, "a\nb") && !has(x.run.raw, "a\r\nb"),
		   "the line break never reached the server");
		ok(!has(x.run.trace_buf, "go ahead"), "no continuation needed");
		sess_free(&x);
	}

	/* Without LITERAL+: a synchronizing literal. */
	f.caps = "";
	if (sess_open(&x, &f)) {
		is_int(imap_list(x.s, "caf\xc3\xa9", &fl, &n, &err), MP_OK,
		       "8-bit pattern, synchronizing literal (%s)", err.msg);
		is_int(n, 7, "answer read");
		imap_folders_free(fl, n);
		fl = NULL;
		imap_logout(x.s, &err);
		sess_end(&x);
		ok(has(x.run.raw, " LIST \"\" {5}\r\ncaf\xc3\xa9\r\n"), "{5} sent");
		ok(has(x.run.trace_buf, "S: + go ahead"), "after the go-ahead");
		sess_free(&x);
	}

	f.list_reply = "* LIST () \"/\" {3}\r\na\0b\r\n";
	f.list_len = 24;
	if (sess_open(&x, &f)) {
		is_int(imap_list(x.s, "*", &fl, &n, &err), MP_ERR_PROTOCOL,
		       "name with NUL: protocol error (%s)", err.msg);
		ok(has(err.msg, "NUL"), "says NUL");
		ok(fl == NULL && n == 0, "nothing handed out");
		sess_end(&x);
		sess_free(&x);
	}

	f.list_reply = "* LIST () \"/\" {99999999}\r\n";
	f.list_len = 0;
	if (sess_open(&x, &f)) {
		is_int(imap_list(x.s, "*", &fl, &n, &err), MP_ERR_PROTOCOL,
		       "100 MB name: protocol error (%s)", err.msg);
		ok(imap_logout(x.s, &err) != MP_OK, "session refuses to go on");
		sess_end(&x);
		sess_free(&x);
	}

	f.list_reply = NULL;
	f.list_tagged = "NO [SERVERBUG] list index broken";
	if (sess_open(&x, &f)) {
		is_int(imap_list(x.s, "*", &fl, &n, &err), MP_ERR_UNAVAILABLE,
		       "LIST NO (%s)", err.msg);
		ok(has(err.msg, "[SERVERBUG] list index broken"), "server's words");
		is_int(imap_logout(x.s, &err), MP_OK, "still in step");
		sess_end(&x);
		sess_free(&x);
	}

	/* The folder cap. */
	{
		size_t cap = 100001 * 24 + 1, k = 0;
		char *many = malloc(cap);

		for (int i = 0; i <= 100000; i++)
			k += (size_t)snprintf(many + k, cap - k,
					      "* LIST () \"/\" f%d\r\n", i);
		f.list_reply = many;
		f.list_tagged = NULL;
		if (sess_open(&x, &f)) {
			is_int(imap_list(x.s, "*", &fl, &n, &err), MP_ERR_PROTOCOL,
			       "100001 folders (%s)", err.msg);
			ok(has(err.msg, "more than 100000 folders"), "says the cap");
			is_int(imap_logout(x.s, &err), MP_OK,
			       "rest read: still in step (%s)", err.msg);
			sess_end(&x);
			sess_free(&x);
		}
		free(many);
	}
}

static void test_status_examine(void)
{
	struct fake f = {
		.caps = "CONDSTORE",
		.status_reply = "* STATUS {6}\r\nIN BOX (MESSAGES 231 UIDNEXT "
				"44292 UIDVALIDITY 1234 HIGHESTMODSEQ 7011231777)\r\n",
		.examine_reply = "* FLAGS (\\Answered \\Seen)\r\n"
				 "* 172 EXISTS\r\n* 1 RECENT\r\n"
				 "* OK [UNSEEN 12] Message 12 is first unseen\r\n"
				 "* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"
				 "* OK [UIDNEXT 4392] Predicted next UID\r\n"
				 "* OK [HIGHESTMODSEQ 715194045007]\r\n"
				 "* OK [ALERT] Mailbox is nearly full\r\n"
				 "* OK [PERMANENTFLAGS ()] No permanent flags\r\n",
	};
	struct imap_mailbox mb;
	struct mp_error err = { 0 };
	struct sess x;

	if (sess_open(&x, &f)) {
		ok(imap_alert(x.s) == NULL, "no alert yet");
		is_int(imap_status(x.s, "IN BOX", &mb, &err), MP_OK, "STATUS (%s)",
		       err.msg);
		ok(mb.messages == 231 && mb.uidnext == 44292 &&
		   mb.uidvalidity == 1234 && mb.highestmodseq == 7011231777ull,
		   "STATUS numbers, literal name");
		is_int(imap_examine(x.s, "a \"b\"\\c", &mb, &err), MP_OK,
		       "EXAMINE (%s)", err.msg);
		ok(mb.messages == 172 && mb.uidvalidity == 3857529045u &&
		   mb.uidnext == 4392 && mb.highestmodseq == 715194045007ull,
		   "EXAMINE numbers");
		is_str(imap_alert(x.s), "Mailbox is nearly full", "ALERT kept");
		is_int(imap_examine(x.s, "new\r\nline", &mb, &err), MP_OK,
		       "a listed name with CRLF (%s)", err.msg);
		is_int(imap_logout(x.s, &err), MP_OK, "LOGOUT");
		sess_end(&x);
		ok(has(x.run.raw, " STATUS \"IN BOX\" (MESSAGES UIDNEXT UIDVALIDITY "
		       "HIGHESTMODSEQ)\r\n"), "STATUS asks for HIGHESTMODSEQ");
		ok(has(x.run.raw, " EXAMINE \"a \\\"b\\\"\\\\c\" (CONDSTORE)\r\n"),
		   "EXAMINE with quoting and (CONDSTORE)");
		ok(has(x.run.raw, " EXAMINE {9}\r\nnew\r\nline (CONDSTORE)\r\n"),
		   "... goes as a literal, never as a line");
		ok(has(x.run.trace_buf, "-- 9 bytes of literal data"), "traced as a note");
		ok(has(x.run.trace_buf, "-- server alert: Mailbox is nearly full"),
		   "alert in the trace");
		sess_free(&x);
	}

	/* Without CONDSTORE; NOMODSEQ. */
	f.caps = "";
	f.status_reply = "* STATUS INBOX (UIDVALIDITY 5 MESSAGES 0)\r\n";
	f.examine_reply = "* 0 EXISTS\r\n* OK [UIDVALIDITY 5] x\r\n"
			  "* OK [NOMODSEQ] no modseqs\r\n";
	if (sess_open(&x, &f)) {
		is_int(imap_status(x.s, "INBOX", &mb, &err), MP_OK, "STATUS");
		ok(mb.uidvalidity == 5 && mb.uidnext == 0 && mb.highestmodseq == 0,
		   "UIDNEXT not given: 0");
		is_int(imap_examine(x.s, "INBOX", &mb, &err), MP_OK, "EXAMINE");
		ok(mb.messages == 0 && mb.highestmodseq == 0, "empty, no MODSEQ");
		imap_logout(x.s, &err);
		sess_end(&x);
		ok(has(x.run.raw, " STATUS \"INBOX\" (MESSAGES UIDNEXT UIDVALIDITY)\r\n"),
		   "no HIGHESTMODSEQ without CONDSTORE");
		ok(has(x.run.raw, " EXAMINE \"INBOX\"\r\n"), "plain EXAMINE");
		sess_free(&x);
	}

	f.examine_tagged = "NO [NONEXISTENT] Unknown Mailbox: Trash";
	f.status_tagged = "NO";
	if (sess_open(&x, &f)) {
		is_int(imap_examine(x.s, "Trash", &mb, &err), MP_ERR_NOUSER,
		       "EXAMINE NO [NONEXISTENT] (%s)", err.msg);
		ok(has(err.msg, "EXAMINE 'Trash' failed") &&
		   has(err.msg, "Unknown Mailbox: Trash"), "names it, server's words");
		is_int(imap_status(x.s, "Trash", &mb, &err), MP_ERR_UNAVAILABLE,
		       "STATUS NO without text (%s)", err.msg);
		ok(has(err.msg, "without giving a reason"), "says there was no text");
		is_int(imap_logout(x.s, &err), MP_OK, "still in step");
		sess_end(&x);
		sess_free(&x);
	}

	f.examine_tagged = "NO [UNAVAILABLE] backend down";
	f.status_tagged = "BAD [CLIENTBUG] what?";
	if (sess_open(&x, &f)) {
		is_int(imap_examine(x.s, "INBOX", &mb, &err), MP_ERR_TEMP,
		       "NO [UNAVAILABLE] is temporary (%s)", err.msg);
		is_int(imap_status(x.s, "INBOX", &mb, &err), MP_ERR_PROTOCOL,
		       "BAD is a protocol error (%s)", err.msg);
		ok(has(err.msg, "BAD [CLIENTBUG] what?"), "with its text");
		sess_end(&x);
		sess_free(&x);
	}

	f.examine_tagged = NULL;
	f.examine_reply = "* 3 EXISTS\r\n";
	f.status_tagged = NULL;
	f.status_reply = "* STATUS INBOX (MESSAGES 3)\r\n";
	if (sess_open(&x, &f)) {
		is_int(imap_examine(x.s, "INBOX", &mb, &err), MP_ERR_PROTOCOL,
		       "EXAMINE without UIDVALIDITY (%s)", err.msg);
		is_int(imap_status(x.s, "INBOX", &mb, &err), MP_ERR_PROTOCOL,
		       "STATUS without UIDVALIDITY (%s)", err.msg);
		sess_end(&x);
		sess_free(&x);
	}

	f.examine_reply = "* OK [UIDVALIDITY 12x] x\r\n";
	if (sess_open(&x, &f)) {
		is_int(imap_examine(x.s, "INBOX", &mb, &err), MP_ERR_PROTOCOL,
		       "malformed UIDVALIDITY (%s)", err.msg);
		ok(has(err.msg, "[UIDVALIDITY 12x]"), "shows the line");
		ok(imap_logout(x.s, &err) != MP_OK, "session refuses to go on");
		sess_end(&x);
		sess_free(&x);
	}
}

static const struct msg info_msgs[] = {
	{ .uid = 3, .flags = "\\Seen", .date = DATE1, .wire = W("a\r\n"),
	  .modseq = 10 },
	{ .uid = 8, .flags = "", .date = DATE2, .wire = W("bb\r\n"), .modseq = 20 },
	{ .uid = 9, .flags = "\\Answered $Junk", .date = DATE2,
	  .wire = W("ccc\r\n"), .modseq = 30 },
};

static void test_fetch_info(void)
{
	struct fake f = { .caps = "CONDSTORE", .msgs = info_msgs, .nmsgs = 3,
			  .examine_reply = "* 3 EXISTS\r\n"
					   "* OK [UIDVALIDITY 1] x\r\n"
					   "* OK [HIGHESTMODSEQ 30] x\r\n" };
	struct imap_msginfo *in = NULL;
	struct imap_mailbox mb;
	struct mp_error err = { 0 };
	size_t n = 0;
	struct sess x;

	if (sess_open(&x, &f)) {
		is_int(imap_examine(x.s, "INBOX", &mb, &err), MP_OK, "EXAMINE");
		is_int(imap_fetch_info(x.s, 1, 0, 0, &in, &n, &err), MP_OK,
		       "FETCH 1:* (%s)", err.msg);
		is_int(n, 3, "three");
		if (n == 3) {
			ok(in[0].uid == 3 && in[1].uid == 8 && in[2].uid == 9, "UIDs");
			is_str(in[0].flags, "\\Seen", "flags");
			is_str(in[2].flags, "\\Answered $Junk", "keyword kept");
			ok(in[0].internaldate == DATE1_T &&
			   in[1].internaldate == DATE2_T, "dates in UTC");
			ok(in[0].size == 3 && in[2].size == 5, "sizes");
			ok(in[0].modseq == 10 && in[2].modseq == 30, "MODSEQ");
		}
		free(in);
		in = NULL;
		is_int(imap_fetch_info(x.s, 1, 0, 15, &in, &n, &err), MP_OK,
		       "CHANGEDSINCE 15 (%s)", err.msg);
		ok(n == 2 && in[0].uid == 8, "changed ones only");
		free(in);
		in = NULL;
		is_int(imap_fetch_info(x.s, 10, 0, 0, &in, &n, &err), MP_OK,
		       "10:* on a mailbox ending at 9");
		is_int(n, 0, "the last message the server adds is left out");
		free(in);
		in = NULL;
		is_int(imap_fetch_info(x.s, 4, 8, 0, &in, &n, &err), MP_OK,
		       "4:8");
		ok(n == 1 && in[0].uid == 8, "the one in range");
		free(in);
		in = NULL;
		imap_logout(x.s, &err);
		sess_end(&x);
		ok(has(x.run.raw, " UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE "
		       "MODSEQ)\r\n"), "asks for MODSEQ with CONDSTORE");
		ok(has(x.run.raw, " UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE "
		       "MODSEQ) (CHANGEDSINCE 15)\r\n"), "CHANGEDSINCE");
		sess_free(&x);
	}

	f.caps = "";
	f.examine_reply = "* 3 EXISTS\r\n* OK [UIDVALIDITY 1] x\r\n";
	if (sess_open(&x, &f)) {
		is_int(imap_examine(x.s, "INBOX", &mb, &err), MP_OK, "EXAMINE");
		is_int(imap_fetch_info(x.s, 1, 0, 0, &in, &n, &err), MP_OK,
		       "FETCH without CONDSTORE (%s)", err.msg);
		ok(n == 3 && in[1].modseq == 0, "no MODSEQ");
		free(in);
		in = NULL;
		is_int(imap_fetch_info(x.s, 1, 0, 5, &in, &n, &err), MP_ERR_USAGE,
		       "CHANGEDSINCE without CONDSTORE refused");
		imap_logout(x.s, &err);
		sess_end(&x);
		ok(has(x.run.raw, " UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE)\r\n"),
		   "no MODSEQ asked");
		sess_free(&x);
	}

	/* Chatter, duplicates, unsolicited flag changes. */
	f.info_reply = "* 1 FETCH (UID 3 FLAGS (\\Seen) INTERNALDATE \"" DATE1
		       "\" RFC822.SIZE 3)\r\n* 2 EXPUNGE\r\n* 5 EXISTS\r\n"
		       "* 7 FETCH (FLAGS (\\Deleted))\r\n"
		       "* 1 FETCH (UID 3 FLAGS (\\Seen \\Flagged))\r\n"
		       "* 3 FETCH (UID 12 FLAGS () INTERNALDATE \"" DATE2
		       "\" RFC822.SIZE 44 BODY[HEADER] {5}\r\nabc\r\n)\r\n";
	if (sess_open(&x, &f)) {
		is_int(imap_fetch_info(x.s, 1, 0, 0, &in, &n, &err), MP_OK,
		       "FETCH with chatter (%s)", err.msg);
		is_int(n, 2, "two messages");
		if (n == 2) {
			ok(in[0].uid == 3 && in[0].size == 3, "first kept");
			is_str(in[0].flags, "\\Seen \\Flagged", "later flags win");
			ok(in[1].uid == 12 && in[1].size == 44, "literal passed over");
		}
		free(in);
		in = NULL;
		is_int(imap_logout(x.s, &err), MP_OK, "LOGOUT");
		sess_end(&x);
		sess_free(&x);
	}

	f.info_reply = "* 1 FETCH (UID 3 FLAGS (\\Seen) RFC822.SIZE x)\r\n";
	if (sess_open(&x, &f)) {
		is_int(imap_fetch_info(x.s, 1, 0, 0, &in, &n, &err), MP_ERR_PROTOCOL,
		       "malformed FETCH (%s)", err.msg);
		ok(has(err.msg, "RFC822.SIZE x"), "shows the line");
		ok(in == NULL && n == 0, "nothing handed out");
		sess_end(&x);
		sess_free(&x);
	}

	f.info_reply = NULL;
	f.fetch_tagged = "NO";
	if (sess_open(&x, &f)) {
		is_int(imap_fetch_info(x.s, 1, 0, 0, &in, &n, &err), MP_ERR_TEMP,
		       "FETCH NO without text (%s)", err.msg);
		ok(has(err.msg, "server said NO without giving a reason"),
		   "says so");
		is_int(imap_logout(x.s, &err), MP_OK, "still in step");
		sess_end(&x);
		sess_free(&x);
	}
}

/* EXAMINE and the message list sent together, read afterwards. */
static void test_open_pipelined(void)
{
	struct fake f = { .caps = "CONDSTORE LITERAL+", .msgs = info_msgs,
			  .nmsgs = 3,
			  .examine_reply = "* 3 EXISTS\r\n"
					   "* OK [UIDVALIDITY 1] x\r\n"
					   "* OK [HIGHESTMODSEQ 30] x\r\n" };
	struct imap_msginfo *in = NULL;
	struct imap_mailbox mb;
	struct imap_open op;
	struct mp_error err = { 0 };
	size_t n = 0;
	struct sess x;

	if (sess_open(&x, &f)) {
		is_int(imap_open_send(x.s, "INBOX", 15, &op, &err), MP_OK,
		       "send (%s)", err.msg);
		is_int(imap_open_finish(x.s, &op, &mb, &in, &n, &err), MP_OK,
		       "finish (%s)", err.msg);
		imap_open_free(&op);
		ok(mb.uidvalidity == 1 && mb.messages == 3 &&
		   mb.highestmodseq == 30, "EXAMINE's numbers");
		ok(n == 2 && in[0].uid == 8 && in[1].uid == 9,
		   "only what changed since 15");
		free(in);
		in = NULL;
		/* A name with 8-bit bytes goes as a LITERAL+ literal, pipelined. */
		is_int(imap_open_send(x.s, "Entw\xc3\xbcrfe", 0, &op, &err), MP_OK,
		       "send 8-bit (%s)", err.msg);
		is_int(imap_open_finish(x.s, &op, &mb, &in, &n, &err), MP_OK,
		       "finish 8-bit (%s)", err.msg);
		imap_open_free(&op);
		is_int(n, 3, "every message without CHANGEDSINCE");
		free(in);
		in = NULL;
		imap_logout(x.s, &err);
		sess_end(&x);
		ok(same_read(x.run.raw, x.run.reads, " EXAMINE \"INBOX\" (CONDSTORE)\r\n",
			     " UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE "
			     "MODSEQ) (CHANGEDSINCE 15)\r\n"),
		   "EXAMINE and FETCH arrive in one read");
		diag_unless(same_read(x.run.raw, x.run.reads, " EXAMINE \"INBOX\"",
				      " UID FETCH 1:*"), x.run.reads);
		sess_free(&x);
	}

	/* Without LITERAL+, an 8-bit name waits for the go-ahead: the two
	 * commands go one after the other. */
	f.caps = "CONDSTORE";
	if (sess_open(&x, &f)) {
		is_int(imap_open_send(x.s, "Entw\xc3\xbcrfe", 15, &op, &err),
		       MP_OK, "send, synchronizing literal (%s)", err.msg);
		ok(op.sequential, "not pipelined");
		is_int(imap_open_finish(x.s, &op, &mb, &in, &n, &err), MP_OK,
		       "finish (%s)", err.msg);
		imap_open_free(&op);
		ok(n == 2 && mb.uidvalidity == 1, "the same answers");
		free(in);
		in = NULL;
		sess_end(&x);
		sess_free(&x);
	}
	f.caps = "CONDSTORE LITERAL+";

	/* A folder without MODSEQs refuses CHANGEDSINCE: asked again. */
	f.examine_reply = "* 3 EXISTS\r\n* OK [UIDVALIDITY 1] x\r\n"
			  "* OK [NOMODSEQ] x\r\n";
	f.fetch_tagged = "BAD [CANNOT] no modseqs here";
	if (sess_open(&x, &f)) {
		is_int(imap_open_send(x.s, "INBOX", 15, &op, &err), MP_OK, "send");
		f.fetch_tagged = NULL;
		is_int(imap_open_finish(x.s, &op, &mb, &in, &n, &err),
		       MP_ERR_PROTOCOL, "the fake refuses the second FETCH too "
		       "(%s)", err.msg);
		imap_open_free(&op);
		free(in);
		in = NULL;
		sess_end(&x);
		ok(has(x.run.raw, "MODSEQ) (CHANGEDSINCE 15)\r\n") &&
		   has(x.run.raw, " UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE)\r\n"),
		   "asked again without CHANGEDSINCE and MODSEQ");
		sess_free(&x);
	}

	/* EXAMINE refused: its error, and the FETCH's answer is read too. */
	f.examine_reply = NULL;
	f.examine_tagged = "NO [NONEXISTENT] Unknown Mailbox: Trash";
	f.fetch_tagged = "BAD No mailbox selected";
	f.status_reply = "* STATUS INBOX (MESSAGES 3 UIDNEXT 10 UIDVALIDITY 1)\r\n";
	if (sess_open(&x, &f)) {
		is_int(imap_open_send(x.s, "Trash", 0, &op, &err), MP_OK, "send");
		is_int(imap_open_finish(x.s, &op, &mb, &in, &n, &err),
		       MP_ERR_NOUSER, "EXAMINE NO [NONEXISTENT] (%s)", err.msg);
		ok(has(err.msg, "EXAMINE 'Trash' failed"), "says which folder");
		imap_open_free(&op);
		free(in);
		in = NULL;
		is_int(imap_status(x.s, "INBOX", &mb, &err), MP_OK,
		       "the session stays in step (%s)", err.msg);
		sess_end(&x);
		sess_free(&x);
	}
}

static void test_search(void)
{
	struct fake f = {
		.search_reply = "* SEARCH 9 3 7\r\n* 5 EXISTS\r\n"
				"* OK [ALERT] searching hard\r\n"
				"* SEARCH\r\n"
				"* SEARCH 3 12 (MODSEQ 917162500)\r\n",
	};
	struct mp_error err = { 0 };
	uint32_t *u = NULL;
	size_t n = 0;
	struct sess x;

	if (sess_open(&x, &f)) {
		is_int(imap_uid_search(x.s, "SINCE 1-Nov-2026 SUBJECT \"a (b)\"",
				       &u, &n, &err), MP_OK,
		       "UID SEARCH over several lines (%s)", err.msg);
		is_int(n, 4, "four UIDs, each once");
		if (n == 4)
			ok(u[0] == 3 && u[1] == 7 && u[2] == 9 && u[3] == 12,
			   "sorted ascending; MODSEQ passed over");
		free(u);
		is_str(imap_alert(x.s), "searching hard",
		       "other responses acted on meanwhile");
		is_int(imap_logout(x.s, &err), MP_OK, "still in step");
		sess_end(&x);
		ok(has(x.run.raw, " UID SEARCH (SINCE 1-Nov-2026 SUBJECT \"a (b)\")\r\n"),
		   "criteria sent as given, inside parentheses");
		sess_free(&x);
	}

	/* Nothing found. */
	f.search_reply = "* SEARCH\r\n";
	if (sess_open(&x, &f)) {
		u = (uint32_t *)&n;
		is_int(imap_uid_search(x.s, "ALL", &u, &n, &err), MP_OK,
		       "empty answer (%s)", err.msg);
		ok(n == 0 && u == NULL, "no UIDs, NULL");
		imap_logout(x.s, &err);
		sess_end(&x);
		sess_free(&x);
	}

	/* A SEARCH line far longer than a line the connection holds. */
	f.search_reply = NULL;
	f.search_count = 300000;
	if (sess_open(&x, &f)) {
		is_int(imap_uid_search(x.s, "ALL", &u, &n, &err), MP_OK,
		       "a 2 MB SEARCH line (%s)", err.msg);
		is_int(n, 300000, "every UID");
		bool sorted = n == 300000;
		for (size_t i = 0; sorted && i < n; i++)
			sorted = u[i] == i + 1;
		ok(sorted, "all of them, ascending");
		free(u);
		is_int(imap_logout(x.s, &err), MP_OK, "still in step");
		sess_end(&x);
		sess_free(&x);
	}

	f.search_count = 2000001;
	if (sess_open(&x, &f)) {
		is_int(imap_uid_search(x.s, "ALL", &u, &n, &err), MP_ERR_PROTOCOL,
		       "more than 2000000 UIDs refused (%s)", err.msg);
		ok(has(err.msg, "more than 2000000"), "says the cap");
		ok(u == NULL && n == 0, "nothing handed out");
		is_int(imap_logout(x.s, &err), MP_OK, "read to the end: in step");
		sess_end(&x);
		sess_free(&x);
	}
	f.search_count = 0;

	f.search_reply = "* SEARCH 1 x2 3\r\n";
	if (sess_open(&x, &f)) {
		is_int(imap_uid_search(x.s, "ALL", &u, &n, &err), MP_ERR_PROTOCOL,
		       "malformed SEARCH (%s)", err.msg);
		ok(has(err.msg, "x2 3"), "shows where");
		is_int(imap_logout(x.s, &err), MP_OK, "still in step");
		sess_end(&x);
		sess_free(&x);
	}

	f.search_reply = "* SEARCH 1 0\r\n";
	if (sess_open(&x, &f)) {
		is_int(imap_uid_search(x.s, "ALL", &u, &n, &err), MP_ERR_PROTOCOL,
		       "UID 0 (%s)", err.msg);
		sess_end(&x);
		sess_free(&x);
	}

	f.search_reply = "* SEARCH 1 4294967296\r\n";
	if (sess_open(&x, &f)) {
		is_int(imap_uid_search(x.s, "ALL", &u, &n, &err), MP_ERR_PROTOCOL,
		       "UID above 2^32-1 (%s)", err.msg);
		sess_end(&x);
		sess_free(&x);
	}

	/* Refusals. */
	f.search_reply = NULL;
	f.search_tagged = "BAD Error in IMAP command UID SEARCH: Unknown argument FOO";
	if (sess_open(&x, &f)) {
		is_int(imap_uid_search(x.s, "FOO", &u, &n, &err), MP_ERR_USAGE,
		       "BAD: the criteria's fault (%s)", err.msg);
		ok(has(err.msg, "the server refused the search criteria: Error in "
		       "IMAP command UID SEARCH: Unknown argument FOO"),
		   "in the server's words");
		is_int(imap_logout(x.s, &err), MP_OK, "still in step");
		sess_end(&x);
		sess_free(&x);
	}
	f.search_tagged = "NO [BADCHARSET (US-ASCII)] no such charset";
	if (sess_open(&x, &f)) {
		is_int(imap_uid_search(x.s, "SUBJECT ü", &u, &n, &err),
		       MP_ERR_USAGE, "NO [BADCHARSET] (%s)", err.msg);
		ok(has(err.msg, "[BADCHARSET] no such charset"), "with its text");
		sess_end(&x);
		sess_free(&x);
	}
	f.search_tagged = "NO search failed";
	if (sess_open(&x, &f)) {
		is_int(imap_uid_search(x.s, "ALL", &u, &n, &err),
		       MP_ERR_UNAVAILABLE, "NO (%s)", err.msg);
		ok(has(err.msg, "UID SEARCH failed: server said NO search failed"),
		   "with its text");
		sess_end(&x);
		sess_free(&x);
	}
	f.search_tagged = "NO [UNAVAILABLE] index busy";
	if (sess_open(&x, &f)) {
		is_int(imap_uid_search(x.s, "ALL", &u, &n, &err), MP_ERR_TEMP,
		       "NO [UNAVAILABLE] is temporary (%s)", err.msg);
		sess_end(&x);
		sess_free(&x);
	}
	f.search_tagged = NULL;

	/* Criteria refused before anything is sent. */
	static const struct { const char *crit, *why; } bad[] = {
		{ "SUBJECT a\r\nA1 LOGOUT", "line break" },
		{ "SUBJECT a\n", "line break" },
		{ "", "no search criteria" },
		{ "  ", "no search criteria" },
		{ "charset UTF-8 SUBJECT x", "leave CHARSET out" },
		{ "SUBJECT \xff\xfe", "not UTF-8" },
		{ "SUBJECT \"open", "unclosed double quote" },
		{ "SUBJECT \"a\\\"", "unclosed double quote" },
		{ "SUBJECT {3}", "'{' outside double quotes" },
		{ "SUBJECT {3+} x", "'{' outside double quotes" },
	};
	if (sess_open(&x, &f)) {
		for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
			is_int(imap_uid_search(x.s, bad[i].crit, &u, &n, &err),
			       MP_ERR_USAGE, "refused: %s (%s)", bad[i].why, err.msg);
			ok(has(err.msg, bad[i].why), "... says so");
		}
		char *long_crit = malloc(8100);
		memset(long_crit, 'A', 8099);
		long_crit[8099] = '\0';
		is_int(imap_uid_search(x.s, long_crit, &u, &n, &err), MP_ERR_USAGE,
		       "criteria over 8000 bytes (%s)", err.msg);
		free(long_crit);
		is_int(imap_uid_search(x.s, "CHARSETS \"{3}\"", &u, &n, &err),
		       MP_OK, "a word that only starts with CHARSET goes, and "
		       "'{' in quotes");
		free(u);
		is_int(imap_logout(x.s, &err), MP_OK, "LOGOUT");
		sess_end(&x);
		is_int(count_of(x.run.raw, "SEARCH"), 1, "only the good one was sent");
		sess_free(&x);
	}

	/* 8-bit text: UTF-8 literals, with CHARSET UTF-8. */
	f.search_reply = "* SEARCH 4\r\n";
	if (sess_open(&x, &f)) {
		is_int(imap_uid_search(x.s, "OR SUBJECT \"Grüße \\\"x\\\"\" "
				       "FROM Jörg", &u, &n, &err), MP_OK,
		       "8-bit criteria (%s)", err.msg);
		ok(n == 1 && u[0] == 4, "answered");
		free(u);
		is_int(imap_logout(x.s, &err), MP_OK, "in step");
		sess_end(&x);
		ok(has(x.run.raw, " UID SEARCH CHARSET UTF-8 (OR SUBJECT {11}\r\n"
		       "Grüße \"x\" FROM {5}\r\nJörg)\r\n"),
		   "8-bit string and word as synchronizing literals");
		ok(has(x.run.trace_buf, "S: + go ahead"), "waited for the go-ahead");
		sess_free(&x);
	}
	f.caps = "LITERAL+ ENABLE UTF8=ACCEPT";
	if (sess_open(&x, &f)) {
		is_int(imap_uid_search(x.s, "BODY é", &u, &n, &err), MP_OK,
		       "LITERAL+ (%s)", err.msg);
		free(u);
		is_int(imap_enable(x.s, &err), MP_OK, "ENABLE UTF8=ACCEPT");
		is_int(imap_uid_search(x.s, "BODY \"ü\" TEXT x", &u, &n, &err),
		       MP_OK, "under UTF8=ACCEPT (%s)", err.msg);
		free(u);
		is_int(imap_logout(x.s, &err), MP_OK, "in step");
		sess_end(&x);
		ok(has(x.run.raw, " UID SEARCH CHARSET UTF-8 (BODY {2+}\r\né)\r\n"),
		   "non-synchronizing literal");
		ok(has(x.run.raw, " UID SEARCH (BODY {2+}\r\nü TEXT x)\r\n"),
		   "no CHARSET once UTF8=ACCEPT is on");
		ok(!has(x.run.trace_buf, "S: + go ahead"), "no waiting");
		sess_free(&x);
	}
}

/* 64 KiB less one: the client reads literals in pieces of this size. */
#define PIECE (64 * 1024 - 1)

static char *fill(size_t n, const char *tail, size_t *len)
{
	size_t t = strlen(tail);
	char *m = malloc(n + t + 1);

	for (size_t i = 0; i < n; i++)
		m[i] = (char)('A' + i % 23);
	memcpy(m + n, tail, t + 1);
	*len = n + t;
	return m;
}

static void test_bodies(void)
{
	size_t l_split, l_cr, l_end;
	/* A CRLF split between two pieces, a CR ending a piece without LF,
	 * and a CR ending the whole literal. */
	char *split = fill(PIECE - 1, "\r\nnext line\r\n", &l_split);
	char *cr = fill(PIECE - 1, "\rnot a line end\r\n", &l_cr);
	char *endcr = fill(PIECE + 10, "\r", &l_end);
	struct msg msgs[] = {
		{ .uid = 2, .flags = "\\Seen", .date = DATE1,
		  .wire = W("Subject: one\r\n\r\nbody\r\n") },
		{ .uid = 4, .flags = "", .date = DATE2, .wire = "", .len = 0 },
		{ .uid = 5, .flags = "\\Answered \\Seen", .date = DATE1,
		  .wire = W("a\rb\nc\r\r\nd\0e \xc3\xa9\r\n") },
		{ .uid = 6, .flags = "", .date = DATE1, .wire = split, .len = l_split },
		{ .uid = 7, .flags = "", .date = DATE1, .wire = cr, .len = l_cr },
		{ .uid = 8, .flags = "", .date = DATE1, .wire = endcr, .len = l_end },
	};
	struct fake f = { .msgs = msgs, .nmsgs = 6 };
	uint32_t uids[] = { 5, 2, 4, 6, 7, 8 };
	struct mp_error err = { 0 };
	struct imap_sink sink;
	struct got g;
	struct sess x;

	got_init(&g, &sink);
	if (sess_open(&x, &f)) {
		is_int(imap_fetch_bodies(x.s, uids, 6, 1, &sink, &err), MP_OK,
		       "six bodies (%s)", err.msg);
		/* One command: server order (by UID), index = position in
		 * uids. */
		is_str(g.events, "b1 e1 b2 e2 b0 e0 b3 e3 b4 e4 b5 e5 ",
		       "begin/end in arrival order, indexes by position");
		ok(same_msg(&g, 1, &msgs[0]), "simple message, CRLF -> LF");
		is_str(g.msg[1], "Subject: one\n\nbody\n", "exactly");
		ok(g.len[2] == 0 && g.calls[2] == 0, "empty message: no data");
		ok(same_msg(&g, 0, &msgs[2]), "lone CR and LF, CR CR LF, NUL and "
		   "8-bit kept");
		ok(same_msg(&g, 3, &msgs[3]), "CRLF split across pieces");
		ok(g.len[3] == PIECE - 1 + 11 && g.msg[3][PIECE - 1] == '\n',
		   "... one LF where the CR was");
		ok(same_msg(&g, 4, &msgs[4]), "CR ending a piece, no LF after");
		ok(same_msg(&g, 5, &msgs[5]) && g.msg[5][g.len[5] - 1] == '\r',
		   "CR ending the literal kept");
		ok(g.maxchunk <= 64 * 1024, "no piece over 64 KiB (%zu)", g.maxchunk);
		ok(g.at_begin[1].uid == 2 && !strcmp(g.at_begin[1].flags, "\\Seen") &&
		   g.at_begin[1].internaldate == DATE1_T, "info at begin");
		is_int(g.at_begin[1].size, msgs[0].len, "size: the literal's");
		ok(g.at_begin[0].uid == 5 &&
		   !strcmp(g.at_begin[0].flags, "\\Answered \\Seen"), "info of 5");
		is_int(imap_logout(x.s, &err), MP_OK, "LOGOUT (%s)", err.msg);
		sess_end(&x);
		ok(has(x.run.raw, "BODY.PEEK[]"), "BODY.PEEK[]: never marks read");
		ok(!has(x.run.trace_buf, "Subject: one") && !has(x.run.trace_buf, "ABCDEF"),
		   "bodies not traced");
		ok(has(x.run.trace_buf, "-- 22 bytes of message data\n"), "size noted");
		ok(has(x.run.trace_buf, "S: )\n"), "line after a literal traced");
		is_int(x.run.child, 0, "server saw LOGOUT");
		sess_free(&x);
	}
	got_free(&g);

	/* Bodies as quoted strings (which cannot hold a line end). */
	struct msg quoted[] = {
		{ .uid = 2, .flags = "\\Seen", .date = DATE1,
		  .wire = W("tiny \"quoted\" \\ body") },
		{ .uid = 4, .flags = "", .date = DATE1, .wire = "", .len = 0 },
		{ .uid = 5, .flags = "", .date = DATE1, .wire = W("x\r") },
	};
	f.hostile = H_QUOTED;
	f.msgs = quoted;
	f.nmsgs = 3;
	got_init(&g, &sink);
	if (sess_open(&x, &f)) {
		uint32_t u[] = { 2, 4, 5 };

		is_int(imap_fetch_bodies(x.s, u, 3, 2, &sink, &err), MP_OK,
		       "quoted bodies (%s)", err.msg);
		is_str(g.events, "b0 e0 b1 e1 b2 e2 ", "all delivered");
		is_str(g.msg[0], "tiny \"quoted\" \\ body", "unescaped");
		ok(g.len[1] == 0, "empty string");
		is_str(g.msg[2], "x\r", "CR kept");
		is_int(g.at_begin[0].size, quoted[0].len, "size: the string's");
		imap_logout(x.s, &err);
		sess_end(&x);
		sess_free(&x);
	}
	got_free(&g);
	f.msgs = msgs;

	/* FLAGS after BODY[]. */

	f.hostile = H_FLAGS_AFTER;
	got_init(&g, &sink);
	if (sess_open(&x, &f)) {
		uint32_t u[] = { 2, 5 };

		is_int(imap_fetch_bodies(x.s, u, 2, 2, &sink, &err), MP_OK,
		       "FLAGS after BODY[] (%s)", err.msg);
		ok(g.at_begin[0].uid == 2 && g.at_begin[0].flags[0] == '\0',
		   "begin has the UID only");
		ok(!strcmp(g.at_end[0].flags, "\\Seen") &&
		   g.at_end[0].internaldate == DATE1_T,
		   "by end the info holds what came after");
		ok(!strcmp(g.at_end[1].flags, "\\Answered \\Seen"), "second too");
		imap_logout(x.s, &err);
		sess_end(&x);
		sess_free(&x);
	}
	got_free(&g);
	free(split);
	free(cr);
	free(endcr);
}

static const struct msg eight[] = {
	{ .uid = 1, .flags = "", .date = DATE1, .wire = W("one\r\n") },
	{ .uid = 2, .flags = "", .date = DATE1, .wire = W("two\r\n") },
	{ .uid = 3, .flags = "", .date = DATE1, .wire = W("three\r\n") },
	{ .uid = 4, .flags = "", .date = DATE1, .wire = W("four\r\n") },
	{ .uid = 5, .flags = "", .date = DATE1, .wire = W("five\r\n") },
	{ .uid = 6, .flags = "", .date = DATE1, .wire = W("six\r\n") },
	{ .uid = 7, .flags = "", .date = DATE1, .wire = W("seven\r\n") },
	{ .uid = 8, .flags = "", .date = DATE1, .wire = W("eight\r\n") },
};

static void test_pipelined(void)
{
	struct fake f = { .msgs = eight, .nmsgs = 8 };
	uint32_t uids[] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct mp_error err = { 0 };
	struct imap_sink sink;
	struct got g;
	struct sess x;

	got_init(&g, &sink);
	if (sess_open(&x, &f)) {
		is_int(imap_fetch_bodies(x.s, uids, 8, 4, &sink, &err), MP_OK,
		       "eight over a window of four (%s)", err.msg);
		is_str(g.events, "b0 e0 b1 e1 b2 e2 b3 e3 b4 e4 b5 e5 b6 e6 b7 e7 ",
		       "all in order");
		is_str(g.msg[6], "seven\n", "seventh intact");
		imap_logout(x.s, &err);
		sess_end(&x);
		is_int(count_of(x.run.raw, " UID FETCH "), 4, "four commands");
		ok(has(x.run.raw, " UID FETCH 1:2 (UID FLAGS INTERNALDATE BODY.PEEK[])"),
		   "consecutive UIDs as a range");
		long r0 = read_of(&x, " UID FETCH ", 0);
		long r3 = read_of(&x, " UID FETCH ", 3);
		ok(r0 >= 0 && r0 == r3, "the server had all four UID FETCH "
		   "commands before it answered one (reads %ld, %ld)", r0, r3);
		diag_unless(r0 == r3, x.run.reads);
		sess_free(&x);
	}
	got_free(&g);

	/* Window 1: one at a time, and UIDs in any order and twice. */
	got_init(&g, &sink);
	if (sess_open(&x, &f)) {
		uint32_t u[] = { 7, 3, 7, 5 };

		is_int(imap_fetch_bodies(x.s, u, 4, 1, &sink, &err), MP_OK,
		       "window 1 (%s)", err.msg);
		is_str(g.events, "b1 e1 b3 e3 b0 e0 ", "7 delivered once");
		imap_logout(x.s, &err);
		sess_end(&x);
		ok(has(x.run.raw, " UID FETCH 3,5,7 "), "one command, sorted list");
		sess_free(&x);
	}
	got_free(&g);

	/* Many UIDs: 50 to a command. */
	{
		uint32_t many[120];
		struct msg none[1] = { { .uid = 1000, .flags = "", .date = DATE1,
					 .wire = W("x\r\n") } };

		for (int i = 0; i < 120; i++)
			many[i] = (uint32_t)(2 * i + 1);
		f.msgs = none;
		f.nmsgs = 1;
		got_init(&g, &sink);
		if (sess_open(&x, &f)) {
			is_int(imap_fetch_bodies(x.s, many, 120, 2, &sink, &err),
			       MP_OK, "120 UIDs that are all gone (%s)", err.msg);
			is_str(g.events, "", "nothing delivered");
			imap_logout(x.s, &err);
			sess_end(&x);
			is_int(count_of(x.run.raw, " UID FETCH "), 3,
			       "three commands of at most 50");
			ok(has(x.run.raw, " UID FETCH 1,3,5,"), "listed one by one");
			sess_free(&x);
		}
		got_free(&g);
		f.msgs = eight;
		f.nmsgs = 8;
	}
}

static void test_hostile(void)
{
	struct msg msgs[] = {
		{ .uid = 1, .flags = "", .date = DATE1, .wire = W("one\r\n") },
		{ .uid = 2, .flags = "", .date = DATE1, .gen = 200000 },
		{ .uid = 3, .flags = "", .date = DATE1, .wire = W("three\r\n") },
		{ .uid = 4, .flags = "", .date = DATE1, .wire = W("four\r\n") },
	};
	struct fake f = { .msgs = msgs, .nmsgs = 4, .target = 2 };
	uint32_t uids[] = { 1, 2, 3, 4 };
	struct mp_error err = { 0 };
	struct imap_sink sink;
	struct got g;
	struct sess x;

	f.hostile = H_HUGE;
	got_init(&g, &sink);
	if (sess_open(&x, &f)) {
		is_int(imap_fetch_bodies(x.s, uids, 4, 4, &sink, &err),
		       MP_ERR_PROTOCOL, "2^62 literal (%s)", err.msg);
		ok(has(err.msg, "4611686018427387904"), "says the size");
		is_str(g.events, "b0 e0 ", "nothing begun for it");
		ok(imap_logout(x.s, &err) != MP_OK, "session refuses to go on");
		sess_end(&x);
		sess_free(&x);
	}
	got_free(&g);

	f.hostile = H_CUT;
	got_init(&g, &sink);
	if (sess_open(&x, &f)) {
		is_int(imap_fetch_bodies(x.s, uids, 4, 4, &sink, &err),
		       MP_ERR_TEMP, "literal cut by disconnect (%s)", err.msg);
		is_str(g.events, "b0 e0 b1 ", "message 2 never ends");
		ok(g.len[1] > 0 && g.len[1] < 100000, "only part of it came");
		ok(imap_logout(x.s, &err) == MP_ERR_TEMP,
		   "later commands refused with the same status");
		sess_end(&x);
		sess_free(&x);
	}
	got_free(&g);

	f.hostile = H_CHATTER;
	got_init(&g, &sink);
	if (sess_open(&x, &f)) {
		is_int(imap_fetch_bodies(x.s, uids, 4, 2, &sink, &err), MP_OK,
		       "EXPUNGE, EXISTS and others' FETCH mid-fetch (%s)", err.msg);
		is_str(g.events, "b0 e0 b1 e1 b2 e2 b3 e3 ", "all four delivered");
		is_str(g.msg[3], "four\n", "intact");
		ok(!has(g.msg[0], "nope"), "UID 9999 not delivered");
		is_int(imap_logout(x.s, &err), MP_OK, "LOGOUT (%s)", err.msg);
		sess_end(&x);
		sess_free(&x);
	}
	got_free(&g);

	f.hostile = H_BYE;
	got_init(&g, &sink);
	if (sess_open(&x, &f)) {
		is_int(imap_fetch_bodies(x.s, uids, 4, 1, &sink, &err),
		       MP_ERR_TEMP, "BYE mid-fetch (%s)", err.msg);
		ok(has(err.msg, "shutting down for maintenance"), "says why");
		is_str(g.events, "b0 e0 ", "first delivered, no more");
		ok(imap_logout(x.s, &err) == MP_ERR_TEMP, "session over");
		sess_end(&x);
		sess_free(&x);
	}
	got_free(&g);

	f.hostile = H_MALFORMED;
	got_init(&g, &sink);
	if (sess_open(&x, &f)) {
		is_int(imap_fetch_bodies(x.s, uids, 4, 4, &sink, &err),
		       MP_ERR_PROTOCOL, "malformed FETCH (%s)", err.msg);
		ok(has(err.msg, "FLAGS \\Seen"), "shows the line");
		ok(!has(g.events, "b1"), "nothing begun for it");
		sess_end(&x);
		sess_free(&x);
	}
	got_free(&g);

	f.hostile = H_BODY_FIRST;
	got_init(&g, &sink);
	if (sess_open(&x, &f)) {
		is_int(imap_fetch_bodies(x.s, uids, 4, 4, &sink, &err),
		       MP_ERR_PROTOCOL, "BODY[] before UID (%s)", err.msg);
		ok(has(err.msg, "before the message's UID"), "says so");
		is_str(g.events, "b0 e0 ", "stopped there");
		memset(&err, 0, sizeof err);
		is_int(imap_logout(x.s, &err), MP_OK, "drained: LOGOUT works (%s)",
		       err.msg);
		sess_end(&x);
		sess_free(&x);
	}
	got_free(&g);

	f.hostile = H_NONE;
	f.fetch_tagged = "NO";
	got_init(&g, &sink);
	if (sess_open(&x, &f)) {
		is_int(imap_fetch_bodies(x.s, uids, 4, 2, &sink, &err), MP_ERR_TEMP,
		       "UID FETCH NO without text (%s)", err.msg);
		ok(has(err.msg, "without giving a reason"), "says so");
		memset(&err, 0, sizeof err);
		is_int(imap_logout(x.s, &err), MP_OK, "LOGOUT works (%s)", err.msg);
		sess_end(&x);
		is_int(count_of(x.run.raw, " UID FETCH "), 2,
		       "nothing sent after the NO");
		sess_free(&x);
	}
	got_free(&g);

	/* Expunged meanwhile: OK, but never sent. */
	f.fetch_tagged = NULL;
	msgs[2].gone = true;
	got_init(&g, &sink);
	if (sess_open(&x, &f)) {
		is_int(imap_fetch_bodies(x.s, uids, 4, 4, &sink, &err), MP_OK,
		       "a message expunged meanwhile (%s)", err.msg);
		is_str(g.events, "b0 e0 b1 e1 b3 e3 ", "simply not delivered");
		imap_logout(x.s, &err);
		sess_end(&x);
		sess_free(&x);
	}
	got_free(&g);
	msgs[2].gone = false;

	f.fetch_tagged = "NO [EXPUNGEISSUED] Some messages were expunged";
	got_init(&g, &sink);
	if (sess_open(&x, &f)) {
		is_int(imap_fetch_bodies(x.s, uids, 4, 4, &sink, &err), MP_OK,
		       "NO [EXPUNGEISSUED] is no failure (%s)", err.msg);
		imap_logout(x.s, &err);
		sess_end(&x);
		sess_free(&x);
	}
	got_free(&g);
}

static void test_sink_errors(void)
{
	struct msg msgs[] = {
		{ .uid = 1, .flags = "", .date = DATE1, .wire = W("one\r\n") },
		{ .uid = 2, .flags = "", .date = DATE1, .gen = 500000 },
		{ .uid = 3, .flags = "", .date = DATE1, .wire = W("three\r\n") },
		{ .uid = 4, .flags = "", .date = DATE1, .wire = W("four\r\n") },
		{ .uid = 5, .flags = "", .date = DATE1, .wire = W("five\r\n") },
		{ .uid = 6, .flags = "", .date = DATE1, .wire = W("six\r\n") },
	};
	struct fake f = { .msgs = msgs, .nmsgs = 6 };
	uint32_t uids[] = { 1, 2, 3, 4, 5, 6 };
	struct mp_error err = { 0 };
	struct imap_sink sink;
	struct got g;
	struct sess x;

	/* Fails in the middle of the big literal of message 2. */
	got_init(&g, &sink);
	g.fail_index = 1;
	g.fail_after = 100000;
	if (sess_open(&x, &f)) {
		is_int(imap_fetch_bodies(x.s, uids, 6, 6, &sink, &err), MP_ERR_IO,
		       "sink error mid-literal (%s)", err.msg);
		is_str(err.msg, "disk full writing message", "the sink's words");
		is_str(g.events, "b0 e0 b1 ", "no end for 2, nothing after");
		ok(g.len[1] <= 100000, "no data after the failure");
		memset(&err, 0, sizeof err);
		is_int(imap_fetch_bodies(x.s, uids + 2, 1, 1, &sink, &err), MP_OK,
		       "another fetch works (%s)", err.msg);
		is_int(imap_logout(x.s, &err), MP_OK, "LOGOUT works (%s)", err.msg);
		sess_end(&x);
		/* Window 6 over 6 UIDs: six commands at once, all answered. */
		is_int(count_of(x.run.raw, " UID FETCH "), 7, "six, then one more");
		ok(has(x.run.raw, "LOGOUT\r\n"), "LOGOUT reached the server");
		is_int(x.run.child, 0, "server saw a clean LOGOUT");
		sess_free(&x);
	}
	got_free(&g);

	/* Refuses to begin message 1; window 2 keeps the rest unsent. */
	got_init(&g, &sink);
	g.fail_index = 0;
	g.fail_begin = true;
	if (sess_open(&x, &f)) {
		is_int(imap_fetch_bodies(x.s, uids, 6, 2, &sink, &err), MP_ERR_IO,
		       "begin error (%s)", err.msg);
		is_str(g.events, "b0 ", "no data, no end, no more");
		is_int(imap_logout(x.s, &err), MP_OK, "LOGOUT works");
		sess_end(&x);
		is_int(count_of(x.run.raw, " UID FETCH "), 2,
		       "only the first window was sent");
		sess_free(&x);
	}
	got_free(&g);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (!fake_logs_make(&logs, "/tmp/mp-imap-XXXXXX")) {
		perror("mkdtemp");
		return 2;
	}

	test_memory();
	test_enable();
	test_list();
	test_status_examine();
	test_fetch_info();
	test_open_pipelined();
	test_search();
	test_bodies();
	test_pipelined();
	test_hostile();
	test_sink_errors();

	fake_logs_remove(&logs);
	return tap_done();
}
