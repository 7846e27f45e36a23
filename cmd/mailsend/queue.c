/* mailsend's queue: what cannot be sent now waits in a Maildir under
 * $XDG_STATE_HOME/mailpipe/queue until mailsend -q sends it; what a server
 * refuses for good is kept in $XDG_STATE_HOME/mailpipe/dead.letter.
 *
 * A queue file (in new/, its name is the queue id) is the envelope, an
 * empty line, then the message exactly as it was to be sent:
 *
 *   X-Mailpipe-Account: work             the account (absent: none)
 *   X-Mailpipe-Server: smtp://me@host    where it was to go (absent: unknown)
 *   X-Mailpipe-From: <me@example.org>    envelope sender, <> for the null one
 *   X-Mailpipe-To: <you@example.net>     one line per recipient
 *   X-Mailpipe-Queued: 1700000000        Unix time
 *   X-Mailpipe-Reason: why it waits      one line
 *
 * Envelope lines end in LF; unknown ones are ignored when read back.
 *
 * A flush sends each message with the settings of the account it was
 * queued under (whatever -a the flush itself has), so a fixed config
 * applies to what waits. Its server is, first to last: --server on the -q
 * command line, the account's server in the config now, the server
 * recorded in the file (so a message queued with only --server still knows
 * where to go), the config's defaults. Messages are grouped by (account,
 * recorded server) and each group shares one session. DSN options are not
 * recorded: a flush uses its own.
 *
 * Exit status of -q: 0 when everything was sent (or the queue is empty);
 * for a message refused for good (now in dead.letter) that refusal's code
 * (69, 67, 65); else for a message kept because of a local or session
 * problem that problem's code (77 auth, 78 config, ...). Messages that
 * are only deferred (network down, 4xx) are not a failure of the flush:
 * they wait for the next one, exit 0, as with sendmail -q, so a cron job
 * flushing while offline does not mail its own complaint every run. */
#include "mailsend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sbuf.h"
#include "strutil.h"

#define PATH_SIZE 4096
#define ENVELOPE_MAX (4u << 20)     /* a queue file's envelope block */
#define REASON_MAX 400
#define TMP_MAX_AGE (36 * 3600)     /* the Maildir convention for tmp/ */
#define DOTLOCK_STALE 300

/* One queue file's envelope; every string owned. */
struct qenv {
	char *account;       /* "" when none */
	char *server;        /* "" when unknown */
	char *from;          /* "" for <> */
	struct strlist rcpts;
	long long queued;
	char *reason;
};

static void qenv_free(struct qenv *e)
{
	free(e->account);
	free(e->server);
	free(e->from);
	strlist_clear(&e->rcpts);
	free(e->rcpts.v);
	free(e->reason);
	memset(e, 0, sizeof *e);
}

/* --- small file helpers --- */

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Copy src from offset off to its end onto dst. Returns 0 or an errno. */
static int copy_from(int src, off_t off, int dst)
{
	char *buf = mp_xmalloc(65536);
	int e = 0;
	for (;;) {
		ssize_t n = pread(src, buf, 65536, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			break;
		}
		if (n == 0)
			break;
		if ((e = write_all(dst, buf, (size_t)n)) != 0)
			break;
		off += n;
	}
	free(buf);
	return e;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	int e = fsync(fd) < 0 ? errno : 0;
	close(fd);
	return e;
}

static bool path_join(char *out, const char *a, const char *b, const char *c)
{
	int n = c ? snprintf(out, PATH_SIZE, "%s/%s/%s", a, b, c)
		  : snprintf(out, PATH_SIZE, "%s/%s", a, b);
	return n > 0 && n < PATH_SIZE;
}

/* The queue directory; with create, also its tmp/ new/ cur/ (mode 700). */
static enum mp_status queue_dir(char *qdir, bool create, struct mp_error *err)
{
	enum mp_status st = cli_state_path("queue", qdir, PATH_SIZE, err);
	if (st != MP_OK || !create)
		return st;
	static const char *const subs[] = { "", "tmp", "new", "cur" };
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
		char p[PATH_SIZE];
		if (!path_join(p, qdir, subs[i], NULL))
			return mp_fail(err, MP_ERR_CONFIG, "queue path too long");
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			return mp_fail(err, MP_ERR_IO, "cannot create %s: %s", p,
				       strerror(errno));
	}
	return MP_OK;
}

/* A name no other writer picks: time, microseconds, pid, a counter, random
 * bits and the host (Maildir style, with '/' and ':' kept out). */
static void unique_name(char *out, size_t size)
{
	static unsigned counter;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint32_t rnd;
	if (getentropy(&rnd, sizeof rnd) != 0)
		rnd = (uint32_t)ts.tv_nsec ^ ((uint32_t)getpid() << 16);
	char host[256];
	if (gethostname(host, sizeof host) != 0)
		mp_strlcpy(host, "localhost", sizeof host);
	host[sizeof host - 1] = '\0';
	for (char *p = host; *p; p++)
		if (*p == '/' || *p == ':' || (unsigned char)*p <= ' ')
			*p = '_';
	snprintf(out, size, "%lld.M%06ldP%ldQ%uR%08x.%s", (long long)ts.tv_sec,
		 ts.tv_nsec / 1000, (long)getpid(), ++counter, (unsigned)rnd, host);
}

