/* smtp_send against a scripted SMTP/LMTP server: each case forks a child
 * that accepts one connection on loopback, answers as its struct fake says
 * and logs what it received: every byte (raw), where each read() began and
 * how long it was (reads), and the message bodies as they came over the
 * wire (body). The parent then checks those logs byte for byte. */
#include <fcntl.h>
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
#include "session.h"
#include "smtp.h"
#include "tap.h"
#include "url.h"

static struct fake_logs logs;
static char body_path[80];

/* Seconds a fake server may live. */
#define CHILD_LIMIT_S 30

/* --- the fake server (child side) --- */

struct fake {
	const char *caps;         /* EHLO keywords, one per line ('\n') */
	bool lmtp;
	const char *mail_reply;   /* NULL: 250 */
	const char *data_reply;   /* answer to DATA with recipients; NULL: 354 */
	const char *final_reply;  /* NULL: 250 */
	bool data_354_anyway;     /* 354 even when no recipient was accepted */
	bool hash_body;           /* log "LEN HASH" instead of the body */
	int fail_chunk;           /* refuse this BDAT chunk (1-based) with 452 */
	int lmtp_hangup;          /* LMTP: hang up after this many final replies */
};

/* The message bodies as they came, or as "LEN HASH" for huge ones. */
struct body_log {
	FILE *body;
	unsigned long long body_len;
	uint64_t body_hash;
	bool hash;
};

#define RD_CAP (4u << 20)

static void sayf(int fd, const char *fmt, const char *arg)
{
	char buf[1200];

	snprintf(buf, sizeof buf, fmt, arg);
	say(fd, buf);
}

/* The next line with its CRLF, copied into line (NUL-terminated). */
static ssize_t rd_wire_line(struct rd *r, char *line, size_t cap)
{
	size_t n = rd_next_line(r);

	if (n == 0 || n >= cap)
		return -1;
	memcpy(line, r->buf + r->start, n);
	line[n] = '\0';
	r->start += n;
	return (ssize_t)n;
}

static void body_out(struct body_log *b, const char *p, size_t n)
{
	if (!b->hash) {
		fwrite(p, 1, n, b->body);
		return;
	}
	for (size_t i = 0; i < n; i++)
		b->body_hash = (b->body_hash ^ (unsigned char)p[i]) *
			       0x100000001b3ULL;
	b->body_len += n;
}

static bool rd_bytes(struct rd *r, struct body_log *b, size_t n)
{
	while (n > 0) {
		size_t k;

		if (r->start == r->end && !rd_fill(r))
			return false;
		k = r->end - r->start < n ? r->end - r->start : n;
		body_out(b, r->buf + r->start, k);
		r->start += k;
		n -= k;
	}
	return true;
}

/* How the fake answers RCPT for an address, by its local part. */
static const char *rcpt_answer(const char *addr)
{
	if (strncmp(addr, "bad", 3) == 0)
		return "550 5.1.1 <%s>: Recipient address rejected: User unknown\r\n";
	if (strncmp(addr, "deny", 4) == 0)
		return "554 5.7.1 <%s>: Relay access denied\r\n";
	if (strncmp(addr, "temp", 4) == 0)
		return "450 4.2.0 <%s>: Recipient address rejected: Greylisted\r\n";
	if (strncmp(addr, "multi", 5) == 0)
		return "550-5.1.1 <%s> does not exist.\r\n"
		       "550 5.1.1 Please check the\x1b[31m address.\r\n";
	return "250 2.1.5 Ok\r\n";
}

/* And the LMTP reply for it after the message. */
static const char *lmtp_answer(const char *addr)
{
	if (strncmp(addr, "lfull", 5) == 0)
		return "452 4.2.2 <%s> Mailbox is full\r\n";
	if (strncmp(addr, "lgone", 5) == 0)
		return "550 5.1.1 <%s> User doesn't exist\r\n";
	return "250 2.0.0 <%s> Saved\r\n";
}

#define MAX_ACC 400

struct txn_state {
	bool mail;
	int nacc;
	char acc[MAX_ACC][64];
};

/* Answer the end of a message; false: hang up now. */
static bool final_replies(int fd, const struct fake *f, struct txn_state *t)
{
	if (!f->lmtp) {
		say(fd, f->final_reply ? f->final_reply
				       : "250 2.0.0 Ok: queued as ABC123\r\n");
		return true;
	}
	for (int i = 0; i < t->nacc; i++) {
		if (f->lmtp_hangup && i == f->lmtp_hangup)
			return false;
		sayf(fd, lmtp_answer(t->acc[i]), t->acc[i]);
	}
	return true;
}

static int serve(int fd, const void *arg)
{
	const struct fake *f = arg;
	struct rd r;
	struct body_log b = { .hash = f->hash_body,
			      .body_hash = 0xcbf29ce484222325ULL };
	static struct txn_state t;
	static char line[RD_CAP];
	int chunk = 0;
	bool chunk_failed = false;
	bool logs_open = rd_open(&r, fd, &logs, malloc(RD_CAP), RD_CAP);

	b.body = fopen(body_path, "w");
	if (!logs_open || !b.body)
		return 90;
	say(fd, "220 fake.test ESMTP ready\r\n");
	for (;;) {
		ssize_t n = rd_wire_line(&r, line, sizeof line);
		char addr[600];

		if (n < 0)
			break;
		if (strncasecmp(line, "EHLO ", 5) == 0 ||
		    strncasecmp(line, "LHLO ", 5) == 0) {
			const char *c = f->caps ? f->caps : "";

			say(fd, *c ? "250-fake.test\r\n" : "250 fake.test\r\n");
			while (*c) {
				size_t k = strcspn(c, "\n");
				char kw[200];

				snprintf(kw, sizeof kw, "250%c%.*s\r\n",
					 c[k] ? '-' : ' ', (int)k, c);
				say(fd, kw);
				c += c[k] ? k + 1 : k;
			}
		} else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
			const char *a = f->mail_reply ? f->mail_reply
						      : "250 2.1.0 Ok\r\n";
			say(fd, a);
			memset(&t, 0, sizeof t);
			t.mail = a[0] == '2';
			chunk = 0;
			chunk_failed = false;
		} else if (strncasecmp(line, "RCPT TO:<", 9) == 0) {
			const char *a;

			snprintf(addr, sizeof addr, "%.*s",
				 (int)strcspn(line + 9, ">"), line + 9);
			a = t.mail ? rcpt_answer(addr)
				   : "503 5.5.1 Error: need MAIL command\r\n";
			sayf(fd, a, addr);
			if (a[0] == '2' && t.nacc < MAX_ACC)
				snprintf(t.acc[t.nacc++], sizeof t.acc[0], "%.63s", addr);
		} else if (strcasecmp(line, "DATA\r\n") == 0) {
			const char *a = f->data_reply ? f->data_reply
						      : "354 End data with <CR><LF>.<CR><LF>\r\n";
			bool go = t.mail && t.nacc > 0;

			if (!go && !f->data_354_anyway) {
				say(fd, t.mail ? "554 5.5.1 Error: no valid recipients\r\n"
					       : "503 5.5.1 Error: need RCPT command\r\n");
				continue;
			}
			say(fd, a);
			if (a[0] != '3')
				continue;
			for (;;) {
				n = rd_wire_line(&r, line, sizeof line);
				if (n < 0)
					goto done;
				body_out(&b, line, (size_t)n);
				if (strcmp(line, ".\r\n") == 0)
					break;
			}
			if (go && !final_replies(fd, f, &t))
				goto done;
			if (!go)
				say(fd, "554 5.5.1 Error: no valid recipients\r\n");
			memset(&t, 0, sizeof t);
		} else if (strncasecmp(line, "BDAT ", 5) == 0) {
			char *end;
			unsigned long len = strtoul(line + 5, &end, 10);
			bool last = strncasecmp(end, " LAST", 5) == 0;

			if (!rd_bytes(&r, &b, len))
				break;
			chunk++;
			if (!t.mail || t.nacc == 0) {
				say(fd, "554 5.5.1 Error: no valid recipients\r\n");
			} else if (chunk == f->fail_chunk || chunk_failed) {
				chunk_failed = true;
				say(fd, "452 4.3.1 Insufficient system storage\r\n");
			} else if (last) {
				if (!final_replies(fd, f, &t))
					goto done;
			} else {
				char ok[80];

				snprintf(ok, sizeof ok, "250 2.0.0 %lu octets received\r\n",
					 len);
				say(fd, ok);
			}
			if (last)
				memset(&t, 0, sizeof t);
		} else if (strcasecmp(line, "RSET\r\n") == 0) {
			memset(&t, 0, sizeof t);
			chunk = 0;
			chunk_failed = false;
			say(fd, "250 2.0.0 Ok\r\n");
		} else if (strcasecmp(line, "QUIT\r\n") == 0) {
			say(fd, "221 2.0.0 Bye\r\n");
			break;
		} else if (strcasecmp(line, "NOOP\r\n") == 0) {
			say(fd, "250 2.0.0 Ok\r\n");
		} else {
			say(fd, "502 5.5.2 Error: command not recognized\r\n");
		}
	}
