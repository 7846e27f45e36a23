#include "fetch.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "glance.h"
#include "journal.h"
#include "lock.h"
#include "maildir.h"
#include "mbox.h"
#include "mboxrd.h"
#include "mda.h"
#include "pop3.h"
#include "preview.h"
#include "progress.h"
#include "state.h"
#include "strutil.h"

/* Messages made durable together; also a cap on bytes per batch. */
#define BATCH_MESSAGES 256
#define BATCH_BYTES (64ULL * 1024 * 1024)
/* RETRs kept in flight when the server pipelines. */
#define RETR_WINDOW 32
/* Forget UIDLs the server has not listed for this long. */
#define FORGET_AFTER (90 * 86400)

struct run {
	struct cli *cli;
	const struct fetch_plan *plan;
	struct pop3_session *pop;
	struct uidl_state *state;
	char journal_path[4200];
	struct maildir *md;
	struct mbox *mb;
	time_t now;

	struct pop3_entry *entries;
	size_t nentries;
	bool have_uidl;
	struct pop3_glance seen;       /* when the plan glances: see glance.h */

	/* the batch being fetched: indices into entries */
	size_t *batch;
	size_t nbatch;
	bool *delivered;               /* per batch slot */
	bool *got;                     /* per entry: delivered this run */
	bool *known;                   /* per entry: fetched by an earlier run */

	/* the message in progress */
	struct maildir_msg *cur_md;
	struct mda *cur_mda;
	struct mboxrd_quote quote;
	bool cur_broken;               /* its delivery already failed */
	bool mbox_failed;              /* a write to the mbox failed */
	struct mp_error cur_err;

	bool state_dirty;              /* more than fetches and deletions to save */

	/* totals */
	size_t fetched, skipped, deleted, deferred, failed;
	struct progress bar;
	unsigned long long bytes, new_bytes;
	enum mp_status worst;          /* the first delivery failure */
	struct mp_error worst_err;
};

static void note_failure(struct run *r, const struct mp_error *e)
{
	if (e->status == MP_ERR_TEMP)
		r->deferred++;
	else
		r->failed++;
	if (!r->plan->quiet || e->status != MP_ERR_TEMP)
		fprintf(stderr, "%s: %s\n", r->cli->prog, e->msg);
	if (r->worst == MP_OK || (r->worst == MP_ERR_TEMP && e->status != MP_ERR_TEMP)) {
		r->worst = e->status;
		r->worst_err = *e;
	}
}

/* --- delivery of one message, called by pop3_retr --- */

static char *env_var(const char *name, const char *value)
{
	size_t n = strlen(name) + strlen(value) + 2;
	char *s = mp_xmalloc(n);
	snprintf(s, n, "%s=%s", name, value);
	return s;
}

static enum mp_status on_begin(void *ctx, size_t index, struct mp_error *err)
{
	struct run *r = ctx;
	const struct pop3_entry *e = &r->entries[r->batch[index]];
	r->cur_broken = false;
	enum mp_status st = MP_OK;
	switch (r->plan->output) {
	case OUTPUT_MAILDIR:
		st = maildir_begin(r->md, &r->cur_md, err);
		break;
	case OUTPUT_MBOX:
		st = mbox_begin(r->mb, NULL, 0, err);
		r->mbox_failed |= st != MP_OK;
		break;
	case OUTPUT_STDOUT:
		mboxrd_quote_init(&r->quote);
		printf("From MAILER-DAEMON %s", asctime(gmtime(&r->now)));
		break;
	case OUTPUT_MDA: {
		char size[32];
		snprintf(size, sizeof size, "%llu", e->size);
		char *env[] = {
			env_var("MAILPIPE_UIDL", e->uidl),
			env_var("MAILPIPE_SIZE", size),
			env_var("MAILPIPE_SERVER", r->cli->server.url.host),
			env_var("MAILPIPE_USER", r->cli->auth.user ? r->cli->auth.user : ""),
			env_var("MAILPIPE_ACCOUNT", r->cli->account ? r->cli->account : ""),
			NULL,
		};
		st = mda_start(&r->cur_mda, r->plan->target, (const char *const *)env,
			       &r->cur_err);
		for (size_t i = 0; env[i]; i++)
			free(env[i]);
		if (st != MP_OK) {
			/* The command could not even start: this message fails,
			 * the run goes on. */
			r->cur_broken = true;
			st = MP_OK;
		}
		break;
	}
	case OUTPUT_NONE:
		break;
	}
	return st;
}

