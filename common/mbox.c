/* Appending to an mbox: mboxrd quoting, a dotlock plus an fcntl lock, and
 * truncation back to the last synced size on any error, so a reader never
 * sees half a message. */
#include "mbox.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mboxrd.h"
#include "strutil.h"

#define WRITE_BUF     (64 * 1024)
#define QUOTE_CHUNK   8192
#define LOCK_WAIT_MS  10000
#define LOCK_POLL_MS  100
#define DOTLOCK_STALE 300         /* seconds */
#define DOTLOCK_TOUCH 60          /* refresh ours well before it looks stale */
#define SENDER_MAX    256

enum mbox_state { MB_IDLE, MB_MSG, MB_FAILED };

struct mbox {
	char *path;
	char *dotlock;             /* NULL when not held */
	int fd;
	bool created;              /* the directory entry still needs a sync */
	enum mbox_state state;
	long long synced;          /* file size at the last sync */
	long long written;         /* bytes in the file; buf comes after */
	long long msg_start;       /* where the current message begins */
	int nl, nl_at_start;       /* trailing '\n' of the content, up to 2 */
	time_t touched;            /* when the dotlock's mtime was refreshed */
	struct mboxrd_quote q;
	size_t used;
	char *buf;
};

/* --- locking --- */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void host_name(char *buf, size_t cap)
{
	if (gethostname(buf, cap) != 0)
		buf[0] = '\0';
	buf[cap - 1] = '\0';
}