done:
	if (b.hash)
		fprintf(b.body, "%llu %016llx", b.body_len,
			(unsigned long long)b.body_hash);
	rd_close(&r);
	fclose(b.body);
	free(r.buf);
	return 0;
}

/* --- parent side --- */

/* A message in an unlinked temp file, at offset 0. */
static int msg_fd(const void *data, size_t len)
{
	char path[] = "/tmp/mp-smtp-msg-XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0 || write_all(fd, data, len) < 0) {
		perror("msg_fd");
		exit(2);
	}
	unlink(path);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

struct sess {
	struct fake_run run;
	struct smtp_session *s;
};

static bool sess_open(struct sess *x, const struct fake *f)
{
	struct mp_error err = { 0 };

	x->s = NULL;
	if (!fake_run_start(&x->run, serve, f, CHILD_LIMIT_S,
			    f->lmtp ? "lmtp" : "smtp", 5000))
		return false;
	if (smtp_open(&x->s, &x->run.so, "client.test", &err) != MP_OK) {
		ok(0, "smtp_open: %s", err.msg);
		x->s = NULL;
		return false;
	}
	return true;
}

/* QUIT, close, reap; returns the child's status. The caller frees
 * x->run. */
static int sess_close(struct sess *x)
{
	struct mp_error err = { 0 };

	if (x->s) {
		smtp_quit(x->s, &err);
		smtp_close(x->s);
	}
	fake_run_end(&x->run, CHILD_LIMIT_S);
	return x->run.child;
}

struct run {
	enum mp_status st;
	struct mp_error err;
	struct smtp_rcpt_result res[8];
	size_t ndel;
	char *raw, *body, *reads, *trace;
	size_t rawlen, bodylen;
	int child;
};

static void run_free(struct run *r)
{
	free(r->raw);
	free(r->body);
	free(r->reads);
	free(r->trace);
}

/* One session, one message, QUIT. */
static void run_one(const struct fake *f, const struct smtp_envelope *env,
		    const struct smtp_message *msg, struct run *r)
{
	struct sess x;

	memset(r, 0, sizeof *r);
	r->st = MP_ERR_INTERNAL;
	if (sess_open(&x, f))
		r->st = smtp_send(x.s, env, msg, r->res, &r->ndel, &r->err);
	r->child = sess_close(&x);
	fake_run_logs(&x.run, &logs);
	/* The run's buffers are r's from here. */
	r->trace = x.run.trace_buf;
	r->raw = x.run.raw;
	r->rawlen = x.run.raw_len;
	r->reads = x.run.reads;
	r->body = slurp(body_path, &r->bodylen);
}