static enum mp_status on_data(void *ctx, size_t index, const char *buf,
			      size_t len, struct mp_error *err)
{
	struct run *r = ctx;
	(void)index;
	switch (r->plan->output) {
	case OUTPUT_MAILDIR:
		return maildir_write(r->cur_md, buf, len, err);
	case OUTPUT_MBOX: {
		enum mp_status st = mbox_write(r->mb, buf, len, err);
		r->mbox_failed |= st != MP_OK;
		return st;
	}
	case OUTPUT_STDOUT: {
		enum { PIECE = 16384 };
		char out[MBOXRD_QUOTE_MAX(PIECE)];
		while (len > 0) {
			size_t n = len > PIECE ? PIECE : len;
			size_t w = mboxrd_quote_feed(&r->quote, buf, n, out);
			if (fwrite(out, 1, w, stdout) != w)
				return mp_fail(err, MP_ERR_IO, "cannot write to stdout: %s",
					       strerror(errno));
			buf += n;
			len -= n;
		}
		return MP_OK;
	}
	case OUTPUT_MDA:
		if (!r->cur_broken && mda_write(r->cur_mda, buf, len, &r->cur_err) != MP_OK)
			r->cur_broken = true;
		return MP_OK;
	case OUTPUT_NONE:
		break;
	}
	return MP_OK;
}

static enum mp_status on_end(void *ctx, size_t index, struct mp_error *err)
{
	struct run *r = ctx;
	const struct pop3_entry *e = &r->entries[r->batch[index]];
	enum mp_status st = MP_OK;
	switch (r->plan->output) {
	case OUTPUT_MAILDIR:
		st = maildir_commit(r->cur_md, NULL, 0, err);
		r->cur_md = NULL;
		break;
	case OUTPUT_MBOX:
		st = mbox_end(r->mb, err);
		r->mbox_failed |= st != MP_OK;
		break;
	case OUTPUT_STDOUT: {
		char out[32];
		size_t w = mboxrd_quote_finish(&r->quote, out);
		if (fwrite(out, 1, w, stdout) != w || fflush(stdout) != 0)
			return mp_fail(err, MP_ERR_IO, "cannot write to stdout: %s",
				       strerror(errno));
		/* Written out whole: it may be recorded (and deleted). */
		if (r->have_uidl)
			state_add(r->state, e->uidl, r->now);
		break;
	}
	case OUTPUT_MDA: {
		enum mp_status mst = r->cur_broken ? r->cur_err.status
				   : mda_finish(r->cur_mda, &r->cur_err);
		if (r->cur_broken && r->cur_mda)
			mda_finish(r->cur_mda, &r->cur_err);
		r->cur_mda = NULL;
		if (mst != MP_OK) {
			char what[400];
			snprintf(what, sizeof what, "message %lu kept on the server",
				 e->num);
			mp_error_prefix(&r->cur_err, what);
			note_failure(r, &r->cur_err);
			return MP_OK;
		}
		/* Delivered: record at once, a crash must not send it twice. */
		if (r->have_uidl) {
			state_add(r->state, e->uidl, r->now);
			st = state_save(r->state, r->plan->state_path, err);
		}
		break;
	}
	case OUTPUT_NONE:
		break;
	}
	if (st == MP_OK) {
		r->delivered[index] = true;
		r->got[r->batch[index]] = true;
		r->fetched++;
		r->bytes += e->size;
		progress_add(&r->bar, e->size);
	}
	return st;
}

/* Drop the message in progress after a failure. */
static void abandon_current(struct run *r)
{
	if (r->cur_md) {
		maildir_abort(r->cur_md);
		r->cur_md = NULL;
	}
	if (r->cur_mda) {
		/* Never let the command deliver half a message. */
		mda_abort(r->cur_mda);
		r->cur_mda = NULL;
	}
}

