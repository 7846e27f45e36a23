/* --batch DIR|MBOX: send every message of a Maildir (new/ and cur/) or an
 * mbox over one session, report each on stdout, and remove what the server
 * took with its final 250; what failed stays where it was.
 *
 * A message the server takes for some recipients and refuses for others
 * counts as sent and is removed (sending it again would repeat it to those
 * who got it); the refused recipients are reported on stderr and the exit
 * status says so.
 *
 * A lost connection is opened again and the message in flight tried once
 * more on the new one (RFC 5321 4.2.5 risk: if the server had taken it
 * just before the loss, it arrives twice). If opening fails, or the new
 * connection is lost on the same message, the batch stops and leaves
 * everything not sent in place. */
#include "mailsend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "strutil.h"

enum {
	MAILDIR_MAX = 1000000,      /* messages read from one Maildir */
	MBOX_PIECE = 64 * 1024,     /* mbox bytes looked at as one piece */
	LOCK_WAIT_MS = 10000,       /* how long to wait for another's lock */
	DOTLOCK_STALE = 300,        /* seconds after which a dotlock is stale */
};

struct batch {
	struct cli *cli;
	struct smtp_session *s;
	const char *source;         /* the path, for messages */
	char *sender;               /* --envelope-from or from; NULL: From: */
	size_t ntotal, nsent, nfailed;
	enum mp_status perm;        /* worst permanent failure, or MP_OK */
	bool temp;                  /* a temporary failure was seen */
	bool queue;                 /* --queue: queue who deferred a sent one */
	bool stopped;               /* the session is gone for good */
	struct mp_error stop_err;
};

/* Remember how a message failed for the exit status: permanent beats
 * temporary; among permanent ones 69 beats 67 beats the rest. */
static void note_failure(struct batch *b, enum mp_status st)
{
	if (st == MP_ERR_USAGE)
		st = MP_ERR_DATA;   /* a bad address in a message is bad data */
	if (st == MP_ERR_TEMP)
		b->temp = true;
	else if (st == MP_ERR_UNAVAILABLE)
		b->perm = st;
	else if (st == MP_ERR_NOUSER && b->perm != MP_ERR_UNAVAILABLE)
		b->perm = st;
	else if (b->perm == MP_OK)
		b->perm = st;
}

