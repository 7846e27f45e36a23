/* Crash recovery for one batch of deliveries: before a batch becomes
 * durable, popfetch notes what it is about to add, so a run killed
 * between the store and the state file neither loses nor duplicates.
 *
 * Maildir (roll forward): the journal lists each UIDL with the file name
 * it is getting; at the next start every listed file that exists is
 * recorded as fetched.
 * mbox (roll back): the journal holds the mbox size before the batch and
 * its UIDLs; at the next start the mbox is cut back to that size and the
 * UIDLs are forgotten, so the batch is fetched again, once. */
#ifndef POPFETCH_JOURNAL_H
#define POPFETCH_JOURNAL_H

#include <stddef.h>

#include "error.h"
#include "maildir.h"
#include "state.h"

enum mp_status journal_maildir(const char *path, const char *const *uidls,
			       const char *const *names, size_t n,
			       struct mp_error *err);
enum mp_status journal_mbox(const char *path, const char *mbox_path,
			    long long size, const char *const *uidls, size_t n,
			    struct mp_error *err);

/* The batch is recorded in the state: drop the journal. */
enum mp_status journal_clear(const char *path, struct mp_error *err);

/* Apply a journal left by an interrupted run (md: the Maildir being
 * delivered to, or NULL) to st, and save st. No journal: nothing to do.
 * *recovered counts the messages recorded or dropped. */
enum mp_status journal_replay(const char *path, struct maildir *md,
			      struct uidl_state *st, const char *state_path,
			      size_t *recovered, struct mp_error *err);

#endif