/* One printable line of at most REASON_MAX bytes. */
static char *clean_reason(const char *reason)
{
	if (!reason || !*reason)
		reason = "no reason given";
	size_t n = strlen(reason);
	if (n > REASON_MAX)
		n = REASON_MAX;
	char *r = mp_xmalloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)reason[i];
		r[i] = c < ' ' || c == 0x7f ? ' ' : (char)c;
	}
	r[n] = '\0';
	return r;
}

/* --- the envelope block --- */

static void envelope_format(const struct qenv *e, struct sbuf *b)
{
	char line[64];
	if (e->account[0]) {
		sbuf_adds(b, "X-Mailpipe-Account: ");
		sbuf_adds(b, e->account);
		sbuf_addc(b, '\n');
	}
	if (e->server[0]) {
		sbuf_adds(b, "X-Mailpipe-Server: ");
		sbuf_adds(b, e->server);
		sbuf_addc(b, '\n');
	}
	sbuf_adds(b, "X-Mailpipe-From: <");
	sbuf_adds(b, e->from);
	sbuf_adds(b, ">\n");
	for (size_t i = 0; i < e->rcpts.n; i++) {
		sbuf_adds(b, "X-Mailpipe-To: <");
		sbuf_adds(b, e->rcpts.v[i]);
		sbuf_adds(b, ">\n");
	}
	snprintf(line, sizeof line, "X-Mailpipe-Queued: %lld\n", e->queued);
	sbuf_adds(b, line);
	sbuf_adds(b, "X-Mailpipe-Reason: ");
	sbuf_adds(b, e->reason);
	sbuf_adds(b, "\n\n");
}

/* "<addr>" -> "addr" (a bare value is taken as it is) */
static char *addr_value(const char *v)
{
	size_t n = strlen(v);
	if (n >= 2 && v[0] == '<' && v[n - 1] == '>') {
		char *a = mp_xmalloc(n - 1);
		memcpy(a, v + 1, n - 2);
		a[n - 2] = '\0';
		return a;
	}
	return mp_xstrdup(v);
}

static void parse_line(struct qenv *e, const char *line)
{
	const char *v;
	char **slot = NULL;
	if ((v = mp_skip_prefix(line, "X-Mailpipe-Account:")))
		slot = &e->account;
	else if ((v = mp_skip_prefix(line, "X-Mailpipe-Server:")))
		slot = &e->server;
	else if ((v = mp_skip_prefix(line, "X-Mailpipe-Reason:")))
		slot = &e->reason;
	else if ((v = mp_skip_prefix(line, "X-Mailpipe-From:"))) {
		while (*v == ' ' || *v == '\t')
			v++;
		free(e->from);
		e->from = addr_value(v);
		return;
	} else if ((v = mp_skip_prefix(line, "X-Mailpipe-To:"))) {
		while (*v == ' ' || *v == '\t')
			v++;
		char *a = addr_value(v);
		if (*a)
			strlist_add(&e->rcpts, a);
		free(a);
		return;
	} else if ((v = mp_skip_prefix(line, "X-Mailpipe-Queued:"))) {
		e->queued = strtoll(v, NULL, 10);
		return;
	} else {
		return;   /* unknown: from a later version */
	}
	while (*v == ' ' || *v == '\t')
		v++;
	free(*slot);
	*slot = mp_xstrdup(v);
}

/* Read the envelope of queue file fd (named id); *body_off gets where the
 * message starts. */
static enum mp_status envelope_read(int fd, const char *id, struct qenv *e,
				    off_t *body_off, struct mp_error *err)
{
	struct sbuf b = { 0 };
	char *chunk = mp_xmalloc(65536);
	size_t end = 0;   /* length of the block with its final LF */
	bool found = false;
	enum mp_status st = MP_OK;
	memset(e, 0, sizeof *e);
	while (!found) {
		ssize_t n = pread(fd, chunk, 65536, (off_t)b.n);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			st = mp_fail(err, MP_ERR_IO, "cannot read queue file %s: %s",
				     id, strerror(errno));
			break;
		}
		if (n == 0) {
			st = mp_fail(err, MP_ERR_DATA,
				     "queue file %s has no end of envelope", id);
			break;
		}
		size_t from = b.n ? b.n - 1 : 0;
		sbuf_add(&b, chunk, (size_t)n);
		for (size_t i = from; i + 1 < b.n; i++) {
			if (b.p[i] == '\n' && b.p[i + 1] == '\n') {
				end = i + 1;
				found = true;
				break;
			}
		}
		if (!found && b.n > ENVELOPE_MAX) {
			st = mp_fail(err, MP_ERR_DATA,
				     "queue file %s: envelope over %u bytes", id,
				     ENVELOPE_MAX);
			break;
		}
	}
	free(chunk);
	if (st != MP_OK) {
		sbuf_free(&b);
		return st;
	}
	b.p[end] = '\0';
	for (char *line = b.p; *line;) {
		char *nl = strchr(line, '\n');
		*nl = '\0';
		if (nl > line && nl[-1] == '\r')
			nl[-1] = '\0';
		parse_line(e, line);
		line = nl + 1;
	}
	sbuf_free(&b);
	if (!e->account)
		e->account = mp_xstrdup("");
	if (!e->server)
		e->server = mp_xstrdup("");
	if (!e->reason)
		e->reason = mp_xstrdup("");
	if (!e->from || e->rcpts.n == 0) {
		qenv_free(e);
		return mp_fail(err, MP_ERR_DATA,
			       "%s is not a mailsend queue file (no sender or recipients)",
			       id);
	}
	*body_off = (off_t)end + 1;
	return MP_OK;
}