/* Number of read() calls the server made from offset `from` on. */
static size_t reads_after(const struct run *r, size_t from)
{
	const char *p = r->reads;
	size_t n = 0, off, len;

	while (p && *p && sscanf(p, "%zu %zu", &off, &len) == 2) {
		if (off + len > from)
			n++;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return n;
}

/* An independent, naive version of the wire encoding to compare with. */
static char *ref_encode(const char *in, size_t n, bool dot, size_t *outlen)
{
	char *out = malloc(2 * n + 8), *o = out;
	bool bol = true;

	for (size_t i = 0; i < n; i++) {
		if (in[i] == '\r' || in[i] == '\n') {
			if (in[i] == '\r' && i + 1 < n && in[i + 1] == '\n')
				i++;
			*o++ = '\r';
			*o++ = '\n';
			bol = true;
			continue;
		}
		if (bol && dot && in[i] == '.')
			*o++ = '.';
		bol = false;
		*o++ = in[i];
	}
	if (!bol) {
		*o++ = '\r';
		*o++ = '\n';
	}
	if (dot) {
		memcpy(o, ".\r\n", 3);
		o += 3;
	}
	*outlen = (size_t)(o - out);
	return out;
}

static const char *one_rcpt[] = { "alice@example.org" };
static const char *two_rcpts[] = { "alice@example.org", "bob@example.org" };

#define CAPS_ALL "PIPELINING\nSIZE 10240000\n8BITMIME\nENHANCEDSTATUSCODES\nDSN\nSMTPUTF8"
#define CAPS_CHUNK CAPS_ALL "\nCHUNKING"

static const char tricky[] =
	"From: a@example.org\n"
	"Subject: dots\n"
	"\n"
	".\n"
	".leading dot\n"
	"..two dots\n"
	"From the start\r\n"
	"crlf line\r\n"
	"\n"
	"last line without newline";

/* --- cases --- */

static void test_pipelined_data(void)
{
	struct smtp_envelope env = { .from = "sender@example.org",
				     .rcpts = two_rcpts, .nrcpts = 2 };
	struct smtp_message msg = { .fd = msg_fd(tricky, sizeof tricky - 1),
				    .size = sizeof tricky - 1 };
	struct fake f = { .caps = CAPS_ALL };
	struct run r;
	size_t wlen;
	char *want = ref_encode(tricky, sizeof tricky - 1, true, &wlen);
	char mail[128];

	run_one(&f, &env, &msg, &r);
	is_int(r.st, MP_OK, "pipelined DATA: sent (%s)", r.err.msg);
	is_int(r.ndel, 2, "both recipients delivered");
	is_int(r.res[0].code, 250, "first RCPT reply recorded");
	is_str(r.res[1].text, "2.1.5 Ok", "reply text recorded");
	is_int(r.child, 0, "server ran to the end");
	ok(r.bodylen == wlen && memcmp(r.body, want, wlen) == 0,
	   "body CRLF-normalised and dot-stuffed, byte for byte");
	is_str(r.body,
	       "From: a@example.org\r\nSubject: dots\r\n\r\n..\r\n..leading dot\r\n"
	       "...two dots\r\nFrom the start\r\ncrlf line\r\n\r\n"
	       "last line without newline\r\n.\r\n", "the exact wire body");
	/* SIZE counts CRLF line ends: 9 LFs became CRLF, plus the final one. */
	snprintf(mail, sizeof mail, "MAIL FROM:<sender@example.org> SIZE=%zu\r\n"
		 "RCPT TO:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\n"
		 "DATA\r\n", sizeof tricky - 1 + 9);
	ok(has(r.raw, mail), "envelope as sent");
	diag_unless(has(r.raw, mail), r.raw);
	ok(same_read(r.raw, r.reads, "MAIL FROM", "DATA\r\n"),
	   "MAIL, both RCPTs and DATA arrived in one read (pipelined)");
	ok(!has(r.raw, "RSET"), "no RSET after a clean transaction");
	ok(has(r.trace, "C: DATA\n") && has(r.trace, "S: 354 "),
	   "trace shows DATA and the go-ahead");
	ok(has(r.trace, "-- 129 bytes of message data\n"),
	   "trace notes the body size");
	diag_unless(has(r.trace, "-- 129 bytes of message data\n"), r.trace);
	ok(!has(r.trace, "leading dot"), "body not traced line by line");
	free(want);
	close(msg.fd);
	run_free(&r);
}

static void test_no_pipelining(void)
{
	struct smtp_envelope env = { .from = "sender@example.org",
				     .rcpts = two_rcpts, .nrcpts = 2 };
	struct smtp_message msg = { .fd = msg_fd(tricky, sizeof tricky - 1),
				    .size = -1 };
	struct fake f = { .caps = "8BITMIME" };
	struct run r;
	size_t wlen;
	char *want = ref_encode(tricky, sizeof tricky - 1, true, &wlen);

	run_one(&f, &env, &msg, &r);
	is_int(r.st, MP_OK, "without PIPELINING: sent (%s)", r.err.msg);
	is_int(r.ndel, 2, "both delivered");
	ok(r.bodylen == wlen && memcmp(r.body, want, wlen) == 0,
	   "same body without pipelining");
	ok(has(r.raw, "MAIL FROM:<sender@example.org>\r\n"),
	   "no SIZE= when SIZE is not offered");
	ok(!same_read(r.raw, r.reads, "MAIL FROM", "RCPT TO"),
	   "MAIL and RCPT came one at a time");
	ok(!same_read(r.raw, r.reads, "RCPT TO:<bob", "DATA\r\n"),
	   "DATA waited for the last RCPT reply");
	free(want);
	close(msg.fd);
	run_free(&r);
}

static void test_bdat_small(void)
{
	struct smtp_envelope env = { .from = "", .rcpts = one_rcpt, .nrcpts = 1 };
	struct smtp_message msg = { .fd = msg_fd(tricky, sizeof tricky - 1),
				    .size = sizeof tricky - 1 };
	struct fake f = { .caps = CAPS_CHUNK };
	struct run r;
	size_t wlen;
	char *want = ref_encode(tricky, sizeof tricky - 1, false, &wlen);
	char bdat[64];

	run_one(&f, &env, &msg, &r);
	is_int(r.st, MP_OK, "CHUNKING, one chunk: sent (%s)", r.err.msg);
	is_int(r.ndel, 1, "delivered");
	ok(r.bodylen == wlen && memcmp(r.body, want, wlen) == 0,
	   "BDAT body CRLF-normalised, not dot-stuffed");
	ok(has(r.raw, "MAIL FROM:<> SIZE="), "null sender");
	snprintf(bdat, sizeof bdat, "BDAT %zu LAST\r\n", wlen);
	ok(has(r.raw, bdat), "one '%.*s' with the exact length", (int)strlen(bdat) - 2,
	   bdat);
	ok(!has(r.raw, "DATA\r\n"), "no DATA command");
	ok(same_read(r.raw, r.reads, "MAIL FROM", "BDAT "),
	   "envelope and the whole message in one round trip");
	free(want);
	close(msg.fd);
	run_free(&r);
}

/* A message of about `size` bytes with LF line ends, lines of varied length
 * and some leading dots. */
static char *make_big(size_t size, size_t *len)
{
	char *m = malloc(size + 200);
	size_t n = 0;
	unsigned line = 0;

	n += (size_t)sprintf(m, "Subject: big\n\n");
	while (n < size) {
		unsigned w = 1 + (line * 7919u) % 150;

		if (line % 13 == 0)
			m[n++] = '.';
		for (unsigned i = 0; i < w; i++)
			m[n++] = (char)('a' + (line + i) % 26);
		if (line % 17 == 0)
			m[n++] = '\r';
		m[n++] = '\n';
		line++;
	}
	*len = n;
	return m;
}

static void test_big_data(void)
{
	struct smtp_envelope env = { .from = "s@example.org", .rcpts = one_rcpt,
				     .nrcpts = 1 };
	size_t len, wlen;
	char *m = make_big(3u << 20, &len);
	struct smtp_message msg = { .fd = msg_fd(m, len), .size = (long long)len };
	struct fake f = { .caps = CAPS_ALL };
	struct run r;
	char *want = ref_encode(m, len, true, &wlen);
	const char *data;

	run_one(&f, &env, &msg, &r);
	is_int(r.st, MP_OK, "3 MiB over DATA: sent (%s)", r.err.msg);
	ok(r.bodylen == wlen && memcmp(r.body, want, wlen) == 0,
	   "3 MiB body arrived exactly (%zu bytes, want %zu)", r.bodylen, wlen);
	data = strstr(r.raw, "DATA\r\n");
	if (data) {
		size_t nreads = reads_after(&r, (size_t)(data - r.raw) + 6);

		/* About 76000 lines: one write per line would show here. */
		ok(nreads < wlen / 4096, "body came in large writes (%zu reads)",
		   nreads);
	} else {
		ok(0, "DATA seen");
	}
	free(want);
	free(m);
	close(msg.fd);
	run_free(&r);
}

static void test_big_bdat(void)
{
	struct smtp_envelope env = { .from = "s@example.org", .rcpts = two_rcpts,
				     .nrcpts = 2 };
	size_t len, wlen, total = 0;
	char *m = make_big(3u << 20, &len);
	struct smtp_message msg = { .fd = msg_fd(m, len), .size = (long long)len };
	struct fake f = { .caps = CAPS_CHUNK };
	struct run r;
	char *want = ref_encode(m, len, false, &wlen);
	const char *p;
	int chunks = 0, lasts = 0;
	bool last_is_last = false;

	run_one(&f, &env, &msg, &r);
	is_int(r.st, MP_OK, "3 MiB over BDAT: sent (%s)", r.err.msg);
	is_int(r.ndel, 2, "delivered to both");
	ok(r.bodylen == wlen && memcmp(r.body, want, wlen) == 0,
	   "3 MiB BDAT body arrived exactly");
	/* Walk the raw log: BDAT commands and their payloads. */
	p = strstr(r.raw, "BDAT ");
	while (p && p < r.raw + r.rawlen) {
		char *end;
		unsigned long n;

		if (strncmp(p, "BDAT ", 5) != 0)
			break;
		n = strtoul(p + 5, &end, 10);
		chunks++;
		total += n;
		last_is_last = strncmp(end, " LAST\r\n", 7) == 0;
		lasts += last_is_last;
		ok(n <= 1u << 20, "chunk %d of %lu bytes is at most 1 MiB", chunks, n);
		p = strchr(end, '\n') + 1 + n;
	}
	ok(chunks >= 4, "several chunks (%d)", chunks);
	ok(lasts == 1 && last_is_last, "only the final chunk says LAST");
	is_int(total, wlen, "chunk lengths add up to the body");
	free(want);
	free(m);
	close(msg.fd);
	run_free(&r);
}

static void test_bdat_chunk_refused(void)
{
	struct smtp_envelope env = { .from = "s@example.org", .rcpts = one_rcpt,
				     .nrcpts = 1 };
	size_t len;
	char *m = make_big(3u << 20, &len);
	struct smtp_message m1 = { .fd = msg_fd(m, len), .size = (long long)len },
			    m2 = { .fd = msg_fd("next\n", 5), .size = -1 };
	struct fake f = { .caps = CAPS_CHUNK, .fail_chunk = 2 };
	struct smtp_rcpt_result res[1];
	struct mp_error err = { 0 };
	struct sess x;
	size_t nd = 9;
	char *raw;

	if (sess_open(&x, &f)) {
		is_int(smtp_send(x.s, &env, &m1, res, &nd, &err), MP_ERR_TEMP,
		       "a refused chunk is a temporary failure");
		ok(has(err.msg, "452 4.3.1 Insufficient system storage"),
		   "message: %s", err.msg);
		is_int(nd, 0, "nobody got it");
		is_int(smtp_send(x.s, &env, &m2, res, &nd, &err), MP_OK,
		       "next message on the same session (%s)", err.msg);
		is_str(res[0].text, "2.1.5 Ok", "replies still in step");
	}
	is_int(sess_close(&x), 0, "server in step to QUIT");
	raw = slurp(logs.raw, NULL);
	{
		const char *last = strstr(raw, " LAST\r\n"),
			   *good = strstr(raw, "BDAT 6 LAST\r\n");

		ok(last && good && last == good + 6,
		   "LAST never sent after a refused chunk");
	}
	free(raw);
	fake_run_free(&x.run);
	close(m1.fd);
	close(m2.fd);
	free(m);
}

static void test_size_refused(void)
{
	struct smtp_envelope env = { .from = "s@example.org", .rcpts = one_rcpt,
				     .nrcpts = 1 };
	struct smtp_message msg = { .fd = msg_fd(tricky, sizeof tricky - 1),
				    .size = 5000 };
	struct fake f = { .caps = "PIPELINING\nSIZE 1000" };
	struct run r;

	run_one(&f, &env, &msg, &r);
	is_int(r.st, MP_ERR_UNAVAILABLE, "over the SIZE limit: refused");
	is_str(r.err.msg, "message of 5000 bytes exceeds the server's limit of "
	       "1000 bytes", "its message");
	ok(!has(r.raw, "MAIL") && !has(r.raw, "RCPT"), "nothing was sent");
	close(msg.fd);
	run_free(&r);

	/* The declared size is low, but the message itself is over. */
	msg.fd = msg_fd(tricky, sizeof tricky - 1);
	msg.size = 10;
	f.caps = "SIZE 100";
	run_one(&f, &env, &msg, &r);
	is_int(r.st, MP_ERR_UNAVAILABLE, "measured size over the limit: refused");
	is_str(r.err.msg, "message of 123 bytes exceeds the server's limit of "
	       "100 bytes", "measured size in the message");
	ok(!has(r.raw, "MAIL"), "nothing was sent");
	close(msg.fd);
	run_free(&r);

	/* "SIZE" with no number (or 0) sets no limit. */
	msg.fd = msg_fd(tricky, sizeof tricky - 1);
	f.caps = "SIZE";
	run_one(&f, &env, &msg, &r);
	is_int(r.st, MP_OK, "SIZE without a limit: sent (%s)", r.err.msg);
	ok(has(r.raw, "MAIL FROM:<s@example.org> SIZE=123\r\n"),
	   "exact SIZE declared");
	close(msg.fd);
	run_free(&r);
}

static void test_partial_rejection(void)
{
	static const char *rcpts[] = { "bad@example.org", "alice@example.org",
				       "temp@example.org", "multi@example.org" };
	struct smtp_envelope env = { .from = "s@example.org", .rcpts = rcpts,
				     .nrcpts = 4 };
	struct smtp_message msg = { .fd = msg_fd(tricky, sizeof tricky - 1),
				    .size = -1 };
	struct fake f = { .caps = CAPS_ALL };
	struct run r;

	run_one(&f, &env, &msg, &r);
	is_int(r.st, MP_OK, "some recipients refused: still sent (%s)", r.err.msg);
	is_int(r.ndel, 1, "one delivered");
	is_int(r.res[0].code, 550, "bad: 550");
	is_str(r.res[0].text, "5.1.1 <bad@example.org>: Recipient address "
	       "rejected: User unknown", "bad: reply text");
	is_int(r.res[1].code, 250, "alice: 250");
	is_int(r.res[2].code, 450, "temp: 450");
	is_int(r.res[3].code, 550, "multi: 550");
	is_str(r.res[3].text, "5.1.1 <multi@example.org> does not exist. "
	       "5.1.1 Please check the?[31m address.",
	       "multi-line reply joined, control bytes masked");
	ok(r.bodylen > 0, "body sent");
	close(msg.fd);
	run_free(&r);
}

static void all_refused(const char *const *rcpts, size_t n, enum mp_status want,
			const char *want_msg, const char *what)
{
	struct smtp_envelope env = { .from = "s@example.org",
				     .rcpts = (const char *const *)rcpts,
				     .nrcpts = n };
	struct smtp_message msg = { .fd = msg_fd(tricky, sizeof tricky - 1),
				    .size = -1 };
	struct fake f = { .caps = CAPS_ALL };
	struct run r;

	run_one(&f, &env, &msg, &r);
	is_int(r.st, want, "%s: status", what);
	is_str(r.err.msg, want_msg, "%s: message", what);
	is_int(r.ndel, 0, "%s: nobody got it", what);
	is_int(r.bodylen, 0, "%s: no body sent", what);
	ok(has(r.raw, "DATA\r\nQUIT\r\n"), "%s: pipelined DATA refused, then QUIT",
	   what);
	close(msg.fd);
	run_free(&r);
}

static void test_all_refused(void)
{
	static const char *nouser[] = { "bad1@example.org", "bad2@example.org" };
	static const char *mixed[] = { "bad@example.org", "temp@example.org" };
	static const char *deny[] = { "bad@example.org", "deny@example.org" };
	static const char *one[] = { "deny@example.org" };

	all_refused(nouser, 2, MP_ERR_NOUSER,
		    "server refused all 2 recipients; <bad1@example.org>: 550 "
		    "5.1.1 <bad1@example.org>: Recipient address rejected: User "
		    "unknown", "all unknown users");
	all_refused(mixed, 2, MP_ERR_TEMP,
		    "server refused all 2 recipients; <bad@example.org>: 550 5.1.1 "
		    "<bad@example.org>: Recipient address rejected: User unknown",
		    "one temporary refusal");
	all_refused(deny, 2, MP_ERR_UNAVAILABLE,
		    "server refused all 2 recipients; <bad@example.org>: 550 5.1.1 "
		    "<bad@example.org>: Recipient address rejected: User unknown",
		    "a policy refusal among them");
	all_refused(one, 1, MP_ERR_UNAVAILABLE,
		    "server refused recipient <deny@example.org>: 554 5.7.1 "
		    "<deny@example.org>: Relay access denied", "relay denied");
}

static void test_354_anyway(void)
{
	static const char *bad[] = { "bad@example.org" };
	struct smtp_envelope env = { .from = "s@example.org", .rcpts = bad,
				     .nrcpts = 1 };
	struct smtp_message msg = { .fd = msg_fd(tricky, sizeof tricky - 1),
				    .size = -1 };
	struct fake f = { .caps = CAPS_ALL, .data_354_anyway = true };
	struct run r;

	run_one(&f, &env, &msg, &r);
	is_int(r.st, MP_ERR_NOUSER, "no recipient, DATA accepted anyway: error");
	is_str(r.body, ".\r\n", "only a lone dot was sent as the body");
	ok(has(r.raw, "DATA\r\n.\r\nQUIT\r\n"), "then QUIT, in step");
	close(msg.fd);
	run_free(&r);
}

static void test_mail_refused(void)
{
	struct smtp_envelope env = { .from = "s@example.org", .rcpts = one_rcpt,
				     .nrcpts = 1 };
	struct smtp_message msg = { .fd = msg_fd(tricky, sizeof tricky - 1),
				    .size = -1 };
	struct fake f = { .caps = CAPS_ALL,
			  .mail_reply = "451 4.3.0 Try again later\r\n" };
	struct run r;

	run_one(&f, &env, &msg, &r);
	is_int(r.st, MP_ERR_TEMP, "MAIL 451: temporary");
	is_str(r.err.msg, "server refused sender <s@example.org>: 451 4.3.0 Try "
	       "again later", "its message");
	is_int(r.bodylen, 0, "no body");
	close(msg.fd);
	run_free(&r);

	msg.fd = msg_fd(tricky, sizeof tricky - 1);
	f.mail_reply = "553 5.7.1 Sender address rejected: not owned by user\r\n";
	f.caps = "8BITMIME";
	run_one(&f, &env, &msg, &r);
	is_int(r.st, MP_ERR_UNAVAILABLE, "MAIL 553 without pipelining: permanent");
	ok(!has(r.raw, "RCPT"), "no RCPT after a refused MAIL");
	close(msg.fd);
	run_free(&r);
}

static void test_final_reply(void)
{
	struct smtp_envelope env = { .from = "s@example.org", .rcpts = one_rcpt,
				     .nrcpts = 1 };
	struct smtp_message msg = { .fd = msg_fd(tricky, sizeof tricky - 1),
				    .size = -1 };
	struct fake f = { .caps = CAPS_ALL,
			  .final_reply = "452 4.3.1 Insufficient system storage\r\n" };
	struct run r;

	run_one(&f, &env, &msg, &r);
	is_int(r.st, MP_ERR_TEMP, "final 452: temporary");
	is_str(r.err.msg, "server refused the message: 452 4.3.1 Insufficient "
	       "system storage", "its message");
	is_int(r.ndel, 0, "nobody got it");
	close(msg.fd);
	run_free(&r);

	msg.fd = msg_fd(tricky, sizeof tricky - 1);
	f.final_reply = "554 5.7.1 Spam message rejected\r\n";
	run_one(&f, &env, &msg, &r);
	is_int(r.st, MP_ERR_UNAVAILABLE, "final 554: permanent");
	close(msg.fd);
	run_free(&r);

	msg.fd = msg_fd(tricky, sizeof tricky - 1);
	f.final_reply = NULL;
	f.data_reply = "451 4.3.0 Not now\r\n";
	run_one(&f, &env, &msg, &r);
	is_int(r.st, MP_ERR_TEMP, "DATA refused with 451: temporary");
	is_str(r.err.msg, "server refused DATA: 451 4.3.0 Not now", "its message");
	is_int(r.bodylen, 0, "no body after a refused DATA");
	close(msg.fd);
	run_free(&r);
}

static void test_8bit(void)
{
	static const char body8[] = "Subject: caf\xc3\xa9\n\nna\xc3\xafve\n";
	struct smtp_envelope env = { .from = "s@example.org", .rcpts = one_rcpt,
				     .nrcpts = 1 };
	struct smtp_message msg = { .fd = msg_fd(body8, sizeof body8 - 1),
				    .size = -1 };
	struct fake f = { .caps = "PIPELINING\nSIZE" };
	struct run r;

	run_one(&f, &env, &msg, &r);
	is_int(r.st, MP_ERR_DATA, "8-bit body without 8BITMIME: data error");
	ok(has(r.err.msg, "does not offer 8BITMIME"), "message: %s", r.err.msg);
	ok(!has(r.raw, "MAIL"), "nothing sent");
	close(msg.fd);
	run_free(&r);

	msg.fd = msg_fd(body8, sizeof body8 - 1);
	f.caps = "PIPELINING\n8BITMIME";
	run_one(&f, &env, &msg, &r);
	is_int(r.st, MP_OK, "8-bit body with 8BITMIME: sent (%s)", r.err.msg);
	ok(has(r.raw, "MAIL FROM:<s@example.org> BODY=8BITMIME\r\n"),
	   "BODY=8BITMIME found by looking, not told");
	close(msg.fd);
	run_free(&r);

	msg.fd = msg_fd(tricky, sizeof tricky - 1);
	msg.has_8bit = true;
	run_one(&f, &env, &msg, &r);
	ok(has(r.raw, "MAIL FROM:<s@example.org> BODY=8BITMIME\r\n"),
	   "BODY=8BITMIME when the caller says so");
	close(msg.fd);
	run_free(&r);
}

static void test_nul(void)
{
	static const char withnul[] = "Subject: x\n\nab\0cd\n";
	struct smtp_envelope env = { .from = "s@example.org", .rcpts = one_rcpt,
				     .nrcpts = 1 };
	struct smtp_message msg = { .fd = msg_fd(withnul, sizeof withnul - 1),
				    .size = -1 };
	struct fake f = { .caps = CAPS_ALL };
	struct run r;

	run_one(&f, &env, &msg, &r);
	is_int(r.st, MP_ERR_DATA, "NUL byte: data error");
	is_str(r.err.msg, "the message contains a NUL byte, which SMTP cannot carry",
	       "its message");
	ok(!has(r.raw, "MAIL"), "nothing sent");
	close(msg.fd);
	run_free(&r);
}

/* A NUL past the first MiB: DATA is under way and cannot be taken back. */
static void test_nul_late(void)
{
	struct smtp_envelope env = { .from = "s@example.org", .rcpts = one_rcpt,
				     .nrcpts = 1 };
	size_t len;
	char *m = make_big(3u << 20, &len);
	struct smtp_message msg;
	struct fake f = { .caps = CAPS_ALL };
	struct mp_error err = { 0 };
	struct smtp_rcpt_result res[1];
	struct sess x;
	size_t nd = 9;

	m[2u << 20] = '\0';
	msg = (struct smtp_message){ .fd = msg_fd(m, len), .size = -1 };
	if (sess_open(&x, &f)) {
		is_int(smtp_send(x.s, &env, &msg, res, &nd, &err), MP_ERR_DATA,
		       "late NUL: data error");
		is_int(nd, 0, "nobody got it");
		is_int(smtp_send(x.s, &env, &msg, res, &nd, &err), MP_ERR_INTERNAL,
		       "the session refuses further messages");
		ok(has(err.msg, "open a new one"), "message: %s", err.msg);
		is_int(smtp_reset(x.s, &err), MP_ERR_INTERNAL, "and RSET");
	}
	sess_close(&x);
	fake_run_free(&x.run);
	{
		size_t blen;
		char *body = slurp(body_path, &blen);

		ok(blen > 0 && !has(body, "\r\n.\r\n"),
		   "the server never saw the end of the message");
		free(body);
	}
	close(msg.fd);
	free(m);
}

static void test_smtputf8_dsn(void)
{
	static const char *u[] = { "j\xc3\xb6rg@example.org" };
	struct smtp_envelope env = { .from = "s@example.org", .rcpts = u,
				     .nrcpts = 1 };
	struct smtp_message msg = { .fd = msg_fd(tricky, sizeof tricky - 1),
				    .size = -1 };
	struct fake f = { .caps = "PIPELINING\n8BITMIME" };
	struct run r;

	run_one(&f, &env, &msg, &r);
	is_int(r.st, MP_ERR_UNAVAILABLE, "UTF-8 address without SMTPUTF8: refused");
	ok(has(r.err.msg, "SMTPUTF8"), "message: %s", r.err.msg);
	ok(!has(r.raw, "MAIL"), "nothing sent");
	close(msg.fd);
	run_free(&r);

	msg.fd = msg_fd(tricky, sizeof tricky - 1);
	f.caps = CAPS_ALL;
	run_one(&f, &env, &msg, &r);
	is_int(r.st, MP_OK, "UTF-8 address with SMTPUTF8: sent");
	ok(has(r.raw, "MAIL FROM:<s@example.org> SIZE=123 SMTPUTF8\r\n"),
	   "SMTPUTF8 on MAIL");
	close(msg.fd);
	run_free(&r);

	env.rcpts = one_rcpt;
	msg.fd = msg_fd(tricky, sizeof tricky - 1);
	run_one(&f, &env, &msg, &r);
	ok(!has(r.raw, "SMTPUTF8\r\n"), "no SMTPUTF8 for ASCII addresses");
	close(msg.fd);
	run_free(&r);

	msg.fd = msg_fd(tricky, sizeof tricky - 1);
	msg.needs_smtputf8 = true;
	run_one(&f, &env, &msg, &r);
	ok(has(r.raw, " SMTPUTF8\r\n"), "SMTPUTF8 when the caller says so");
	close(msg.fd);
	run_free(&r);
	msg.needs_smtputf8 = false;

	env.rcpts = two_rcpts;
	env.nrcpts = 2;
	env.dsn_notify = "SUCCESS,FAILURE";
	env.dsn_ret = "HDRS";
	env.envid = "id+1=x y";
	msg.fd = msg_fd(tricky, sizeof tricky - 1);
	run_one(&f, &env, &msg, &r);
	is_int(r.st, MP_OK, "DSN: sent (%s)", r.err.msg);
	ok(has(r.raw, "MAIL FROM:<s@example.org> SIZE=123 RET=HDRS "
	       "ENVID=id+2B1+3Dx+20y\r\n"), "RET and xtext ENVID on MAIL");
	ok(has(r.raw, "RCPT TO:<alice@example.org> NOTIFY=SUCCESS,FAILURE\r\n"
	       "RCPT TO:<bob@example.org> NOTIFY=SUCCESS,FAILURE\r\n"),
	   "NOTIFY on each RCPT");
	close(msg.fd);
	run_free(&r);

	msg.fd = msg_fd(tricky, sizeof tricky - 1);
	f.caps = "PIPELINING\n8BITMIME";
	env.dsn_ret = NULL;
	env.envid = NULL;
	env.dsn_notify = "NEVER";
	run_one(&f, &env, &msg, &r);
	is_int(r.st, MP_ERR_UNAVAILABLE, "DSN asked of a server without it: refused");
	ok(has(r.err.msg, "does not offer DSN"), "message: %s", r.err.msg);
	ok(!has(r.raw, "MAIL"), "nothing sent");
	close(msg.fd);
	run_free(&r);
}

static void test_usage(void)
{
	static const struct {
		const char *from, *rcpt, *notify, *ret, *envid, *what;
	} cases[] = {
		{ "a@b\r\nRSET", "x@y", NULL, NULL, NULL, "CRLF in the sender" },
		{ "a@b", "x@y\nDATA", NULL, NULL, NULL, "LF in a recipient" },
		{ "a@b", "x y@z", NULL, NULL, NULL, "blank in a recipient" },
		{ "a@b>", "x@y", NULL, NULL, NULL, "'>' in the sender" },
		{ "a@b", "<x@y", NULL, NULL, NULL, "'<' in a recipient" },
		{ "a@b", "", NULL, NULL, NULL, "empty recipient" },
		{ "a@b", "x@y", "SUCCESS\r\nRSET", NULL, NULL, "CRLF in NOTIFY" },
		{ "a@b", "x@y", "SUCCESS,NEVER", NULL, NULL, "NEVER with others" },
		{ "a@b", "x@y", "SUCCESS,SUCCESS", NULL, NULL, "repeated NOTIFY" },
		{ "a@b", "x@y", NULL, "ALL", NULL, "bad RET" },
		{ "a@b", "x@y", NULL, NULL, "a\rb", "CR in ENVID" },
	};
	struct fake f = { .caps = CAPS_ALL };
	struct sess x;
	bool all = true;

	if (sess_open(&x, &f)) {
		for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
			const char *rc[] = { cases[i].rcpt };
			struct smtp_envelope env = {
				.from = cases[i].from, .rcpts = rc, .nrcpts = 1,
				.dsn_notify = cases[i].notify,
				.dsn_ret = cases[i].ret, .envid = cases[i].envid };
			struct smtp_message msg = { .fd = 0, .size = -1 };
			struct smtp_rcpt_result res[1];
			struct mp_error err = { 0 };
			size_t nd;

			is_int(smtp_send(x.s, &env, &msg, res, &nd, &err),
			       MP_ERR_USAGE, "%s: usage error (%s)", cases[i].what,
			       err.msg);
		}
		{
			struct smtp_envelope env = { .from = "a@b", .rcpts = one_rcpt,
						     .nrcpts = 0 };
			struct smtp_message msg = { .fd = 0, .size = -1 };
			struct mp_error err = { 0 };
			size_t nd;

			is_int(smtp_send(x.s, &env, &msg, NULL, &nd, &err),
			       MP_ERR_USAGE, "no recipients: usage error");
		}
	} else {
		all = false;
	}
	sess_close(&x);
	{
		char *raw = slurp(logs.raw, NULL);

		ok(all && !has(raw, "MAIL") && !has(raw, "RSET") &&
		   has(raw, "QUIT"), "nothing but EHLO and QUIT reached the server");
		free(raw);
	}
	fake_run_free(&x.run);
}

