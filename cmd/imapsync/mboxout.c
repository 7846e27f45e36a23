/* imapsync's mbox output: appending, the roll-back journal, recovery, and
 * reading the file back (message offsets, content hashes). */
#include "mboxout.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durable.h"
#include "foldermap.h"
#include "mbox.h"
#include "strutil.h"

#define JOURNAL "mailpipe-journal"
#define SCAN_BUF (64 * 1024)
/* A nested local name and ".mbox.lock". */
#define NAME_ROOM (FOLDERMAP_PATH_MAX + 16)

struct mboxout {
	char *path;              /* the mbox */
	char *journal;           /* its roll-back journal, beside the state */
	struct mbox *mb;
	/* For reading the file back. Kept open until mb is closed: closing
	 * any descriptor of the file would drop mb's fcntl lock. */
	int rfd;
	bool journaled;          /* the batch in progress is journaled */
	long long batch_start;   /* the file's size before that batch */
	/* the fetched message as the file will hold it, for hashing */
	bool held_cr, any, last_nl;
};

/* --- names and directories --- */

static bool entry_offset(const char *name, long long *off)
{
	char *end;
	if (name[0] != '@' || name[1] < '0' || name[1] > '9')
		return false;
	errno = 0;
	*off = strtoll(name + 1, &end, 10);
	return !*end && errno == 0;
}

/* The file name of a folder's mbox, relative to the backup. */
static int file_name(char *out, size_t size, const char *local)
{
	return snprintf(out, size, "%s.mbox", *local ? local : "INBOX");
}

/* True if path is one of the directories rel needs (a proper prefix of
 * rel ending before a '/'). */
static bool needs_dir(const char *rel, const char *path)
{
	size_t n = strlen(path);
	return !strncmp(rel, path, n) && rel[n] == '/';
}

bool mboxout_names_clash(const char *a, const char *b)
{
	char fa[NAME_ROOM], fb[NAME_ROOM], la[NAME_ROOM + 8],
	     lb[NAME_ROOM + 8];
	file_name(fa, sizeof fa, a);
	file_name(fb, sizeof fb, b);
	snprintf(la, sizeof la, "%s.lock", fa);
	snprintf(lb, sizeof lb, "%s.lock", fb);
	return needs_dir(fb, fa) || needs_dir(fb, la) || needs_dir(fa, fb) ||
	       needs_dir(fa, lb);
}

/* Create the directories between target and the file path (which starts
 * with target and '/'), private; a new one's name is made durable. */
static enum mp_status make_parents(const char *target, const char *path,
				   struct mp_error *err)
{
	enum mp_status st = MP_OK;
	char *p = mp_xstrdup(path);
	for (char *q = p + strlen(target) + 1; st == MP_OK && (q = strchr(q, '/')); q++) {
		*q = '\0';
		if (mkdir(p, 0700) == 0) {
			char *slash = strrchr(p, '/');
			*slash = '\0';
			st = durable_dir(p, err);
			*slash = '/';
		} else if (errno != EEXIST) {
			st = mp_fail(err, MP_ERR_IO, "cannot create %s: %s", p, strerror(errno));
		}
		*q = '/';
	}
	free(p);
	return st;
}

/* --- the journal --- */

/* The journal is on disk before the first byte of the batch. */
static enum mp_status journal_write(struct mboxout *mo, long long size,
				    struct mp_error *err)
{
	char buf[64];
	int len = snprintf(buf, sizeof buf, "size %lld\n", size);
	return durable_replace(mo->journal, buf, (size_t)len, true, err);
}

/* The size a left-over journal holds; *found false when there is none. */
static enum mp_status journal_read(const char *path, bool *found,
				   long long *size, struct mp_error *err)
{
	*found = false;
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? MP_OK
			: mp_fail(err, MP_ERR_IO, "cannot read %s: %s", path, strerror(errno));
	char line[64];
	bool ok = fgets(line, sizeof line, f) && sscanf(line, "size %lld", size) == 1 &&
		  *size >= 0;
	fclose(f);
	if (!ok)
		return mp_fail(err, MP_ERR_DATA, "%s is malformed; it is left by an "
			       "interrupted run and written whole, so it was changed "
			       "since: check the mbox, then remove it", path);
	*found = true;
	return MP_OK;
}

/* Removing it need not be durable: a journal that comes back after a
 * crash only has its batch fetched once more. */
static enum mp_status journal_clear(struct mboxout *mo, struct mp_error *err)
{
	if (unlink(mo->journal) < 0 && errno != ENOENT)
		return mp_fail(err, MP_ERR_IO, "cannot remove %s: %s", mo->journal,
			       strerror(errno));
	mo->journaled = false;
	return MP_OK;
}