/* Write tmp_path: the envelope, then src from off to its end; fsync and
 * close. On failure tmp_path is removed. */
static enum mp_status write_queue_file(const char *tmp_path, bool exclusive,
				       const struct qenv *e, int src, off_t off,
				       struct mp_error *err)
{
	int fd = open(tmp_path, O_WRONLY | O_CREAT | O_CLOEXEC |
		      (exclusive ? O_EXCL : O_TRUNC), 0600);
	if (fd < 0)
		return mp_fail(err, MP_ERR_IO, "cannot create %s: %s", tmp_path,
			       strerror(errno));
	struct sbuf b = { 0 };
	envelope_format(e, &b);
	int er = write_all(fd, b.p, b.n);
	sbuf_free(&b);
	if (!er)
		er = copy_from(src, off, fd);
	if (!er && fsync(fd) < 0)
		er = errno;
	if (close(fd) < 0 && !er)
		er = errno;
	if (er) {
		unlink(tmp_path);
		return mp_fail(err, MP_ERR_IO, "cannot write %s: %s", tmp_path,
			       strerror(er));
	}
	return MP_OK;
}

static bool has_break(const char *s)
{
	return mp_has_line_break(s, strlen(s));
}

enum mp_status queue_store(const struct cli *cli, const struct outgoing *msg,
			   const char *reason, struct mp_error *err)
{
	if (msg->has_nul)
		return mp_fail(err, MP_ERR_DATA,
			       "the message holds a NUL byte, so it can never be sent; not queued");
	if (msg->rcpts.n == 0)
		return mp_fail(err, MP_ERR_USAGE, "no recipients: nothing to queue");
	const char *server = cli_get(cli, "server");
	struct qenv e = {
		.account = mp_xstrdup(cli->account ? cli->account : ""),
		.server = mp_xstrdup(server ? server : ""),
		.from = mp_xstrdup(msg->from ? msg->from : ""),
		.queued = (long long)time(NULL),
		.reason = clean_reason(reason),
	};
	enum mp_status st = MP_OK;
	bool bad = has_break(e.account) || has_break(e.server) || has_break(e.from);
	for (size_t i = 0; i < msg->rcpts.n; i++) {
		bad |= has_break(msg->rcpts.v[i]);
		strlist_add(&e.rcpts, msg->rcpts.v[i]);
	}
	char qdir[PATH_SIZE], name[512], tmp[PATH_SIZE], dst[PATH_SIZE], newdir[PATH_SIZE];
	if (bad) {
		st = mp_fail(err, MP_ERR_USAGE,
			     "a line break in the envelope or account; not queued");
		goto out;
	}
	if ((st = queue_dir(qdir, true, err)) != MP_OK)
		goto out;
	if (!path_join(newdir, qdir, "new", NULL)) {
		st = mp_fail(err, MP_ERR_CONFIG, "queue path too long");
		goto out;
	}
	for (int attempt = 0;; attempt++) {
		unique_name(name, sizeof name);
		if (!path_join(tmp, qdir, "tmp", name) || !path_join(dst, qdir, "new", name)) {
			st = mp_fail(err, MP_ERR_CONFIG, "queue path too long");
			goto out;
		}
		st = write_queue_file(tmp, true, &e, msg->fd, 0, err);
		if (st == MP_OK || attempt == 3 || access(tmp, F_OK) != 0)
			break;
	}
	if (st != MP_OK)
		goto out;
	if (rename(tmp, dst) < 0) {
		st = mp_fail(err, MP_ERR_IO, "cannot move %s into the queue: %s", tmp,
			     strerror(errno));
		unlink(tmp);
		goto out;
	}
	int er = fsync_dir(newdir);
	if (er) {
		/* Not durable: take it back, so the caller's failure is true. */
		unlink(dst);
		st = mp_fail(err, MP_ERR_IO, "cannot sync %s: %s", newdir, strerror(er));
		goto out;
	}
	if (!cli->quiet)
		fprintf(stderr, "%s: queued for later (%s); run %s -q to send\n",
			cli->prog, e.reason, cli->prog);
out:
	qenv_free(&e);
	return st;
}