static void test_lmtp(bool chunking)
{
	static const char *rcpts[] = { "alice@example.org", "lfull@example.org",
				       "bad@example.org", "bob@example.org" };
	struct smtp_envelope env = { .from = "s@example.org", .rcpts = rcpts,
				     .nrcpts = 4 };
	struct smtp_message msg = { .fd = msg_fd(tricky, sizeof tricky - 1),
				    .size = -1 };
	struct fake f = { .caps = chunking ? CAPS_CHUNK : CAPS_ALL, .lmtp = true };
	const char *how = chunking ? "LMTP BDAT" : "LMTP DATA";
	struct run r;

	run_one(&f, &env, &msg, &r);
	ok(has(r.raw, "LHLO client.test\r\n"), "%s: LHLO", how);
	is_int(r.st, MP_OK, "%s: sent (%s)", how, r.err.msg);
	is_int(r.ndel, 2, "%s: two of four delivered", how);
	is_int(r.res[0].code, 250, "%s: alice delivered", how);
	is_str(r.res[0].text, "2.0.0 <alice@example.org> Saved",
	       "%s: per-recipient reply after the message", how);
	is_int(r.res[1].code, 452, "%s: lfull refused after the message", how);
	is_int(r.res[2].code, 550, "%s: bad refused at RCPT", how);
	is_int(r.res[3].code, 250, "%s: bob delivered", how);
	is_int(r.child, 0, "%s: server in step to QUIT", how);
	ok(has(r.raw, "QUIT\r\n"), "%s: QUIT reached the server", how);
	close(msg.fd);
	run_free(&r);

	{
		static const char *full[] = { "lfull@example.org", "lgone@example.org" };

		env.rcpts = full;
		env.nrcpts = 2;
	}
	msg.fd = msg_fd(tricky, sizeof tricky - 1);
	run_one(&f, &env, &msg, &r);
	is_int(r.st, MP_ERR_TEMP, "%s: nobody delivered, one 4xx: temporary", how);
	is_str(r.err.msg, "server refused the message for all 2 recipients; "
	       "<lfull@example.org>: 452 4.2.2 <lfull@example.org> Mailbox is full",
	       "%s: its message", how);
	is_int(r.ndel, 0, "%s: none delivered", how);
	close(msg.fd);
	run_free(&r);
}

