/* popfetch's memory of the maildrop: which UIDLs it already has, since
 * when, and when the server last listed them. Written atomically (temp
 * file, fsync, rename, fsync the directory). */
#ifndef POPFETCH_STATE_H
#define POPFETCH_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "error.h"

struct uidl_state;

/* Load path; a missing file is an empty state. Malformed content is
 * MP_ERR_CONFIG naming path:line (the user may have edited it). */
enum mp_status state_load(const char *path, struct uidl_state **out,
			  struct mp_error *err);

/* Parse state text (pure; for tests and fuzzing). */
enum mp_status state_parse(const char *text, size_t len, const char *path,
			   struct uidl_state **out, struct mp_error *err);

bool state_has(const struct uidl_state *st, const char *uidl);
/* When uidl was first fetched, or 0. */
time_t state_first_seen(const struct uidl_state *st, const char *uidl);
/* Record uidl as fetched now (no-op if known). */
void state_add(struct uidl_state *st, const char *uidl, time_t now);
void state_remove(struct uidl_state *st, const char *uidl);
/* The server listed uidl now: true when uidl is recorded. *news says
 * whether that is worth writing down: the last listing noted is more than
 * a day old. */
bool state_touch(struct uidl_state *st, const char *uidl, time_t now,
		 bool *news);
/* Forget entries the server has not listed for max_age seconds: a server
 * that briefly lists nothing must not make popfetch forget (and later
 * fetch again) what it has. */
/* Returns how many entries were forgotten. */
size_t state_prune(struct uidl_state *st, time_t now, time_t max_age);
size_t state_count(const struct uidl_state *st);

/* The maildrop as a run last saw it whole, in keep mode, with every
 * message in it recorded: a later run that finds STAT's count and octets
 * and the last message's UIDL the same knows nothing was added, since
 * servers number new mail after the old. */
struct maildrop_summary {
	bool valid;
	unsigned long count;           /* at least 1 */
	unsigned long long octets;
	time_t when;                   /* when it was listed whole */
	size_t known;                  /* UIDLs recorded then: a line taken
					  out by hand (to fetch it again)
					  makes the next run list */
	char last_uidl[72];            /* UIDL of message number count */
};

/* NULL when there is none. */
const struct maildrop_summary *state_summary(const struct uidl_state *st);
/* Replace the summary (NULL: drop it); true when that changed it. */
bool state_set_summary(struct uidl_state *st, const struct maildrop_summary *sum);

enum mp_status state_save(const struct uidl_state *st, const char *path,
			  struct mp_error *err);

void state_free(struct uidl_state *st);

#endif