/* A dotlock left behind: too old, or naming a dead process on this host. */
static bool dotlock_stale(const char *dotlock)
{
	char buf[300], host[256];
	struct stat st;
	ssize_t n;
	long pid;
	char *colon, *end;
	int fd = open(dotlock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return false;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return false;
	}
	if (st.st_mtime < time(NULL) - DOTLOCK_STALE) {
		close(fd);
		return true;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	pid = strtol(buf, &end, 10);
	colon = end;
	if (end == buf || *colon != ':' || pid <= 0)
		return false;
	host_name(host, sizeof(host));
	if (strcmp(colon + 1, host) != 0)
		return false;   /* another machine's process: only age tells */
	/* Our own pid can only be a lock left by an earlier process that had
	 * it (this process never takes the same dotlock twice). */
	return pid == (long)getpid() || (kill((pid_t)pid, 0) != 0 && errno == ESRCH);
}

static enum mp_status take_dotlock(const char *dotlock, long long deadline,
				   struct mp_error *err)
{
	for (;;) {
		int fd = open(dotlock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

		if (fd >= 0) {
			char buf[300], host[256];
			int n;

			host_name(host, sizeof(host));
			n = snprintf(buf, sizeof(buf), "%ld:%s\n", (long)getpid(), host);
			/* The content only helps to spot a stale lock. */
			if (n > 0) {
				ssize_t w = write(fd, buf, (size_t)n);

				(void)w;
			}
			close(fd);
			return MP_OK;
		}
		if (errno != EEXIST)
			return mp_fail(err, MP_ERR_IO, "cannot create the lock file %s: %s",
				       dotlock, strerror(errno));
		if (dotlock_stale(dotlock)) {
			(void)unlink(dotlock);
			continue;
		}
		if (now_ms() >= deadline)
			return mp_fail(err, MP_ERR_TEMP, "%s is locked by another "
				       "program (try again later)", dotlock);
		pause_ms(LOCK_POLL_MS);
	}
}

static enum mp_status take_fcntl(int fd, const char *path, long long deadline,
				 struct mp_error *err)
{
	for (;;) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

		if (fcntl(fd, F_SETLK, &fl) == 0)
			return MP_OK;
		if (errno == EINTR)
			continue;
		if (errno != EACCES && errno != EAGAIN)
			return mp_fail(err, MP_ERR_IO, "cannot lock %s: %s", path,
				       strerror(errno));
		if (now_ms() >= deadline)
			return mp_fail(err, MP_ERR_TEMP, "%s is locked by another "
				       "program (try again later)", path);
		pause_ms(LOCK_POLL_MS);
	}
}

/* Both locks on path (open as fd), dotlock first as Dovecot does. On
 * MP_OK *dotlock is the dotlock's path, which the caller removes. */
static enum mp_status take_locks(int fd, const char *path, char **dotlock,
				 struct mp_error *err)
{
	long long deadline = now_ms() + LOCK_WAIT_MS;
	size_t n = strlen(path);
	char *dl = mp_xmalloc(n + 6);
	enum mp_status st;

	memcpy(dl, path, n);
	memcpy(dl + n, ".lock", 6);
	st = take_dotlock(dl, deadline, err);
	if (st == MP_OK) {
		st = take_fcntl(fd, path, deadline, err);
		if (st != MP_OK)
			(void)unlink(dl);
	}
	if (st != MP_OK) {
		free(dl);
		dl = NULL;
	}
	*dotlock = dl;
	return st;
}

/* --- the file and its buffer --- */

/* Trailing newlines (0, 1 or 2) of the file's first size bytes. */
static int tail_newlines(int fd, long long size)
{
	char t[2];
	size_t want = size >= 2 ? 2 : (size_t)size;
	ssize_t n;

	if (want == 0)
		return 2;   /* an empty file needs no separating blank line */
	n = pread(fd, t, want, (off_t)(size - (long long)want));
	if (n != (ssize_t)want)
		return 0;
	if (t[want - 1] != '\n')
		return 0;
	return want == 2 && t[0] == '\n' ? 2 : 1;
}

static void track_newlines(int *nl, const char *p, size_t n)
{
	size_t t = 0;

	while (t < n && t < 2 && p[n - 1 - t] == '\n')
		t++;
	if (t == n)
		*nl = *nl + (int)t > 2 ? 2 : *nl + (int)t;
	else
		*nl = (int)t;
}

/* Everything since the last sync goes: the buffer and the file's tail.
 * False if the file could not be cut. */
static bool cut_back(struct mbox *mb)
{
	bool cut = true;

	mb->used = 0;
	if (mb->written > mb->synced) {
		cut = ftruncate(mb->fd, (off_t)mb->synced) == 0;
		if (cut)
			mb->written = mb->synced;
	}
	mb->nl = tail_newlines(mb->fd, mb->written);
	return cut;
}

static enum mp_status io_fail(struct mbox *mb, int e, struct mp_error *err)
{
	cut_back(mb);
	mb->state = MB_FAILED;
	return mp_fail(err, MP_ERR_IO, "cannot write to %s: %s", mb->path,
		       strerror(e));
}

static enum mp_status drain(struct mbox *mb, struct mp_error *err)
{
	const char *p = mb->buf;
	size_t n = mb->used;

	while (n > 0) {
		ssize_t w = pwrite(mb->fd, p, n, (off_t)mb->written);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return io_fail(mb, w < 0 ? errno : ENOSPC, err);
		p += w;
		n -= (size_t)w;
		mb->written += w;
	}
	mb->used = 0;
	return MP_OK;
}

/* Room for n more bytes in the buffer (n <= WRITE_BUF). */
static enum mp_status room(struct mbox *mb, size_t n, struct mp_error *err)
{
	if (mb->used + n <= WRITE_BUF)
		return MP_OK;
	return drain(mb, err);
}

static enum mp_status put(struct mbox *mb, const char *p, size_t n,
			  struct mp_error *err)
{
	enum mp_status st = room(mb, n, err);

	if (st != MP_OK)
		return st;
	memcpy(mb->buf + mb->used, p, n);
	mb->used += n;
	track_newlines(&mb->nl, p, n);
	return MP_OK;
}

static enum mp_status not_usable(const struct mbox *mb, struct mp_error *err)
{
	return mp_fail(err, MP_ERR_IO, "an earlier write to %s failed; what was "
		       "written since the last sync is gone", mb->path);
}

/* --- the public face --- */

enum mp_status mbox_open(struct mbox **out, const char *path,
			 struct mp_error *err)
{
	struct mbox *mb;
	struct stat st;
	enum mp_status s;

	*out = NULL;
	if (!path || !*path)
		return mp_fail(err, MP_ERR_USAGE, "no mbox path given");
	mb = mp_xcalloc(1, sizeof(*mb));
	mb->path = mp_xstrdup(path);
	mb->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (mb->fd >= 0)
		mb->created = true;
	else if (errno == EEXIST)
		mb->fd = open(path, O_RDWR | O_CLOEXEC);
	if (mb->fd < 0) {
		s = mp_fail(err, MP_ERR_IO, "cannot open mbox %s: %s", path,
			    strerror(errno));
		goto fail;
	}
	if (fstat(mb->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		s = mp_fail(err, MP_ERR_IO, "%s is not a regular file", path);
		goto fail;
	}
	s = take_locks(mb->fd, path, &mb->dotlock, err);
	if (s != MP_OK)
		goto fail;
	mb->touched = time(NULL);
	/* The size only counts once nobody else may append. */
	if (fstat(mb->fd, &st) != 0) {
		s = mp_fail(err, MP_ERR_IO, "cannot read %s: %s", path,
			    strerror(errno));
		goto fail;
	}
	mb->synced = mb->written = st.st_size;
	mb->nl = tail_newlines(mb->fd, mb->written);
	mb->buf = mp_xmalloc(WRITE_BUF);
	mboxrd_quote_init(&mb->q);
	*out = mb;
	return MP_OK;
fail:
	/* A file created here stays: once we lost the race for the lock,
	 * another program may already be appending to it. */
	mbox_close(mb);
	return s;
}

long long mbox_synced_size(const struct mbox *mb)
{
	return mb ? mb->synced : 0;
}

/* The sender as it may stand in a From_ line: one word of printable
 * ASCII. */
static bool usable_sender(const char *s)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++)
		if ((unsigned char)s[n] <= ' ' || (unsigned char)s[n] >= 0x7f)
			return false;
	return n > 0 && n <= SENDER_MAX;
}