static void test_lmtp_hangup(void)
{
	static const char *rcpts[] = { "alice@example.org", "lfull@example.org",
				       "bob@example.org" };
	struct smtp_envelope env = { .from = "s@example.org", .rcpts = rcpts,
				     .nrcpts = 3 };
	struct smtp_message msg = { .fd = msg_fd(tricky, sizeof tricky - 1),
				    .size = -1 };
	struct fake f = { .caps = CAPS_ALL, .lmtp = true, .lmtp_hangup = 2 };
	struct run r;

	run_one(&f, &env, &msg, &r);
	is_int(r.st, MP_OK, "LMTP hang-up after a delivery: still MP_OK (%s)",
	       r.err.msg);
	is_int(r.ndel, 1, "one delivered before the hang-up");
	is_int(r.res[0].code, 250, "alice delivered");
	is_int(r.res[1].code, 452, "lfull answered 452");
	is_int(r.res[2].code, 451, "bob never answered: counted as 451");
	ok(has(r.res[2].text, "4.4.2 no reply from the server"), "text: %s",
	   r.res[2].text);
	close(msg.fd);
	run_free(&r);

	f.lmtp_hangup = 1;
	rcpts[0] = "lgone@example.org";
	msg.fd = msg_fd(tricky, sizeof tricky - 1);
	run_one(&f, &env, &msg, &r);
	is_int(r.st, MP_ERR_TEMP, "LMTP hang-up before any delivery: temporary");
	is_str(r.err.msg, "connection closed by server", "its message");
	is_int(r.ndel, 0, "none delivered");
	rcpts[0] = "alice@example.org";
	close(msg.fd);
	run_free(&r);
}

