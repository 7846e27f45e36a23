/* The insides of an imapsync run that its files share: the run (shared by
 * the worker threads) and one worker, a connection working on one folder
 * at a time. */
#ifndef IMAPSYNC_WORKER_H
#define IMAPSYNC_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <gnutls/crypto.h>

#include "folderstate.h"
#include "maildir.h"
#include "mboxout.h"
#include "mboxrd.h"
#include "mda.h"
#include "progress.h"
#include "sync.h"

/* Messages made durable together. */
#define BATCH 500

/* snprintf into a path buffer; a path that does not fit is skipped. */
#define PATHF(buf, ...) ((size_t)snprintf(buf, sizeof buf, __VA_ARGS__) < sizeof buf)

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
	int spool_fd;                    /* the message held back (spooling) */
	bool spooling;
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

/* receive.c: new messages into the backup. */

/* Maildir info for IMAP flags: "2," and the letters in ASCII order. */
void flags_to_info(const char *flags, char *info, size_t size);
/* Fetch uids[0..n) into the backup in durable batches. The last batch is
 * left for the caller to settle (after it has sent the next folder's
 * commands); after a failure nothing is left. */
enum mp_status fetch_messages(struct worker *w, const uint32_t *uids, size_t n,
			      struct mp_error *err);
/* Journal the batch, make it durable, and forget it. */
enum mp_status settle_batch(struct worker *w, struct mp_error *err);

/* stream.c: --stdout and --mda. */

/* One message handed on: begun, its bytes, ended (or given up). */
enum mp_status stream_begin(struct worker *w, const struct imap_msginfo *info,
			    struct mp_error *err);
enum mp_status stream_data(struct worker *w, const char *buf, size_t len,
			   struct mp_error *err);
enum mp_status stream_end(struct worker *w, struct mp_error *err);
void stream_abort(struct worker *w);
/* After a UIDVALIDITY change a message is first held in an unlinked file
 * in the state directory; then handed on (spool_deliver) unless its hash
 * names one handed on before (spool_drop). */
enum mp_status spool_begin(struct worker *w, struct mp_error *err);
enum mp_status spool_data(struct worker *w, const char *buf, size_t len,
			  struct mp_error *err);
enum mp_status spool_deliver(struct worker *w, struct mp_error *err);
void spool_drop(struct worker *w);
/* The entry name of a message handed on: "=" and its hex SHA-256. */
char *delivered_name(const unsigned char sum[32]);
/* Every message handed on under uidvalidity, by its hash (into known). */
void index_delivered(struct worker *w, uint32_t uidvalidity);

/* local.c: what the local Maildir already holds. */

/* Make each kept message's Maildir flags follow the server's. With
 * --mirror, move messages the server no longer has into the local folder
 * "Removed" (never unlink). known/nknown: what this run's FETCH of
 * UIDs 1:* already said (every message, or those changed since
 * changedsince), or NULL to ask here. */
enum mp_status update_flags(struct worker *w, const char *dir,
			    uint32_t maxuid, uint64_t changedsince,
			    const char *removed_dir,
			    const struct imap_msginfo *known, size_t nknown,
			    struct mp_error *err);
/* UIDVALIDITY change: every file of the folder by content hash, so
 * refetched messages already there are recognised, not stored twice. */
void index_local(struct worker *w, const char *dir);
/* The same for a message of an mbox backup (mboxout_index's callback). */
void know_message(void *ctx, const unsigned char sum[32], const char *name);
void free_known(struct worker *w);

/* report.c: what people and programs are told. */

/* A folder name fit for one line of a terminal; the caller frees it. */
char *printable(const char *name);
/* One folder's line on stderr (failures always; the rest unless -q or
 * --json). */
void print_result(struct shared *sh, const struct folder_result *r);
/* The --json summary on stdout. */
void print_json(const struct shared *sh);

#endif
