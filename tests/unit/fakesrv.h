/* The scripted fake server the protocol unit tests (SMTP, POP3, IMAP) run
 * against: a forked child accepts one connection on loopback, answers as
 * the test's serve() says, and logs every byte it read (raw) and where
 * each read() began and how long it was (reads), one "offset length" line
 * a read. The parent then checks those logs and the client's trace.
 * Like tap.h, everything here is static to the one test that includes it. */
#ifndef MAILPIPE_FAKESRV_H
#define MAILPIPE_FAKESRV_H

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "session.h"
#include "tap.h"
#include "url.h"

static inline bool has(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

static inline size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; p && (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* Show text as TAP comments when a check failed. */
static inline void diag_unless(bool good, const char *text)
{
	if (good || !text)
		return;
	fputs("# ", stdout);
	for (; *text; text++) {
		if (*text == '\n' && text[1])
			fputs("\n# ", stdout);
		else if (*text != '\r')
			putchar(*text);
	}
	putchar('\n');
}

/* --- the log files, in a temp directory of their own --- */

struct fake_logs {
	char dir[40];
	char raw[64], reads[64];
};

/* tmpl is mkdtemp's, "/tmp/mp-NAME-XXXXXX". */
static inline bool fake_logs_make(struct fake_logs *l, const char *tmpl)
{
	if (snprintf(l->dir, sizeof l->dir, "%s", tmpl) >= (int)sizeof l->dir ||
	    !mkdtemp(l->dir))
		return false;
	snprintf(l->raw, sizeof l->raw, "%s/raw", l->dir);
	snprintf(l->reads, sizeof l->reads, "%s/reads", l->dir);
	return true;
}

/* The directory must hold nothing but raw and reads by now. */
static inline void fake_logs_remove(const struct fake_logs *l)
{
	unlink(l->raw);
	unlink(l->reads);
	rmdir(l->dir);
}

/* --- the child's side --- */

static inline int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t r = write(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static inline int say(int fd, const char *s)
{
	return write_all(fd, s, strlen(s));
}

/* What the child reads from the client, logged as it arrives. buf is the
 * caller's, cap bytes: a line must fit in it. */
struct rd {
	int fd;
	char *buf;
	size_t start, end, cap;
	size_t total;
	FILE *raw, *reads;
};

static inline bool rd_open(struct rd *r, int fd, const struct fake_logs *l,
			   char *buf, size_t cap)
{
	*r = (struct rd){ .fd = fd, .buf = buf, .cap = cap };
	r->raw = fopen(l->raw, "w");
	r->reads = fopen(l->reads, "w");
	return buf && r->raw && r->reads;
}

static inline void rd_close(struct rd *r)
{
	fclose(r->raw);
	fclose(r->reads);
}

/* One read(); false when the client hung up or the buffer is full. */
static inline bool rd_fill(struct rd *r)
{
	ssize_t n;

	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	if (r->end == r->cap)
		return false;
	do
		n = read(r->fd, r->buf + r->end, r->cap - r->end);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return false;
	fwrite(r->buf + r->end, 1, (size_t)n, r->raw);
	fprintf(r->reads, "%zu %zd\n", r->total, n);
	/* The logs hold every byte read even if the child is killed. */
	fflush(r->raw);
	fflush(r->reads);
	r->total += (size_t)n;
	r->end += (size_t)n;
	return true;
}

/* The length of the next line with its LF, once it is all buffered at
 * r->buf + r->start; 0 when the client hung up first. */
static inline size_t rd_next_line(struct rd *r)
{
	for (;;) {
		char *lf = memchr(r->buf + r->start, '\n', r->end - r->start);

		if (lf)
			return (size_t)(lf - (r->buf + r->start)) + 1;
		if (!rd_fill(r))
			return 0;
	}
}

/* The next line without its CRLF, appended to line at *len. */
static inline bool rd_line(struct rd *r, char *line, size_t cap, size_t *len)
{
	size_t next = rd_next_line(r), n;

	if (next == 0)
		return false;
	n = next - 1;
	if (*len + n >= cap)
		return false;
	memcpy(line + *len, r->buf + r->start, n);
	if (n > 0 && line[*len + n - 1] == '\r')
		n--;
	*len += n;
	line[*len] = '\0';
	r->start += next;
	return true;
}

/* --- the parent's side --- */

/* A listening socket on a free loopback port (*port). */
static inline int fake_listen(unsigned *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
	    listen(lfd, 4) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &len) < 0) {
		perror("listen");
		exit(2);
	}
	*port = ntohs(sin.sin_port);
	return lfd;
}

/* Fork a child that accepts one connection on lfd (TCP or a unix socket;
 * the parent's copy is closed) and exits with serve(fd, arg), killed
 * after limit_s seconds at the latest. */
static inline pid_t spawn_on(int lfd, int (*serve)(int fd, const void *arg),
			     const void *arg, unsigned limit_s)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		int fd;

		signal(SIGPIPE, SIG_IGN);
		alarm(limit_s);  /* never outlive a stuck test */
		fd = accept(lfd, NULL, NULL);
		close(lfd);
		/* Replies go out in pieces; no Nagle stalls between them
		 * (a unix socket just refuses the option). */
		if (fd >= 0)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
				   sizeof(int));
		_exit(fd < 0 ? 99 : serve(fd, arg));
	}
	close(lfd);
	return pid;
}

