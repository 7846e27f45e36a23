/* A run with nothing new, told without the UIDL listing: in keep mode a
 * maildrop whose STAT and last UIDL are as when it was last seen whole
 * (see struct maildrop_summary) holds nothing popfetch lacks. The listing
 * is most of what such a run costs the server, and grows with every
 * message kept there. */
#ifndef POPFETCH_GLANCE_H
#define POPFETCH_GLANCE_H

#include <stdbool.h>
#include <time.h>

#include "fetch.h"
#include "pop3.h"
#include "state.h"

/* A summary stands in for the listing this long at most: a full listing
 * at least daily keeps the last-listed times of the state fresh, and
 * bounds how long a server that numbers new mail oddly could hide one. */
#define GLANCE_TRUST (24 * 3600)

/* Whether the plan may glance: it deletes nothing, fetches only what is
 * new, and neither counts nor previews. */
bool glance_applies(const struct fetch_plan *plan);

/* STAT, with the UIDL of the summary's last message when the state holds
 * a summary younger than GLANCE_TRUST and as many UIDLs as then;
 * *unchanged when all three match. */
enum mp_status glance_check(struct pop3_session *pop,
			    const struct uidl_state *state, time_t now,
			    struct pop3_glance *seen, bool *unchanged,
			    struct mp_error *err);

/* The summary to keep after a run that listed n entries (sorted by
 * number) and glanced first, once the state holds what it will be saved
 * with: false when any of them is not recorded, so the next run lists the
 * maildrop whole again. */
bool glance_summary(const struct pop3_glance *seen,
		    const struct pop3_entry *entries, size_t n,
		    const struct uidl_state *state, time_t now,
		    struct maildrop_summary *out);

#endif