/* --- reading the file back --- */

/* Splits [from, to) of an mboxrd file at its "From " lines and unquotes
 * the rest, byte by byte at line starts and a line at a time otherwise,
 * so no line is ever held whole. */
struct scan {
	void (*start)(void *ctx, long long offset);      /* a "From " line */
	void (*data)(void *ctx, const char *p, size_t n); /* NULL: not needed */
	void (*end)(void *ctx);                           /* NULL: not needed */
	void *ctx;
	enum { AT_LINE_START, IN_LINE, IN_FROM_LINE } where;
	size_t quotes, matched;  /* at a line start: '>'s, then bytes of "From " */
	long long line;          /* where the current line starts */
	bool in_msg;
};

static const char from_[] = "From ";

static void emit(struct scan *s, const char *p, size_t n)
{
	if (s->in_msg && s->data && n)
		s->data(s->ctx, p, n);
}

static void emit_quotes(struct scan *s, size_t n)
{
	static const char gt[] = ">>>>>>>>>>>>>>>>";
	while (n > 0) {
		size_t k = n < sizeof gt - 1 ? n : sizeof gt - 1;
		emit(s, gt, k);
		n -= k;
	}
}

static void scan_feed(struct scan *s, const char *p, size_t n, long long base)
{
	size_t i = 0;
	while (i < n) {
		if (s->where != AT_LINE_START) {
			const char *nl = memchr(p + i, '\n', n - i);
			size_t stop = nl ? (size_t)(nl - p) + 1 : n;
			if (s->where == IN_LINE)
				emit(s, p + i, stop - i);
			i = stop;
			if (nl) {
				s->where = AT_LINE_START;
				s->line = base + (long long)i;
			}
			continue;
		}
		char c = p[i];
		if (s->matched == 0 && c == '>') {
			s->quotes++;
			i++;
			continue;
		}
		if (c == from_[s->matched]) {
			i++;
			if (++s->matched < 5)
				continue;
			if (s->quotes == 0) {
				if (s->in_msg && s->end)
					s->end(s->ctx);
				s->in_msg = true;
				s->start(s->ctx, s->line);
				s->where = IN_FROM_LINE;
			} else {
				/* mboxrd: one '>' less than in the file. */
				emit_quotes(s, s->quotes - 1);
				emit(s, from_, 5);
				s->where = IN_LINE;
			}
			s->quotes = s->matched = 0;
			continue;
		}
		/* An ordinary line: what was held back is text; c is taken
		 * as part of the line. */
		emit_quotes(s, s->quotes);
		emit(s, from_, s->matched);
		s->quotes = s->matched = 0;
		s->where = IN_LINE;
	}
}

static enum mp_status scan_file(const struct mboxout *mo, long long from,
				long long to, struct scan *s, struct mp_error *err)
{
	char *buf = mp_xmalloc(SCAN_BUF);
	enum mp_status st = MP_OK;
	s->where = AT_LINE_START;
	s->quotes = s->matched = 0;
	s->line = from;
	s->in_msg = false;
	for (long long off = from; off < to;) {
		size_t want = to - off > SCAN_BUF ? SCAN_BUF : (size_t)(to - off);
		ssize_t got = pread(mo->rfd, buf, want, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			st = mp_fail(err, MP_ERR_IO, "cannot read %s: %s", mo->path,
				     got < 0 ? strerror(errno) : "it is shorter than expected");
			break;
		}
		scan_feed(s, buf, (size_t)got, off);
		off += got;
	}
	free(buf);
	if (st == MP_OK) {
		emit_quotes(s, s->quotes);
		emit(s, from_, s->matched);
		if (s->in_msg && s->end)
			s->end(s->ctx);
	}
	return st;
}

/* --- opening and recovery --- */

static bool before_limit(void *ctx, const char *name)
{
	long long off;
	return entry_offset(name, &off) && off < *(const long long *)ctx;
}