/* spawn_on a fresh loopback port; *port is where it listens. */
static inline pid_t spawn(int (*serve)(int fd, const void *arg),
			  const void *arg, unsigned limit_s, unsigned *port)
{
	return spawn_on(fake_listen(port), serve, arg, limit_s);
}

/* The child's exit status (100 + the signal if one ended it), or -1 if it
 * had to be killed after limit_s seconds. */
static inline int reap(pid_t pid, unsigned limit_s)
{
	int status;

	for (unsigned i = 0; i < limit_s * 100; i++) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status)
						 : 100 + WTERMSIG(status);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/* Aim so at the fake on port: scheme, no TLS, the trace into trace. False,
 * with a failed check, if the URL does not parse. */
static inline bool fake_server_opts(struct server_opts *so, const char *scheme,
				    unsigned port, unsigned timeout_ms,
				    FILE *trace)
{
	struct mp_error err = { 0 };
	char url[64];

	snprintf(url, sizeof url, "%s://127.0.0.1:%u", scheme, port);
	if (url_parse(url, &so->url, &err) != MP_OK) {
		ok(0, "parse %s: %s", url, err.msg);
		return false;
	}
	so->tls = TLS_MODE_NONE;
	so->conn.timeout_ms = timeout_ms;
	so->conn.trace = trace;
	return true;
}

/* A whole file, NUL-terminated (empty if it cannot be read); the caller
 * frees it. *len, if asked for, is its size. */
static inline char *slurp(const char *path, size_t *len)
{
	char *s = tap_slurp(path, len);

	return s ? s : calloc(1, 1);   /* a log never written reads empty */
}

/* --- one case, client side --- */

/* A fake child serving one connection, the client's protocol trace, and,
 * after fake_run_end, the child's status; after fake_run_logs, its logs. */
struct fake_run {
	struct server_opts so;       /* aimed at the fake */
	pid_t pid;
	FILE *trace;
	char *trace_buf;
	size_t trace_size;
	char *raw, *reads;           /* what the child read, and how */
	size_t raw_len;
	int child;                   /* the child's exit status */
};

/* Start a child that runs serve(fd, arg) for at most limit_s seconds and
 * aim x->so at it. False, with a failed check, if that cannot be done. */
static inline bool fake_run_start(struct fake_run *x,
				  int (*serve)(int fd, const void *arg),
				  const void *arg, unsigned limit_s,
				  const char *scheme, unsigned timeout_ms)
{
	unsigned port;

	memset(x, 0, sizeof *x);
	x->pid = spawn(serve, arg, limit_s, &port);
	x->trace = open_memstream(&x->trace_buf, &x->trace_size);
	return fake_server_opts(&x->so, scheme, port, timeout_ms, x->trace);
}

/* Once the client closed: reap the child and end the trace. */
static inline void fake_run_end(struct fake_run *x, unsigned limit_s)
{
	x->child = reap(x->pid, limit_s);
	if (x->trace)
		fclose(x->trace);
	x->trace = NULL;
}

/* What the ended child read, and how. */
static inline void fake_run_logs(struct fake_run *x, const struct fake_logs *l)
{
	x->raw = slurp(l->raw, &x->raw_len);
	x->reads = slurp(l->reads, NULL);
}

static inline void fake_run_free(struct fake_run *x)
{
	free(x->trace_buf);
	free(x->raw);
	free(x->reads);
}

/* Which read() (0-based) in a reads log brought the byte at off, or -1. */
static inline long read_index(const char *reads, size_t off)
{
	size_t start, len;
	long i = 0;

	for (const char *p = reads; p && *p; i++) {
		if (sscanf(p, "%zu %zu", &start, &len) != 2)
			break;
		if (off >= start && off < start + len)
			return i;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

/* Did the first occurrences of a and b in raw arrive in the same read()? */
static inline bool same_read(const char *raw, const char *reads,
			     const char *a, const char *b)
{
	const char *pa = strstr(raw, a), *pb = strstr(raw, b);
	long ia;

	if (!pa || !pb)
		return false;
	ia = read_index(reads, (size_t)(pa - raw));
	return ia >= 0 && ia == read_index(reads, (size_t)(pb - raw));
}

#endif
