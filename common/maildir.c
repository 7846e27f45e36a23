/* Maildir delivery with batched durability.
 *
 * A message is written to tmp/BASE; at commit its size is known and its
 * final name "BASE,S=SIZE[:INFO]" is fixed. maildir_flush syncs the data of
 * every pending file at once (syncfs on Linux, else fsync per file), renames
 * each into new/ or cur/, then fsyncs those directories: one sync per batch
 * instead of one per message, and never a half-written file in new/ or
 * cur/. */
#ifdef __linux__
#define _GNU_SOURCE   /* syncfs, renameat2 */
#endif
#include "maildir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "strutil.h"

#define WRITE_BUF   (64 * 1024)
#define HOST_MAX    100          /* escaped host name part of a file name */
#define INFO_MAX    64
#define NAME_CAP    (NAME_MAX + 1)
#define TMP_MAX_AGE (36 * 3600)

/* Base names present in new/ and cur/, loaded on first use: a hash set
 * over one string arena (offsets, so the arena may grow). */
struct name_set {
	char *arena;
	size_t alen, acap;
	size_t *slot;             /* offset + 1 into arena; 0: empty */
	size_t nslot, count;
	bool loaded, failed;
};

struct pending {
	char *final;              /* "new/BASE,S=N" or "cur/BASE,S=N:INFO" */
	size_t base_len;          /* BASE, which is also the tmp/ name */
};

struct maildir {
	char *path;
	int fd, tmpfd, newfd, curfd;
	char host[HOST_MAX + 1];
	unsigned long counter;
	struct pending *pend;
	size_t npend, cpend;
	struct name_set *names;   /* a cache: filled even through const md */
	struct maildir_msg *open; /* begun, not yet committed or aborted */
	char *spare;              /* a write buffer to reuse */
};

struct maildir_msg {
	struct maildir *md;
	struct maildir_msg *prev, *next;
	int fd;
	int error;                /* sticky errno of a failed write */
	unsigned long long size;
	char *buf;
	size_t used;
	char name[NAME_CAP];      /* BASE */
};

/* --- the name cache --- */

static size_t hash_name(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603u;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211u;
	}
	return (size_t)h;
}

/* The slot holding s[0..n) or the empty slot where it would go. */
static size_t *set_find(const struct name_set *ns, const char *s, size_t n)
{
	size_t mask = ns->nslot - 1;
	size_t i = hash_name(s, n) & mask;

	for (;;) {
		size_t *sl = &ns->slot[i];
		const char *e;

		if (*sl == 0)
			return sl;
		e = ns->arena + *sl - 1;
		if (strncmp(e, s, n) == 0 && e[n] == '\0')
			return sl;
		i = (i + 1) & mask;
	}
}

static void set_grow(struct name_set *ns)
{
	size_t *old = ns->slot, nold = ns->nslot;

	ns->nslot = nold ? nold * 2 : 1024;
	ns->slot = mp_xcalloc(ns->nslot, sizeof(*ns->slot));
	for (size_t i = 0; i < nold; i++) {
		if (old[i]) {
			const char *e = ns->arena + old[i] - 1;

			*set_find(ns, e, strlen(e)) = old[i];
		}
	}
	free(old);
}

static void set_add(struct name_set *ns, const char *s, size_t n)
{
	size_t *sl;

	if ((ns->count + 1) * 2 > ns->nslot)
		set_grow(ns);
	sl = set_find(ns, s, n);
	if (*sl)
		return;
	if (ns->alen + n + 1 > ns->acap) {
		ns->acap = (ns->acap + n + 1) * 2;
		ns->arena = mp_xrealloc(ns->arena, ns->acap);
	}
	memcpy(ns->arena + ns->alen, s, n);
	ns->arena[ns->alen + n] = '\0';
	*sl = ns->alen + 1;
	ns->alen += n + 1;
	ns->count++;
}

static bool set_has(const struct name_set *ns, const char *s, size_t n)
{
	return ns->nslot && *set_find(ns, s, n) != 0;
}

static void set_free(struct name_set *ns)
{
	free(ns->arena);
	free(ns->slot);
	memset(ns, 0, sizeof(*ns));
}

/* Open sub (a subdirectory of the Maildir) for reading entries. */
static DIR *open_sub(const struct maildir *md, const char *sub)
{
	int fd = openat(md->fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (!d)
		close(fd);
	return d;
}

static bool load_dir(const struct maildir *md, const char *sub,
		     struct name_set *ns)
{
	DIR *d = open_sub(md, sub);
	struct dirent *de;

	if (!d)
		return false;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.')
			set_add(ns, de->d_name, strcspn(de->d_name, ":"));
		errno = 0;
	}
	if (errno) {
		closedir(d);
		return false;
	}
	closedir(d);
	return true;
}