/* --- listing --- */

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The file names in dir (no dot files), sorted; a missing dir is empty. */
static enum mp_status list_dir(const char *dir, struct strlist *names,
			       struct mp_error *err)
{
	DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return MP_OK;
		return mp_fail(err, MP_ERR_IO, "cannot read %s: %s", dir,
			       strerror(errno));
	}
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.')
			strlist_add(names, de->d_name);
		errno = 0;
	}
	int er = errno;
	closedir(d);
	if (er)
		return mp_fail(err, MP_ERR_IO, "cannot read %s: %s", dir, strerror(er));
	if (names->n > 1)
		qsort(names->v, names->n, sizeof *names->v, cmp_names);
	return MP_OK;
}

static void format_time(long long t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!localtime_r(&tt, &tm) || !strftime(out, size, "%Y-%m-%d %H:%M:%S %z", &tm))
		snprintf(out, size, "%lld", t);
}

enum mp_status queue_list(const struct cli *cli, struct mp_error *err)
{
	char qdir[PATH_SIZE], newdir[PATH_SIZE], path[PATH_SIZE];
	enum mp_status st = queue_dir(qdir, false, err);
	if (st != MP_OK)
		return st;
	if (!path_join(newdir, qdir, "new", NULL))
		return mp_fail(err, MP_ERR_CONFIG, "queue path too long");
	struct strlist names = { 0 };
	if ((st = list_dir(newdir, &names, err)) != MP_OK)
		goto out;
	size_t count = 0;
	long long total = 0;
	for (size_t i = 0; i < names.n; i++) {
		if (!path_join(path, newdir, names.v[i], NULL))
			continue;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;   /* sent meanwhile */
		struct qenv e;
		struct mp_error why = { 0 };
		off_t body = 0;
		struct stat sb;
		count++;
		if (envelope_read(fd, names.v[i], &e, &body, &why) != MP_OK ||
		    fstat(fd, &sb) < 0) {
			close(fd);
			printf("%s\n  (unreadable: %s)\n\n", names.v[i],
			       why.msg[0] ? why.msg : strerror(errno));
			continue;
		}
		close(fd);
		long long size = (long long)(sb.st_size - body);
		char when[64];
		format_time(e.queued, when, sizeof when);
		total += size;
		printf("%s\n  size     %lld bytes\n  queued   %s\n", names.v[i], size, when);
		if (e.account[0])
			printf("  account  %s\n", e.account);
		if (e.server[0])
			printf("  server   %s\n", e.server);
		printf("  from     <%s>\n", e.from);
		for (size_t k = 0; k < e.rcpts.n; k++)
			printf("  to       <%s>\n", e.rcpts.v[k]);
		printf("  reason   %s\n\n", e.reason);
		qenv_free(&e);
	}
	if (count == 0)
		printf("Mail queue is empty\n");
	else
		printf("-- %zu message%s, %lld bytes\n", count, count == 1 ? "" : "s", total);
	if (fflush(stdout) != 0 || ferror(stdout))
		st = mp_fail(err, MP_ERR_IO, "cannot write the queue listing: %s",
			     strerror(errno));
out:
	strlist_clear(&names);
	free(names.v);
	(void)cli;
	return st;
}

/* --- the dead letter file (mboxrd) --- */

/* Buffered output with mboxrd quoting: CRLF becomes LF (mbox is a Unix
 * text file) and a line matching ^>*From  gets one more '>'. */
struct mbox_out {
	int fd;
	int error;         /* the first errno */
	size_t n;
	bool in_prefix;    /* at a line start, still deciding on quoting */
	size_t ngt;        /* '>' seen in the prefix */
	size_t matched;    /* bytes of "From " matched after them */
	bool pending_cr;
	char last;         /* the last byte emitted */
	char buf[65536];
};

static void mo_flush(struct mbox_out *o)
{
	if (o->n && !o->error)
		o->error = write_all(o->fd, o->buf, o->n);
	o->n = 0;
}

static void mo_emit(struct mbox_out *o, char c)
{
	if (o->n == sizeof o->buf)
		mo_flush(o);
	o->buf[o->n++] = c;
	o->last = c;
}

/* Emit what the prefix held back. */
static void mo_release(struct mbox_out *o)
{
	for (; o->ngt; o->ngt--)
		mo_emit(o, '>');
	for (size_t i = 0; i < o->matched; i++)
		mo_emit(o, "From "[i]);
	o->matched = 0;
	o->in_prefix = false;
}

static void mo_line_byte(struct mbox_out *o, char c)
{
	if (o->in_prefix) {
		if (o->matched == 0 && c == '>') {
			o->ngt++;
			return;
		}
		if (c == "From "[o->matched]) {
			if (++o->matched == 5) {
				mo_emit(o, '>');
				mo_release(o);
			}
			return;
		}
		mo_release(o);
	}
	mo_emit(o, c);
	if (c == '\n')
		o->in_prefix = true;
}

static void mo_byte(struct mbox_out *o, char c)
{
	if (o->pending_cr) {
		o->pending_cr = false;
		if (c == '\n') {
			mo_line_byte(o, '\n');
			return;
		}
		mo_line_byte(o, '\r');
	}
	if (c == '\r')
		o->pending_cr = true;
	else
		mo_line_byte(o, c);
}

static void mo_end(struct mbox_out *o)
{
	if (o->pending_cr) {
		o->pending_cr = false;
		mo_line_byte(o, '\r');
	}
	if (o->in_prefix)
		mo_release(o);
	if (o->last != '\n')
		mo_emit(o, '\n');
	mo_emit(o, '\n');
	mo_flush(o);
}

