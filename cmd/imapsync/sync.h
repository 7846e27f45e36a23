/* One imapsync run: list folders, then sync each into the backup. */
#ifndef IMAPSYNC_SYNC_H
#define IMAPSYNC_SYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "cli.h"
#include "imap.h"

enum output { OUT_MAILDIR, OUT_STDOUT, OUT_MDA, OUT_MBOX };
enum layout { LAYOUT_MAILDIRPP, LAYOUT_NESTED };

struct sync_opts {
	enum output output;
	const char *target;              /* backup directory, or MDA command */
	enum layout layout;              /* nested for mbox, whatever --layout */
	const char *const *folders;      /* LIST patterns; default "*" */
	size_t nfolders;
	const char *const *excludes;     /* fnmatch patterns on UTF-8 names */
	size_t nexcludes;
	unsigned jobs;
	char *search;                    /* IMAP search keys limiting what is
					    fetched (--since, --search), or
					    NULL; owned by main.c */
	bool dry_run, mirror, json, quiet, progress;
	char state_dir[4096];            /* stdout/mda/mbox: where folder state
					    lives (mbox: DIR/.mailpipe) */
};

/* What happened to one folder. */
struct folder_result {
	char *name;                      /* UTF-8 */
	size_t fetched, flags_updated, removed, matched;
	unsigned long long bytes;
	bool unchanged, uidvalidity_changed, refused_empty;
	bool prechecked;                 /* STATUS already asked this run */
	size_t expected;                 /* new messages STATUS suggests (a
					    guess, for choosing connections) */
	enum mp_status status;
	char error[512];
};

enum mp_status sync_run(struct cli *cli, const struct sync_opts *opts,
			struct mp_error *err);

/* The local directory (relative to the backup) for a server folder, made
 * safe whatever the server calls it. *out is freed by the caller. */
enum mp_status folder_local_name(const struct imap_folder *f, bool utf8,
				 enum layout layout, char **utf8_name,
				 char **out, struct mp_error *err);

#endif
