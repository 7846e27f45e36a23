/* struct conn: sockets, timeouts, capped buffers and the protocol trace.
 *
 * The read buffer holds at most max_line + READ_SLACK bytes and is compacted
 * in place, so memory never grows with what the server sends. The write
 * buffer collects commands and message bodies and goes out in large writes.
 * Every wait on the socket goes through poll() with the connection timeout;
 * the socket stays blocking but each send/recv is MSG_DONTWAIT so a partial
 * write can never block past the timeout. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "error.h"
#include "strutil.h"
#include "tls.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0  /* then SO_NOSIGPIPE is set on the socket */
#endif

enum {
	DEFAULT_TIMEOUT_MS = 60 * 1000,
	DEFAULT_MAX_LINE = 64 * 1024,
	READ_SLACK = 16 * 1024,        /* room to read past a full line */
	WRITE_BUF = 64 * 1024,
	DIRECT_READ_MIN = 16 * 1024,   /* read_exact bypasses the buffer above this */
};
/* A line cap beyond this is a caller bug; keeps the buffer size sane. */
#define MAX_LINE_LIMIT ((size_t)64 * 1024 * 1024)

struct conn {
	int fd;
	bool is_unix;
	bool broken;          /* a failed read, write or handshake: unusable */
	bool received;        /* the server has sent something */
	char *host;           /* for TLS (SNI, host check); NULL for unix */
	char *peer;           /* "host:port" or the socket path, for messages */
	FILE *trace;
	bool trace_paused;    /* conn_read_line does not trace (bodies) */
	const struct tls_opts *tls_opts;
	unsigned timeout_ms;
	size_t max_line;
	struct tls *tls;

	char *rbuf;           /* rcap bytes plus one spare */
	size_t rcap, rstart, rend;
	size_t rscan;         /* bytes after rstart already searched for LF */

	char *wbuf;
	size_t wcap, wlen;
};

/* --- waiting and errors --- */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int conn_wait_fd(int fd, short events, unsigned timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;

	for (;;) {
		long long left = deadline - now_ms();
		struct pollfd p = { .fd = fd, .events = events };
		int r;

		if (left < 0)
			left = 0;
		if (left > INT_MAX)
			left = INT_MAX;
		r = poll(&p, 1, (int)left);
		if (r > 0)
			return 1;  /* readable, writable, or an error to collect */
		if (r == 0) {
			if (now_ms() >= deadline)
				return 0;
			continue;
		}
		if (errno != EINTR)
			return -1;
	}
}

const char *conn_duration(char buf[24], unsigned ms)
{
	if (ms % 1000 == 0)
		snprintf(buf, 24, "%u s", ms / 1000);
	else
		snprintf(buf, 24, "%u ms", ms);
	return buf;
}

static enum mp_status timeout_error(struct conn *c, const char *doing,
				    struct mp_error *err)
{
	char d[24];

	c->broken = true;
	return mp_fail(err, MP_ERR_TEMP, "timed out after %s %s %s",
		       conn_duration(d, c->timeout_ms), doing, c->peer);
}

static enum mp_status closed_error(struct conn *c, struct mp_error *err)
{
	c->broken = true;
	return mp_fail(err, MP_ERR_TEMP, "connection closed by server");
}

static enum mp_status check_usable(const struct conn *c, struct mp_error *err)
{
	if (!c)
		return mp_fail(err, MP_ERR_INTERNAL, "no connection");
	if (c->broken)
		return mp_fail(err, MP_ERR_INTERNAL,
			       "connection to %s used after an earlier failure",
			       c->peer);
	return MP_OK;
}

/* --- trace --- */

/* Write s[0..n) with anything but printable ASCII shown as '?', so a hostile
 * server cannot drive the terminal the trace goes to. */
static void trace_bytes(FILE *f, const char *s, size_t n)
{
	char chunk[256];
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		chunk[k++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
		if (k == sizeof chunk) {
			fwrite(chunk, 1, k, f);
			k = 0;
		}
	}
	if (k)
		fwrite(chunk, 1, k, f);
}

static void trace_line(struct conn *c, const char *prefix, const char *s,
		       size_t n, bool redacted)
{
	if (!c->trace)
		return;
	fputs(prefix, c->trace);
	trace_bytes(c->trace, s, n);
	if (redacted)
		fputs("<redacted>", c->trace);
	fputc('\n', c->trace);
	fflush(c->trace);
}