/* mbox's From_ line date, in English whatever the locale. */
static void from_line(char *out, size_t size)
{
	static const char days[][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t now = time(NULL);
	struct tm tm;
	if (!gmtime_r(&now, &tm))
		memset(&tm, 0, sizeof tm);
	snprintf(out, size, "From MAILER-DAEMON %s %s %2d %02d:%02d:%02d %d\n",
		 days[tm.tm_wday % 7], months[tm.tm_mon % 12], tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_year + 1900);
}

static enum mp_status dotlock(const char *lock, struct mp_error *err)
{
	for (int tries = 0; tries < 100; tries++) {
		int fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			close(fd);
			return MP_OK;
		}
		if (errno != EEXIST)
			return mp_fail(err, MP_ERR_IO, "cannot create %s: %s", lock,
				       strerror(errno));
		struct stat sb;
		if (stat(lock, &sb) == 0 && time(NULL) - sb.st_mtime > DOTLOCK_STALE) {
			unlink(lock);
			continue;
		}
		struct timespec pause = { 0, 100 * 1000 * 1000 };
		nanosleep(&pause, NULL);
	}
	return mp_fail(err, MP_ERR_TEMP, "%s is held by another program", lock);
}

/* Append msg to the dead letter file under fcntl lock and dotlock; fsync;
 * cut back to the old size on a write error. path gets the file's name. */
static enum mp_status dead_letter_append(const struct outgoing *msg, char *path,
					 struct mp_error *err)
{
	char lock[PATH_SIZE];
	enum mp_status st = cli_state_path("dead.letter", path, PATH_SIZE, err);
	if (st != MP_OK)
		return st;
	if (snprintf(lock, sizeof lock, "%s.lock", path) >= (int)sizeof lock)
		return mp_fail(err, MP_ERR_CONFIG, "dead letter path too long");
	if ((st = dotlock(lock, err)) != MP_OK)
		return st;
	int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		st = mp_fail(err, MP_ERR_IO, "cannot open %s: %s", path, strerror(errno));
		unlink(lock);
		return st;
	}
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	struct stat sb;
	int er = 0;
	while (fcntl(fd, F_SETLKW, &fl) < 0) {
		if (errno != EINTR) {
			er = errno;
			break;
		}
	}
	if (!er && fstat(fd, &sb) < 0)
		er = errno;
	if (er) {
		close(fd);
		unlink(lock);
		return mp_fail(err, MP_ERR_IO, "cannot lock %s: %s", path, strerror(er));
	}
	struct mbox_out *o = mp_xcalloc(1, sizeof *o);
	o->fd = fd;
	/* A From_ line needs an empty line before it. */
	char tail[2] = { '\n', '\n' };
	if (sb.st_size >= 2 && pread(fd, tail, 2, sb.st_size - 2) != 2)
		tail[0] = tail[1] = 0;
	if (sb.st_size > 0 && tail[1] != '\n')
		o->error = write_all(fd, "\n\n", 2);
	else if (sb.st_size > 0 && tail[0] != '\n')
		o->error = write_all(fd, "\n", 1);
	char line[128];
	from_line(line, sizeof line);
	for (const char *p = line; *p; p++)
		mo_emit(o, *p);
	o->in_prefix = true;
	char *buf = mp_xmalloc(65536);
	for (off_t off = 0; !o->error;) {
		ssize_t n = pread(msg->fd, buf, 65536, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			o->error = errno;
			break;
		}
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			mo_byte(o, buf[i]);
		off += n;
	}
	free(buf);
	if (!o->error)
		mo_end(o);
	if (!o->error && fsync(fd) < 0)
		o->error = errno;
	er = o->error;
	free(o);
	if (er) {
		/* Leave the file as it was, not with half a message. */
		if (ftruncate(fd, sb.st_size) == 0)
			fsync(fd);
		st = mp_fail(err, MP_ERR_IO, "cannot write %s: %s", path, strerror(er));
	}
	close(fd);
	unlink(lock);
	return st;
}

enum mp_status dead_letter(const struct cli *cli, const struct outgoing *msg,
			   const char *reason, struct mp_error *err)
{
	char path[PATH_SIZE];
	enum mp_status st = dead_letter_append(msg, path, err);
	if (st != MP_OK)
		return st;
	char *r = clean_reason(reason);
	fprintf(stderr, "%s: the message cannot be delivered (%s); kept in %s\n",
		cli->prog, r, path);
	free(r);
	return MP_OK;
}

/* --- flushing --- */

struct qitem {
	char *name;
	struct qenv env;
	off_t body;
	bool done;
};

struct tally {
	size_t sent, deferred, failed;
	enum mp_status perm;        /* the first refusal for good */
	enum mp_status local;       /* the first non-temporary reason to keep one */
	struct mp_error perm_err, local_err;
};

static void note_perm(struct tally *t, enum mp_status st, const char *why)
{
	t->failed++;
	if (t->perm == MP_OK) {
		t->perm = st;
		mp_fail(&t->perm_err, st, "%s", why);
	}
}