enum mp_status mboxout_open(struct mboxout **out, const char *target,
			    const char *local, struct folder_state *fs,
			    bool *dropped, struct mp_error *err)
{
	*out = NULL;
	*dropped = false;
	char rel[NAME_ROOM], path[4200], journal[4200];
	int n1 = file_name(rel, sizeof rel, local);
	int n2 = snprintf(path, sizeof path, "%s/%s", target, rel);
	int n3 = snprintf(journal, sizeof journal, "%s/%s" JOURNAL, fs->dir,
			  fs->dotted ? "." : "");
	if (n1 < 0 || (size_t)n1 >= sizeof rel || n2 < 0 || (size_t)n2 >= sizeof path ||
	    n3 < 0 || (size_t)n3 >= sizeof journal)
		return mp_fail(err, MP_ERR_DATA, "the mbox path for %s is too long", rel);
	enum mp_status st = make_parents(target, path, err);
	if (st != MP_OK)
		return st;

	/* A batch journaled and never settled is cut off first. */
	bool left;
	long long size = 0, limit = LLONG_MAX;
	struct stat sb;
	st = journal_read(journal, &left, &size, err);
	if (st != MP_OK)
		return st;
	if (left) {
		/* Shorter already: what is missing is dropped below. */
		if (stat(path, &sb) == 0 && sb.st_size > size &&
		    (st = mbox_truncate_to(path, size, err)) != MP_OK)
			return st;
		limit = size;
	}

	struct mboxout *mo = mp_xcalloc(1, sizeof *mo);
	mo->path = mp_xstrdup(path);
	mo->journal = mp_xstrdup(journal);
	mo->rfd = -1;
	st = mbox_open(&mo->mb, path, err);
	if (st == MP_OK && (mo->rfd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		st = mp_fail(err, MP_ERR_IO, "cannot read %s: %s", path, strerror(errno));
	if (st != MP_OK) {
		mboxout_close(mo);
		return st;
	}
	/* Entries for messages the file does not hold (cut off above, or
	 * gone behind our back) are forgotten, to be fetched again. */
	if (mbox_synced_size(mo->mb) < limit)
		limit = mbox_synced_size(mo->mb);
	for (size_t i = 0; i < fs->nuids; i++) {
		if (!before_limit(&limit, fs->uids[i].name)) {
			*dropped = true;
			st = folder_state_compact(fs, before_limit, &limit, err);
			break;
		}
	}
	if (st == MP_OK && left)
		st = journal_clear(mo, err);
	if (st != MP_OK) {
		mboxout_close(mo);
		return st;
	}
	*out = mo;
	return MP_OK;
}

/* --- writing --- */

enum mp_status mboxout_begin(struct mboxout *mo, time_t date,
			     struct mp_error *err)
{
	if (!mo->journaled) {
		mo->batch_start = mbox_synced_size(mo->mb);
		enum mp_status st = journal_write(mo, mo->batch_start, err);
		if (st != MP_OK)
			return st;
		mo->journaled = true;
	}
	mo->held_cr = mo->any = mo->last_nl = false;
	return mbox_begin(mo->mb, NULL, date, err);
}

enum mp_status mboxout_write(struct mboxout *mo, const char *buf, size_t len,
			     struct mp_error *err)
{
	return mbox_write(mo->mb, buf, len, err);
}

enum mp_status mboxout_end(struct mboxout *mo, struct mp_error *err)
{
	return mbox_end(mo->mb, err);
}

enum mp_status mboxout_drop(struct mboxout *mo, struct mp_error *err)
{
	return mbox_drop_partial(mo->mb, err);
}

struct offsets {
	long long *at;
	size_t n, cap;
};

static void note_start(void *ctx, long long offset)
{
	struct offsets *o = ctx;
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 64;
		o->at = mp_xrealloc(o->at, o->cap * sizeof *o->at);
	}
	o->at[o->n++] = offset;
}

/* Name the pending entries by the "From " lines the batch added. The
 * appender does not say where each message went (it may have put line
 * ends before the first), so the synced tail is read back, from the page
 * cache as a rule. */
static enum mp_status name_entries(struct mboxout *mo, struct uid_entry *e,
				   size_t n, struct mp_error *err)
{
	struct offsets o = { 0 };
	struct scan s = { .start = note_start, .ctx = &o };
	enum mp_status st = scan_file(mo, mo->batch_start, mbox_synced_size(mo->mb),
				      &s, err);
	size_t k = 0;
	for (size_t i = 0; st == MP_OK && i < n; i++) {
		if (strcmp(e[i].name, MBOXOUT_PENDING))
			continue;
		if (k == o.n)
			break;
		char name[32];
		snprintf(name, sizeof name, "@%lld", o.at[k++]);
		free(e[i].name);
		e[i].name = mp_xstrdup(name);
	}
	size_t pending = 0;
	for (size_t i = 0; i < n; i++)
		pending += !strcmp(e[i].name, MBOXOUT_PENDING);
	if (st == MP_OK && (pending || k != o.n))
		st = mp_fail(err, MP_ERR_INTERNAL, "%s: the batch just written does not "
			     "read back as written; it is cut off at the next run",
			     mo->path);
	free(o.at);
	return st;
}

enum mp_status mboxout_settle(struct mboxout *mo, struct folder_state *fs,
			      struct uid_entry *e, size_t n,
			      struct mp_error *err)
{
	enum mp_status st = MP_OK;
	if (mo->journaled) {
		st = mbox_sync(mo->mb, err);
		if (st == MP_OK)
			st = name_entries(mo, e, n, err);
	}
	/* Recorded only once durable: a crash before the journal goes
	 * cuts the batch off again, recorded or not. */
	if (st == MP_OK)
		st = folder_state_append(fs, e, n, err);
	if (st == MP_OK && mo->journaled)
		st = journal_clear(mo, err);
	if (st != MP_OK)
		mbox_rollback(mo->mb);
	return st;
}

/* --- content hashes --- */

static void hash(struct mboxout *mo, gnutls_hash_hd_t h, const char *p, size_t n)
{
	if (n == 0)
		return;
	gnutls_hash(h, p, n);
	mo->any = true;
	mo->last_nl = p[n - 1] == '\n';
}

/* As mboxrd quoting writes it: a CR before LF goes, a lone CR stays. */
void mboxout_hash_data(struct mboxout *mo, gnutls_hash_hd_t h,
		       const char *buf, size_t len)
{
	size_t i = 0;
	if (len > 0 && mo->held_cr) {
		mo->held_cr = false;
		if (buf[0] != '\n')
			hash(mo, h, "\r", 1);
	}
	while (i < len) {
		const char *cr = memchr(buf + i, '\r', len - i);
		size_t at = cr ? (size_t)(cr - buf) : len;
		hash(mo, h, buf + i, at - i);
		if (!cr)
			break;
		if (at + 1 == len)
			mo->held_cr = true;
		else if (buf[at + 1] != '\n')
			hash(mo, h, "\r", 1);
		i = at + 1;
	}
}

/* The file ends every message with a newline, then the empty line. */
void mboxout_hash_end(struct mboxout *mo, gnutls_hash_hd_t h)
{
	if (mo->held_cr) {
		mo->held_cr = false;
		hash(mo, h, "\r", 1);
	}
	if (mo->any && !mo->last_nl)
		hash(mo, h, "\n", 1);
}

struct indexer {
	struct mboxout *mo;
	void (*found)(void *ctx, const unsigned char sum[32], const char *name);
	void *ctx;
	gnutls_hash_hd_t h;
	bool hashing, failed;
	bool held_nl;            /* a newline that may be the empty line */
	long long start;
};

static void index_start(void *ctx, long long offset)
{
	struct indexer *x = ctx;
	x->start = offset;
	x->held_nl = false;
	x->mo->any = x->mo->last_nl = false;
	x->hashing = gnutls_hash_init(&x->h, GNUTLS_DIG_SHA256) == 0;
	x->failed |= !x->hashing;
}

static void index_data(void *ctx, const char *p, size_t n)
{
	struct indexer *x = ctx;
	if (!x->hashing)
		return;
	if (x->held_nl)
		hash(x->mo, x->h, "\n", 1);
	x->held_nl = p[n - 1] == '\n';
	hash(x->mo, x->h, p, n - x->held_nl);
}

static void index_end(void *ctx)
{
	struct indexer *x = ctx;
	if (!x->hashing)
		return;
	/* The last newline was the empty line after the message, unless
	 * the message itself then lacks its final one. */
	if (x->mo->any && !x->mo->last_nl)
		hash(x->mo, x->h, "\n", 1);
	unsigned char sum[32];
	char name[32];
	gnutls_hash_deinit(x->h, sum);
	x->hashing = false;
	snprintf(name, sizeof name, "@%lld", x->start);
	x->found(x->ctx, sum, name);
}

enum mp_status mboxout_index(struct mboxout *mo,
			     void (*found)(void *ctx, const unsigned char sum[32],
					   const char *name),
			     void *ctx, struct mp_error *err)
{
	struct indexer x = { .mo = mo, .found = found, .ctx = ctx };
	struct scan s = { .start = index_start, .data = index_data,
			  .end = index_end, .ctx = &x };
	enum mp_status st = scan_file(mo, 0, mbox_synced_size(mo->mb), &s, err);
	if (x.hashing) {
		unsigned char sum[32];
		gnutls_hash_deinit(x.h, sum);
	}
	if (st == MP_OK && x.failed)
		st = mp_fail(err, MP_ERR_INTERNAL, "SHA-256 unavailable");
	return st;
}

void mboxout_close(struct mboxout *mo)
{
	if (!mo)
		return;
	mbox_close(mo->mb);
	if (mo->rfd >= 0)
		close(mo->rfd);
	free(mo->path);
	free(mo->journal);
	free(mo);
}
