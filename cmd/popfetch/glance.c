#include "glance.h"

#include <string.h>

bool glance_applies(const struct fetch_plan *plan)
{
	return !plan->delete_fetched && !plan->delete_by_age &&
	       !plan->delete_oversized && !plan->all && !plan->status &&
	       !plan->dry_run;
}

enum mp_status glance_check(struct pop3_session *pop,
			    const struct uidl_state *state, time_t now,
			    struct pop3_glance *seen, bool *unchanged,
			    struct mp_error *err)
{
	const struct maildrop_summary *sum = state_summary(state);
	/* A clock set back makes the summary's age unknown: list. */
	bool fresh = sum && now >= sum->when && now - sum->when < GLANCE_TRUST &&
		     state_count(state) == sum->known;
	enum mp_status st = pop3_glance(pop, fresh ? sum->count : 0, seen, err);

	*unchanged = st == MP_OK && fresh && seen->count == sum->count &&
		     seen->octets == sum->octets &&
		     strcmp(seen->uidl, sum->last_uidl) == 0;
	return st;
}

bool glance_summary(const struct pop3_glance *seen,
		    const struct pop3_entry *entries, size_t n,
		    const struct uidl_state *state, time_t now,
		    struct maildrop_summary *out)
{
	/* One session sees one maildrop: STAT and UIDL must agree. */
	if (n == 0 || seen->count != n || entries[n - 1].num != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!state_has(state, entries[i].uidl))
			return false;
	memset(out, 0, sizeof *out);
	out->valid = true;
	out->count = n;
	out->octets = seen->octets;
	out->when = now;
	out->known = state_count(state);
	memcpy(out->last_uidl, entries[n - 1].uidl, sizeof out->last_uidl);
	return true;
}