static void note_kept(const struct cli *cli, struct tally *t, const char *id,
		      enum mp_status st, const char *why)
{
	t->deferred++;
	if (st != MP_ERR_TEMP && st != MP_OK && t->local == MP_OK) {
		t->local = st;
		mp_fail(&t->local_err, st, "%s", why);
	}
	if (!cli->quiet)
		fprintf(stderr, "%s: %s: deferred (%s)\n", cli->prog, id, why);
}

static bool is_permanent(enum mp_status st)
{
	return st == MP_ERR_UNAVAILABLE || st == MP_ERR_NOUSER ||
	       st == MP_ERR_DATA || st == MP_ERR_USAGE;
}

/* Delete a message only after its final 250: unlink, then sync new/. */
static enum mp_status remove_queued(const char *newdir, const char *path,
				    struct mp_error *err)
{
	if (unlink(path) < 0 && errno != ENOENT)
		return mp_fail(err, MP_ERR_IO, "cannot remove %s: %s", path,
			       strerror(errno));
	int er = fsync_dir(newdir);
	if (er)
		return mp_fail(err, MP_ERR_IO, "cannot sync %s: %s", newdir,
			       strerror(er));
	return MP_OK;
}

/* Replace the queue file with one for the still-pending recipients. */
static enum mp_status rewrite_queued(const char *qdir, const struct qitem *it,
				     int src, const struct strlist *pending,
				     struct mp_error *err)
{
	char tmp[PATH_SIZE], dst[PATH_SIZE], newdir[PATH_SIZE];
	if (!path_join(tmp, qdir, "tmp", it->name) ||
	    !path_join(dst, qdir, "new", it->name) ||
	    !path_join(newdir, qdir, "new", NULL))
		return mp_fail(err, MP_ERR_CONFIG, "queue path too long");
	struct qenv e = it->env;   /* borrowed but for the recipients */
	e.rcpts = *pending;
	enum mp_status st = write_queue_file(tmp, false, &e, src, it->body, err);
	if (st != MP_OK)
		return st;
	if (rename(tmp, dst) < 0) {
		st = mp_fail(err, MP_ERR_IO, "cannot replace %s: %s", dst, strerror(errno));
		unlink(tmp);
		return st;
	}
	int er = fsync_dir(newdir);
	if (er)
		return mp_fail(err, MP_ERR_IO, "cannot sync %s: %s", newdir, strerror(er));
	return MP_OK;
}

static void join_reason(struct sbuf *b, const char *addr, int code, const char *text)
{
	char num[16];
	if (b->n)
		sbuf_adds(b, "; ");
	sbuf_adds(b, addr);
	sbuf_adds(b, ": ");
	if (code) {
		snprintf(num, sizeof num, "%d ", code);
		sbuf_adds(b, num);
	}
	sbuf_adds(b, text);
}

/* Send one queued message over s and settle it: removed (all sent), kept
 * whole or for the pending recipients (4xx, network), or in dead.letter
 * (5xx). *reuse says whether s may carry the next message. */
static void flush_one(struct cli *cli, const char *qdir, struct qitem *it,
		      struct smtp_session *s, bool *reuse, struct tally *t)
{
	char path[PATH_SIZE], newdir[PATH_SIZE];
	struct mp_error e = { 0 };
	*reuse = true;
	if (!path_join(path, qdir, "new", it->name) || !path_join(newdir, qdir, "new", NULL)) {
		note_kept(cli, t, it->name, MP_ERR_CONFIG, "queue path too long");
		return;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			note_kept(cli, t, it->name, MP_ERR_IO, strerror(errno));
		return;
	}
	struct outgoing msg;
	enum mp_status st;
	if (lseek(fd, it->body, SEEK_SET) < 0) {
		st = mp_fail(&e, MP_ERR_IO, "cannot read %s: %s", path, strerror(errno));
	} else if ((st = spool_copy(fd, SPOOL_TO_EOF, &msg, &e)) != MP_OK) {
		outgoing_free(&msg);
	}
	if (st != MP_OK) {
		note_kept(cli, t, it->name, st, e.msg);
		close(fd);
		return;
	}
	free(msg.from);
	msg.from = mp_xstrdup(it->env.from);
	for (size_t i = 0; i < it->env.rcpts.n; i++)
		strlist_add(&msg.rcpts, it->env.rcpts.v[i]);

	struct delivery d;
	memset(&d, 0, sizeof d);
	st = deliver_message(s, &msg, cli, false, &d);

