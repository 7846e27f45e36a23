/* Delivery into a Maildir (layer 4), shared by popfetch and imapsync.
 *
 * A message is written to tmp/, then made durable and moved into new/ (or
 * cur/ with flags). Durability may be batched: commit several messages,
 * then maildir_flush makes them all durable at once (one filesystem sync
 * instead of one per message), moves them into place and fsyncs the
 * directories. Nothing may be recorded or deleted on the server for a
 * message before the flush that covers it returned MP_OK. */
#ifndef MAILPIPE_MAILDIR_H
#define MAILPIPE_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "error.h"

struct maildir;
struct maildir_msg;

/* Open the Maildir at path, creating it (with missing parents, and tmp/
 * new/ cur/, mode 700) when create is set. MP_ERR_IO when it cannot be created or is not a
 * Maildir. The caller frees *out with maildir_close. */
enum mp_status maildir_open(struct maildir **out, const char *path,
			    bool create, struct mp_error *err);

/* Start a message: a new file in tmp/ with a unique, Dovecot-friendly
 * name. The message belongs to md until committed or aborted. */
enum mp_status maildir_begin(struct maildir *md, struct maildir_msg **out,
			     struct mp_error *err);

/* Append bytes, written as given (callers pass LF line ends). A write
 * error (disk full, quota) is MP_ERR_IO. */
enum mp_status maildir_write(struct maildir_msg *m, const void *buf, size_t n,
			     struct mp_error *err);

/* Finish writing: close the tmp file and queue the message for the next
 * maildir_flush, to go into new/ (info NULL) or cur/ with ":" info
 * appended (e.g. "2,S"). mtime sets the file's modification time (0:
 * leave it). m is freed. On failure the tmp file is removed. */
enum mp_status maildir_commit(struct maildir_msg *m, const char *info,
			      time_t mtime, struct mp_error *err);

/* Give up on a message: remove its tmp file, free m. */
void maildir_abort(struct maildir_msg *m);

/* Number of messages committed and not yet flushed. */
size_t maildir_pending(const struct maildir *md);

/* The final name ("new/NAME" or "cur/NAME:2,S", relative to the Maildir)
 * the i-th pending message will get; valid until the flush. Lets a caller
 * journal names before they appear. */
const char *maildir_pending_name(const struct maildir *md, size_t i);

/* Make every pending message durable (data synced), move each into new/
 * or cur/, and fsync those directories. After MP_OK the messages survive
 * a crash. On failure none of the not-yet-moved ones is moved (their tmp
 * files are removed; nothing stays pending); those already moved stay
 * (the caller's journal tells). */
enum mp_status maildir_flush(struct maildir *md, struct mp_error *err);

/* True where maildir_flush_fs is available: one sync covers a whole file
 * system (Linux syncfs). */
bool maildir_can_sync_fs(void);

/* maildir_flush for a caller that syncs the file system itself at the
 * end of its run (maildir_sync_fs): the one sync before the moves also
 * makes durable every file written on md's file system before the call
 * (a journal beside the Maildir), and new/ and cur/ are not fsynced, so
 * until the caller's sync a crash may undo moves (the messages stay in
 * tmp/). Only where maildir_can_sync_fs; a failed sync is MP_ERR_IO. */
enum mp_status maildir_flush_fs(struct maildir *md, struct mp_error *err);

/* Make everything written on path's file system durable. */
enum mp_status maildir_sync_fs(const char *path, struct mp_error *err);

/* True if a message with this base name (a ":info" part is ignored) is
 * in new/ or cur/ (cur/ names may have gained flags since). The names are
 * read once, on the first call, then kept up to date with md's flushes:
 * fast enough to ask for thousands of names. */
bool maildir_has(const struct maildir *md, const char *name);

/* Remove tmp/ files older than 36 hours (left by a crash). */
void maildir_clean_tmp(struct maildir *md);

/* Abort anything unflushed and free md. */
void maildir_close(struct maildir *md);

#endif
