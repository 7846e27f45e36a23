#include "sync.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "folderstate.h"
#include "lock.h"
#include "maildir.h"
#include "mboxout.h"
#include "mboxrd.h"
#include "mda.h"
#include "progress.h"
#include "strutil.h"

/* Messages made durable together. */
#define BATCH 500
/* UID FETCH commands in flight. */
#define WINDOW 8
/* New messages that make another connection worth its login. */
#define MESSAGES_PER_JOB 200
#define UNKNOWN_NEW 100000

struct shared {
	struct cli *cli;
	const struct sync_opts *opts;
	struct imap_folder *folders;
	size_t nfolders;
	struct folder_result *results;
	size_t next;                     /* next folder to take */
	struct progress bar;             /* on a terminal */
	pthread_mutex_t lock;            /* next, stdout, stderr, bar */
};

/* One connection's work on one folder at a time. */
struct worker {
	struct shared *sh;
	struct imap_session *imap;
	bool utf8;
	/* the folder in progress */
	struct folder_result *res;
	struct maildir *md;
	struct mboxout *mo;              /* --mbox: the folder's file */
	struct folder_state fs;
	uint32_t uidvalidity;
	const struct imap_msginfo *cur;  /* info of the message in progress */
	struct maildir_msg *cur_md;
	bool sync_fs;                    /* md, its tmp/ and the journal share
					    a file system: one sync covers all */
	struct mda *cur_mda;
	struct mboxrd_quote quote;
	bool stdout_locked;              /* a message is being written out */
	bool cur_failed;
	gnutls_hash_hd_t hash;           /* UIDVALIDITY recovery: content hash */
	bool hashing;
	/* per batch */
	struct uid_entry *batch;
	size_t nbatch;
	/* UIDVALIDITY recovery: local files by content hash */
	struct hashed { unsigned char sum[32]; char *name; } *known;
	size_t nknown;
	size_t matched;
};

/* Maildir info for IMAP flags: "2," and the letters in ASCII order. */
static void flags_to_info(const char *flags, char *info, size_t size)
{
	static const struct { const char *flag; char letter; } map[] = {
		{ "\\Draft", 'D' }, { "\\Flagged", 'F' }, { "\\Answered", 'R' },
		{ "\\Seen", 'S' }, { "\\Deleted", 'T' },
	};
	size_t n = (size_t)snprintf(info, size, "2,");
	for (size_t i = 0; i < sizeof map / sizeof map[0] && n + 1 < size; i++) {
		size_t len = strlen(map[i].flag);
		for (const char *p = flags; *p;) {
			while (*p == ' ')
				p++;
			size_t word = strcspn(p, " ");
			if (word == len && strncasecmp(p, map[i].flag, len) == 0) {
				info[n++] = map[i].letter;
				break;
			}
			p += word;
		}
	}
	info[n] = '\0';
}

/* --- receiving bodies --- */

static enum mp_status on_begin(void *ctx, size_t index,
			       const struct imap_msginfo *info, struct mp_error *err)
{
	struct worker *w = ctx;
	(void)index;
	w->cur = info;
	w->cur_failed = false;
	if (w->hashing && gnutls_hash_init(&w->hash, GNUTLS_DIG_SHA256) < 0)
		return mp_fail(err, MP_ERR_INTERNAL, "SHA-256 unavailable");
	switch (w->sh->opts->output) {
	case OUT_MAILDIR:
		return maildir_begin(w->md, &w->cur_md, err);
	case OUT_MBOX:
		return mboxout_begin(w->mo, info->internaldate, err);
	case OUT_STDOUT:
		mboxrd_quote_init(&w->quote);
		pthread_mutex_lock(&w->sh->lock);   /* held until the message ends */
		w->stdout_locked = true;
		time_t t = info->internaldate ? info->internaldate : time(NULL);
		printf("From MAILER-DAEMON %s", asctime(gmtime(&t)));
		return MP_OK;
	case OUT_MDA: {
		char uid[32], *env[4];
		snprintf(uid, sizeof uid, "%" PRIu32, info->uid);
		size_t n1 = strlen(w->res->name) + 20;
		env[0] = mp_xmalloc(n1);
		snprintf(env[0], n1, "MAILPIPE_FOLDER=%s", w->res->name);
		env[1] = mp_xmalloc(64);
		snprintf(env[1], 64, "MAILPIPE_UID=%s", uid);
		env[2] = mp_xmalloc(300);
		snprintf(env[2], 300, "MAILPIPE_FLAGS=%s", info->flags);
		env[3] = NULL;
		enum mp_status st = mda_start(&w->cur_mda, w->sh->opts->target,
					      (const char *const *)env, err);
		for (int i = 0; i < 3; i++)
			free(env[i]);
		return st;
	}
	}
	return MP_OK;
}

static enum mp_status on_data(void *ctx, size_t index, const char *buf,
			      size_t len, struct mp_error *err)
{
	struct worker *w = ctx;
	(void)index;
	if (w->hashing && w->mo)
		mboxout_hash_data(w->mo, w->hash, buf, len);   /* as the file keeps it */
	else if (w->hashing)
		gnutls_hash(w->hash, buf, len);
	switch (w->sh->opts->output) {
	case OUT_MAILDIR:
		return maildir_write(w->cur_md, buf, len, err);
	case OUT_MBOX:
		return mboxout_write(w->mo, buf, len, err);
	case OUT_STDOUT: {
		enum { PIECE = 16384 };
		char out[MBOXRD_QUOTE_MAX(PIECE)];
		for (size_t off = 0; off < len; off += PIECE) {
			size_t n = len - off > PIECE ? PIECE : len - off;
			size_t k = mboxrd_quote_feed(&w->quote, buf + off, n, out);
			if (fwrite(out, 1, k, stdout) != k)
				return mp_fail(err, MP_ERR_IO, "cannot write to stdout: %s",
					       strerror(errno));
		}
		return MP_OK;
	}
	case OUT_MDA:
		return mda_write(w->cur_mda, buf, len, err);
	}
	return MP_OK;
}