static void load_names(const struct maildir *md)
{
	struct name_set *ns = md->names;

	ns->loaded = true;
	if (!load_dir(md, "new", ns) || !load_dir(md, "cur", ns)) {
		set_free(ns);
		ns->loaded = true;
		ns->failed = true;
	}
}

/* Without the cache (a directory could not be read): ask the file system. */
static bool has_uncached(const struct maildir *md, const char *name, size_t n)
{
	char buf[NAME_CAP];
	struct stat st;
	struct dirent *de;
	DIR *d;
	bool found = false;

	if (n >= sizeof(buf))
		return false;
	memcpy(buf, name, n);
	buf[n] = '\0';
	if (fstatat(md->newfd, buf, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
	    fstatat(md->curfd, buf, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return true;
	d = open_sub(md, "cur");
	if (!d)
		return false;
	while (!found && (de = readdir(d)) != NULL)
		found = strncmp(de->d_name, buf, n) == 0 && de->d_name[n] == ':';
	closedir(d);
	return found;
}

bool maildir_has(const struct maildir *md, const char *name)
{
	size_t n = strcspn(name, ":");

	if (n == 0 || name[0] == '.' || memchr(name, '/', n))
		return false;
	if (!md->names->loaded)
		load_names(md);
	if (md->names->failed)
		return has_uncached(md, name, n);
	return set_has(md->names, name, n);
}

/* --- opening --- */

/* Create path and its missing parents (mode 700); *created tells whether
 * any directory was made here. */
static bool make_dirs(const char *path, bool *created)
{
	char *p = mp_xstrdup(path);
	bool okay = true;

	*created = false;
	for (char *s = p + 1; okay; s++) {
		bool last = *s == '\0';

		if (*s != '/' && !last)
			continue;
		*s = '\0';
		if (mkdir(p, 0700) == 0)
			*created = true;
		else if (errno != EEXIST)
			okay = false;
		if (last)
			break;
		*s = '/';
		while (s[1] == '/')
			s++;
	}
	free(p);
	return okay;
}

/* The host name as a file name part: '/', ':' and anything unusual
 * written as \ooo, as other Maildir writers do. */
static void clean_host(char *out, size_t cap)
{
	char raw[256];
	size_t o = 0;

	if (gethostname(raw, sizeof(raw)) != 0 || raw[0] == '\0')
		strcpy(raw, "localhost");
	raw[sizeof(raw) - 1] = '\0';
	for (const char *s = raw; *s && o + 5 <= cap; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, cap - o, "\\%03o", c);
	}
	out[o] = '\0';
}

static void sync_dir(int fd)
{
	(void)fsync(fd);
}

enum mp_status maildir_open(struct maildir **out, const char *path,
			    bool create, struct mp_error *err)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	struct maildir *md;
	bool created_top = false, created_sub = false;
	int *fds[3];

	*out = NULL;
	if (!path || !*path)
		return mp_fail(err, MP_ERR_USAGE, "no Maildir path given");
	if (create && !make_dirs(path, &created_top))
		return mp_fail(err, MP_ERR_IO, "cannot create Maildir %s: %s",
			       path, strerror(errno));
	md = mp_xcalloc(1, sizeof(*md));
	md->path = mp_xstrdup(path);
	md->tmpfd = md->newfd = md->curfd = -1;
	md->names = mp_xcalloc(1, sizeof(*md->names));
	md->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (md->fd < 0) {
		mp_fail(err, MP_ERR_IO, "cannot open Maildir %s: %s", path,
			strerror(errno));
		maildir_close(md);
		return MP_ERR_IO;
	}
	fds[0] = &md->tmpfd;
	fds[1] = &md->newfd;
	fds[2] = &md->curfd;
	for (size_t i = 0; i < 3; i++) {
		if (create) {
			if (mkdirat(md->fd, subs[i], 0700) == 0)
				created_sub = true;
			else if (errno != EEXIST) {
				mp_fail(err, MP_ERR_IO, "cannot create %s/%s: %s",
					path, subs[i], strerror(errno));
				maildir_close(md);
				return MP_ERR_IO;
			}
		}
		*fds[i] = openat(md->fd, subs[i],
				 O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (*fds[i] < 0) {
			if (errno == ENOENT || errno == ENOTDIR)
				mp_fail(err, MP_ERR_IO, "%s is not a Maildir "
					"(it has no %s/ directory)", path, subs[i]);
			else
				mp_fail(err, MP_ERR_IO, "cannot open %s/%s: %s",
					path, subs[i], strerror(errno));
			maildir_close(md);
			return MP_ERR_IO;
		}
	}
	/* New directories must survive a crash too, or the messages
	 * fsynced into them could vanish with them. */
	if (created_sub)
		sync_dir(md->fd);
	if (created_top) {
		int pfd;
		char *parent = mp_xstrdup(path);
		size_t len = strlen(parent);
		char *slash;

		while (len > 1 && parent[len - 1] == '/')
			parent[--len] = '\0';
		slash = strrchr(parent, '/');
		if (slash == parent)
			slash[1] = '\0';
		else if (slash)
			*slash = '\0';
		else
			strcpy(parent, ".");
		pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pfd >= 0) {
			sync_dir(pfd);
			close(pfd);
		}
		free(parent);
	}
	clean_host(md->host, sizeof(md->host));
	*out = md;
	return MP_OK;
}

/* --- writing --- */

static void unlink_tmp(struct maildir *md, const char *base, size_t n)
{
	char buf[NAME_CAP];

	if (n >= sizeof(buf))
		return;
	memcpy(buf, base, n);
	buf[n] = '\0';
	(void)unlinkat(md->tmpfd, buf, 0);
}

static void msg_free(struct maildir_msg *m)
{
	struct maildir *md = m->md;

	if (m->prev)
		m->prev->next = m->next;
	else
		md->open = m->next;
	if (m->next)
		m->next->prev = m->prev;
	if (md->spare)
		free(m->buf);
	else
		md->spare = m->buf;
	free(m);
}

enum mp_status maildir_begin(struct maildir *md, struct maildir_msg **out,
			     struct mp_error *err)
{
	struct maildir_msg *m;
	struct timespec ts;
	long pid = (long)getpid();

	*out = NULL;
	m = mp_xcalloc(1, sizeof(*m));
	m->md = md;
	clock_gettime(CLOCK_REALTIME, &ts);
	for (int tries = 0;; tries++) {
		md->counter++;
		snprintf(m->name, sizeof(m->name), "%lld.M%06ldP%ldQ%lu.%s",
			 (long long)ts.tv_sec, ts.tv_nsec / 1000, pid,
			 md->counter, md->host);
		m->fd = openat(md->tmpfd, m->name,
			       O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (m->fd >= 0)
			break;
		if (errno != EEXIST || tries >= 100) {
			mp_fail(err, MP_ERR_IO, "cannot create a file in %s/tmp: %s",
				md->path, strerror(errno));
			free(m);
			return MP_ERR_IO;
		}
	}
	if (md->spare) {
		m->buf = md->spare;
		md->spare = NULL;
	} else {
		m->buf = mp_xmalloc(WRITE_BUF);
	}
	m->next = md->open;
	if (md->open)
		md->open->prev = m;
	md->open = m;
	*out = m;
	return MP_OK;
}

static enum mp_status write_fail(struct maildir_msg *m, struct mp_error *err)
{
	return mp_fail(err, MP_ERR_IO, "cannot write to %s/tmp/%s: %s",
		       m->md->path, m->name, strerror(m->error));
}

/* Write p[0..n) to the file; false (m->error set) on failure. */
static bool write_all(struct maildir_msg *m, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(m->fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			m->error = errno;
			return false;
		}
		if (w == 0) {
			m->error = ENOSPC;
			return false;
		}
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static bool drain(struct maildir_msg *m)
{
	bool okay = write_all(m, m->buf, m->used);

	m->used = 0;
	return okay;
}

enum mp_status maildir_write(struct maildir_msg *m, const void *buf, size_t n,
			     struct mp_error *err)
{
	const char *p = buf;

	if (m->error)
		return write_fail(m, err);
	m->size += n;
	if (m->used + n <= WRITE_BUF) {
		memcpy(m->buf + m->used, p, n);
		m->used += n;
		return MP_OK;
	}
	if (!drain(m))
		return write_fail(m, err);
	if (n >= WRITE_BUF) {
		if (!write_all(m, p, n))
			return write_fail(m, err);
		return MP_OK;
	}
	memcpy(m->buf, p, n);
	m->used = n;
	return MP_OK;
}

static void remember_pending(struct maildir *md, char *final, size_t base_len)
{
	if (md->npend == md->cpend) {
		md->cpend = md->cpend ? md->cpend * 2 : 64;
		md->pend = mp_xrealloc(md->pend, md->cpend * sizeof(*md->pend));
	}
	md->pend[md->npend].final = final;
	md->pend[md->npend].base_len = base_len;
	md->npend++;
}

enum mp_status maildir_commit(struct maildir_msg *m, const char *info,
			      time_t mtime, struct mp_error *err)
{
	struct maildir *md = m->md;
	enum mp_status st = MP_OK;
	char final[NAME_CAP + 8];
	int n;

	if (info && (strlen(info) > INFO_MAX || strchr(info, '/'))) {
		st = mp_fail(err, MP_ERR_INTERNAL, "bad Maildir info \"%.80s\"",
			     info);
		goto fail;
	}
	if (m->error || !drain(m)) {
		st = write_fail(m, err);
		goto fail;
	}
	if (mtime) {
		struct timespec ts[2] = {
			{ .tv_sec = mtime }, { .tv_sec = mtime },
		};

		if (futimens(m->fd, ts) != 0) {
			m->error = errno;
			st = mp_fail(err, MP_ERR_IO, "cannot set the time of "
				     "%s/tmp/%s: %s", md->path, m->name,
				     strerror(errno));
			goto fail;
		}
	}
	/* close reports delayed write errors on some file systems (NFS). */
	if (close(m->fd) != 0) {
		m->fd = -1;
		m->error = errno;
		st = write_fail(m, err);
		goto fail;
	}
	m->fd = -1;
	n = snprintf(final, sizeof(final), "%s/%s,S=%llu%s%s",
		     info ? "cur" : "new", m->name, m->size,
		     info ? ":" : "", info ? info : "");
	if (n < 0 || (size_t)n >= sizeof(final) || (size_t)n - 4 > NAME_MAX) {
		st = mp_fail(err, MP_ERR_INTERNAL, "Maildir file name too long");
		goto fail;
	}
	remember_pending(md, mp_xstrdup(final), strlen(m->name));
	msg_free(m);
	return MP_OK;
fail:
	maildir_abort(m);
	return st;
}

void maildir_abort(struct maildir_msg *m)
{
	if (!m)
		return;
	if (m->fd >= 0)
		close(m->fd);
	(void)unlinkat(m->md->tmpfd, m->name, 0);
	msg_free(m);
}

size_t maildir_pending(const struct maildir *md)
{
	return md ? md->npend : 0;
}

const char *maildir_pending_name(const struct maildir *md, size_t i)
{
	return i < md->npend ? md->pend[i].final : NULL;
}

/* --- flushing --- */

/* Drop pending entries [from, npend): their tmp files go. */
static void drop_pending(struct maildir *md, size_t from)
{
	for (size_t i = from; i < md->npend; i++) {
		unlink_tmp(md, md->pend[i].final + 4, md->pend[i].base_len);
		free(md->pend[i].final);
	}
	for (size_t i = 0; i < from; i++)
		free(md->pend[i].final);
	md->npend = 0;
}

/* Every pending file's data on disk. */
static enum mp_status sync_pending(struct maildir *md, struct mp_error *err)
{
#ifdef __linux__
	/* One sync for the whole file system is far cheaper than a journal
	 * commit per file. Since Linux 5.8 it reports write-back errors; on
	 * any failure fall back to asking each file. */
	if (syncfs(md->tmpfd) == 0)
		return MP_OK;
#endif
	for (size_t i = 0; i < md->npend; i++) {
		const struct pending *p = &md->pend[i];
		char buf[NAME_CAP];
		int fd, r;

		memcpy(buf, p->final + 4, p->base_len);
		buf[p->base_len] = '\0';
		fd = openat(md->tmpfd, buf, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return mp_fail(err, MP_ERR_IO, "cannot open %s/tmp/%s: %s",
				       md->path, buf, strerror(errno));
		r = fsync(fd);
		if (r != 0) {
			int e = errno;

			close(fd);
			return mp_fail(err, MP_ERR_IO, "cannot sync %s/tmp/%s: %s",
				       md->path, buf, strerror(e));
		}
		close(fd);
	}
	return MP_OK;
}

/* Rename tmp/BASE to its final name, never replacing an existing file. */
static int move_into_place(struct maildir *md, const char *base,
			   const struct pending *p)
{
	int dirfd = p->final[0] == 'n' ? md->newfd : md->curfd;
	const char *to = p->final + 4;

#if defined(__linux__) && defined(RENAME_NOREPLACE)
	if (renameat2(md->tmpfd, base, dirfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
#endif
	return renameat(md->tmpfd, base, dirfd, to);
}

/* Sync, move into place, and (unless the caller syncs the file system
 * later) fsync new/ and cur/. */
static enum mp_status flush(struct maildir *md, bool whole_fs,
			    struct mp_error *err)
{
	enum mp_status st;
	bool to_new = false, to_cur = false;
	size_t i;

	if (md->npend == 0)
		return MP_OK;
	st = whole_fs ? maildir_sync_fs(md->path, err) : sync_pending(md, err);
	if (st != MP_OK) {
		drop_pending(md, 0);
		return st;
	}
	for (i = 0; i < md->npend; i++) {
		const struct pending *p = &md->pend[i];
		const char *to = p->final + 4;
		char base[NAME_CAP];

		memcpy(base, to, p->base_len);
		base[p->base_len] = '\0';
		if (move_into_place(md, base, p) != 0) {
			st = mp_fail(err, MP_ERR_IO, "cannot move %s/tmp/%s to %s: %s",
				     md->path, base, p->final, strerror(errno));
			break;
		}
		if (p->final[0] == 'n')
			to_new = true;
		else
			to_cur = true;
		if (md->names->loaded && !md->names->failed)
			set_add(md->names, to, strcspn(to, ":"));
	}
	if (whole_fs)
		to_new = to_cur = false;
	if (to_new && fsync(md->newfd) != 0 && st == MP_OK)
		st = mp_fail(err, MP_ERR_IO, "cannot sync %s/new: %s", md->path,
			     strerror(errno));
	if (to_cur && fsync(md->curfd) != 0 && st == MP_OK)
		st = mp_fail(err, MP_ERR_IO, "cannot sync %s/cur: %s", md->path,
			     strerror(errno));
	drop_pending(md, i);
	return st;
}

enum mp_status maildir_flush(struct maildir *md, struct mp_error *err)
{
	return flush(md, false, err);
}

bool maildir_can_sync_fs(void)
{
#ifdef __linux__
	return true;
#else
	return false;
#endif
}

enum mp_status maildir_flush_fs(struct maildir *md, struct mp_error *err)
{
	if (!maildir_can_sync_fs())
		return maildir_flush(md, err);
	return flush(md, true, err);
}

enum mp_status maildir_sync_fs(const char *path, struct mp_error *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = -1;

	if (fd >= 0) {
#ifdef __linux__
		r = syncfs(fd);
#else
		sync();
		r = 0;
#endif
		int saved = errno;
		close(fd);
		errno = saved;
	}
	if (r != 0)
		return mp_fail(err, MP_ERR_IO, "cannot sync %s: %s", path,
			       strerror(errno));
	return MP_OK;
}

/* --- housekeeping --- */

static bool is_ours(const struct maildir *md, const char *name)
{
	for (const struct maildir_msg *m = md->open; m; m = m->next)
		if (strcmp(m->name, name) == 0)
			return true;
	for (size_t i = 0; i < md->npend; i++) {
		const struct pending *p = &md->pend[i];

		if (strncmp(p->final + 4, name, p->base_len) == 0 &&
		    name[p->base_len] == '\0')
			return true;
	}
	return false;
}

void maildir_clean_tmp(struct maildir *md)
{
	DIR *d = open_sub(md, "tmp");
	struct dirent *de;
	time_t now = time(NULL);

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (de->d_name[0] == '.' || is_ours(md, de->d_name))
			continue;
		/* ctime, not mtime: a writer may have set the mtime to the
		 * message's date, but cannot set the ctime. */
		if (fstatat(md->tmpfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) && st.st_ctime < now - TMP_MAX_AGE)
			(void)unlinkat(md->tmpfd, de->d_name, 0);
	}
	closedir(d);
}

void maildir_close(struct maildir *md)
{
	if (!md)
		return;
	while (md->open)
		maildir_abort(md->open);
	if (md->tmpfd >= 0)
		drop_pending(md, 0);
	free(md->pend);
	free(md->spare);
	if (md->names) {
		set_free(md->names);
		free(md->names);
	}
	if (md->fd >= 0)
		close(md->fd);
	if (md->tmpfd >= 0)
		close(md->tmpfd);
	if (md->newfd >= 0)
		close(md->newfd);
	if (md->curfd >= 0)
		close(md->curfd);
	free(md->path);
	free(md);
}