enum mp_status mbox_drop_partial(struct mbox *mb, struct mp_error *err)
{
	if (mb->state == MB_FAILED)
		return not_usable(mb, err);
	if (mb->state != MB_MSG)
		return MP_OK;
	/* The message was begun and never ended: cut it off, its separator
	 * too, whether it is still in the buffer or already in the file. */
	if (mb->msg_start >= mb->written) {
		mb->used = (size_t)(mb->msg_start - mb->written);
	} else if (ftruncate(mb->fd, (off_t)mb->msg_start) == 0) {
		mb->written = mb->msg_start;
		mb->used = 0;
	} else {
		return io_fail(mb, errno, err);
	}
	mb->nl = mb->nl_at_start;
	mboxrd_quote_init(&mb->q);
	mb->state = MB_IDLE;
	return MP_OK;
}

enum mp_status mbox_begin(struct mbox *mb, const char *sender, time_t date,
			  struct mp_error *err)
{
	static const char days[7][4] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat",
	};
	static const char months[12][4] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
	};
	char line[SENDER_MAX + 64];
	struct tm tm;
	struct stat st;
	enum mp_status s;
	int n;

	s = mbox_drop_partial(mb, err);
	if (s != MP_OK)
		return s;
	/* If the file changed under us (mbox_truncate_to in this process,
	 * or a writer that ignores locks), follow it: appending at a stale
	 * offset would leave a hole of NULs or overwrite the other's text. */
	if (mb->used == 0 && fstat(mb->fd, &st) == 0 && st.st_size != mb->written) {
		if (st.st_size > mb->written && mb->synced == mb->written)
			mb->synced = st.st_size;   /* not ours to cut back */
		mb->written = st.st_size;
		if (mb->synced > mb->written)
			mb->synced = mb->written;
		mb->nl = tail_newlines(mb->fd, mb->written);
	}
	if (mb->dotlock && time(NULL) - mb->touched >= DOTLOCK_TOUCH) {
		/* A long run must not look like a stale lock to others. */
		(void)utimensat(AT_FDCWD, mb->dotlock, NULL, 0);
		mb->touched = time(NULL);
	}
	if (!usable_sender(sender))
		sender = "MAILER-DAEMON";
	if (date == 0)
		date = time(NULL);
	/* Before anything is written: a refused message leaves no trace. */
	if (!gmtime_r(&date, &tm))
		return mp_fail(err, MP_ERR_DATA, "message date out of range");
	mb->msg_start = mb->written + (long long)mb->used;
	mb->nl_at_start = mb->nl;
	/* A From_ line follows an empty line, unless it opens the file. */
	if (mb->nl < 2) {
		s = put(mb, "\n\n", (size_t)(2 - mb->nl), err);
		if (s != MP_OK)
			return s;
	}
	/* asctime's layout, with English names whatever the locale. */
	n = snprintf(line, sizeof(line), "From %s %s %s %2d %02d:%02d:%02d %d\n",
		     sender, days[tm.tm_wday % 7], months[tm.tm_mon % 12],
		     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     tm.tm_year + 1900);
	if (n < 0 || (size_t)n >= sizeof(line))
		return mp_fail(err, MP_ERR_INTERNAL, "From_ line too long");
	s = put(mb, line, (size_t)n, err);
	if (s != MP_OK)
		return s;
	mboxrd_quote_init(&mb->q);
	mb->state = MB_MSG;
	return MP_OK;
}

enum mp_status mbox_write(struct mbox *mb, const void *buf, size_t n,
			  struct mp_error *err)
{
	const char *p = buf;