/* A NUL past the first MiB with CHUNKING: the chunks sent so far are
 * dropped with RSET and the session goes on. */
static void test_nul_late_bdat(void)
{
	struct smtp_envelope env = { .from = "s@example.org", .rcpts = one_rcpt,
				     .nrcpts = 1 };
	size_t len;
	char *m = make_big(3u << 20, &len);
	struct fake f = { .caps = CAPS_CHUNK };
	struct mp_error err = { 0 };
	struct smtp_rcpt_result res[1];
	struct sess x;
	size_t nd = 9;
	int fd1, fd2 = msg_fd("after\n", 6);
	char *raw;

	m[2u << 20] = '\0';
	fd1 = msg_fd(m, len);
	if (sess_open(&x, &f)) {
		struct smtp_message m1 = { .fd = fd1, .size = -1 },
				    m2 = { .fd = fd2, .size = -1 };

		is_int(smtp_send(x.s, &env, &m1, res, &nd, &err), MP_ERR_DATA,
		       "late NUL with BDAT: data error");
		is_int(nd, 0, "nobody got it");
		is_int(smtp_send(x.s, &env, &m2, res, &nd, &err), MP_OK,
		       "the session goes on (%s)", err.msg);
		is_str(res[0].text, "2.1.5 Ok",
		       "replies still matched to their commands");
	}
	is_int(sess_close(&x), 0, "server in step");
	fake_run_free(&x.run);
	raw = slurp(logs.raw, NULL);
	ok(has(raw, "RSET\r\nMAIL FROM:<s@example.org> SIZE=7\r\n"
	       "RCPT TO:<alice@example.org>\r\nBDAT 7 LAST\r\nafter\r\nQUIT"),
	   "RSET dropped the chunks, then the next message in one go");
	{
		const char *last = strstr(raw, " LAST\r\n"),
			   *good = strstr(raw, "BDAT 7 LAST\r\n");

		ok(last && good && last == good + 6,
		   "no LAST for the broken message");
	}
	free(raw);
	close(fd1);
	close(fd2);
	free(m);
}