/* Make the batch durable and record it: journal, flush, state. */
static enum mp_status settle_batch(struct run *r, struct mp_error *err)
{
	enum mp_status st = MP_OK;
	const char **uidls = mp_xcalloc(r->nbatch + 1, sizeof *uidls);
	size_t n = 0;
	for (size_t i = 0; i < r->nbatch; i++)
		if (r->delivered[i])
			uidls[n++] = r->entries[r->batch[i]].uidl;

	if (r->plan->output == OUTPUT_MAILDIR && maildir_pending(r->md) > 0) {
		size_t np = maildir_pending(r->md);
		const char **names = mp_xcalloc(np + 1, sizeof *names);
		for (size_t i = 0; i < np; i++)
			names[i] = maildir_pending_name(r->md, i);
		if (r->have_uidl)
			st = journal_maildir(r->journal_path, uidls, names,
					     np < n ? np : n, err);
		free(names);
		if (st == MP_OK)
			st = maildir_flush(r->md, err);
	} else if (r->plan->output == OUTPUT_MBOX) {
		st = mbox_sync(r->mb, err);
	}
	if (st == MP_OK && r->have_uidl && r->plan->output != OUTPUT_MDA) {
		for (size_t i = 0; i < n; i++)
			state_add(r->state, uidls[i], r->now);
		st = state_save(r->state, r->plan->state_path, err);
	}
	if (st == MP_OK && r->have_uidl &&
	    (r->plan->output == OUTPUT_MAILDIR || r->plan->output == OUTPUT_MBOX))
		st = journal_clear(r->journal_path, err);
	free(uidls);
	return st;
}

/* The batch is not kept after all: take it out of the totals. */
static void unrecord_batch(struct run *r)
{
	for (size_t i = 0; i < r->nbatch; i++) {
		if (!r->delivered[i])
			continue;
		r->delivered[i] = false;
		r->got[r->batch[i]] = false;
		r->fetched--;
		r->bytes -= r->entries[r->batch[i]].size;
	}
}

/* After a failure in the middle of a batch, keep the messages that arrived
 * whole before it: cut off a partial mbox message, then make the rest
 * durable and record it as settle_batch does. If that fails, an mbox falls
 * back to its last synced size (the journal still names that size). */
static void keep_whole(struct run *r)
{
	struct mp_error e2;
	enum mp_status st = MP_OK;

	if (r->plan->output == OUTPUT_MBOX) {
		if (r->mbox_failed) {
			/* Its own error is the news; the batch is gone. */
			mbox_rollback(r->mb);
			unrecord_batch(r);
			return;
		}
		st = mbox_drop_partial(r->mb, &e2);
	}
	if (st == MP_OK)
		st = settle_batch(r, &e2);
	if (st == MP_OK)
		return;
	fprintf(stderr, "%s: %s\n", r->cli->prog, e2.msg);
	if (r->plan->output == OUTPUT_MBOX) {
		mbox_rollback(r->mb);
		unrecord_batch(r);
	}
}

/* Fetch the messages entries[todo[0..n)] in durable batches. */
static enum mp_status fetch_all(struct run *r, const size_t *todo, size_t n,
				struct mp_error *err)
{
	struct pop3_sink sink = { on_begin, on_data, on_end, r };
	r->batch = mp_xcalloc(BATCH_MESSAGES, sizeof *r->batch);
	r->delivered = mp_xcalloc(BATCH_MESSAGES, sizeof *r->delivered);
	unsigned long *nums = mp_xcalloc(BATCH_MESSAGES, sizeof *nums);
	enum mp_status st = MP_OK;
	for (size_t done = 0; st == MP_OK && done < n;) {
		unsigned long long bytes = 0;
		r->nbatch = 0;
		while (done < n && r->nbatch < BATCH_MESSAGES &&
		       (r->nbatch == 0 || bytes < BATCH_BYTES)) {
			r->batch[r->nbatch] = todo[done];
			r->delivered[r->nbatch] = false;
			nums[r->nbatch] = r->entries[todo[done]].num;
			bytes += r->entries[todo[done]].size;
			r->nbatch++;
			done++;
		}
		if (r->plan->output == OUTPUT_MBOX && r->have_uidl) {
			/* Before the mbox grows, say where it may be cut back to. */
			const char **uidls = mp_xcalloc(r->nbatch, sizeof *uidls);
			for (size_t i = 0; i < r->nbatch; i++)
				uidls[i] = r->entries[r->batch[i]].uidl;
			st = journal_mbox(r->journal_path, r->plan->target,
					  mbox_synced_size(r->mb), uidls, r->nbatch, err);
			free(uidls);
			if (st != MP_OK)
				break;
		}
		st = pop3_retr(r->pop, nums, r->nbatch, RETR_WINDOW, &sink, err);
		if (st != MP_OK) {
			abandon_current(r);
			keep_whole(r);
			break;
		}
		st = settle_batch(r, err);
		if (st != MP_OK && r->plan->output == OUTPUT_MBOX)
			/* Unsynced, or synced but unrecorded, which the journal
			 * cuts off at the next start: either way not kept. */
			unrecord_batch(r);
	}
	free(nums);
	free(r->batch);
	free(r->delivered);
	r->batch = NULL;
	r->delivered = NULL;
	return st;
}