static void say(const struct batch *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(const struct batch *b, const char *fmt, ...)
{
	va_list ap;

	if (b->cli->quiet)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* The bare address of an address setting ("<a@b>", "Name <a@b>", "<>"). */
static enum mp_status sender_setting(const char *v, char **out,
				     struct mp_error *err)
{
	struct address_list list = { 0 };

	while (*v == ' ' || *v == '\t')
		v++;
	if (!strcmp(v, "<>") || !*v) {
		*out = mp_xstrdup("");
		return MP_OK;
	}
	enum mp_status st = address_parse_list(v, strlen(v), ADDRESS_ALLOW_LOCAL,
					       &list, err);
	if (st == MP_OK && list.n != 1)
		st = mp_fail(err, MP_ERR_USAGE, "the sender '%.100s' is not one address", v);
	if (st == MP_OK)
		*out = mp_xstrdup(list.v[0].addr);
	address_list_free(&list);
	return st;
}

/* Envelope and header of a spooled message: recipients from To, Cc and
 * Bcc, Bcc dropped, the sender as configured or from From:. */
static enum mp_status prepare(struct batch *b, struct outgoing *msg,
			      struct mp_error *err)
{
	struct strlist fields = { 0 };
	struct address_list list = { 0 };
	enum mp_status st = message_headers(msg, &fields, err);

	if (st == MP_OK)
		st = envelope_from_headers(msg, &fields, err);
	if (st == MP_OK && msg->rcpts.n == 0)
		st = mp_fail(err, MP_ERR_DATA, "no recipients: the message has no To, Cc or Bcc address");
	if (st == MP_OK && b->sender) {
		msg->from = mp_xstrdup(b->sender);
	} else if (st == MP_OK) {
		const char *from = header_value(&fields, "From");
		if (from)
			st = address_parse_list(from, strlen(from), ADDRESS_ERR_DATA,
						&list, err);
		if (st == MP_OK && list.n == 0)
			st = mp_fail(err, MP_ERR_DATA, "no sender: the message has no From: "
				     "address and neither --envelope-from nor from is set");
		else if (st == MP_OK)
			msg->from = mp_xstrdup(list.v[0].addr);
		else
			mp_error_prefix(err, "From");
	}
	if (st == MP_OK && header_value(&fields, "Bcc")) {
		static const char *const drop[] = { "Bcc", NULL };
		st = message_rewrite(msg, drop, NULL, err);
	}
	address_list_free(&list);
	strlist_clear(&fields);
	return st;
}

/* Drop the session if it no longer answers. True if it was dropped. */
static bool session_lost(struct batch *b)
{
	struct mp_error e;

	if (!b->s)
		return true;
	if (smtp_reset(b->s, &e) == MP_OK)
		return false;
	smtp_close(b->s);
	b->s = NULL;
	return true;
}

/* Deliver msg, opening the session first if there is none. On a failure
 * that leaves no session to go on with, b->stopped is set. */
static enum mp_status deliver(struct batch *b, struct outgoing *msg,
			      struct delivery *d)
{
	enum mp_status st;

	memset(d, 0, sizeof *d);
	for (int attempt = 0;; attempt++) {
		if (!b->s) {
			struct smtp_session *s = NULL;
			st = deliver_open(b->cli, &s, &b->stop_err);
			if (st != MP_OK) {
				b->stopped = true;
				d->status = st;
				d->err = b->stop_err;
				return st;
			}
			b->s = s;
		}
		st = deliver_message(b->s, msg, b->cli, true, d);
		if (st == MP_OK || d->ndelivered > 0 || !session_lost(b))
			return st;
		/* Only a failure of the connection is worth a second try. */
		if (st != MP_ERR_TEMP && st != MP_ERR_PROTOCOL)
			return st;
		if (attempt > 0) {
			b->stopped = true;
			b->stop_err = d->err;
			return st;
		}
		delivery_free(d);
	}
}

/* With --queue, after a partial delivery: queue msg for the recipients
 * refused with 4xx. True if every refusal was such and is now queued. */
static bool queue_deferred(struct batch *b, struct outgoing *msg,
			   const struct delivery *d)
{
	struct strlist later = { 0 };
	struct mp_error e = { 0 };
	size_t nrefused = d->nrcpts - d->ndelivered;

	for (size_t i = 0; i < d->nrcpts && i < msg->rcpts.n; i++)
		if (d->results[i].code >= 400 && d->results[i].code < 500)
			strlist_add(&later, msg->rcpts.v[i]);
	if (later.n == 0) {
		strlist_clear(&later);
		return false;
	}
	strlist_clear(&msg->rcpts);
	msg->rcpts = later;
	if (queue_store(b->cli, msg, d->err.msg, &e) != MP_OK) {
		fprintf(stderr, "%s: %s\n", b->cli->prog, e.msg);
		return false;
	}
	return later.n == nrefused;
}

/* Send one spooled message (prep_st: how preparing it went) and report
 * it. True if it was sent and may be removed from the source. */
static bool send_one(struct batch *b, struct outgoing *msg, const char *id,
		     enum mp_status prep_st, const struct mp_error *prep_err)
{
	struct delivery d;
	enum mp_status st;

	b->ntotal++;
	if (prep_st != MP_OK) {
		say(b, "FAILED %s: %s", id, prep_err->msg);
		note_failure(b, prep_st);
		b->nfailed++;
		return false;
	}
	st = deliver(b, msg, &d);
	if (st == MP_OK) {
		say(b, "sent  %s to %zu recipient%s", id, d.ndelivered,
		    d.ndelivered == 1 ? "" : "s");
	} else if (d.ndelivered > 0) {
		say(b, "sent  %s to %zu of %zu recipients", id, d.ndelivered,
		    d.nrcpts);
		delivery_report(b->cli, msg, &d);
		if (!b->queue || !queue_deferred(b, msg, &d))
			note_failure(b, st);
	} else {
		say(b, "FAILED %s: %s", id, d.err.msg);
		note_failure(b, st);
		b->nfailed++;
	}
	bool sent = st == MP_OK || d.ndelivered > 0;
	if (sent)
		b->nsent++;
	delivery_free(&d);
	return sent;
}

/* Printable form of a file name for the report. */
static void printable(const char *name, char *buf, size_t size)
{
	size_t n = 0;

	for (; *name && n + 1 < size; name++)
		buf[n++] = (unsigned char)*name < 0x20 || *name == 0x7f ? '?' : *name;
	buf[n] = '\0';
}

static enum mp_status fsync_dir(const char *path, struct mp_error *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) != 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return mp_fail(err, MP_ERR_IO, "cannot sync the directory %s: %s",
			       path, strerror(e));
	}
	close(fd);
	return MP_OK;
}