/* Several messages over one session: after a refused one an RSET goes out
 * (pipelined with the next MAIL); explicit smtp_reset works too. */
static void test_batch(void)
{
	static const char *bad[] = { "bad@example.org" };
	struct smtp_envelope good = { .from = "s@example.org", .rcpts = one_rcpt,
				      .nrcpts = 1 };
	struct smtp_envelope refused = { .from = "s@example.org", .rcpts = bad,
					 .nrcpts = 1 };
	struct fake f = { .caps = CAPS_ALL };
	struct smtp_rcpt_result res[1];
	struct mp_error err = { 0 };
	struct sess x;
	size_t nd;
	int fd1 = msg_fd(tricky, sizeof tricky - 1), fd2 = msg_fd("a\n", 2),
	    fd3 = msg_fd("b\n", 2), fd4 = msg_fd("c\n", 2);
	char *raw, *body;

	if (sess_open(&x, &f)) {
		struct smtp_message m1 = { .fd = fd1, .size = -1 },
				    m2 = { .fd = fd2, .size = -1 },
				    m3 = { .fd = fd3, .size = -1 },
				    m4 = { .fd = fd4, .size = -1 };

		is_int(smtp_send(x.s, &good, &m1, res, &nd, &err), MP_OK,
		       "batch 1 sent");
		is_int(smtp_send(x.s, &refused, &m2, res, &nd, &err), MP_ERR_NOUSER,
		       "batch 2 refused");
		is_int(smtp_send(x.s, &good, &m3, res, &nd, &err), MP_OK,
		       "batch 3 sent after a refusal (%s)", err.msg);
		is_str(res[0].text, "2.1.5 Ok", "replies in step after the RSET");
		is_int(smtp_reset(x.s, &err), MP_OK, "explicit RSET");
		is_int(smtp_send(x.s, &good, &m4, res, &nd, &err), MP_OK,
		       "batch 4 sent");
	}
	is_int(sess_close(&x), 0, "server in step to the end");
	raw = slurp(logs.raw, NULL);
	body = slurp(body_path, NULL);
	ok(has(raw, "DATA\r\nRSET\r\nMAIL FROM:<s@example.org> SIZE=3\r\n"
	       "RCPT TO:<alice@example.org>\r\nDATA\r\nb\r\n.\r\n"
	       "RSET\r\nMAIL FROM:<s@example.org> SIZE=3\r\n"),
	   "RSET pipelined before the MAIL after a refusal, explicit RSET");
	diag_unless(has(raw, "DATA\r\nRSET\r\nMAIL"), raw);
	ok(!has(raw, ".\r\nRSET\r\nMAIL FROM:<s@example.org> SIZE=3\r\nRCPT "
	       "TO:<bad"), "no RSET after a delivered message");
	ok(has(body, "a\r\n") == false && has(body, "b\r\n.\r\nc\r\n.\r\n"),
	   "bodies of the sent messages only");
	free(raw);
	free(body);
	fake_run_free(&x.run);
	close(fd1);
	close(fd2);
	close(fd3);
	close(fd4);
}