static void remember(struct worker *w, const char *name)
{
	w->batch[w->nbatch++] = (struct uid_entry){ w->uidvalidity, w->cur->uid,
						    (char *)name };
}

static enum mp_status on_end(void *ctx, size_t index, struct mp_error *err)
{
	struct worker *w = ctx;
	(void)index;
	enum mp_status st = MP_OK;
	if (w->hashing) {
		struct hashed h;
		if (w->mo)
			mboxout_hash_end(w->mo, w->hash);
		gnutls_hash_deinit(w->hash, h.sum);
		for (size_t i = 0; i < w->nknown; i++) {
			if (!memcmp(w->known[i].sum, h.sum, sizeof h.sum)) {
				/* Already in the backup: keep that copy. */
				maildir_abort(w->cur_md);
				w->cur_md = NULL;
				if (w->mo && (st = mboxout_drop(w->mo, err)) != MP_OK)
					return st;
				remember(w, mp_xstrdup(w->known[i].name));
				w->matched++;
				return MP_OK;
			}
		}
	}
	switch (w->sh->opts->output) {
	case OUT_MAILDIR: {
		char info[32];
		flags_to_info(w->cur->flags, info, sizeof info);
		st = maildir_commit(w->cur_md, info, w->cur->internaldate, err);
		w->cur_md = NULL;
		if (st == MP_OK) {
			/* The name it gets at the next flush. */
			const char *name = maildir_pending_name(w->md, maildir_pending(w->md) - 1);
			const char *base = strchr(name, '/');
			char *copy = mp_xstrdup(base ? base + 1 : name);
			copy[strcspn(copy, ":")] = '\0';
			remember(w, copy);
		}
		break;
	}
	case OUT_MBOX:
		st = mboxout_end(w->mo, err);
		if (st == MP_OK)
			remember(w, mp_xstrdup(MBOXOUT_PENDING));   /* named at settle */
		break;
	case OUT_STDOUT: {
		char out[32];
		size_t k = mboxrd_quote_finish(&w->quote, out);
		bool ok = fwrite(out, 1, k, stdout) == k && fflush(stdout) == 0;
		w->stdout_locked = false;
		pthread_mutex_unlock(&w->sh->lock);
		if (!ok)
			return mp_fail(err, MP_ERR_IO, "cannot write to stdout: %s",
				       strerror(errno));
		remember(w, mp_xstrdup("-"));
		break;
	}
	case OUT_MDA:
		st = mda_finish(w->cur_mda, err);
		w->cur_mda = NULL;
		if (st != MP_OK)
			return st;
		remember(w, mp_xstrdup("-"));
		break;
	}
	if (st == MP_OK) {
		w->res->fetched++;
		w->res->bytes += w->cur->size;
		pthread_mutex_lock(&w->sh->lock);
		progress_add(&w->sh->bar, w->cur->size);
		pthread_mutex_unlock(&w->sh->lock);
	}
	return st;
}

static void abandon(struct worker *w)
{
	if (w->stdout_locked) {
		w->stdout_locked = false;
		pthread_mutex_unlock(&w->sh->lock);
	}
	if (w->cur_md)
		maildir_abort(w->cur_md);
	w->cur_md = NULL;
	if (w->cur_mda)
		mda_abort(w->cur_mda);
	w->cur_mda = NULL;
	if (w->mo) {
		struct mp_error ignored;   /* a failed cut fails the settle */
		mboxout_drop(w->mo, &ignored);
	}
}

/* Journal the batch, make it durable, and forget it. */
static enum mp_status settle(struct worker *w, struct mp_error *err)
{
	enum mp_status st;
	if (w->mo) {
		/* mbox rolls back: durable first, recorded after. */
		st = mboxout_settle(w->mo, &w->fs, w->batch, w->nbatch, err);
	} else if (w->md && w->sync_fs) {
		/* The flush's one file-system sync covers the journal too;
		 * the run's final sync covers the moves. */
		st = folder_state_append_unsynced(&w->fs, w->batch, w->nbatch, err);
		if (st == MP_OK)
			st = maildir_flush_fs(w->md, err);
	} else {
		st = folder_state_append(&w->fs, w->batch, w->nbatch, err);
		if (st == MP_OK && w->md)
			st = maildir_flush(w->md, err);
	}
	for (size_t i = 0; i < w->nbatch; i++)
		free(w->batch[i].name);
	w->nbatch = 0;
	return st;
}

/* Fetch uids[0..n) into the backup in durable batches. The last batch is
 * left for the caller to settle (after it has sent the next folder's
 * commands); after a failure nothing is left. */
static enum mp_status fetch(struct worker *w, const uint32_t *uids, size_t n,
			    struct mp_error *err)
{
	struct imap_sink sink = { on_begin, on_data, on_end, w };
	enum mp_status st = MP_OK;
	for (size_t off = 0; st == MP_OK && off < n; off += BATCH) {
		size_t k = n - off > BATCH ? BATCH : n - off;
		if (off > 0 && (st = settle(w, err)) != MP_OK)
			break;
		st = imap_fetch_bodies(w->imap, uids + off, k, WINDOW, &sink, err);
		if (st != MP_OK) {
			abandon(w);
			/* Keep what arrived whole. */
			struct mp_error e2;
			settle(w, &e2);
		}
	}
	return st;
}

/* snprintf into a path buffer; a path that does not fit is skipped. */
#define PATHF(buf, ...) ((size_t)snprintf(buf, sizeof buf, __VA_ARGS__) < sizeof buf)

/* --- flags --- */

/* Base name -> current file name in cur/ (or new/) of the folder. */
struct listing {
	char **names;     /* "cur/BASE:2,FS" */
	size_t n;
};