/* Message numbers to delete, by the plan and what is recorded. */
static size_t choose_deletions(struct run *r, unsigned long *nums)
{
	size_t n = 0;
	for (size_t i = 0; i < r->nentries; i++) {
		const struct pop3_entry *e = &r->entries[i];
		bool oversized = r->plan->max_size && e->size > r->plan->max_size;
		bool kept = r->have_uidl ? state_has(r->state, e->uidl) : false;
		bool del = false;
		if (oversized && r->plan->delete_oversized && !kept)
			del = true;
		else if (kept && r->plan->delete_fetched)
			del = true;
		else if (kept && r->plan->delete_by_age &&
			 r->now - state_first_seen(r->state, e->uidl) >= r->plan->delete_age)
			del = true;
		if (del)
			nums[n++] = e->num;
	}
	return n;
}

static enum mp_status open_output(struct run *r, struct mp_error *err)
{
	switch (r->plan->output) {
	case OUTPUT_MAILDIR:
		return maildir_open(&r->md, r->plan->target, true, err);
	case OUTPUT_MBOX:
		return mbox_open(&r->mb, r->plan->target, err);
	default:
		return MP_OK;
	}
}

static void summary(const struct run *r)
{
	if (r->plan->quiet)
		return;
	fprintf(stderr, "%s: fetched %zu (%.1f MB), skipped %zu, deleted %zu%s\n",
		r->cli->prog, r->fetched, (double)r->bytes / 1e6, r->skipped,
		r->deleted, r->deferred || r->failed ? ", some kept for later" : "");
}

/* Note which listed messages earlier runs fetched, and that the server
 * still lists them; returns how many are new. */
static size_t mark_known(struct run *r)
{
	size_t fresh = 0;
	r->known = mp_xcalloc(r->nentries + 1, sizeof *r->known);
	for (size_t i = 0; i < r->nentries; i++) {
		bool news = false;
		if (r->have_uidl)
			r->known[i] = state_touch(r->state, r->entries[i].uidl,
						  r->now, &news);
		r->state_dirty |= news;
		fresh += !r->known[i];
	}
	return fresh;
}

/* The whole session once logged in. */
static enum mp_status session(struct run *r, struct mp_error *err)
{
	const struct fetch_plan *p = r->plan;
	enum mp_status st;

	if (glance_applies(p)) {
		bool unchanged;
		st = glance_check(r->pop, r->state, r->now, &r->seen, &unchanged, err);
		if (st != MP_OK)
			return st;
		if (unchanged)
			return pop3_quit_nowait(r->pop, err);
	}
	st = pop3_uidl(r->pop, &r->entries, &r->nentries, err);
	r->have_uidl = true;
	if (st == MP_ERR_UNAVAILABLE) {
		/* No UIDL: only "fetch everything and delete it" is safe. */
		if (!(p->all && p->delete_fetched))
			return mp_fail(err, MP_ERR_UNAVAILABLE,
				       "the server does not support UIDL, so popfetch cannot "
				       "tell new messages from old; use --all --delete to "
				       "fetch every message and delete it");
		r->have_uidl = false;
		st = pop3_sizes(r->pop, false, &r->entries, &r->nentries, err);
		if (st != MP_OK)
			return st;
		mark_known(r);
	} else if (st != MP_OK) {
		return st;
	} else if (mark_known(r) > 0 || p->status || p->dry_run || p->all) {
		/* Sizes only when something will be fetched or shown: LIST
		 * costs the server time a run with nothing new can spare. */
		st = pop3_sizes(r->pop, true, &r->entries, &r->nentries, err);
		if (st != MP_OK)
			return st;
	}