/* 250 recipients with PIPELINING: more than the window in flight. */
static void test_many_rcpts(void)
{
	enum { N = 250 };
	static char addrs[N][40];
	static const char *rc[N];
	struct smtp_envelope env = { .from = "s@example.org", .rcpts = rc,
				     .nrcpts = N };
	struct smtp_message msg;
	struct smtp_rcpt_result *res = calloc(N, sizeof *res);
	struct fake f = { .caps = CAPS_ALL };
	struct mp_error err = { 0 };
	struct sess x;
	size_t nd = 0;
	bool right = true;

	for (int i = 0; i < N; i++) {
		snprintf(addrs[i], sizeof addrs[i], "%s%d@example.org",
			 i % 7 == 3 ? "bad" : "user", i);
		rc[i] = addrs[i];
	}
	msg = (struct smtp_message){ .fd = msg_fd(tricky, sizeof tricky - 1),
				     .size = -1 };
	if (sess_open(&x, &f)) {
		is_int(smtp_send(x.s, &env, &msg, res, &nd, &err), MP_OK,
		       "250 recipients: sent (%s)", err.msg);
		for (int i = 0; i < N; i++)
			if (res[i].code != (i % 7 == 3 ? 550 : 250) ||
			    (i % 7 == 3 && !has(res[i].text, addrs[i])))
				right = false;
		ok(right, "each reply matched to its recipient");
		is_int(nd, N - 36, "delivered count");
	}
	is_int(sess_close(&x), 0, "server in step");
	fake_run_free(&x.run);
	free(res);
	close(msg.fd);
}

/* A 40 MiB message goes out with memory that does not grow with it. */
static void test_memory(void)
{
	struct smtp_envelope env = { .from = "s@example.org", .rcpts = one_rcpt,
				     .nrcpts = 1 };
	char path[] = "/tmp/mp-smtp-big-XXXXXX";
	int fd = mkstemp(path);
	static char block[65536];
	struct fake f = { .caps = "PIPELINING\nSIZE 0\n8BITMIME",
			  .hash_body = true };
	struct smtp_rcpt_result res[1];
	struct mp_error err = { 0 };
	long before, after;
	struct sess x;
	size_t nd;
	uint64_t h = 0xcbf29ce484222325ULL;
	unsigned long long n = 0;
	char want[64], *got;

	if (fd < 0) {
		ok(0, "mkstemp");
		return;
	}
	unlink(path);
	/* Lines of 64 bytes, some leading dots; LF ends; the wire form has a
	 * CR before each LF and doubled dots. */
	for (size_t i = 0; i < sizeof block; i += 64) {
		memset(block + i, 'x', 63);
		block[i] = (i / 64) % 5 == 0 ? '.' : 'y';
		block[i + 63] = '\n';
	}
	for (int k = 0; k < 640; k++)
		write_all(fd, block, sizeof block);
	lseek(fd, 0, SEEK_SET);
	for (int k = 0; k < 640; k++)
		for (size_t i = 0; i < sizeof block; i++) {
			if (block[i] == '\n') {
				h = (h ^ '\r') * 0x100000001b3ULL;
				n++;
			}
			if (block[i] == '.' && (i == 0 || block[i - 1] == '\n')) {
				h = (h ^ '.') * 0x100000001b3ULL;
				n++;
			}
			h = (h ^ (unsigned char)block[i]) * 0x100000001b3ULL;
			n++;
		}
	for (const char *t = ".\r\n"; *t; t++, n++)
		h = (h ^ (unsigned char)*t) * 0x100000001b3ULL;
	before = tap_peak_rss_kib();
	if (sess_open(&x, &f)) {
		struct smtp_message msg = { .fd = fd, .size = 40LL << 20 };

		is_int(smtp_send(x.s, &env, &msg, res, &nd, &err), MP_OK,
		       "40 MiB message sent (%s)", err.msg);
	}
	sess_close(&x);
	fake_run_free(&x.run);
	got = slurp(body_path, NULL);
	snprintf(want, sizeof want, "%llu %016llx", n, (unsigned long long)h);
	is_str(got, want, "40 MiB body arrived intact");
	free(got);
	close(fd);
	/* VmHWM, not ru_maxrss: that may carry the peak of whatever
	 * process exec'd this one. */
	after = tap_peak_rss_kib();
	if (before < 0 || after < 0) {
		tap_skip("no VmHWM in /proc/self/status");
		tap_skip("no VmHWM in /proc/self/status");
		return;
	}
	ok(after - before < 8 * 1024, "sending grew the peak RSS by %ld KiB only",
	   after - before);
#ifdef __SANITIZE_ADDRESS__
	tap_skip("absolute RSS is meaningless under AddressSanitizer");
#else
	ok(after < 16 * 1024, "peak RSS %ld KiB stays under 16 MiB", after);
#endif
}

int main(void)
{
	if (!fake_logs_make(&logs, "/tmp/mp-smtp-send-XXXXXX")) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(body_path, sizeof body_path, "%s/body", logs.dir);
	signal(SIGPIPE, SIG_IGN);

	/* First, so the peak is measured before other cases allocate. */
	test_memory();
	test_pipelined_data();
	test_no_pipelining();
	test_bdat_small();
	test_big_data();
	test_big_bdat();
	test_bdat_chunk_refused();
	test_size_refused();
	test_partial_rejection();
	test_all_refused();
	test_354_anyway();
	test_mail_refused();
	test_final_reply();
	test_8bit();
	test_nul();
	test_nul_late();
	test_smtputf8_dsn();
	test_usage();
	test_lmtp(false);
	test_lmtp(true);
	test_lmtp_hangup();
	test_nul_late_bdat();
	test_batch();
	test_many_rcpts();

	unlink(body_path);
	fake_logs_remove(&logs);
	return tap_done();
}