static void list_dir(const char *dir, const char *sub, struct listing *l)
{
	char path[4200];
	if (!PATHF(path, "%s/%s", dir, sub))
		return;
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		l->names = mp_xrealloc(l->names, (l->n + 1) * sizeof *l->names);
		size_t size = strlen(sub) + strlen(e->d_name) + 2;
		l->names[l->n] = mp_xmalloc(size);
		snprintf(l->names[l->n], size, "%s/%s", sub, e->d_name);
		l->n++;
	}
	closedir(d);
}

static const char *find_file(const struct listing *l, const char *base)
{
	size_t blen = strlen(base);
	for (size_t i = 0; i < l->n; i++) {
		const char *name = l->names[i] + 4;   /* after "cur/" or "new/" */
		if (!strncmp(name, base, blen) && (name[blen] == '\0' || name[blen] == ':'))
			return l->names[i];
	}
	return NULL;
}

static void listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	memset(l, 0, sizeof *l);
}

/* Make each kept message's Maildir flags follow the server's. With
 * --mirror, move messages the server no longer has into the local folder
 * "Removed" (never unlink). known/nknown: what this run's FETCH of
 * UIDs 1:* already said (every message, or those changed since
 * changedsince), or NULL to ask here. */
static enum mp_status update_flags(struct worker *w, const char *dir,
				   uint32_t maxuid, uint64_t changedsince,
				   const char *removed_dir,
				   const struct imap_msginfo *known, size_t nknown,
				   struct mp_error *err)
{
	struct imap_msginfo *fetched = NULL;
	const struct imap_msginfo *info = known;
	size_t n = nknown;
	if (maxuid == 0)
		return MP_OK;
	if (!known) {
		enum mp_status st = imap_fetch_info(w->imap, 1, maxuid,
						    w->sh->opts->mirror ? 0 : changedsince,
						    &fetched, &n, err);
		if (st != MP_OK)
			return st;
		info = fetched;
	}
	/* Those above maxuid came just now, with their flags. */
	while (n > 0 && info[n - 1].uid > maxuid)
		n--;
	if (n == 0 && !w->sh->opts->mirror) {
		/* No flag changed: no need to look at the files. */
		free(fetched);
		return MP_OK;
	}
	struct listing l = { 0 };
	list_dir(dir, "cur", &l);
	list_dir(dir, "new", &l);
	for (size_t i = 0; i < n; i++) {
		const struct uid_entry *e = folder_state_find(&w->fs, w->uidvalidity, info[i].uid);
		if (!e || !strcmp(e->name, "-"))
			continue;
		const char *cur = find_file(&l, e->name);
		if (!cur)
			continue;
		char info_s[32], want[4200], from[4200], to[4200];
		flags_to_info(info[i].flags, info_s, sizeof info_s);
		if (!PATHF(want, "cur/%s:%s", e->name, info_s) || !strcmp(cur, want) ||
		    w->sh->opts->dry_run)
			continue;
		if (PATHF(from, "%s/%s", dir, cur) && PATHF(to, "%s/%s", dir, want) &&
		    rename(from, to) == 0)
			w->res->flags_updated++;
	}
	if (w->sh->opts->mirror && removed_dir) {
		/* Kept UIDs the server did not list are gone there. */
		size_t k = 0;
		for (size_t i = 0; i < w->fs.nuids; i++) {
			const struct uid_entry *e = &w->fs.uids[i];
			/* Above maxuid: fetched just now, so on the server. */
			if (e->uidvalidity != w->uidvalidity || !strcmp(e->name, "-") ||
			    e->uid > maxuid)
				continue;
			while (k < n && info[k].uid < e->uid)
				k++;
			if (k < n && info[k].uid == e->uid)
				continue;
			const char *cur = find_file(&l, e->name);
			if (!cur || w->sh->opts->dry_run)
				continue;
			char from[4200], to[4200];
			if (PATHF(from, "%s/%s", dir, cur) &&
			    PATHF(to, "%s/%s", removed_dir, cur) && rename(from, to) == 0)
				w->res->removed++;
		}
	}
	listing_free(&l);
	free(fetched);
	return MP_OK;
}

/* --- UIDVALIDITY change --- */

/* Hash every file of the backup's folder so refetched messages that are
 * already there are recognised by content, not stored twice. */
static void index_local(struct worker *w, const char *dir)
{
	struct listing l = { 0 };
	list_dir(dir, "cur", &l);
	list_dir(dir, "new", &l);
	w->known = mp_xcalloc(l.n + 1, sizeof *w->known);
	for (size_t i = 0; i < l.n; i++) {
		char path[4200];
		FILE *f = PATHF(path, "%s/%s", dir, l.names[i]) ? fopen(path, "re") : NULL;
		if (!f)
			continue;
		gnutls_hash_hd_t h;
		if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) {
			fclose(f);
			continue;
		}
		char buf[65536];
		size_t got;
		while ((got = fread(buf, 1, sizeof buf, f)) > 0)
			gnutls_hash(h, buf, got);
		fclose(f);
		gnutls_hash_deinit(h, w->known[w->nknown].sum);
		char *base = mp_xstrdup(l.names[i] + 4);
		base[strcspn(base, ":")] = '\0';
		w->known[w->nknown++].name = base;
	}
	listing_free(&l);
}

/* An mbox message found by mboxout_index. */
static void know(void *ctx, const unsigned char sum[32], const char *name)
{
	struct worker *w = ctx;
	w->known = mp_xrealloc(w->known, (w->nknown + 1) * sizeof *w->known);
	memcpy(w->known[w->nknown].sum, sum, sizeof w->known[w->nknown].sum);
	w->known[w->nknown++].name = mp_xstrdup(name);
}

static void free_known(struct worker *w)
{
	for (size_t i = 0; i < w->nknown; i++)
		free(w->known[i].name);
	free(w->known);
	w->known = NULL;
	w->nknown = 0;
}