	if (mb->state == MB_FAILED)
		return not_usable(mb, err);
	if (mb->state != MB_MSG)
		return mp_fail(err, MP_ERR_INTERNAL, "mbox_write outside a message");
	while (n > 0) {
		size_t k = n < QUOTE_CHUNK ? n : QUOTE_CHUNK, w;
		enum mp_status s = room(mb, MBOXRD_QUOTE_MAX(k), err);

		if (s != MP_OK)
			return s;
		w = mboxrd_quote_feed(&mb->q, p, k, mb->buf + mb->used);
		track_newlines(&mb->nl, mb->buf + mb->used, w);
		mb->used += w;
		p += k;
		n -= k;
	}
	return MP_OK;
}

enum mp_status mbox_end(struct mbox *mb, struct mp_error *err)
{
	enum mp_status s;
	size_t w;

	if (mb->state == MB_FAILED)
		return not_usable(mb, err);
	if (mb->state != MB_MSG)
		return mp_fail(err, MP_ERR_INTERNAL, "mbox_end outside a message");
	s = room(mb, 24, err);
	if (s != MP_OK)
		return s;
	w = mboxrd_quote_finish(&mb->q, mb->buf + mb->used);
	track_newlines(&mb->nl, mb->buf + mb->used, w);
	mb->used += w;
	mb->state = MB_IDLE;
	return MP_OK;
}

enum mp_status mbox_sync(struct mbox *mb, struct mp_error *err)
{
	enum mp_status s;

	if (mb->state == MB_FAILED)
		return not_usable(mb, err);
	if (mb->state == MB_MSG)
		return mp_fail(err, MP_ERR_INTERNAL, "mbox_sync inside a message");
	s = drain(mb, err);
	if (s != MP_OK)
		return s;
	if (fsync(mb->fd) != 0)
		return io_fail(mb, errno, err);
	if (mb->created) {
		/* A new file's name must be durable as well as its bytes. */
		char *dir = mp_xstrdup(mb->path);
		char *slash = strrchr(dir, '/');
		int dfd;

		if (slash == dir)
			slash[1] = '\0';
		else if (slash)
			*slash = '\0';
		else
			strcpy(dir, ".");
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		free(dir);
		if (dfd < 0 || fsync(dfd) != 0) {
			int e = errno;

			if (dfd >= 0)
				close(dfd);
			return io_fail(mb, e, err);
		}
		close(dfd);
		mb->created = false;
	}
	mb->synced = mb->written;
	return MP_OK;
}

void mbox_rollback(struct mbox *mb)
{
	if (!mb || mb->fd < 0)
		return;
	mboxrd_quote_init(&mb->q);
	/* A file that could not be cut must not be synced later. */
	mb->state = cut_back(mb) ? MB_IDLE : MB_FAILED;
}

enum mp_status mbox_truncate_to(const char *path, long long size,
				struct mp_error *err)
{
	struct stat st;
	char *dotlock = NULL;
	enum mp_status s;
	int fd;

	if (size < 0)
		return mp_fail(err, MP_ERR_INTERNAL, "negative mbox size");
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		/* Gone: nothing of an unrecorded batch is left to cut. */
		if (errno == ENOENT)
			return MP_OK;
		return mp_fail(err, MP_ERR_IO, "cannot open mbox %s: %s", path,
			       strerror(errno));
	}
	s = take_locks(fd, path, &dotlock, err);
	if (s == MP_OK && fstat(fd, &st) != 0)
		s = mp_fail(err, MP_ERR_IO, "cannot read %s: %s", path,
			    strerror(errno));
	if (s == MP_OK && st.st_size < size)
		s = mp_fail(err, MP_ERR_DATA, "%s is shorter (%lld bytes) than "
			    "when the interrupted run began (%lld bytes): it was "
			    "changed since, so nothing was cut", path,
			    (long long)st.st_size, size);
	if (s == MP_OK && st.st_size > size &&
	    (ftruncate(fd, (off_t)size) != 0 || fsync(fd) != 0))
		s = mp_fail(err, MP_ERR_IO, "cannot truncate %s: %s", path,
			    strerror(errno));
	close(fd);
	if (dotlock) {
		(void)unlink(dotlock);
		free(dotlock);
	}
	return s;
}

void mbox_close(struct mbox *mb)
{
	if (!mb)
		return;
	mbox_rollback(mb);
	if (mb->fd >= 0)
		close(mb->fd);   /* drops the fcntl lock */
	if (mb->dotlock) {
		(void)unlink(mb->dotlock);
		free(mb->dotlock);
	}
	free(mb->buf);
	free(mb->path);
	free(mb);
}