	size_t *todo = mp_xcalloc(r->nentries + 1, sizeof *todo);
	r->got = mp_xcalloc(r->nentries + 1, sizeof *r->got);
	size_t ntodo = 0, total_bytes = 0;
	for (size_t i = 0; i < r->nentries; i++) {
		const struct pop3_entry *e = &r->entries[i];
		total_bytes += e->size;
		if (r->known[i] && !p->all)
			continue;
		if (p->max_size && e->size > p->max_size) {
			r->skipped++;
			continue;
		}
		r->new_bytes += e->size;
		if (!p->limit || ntodo < p->limit)
			todo[ntodo++] = i;
	}

	if (p->status) {
		printf("%zu new (%llu bytes), %zu in all (%zu bytes)%s\n", ntodo,
		       r->new_bytes, r->nentries, total_bytes,
		       r->skipped ? ", some over --max-size" : "");
		free(todo);
		return pop3_quit(r->pop, err);
	}
	if (p->dry_run) {
		st = preview_print(r->pop, r->entries, todo, ntodo, err);
		if (st != MP_OK) {
			free(todo);
			return st;
		}
		unsigned long *nums = mp_xcalloc(r->nentries + 1, sizeof *nums);
		size_t ndel = choose_deletions(r, nums);
		for (size_t i = 0; i < ndel; i++)
			printf("would delete %lu\n", nums[i]);
		free(nums);
		free(todo);
		return pop3_quit(r->pop, err);
	}

	progress_init(&r->bar, r->cli->prog, p->progress, ntodo);
	st = fetch_all(r, todo, ntodo, err);
	free(todo);
	progress_clear(&r->bar);
	if (st != MP_OK)
		return st;
	if (r->worst != MP_OK && !r->have_uidl) {
		/* Without UIDLs a failed delivery cannot be told apart later:
		 * delete nothing this time. */
		return pop3_quit(r->pop, err);
	}

	unsigned long *nums = mp_xcalloc(r->nentries + 1, sizeof *nums);
	size_t ndel = r->have_uidl ? choose_deletions(r, nums) : 0;
	if (!r->have_uidl) {
		/* --all --delete without UIDL: exactly what was delivered. */
		for (size_t i = 0; i < r->nentries; i++)
			if (r->got[i])
				nums[ndel++] = r->entries[i].num;
	}
	if (ndel > 0)
		st = pop3_dele(r->pop, nums, ndel, err);
	if (st == MP_OK && ndel == 0 && ntodo == 0)
		st = pop3_quit_nowait(r->pop, err);   /* a run with nothing to do */
	else if (st == MP_OK)
		st = pop3_quit(r->pop, err);
	if (st == MP_OK && ndel > 0) {
		/* QUIT's +OK made the deletions real: forget those UIDLs. */
		r->deleted = ndel;
		for (size_t i = 0, k = 0; i < r->nentries && k < ndel; i++) {
			if (r->entries[i].num != nums[k])
				continue;
			if (r->have_uidl)
				state_remove(r->state, r->entries[i].uidl);
			k++;
		}
	}
	free(nums);
	if (r->have_uidl) {
		struct maildrop_summary sum;
		r->state_dirty |= state_prune(r->state, r->now, FORGET_AFTER) > 0;
		bool whole = st == MP_OK && glance_applies(p) &&
			     glance_summary(&r->seen, r->entries, r->nentries,
					    r->state, r->now, &sum);
		r->state_dirty |= state_set_summary(r->state, whole ? &sum : NULL);
		/* A run that fetched and deleted nothing need not rewrite the
		 * state: last-listed times a day stale are still fresh enough
		 * for forgetting after 90 days. */
		if (r->state_dirty || r->fetched || r->deleted) {
			enum mp_status s2 = state_save(r->state, p->state_path,
						       st == MP_OK ? err : &r->cur_err);
			if (st == MP_OK)
				st = s2;
		}
	}
	return st;
}