/* mkdir -p, private. */
static enum mp_status make_dirs(const char *dir, struct mp_error *err)
{
	char *p = mp_xstrdup(dir);
	for (char *q = p + 1;; q++) {
		if (*q == '/' || !*q) {
			char c = *q;
			*q = '\0';
			if (mkdir(p, 0700) < 0 && errno != EEXIST) {
				enum mp_status st = mp_fail(err, MP_ERR_IO, "cannot create %s: %s",
							    p, strerror(errno));
				free(p);
				return st;
			}
			*q = c;
			if (!c)
				break;
		}
	}
	free(p);
	return MP_OK;
}

static bool file_exists(void *ctx, const char *name)
{
	struct worker *w = ctx;
	return !strcmp(name, "-") || maildir_has(w->md, name);
}

/* A run killed after journaling a batch but before its flush left UIDs
 * whose files never reached new/ or cur/: they are not had, so forget
 * them, to be fetched again. */
static enum mp_status drop_unsettled(struct worker *w, bool *dropped,
				     struct mp_error *err)
{
	*dropped = false;
	for (size_t i = 0; i < w->fs.nuids; i++) {
		if (!file_exists(w, w->fs.uids[i].name)) {
			*dropped = true;
			return folder_state_compact(&w->fs, file_exists, w, err);
		}
	}
	return MP_OK;
}

/* --- one folder --- */

/* Whether dir and dir/sub are on one file system. */
static bool same_fs(const char *dir, const char *sub)
{
	char path[4200];
	struct stat a, b;
	return PATHF(path, "%s/%s", dir, sub) && stat(dir, &a) == 0 &&
	       stat(path, &b) == 0 && a.st_dev == b.st_dev;
}

static bool excluded(const struct sync_opts *o, const char *name)
{
	for (size_t i = 0; i < o->nexcludes; i++)
		if (fnmatch(o->excludes[i], name, 0) == 0)
			return true;
	return false;
}

/* One folder's sync, in three steps so that a connection is never idle:
 * begin_folder asks for the folder (EXAMINE and its message list in one
 * write), run_folder opens the local side while the server answers and
 * fetches what is new, and end_folder makes the last batch durable, updates
 * flags and writes the state, after the next folder's begin_folder has
 * gone out. */
struct job {
	const struct imap_folder *f;
	struct folder_result *res;
	char *local;                     /* relative local name */
	char dir[4200], removed[4200];
	struct folder_state fs;          /* until run_folder takes it */
	bool full;                       /* fs holds the UID list too */
	struct imap_open op;
	bool sent;                       /* op is on the wire */
	bool ran;                        /* run_folder got to the end */
	/* what run_folder learnt, for end_folder */
	struct imap_mailbox mb;
	struct imap_msginfo *info;
	size_t ninfo;
	uint32_t maxuid;
	bool changed;
};

static void job_free(struct job *j)
{
	free(j->local);
	folder_state_free(&j->fs);
	imap_open_free(&j->op);
	free(j->info);
	memset(j, 0, sizeof *j);
}

static enum mp_status begin_folder(struct worker *w, struct job *j,
				   struct mp_error *err)
{
	const struct sync_opts *o = w->sh->opts;
	struct folder_result *res = j->res;
	enum mp_status st = folder_local_name(j->f, w->utf8, o->layout, &res->name,
					      &j->local, err);
	if (st != MP_OK)
		return st;
	const char *base = o->output == OUT_MAILDIR ? o->target : o->state_dir;
	/* A folder name the mapping never produces, so no server folder
	 * can land in it. */
	bool fits = PATHF(j->dir, "%s%s%s", base, *j->local ? "/" : "", j->local) &&
		    PATHF(j->removed, "%s/%s", o->target,
			  o->layout == LAYOUT_NESTED ? ".Removed" : ".%Removed");
	if (!fits)
		return mp_fail(err, MP_ERR_DATA, "the local path for %s is too long",
			       res->name);
	/* The state file is enough to ask; run_folder reads the UID list
	 * while the server answers. */
	st = folder_state_load_summary(j->dir, o->layout == LAYOUT_NESTED, &j->fs, err);
	if (st != MP_OK)
		return st;
	/* A narrowed run looks even at unchanged folders: criteria widened
	 * since the last run, or met by mail as time passes, may now match
	 * mail the backup lacks. */
	if (j->fs.uidvalidity && !o->search && !res->prechecked) {
		/* Unchanged since last time? Then it need not even be opened. */
		struct imap_mailbox mb;
		st = imap_status(w->imap, j->f->name, &mb, err);
		if (st != MP_OK)
			return st;
		if (!j->fs.has_maxuid || mb.uidvalidity != j->fs.uidvalidity) {
			folder_state_free(&j->fs);
			st = folder_state_load(j->dir, o->layout == LAYOUT_NESTED,
					       &j->fs, err);
			if (st != MP_OK)
				return st;
			j->full = true;
		}
		uint32_t maxuid = j->full ? folder_state_max_uid(&j->fs, mb.uidvalidity)
				  : j->fs.maxuid;
		if (mb.uidvalidity == j->fs.uidvalidity && mb.uidnext <= maxuid + 1 &&
		    mb.highestmodseq && mb.highestmodseq == j->fs.highestmodseq &&
		    !o->mirror) {
			res->unchanged = true;
			return MP_OK;
		}
	}
	if (o->search)
		return MP_OK;   /* EXAMINE, then UID SEARCH: one by one */
	/* What changed since the last run; all of it when the state is
	 * not to be trusted for that (run_folder asks again if EXAMINE
	 * says otherwise). */
	uint64_t since = j->fs.uidvalidity && !j->fs.guessed && !o->mirror
			 ? j->fs.highestmodseq : 0;
	st = imap_open_send(w->imap, j->f->name, since, &j->op, err);
	j->sent = st == MP_OK;
	return st;
}