/* --- Maildir --- */

struct entry {
	char *name;                 /* the file name */
	const char *sub;            /* "new" or "cur" */
};

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->sub, y->sub);
}

/* Add the regular files of dir/sub to *v. *seen: the folder exists. */
static enum mp_status list_sub(const char *dir, const char *sub,
			       struct entry **v, size_t *n, size_t *cap,
			       bool *seen, struct mp_error *err)
{
	char path[4096];
	struct dirent *de;

	snprintf(path, sizeof path, "%s/%s", dir, sub);
	DIR *d = opendir(path);
	if (!d) {
		if (errno == ENOENT)
			return MP_OK;
		return mp_fail(err, MP_ERR_IO, "cannot read %s: %s", path,
			       strerror(errno));
	}
	*seen = true;
	while ((errno = 0, de = readdir(d)) != NULL) {
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (*n >= MAILDIR_MAX) {
			closedir(d);
			return mp_fail(err, MP_ERR_DATA,
				       "%s holds more than %d messages; send them in parts",
				       dir, MAILDIR_MAX);
		}
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			*v = mp_xrealloc(*v, *cap * sizeof **v);
		}
		(*v)[*n].name = mp_xstrdup(de->d_name);
		(*v)[*n].sub = sub;
		(*n)++;
	}
	int e = errno;
	closedir(d);
	if (e)
		return mp_fail(err, MP_ERR_IO, "cannot read %s: %s", path, strerror(e));
	return MP_OK;
}

static enum mp_status batch_maildir(struct batch *b, const char *dir,
				    struct mp_error *err)
{
	struct entry *v = NULL;
	size_t n = 0, cap = 0;
	bool seen_new = false, seen_cur = false;
	bool removed_new = false, removed_cur = false;
	enum mp_status st;

	st = list_sub(dir, "new", &v, &n, &cap, &seen_new, err);
	if (st == MP_OK)
		st = list_sub(dir, "cur", &v, &n, &cap, &seen_cur, err);
	if (st == MP_OK && !seen_new && !seen_cur)
		st = mp_fail(err, MP_ERR_USAGE,
			     "%s is a directory but not a Maildir (no new/ or cur/)", dir);
	if (st == MP_OK && n > 1)
		qsort(v, n, sizeof *v, entry_cmp);

