/* One popfetch run: list, fetch the new messages in batches that become
 * durable before they are recorded, then delete what the policy allows. */
#ifndef POPFETCH_FETCH_H
#define POPFETCH_FETCH_H

#include <stdbool.h>
#include <time.h>

#include "cli.h"

enum output { OUTPUT_NONE, OUTPUT_MAILDIR, OUTPUT_MBOX, OUTPUT_MDA, OUTPUT_STDOUT };

struct fetch_plan {
	enum output output;
	const char *target;            /* Maildir, mbox path or MDA command */
	bool keep, delete_fetched, all, status, dry_run, delete_oversized;
	bool delete_by_age;
	time_t delete_age;
	unsigned long long max_size;   /* 0: no limit */
	unsigned long limit;           /* 0: no limit */
	char state_path[4096];
	bool progress, quiet;
};

enum mp_status fetch_run(struct cli *cli, const struct fetch_plan *plan,
			 struct mp_error *err);

#endif
