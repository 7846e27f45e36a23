#include "worker.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lock.h"
#include "strutil.h"

/* New messages that make another connection worth its login. */
#define MESSAGES_PER_JOB 200
#define UNKNOWN_NEW 100000

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
	return !strcmp(name, "-") || name[0] == '=' || maildir_has(w->md, name);
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
			st = mboxout_index(w->mo, know_message, w, err);
			if (st != MP_OK)
				return st;
			w->hashing = true;
		} else {
			/* Handed on before: known by the hashes recorded. */
			index_delivered(w, w->fs.uidvalidity);
			w->hashing = w->nknown > 0;
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
		st = fetch_messages(w, todo, ntodo, err);
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
		st = settle_batch(w, err);
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

/* Close a session, LOGOUT first when asked. An [ALERT] the server sent is
 * for the user's eyes (RFC 3501 7.1): it goes to stderr, -q or not. */
static void end_session(struct imap_session **s, const char *prog, bool logout)
{
	const char *alert = *s ? imap_alert(*s) : NULL;

	if (alert)
		fprintf(stderr, "%s: the server says: %s\n", prog, alert);
	if (logout && *s) {
		struct mp_error ignored;
		imap_logout_nowait(*s, &ignored);
	}
	imap_close(*s);
	*s = NULL;
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
	if (st != MP_OK)
		end_session(out, sh->cli->prog, false);
	return st;
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
	if (st == MP_ERR_TEMP || st == MP_ERR_PROTOCOL)
		end_session(&w->imap, w->sh->cli->prog, false);
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
		if (workers[j].imap)
			end_session(&workers[j].imap, cli->prog, true);
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