static enum mp_status run_folder(struct worker *w, struct job *j,
				 struct mp_error *err)
{
	const struct sync_opts *o = w->sh->opts;
	struct folder_result *res = j->res;
	enum mp_status st = MP_OK;
	w->res = res;
	w->nbatch = 0;
	if (j->full) {
		w->fs = j->fs;
		memset(&j->fs, 0, sizeof j->fs);
	} else {
		st = folder_state_load(j->dir, o->layout == LAYOUT_NESTED, &w->fs, err);
	}

	/* The local side, while the server answers. */
	if (st != MP_OK) {
		/* Read the answers below all the same. */
	} else if (o->output == OUT_MAILDIR && o->dry_run) {
		/* A dry run creates nothing: a folder not yet backed up is new. */
		struct mp_error ignored;
		if (maildir_open(&w->md, j->dir, false, &ignored) != MP_OK)
			w->md = NULL;
	} else if (o->output == OUT_MAILDIR) {
		st = maildir_open(&w->md, j->dir, true, err);
		if (st == MP_OK) {
			maildir_clean_tmp(w->md);
			w->sync_fs = maildir_can_sync_fs() && same_fs(j->dir, "tmp");
		}
	} else if (!o->dry_run) {
		st = make_dirs(j->dir, err);
	}
	bool dropped = false;
	if (st == MP_OK && w->md && !o->dry_run)
		st = drop_unsettled(w, &dropped, err);
	if (st == MP_OK && o->output == OUT_MBOX && !o->dry_run)
		st = mboxout_open(&w->mo, o->target, j->local, &w->fs, &dropped, err);
	/* After an interrupted run the kept UIDs may have holes (a batch moved
	 * into place only in part): then look at every UID, not only those
	 * above the highest kept. */
	bool full_scan = dropped || w->fs.uidvalidity == 0 || w->fs.guessed;

	struct imap_mailbox mb = { 0 };
	if (j->sent) {
		/* Read the answers even after a local failure, to stay in
		 * step with the server. */
		struct mp_error e2 = { 0 };
		enum mp_status st2 = imap_open_finish(w->imap, &j->op, &mb, &j->info,
						      &j->ninfo, &e2);
		if (st == MP_OK && st2 != MP_OK) {
			*err = e2;
			st = st2;
		}
	} else if (st == MP_OK) {
		st = imap_examine(w->imap, j->f->name, &mb, err);
	}
	if (st != MP_OK)
		return st;
	j->mb = mb;
	w->uidvalidity = mb.uidvalidity;
	uint32_t maxuid = folder_state_max_uid(&w->fs, mb.uidvalidity);
	size_t kept = 0;
	for (size_t i = 0; i < w->fs.nuids; i++)
		kept += w->fs.uids[i].uidvalidity == w->fs.uidvalidity;
	if (mb.messages == 0 && kept > 0) {
		/* A folder that had mail and now shows none: a server fault as
		 * likely as a real emptying. Change nothing. */
		res->refused_empty = true;
		return MP_OK;
	}
	bool changed = w->fs.uidvalidity && mb.uidvalidity != w->fs.uidvalidity;
	if (changed) {
		res->uidvalidity_changed = true;
		if (o->output == OUT_MAILDIR) {
			index_local(w, j->dir);
			w->hashing = true;
		} else if (w->mo) {
			st = mboxout_index(w->mo, know, w, err);
			if (st != MP_OK)
				return st;
			w->hashing = true;
		}
		maxuid = 0;
	}
	j->changed = changed;
	j->maxuid = maxuid;

	uint32_t *todo = NULL;
	size_t ntodo = 0;
	if (o->search && mb.messages > 0) {
		/* Narrowed: what matches anywhere in the folder and is not
		 * kept, so mail skipped before is fetched once it matches.
		 * What does not match is only left on the server: nothing
		 * kept is touched. */
		uint32_t *found = NULL;
		size_t nfound = 0;
		st = imap_uid_search(w->imap, o->search, &found, &nfound, err);
		todo = mp_xcalloc(nfound + 1, sizeof *todo);
		for (size_t i = 0; st == MP_OK && i < nfound; i++)
			if (!folder_state_find(&w->fs, mb.uidvalidity, found[i]))
				todo[ntodo++] = found[i];
		free(found);
	} else {
		/* The list told both what is new and, for update_flags, the
		 * flags of what is kept: only what changed since the last run
		 * where the server keeps MODSEQs (new mail always has a higher
		 * one). When that was not enough, ask for everything. */
		uint32_t first = full_scan ? 1 : maxuid + 1;
		bool whole = full_scan || changed || !mb.highestmodseq ||
			     mb.highestmodseq < j->op.since;
		if (j->op.since && whole && mb.messages > 0) {
			free(j->info);
			j->info = NULL;
			st = imap_fetch_info(w->imap, 1, 0, 0, &j->info, &j->ninfo, err);
		}
		todo = mp_xcalloc(j->ninfo + 1, sizeof *todo);
		for (size_t i = 0; st == MP_OK && i < j->ninfo; i++)
			if (j->info[i].uid >= first &&
			    !folder_state_find(&w->fs, mb.uidvalidity, j->info[i].uid))
				todo[ntodo++] = j->info[i].uid;
	}
	w->batch = mp_xcalloc(BATCH + 1, sizeof *w->batch);
	if (st == MP_OK && !o->dry_run)
		st = fetch(w, todo, ntodo, err);
	else if (st == MP_OK)
		res->fetched = ntodo;
	free(todo);
	j->ran = st == MP_OK;
	return st;
}

/* Settle the last batch, update flags, write the state, close; st is
 * what run_folder returned. */