	/* Who got it (2xx, when the message went through), who still waits
	 * (4xx, not asked) and who was refused (5xx). */
	bool went = st == MP_OK || d.ndelivered > 0;
	struct strlist pending = { 0 };
	struct sbuf refused = { 0 }, later = { 0 };
	size_t nrefused = 0;
	bool any_reply = false;
	for (size_t i = 0; i < msg.rcpts.n; i++) {
		int code = i < d.nrcpts && d.results ? d.results[i].code : 0;
		const char *text = code ? d.results[i].text : "";
		if (code >= 400)
			any_reply = true;
		if (went && code >= 200 && code < 300)
			continue;
		if (code >= 500) {
			join_reason(&refused, msg.rcpts.v[i], code, text);
			nrefused++;
		} else if (went || !is_permanent(st)) {
			strlist_add(&pending, msg.rcpts.v[i]);
			if (code >= 400)
				join_reason(&later, msg.rcpts.v[i], code, text);
		} else {
			/* the message itself refused for good */
			nrefused++;
		}
	}
	if (any_reply)
		delivery_report(cli, &msg, &d);
	if (st != MP_OK && !is_permanent(st) && st != MP_ERR_TEMP)
		*reuse = false;   /* the session may be unusable */

	const char *why_perm = refused.n ? refused.p : d.err.msg;
	const char *why_later = later.n ? later.p : st != MP_OK ? d.err.msg : "not sent";
	enum mp_status perm_st = is_permanent(st) ? st : MP_ERR_UNAVAILABLE;
	bool kept_dead = true;
	if (nrefused) {
		char dl[PATH_SIZE];
		struct mp_error de = { 0 };
		char *r = clean_reason(why_perm);
		if (st == MP_ERR_DATA || st == MP_ERR_USAGE) {
			/* refused here, before any server saw it */
			if (dead_letter_append(&msg, dl, &de) == MP_OK)
				fprintf(stderr, "%s: %s cannot be sent (%s); kept in %s\n",
					cli->prog, it->name, r, dl);
			else
				kept_dead = false;
		} else if (dead_letter(cli, &msg, r, &de) != MP_OK) {
			kept_dead = false;
		}
		free(r);
		if (!kept_dead) {
			/* Better sent twice than lost: leave it queued. */
			char why[700];
			snprintf(why, sizeof why, "refused for good, but %s", de.msg);
			note_kept(cli, t, it->name, de.status, why);
		}
	}
	if (kept_dead) {
		if (pending.n == 0) {
			enum mp_status rst = remove_queued(newdir, path, &e);
			if (nrefused)
				note_perm(t, perm_st, why_perm);
			else
				t->sent++;
			if (rst != MP_OK) {
				fprintf(stderr, "%s: %s: %s\n", cli->prog, it->name, e.msg);
				if (t->local == MP_OK) {
					t->local = rst;
					t->local_err = e;
				}
			}
		} else {
			if (pending.n < it->env.rcpts.n &&
			    rewrite_queued(qdir, it, fd, &pending, &e) != MP_OK) {
				/* The next flush may send to some twice. */
				fprintf(stderr, "%s: %s: %s\n", cli->prog, it->name, e.msg);
				if (t->local == MP_OK) {
					t->local = e.status;
					t->local_err = e;
				}
			}
			if (nrefused && t->perm == MP_OK) {
				t->perm = perm_st;
				mp_fail(&t->perm_err, perm_st, "%s", why_perm);
			}
			note_kept(cli, t, it->name, st == MP_OK ? MP_ERR_TEMP : st, why_later);
		}
	}
	strlist_clear(&pending);
	free(pending.v);
	sbuf_free(&refused);
	sbuf_free(&later);
	delivery_free(&d);
	outgoing_free(&msg);
	close(fd);
}

static void wipe_secrets(struct cli *cli)
{
	if (cli->password) {
		mp_wipe(cli->password, strlen(cli->password));
		free(cli->password);
		cli->password = NULL;
	}
	if (cli->token) {
		mp_wipe(cli->token, strlen(cli->token));
		free(cli->token);
		cli->token = NULL;
	}
}

/* Point cli at the account and server a queued message was meant for.
 * base is the number of settings the command line gave. */
static enum mp_status use_destination(struct cli *cli, const struct qitem *it,
				      size_t base, struct mp_error *err)
{
	static const enum mp_proto protos[] = { MP_PROTO_SMTP, MP_PROTO_LMTP };
	const struct cfg_section *sec = NULL;
	cli->nsettings = base;
	cli->account = NULL;
	if (it->env.account[0]) {
		if (cli->config_path)
			sec = config_account(&cli->config, it->env.account);
		if (!sec)
			return mp_fail(err, MP_ERR_CONFIG,
				       "it was queued for account '%s', which the config no longer has",
				       it->env.account);
		cli->account = sec->name;
	}
	bool have_server = false;   /* from the -q command line or the account */
	for (size_t i = 0; i < base; i++)
		have_server |= strcmp(cli->settings[i].name, "server") == 0;
	for (size_t i = 0; sec && i < sec->nentries; i++)
		have_server |= strcmp(sec->entries[i].key, "server") == 0;
	if (!have_server && it->env.server[0]) {
		cli->settings = mp_xrealloc(cli->settings,
					    (base + 1) * sizeof *cli->settings);
		struct setting *s = &cli->settings[base];
		s->name = "server";
		s->value = it->env.server;
		snprintf(s->origin, sizeof s->origin, "queue file %s", it->name);
		cli->nsettings = base + 1;
	}
	/* Another account or server may need another password. */
	wipe_secrets(cli);
	enum mp_status st = cli->nprotos
		? cli_server(cli, cli->protos, cli->nprotos, err)
		: cli_server(cli, protos, sizeof protos / sizeof protos[0], err);
	cli->server_ready = st == MP_OK;
	return st;
}

