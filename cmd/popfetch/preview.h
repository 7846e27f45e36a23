/* --dry-run's list of the messages a run would fetch. */
#ifndef POPFETCH_PREVIEW_H
#define POPFETCH_PREVIEW_H

#include <stddef.h>

#include "pop3.h"

/* Print "would fetch NUM (SIZE bytes) UIDL" for entries[todo[0..n)], with
 * "  From: ...  Subject: ..." (decoded, on one line) read with TOP when
 * the server offers it. A failed TOP is the run's error. */
enum mp_status preview_print(struct pop3_session *pop,
			     const struct pop3_entry *entries,
			     const size_t *todo, size_t n, struct mp_error *err);

#endif