	for (size_t i = 0; st == MP_OK && i < n && !b->stopped; i++) {
		char path[4096], id[256];
		struct outgoing msg;
		struct mp_error e = { 0 };
		enum mp_status pst;

		snprintf(path, sizeof path, "%s/%s/%s", dir, v[i].sub, v[i].name);
		printable(v[i].name, id, sizeof id);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT)
			continue;   /* taken away since the listing */
		if (fd < 0) {
			memset(&msg, 0, sizeof msg);
			msg.fd = -1;
			pst = mp_fail(&e, MP_ERR_IO, "cannot open %s: %s", path,
				      strerror(errno));
		} else {
			pst = spool_copy(fd, SPOOL_TO_EOF, &msg, &e);
			close(fd);
		}
		if (pst == MP_OK)
			pst = prepare(b, &msg, &e);
		if (send_one(b, &msg, id, pst, &e)) {
			if (unlink(path) != 0 && errno != ENOENT) {
				fprintf(stderr, "%s: %s was sent but cannot be removed: %s\n",
					b->cli->prog, path, strerror(errno));
				note_failure(b, MP_ERR_IO);
			}
			if (v[i].sub[0] == 'n')
				removed_new = true;
			else
				removed_cur = true;
		}
		outgoing_free(&msg);
	}

	/* The removals last across a crash, so a rerun sends nothing twice. */
	char path[4096];
	struct mp_error e2;
	snprintf(path, sizeof path, "%s/new", dir);
	if (removed_new && fsync_dir(path, &e2) != MP_OK)
		note_failure(b, MP_ERR_IO);
	snprintf(path, sizeof path, "%s/cur", dir);
	if (removed_cur && fsync_dir(path, &e2) != MP_OK)
		note_failure(b, MP_ERR_IO);

	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
	return st;
}

/* --- mbox --- */

/* Reads the mbox as pieces: a whole line with its LF, or, for a line
 * longer than the buffer, MBOX_PIECE bytes of it at a time. */
struct reader {
	int fd;
	char *buf;
	size_t start, end;
	off_t off;                  /* file offset of buf[start] */
	bool bol;                   /* the next piece starts a line */
	bool eof;
};

/* 1 with a piece at *p (len *n, starting a line if *bol, at offset *off),
 * 0 at the end, -1 on a read error. */
static int next_piece(struct reader *r, const char **p, size_t *n, bool *bol,
		      off_t *off)
{
	for (;;) {
		char *s = r->buf + r->start;
		size_t avail = r->end - r->start;
		char *lf = memchr(s, '\n', avail);
		size_t len = lf ? (size_t)(lf - s) + 1
			   : (avail == MBOX_PIECE || (r->eof && avail > 0)) ? avail : 0;
		if (len > 0) {
			*p = s;
			*n = len;
			*bol = r->bol;
			*off = r->off;
			r->bol = s[len - 1] == '\n';
			r->start += len;
			r->off += (off_t)len;
			return 1;
		}
		if (r->eof)
			return 0;
		memmove(r->buf, s, avail);
		r->start = 0;
		r->end = avail;
		ssize_t got = read(r->fd, r->buf + r->end, MBOX_PIECE - r->end);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -1;
		if (got == 0)
			r->eof = true;
		r->end += (size_t)got;
	}
}

struct range {
	off_t start, end;
};

/* Wait for the fcntl lock and the dotlock (path.lock) on the mbox. */
static enum mp_status lock_mbox(int fd, const char *path, char *dotlock,
				size_t size, bool *have_dotlock,
				struct mp_error *err)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	int waited = 0;

	*have_dotlock = false;
	while (fcntl(fd, F_SETLK, &fl) != 0) {
		if ((errno != EACCES && errno != EAGAIN && errno != EINTR) ||
		    waited >= LOCK_WAIT_MS)
			return mp_fail(err, errno == EACCES || errno == EAGAIN
				       ? MP_ERR_TEMP : MP_ERR_IO,
				       "cannot lock %s: %s", path, strerror(errno));
		nanosleep(&pause, NULL);
		waited += 100;
	}
	if ((size_t)snprintf(dotlock, size, "%s.lock", path) >= size)
		return mp_fail(err, MP_ERR_USAGE, "the path %s is too long", path);
	for (waited = 0;;) {
		int lfd = open(dotlock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (lfd >= 0) {
			close(lfd);
			*have_dotlock = true;
			return MP_OK;
		}
		if (errno != EEXIST)
			return mp_fail(err, MP_ERR_IO, "cannot create the lock file %s: %s",
				       dotlock, strerror(errno));
		struct stat st;
		if (stat(dotlock, &st) == 0 &&
		    time(NULL) - st.st_mtime > DOTLOCK_STALE) {
			unlink(dotlock);   /* left behind by a crash */
			continue;
		}
		if (waited >= LOCK_WAIT_MS)
			return mp_fail(err, MP_ERR_TEMP, "%s is locked (%s exists)",
				       path, dotlock);
		nanosleep(&pause, NULL);
		waited += 100;
	}
}