static enum mp_status end_folder(struct worker *w, struct job *j,
				 enum mp_status st, struct mp_error *err)
{
	const struct sync_opts *o = w->sh->opts;
	struct folder_result *res = j->res;
	if (st == MP_OK && w->nbatch > 0)
		st = settle(w, err);
	free(w->batch);
	w->batch = NULL;
	w->hashing = false;
	res->matched = w->matched;
	w->matched = 0;
	free_known(w);
	if (st == MP_OK && j->ran && o->output == OUT_MAILDIR && !j->changed) {
		struct maildir *rm = NULL;
		if (o->mirror && !o->dry_run)
			st = maildir_open(&rm, j->removed, true, err);
		if (st == MP_OK)
			st = update_flags(w, j->dir, j->maxuid, w->fs.highestmodseq,
					  o->mirror ? j->removed : NULL, j->info,
					  j->ninfo, err);
		maildir_close(rm);
	}
	if (st == MP_OK && j->ran && !o->dry_run) {
		w->fs.uidvalidity = j->mb.uidvalidity;
		w->fs.highestmodseq = j->mb.highestmodseq;
		st = folder_state_save(&w->fs, err);
	}
	mboxout_close(w->mo);
	w->mo = NULL;
	maildir_close(w->md);
	w->md = NULL;
	w->sync_fs = false;
	folder_state_free(&w->fs);
	return st;
}

/* Ask STATUS for a folder the backup has, on the first connection, before
 * any other is opened (or take what LIST-STATUS said): a run where nothing
 * changed then costs one login and one round trip. Leaves res->unchanged
 * set when so. */
static void precheck(struct worker *w, const struct imap_folder *f,
		     struct folder_result *res)
{
	const struct sync_opts *o = w->sh->opts;
	/* Unknown: as if large. */
	res->expected = f->has_status ? f->status.messages : UNKNOWN_NEW;
	if (o->search || o->mirror || o->dry_run)
		return;
	char *local = NULL, dir[4200];
	struct mp_error ignored;
	if (folder_local_name(f, w->utf8, o->layout, &res->name, &local, &ignored) != MP_OK)
		return;
	const char *base = o->output == OUT_MAILDIR ? o->target : o->state_dir;
	bool fits = PATHF(dir, "%s%s%s", base, *local ? "/" : "", local);
	free(local);
	struct folder_state fs;
	bool nested = o->layout == LAYOUT_NESTED;
	if (!fits || folder_state_load_summary(dir, nested, &fs, &ignored) != MP_OK)
		return;
	if (!fs.has_maxuid) {
		/* Written by an older version: the UID list tells. */
		folder_state_free(&fs);
		if (folder_state_load(dir, nested, &fs, &ignored) != MP_OK)
			return;
	}
	struct imap_mailbox mb = f->status;
	if (fs.uidvalidity &&
	    (f->has_status || imap_status(w->imap, f->name, &mb, &ignored) == MP_OK)) {
		uint32_t maxuid = fs.has_maxuid && mb.uidvalidity == fs.uidvalidity
				  ? fs.maxuid : folder_state_max_uid(&fs, mb.uidvalidity);
		res->prechecked = true;
		res->expected = mb.uidvalidity != fs.uidvalidity ? mb.messages
				: mb.uidnext > maxuid + 1 ? mb.uidnext - maxuid - 1 : 0;
		res->unchanged = mb.uidvalidity == fs.uidvalidity &&
				 mb.uidnext <= maxuid + 1 && mb.highestmodseq &&
				 mb.highestmodseq == fs.highestmodseq;
	}
	folder_state_free(&fs);
}

/* --- workers --- */

static enum mp_status open_session(struct shared *sh, struct imap_session **out,
				   struct mp_error *err)
{
	enum mp_status st = imap_open(out, &sh->cli->server, err);
	if (st == MP_OK && sh->cli->auth.user)
		st = imap_auth(*out, &sh->cli->auth, err);
	else if (st == MP_OK)
		st = mp_fail(err, MP_ERR_USAGE, "no user name: give user@ in the URL, "
			     "--user, or user in the config");
	if (st == MP_OK)
		st = imap_enable(*out, err);
	if (st != MP_OK) {
		imap_close(*out);
		*out = NULL;
	}
	return st;
}