void conn_trace_pause(struct conn *c, bool paused)
{
	if (c)
		c->trace_paused = paused;
}

void conn_trace_note(struct conn *c, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	if (!c || !c->trace)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof buf)
		n = sizeof buf - 1;
	trace_line(c, "-- ", buf, (size_t)n, false);
}

/* --- connecting --- */

static struct conn *conn_new(int fd, const struct conn_opts *opts)
{
	struct conn *c = mp_xcalloc(1, sizeof *c);

	c->fd = fd;
	c->timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms
						 : DEFAULT_TIMEOUT_MS;
	c->max_line = opts && opts->max_line ? opts->max_line
					     : DEFAULT_MAX_LINE;
	if (c->max_line > MAX_LINE_LIMIT)
		c->max_line = MAX_LINE_LIMIT;
	c->trace = opts ? opts->trace : NULL;
	c->tls_opts = opts ? &opts->tls : NULL;
	/* A full line, its CRLF, and slack so reads stay large. */
	c->rcap = c->max_line + 2 + READ_SLACK;
	c->rbuf = mp_xmalloc(c->rcap + 1);
	c->wcap = WRITE_BUF;
	c->wbuf = mp_xmalloc(c->wcap);
	return c;
}

static void set_cloexec_nosigpipe(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl >= 0)
		fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
#ifdef SO_NOSIGPIPE
	{
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
	}
#endif
}

/* Connect one socket within timeout_ms. Returns the blocking fd, or -1 with
 * errno set (ETIMEDOUT when the timeout ran out). */