/* The local side of a run: the state, an interrupted run settled (its
 * Maildir files recorded, or its half batch cut off the mbox before the
 * mbox is locked), the output opened. */
static enum mp_status prepare_local(struct run *r, struct mp_error *err)
{
	const struct fetch_plan *plan = r->plan;
	bool deliver = !plan->status && !plan->dry_run;
	enum mp_status st = state_load(plan->state_path, &r->state, err);

	if (st == MP_OK && deliver && plan->output == OUTPUT_MAILDIR)
		st = open_output(r, err);
	if (st == MP_OK) {
		size_t recovered;
		st = journal_replay(r->journal_path, r->md, r->state, plan->state_path,
				    &recovered, err);
		if (st == MP_OK && recovered && !plan->quiet)
			fprintf(stderr, "%s: recovered %zu message(s) from an interrupted run\n",
				r->cli->prog, recovered);
	}
	if (st == MP_OK && deliver && plan->output != OUTPUT_MAILDIR)
		st = open_output(r, err);
	if (st == MP_OK && r->md)
		maildir_clean_tmp(r->md);
	return st;
}

struct local_job {
	struct run *run;
	enum mp_status st;
	struct mp_error err;
};

static void *local_thread(void *arg)
{
	struct local_job *job = arg;
	job->st = prepare_local(job->run, &job->err);
	return NULL;
}

/* Log in while the local side gets ready: the server spends most of a run
 * with nothing new on TLS and login, and the state is read meanwhile. The
 * thread starts once the connection stands, so that it does not slow the
 * TLS handshake the server waits for. The threads share nothing but the
 * run, each writing its own fields. A local failure wins: it is the one
 * the user can mend, and the session left unused deletes nothing (POP3
 * commits only at QUIT). */
static enum mp_status prepare(struct run *r, struct mp_error *err)
{
	struct cli *cli = r->cli;
	struct local_job job = { .run = r, .st = MP_OK };
	pthread_t tid;

	if (!cli->auth.user)
		return mp_fail(err, MP_ERR_USAGE, "no user name: give user@ in the URL, "
			       "--user, or user in the config");
	enum mp_status st = pop3_open(&r->pop, &cli->server, err);
	if (st != MP_OK) {
		local_thread(&job);
		goto out;
	}
	bool threaded = pthread_create(&tid, NULL, local_thread, &job) == 0;
	if (!threaded)
		local_thread(&job);
	st = pop3_auth(r->pop, &cli->auth, err);
	if (threaded)
		pthread_join(tid, NULL);
out:
	if (job.st != MP_OK) {
		*err = job.err;
		return job.st;
	}
	return st;
}

enum mp_status fetch_run(struct cli *cli, const struct fetch_plan *plan,
			 struct mp_error *err)
{
	struct run r = { .cli = cli, .plan = plan, .now = time(NULL) };
	char lock_path[4200];
	int lock_fd = -1;
	snprintf(lock_path, sizeof lock_path, "%s.lock", plan->state_path);
	snprintf(r.journal_path, sizeof r.journal_path, "%s.journal", plan->state_path);

	/* A reader that goes away must not kill us between a message and
	 * its record. */
	signal(SIGPIPE, SIG_IGN);

	enum mp_status st = lock_take(lock_path, "another popfetch for this account",
				      &lock_fd, err);
	if (st == MP_OK)
		st = prepare(&r, err);
	if (st == MP_OK)
		st = session(&r, err);
	if (!plan->status && !plan->dry_run)
		summary(&r);
	if (st == MP_OK && r.worst != MP_OK) {
		*err = r.worst_err;
		st = r.worst;
	}
	pop3_close(r.pop);
	maildir_close(r.md);
	mbox_close(r.mb);
	free(r.entries);
	free(r.got);
	free(r.known);
	state_free(r.state);
	if (lock_fd >= 0)
		lock_release(lock_fd);
	return st;
}