static enum mp_status copy_range(int from, int to, off_t start, off_t end,
				 char *buf, struct mp_error *err)
{
	while (end < 0 || start < end) {
		size_t want = MBOX_PIECE;
		if (end >= 0 && (off_t)want > end - start)
			want = (size_t)(end - start);
		ssize_t n = pread(from, buf, want, start);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return mp_fail(err, MP_ERR_IO, "cannot read the mbox: %s",
				       strerror(errno));
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(to, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return mp_fail(err, MP_ERR_IO, "cannot write the new mbox: %s",
					       strerror(errno));
			off += w;
		}
		start += n;
	}
	return MP_OK;
}

/* Replace the mbox by the kept ranges plus everything from tail_from on:
 * a temp file beside it, synced, renamed over it, the directory synced. */
static enum mp_status rewrite_mbox(int fd, const char *path,
				   const struct range *keep, size_t nkeep,
				   off_t tail_from, struct mp_error *err)
{
	char tmp[4096], dir[4096];
	struct stat st;
	enum mp_status s = MP_OK;

	if ((size_t)snprintf(tmp, sizeof tmp, "%s.mailsend-XXXXXX", path) >= sizeof tmp)
		return mp_fail(err, MP_ERR_USAGE, "the path %s is too long", path);
	int out = mkstemp(tmp);
	if (out < 0)
		return mp_fail(err, MP_ERR_IO, "cannot create a temp file beside %s: %s",
			       path, strerror(errno));
	char *buf = mp_xmalloc(MBOX_PIECE);
	for (size_t i = 0; s == MP_OK && i < nkeep; i++)
		s = copy_range(fd, out, keep[i].start, keep[i].end, buf, err);
	if (s == MP_OK)
		s = copy_range(fd, out, tail_from, -1, buf, err);
	free(buf);
	if (s == MP_OK && fstat(fd, &st) == 0) {
		fchmod(out, st.st_mode & 07777);
		if (fchown(out, st.st_uid, st.st_gid) != 0) {
			/* Not ours to give away: it stays the sender's. */
		}
	}
	if (s == MP_OK && fsync(out) != 0)
		s = mp_fail(err, MP_ERR_IO, "cannot sync %s: %s", tmp, strerror(errno));
	if (close(out) != 0 && s == MP_OK)
		s = mp_fail(err, MP_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
	if (s == MP_OK && rename(tmp, path) != 0)
		s = mp_fail(err, MP_ERR_IO, "cannot replace %s: %s", path, strerror(errno));
	if (s != MP_OK) {
		unlink(tmp);
		return s;
	}
	mp_strlcpy(dir, path, sizeof dir);
	char *slash = strrchr(dir, '/');
	if (!slash)
		mp_strlcpy(dir, ".", sizeof dir);
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	return fsync_dir(dir, err);
}

/* One mbox message being read: its spool and where it began. */
struct mbox_msg {
	struct outgoing msg;
	FILE *fp;
	off_t start;                /* offset of its From_ line */
	bool open;
	bool write_failed;
	int write_errno;
	char held[2];               /* an empty line held back: the last one
				       before a From_ line is the separator's */
	size_t nheld;
};

static void mbox_put(struct mbox_msg *m, const char *p, size_t n)
{
	if (!m->write_failed && n > 0 && fwrite(p, 1, n, m->fp) != n) {
		m->write_failed = true;
		m->write_errno = errno;
	}
}

/* The message ends (at offset end): seal, prepare, send, report. False
 * if it was not sent and must be kept. */
static bool mbox_finish(struct batch *b, struct mbox_msg *m, size_t num)
{
	struct mp_error e = { 0 };
	char id[64];
	enum mp_status st = spool_seal(&m->msg, m->fp, &e);

	m->fp = NULL;
	m->open = false;
	if (m->write_failed)
		st = mp_fail(&e, MP_ERR_IO, "cannot spool the message: %s",
			     strerror(m->write_errno ? m->write_errno : EIO));
	if (st == MP_OK)
		st = prepare(b, &m->msg, &e);
	snprintf(id, sizeof id, "mbox message %zu", num);
	bool sent = send_one(b, &m->msg, id, st, &e);
	outgoing_free(&m->msg);
	return sent;
}

static bool is_from_line(const char *p, size_t n)
{
	return n >= 5 && memcmp(p, "From ", 5) == 0;
}

static enum mp_status batch_mbox(struct batch *b, const char *path,
				 struct mp_error *err)
{
	char dotlock[4096];
	bool have_dotlock = false;
	struct range *keep = NULL;
	size_t nkeep = 0, capkeep = 0, num = 0;
	struct mbox_msg m;
	struct reader r = { 0 };
	enum mp_status st;
	off_t tail_from = -1;        /* kept whole from here to the end */

	memset(&m, 0, sizeof m);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return mp_fail(err, MP_ERR_IO, "cannot open %s: %s", path, strerror(errno));
	st = lock_mbox(fd, path, dotlock, sizeof dotlock, &have_dotlock, err);
	if (st != MP_OK)
		goto out;

	r.fd = fd;
	r.bol = true;
	r.buf = mp_xmalloc(MBOX_PIECE);
	bool skip_line = false;      /* the rest of a long From_ line */
	for (;;) {
		const char *p;
		size_t n;
		bool bol;
		off_t off;
		int got = next_piece(&r, &p, &n, &bol, &off);
		if (got < 0) {
			st = mp_fail(err, MP_ERR_IO, "cannot read %s: %s", path,
				     strerror(errno));
			tail_from = m.open ? m.start : r.off;
			break;
		}
		if (got == 0 || (bol && is_from_line(p, n))) {
			if (m.open) {
				struct range rg = { m.start, got ? off : r.off };
				if (!mbox_finish(b, &m, num)) {
					if (nkeep == capkeep) {
						capkeep = capkeep ? capkeep * 2 : 16;
						keep = mp_xrealloc(keep, capkeep * sizeof *keep);
					}
					keep[nkeep++] = rg;
				}
				if (b->stopped) {
					/* Keep the rest as it is. */
					tail_from = got ? off : r.off;
					break;
				}
			}
			if (got == 0) {
				tail_from = r.off;
				break;
			}
			struct mp_error e = { 0 };
			num++;
			m.start = off;
			m.nheld = 0;
			m.write_failed = false;
			if (spool_create(&m.msg, &m.fp, &e) != MP_OK) {
				/* Nothing can be spooled: stop, keep it all. */
				outgoing_free(&m.msg);
				st = mp_fail(err, MP_ERR_IO, "%s", e.msg);
				tail_from = off;
				break;
			}
			m.open = true;
			skip_line = p[n - 1] != '\n';
			continue;
		}
		if (skip_line) {
			skip_line = p[n - 1] != '\n';
			continue;
		}
		if (!m.open) {
			st = mp_fail(err, MP_ERR_DATA,
				     "%s is not an mbox: it does not start with a \"From \" line",
				     path);
			break;
		}
		if (bol && (n == 1 || (n == 2 && p[0] == '\r')) && p[n - 1] == '\n') {
			mbox_put(&m, m.held, m.nheld);
			memcpy(m.held, p, n);
			m.nheld = n;
			continue;
		}
		mbox_put(&m, m.held, m.nheld);
		m.nheld = 0;
		if (bol && p[0] == '>') {
			size_t q = strspn(p, ">");
			if (q < n && n - q >= 5 && memcmp(p + q, "From ", 5) == 0) {
				p++;   /* mboxrd: one level of quoting less */
				n--;
			}
		}
		mbox_put(&m, p, n);
	}
	if (m.open) {
		/* Stopped in the middle of reading: drop the partial spool. */
		struct mp_error ignored;
		spool_seal(&m.msg, m.fp, &ignored);
		outgoing_free(&m.msg);
	}
	free(r.buf);

	if (b->nsent > 0 && tail_from >= 0) {
		struct mp_error e = { 0 };
		if (rewrite_mbox(fd, path, keep, nkeep, tail_from, &e) != MP_OK) {
			fprintf(stderr, "%s: the messages sent are still in %s: %s\n",
				b->cli->prog, path, e.msg);
			note_failure(b, MP_ERR_IO);
		}
	}
out:
	if (have_dotlock)
		unlink(dotlock);
	close(fd);
	free(keep);
	return st;
}

enum mp_status batch_send(struct cli *cli, const char *path, struct mp_error *err)
{
	struct batch b;
	struct stat st;
	struct sigaction ign, old;
	enum mp_status s = MP_OK;

	memset(&b, 0, sizeof b);
	b.cli = cli;
	b.source = path;
	const char *sender = cli_get(cli, "envelope-from");
	if (!sender)
		sender = cli_get(cli, "from");
	if (sender && (s = sender_setting(sender, &b.sender, err)) != MP_OK)
		return s;
	if ((s = cli_bool(cli, "queue", false, &b.queue, err)) != MP_OK) {
		free(b.sender);
		return s;
	}
	/* A reader of the report that goes away (| head) must not kill us
	 * between a message's 250 and its removal. */
	memset(&ign, 0, sizeof ign);
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, &old);
	if (stat(path, &st) != 0)
		s = mp_fail(err, errno == ENOENT ? MP_ERR_USAGE : MP_ERR_IO,
			    "cannot use %s for --batch: %s", path, strerror(errno));
	else if (S_ISDIR(st.st_mode))
		s = batch_maildir(&b, path, err);
	else if (S_ISREG(st.st_mode))
		s = batch_mbox(&b, path, err);
	else
		s = mp_fail(err, MP_ERR_USAGE,
			    "%s is neither a Maildir nor an mbox file", path);

	if (b.s) {
		struct mp_error ignored;
		smtp_quit(b.s, &ignored);
		smtp_close(b.s);
	}
	free(b.sender);
	sigaction(SIGPIPE, &old, NULL);
	if (s != MP_OK)
		return s;
	if (b.stopped) {
		note_failure(&b, b.stop_err.status ? b.stop_err.status : MP_ERR_TEMP);
		return mp_fail(err, b.perm ? b.perm : MP_ERR_TEMP,
			       "stopped at message %zu of %s (%s); it and the "
			       "rest are still there", b.ntotal, path,
			       b.stop_err.msg);
	}
	if (b.perm == MP_OK && !b.temp)
		return MP_OK;
	if (b.nfailed == 0)
		return mp_fail(err, b.perm ? b.perm : MP_ERR_TEMP,
			       "all %zu messages in %s were sent, but not to every "
			       "recipient or not cleanly", b.ntotal, path);
	return mp_fail(err, b.perm ? b.perm : MP_ERR_TEMP,
		       "%zu of %zu messages in %s were not sent and are still there",
		       b.nfailed, b.ntotal, path);
}