static int connect_addr(int family, const struct sockaddr *sa, socklen_t salen,
			unsigned timeout_ms)
{
	int fd, fl, e;

	fd = socket(family, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	set_cloexec_nosigpipe(fd);
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		goto fail;
	if (connect(fd, sa, salen) < 0) {
		int r;
		socklen_t len = sizeof e;

		if (errno != EINPROGRESS && errno != EINTR)
			goto fail;
		r = conn_wait_fd(fd, POLLOUT, timeout_ms);
		if (r == 0) {
			errno = ETIMEDOUT;
			goto fail;
		}
		if (r < 0)
			goto fail;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
			goto fail;
		if (e != 0) {
			errno = e;
			goto fail;
		}
	}
	if (fcntl(fd, F_SETFL, fl) < 0)
		goto fail;
	return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

enum mp_status conn_connect_tcp(struct conn **out, const char *host,
				unsigned port, const struct conn_opts *opts,
				struct mp_error *err)
{
	struct addrinfo hints = { 0 }, *res = NULL, *ai;
	char portstr[16], peer[300];
	unsigned timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms
						       : DEFAULT_TIMEOUT_MS;
	int fd = -1, r, last_errno = 0;
	struct conn *c;

	*out = NULL;
	if (!host || !*host)
		return mp_fail(err, MP_ERR_USAGE, "no server host name given");
	if (port == 0 || port > 65535)
		return mp_fail(err, MP_ERR_USAGE, "invalid port %u for host '%s'",
			       port, host);
	snprintf(portstr, sizeof portstr, "%u", port);
	snprintf(peer, sizeof peer, strchr(host, ':') ? "[%s]:%u" : "%s:%u",
		 host, port);

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	r = getaddrinfo(host, portstr, &hints, &res);
	if (r != 0) {
		const char *why = r == EAI_SYSTEM ? strerror(errno)
						  : gai_strerror(r);
		/* EAI_AGAIN is a resolver outage, not a missing host:
		 * worth retrying later. */
		return mp_fail(err, r == EAI_AGAIN ? MP_ERR_TEMP : MP_ERR_NOHOST,
			       "cannot resolve host '%s': %s", host, why);
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = connect_addr(ai->ai_family, ai->ai_addr, ai->ai_addrlen,
				  timeout_ms);
		if (fd >= 0)
			break;
		last_errno = errno;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		char d[24];

		if (last_errno == ETIMEDOUT)
			return mp_fail(err, MP_ERR_TEMP,
				       "cannot connect to %s: timed out after %s",
				       peer, conn_duration(d, timeout_ms));
		return mp_fail(err, MP_ERR_TEMP, "cannot connect to %s: %s", peer,
			       strerror(last_errno ? last_errno : ECONNREFUSED));
	}
	{
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	c = conn_new(fd, opts);
	c->host = mp_xstrdup(host);
	c->peer = mp_xstrdup(peer);
	*out = c;
	return MP_OK;
}

enum mp_status conn_connect_unix(struct conn **out, const char *path,
				 const struct conn_opts *opts,
				 struct mp_error *err)
{
	struct sockaddr_un sa_un = { 0 };
	unsigned timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms
						       : DEFAULT_TIMEOUT_MS;
	struct conn *c;
	int fd;

	*out = NULL;
	if (!path || !*path)
		return mp_fail(err, MP_ERR_USAGE, "no socket path given");
	if (strlen(path) >= sizeof sa_un.sun_path)
		return mp_fail(err, MP_ERR_USAGE,
			       "socket path '%s' is too long (at most %zu bytes)",
			       path, sizeof sa_un.sun_path - 1);
	sa_un.sun_family = AF_UNIX;
	memcpy(sa_un.sun_path, path, strlen(path) + 1);
	fd = connect_addr(AF_UNIX, (const struct sockaddr *)&sa_un, sizeof sa_un,
			  timeout_ms);
	if (fd < 0)
		return mp_fail(err, MP_ERR_TEMP, "cannot connect to %s: %s", path,
			       strerror(errno));
	c = conn_new(fd, opts);
	c->is_unix = true;
	c->peer = mp_xstrdup(path);
	*out = c;
	return MP_OK;
}

/* --- raw I/O --- */

void conn_quickack(int fd)
{
#ifdef TCP_QUICKACK
	/* The kernel clears the flag again on its own: set it on each read. */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
#else
	(void)fd;
#endif
}

static enum mp_status raw_recv(struct conn *c, void *buf, size_t n,
			       size_t *got, struct mp_error *err)
{
	enum mp_status st;

	if (c->tls) {
		/* GnuTLS serves already-decrypted bytes without touching the
		 * socket; it polls (with our timeout) only when it needs more. */
		st = tls_recv(c->tls, buf, n, got, err);
		if (st != MP_OK)
			c->broken = true;
		return st;
	}
	for (;;) {
		ssize_t r;
		int w = conn_wait_fd(c->fd, POLLIN, c->timeout_ms);

		if (w == 0)
			return timeout_error(c, "waiting for", err);
		if (w < 0)
			break;
		r = recv(c->fd, buf, n, MSG_DONTWAIT);
		if (r >= 0) {
			if (r > 0)
				conn_quickack(c->fd);
			*got = (size_t)r;
			c->received = true;
			return MP_OK;
		}
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			break;
	}
	c->broken = true;
	return mp_fail(err, MP_ERR_TEMP, "cannot read from %s: %s", c->peer,
		       strerror(errno));
}

static enum mp_status raw_send(struct conn *c, const void *buf, size_t n,
			       struct mp_error *err)
{
	const char *p = buf;
	enum mp_status st;

	if (c->tls) {
		st = tls_send(c->tls, buf, n, err);
		if (st != MP_OK)
			c->broken = true;
		return st;
	}
	while (n > 0) {
		ssize_t r;
		int w = conn_wait_fd(c->fd, POLLOUT, c->timeout_ms);

		if (w == 0)
			return timeout_error(c, "sending to", err);
		if (w < 0)
			goto fail;
		r = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			goto fail;
		}
		p += r;
		n -= (size_t)r;
	}
	return MP_OK;
fail:
	c->broken = true;
	if (errno == EPIPE || errno == ECONNRESET)
		return mp_fail(err, MP_ERR_TEMP,
			       "connection closed by server (%s)", strerror(errno));
	return mp_fail(err, MP_ERR_TEMP, "cannot write to %s: %s", c->peer,
		       strerror(errno));
}

/* --- writing --- */

enum mp_status conn_flush(struct conn *c, struct mp_error *err)
{
	enum mp_status st = check_usable(c, err);

	if (st != MP_OK || c->wlen == 0)
		return st;
	st = raw_send(c, c->wbuf, c->wlen, err);
	c->wlen = 0;
	return st;
}

enum mp_status conn_write(struct conn *c, const void *buf, size_t n,
			  struct mp_error *err)
{
	const char *p = buf;
	enum mp_status st = check_usable(c, err);
	size_t room;

	if (st != MP_OK)
		return st;
	room = c->wcap - c->wlen;
	if (n <= room) {
		memcpy(c->wbuf + c->wlen, p, n);
		c->wlen += n;
		return MP_OK;
	}
	/* Top the buffer up so the socket sees full-size writes. */
	memcpy(c->wbuf + c->wlen, p, room);
	c->wlen += room;
	p += room;
	n -= room;
	st = conn_flush(c, err);
	if (st != MP_OK)
		return st;
	if (n >= c->wcap)
		return raw_send(c, p, n, err);
	memcpy(c->wbuf, p, n);
	c->wlen = n;
	return MP_OK;
}

enum mp_status conn_send_line(struct conn *c, const char *line, size_t visible,
			      struct mp_error *err)
{
	enum mp_status st = check_usable(c, err);
	size_t len;

	if (st != MP_OK)
		return st;
	len = strlen(line);
	/* The last guard against command injection from user input. */
	if (mp_has_line_break(line, len))
		return mp_fail(err, MP_ERR_USAGE,
			       "refusing to send a line that contains a CR or LF");
	if (visible >= len)
		trace_line(c, "C: ", line, len, false);
	else
		trace_line(c, "C: ", line, visible, true);
	st = conn_write(c, line, len, err);
	if (st == MP_OK)
		st = conn_write(c, "\r\n", 2, err);
	return st;
}

enum mp_status conn_sendf(struct conn *c, struct mp_error *err,
			  const char *fmt, ...)
{
	char small[512], *s = small;
	va_list ap;
	enum mp_status st;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return mp_fail(err, MP_ERR_INTERNAL, "cannot format a command");
	if ((size_t)n >= sizeof small) {
		s = mp_xmalloc((size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf(s, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	/* vsnprintf stops at an embedded NUL from %c or %.*s; strlen would
	 * hide it, so compare lengths to refuse it too. */
	if (strlen(s) != (size_t)n)
		st = mp_fail(err, MP_ERR_USAGE,
			     "refusing to send a line that contains a NUL byte");
	else
		st = conn_send_line(c, s, CONN_SHOW_ALL, err);
	if (s != small)
		free(s);
	return st;
}

/* --- reading --- */

size_t conn_pending(const struct conn *c)
{
	return c ? c->rend - c->rstart : 0;
}

/* Read more bytes into the buffer, making room first. Queued commands are
 * sent before waiting, so a forgotten conn_flush cannot stall both sides. */
static enum mp_status fill(struct conn *c, struct mp_error *err)
{
	enum mp_status st;
	size_t got;

	if (c->wlen > 0) {
		st = conn_flush(c, err);
		if (st != MP_OK)
			return st;
	}
	if (c->rstart == c->rend) {
		c->rstart = c->rend = 0;
	} else if (c->rstart > 0 && c->rcap - c->rend < READ_SLACK) {
		memmove(c->rbuf, c->rbuf + c->rstart, c->rend - c->rstart);
		c->rend -= c->rstart;
		c->rstart = 0;
	}
	st = raw_recv(c, c->rbuf + c->rend, c->rcap - c->rend, &got, err);
	if (st != MP_OK)
		return st;
	if (got == 0)
		return closed_error(c, err);
	c->rend += got;
	return MP_OK;
}

enum mp_status conn_read_line(struct conn *c, const char **line, size_t *len,
			      struct mp_error *err)
{
	enum mp_status st = check_usable(c, err);

	if (st != MP_OK)
		return st;
	for (;;) {
		char *s = c->rbuf + c->rstart;
		size_t have = c->rend - c->rstart;
		char *lf = memchr(s + c->rscan, '\n', have - c->rscan);

		if (lf) {
			size_t n = (size_t)(lf - s);

			c->rstart += n + 1;
			c->rscan = 0;
			if (n > 0 && s[n - 1] == '\r')
				n--;
			if (n > c->max_line)
				break;
			s[n] = '\0';
			if (!c->trace_paused)
				trace_line(c, "S: ", s, n, false);
			*line = s;
			*len = n;
			return MP_OK;
		}
		c->rscan = have;
		/* Even a CR as the last byte cannot save a line this long. */
		if (have > c->max_line + 1)
			break;
		st = fill(c, err);
		if (st != MP_OK)
			return st;
	}
	c->broken = true;
	return mp_fail(err, MP_ERR_PROTOCOL,
		       "server sent a line longer than %zu bytes", c->max_line);
}

enum mp_status conn_read_piece(struct conn *c, const char **data, size_t *len,
			       bool *line_end, struct mp_error *err)
{
	enum mp_status st = check_usable(c, err);

	if (st != MP_OK)
		return st;
	for (;;) {
		char *s = c->rbuf + c->rstart;
		size_t have = c->rend - c->rstart, n = have;
		char *lf = memchr(s + c->rscan, '\n', have - c->rscan);

		/* Past max_line + 1 bytes conn_read_line would give up; a
		 * piece hands them over instead, so the buffer never grows. */
		if (lf || have > c->max_line + 1) {
			if (lf)
				n = (size_t)(lf - s) + 1;
			c->rstart += n;
			c->rscan = 0;
			if (c->trace && !c->trace_paused) {
				size_t shown = n;

				if (lf && --shown > 0 && s[shown - 1] == '\r')
					shown--;
				trace_line(c, "S: ", s, shown, false);
			}
			*data = s;
			*len = n;
			*line_end = lf != NULL;
			return MP_OK;
		}
		c->rscan = have;
		st = fill(c, err);
		if (st != MP_OK)
			return st;
	}
}

enum mp_status conn_read_exact(struct conn *c, void *buf, size_t n,
			       struct mp_error *err)
{
	char *p = buf;
	enum mp_status st = check_usable(c, err);

	if (st != MP_OK)
		return st;
	while (n > 0) {
		size_t have = c->rend - c->rstart, got;

		if (have > 0) {
			size_t k = have < n ? have : n;

			memcpy(p, c->rbuf + c->rstart, k);
			c->rstart += k;
			c->rscan = 0;
			p += k;
			n -= k;
			continue;
		}
		if (n < DIRECT_READ_MIN) {
			/* Small remainders go through the buffer so the line
			 * after them usually arrives in the same read. */
			st = fill(c, err);
			if (st != MP_OK)
				return st;
			continue;
		}
		if (c->wlen > 0) {
			st = conn_flush(c, err);
			if (st != MP_OK)
				return st;
		}
		st = raw_recv(c, p, n, &got, err);
		if (st != MP_OK)
			return st;
		if (got == 0)
			return closed_error(c, err);
		p += got;
		n -= got;
	}
	return MP_OK;
}

/* --- TLS --- */

enum mp_status conn_start_tls(struct conn *c, struct mp_error *err)
{
	static const struct tls_opts defaults = { 0 };
	enum mp_status st = check_usable(c, err);
	char b;

	if (st != MP_OK)
		return st;
	/* Anything the server sent after its go-ahead and before our
	 * ClientHello would later pass for a reply protected by TLS. Look in
	 * the buffer and, after a STARTTLS exchange, in the socket too. (For
	 * implicit TLS nothing was read yet; a server talking in clear there
	 * fails the handshake instead.) */
	if (c->rend > c->rstart ||
	    (!c->tls && c->received &&
	     recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0)) {
		c->broken = true;
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "server sent data after the STARTTLS go-ahead "
			       "(possible response injection); aborting");
	}
	if (c->tls)
		return mp_fail(err, MP_ERR_USAGE,
			       "TLS is already active on this connection");
	if (c->is_unix)
		return mp_fail(err, MP_ERR_USAGE,
			       "TLS over a unix socket is not supported");
	if (c->wlen > 0)
		return mp_fail(err, MP_ERR_INTERNAL,
			       "commands still queued when starting TLS");
	st = tls_start(&c->tls, c->fd, c->host, c->peer, c->timeout_ms,
		       c->tls_opts ? c->tls_opts : &defaults, err);
	if (st != MP_OK) {
		c->broken = true;
		return st;
	}
	if (c->trace) {
		struct tls_info info;
		tls_describe(c->tls, &info);
		conn_trace_note(c, "TLS started: %s, %s, certificate %s", info.version,
				info.cipher, info.verified ? "verified" : "NOT verified");
	}
	return MP_OK;
}

bool conn_is_secure(const struct conn *c)
{
	return c && (c->tls || c->is_unix);
}

enum mp_status conn_tls_info(const struct conn *c, struct tls_info *info)
{
	memset(info, 0, sizeof *info);
	if (!c || !c->tls)
		return MP_ERR_USAGE;
	tls_describe(c->tls, info);
	return MP_OK;
}

void conn_close(struct conn *c)
{
	if (!c)
		return;
	if (c->tls && c->broken)
		tls_abandon(c->tls);
	tls_free(c->tls);
	if (c->fd >= 0)
		close(c->fd);
	/* The buffers may have held credentials (AUTH lines). */
	mp_wipe(c->wbuf, c->wcap);
	mp_wipe(c->rbuf, c->rcap + 1);
	free(c->wbuf);
	free(c->rbuf);
	free(c->host);
	free(c->peer);
	free(c);
}
