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

enum mp_status state_save(const struct uidl_state *st, const char *path,
			  struct mp_error *err);

void state_free(struct uidl_state *st);

#endif
