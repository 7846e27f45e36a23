/* imapsync's mbox output: one mboxrd file per folder, named by the
 * folder's nested-layout local name plus ".mbox" (INBOX.mbox for INBOX),
 * appended to under the mbox locks.
 *
 * Each UID's entry in the folder state is named "@OFFSET", where its
 * message's "From " line starts in the file. A batch is made durable as a
 * whole or not at all, by a roll-back journal beside the folder state:
 *
 *   1. the file's size before the batch is written to the journal, synced;
 *   2. the batch's messages are appended and the file synced;
 *   3. their UIDs are appended to the folder state (synced);
 *   4. the journal is removed.
 *
 * A journal found at the start of a run means a run stopped before 4: the
 * file is cut back to the size it holds and every entry at or past that
 * size is forgotten, so the batch is fetched again, once. */
#ifndef IMAPSYNC_MBOXOUT_H
#define IMAPSYNC_MBOXOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <gnutls/crypto.h>

#include "error.h"
#include "folderstate.h"

struct mboxout;

/* The entry name of a message appended in the batch in progress, until
 * mboxout_settle gives it its offset. */
#define MBOXOUT_PENDING "@"

/* True if the mbox files of two folders (nested local names, "" for
 * INBOX) cannot both exist: one's file (or its dotlock) is a directory
 * the other's path needs. */
bool mboxout_names_clash(const char *a, const char *b);

/* Open the mbox of the folder whose nested local name is local under the
 * backup directory target, creating it and the directories it needs (mode
 * 700), after undoing what an interrupted run left: a journaled batch is
 * cut off the file, and the entries of fs at or past the file's end are
 * dropped from it (*dropped then set). fs is the folder's loaded state.
 * The caller frees *out with mboxout_close. */
enum mp_status mboxout_open(struct mboxout **out, const char *target,
			    const char *local, struct folder_state *fs,
			    bool *dropped, struct mp_error *err);

/* Start a message whose "From " line carries date (its INTERNALDATE). The
 * first one of a batch first journals the file's size. */
enum mp_status mboxout_begin(struct mboxout *mo, time_t date,
			     struct mp_error *err);
/* Message bytes, mboxrd-quoted on their way into the file. */
enum mp_status mboxout_write(struct mboxout *mo, const char *buf, size_t len,
			     struct mp_error *err);
/* End the message. */
enum mp_status mboxout_end(struct mboxout *mo, struct mp_error *err);
/* Cut off the message begun and not ended (cut off, or already kept). */
enum mp_status mboxout_drop(struct mboxout *mo, struct mp_error *err);

/* End the batch: make the appended messages durable, name the pending
 * entries of e[0..n) by where their messages start (in order), append all
 * n to fs and remove the journal. On failure nothing is recorded, what is
 * not yet durable is cut off the file, and the journal stays so the next
 * run cuts off the rest. */
enum mp_status mboxout_settle(struct mboxout *mo, struct folder_state *fs,
			      struct uid_entry *e, size_t n,
			      struct mp_error *err);

/* Hash a fetched message (after mboxout_begin) in the form the file keeps
 * it, the form mboxout_index hashes: CRLF as LF, ending in a newline. */
void mboxout_hash_data(struct mboxout *mo, gnutls_hash_hd_t h,
		       const char *buf, size_t len);
void mboxout_hash_end(struct mboxout *mo, gnutls_hash_hd_t h);

/* The SHA-256 of every message in the file (split at its "From " lines,
 * unquoted), passed with its entry name ("@OFFSET") to found. */
enum mp_status mboxout_index(struct mboxout *mo,
			     void (*found)(void *ctx, const unsigned char sum[32],
					   const char *name),
			     void *ctx, struct mp_error *err);

/* Cut off anything not settled, unlock, free. NULL is fine. */
void mboxout_close(struct mboxout *mo);

#endif
