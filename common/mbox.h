/* Appending to an mbox file (layer 4), mboxrd-quoted, under an fcntl lock
 * and a dotlock (path.lock), as mutt, Dovecot and procmail expect. Writes
 * since the last mbox_sync are truncated away on error or rollback, so a
 * reader never sees half a message. */
#ifndef MAILPIPE_MBOX_H
#define MAILPIPE_MBOX_H

#include <stddef.h>
#include <time.h>
#include "error.h"

struct mbox;

/* Open (creating, mode 600) and lock path. Waits up to 10 s for a lock
 * another program holds (then MP_ERR_TEMP); a dotlock older than 5
 * minutes is taken as stale. The caller frees *out with mbox_close. */
enum mp_status mbox_open(struct mbox **out, const char *path,
			 struct mp_error *err);

/* The size the file had at the last sync (or at open). */
long long mbox_synced_size(const struct mbox *mb);

/* Start a message: the "From SENDER DATE" separator line (sender
 * "MAILER-DAEMON" when NULL or unusable; date 0: now). */
enum mp_status mbox_begin(struct mbox *mb, const char *sender, time_t date,
			  struct mp_error *err);
/* Message bytes, quoted as they go (CRLF becomes LF). */
enum mp_status mbox_write(struct mbox *mb, const void *buf, size_t n,
			  struct mp_error *err);
/* End the message (final newline, empty line). */
enum mp_status mbox_end(struct mbox *mb, struct mp_error *err);

/* Cut off a message begun and never ended (its separator too), keeping
 * every ended one; nothing to do outside a message. mbox_sync then makes
 * the ended ones durable. MP_ERR_IO if an earlier write failed (everything
 * since the last sync is gone then) or the file cannot be cut. */
enum mp_status mbox_drop_partial(struct mbox *mb, struct mp_error *err);

/* fsync: everything written so far is durable. */
enum mp_status mbox_sync(struct mbox *mb, struct mp_error *err);

/* Truncate back to the synced size (after an error). */
void mbox_rollback(struct mbox *mb);

/* Truncate path to size under the locks (crash recovery: drop a batch
 * that was never recorded). MP_OK if the file is already that size. */
enum mp_status mbox_truncate_to(const char *path, long long size,
				struct mp_error *err);

/* Roll back anything unsynced, unlock, close, free. */
void mbox_close(struct mbox *mb);

#endif
