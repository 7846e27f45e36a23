/* struct conn against scripted servers: each case forks a child that
 * accepts one connection on a loopback (or unix) listener and plays its
 * part. TLS cases use a throwaway PKI made with certtool at run time and a
 * small GnuTLS server in the child; they are skipped without certtool. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "conn.h"
#include "error.h"
#include "fakesrv.h"
#include "tap.h"

typedef int (*serve_fn)(int fd, const void *arg);

/* A stuck server child is killed after this long. */
#define CHILD_LIMIT_S 20

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- child side --- */

/* Read until the client hangs up. */
static void wait_eof(int fd)
{
	char buf[4096];

	while (read(fd, buf, sizeof buf) > 0)
		;
}

/* Read one line (through LF) a byte at a time, so nothing past it is
 * consumed. Returns its length or -1. */
static ssize_t read_line_raw(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	while (n + 1 < cap) {
		ssize_t r = read(fd, buf + n, 1);

		if (r <= 0)
			return -1;
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
	return (ssize_t)n;
}

/* --- parent side --- */

static struct conn *connect_to(unsigned port, const struct conn_opts *o)
{
	struct conn *c = NULL;
	struct mp_error err = { 0 };

	/* Only a failure is counted, so every case keeps its own plan. */
	if (conn_connect_tcp(&c, "127.0.0.1", port, o, &err) != MP_OK) {
		ok(0, "connect to the test server: %s", err.msg);
		return NULL;
	}
	return c;
}

/* --- plain line reading --- */

static int srv_lines(int fd, const void *arg)
{
	static const char data[] = "220 hello\r\nsecond\nthird\r\n\r\n"
				   "nul\0byte\r\nlast";

	if (write_all(fd, data, sizeof data - 1) < 0)
		return 1;
	return 0;
}

static void test_lines(void)
{
	struct conn_opts o = { .timeout_ms = 5000 };
	struct mp_error err = { 0 };
	struct tls_info info;
	unsigned port;
	pid_t pid = spawn(srv_lines, NULL, CHILD_LIMIT_S, &port);
	struct conn *c = connect_to(port, &o);
	const char *line = NULL;
	size_t len = 0;

	ok(c != NULL, "connect to loopback server");
	if (!c) {
		reap(pid, CHILD_LIMIT_S);
		return;
	}
	ok(!conn_is_secure(c), "plain TCP is not secure");
	is_int(conn_tls_info(c, &info), MP_ERR_USAGE, "no TLS info without TLS");
	is_int(conn_read_line(c, &line, &len, &err), MP_OK, "read CRLF line");
	is_str(line, "220 hello", "CRLF stripped");
	is_int(len, 9, "length without CRLF");
	conn_read_line(c, &line, &len, &err);
	is_str(line, "second", "bare LF line");
	conn_read_line(c, &line, &len, &err);
	is_str(line, "third", "line after a bare LF");
	is_int(conn_read_line(c, &line, &len, &err), MP_OK, "empty line");
	is_int(len, 0, "empty line has length 0");
	conn_read_line(c, &line, &len, &err);
	ok(len == 8 && memcmp(line, "nul\0byte", 9) == 0,
	   "embedded NUL kept and counted");
	is_int(conn_read_line(c, &line, &len, &err), MP_ERR_TEMP,
	       "EOF in the middle of a line");
	is_str(err.msg, "connection closed by server", "EOF message");
	is_int(conn_read_line(c, &line, &len, &err), MP_ERR_INTERNAL,
	       "a broken connection stays broken");
	conn_close(c);
	is_int(reap(pid, CHILD_LIMIT_S), 0, "server child finished");
}

static int srv_split(int fd, const void *arg)
{
	/* A CR at the end of one segment, its LF in the next. */
	say(fd, "250-a");
	usleep(30000);
	say(fd, "bc\r");
	usleep(30000);
	say(fd, "\n250 ok\r\n");
	wait_eof(fd);
	return 0;
}

static void test_split(void)
{
	struct conn_opts o = { .timeout_ms = 5000 };
	struct mp_error err = { 0 };
	unsigned port;
	pid_t pid = spawn(srv_split, NULL, CHILD_LIMIT_S, &port);
	struct conn *c = connect_to(port, &o);
	const char *line = NULL;
	size_t len;

	if (c) {
		conn_read_line(c, &line, &len, &err);
		is_str(line, "250-abc", "line assembled from three segments");
		conn_read_line(c, &line, &len, &err);
		is_str(line, "250 ok", "next line");
	}
	conn_close(c);
	reap(pid, CHILD_LIMIT_S);
}

/* --- the line cap --- */

static int srv_flood(int fd, const void *arg)
{
	char buf[64 * 1024];

	memset(buf, 'x', sizeof buf);
	/* 8 MiB without a newline; stops when the client hangs up. */
	for (int i = 0; i < 128; i++)
		if (write_all(fd, buf, sizeof buf) < 0)
			return 0;
	wait_eof(fd);
	return 0;
}

static void test_line_cap(void)
{
	struct conn_opts o = { .timeout_ms = 5000 };
	struct mp_error err = { 0 };
	unsigned port;
	pid_t pid = spawn(srv_flood, NULL, CHILD_LIMIT_S, &port);
	struct conn *c = connect_to(port, &o);
	const char *line;
	size_t len;

	if (!c) {
		reap(pid, CHILD_LIMIT_S);
		return;
	}
	is_int(conn_read_line(c, &line, &len, &err), MP_ERR_PROTOCOL,
	       "endless line is a protocol error");
	is_str(err.msg, "server sent a line longer than 65536 bytes",
	       "line cap message");
	/* The reader must have stopped after about one buffer's worth. */
	ok(conn_pending(c) <= 65536 + 2 + 16384,
	   "at most max_line + 16 KiB buffered (%zu)", conn_pending(c));
	conn_close(c);
	reap(pid, CHILD_LIMIT_S);
}

static int srv_cap_edges(int fd, const void *arg)
{
	say(fd, "0123456789\r\n0123456789\n01234567890\r\n");
	wait_eof(fd);
	return 0;
}

static void test_line_cap_edges(void)
{
	struct conn_opts o = { .timeout_ms = 5000, .max_line = 10 };
	struct mp_error err = { 0 };
	unsigned port;
	pid_t pid = spawn(srv_cap_edges, NULL, CHILD_LIMIT_S, &port);
	struct conn *c = connect_to(port, &o);
	const char *line;
	size_t len;

	if (c) {
		is_int(conn_read_line(c, &line, &len, &err), MP_OK,
		       "line of exactly max_line with CRLF");
		is_int(conn_read_line(c, &line, &len, &err), MP_OK,
		       "line of exactly max_line with LF");
		is_int(conn_read_line(c, &line, &len, &err), MP_ERR_PROTOCOL,
		       "max_line + 1 is refused");
		is_str(err.msg, "server sent a line longer than 10 bytes",
		       "message names the cap");
	}
	conn_close(c);
	reap(pid, CHILD_LIMIT_S);
}

/* --- lines in pieces --- */

#define LONG_LINE 200000

static char long_byte(size_t i)
{
	/* Every byte but LF, CR and dots included, so no piece can end early. */
	return (char)(i % 7 == 0 ? '.' : i % 5 == 0 ? '\r' : 'a' + i % 26);
}

static int srv_pieces(int fd, const void *arg)
{
	static char buf[LONG_LINE + 64];
	size_t n = 0;

	for (size_t i = 0; i < LONG_LINE; i++)
		buf[n++] = long_byte(i);
	memcpy(buf + n, "\r\nnext\r\nafter\r\n", 15);
	n += 15;
	/* Uneven writes, so pieces straddle reads. */
	for (size_t off = 0; off < n; off += 5000) {
		if (write_all(fd, buf + off, n - off < 5000 ? n - off : 5000) < 0)
			return 1;
		if (off < 30000)
			usleep(1000);
	}
	say(fd, "cut in the mid");
	return 0;
}

static void test_read_piece(void)
{
	struct conn_opts o = { .timeout_ms = 5000 };
	struct mp_error err = { 0 };
	unsigned port;
	pid_t pid = spawn(srv_pieces, NULL, CHILD_LIMIT_S, &port);
	struct conn *c = connect_to(port, &o);
	char *got = malloc(LONG_LINE + 64);
	const char *data, *line;
	size_t len, total = 0, pieces = 0, smallest = (size_t)-1, largest = 0;
	bool end = false, same = true;

	if (!c || !got) {
		free(got);
		conn_close(c);
		reap(pid, CHILD_LIMIT_S);
		return;
	}
	while (!end && total <= LONG_LINE + 2) {
		if (conn_read_piece(c, &data, &len, &end, &err) != MP_OK)
			break;
		if (total + len > LONG_LINE + 2)
			break;
		memcpy(got + total, data, len);
		total += len;
		pieces++;
		if (!end && len < smallest)
			smallest = len;
		if (len > largest)
			largest = len;
		ok(conn_pending(c) <= 65536 + 2 + 16384 || end,
		   "piece %zu: buffer stays bounded", pieces);
	}
	ok(end, "a 200 KB line ends (%s)", err.msg);
	is_int(total, LONG_LINE + 2, "all of it, CRLF included");
	for (size_t i = 0; i < LONG_LINE && i < total; i++)
		if (got[i] != long_byte(i))
			same = false;
	ok(same && total >= 2 && !memcmp(got + LONG_LINE, "\r\n", 2),
	   "byte-exact");
	ok(pieces >= 3, "in several pieces (%zu)", pieces);
	ok(smallest >= 65536 + 2, "a piece not ending the line holds more than "
	   "max_line + 1 bytes (smallest %zu)", smallest);
	ok(largest <= 65536 + 2 + 16384, "none larger than the buffer (%zu)",
	   largest);
	is_int(conn_read_piece(c, &data, &len, &end, &err), MP_OK, "next line");
	ok(end && len == 6 && !memcmp(data, "next\r\n", 6),
	   "a short line comes whole, its line end kept");
	is_int(conn_read_line(c, &line, &len, &err), MP_OK,
	       "conn_read_line after pieces");
	is_str(line, "after", "and reads the next line");
	is_int(conn_read_piece(c, &data, &len, &end, &err), MP_ERR_TEMP,
	       "EOF in the middle of a line");
	is_str(err.msg, "connection closed by server", "its message");
	conn_close(c);
	free(got);
	reap(pid, CHILD_LIMIT_S);
}

static int srv_piece_edges(int fd, const void *arg)
{
	/* max_line is 10: a piece must not end before 12 bytes. */
	say(fd, "01234");
	usleep(30000);
	say(fd, "56789AB\r");
	usleep(30000);
	say(fd, "\n.");
	usleep(30000);
	say(fd, "\r\n0123456789\r\nx\n");
	wait_eof(fd);
	return 0;
}

static void test_read_piece_edges(void)
{
	char *tbuf = NULL;
	size_t tsize = 0;
	FILE *tr = open_memstream(&tbuf, &tsize);
	struct conn_opts o = { .timeout_ms = 5000, .max_line = 10, .trace = tr };
	struct mp_error err = { 0 };
	unsigned port;
	pid_t pid = spawn(srv_piece_edges, NULL, CHILD_LIMIT_S, &port);
	struct conn *c = connect_to(port, &o);
	const char *data = NULL;
	size_t len = 0;
	bool end = true;

	if (c) {
		is_int(conn_read_piece(c, &data, &len, &end, &err), MP_OK,
		       "first piece (%s)", err.msg);
		ok(!end && len == 13 && !memcmp(data, "0123456789AB\r", 13),
		   "over max_line + 1 without LF: a piece, CR at its end");
		conn_read_piece(c, &data, &len, &end, &err);
		ok(end && len == 1 && data[0] == '\n',
		   "the CRLF's LF alone ends the line");
		conn_read_piece(c, &data, &len, &end, &err);
		ok(end && len == 3 && !memcmp(data, ".\r\n", 3),
		   "'.' split across writes still comes as one piece");
		conn_read_piece(c, &data, &len, &end, &err);
		ok(end && len == 12 && !memcmp(data, "0123456789\r\n", 12),
		   "a line of exactly max_line in one piece");
		conn_read_piece(c, &data, &len, &end, &err);
		ok(end && len == 2 && !memcmp(data, "x\n", 2), "bare LF line");
	}
	conn_close(c);
	fclose(tr);
	is_str(tbuf, "S: 0123456789AB?\nS: \nS: .\nS: 0123456789\nS: x\n",
	       "each piece traced without its line end");
	free(tbuf);
	reap(pid, CHILD_LIMIT_S);
}

/* --- read_exact --- */

#define LIT_SIZE 200000

static unsigned char lit_byte(size_t i)
{
	return (unsigned char)(i * 7 % 251);
}

static int srv_literal(int fd, const void *arg)
{
	static unsigned char buf[LIT_SIZE + 64];
	size_t n = 0, off = 0;

	n = (size_t)snprintf((char *)buf, sizeof buf, "* 1 FETCH {%d}\r\n",
			     LIT_SIZE);
	for (size_t i = 0; i < LIT_SIZE; i++)
		buf[n++] = lit_byte(i);
	memcpy(buf + n, ")\r\n{3}\r\nabc\r\nA OK\r\n", 19);
	n += 19;
	/* Uneven pieces so literal and lines straddle reads. */
	while (off < n) {
		size_t k = n - off < 7777 ? n - off : 7777;

		if (write_all(fd, buf + off, k) < 0)
			return 1;
		off += k;
		if (off < 40000)
			usleep(2000);
	}
	wait_eof(fd);
	return 0;
}

static void test_read_exact(void)
{
	struct conn_opts o = { .timeout_ms = 5000 };
	struct mp_error err = { 0 };
	unsigned port;
	pid_t pid = spawn(srv_literal, NULL, CHILD_LIMIT_S, &port);
	struct conn *c = connect_to(port, &o);
	unsigned char *lit = malloc(LIT_SIZE);
	const char *line = NULL;
	char small[4] = { 0 };
	size_t len;
	bool same = true;

	if (!c || !lit) {
		free(lit);
		conn_close(c);
		reap(pid, CHILD_LIMIT_S);
		return;
	}
	conn_read_line(c, &line, &len, &err);
	is_str(line, "* 1 FETCH {200000}", "literal announcement");
	is_int(conn_read_exact(c, lit, 5, &err), MP_OK, "small read from buffer");
	is_int(conn_read_exact(c, lit + 5, LIT_SIZE - 5, &err), MP_OK,
	       "large read across buffer boundaries");
	for (size_t i = 0; i < LIT_SIZE; i++)
		if (lit[i] != lit_byte(i))
			same = false;
	ok(same, "literal bytes intact");
	conn_read_line(c, &line, &len, &err);
	is_str(line, ")", "line after the literal");
	conn_read_line(c, &line, &len, &err);
	is_str(line, "{3}", "second literal announcement");
	is_int(conn_read_exact(c, small, 3, &err), MP_OK, "tiny literal");
	is_str(small, "abc", "tiny literal bytes");
	conn_read_line(c, &line, &len, &err);
	is_str(line, "", "rest of the literal line");
	conn_read_line(c, &line, &len, &err);
	is_str(line, "A OK", "tagged line at the end");
	free(lit);
	conn_close(c);
	reap(pid, CHILD_LIMIT_S);
}

static int srv_short(int fd, const void *arg)
{
	say(fd, "{100}\r\nonly a few");
	return 0;
}

static void test_read_exact_eof(void)
{
	struct conn_opts o = { .timeout_ms = 5000 };
	struct mp_error err = { 0 };
	unsigned port;
	pid_t pid = spawn(srv_short, NULL, CHILD_LIMIT_S, &port);
	struct conn *c = connect_to(port, &o);
	const char *line;
	char buf[100];
	size_t len;

	if (c) {
		conn_read_line(c, &line, &len, &err);
		is_int(conn_read_exact(c, buf, sizeof buf, &err), MP_ERR_TEMP,
		       "EOF inside a literal");
		is_str(err.msg, "connection closed by server", "its message");
	}
	conn_close(c);
	reap(pid, CHILD_LIMIT_S);
}

/* --- timeouts --- */

static int srv_silent(int fd, const void *arg)
{
	wait_eof(fd);
	return 0;
}

static void test_timeout(void)
{
	struct conn_opts o = { .timeout_ms = 200 };
	struct mp_error err = { 0 };
	unsigned port;
	pid_t pid = spawn(srv_silent, NULL, CHILD_LIMIT_S, &port);
	struct conn *c = connect_to(port, &o);
	const char *line;
	size_t len;
	long long t0 = now_ms(), dt;

	if (c) {
		is_int(conn_read_line(c, &line, &len, &err), MP_ERR_TEMP,
		       "silent server times out");
		dt = now_ms() - t0;
		ok(dt >= 150 && dt < 2000, "after about 200 ms (%lld ms)", dt);
		ok(has(err.msg, "timed out after 200 ms"), "message: %s", err.msg);
	}
	conn_close(c);
	reap(pid, CHILD_LIMIT_S);
}

/* --- STARTTLS response injection --- */

static int srv_inject(int fd, const void *arg)
{
	say(fd, "220 go\r\nEXTRA\r\n");
	wait_eof(fd);
	return 0;
}

static int srv_inject_late(int fd, const void *arg)
{
	say(fd, "220 go\r\n");
	usleep(100000);
	say(fd, "EXTRA\r\n");
	wait_eof(fd);
	return 0;
}

static void test_injection(serve_fn fn, const char *what)
{
	struct conn_opts o = { .timeout_ms = 5000 };
	struct mp_error err = { 0 };
	unsigned port;
	pid_t pid = spawn(fn, NULL, CHILD_LIMIT_S, &port);
	struct conn *c = connect_to(port, &o);
	const char *line = NULL;
	size_t len;

	if (c) {
		/* Let both lines arrive before the first read. */
		usleep(50000);
		conn_read_line(c, &line, &len, &err);
		is_str(line, "220 go", "go-ahead read (%s)", what);
		usleep(300000);
		is_int(conn_start_tls(c, &err), MP_ERR_PROTOCOL,
		       "extra bytes before TLS refused (%s)", what);
		ok(has(err.msg, "server sent data after the STARTTLS go-ahead"),
		   "message: %s", err.msg);
	}
	conn_close(c);
	reap(pid, CHILD_LIMIT_S);
}

/* --- writing --- */

static int srv_expect(int fd, const void *arg)
{
	const char *want = arg;
	char buf[4096];
	size_t n = 0;
	ssize_t r;

	while ((r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	return strcmp(buf, want) == 0 ? 0 : 1;
}

static void test_refuse_breaks(void)
{
	struct conn_opts o = { .timeout_ms = 5000 };
	struct mp_error err = { 0 };
	unsigned port;
	pid_t pid = spawn(srv_expect, "NOOP\r\nEHLO x\r\n", CHILD_LIMIT_S, &port);
	struct conn *c = connect_to(port, &o);

	if (!c) {
		reap(pid, CHILD_LIMIT_S);
		return;
	}
	is_int(conn_send_line(c, "RCPT TO:<a@b>\r\nDATA", CONN_SHOW_ALL, &err),
	       MP_ERR_USAGE, "CRLF inside a line refused");
	is_int(conn_send_line(c, "a\nb", CONN_SHOW_ALL, &err), MP_ERR_USAGE,
	       "bare LF refused");
	is_int(conn_send_line(c, "x\r", CONN_SHOW_ALL, &err), MP_ERR_USAGE,
	       "bare CR refused");
	is_int(conn_sendf(c, &err, "A%cB", 0), MP_ERR_USAGE,
	       "NUL through conn_sendf refused");
	is_int(conn_send_line(c, "NOOP", CONN_SHOW_ALL, &err), MP_OK,
	       "connection still usable after a refusal");
	is_int(conn_sendf(c, &err, "EHLO %s", "x"), MP_OK, "conn_sendf");
	is_int(conn_flush(c, &err), MP_OK, "flush");
	conn_close(c);
	is_int(reap(pid, CHILD_LIMIT_S), 0, "server saw only the good lines");
}

/* FNV-1a, to compare what was sent with what arrived. */
static uint64_t fnv(uint64_t h, const void *buf, size_t n)
{
	const unsigned char *p = buf;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

struct bulk {
	size_t total;
};

static int srv_bulk(int fd, const void *arg)
{
	const struct bulk *b = arg;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t n = 0;
	char buf[65536], reply[80];

	while (n < b->total) {
		ssize_t r = read(fd, buf, sizeof buf);

		if (r <= 0)
			return 1;
		h = fnv(h, buf, (size_t)r);
		n += (size_t)r;
	}
	snprintf(reply, sizeof reply, "OK %zu %016llx\r\n", n,
		 (unsigned long long)h);
	say(fd, reply);
	wait_eof(fd);
	return 0;
}

static void test_bulk_write(void)
{
	static char big[300000];
	struct conn_opts o = { .timeout_ms = 5000 };
	struct mp_error err = { 0 };
	struct bulk b = { 0 };
	uint64_t h = 0xcbf29ce484222325ULL;
	char want[80];
	unsigned port;
	pid_t pid;
	struct conn *c;
	const char *line = NULL;
	size_t len;
	bool good = true;

	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)('a' + i % 26);
	/* 1000 single bytes, a write larger than the buffer, one just under
	 * it, and 500 lines. */
	b.total = 1000 + sizeof big + 65000 + 500 * 12;
	pid = spawn(srv_bulk, &b, CHILD_LIMIT_S, &port);
	c = connect_to(port, &o);
	if (!c) {
		reap(pid, CHILD_LIMIT_S);
		return;
	}
	for (int i = 0; i < 1000; i++) {
		good &= conn_write(c, big + i, 1, &err) == MP_OK;
		h = fnv(h, big + i, 1);
	}
	good &= conn_write(c, big, sizeof big, &err) == MP_OK;
	h = fnv(h, big, sizeof big);
	good &= conn_write(c, big, 65000, &err) == MP_OK;
	h = fnv(h, big, 65000);
	for (int i = 0; i < 500; i++) {
		good &= conn_sendf(c, &err, "LINE %05d", i) == MP_OK;
		snprintf(want, sizeof want, "LINE %05d\r\n", i);
		h = fnv(h, want, 12);
	}
	ok(good, "all writes queued");
	/* No explicit flush: reading sends what is queued. */
	is_int(conn_read_line(c, &line, &len, &err), MP_OK,
	       "read after writes (flushes first)");
	snprintf(want, sizeof want, "OK %zu %016llx", b.total,
		 (unsigned long long)h);
	is_str(line, want, "server received every byte in order");
	conn_close(c);
	reap(pid, CHILD_LIMIT_S);
}

static int srv_hangup(int fd, const void *arg)
{
	struct linger l = { 1, 0 };

	/* Reset the connection so the client's writes fail, once the client
	 * has surely seen its connect complete. */
	usleep(200000);
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
	close(fd);
	return 0;
}

static void test_sigpipe(void)
{
	static char big[1 << 20];
	struct conn_opts o = { .timeout_ms = 5000 };
	struct mp_error err = { 0 };
	unsigned port;
	pid_t pid = spawn(srv_hangup, NULL, CHILD_LIMIT_S, &port);
	struct conn *c = connect_to(port, &o);
	enum mp_status st = MP_OK;

	ok(c != NULL, "connect before the hang-up");
	reap(pid, CHILD_LIMIT_S);
	if (!c)
		return;
	usleep(50000);
	for (int i = 0; i < 8 && st == MP_OK; i++) {
		st = conn_write(c, big, sizeof big, &err);
		if (st == MP_OK)
			st = conn_flush(c, &err);
	}
	is_int(st, MP_ERR_TEMP, "writing to a closed peer fails without SIGPIPE");
	ok(has(err.msg, "connection closed by server"), "message: %s", err.msg);
	conn_close(c);
}

/* --- trace --- */

static int srv_trace(int fd, const void *arg)
{
	say(fd, "250 ok\x01\x1b[31m\r\n");
	wait_eof(fd);
	return 0;
}

static void test_trace(void)
{
	char *buf = NULL;
	size_t size = 0, len;
	FILE *tr = open_memstream(&buf, &size);
	struct conn_opts o = { .timeout_ms = 5000, .trace = tr };
	struct mp_error err = { 0 };
	unsigned port;
	pid_t pid = spawn(srv_trace, NULL, CHILD_LIMIT_S, &port);
	struct conn *c = connect_to(port, &o);
	const char *line;

	if (!c || !tr) {
		if (tr)
			fclose(tr);
		free(buf);
		conn_close(c);
		reap(pid, CHILD_LIMIT_S);
		return;
	}
	conn_send_line(c, "AUTH PLAIN dGVzdABzZWNyZXQ=", strlen("AUTH PLAIN "),
		       &err);
	conn_send_line(c, "PASS hunter2", 5, &err);
	conn_send_line(c, "ABC", 3, &err);
	conn_send_line(c, "CAPA", CONN_SHOW_ALL, &err);
	conn_sendf(c, &err, "EHLO %s", "client.example");
	conn_read_line(c, &line, &len, &err);
	conn_trace_note(c, "TLS started %s", "(test)");
	conn_close(c);
	fclose(tr);
	is_str(buf,
	       "C: AUTH PLAIN <redacted>\n"
	       "C: PASS <redacted>\n"
	       "C: ABC\n"
	       "C: CAPA\n"
	       "C: EHLO client.example\n"
	       "S: 250 ok??[31m\n"
	       "-- TLS started (test)\n",
	       "trace with redaction and control bytes masked");
	ok(!has(buf, "dGVzd") && !has(buf, "hunter2"), "secrets not in trace");
	free(buf);
	reap(pid, CHILD_LIMIT_S);
}

/* --- connecting --- */

static void test_connect_errors(void)
{
	struct conn_opts o = { .timeout_ms = 2000 };
	struct mp_error err = { 0 };
	struct conn *c = (struct conn *)&o;
	enum mp_status st;
	unsigned port;
	char want[64];
	int lfd = fake_listen(&port);

	close(lfd);
	is_int(conn_connect_tcp(&c, "127.0.0.1", port, &o, &err), MP_ERR_TEMP,
	       "connection refused is temporary");
	ok(c == NULL, "no connection returned on failure");
	snprintf(want, sizeof want, "cannot connect to 127.0.0.1:%u: ", port);
	ok(has(err.msg, want), "message: %s", err.msg);

	st = conn_connect_tcp(&c, "nonexistent.invalid", 25, &o, &err);
	if (st == MP_ERR_TEMP && has(err.msg, "cannot resolve host")) {
		/* No resolver reachable: EAI_AGAIN is rightly temporary. */
		tap_skip("resolver unavailable, cannot test a missing host");
		tap_skip("resolver unavailable");
	} else {
		is_int(st, MP_ERR_NOHOST, "unresolvable host");
		ok(has(err.msg, "cannot resolve host 'nonexistent.invalid'"),
		   "message: %s", err.msg);
	}

	is_int(conn_connect_tcp(&c, "127.0.0.1", 0, &o, &err), MP_ERR_USAGE,
	       "port 0 refused");
	is_int(conn_connect_unix(&c, "/nonexistent/mailpipe.sock", &o, &err),
	       MP_ERR_TEMP, "missing unix socket is temporary");
	conn_close(NULL);
	ok(1, "conn_close(NULL) is harmless");
}

static int srv_lmtp(int fd, const void *arg)
{
	say(fd, "220 lmtp ready\r\n");
	wait_eof(fd);
	return 0;
}

static void test_unix(void)
{
	char dir[] = "/tmp/mp-conn-XXXXXX", path[128];
	struct sockaddr_un sa_un = { .sun_family = AF_UNIX };
	struct conn_opts o = { .timeout_ms = 5000 };
	struct mp_error err = { 0 };
	struct conn *c = NULL;
	const char *line = NULL;
	size_t len;
	int lfd;
	pid_t pid;

	if (!mkdtemp(dir)) {
		tap_skip("mkdtemp failed");
		return;
	}
	snprintf(path, sizeof path, "%s/lmtp", dir);
	memcpy(sa_un.sun_path, path, strlen(path) + 1);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa_un, sizeof sa_un) < 0 ||
	    listen(lfd, 1) < 0) {
		tap_skip("cannot listen on a unix socket");
		rmdir(dir);
		return;
	}
	pid = spawn_on(lfd, srv_lmtp, NULL, CHILD_LIMIT_S);
	is_int(conn_connect_unix(&c, path, &o, &err), MP_OK, "unix connect");
	if (c) {
		ok(conn_is_secure(c), "unix socket counts as secure");
		conn_read_line(c, &line, &len, &err);
		is_str(line, "220 lmtp ready", "line over a unix socket");
		is_int(conn_start_tls(c, &err), MP_ERR_USAGE,
		       "no TLS over a unix socket");
	}
	conn_close(c);
	reap(pid, CHILD_LIMIT_S);
	unlink(path);
	rmdir(dir);
}

/* --- TLS --- */

struct pki {
	char dir[64];
	bool ok;
	char expired_date[16];
	char future_date[16];
};

static void utc_date(char *buf, size_t size, long days, bool with_time)
{
	time_t t = time(NULL) + days * 86400;
	struct tm tm;

	gmtime_r(&t, &tm);
	if (with_time)
		strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
	else
		strftime(buf, size, "%Y-%m-%d", &tm);
}

static bool run_quiet(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static bool run_quiet(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	return system(cmd) == 0;
}

/* Make NAME.pem and NAME-key.pem valid from days `from` to `to` (relative
 * to today), signed by ca (self-signed when ca is NULL). */
static bool make_cert(const struct pki *p, const char *name, const char *ca,
		      long from, long to, const char *extra)
{
	char path[128], a[32], b[32];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s.tmpl", p->dir, name);
	f = fopen(path, "w");
	if (!f)
		return false;
	utc_date(a, sizeof a, from, true);
	utc_date(b, sizeof b, to, true);
	fprintf(f, "serial = %ld\nactivation_date = \"%s\"\n"
		"expiration_date = \"%s\"\n%s\n", (long)(random() & 0xffffff) + 1,
		a, b, extra);
	fclose(f);
	if (!run_quiet("certtool --generate-privkey --key-type=ecdsa "
		       "--curve=secp256r1 --no-text --outfile %s/%s-key.pem "
		       ">/dev/null 2>&1", p->dir, name))
		return false;
	if (!ca)
		return run_quiet("certtool --generate-self-signed --no-text "
				 "--load-privkey %s/%s-key.pem --template %s "
				 "--outfile %s/%s.pem >/dev/null 2>&1",
				 p->dir, name, path, p->dir, name);
	return run_quiet("certtool --generate-certificate --no-text "
			 "--load-privkey %s/%s-key.pem --load-ca-certificate "
			 "%s/%s.pem --load-ca-privkey %s/%s-key.pem --template %s "
			 "--outfile %s/%s.pem >/dev/null 2>&1",
			 p->dir, name, p->dir, ca, p->dir, ca, path, p->dir, name);
}

static void make_pki(struct pki *p)
{
	static const char local[] = "cn = \"localhost\"\ndns_name = \"localhost\"\n"
		"ip_address = \"127.0.0.1\"\ntls_www_server\nsigning_key\n"
		"encryption_key\n";

	p->ok = false;
	snprintf(p->dir, sizeof p->dir, "/tmp/mp-conn-pki-XXXXXX");
	if (!mkdtemp(p->dir))
		return;
	if (!run_quiet("certtool --version >/dev/null 2>&1"))
		return;
	utc_date(p->expired_date, sizeof p->expired_date, -2, false);
	utc_date(p->future_date, sizeof p->future_date, 10, false);
	p->ok = make_cert(p, "ca", NULL, -1, 30,
			  "cn = \"mailpipe test CA\"\nca\ncert_signing_key\n") &&
		make_cert(p, "other-ca", NULL, -1, 30,
			  "cn = \"mailpipe untrusted CA\"\nca\ncert_signing_key\n") &&
		make_cert(p, "server", "ca", -1, 30, local) &&
		make_cert(p, "expired", "ca", -30, -2, local) &&
		make_cert(p, "future", "ca", 10, 30, local) &&
		make_cert(p, "wronghost", "ca", -1, 30,
			  "cn = \"wrong.example\"\ndns_name = \"wrong.example\"\n"
			  "tls_www_server\nsigning_key\n") &&
		make_cert(p, "untrusted", "other-ca", -1, 30, local) &&
		make_cert(p, "client", "ca", -1, 30,
			  "cn = \"mailpipe client\"\ntls_www_client\nsigning_key\n");
}

enum srv_mode { ECHO, DROP, SILENT };

struct tls_srv {
	const struct pki *pki;
	const char *cert;          /* base name in the PKI dir */
	const char *prio;          /* NULL: NORMAL */
	bool starttls;             /* plain go-ahead first */
	bool want_client_cert;
	enum srv_mode mode;
};

static int tls_serve(int fd, const void *arg)
{
	const struct tls_srv *s = arg;
	gnutls_certificate_credentials_t cred;
	gnutls_session_t ses;
	char cert[128], key[128], ca[128], buf[4096];
	int r;

	snprintf(cert, sizeof cert, "%s/%s.pem", s->pki->dir, s->cert);
	snprintf(key, sizeof key, "%s/%s-key.pem", s->pki->dir, s->cert);
	snprintf(ca, sizeof ca, "%s/ca.pem", s->pki->dir);
	if (s->starttls) {
		if (read_line_raw(fd, buf, sizeof buf) < 0 ||
		    strcmp(buf, "STARTTLS\r\n") != 0)
			return 10;
		say(fd, "220 go ahead\r\n");
	}
	if (gnutls_certificate_allocate_credentials(&cred) < 0 ||
	    gnutls_certificate_set_x509_key_file(cred, cert, key,
						 GNUTLS_X509_FMT_PEM) < 0 ||
	    gnutls_certificate_set_x509_trust_file(cred, ca,
						   GNUTLS_X509_FMT_PEM) < 0 ||
	    gnutls_init(&ses, GNUTLS_SERVER) < 0 ||
	    gnutls_priority_set_direct(ses, s->prio ? s->prio : "NORMAL",
				       NULL) < 0 ||
	    gnutls_credentials_set(ses, GNUTLS_CRD_CERTIFICATE, cred) < 0)
		return 11;
	if (s->want_client_cert)
		gnutls_certificate_server_set_request(ses, GNUTLS_CERT_REQUIRE);
	gnutls_transport_set_int(ses, fd);
	gnutls_handshake_set_timeout(ses, 10000);
	do {
		r = gnutls_handshake(ses);
	} while (r < 0 && !gnutls_error_is_fatal(r));
	if (r < 0) {
		gnutls_alert_send_appropriate(ses, r);
		return 12;
	}
	if (s->want_client_cert) {
		unsigned status = 1;

		if (gnutls_certificate_verify_peers2(ses, &status) < 0 ||
		    status != 0)
			return 13;
	}
	if (s->mode == DROP) {
		gnutls_record_send(ses, "partial", 7);
		close(fd);  /* no close_notify */
		return 0;
	}
	for (;;) {
		ssize_t n = gnutls_record_recv(ses, buf, sizeof buf);

		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n <= 0)
			break;
		if (s->mode == ECHO && gnutls_record_send(ses, buf, (size_t)n) < 0)
			break;
	}
	gnutls_bye(ses, GNUTLS_SHUT_WR);
	gnutls_deinit(ses);
	gnutls_certificate_free_credentials(cred);
	return 0;
}

/* Connect to a TLS child serving `s`, start TLS with tls options `t`;
 * returns the status and leaves the connection in *out on success. */
static enum mp_status tls_try(const struct tls_srv *s, const char *host,
			      struct conn_opts *o, struct conn **out, pid_t *pid,
			      struct mp_error *err)
{
	unsigned port;
	enum mp_status st;
	const char *line;
	size_t len;

	*pid = spawn(tls_serve, s, CHILD_LIMIT_S, &port);
	*out = NULL;
	st = conn_connect_tcp(out, host, port, o, err);
	if (st != MP_OK)
		return st;
	if (s->starttls) {
		st = conn_send_line(*out, "STARTTLS", CONN_SHOW_ALL, err);
		if (st == MP_OK)
			st = conn_read_line(*out, &line, &len, err);
		if (st != MP_OK)
			return st;
	}
	return conn_start_tls(*out, err);
}

static enum mp_status tls_case(const struct tls_srv *s, const char *host,
			       struct conn_opts *o, struct mp_error *err)
{
	struct conn *c;
	pid_t pid;
	enum mp_status st = tls_try(s, host, o, &c, &pid, err);

	conn_close(c);
	reap(pid, CHILD_LIMIT_S);
	return st;
}

static void test_tls(void)
{
	struct pki p;
	char ca[128], client[128], clientkey[128], want[256], pin[128];
	struct conn_opts o = { .timeout_ms = 5000 };
	struct mp_error err = { 0 };
	struct tls_srv s = { .pki = &p, .cert = "server", .mode = ECHO };
	struct tls_info info;
	struct conn *c;
	const char *line = NULL;
	size_t len;
	pid_t pid;
	int j;

	make_pki(&p);
	if (!p.ok) {
		tap_skip("certtool could not make a test PKI");
		run_quiet("rm -rf '%s'", p.dir);
		return;
	}
	snprintf(ca, sizeof ca, "%s/ca.pem", p.dir);
	snprintf(client, sizeof client, "%s/client.pem", p.dir);
	snprintf(clientkey, sizeof clientkey, "%s/client-key.pem", p.dir);
	o.tls.ca_file = ca;

	/* Implicit TLS, verified against our CA, then echo through it. */
	is_int(tls_try(&s, "localhost", &o, &c, &pid, &err), MP_OK,
	       "implicit TLS handshake verified: %s", err.msg);
	if (c) {
		ok(conn_is_secure(c), "TLS connection is secure");
		is_int(conn_tls_info(c, &info), MP_OK, "TLS info available");
		is_str(info.version, "TLS1.3", "TLS 1.3 negotiated");
		ok(info.cipher[0] != '\0', "cipher named: %s", info.cipher);
		ok(has(info.subject, "CN=localhost"), "subject %s", info.subject);
		ok(has(info.issuer, "CN=mailpipe test CA"), "issuer %s",
		   info.issuer);
		ok(strlen(info.sha256) == 95 && info.sha256[2] == ':',
		   "fingerprint format %s", info.sha256);
		ok(info.verified, "verified flag set");
		ok(info.not_after > time(NULL) && info.not_before < time(NULL),
		   "validity times");
		conn_send_line(c, "HELLO over TLS", CONN_SHOW_ALL, &err);
		is_int(conn_read_line(c, &line, &len, &err), MP_OK, "echo read");
		is_str(line, "HELLO over TLS", "echo through TLS");
		for (j = 0; j < 200; j++)
			conn_sendf(c, &err, "%0999d", j);
		for (j = 0; j < 200; j++)
			if (conn_read_line(c, &line, &len, &err) != MP_OK ||
			    len != 999 || atoi(line) != j)
				break;
		is_int(j, 200, "200 KB echoed through TLS");
		is_int(conn_start_tls(c, &err), MP_ERR_USAGE, "TLS twice refused");
		/* Keep the pin for the pin tests; lower case, no colons. */
		for (j = 0, len = 0; info.sha256[j]; j++)
			if (info.sha256[j] != ':')
				pin[len++] = (char)(info.sha256[j] | 0x20);
		pin[len] = '\0';
	} else {
		pin[0] = '\0';
	}
	conn_close(c);
	reap(pid, CHILD_LIMIT_S);

	is_int(tls_case(&s, "127.0.0.1", &o, &err), MP_OK,
	       "IP literal matched against the IP SAN: %s", err.msg);

	s.starttls = true;
	is_int(tls_try(&s, "localhost", &o, &c, &pid, &err), MP_OK,
	       "STARTTLS upgrade: %s", err.msg);
	if (c) {
		conn_send_line(c, "after upgrade", CONN_SHOW_ALL, &err);
		conn_read_line(c, &line, &len, &err);
		is_str(line, "after upgrade", "echo after STARTTLS");
	}
	conn_close(c);
	reap(pid, CHILD_LIMIT_S);
	s.starttls = false;

	o.tls.ca_file = NULL;
	is_int(tls_case(&s, "localhost", &o, &err), MP_ERR_TLS,
	       "unknown CA refused with the system trust store");
	is_str(err.msg, "certificate for localhost is not trusted (issuer "
	       "'CN=mailpipe test CA' is not a known CA)", "untrusted message");
	o.tls.ca_file = ca;

	s.cert = "untrusted";
	is_int(tls_case(&s, "localhost", &o, &err), MP_ERR_TLS,
	       "certificate from another CA refused");
	ok(has(err.msg, "issuer 'CN=mailpipe untrusted CA' is not a known CA"),
	   "message: %s", err.msg);

	s.cert = "expired";
	is_int(tls_case(&s, "localhost", &o, &err), MP_ERR_TLS,
	       "expired certificate refused");
	snprintf(want, sizeof want, "certificate for localhost expired on %s",
		 p.expired_date);
	is_str(err.msg, want, "expired message");

	s.cert = "future";
	is_int(tls_case(&s, "localhost", &o, &err), MP_ERR_TLS,
	       "not yet valid certificate refused");
	snprintf(want, sizeof want,
		 "certificate for localhost is not valid before %s",
		 p.future_date);
	is_str(err.msg, want, "not-yet-valid message");

	s.cert = "wronghost";
	is_int(tls_case(&s, "localhost", &o, &err), MP_ERR_TLS,
	       "certificate for another host refused");
	is_str(err.msg, "certificate is not valid for host 'localhost' (it is "
	       "for 'CN=wrong.example'; names: wrong.example)",
	       "wrong-host message");

	/* A pin replaces CA and host checks. */
	s.cert = "server";
	o.tls.ca_file = NULL;
	o.tls.fingerprint = pin;
	is_int(tls_case(&s, "localhost", &o, &err), MP_OK,
	       "matching pin accepted without a CA: %s", err.msg);
	o.tls.fingerprint = "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
			    "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";
	is_int(tls_case(&s, "localhost", &o, &err), MP_ERR_TLS,
	       "wrong pin refused");
	ok(has(err.msg, "certificate fingerprint SHA256 ") &&
	   has(err.msg, "does not match the pinned 00:11:22"),
	   "message: %s", err.msg);
	o.tls.fingerprint = "zz";
	is_int(tls_case(&s, "localhost", &o, &err), MP_ERR_USAGE,
	       "malformed pin refused");
	o.tls.fingerprint = NULL;

	/* insecure: anything goes, and says so. */
	o.tls.insecure = true;
	s.cert = "expired";
	is_int(tls_try(&s, "localhost", &o, &c, &pid, &err), MP_OK,
	       "insecure accepts an expired certificate");
	ok(c && conn_tls_info(c, &info) == MP_OK && !info.verified,
	   "insecure session is not marked verified");
	conn_close(c);
	reap(pid, CHILD_LIMIT_S);
	o.tls.insecure = false;
	o.tls.ca_file = ca;
	s.cert = "server";

	s.prio = "NORMAL:-VERS-ALL:+VERS-TLS1.2";
	is_int(tls_try(&s, "localhost", &o, &c, &pid, &err), MP_OK,
	       "TLS 1.2 server accepted by default");
	ok(c && conn_tls_info(c, &info) == MP_OK &&
	   strcmp(info.version, "TLS1.2") == 0, "TLS 1.2 reported");
	conn_close(c);
	reap(pid, CHILD_LIMIT_S);
	o.tls.min_version = 13;
	is_int(tls_case(&s, "localhost", &o, &err), MP_ERR_TLS,
	       "TLS 1.2 server refused with min_version 13: %s", err.msg);
	s.prio = "NORMAL:-VERS-ALL:+VERS-TLS1.1";
	o.tls.min_version = 0;
	ok(tls_case(&s, "localhost", &o, &err) == MP_ERR_TLS,
	   "TLS 1.1 refused by default: %s", err.msg);
	s.prio = NULL;

	s.want_client_cert = true;
	o.tls.cert_file = client;
	o.tls.key_file = clientkey;
	is_int(tls_try(&s, "localhost", &o, &c, &pid, &err), MP_OK,
	       "client certificate sent: %s", err.msg);
	conn_close(c);
	is_int(reap(pid, CHILD_LIMIT_S), 0, "server verified the client certificate");
	s.want_client_cert = false;
	o.tls.key_file = "/nonexistent/key.pem";
	is_int(tls_case(&s, "localhost", &o, &err), MP_ERR_CONFIG,
	       "unreadable client key is a config error");
	o.tls.cert_file = o.tls.key_file = NULL;

	s.mode = DROP;
	tls_try(&s, "localhost", &o, &c, &pid, &err);
	is_int(c ? conn_read_line(c, &line, &len, &err) : MP_ERR_INTERNAL,
	       MP_ERR_TEMP, "TLS cut without close_notify");
	is_str(err.msg, "connection closed by server", "its message");
	conn_close(c);
	reap(pid, CHILD_LIMIT_S);

	s.mode = SILENT;
	o.timeout_ms = 300;
	tls_try(&s, "localhost", &o, &c, &pid, &err);
	is_int(c ? conn_read_line(c, &line, &len, &err) : MP_ERR_INTERNAL,
	       MP_ERR_TEMP, "silent TLS server times out");
	ok(has(err.msg, "timed out after 300 ms"), "message: %s", err.msg);
	conn_close(c);
	reap(pid, CHILD_LIMIT_S);
	o.timeout_ms = 5000;

	run_quiet("rm -rf '%s'", p.dir);
}

static int srv_plain_greeting(int fd, const void *arg)
{
	say(fd, "220 plain text server\r\n");
	wait_eof(fd);
	return 0;
}

static void test_tls_to_plain(void)
{
	struct conn_opts o = { .timeout_ms = 2000 };
	struct mp_error err = { 0 };
	unsigned port;
	pid_t pid = spawn(srv_plain_greeting, NULL, CHILD_LIMIT_S, &port);
	struct conn *c = connect_to(port, &o);

	if (c) {
		usleep(50000);
		is_int(conn_start_tls(c, &err), MP_ERR_TLS,
		       "implicit TLS to a plain-text server fails the handshake");
		ok(has(err.msg, "TLS handshake with 127.0.0.1:"), "message: %s",
		   err.msg);
	}
	conn_close(c);
	reap(pid, CHILD_LIMIT_S);
}

int main(void)
{
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	/* First, so the memory bound is measured against a quiet process. */
	test_line_cap();
	test_line_cap_edges();
	test_lines();
	test_split();
	test_read_piece();
	test_read_piece_edges();
	test_read_exact();
	test_read_exact_eof();
	test_timeout();
	test_injection(srv_inject, "one write");
	test_injection(srv_inject_late, "arrives after the line");
	test_refuse_breaks();
	test_bulk_write();
	test_sigpipe();
	test_trace();
	test_connect_errors();
	test_unix();
	test_tls_to_plain();
	test_tls();
	return tap_done();
}
