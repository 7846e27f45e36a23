/* New messages into the backup: each message's bytes as they arrive
 * (Maildir, mbox, stdout or a delivery command), then batches made
 * durable and recorded. */
#include "worker.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "strutil.h"

/* UID FETCH commands in flight. */
#define WINDOW 8

void flags_to_info(const char *flags, char *info, size_t size)
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

/* Whether the output is a stream (stdout, MDA): its messages are named by
 * their hashes. */
static bool streamed(const struct worker *w)
{
	return w->sh->opts->output == OUT_STDOUT || w->sh->opts->output == OUT_MDA;
}

static enum mp_status on_begin(void *ctx, size_t index,
			       const struct imap_msginfo *info, struct mp_error *err)
{
	struct worker *w = ctx;
	(void)index;
	w->cur = info;
	if ((w->hashing || streamed(w)) && gnutls_hash_init(&w->hash, GNUTLS_DIG_SHA256) < 0)
		return mp_fail(err, MP_ERR_INTERNAL, "SHA-256 unavailable");
	switch (w->sh->opts->output) {
	case OUT_MAILDIR:
		return maildir_begin(w->md, &w->cur_md, err);
	case OUT_MBOX:
		return mboxout_begin(w->mo, info->internaldate, err);
	case OUT_STDOUT:
	case OUT_MDA:
		/* After a UIDVALIDITY change: held back until its hash is
		 * known. */
		return w->hashing ? spool_begin(w, err) : stream_begin(w, info, err);
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
	else if (w->hashing || streamed(w))
		gnutls_hash(w->hash, buf, len);
	switch (w->sh->opts->output) {
	case OUT_MAILDIR:
		return maildir_write(w->cur_md, buf, len, err);
	case OUT_MBOX:
		return mboxout_write(w->mo, buf, len, err);
	case OUT_STDOUT:
	case OUT_MDA:
		return w->spooling ? spool_data(w, buf, len, err)
				   : stream_data(w, buf, len, err);
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
	unsigned char sum[32];
	if (w->hashing || streamed(w)) {
		if (w->mo)
			mboxout_hash_end(w->mo, w->hash);
		gnutls_hash_deinit(w->hash, sum);
	}
	if (w->hashing) {
		for (size_t i = 0; i < w->nknown; i++) {
			if (!memcmp(w->known[i].sum, sum, sizeof sum)) {
				/* Already in the backup, or handed on before:
				 * keep that copy. */
				maildir_abort(w->cur_md);
				w->cur_md = NULL;
				spool_drop(w);
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
	case OUT_STDOUT:
	case OUT_MDA:
		st = w->spooling ? spool_deliver(w, err) : stream_end(w, err);
		if (st != MP_OK)
			return st;
		remember(w, delivered_name(sum));
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
	stream_abort(w);
	if (w->cur_md)
		maildir_abort(w->cur_md);
	w->cur_md = NULL;
	if (w->mo) {
		struct mp_error ignored;   /* a failed cut fails the settle */
		mboxout_drop(w->mo, &ignored);
	}
}

enum mp_status settle_batch(struct worker *w, struct mp_error *err)
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

enum mp_status fetch_messages(struct worker *w, const uint32_t *uids, size_t n,
			      struct mp_error *err)
{
	struct imap_sink sink = { on_begin, on_data, on_end, w };
	enum mp_status st = MP_OK;
	for (size_t off = 0; st == MP_OK && off < n; off += BATCH) {
		size_t k = n - off > BATCH ? BATCH : n - off;
		if (off > 0 && (st = settle_batch(w, err)) != MP_OK)
			break;
		st = imap_fetch_bodies(w->imap, uids + off, k, WINDOW, &sink, err);
		if (st != MP_OK) {
			abandon(w);
			/* Keep what arrived whole. */
			struct mp_error e2;
			settle_batch(w, &e2);
		}
	}
	return st;
}