static bool same_destination(const struct qitem *a, const struct qitem *b)
{
	return !strcmp(a->env.account, b->env.account) &&
	       !strcmp(a->env.server, b->env.server);
}

/* Remove what a crash left in tmp/ long ago. */
static void clean_tmp(const char *qdir)
{
	char dir[PATH_SIZE], path[PATH_SIZE];
	struct strlist names = { 0 };
	if (!path_join(dir, qdir, "tmp", NULL) || list_dir(dir, &names, NULL) != MP_OK)
		goto out;
	time_t now = time(NULL);
	for (size_t i = 0; i < names.n; i++) {
		struct stat sb;
		if (path_join(path, dir, names.v[i], NULL) && lstat(path, &sb) == 0 &&
		    S_ISREG(sb.st_mode) && now - sb.st_mtime > TMP_MAX_AGE)
			unlink(path);
	}
out:
	strlist_clear(&names);
	free(names.v);
}

enum mp_status queue_flush(struct cli *cli, struct mp_error *err)
{
	char qdir[PATH_SIZE], newdir[PATH_SIZE], path[PATH_SIZE];
	enum mp_status st = queue_dir(qdir, true, err);
	if (st != MP_OK)
		return st;
	if (!path_join(path, qdir, "lock", NULL) || !path_join(newdir, qdir, "new", NULL))
		return mp_fail(err, MP_ERR_CONFIG, "queue path too long");
	int lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lockfd < 0)
		return mp_fail(err, MP_ERR_IO, "cannot open %s: %s", path, strerror(errno));
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	if (fcntl(lockfd, F_SETLK, &fl) < 0) {
		int er = errno;
		close(lockfd);
		if (er == EACCES || er == EAGAIN)
			return mp_fail(err, MP_ERR_TEMP,
				       "another mailsend -q is running (%s is locked)", path);
		return mp_fail(err, MP_ERR_IO, "cannot lock %s: %s", path, strerror(er));
	}
	clean_tmp(qdir);

	struct strlist names = { 0 };
	struct qitem *items = NULL;
	size_t nitems = 0;
	struct tally t = { 0 };
	if ((st = list_dir(newdir, &names, err)) != MP_OK)
		goto out;
	items = mp_xcalloc(names.n ? names.n : 1, sizeof *items);
	for (size_t i = 0; i < names.n; i++) {
		struct mp_error e = { 0 };
		if (!path_join(path, newdir, names.v[i], NULL))
			continue;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		struct qitem *it = &items[nitems];
		if (envelope_read(fd, names.v[i], &it->env, &it->body, &e) != MP_OK) {
			/* Left in place for a human to look at. */
			fprintf(stderr, "%s: %s; left in %s\n", cli->prog, e.msg, newdir);
			note_perm(&t, e.status, e.msg);
		} else {
			it->name = names.v[i];
			nitems++;
		}
		close(fd);
	}

	const char *account = cli->account;
	size_t base = cli->nsettings;
	for (size_t i = 0; i < nitems; i++) {
		if (items[i].done)
			continue;
		struct mp_error e = { 0 };
		struct smtp_session *s = NULL;
		enum mp_status gst = use_destination(cli, &items[i], base, &e);
		for (size_t j = i; j < nitems; j++) {
			struct qitem *it = &items[j];
			if (it->done || !same_destination(it, &items[i]))
				continue;
			it->done = true;
			if (gst == MP_OK && !s) {
				gst = deliver_open(cli, &s, &e);
				if (gst != MP_OK && s) {
					smtp_close(s);
					s = NULL;
				}
			}
			if (gst != MP_OK) {
				note_kept(cli, &t, it->name, gst, e.msg);
				continue;
			}
			bool reuse;
			flush_one(cli, qdir, it, s, &reuse, &t);
			if (!reuse) {
				smtp_close(s);
				s = NULL;
			}
		}
		if (s) {
			struct mp_error ignored;
			smtp_quit(s, &ignored);
			smtp_close(s);
		}
	}
	/* cli->server now describes the last group, not this invocation. */
	cli->account = account;
	cli->nsettings = base;
	cli->server_ready = false;
	wipe_secrets(cli);

	size_t seen = t.sent + t.deferred + t.failed;
	char summary[128];
	snprintf(summary, sizeof summary, "queue: %zu sent, %zu deferred, %zu failed",
		 t.sent, t.deferred, t.failed);
	if (t.perm != MP_OK)
		st = mp_fail(err, t.perm, "%s (%s)", summary, t.perm_err.msg);
	else if (t.local != MP_OK)
		st = mp_fail(err, t.local, "%s (%s)", summary, t.local_err.msg);
	else if (seen && !cli->quiet)
		fprintf(stderr, "%s: %s%s\n", cli->prog, summary,
			t.deferred ? "; the deferred stay queued" : "");
out:
	for (size_t i = 0; i < nitems; i++)
		qenv_free(&items[i].env);
	free(items);
	strlist_clear(&names);
	free(names.v);
	close(lockfd);   /* releases the lock */
	return st;
}