/* A folder name fit for one line of a terminal. */
static char *printable(const char *name)
{
	char *p = mp_xstrdup(name ? name : "?");
	for (char *q = p; *q; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			*q = '?';
	return p;
}

static void print_result(struct shared *sh, const struct folder_result *r)
{
	const struct sync_opts *o = sh->opts;
	/* Failures always reach stderr; the rest is for people. */
	if (r->status == MP_OK && (o->json || o->quiet))
		return;
	char *name = printable(r->name);
	pthread_mutex_lock(&sh->lock);
	progress_clear(&sh->bar);
	if (r->status != MP_OK)
		fprintf(stderr, "%s: %s: %s\n", sh->cli->prog, name, r->error);
	else if (r->refused_empty)
		fprintf(stderr, "%s: %s: the server shows it empty but the backup has mail; "
			"nothing changed\n", sh->cli->prog, name);
	else
		fprintf(stderr, "%s: %s: %s%zu new (%.1f MB), %zu flags updated%s%s\n",
			sh->cli->prog, name, r->unchanged ? "unchanged, " : "",
			r->fetched, (double)r->bytes / 1e6, r->flags_updated,
			r->removed ? ", some moved to Removed" : "",
			r->uidvalidity_changed ? ", UIDVALIDITY changed (matched by content)" : "");
	pthread_mutex_unlock(&sh->lock);
	free(name);
}

/* The next folder to sync, into j; NULL when none is left. Folders found
 * unchanged before are only reported. */
static struct job *take(struct worker *w, struct job *j)
{
	struct shared *sh = w->sh;
	for (;;) {
		pthread_mutex_lock(&sh->lock);
		size_t i = sh->next < sh->nfolders ? sh->next++ : SIZE_MAX;
		pthread_mutex_unlock(&sh->lock);
		if (i == SIZE_MAX)
			return NULL;
		if (sh->results[i].unchanged) {
			print_result(sh, &sh->results[i]);
			continue;
		}
		memset(j, 0, sizeof *j);
		j->f = &sh->folders[i];
		j->res = &sh->results[i];
		return j;
	}
}

static void set_failed(struct folder_result *r, enum mp_status st,
		   const struct mp_error *err)
{
	r->status = st;
	mp_strlcpy(r->error, err->msg, sizeof r->error);
}

/* A connection that may be gone or out of step is dropped: the next
 * folder starts afresh. */
static void after_failure(struct worker *w, enum mp_status st)
{
	if (st == MP_ERR_TEMP || st == MP_ERR_PROTOCOL) {
		imap_close(w->imap);
		w->imap = NULL;
	}
}

/* Connect if need be and begin j; a failure is j's. */
static void start(struct worker *w, struct job *j)
{
	struct mp_error err = { 0 };
	enum mp_status st = MP_OK;
	if (!w->imap)
		st = open_session(w->sh, &w->imap, &err);
	if (st == MP_OK)
		st = begin_folder(w, j, &err);
	if (st != MP_OK) {
		set_failed(j->res, st, &err);
		after_failure(w, st);
	}
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	struct job slots[2];
	int k = 0;
	struct job *cur = take(w, &slots[k]);
	if (cur)
		start(w, cur);
	while (cur) {
		struct folder_result *r = cur->res;
		struct mp_error err = { 0 };
		enum mp_status st = MP_OK;
		bool go = r->status == MP_OK && !r->unchanged;
		if (go && !w->imap) {
			/* The connection went with an earlier folder's failure. */
			start(w, cur);
			go = r->status == MP_OK && !r->unchanged;
		}
		if (go) {
			st = run_folder(w, cur, &err);
			if (st != MP_OK)
				after_failure(w, st);
		}
		/* The next folder's commands go out before this one's last
		 * batch is made durable. */
		k ^= 1;
		struct job *next = take(w, &slots[k]);
		if (next && w->imap)
			start(w, next);
		if (go) {
			st = end_folder(w, cur, st, &err);
			if (st != MP_OK)
				set_failed(r, st, &err);
		}
		print_result(sh, r);
		job_free(cur);
		cur = next;
	}
	return NULL;
}

static void json_string(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void print_json(const struct shared *sh)
{
	printf("{\"folders\":[");
	for (size_t i = 0; i < sh->nfolders; i++) {
		const struct folder_result *r = &sh->results[i];
		printf("%s{\"name\":", i ? "," : "");
		json_string(r->name);
		printf(",\"fetched\":%zu,\"bytes\":%llu,\"flags_updated\":%zu,"
		       "\"removed\":%zu,\"matched\":%zu,\"unchanged\":%s,"
		       "\"uidvalidity_changed\":%s,\"refused_empty\":%s,\"error\":",
		       r->fetched, r->bytes, r->flags_updated, r->removed, r->matched,
		       r->unchanged ? "true" : "false",
		       r->uidvalidity_changed ? "true" : "false",
		       r->refused_empty ? "true" : "false");
		if (r->status == MP_OK)
			printf("null");
		else
			json_string(r->error);
		printf("}");
	}
	printf("]}\n");
}

/* The backup's existing folder directories (Maildir++ or nested), to
 * notice a server that suddenly lists nothing. */
static bool backup_has_folders(const struct sync_opts *o)
{
	if (o->output != OUT_MAILDIR && o->output != OUT_MBOX)
		return false;
	char path[4200];
	struct stat sb;
	return PATHF(path, "%s/%s", o->output == OUT_MBOX ? o->state_dir : o->target,
		     o->layout == LAYOUT_NESTED ? ".mailpipe-state" : "mailpipe-state") &&
	       stat(path, &sb) == 0;
}

enum mp_status sync_run(struct cli *cli, const struct sync_opts *opts,
			struct mp_error *err)
{
	struct shared sh = { .cli = cli, .opts = opts };
	/* One run per backup: two would journal and flush the same folders. */
	char lock_path[4200];
	int lock_fd = -1;
	const char *where = opts->output == OUT_MAILDIR ? opts->target : opts->state_dir;
	if (opts->output != OUT_MAILDIR && !opts->dry_run && make_dirs(where, err) != MP_OK)
		return err->status;
	if (!PATHF(lock_path, "%s/%s", where,
		   opts->layout == LAYOUT_NESTED ? ".mailpipe-lock" : "mailpipe-lock"))
		return mp_fail(err, MP_ERR_CONFIG, "backup path too long");
	if (!opts->dry_run &&
	    lock_take(lock_path, "another imapsync on this backup", &lock_fd, err) != MP_OK)
		return err->status;
	pthread_mutex_init(&sh.lock, NULL);
	struct worker *workers = mp_xcalloc(opts->jobs, sizeof *workers);
	enum mp_status st = open_session(&sh, &workers[0].imap, err);
	for (size_t p = 0; st == MP_OK && p < opts->nfolders; p++) {
		struct imap_folder *f = NULL;
		size_t n = 0;
		st = imap_list(workers[0].imap, opts->folders[p], &f, &n, err);
		for (size_t i = 0; st == MP_OK && i < n; i++) {
			bool dup = false;
			for (size_t k = 0; k < sh.nfolders; k++)
				dup |= !strcmp(sh.folders[k].name, f[i].name);
			if (dup || f[i].noselect)
				continue;
			sh.folders = mp_xrealloc(sh.folders, (sh.nfolders + 1) * sizeof *sh.folders);
			sh.folders[sh.nfolders] = f[i];
			sh.folders[sh.nfolders++].name = mp_xstrdup(f[i].name);
		}
		imap_folders_free(f, n);
	}
	bool chosen = opts->nfolders != 1 || strcmp(opts->folders[0], "*") != 0;
	if (st == MP_OK && sh.nfolders == 0 && chosen)
		/* Likely a misspelt pattern: a backup of nothing is no backup. */
		st = mp_fail(err, MP_ERR_NOUSER, "no folder on the server matches "
			     "--folder '%s'%s", opts->folders[0],
			     opts->nfolders > 1 ? " or the other patterns" : "");
	else if (st == MP_OK && sh.nfolders == 0 && backup_has_folders(opts))
		st = mp_fail(err, MP_ERR_TEMP,
			     "the server lists no folders, but the backup has some; "
			     "nothing changed");
	if (st == MP_OK) {
		/* Two server names (one of them malformed) may map to the same
		 * local directory: keep the first, never merge the second in. */
		char **locals = mp_xcalloc(sh.nfolders + 1, sizeof *locals);
		size_t k = 0;
		for (size_t i = 0; i < sh.nfolders; i++) {
			char *name = NULL;
			struct mp_error e2;
			bool clash = false;
			if (folder_local_name(&sh.folders[i], imap_utf8(workers[0].imap),
					      opts->layout, &name, &locals[k], &e2) == MP_OK) {
				for (size_t j = 0; j < k && !clash; j++)
					clash = locals[j] && (!strcmp(locals[j], locals[k]) ||
						(opts->output == OUT_MBOX &&
						 mboxout_names_clash(locals[j], locals[k])));
			}
			if (clash) {
				char *shown = printable(name);
				fprintf(stderr, "%s: %s: skipped: it maps to the same local "
					"folder as another server folder\n", cli->prog, shown);
				free(shown);
				free(locals[k]);
				free(sh.folders[i].name);
			} else {
				sh.folders[k] = sh.folders[i];
				k++;
			}
			free(name);
		}
		for (size_t i = 0; i < k; i++)
			free(locals[i]);
		free(locals);
		sh.nfolders = k;
	}
	if (st == MP_OK && opts->nexcludes) {
		/* Exclusions match the UTF-8 names users see. */
		size_t k = 0;
		for (size_t i = 0; i < sh.nfolders; i++) {
			char *name = NULL, *local = NULL;
			struct mp_error e2;
			bool skip = folder_local_name(&sh.folders[i], imap_utf8(workers[0].imap),
						      opts->layout, &name, &local, &e2) == MP_OK &&
				    excluded(opts, name);
			free(name);
			free(local);
			if (skip)
				free(sh.folders[i].name);
			else
				sh.folders[k++] = sh.folders[i];
		}
		sh.nfolders = k;
	}
	if (st == MP_OK) {
		sh.results = mp_xcalloc(sh.nfolders + 1, sizeof *sh.results);
		workers[0].sh = &sh;
		workers[0].utf8 = imap_utf8(workers[0].imap);
		size_t changed = 0, expected = 0;
		for (size_t i = 0; i < sh.nfolders; i++) {
			precheck(&workers[0], &sh.folders[i], &sh.results[i]);
			changed += !sh.results[i].unchanged;
			if (!sh.results[i].unchanged)
				expected += sh.results[i].expected;
		}
		/* More connections only for folders that need work, and only
		 * when there is enough to fetch to repay another login. */
		unsigned jobs = opts->jobs;
		if (jobs > changed)
			jobs = changed ? (unsigned)changed : 1;
		if (jobs > 1 + expected / MESSAGES_PER_JOB)
			jobs = 1 + (unsigned)(expected / MESSAGES_PER_JOB);
		/* A total only when every changed folder's STATUS told it. */
		progress_init(&sh.bar, cli->prog, opts->progress && !opts->dry_run,
			      expected < UNKNOWN_NEW ? expected : 0);
		pthread_t *threads = mp_xcalloc(jobs, sizeof *threads);
		for (unsigned j = 0; j < jobs; j++) {
			workers[j].sh = &sh;
			workers[j].utf8 = imap_utf8(workers[0].imap);
		}
		for (unsigned j = 1; j < jobs; j++)
			pthread_create(&threads[j], NULL, work, &workers[j]);
		work(&workers[0]);
		for (unsigned j = 1; j < jobs; j++)
			pthread_join(threads[j], NULL);
		free(threads);
		progress_clear(&sh.bar);
		/* One sync for every folder's moves and state files. */
		bool wrote = false;
		for (size_t i = 0; i < sh.nfolders; i++)
			wrote |= !sh.results[i].unchanged;
		if (wrote && !opts->dry_run && maildir_sync_fs(where, err) != MP_OK)
			st = err->status;
		if (opts->json)
			print_json(&sh);
		/* The run's status is the first failure's; each was printed. */
		size_t failed = 0;
		for (size_t i = 0; i < sh.nfolders; i++) {
			if (sh.results[i].status == MP_OK)
				continue;
			if (!failed++)
				st = sh.results[i].status;
		}
		if (failed)
			mp_fail(err, st, "%zu of %zu folders failed (see above); "
				"they are synced on the next run", failed, sh.nfolders);
		if (st == MP_OK && !opts->quiet && !opts->json) {
			size_t fetched = 0;
			unsigned long long bytes = 0;
			for (size_t i = 0; i < sh.nfolders; i++) {
				fetched += sh.results[i].fetched;
				bytes += sh.results[i].bytes;
			}
			fprintf(stderr, "%s: %zu folders, %zu new messages (%.1f MB)\n",
				cli->prog, sh.nfolders, fetched, (double)bytes / 1e6);
		}
	}
	for (unsigned j = 0; j < opts->jobs; j++) {
		if (workers[j].imap) {
			struct mp_error ignored;
			imap_logout_nowait(workers[j].imap, &ignored);
			imap_close(workers[j].imap);
		}
	}
	for (size_t i = 0; i < sh.nfolders; i++) {
		free(sh.folders[i].name);
		if (sh.results)
			free(sh.results[i].name);
	}
	free(sh.folders);
	free(sh.results);
	free(workers);
	pthread_mutex_destroy(&sh.lock);
	if (lock_fd >= 0)
		lock_release(lock_fd);
	return st;
}
