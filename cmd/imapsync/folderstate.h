/* What imapsync knows about one folder of the backup, kept inside the
 * backup so it is self-contained and portable:
 *
 *   mailpipe-state    UIDVALIDITY, HIGHESTMODSEQ and the highest UID kept,
 *                     written atomically
 *                     (made durable by the run's final sync)
 *   mailpipe-uids     one line per message kept: "UIDVALIDITY UID NAME",
 *                     appended and fsynced before the messages are moved
 *                     into place, so a crash between the two never leads
 *                     to a second download: a listed UID whose file
 *                     exists is had; one whose file does not is not.
 *
 * In the nested layout the names start with a dot, as folder directories
 * never do there; in Maildir++ they do not, as folders always do. */
#ifndef IMAPSYNC_FOLDERSTATE_H
#define IMAPSYNC_FOLDERSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct uid_entry {
	uint32_t uidvalidity;
	uint32_t uid;
	char *name;              /* Maildir base name, or "-" for other outputs */
};

struct folder_state {
	char *dir;               /* where the two files live */
	bool dotted;             /* file names start with '.' (nested layout) */
	uint32_t uidvalidity;    /* 0: never synced */
	uint64_t highestmodseq;
	uint32_t last_uidvalidity;  /* of the UID list's last line */
	uint32_t maxuid;         /* the highest UID kept under uidvalidity when
				    the state was written (has_maxuid) */
	bool has_maxuid;
	bool guessed;            /* uidvalidity taken from the UID list: the
				    state file is missing (a crash) */
	struct uid_entry *uids;  /* sorted by (uidvalidity, uid) after load */
	size_t nuids, capuids;
};

/* Load dir's state (missing files: a new folder). The caller frees with
 * folder_state_free. */
enum mp_status folder_state_load(const char *dir, bool dotted,
				 struct folder_state *fs, struct mp_error *err);
/* Only the state file, not the UID list: enough to tell whether the folder
 * changed on the server (maxuid, when the file has it). */
enum mp_status folder_state_load_summary(const char *dir, bool dotted,
					 struct folder_state *fs,
					 struct mp_error *err);

/* Append entries (and fsync) before the messages they name are moved in. */
enum mp_status folder_state_append(struct folder_state *fs,
				   const struct uid_entry *e, size_t n,
				   struct mp_error *err);

/* The same without the fsync, for a caller whose next step syncs the
 * whole file system before moving the messages in. */
enum mp_status folder_state_append_unsynced(struct folder_state *fs,
					    const struct uid_entry *e, size_t n,
					    struct mp_error *err);

/* Write UIDVALIDITY and HIGHESTMODSEQ atomically, not synced: the run's
 * final file-system sync makes it durable. A crash before that leaves the
 * old file or, on some file systems, an empty one; load then takes the
 * UIDVALIDITY of the UID list's last line and no HIGHESTMODSEQ, which
 * costs a full flag check, never a message. */
enum mp_status folder_state_save(const struct folder_state *fs,
				 struct mp_error *err);

/* The entry for uid under the current uidvalidity, or NULL. */
const struct uid_entry *folder_state_find(const struct folder_state *fs,
					  uint32_t uidvalidity, uint32_t uid);

/* Highest UID kept under uidvalidity, 0 if none. */
uint32_t folder_state_max_uid(const struct folder_state *fs, uint32_t uidvalidity);

/* Drop entries whose file the caller says is gone (exists returns false)
 * and rewrite the UID list atomically. */
enum mp_status folder_state_compact(struct folder_state *fs,
				    bool (*exists)(void *ctx, const char *name),
				    void *ctx, struct mp_error *err);

void folder_state_free(struct folder_state *fs);

#endif
