/* A one-line progress display on standard error, for a terminal: "prog:
 * 120/5000 messages, 3.4 MB", redrawn at most ten times a second. Not
 * thread-safe: callers with threads hold their own lock around it. */
#ifndef MAILPIPE_PROGRESS_H
#define MAILPIPE_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct progress {
	const char *prog;
	bool on;                 /* off: every call does nothing */
	bool shown;              /* the line is on the screen */
	size_t done, total;
	unsigned long long bytes;
	struct timespec last;
};

/* on: draw at all (callers pass "stderr is a terminal and not -q"). */
void progress_init(struct progress *p, const char *prog, bool on, size_t total);
/* One more message of size bytes. */
void progress_add(struct progress *p, unsigned long long bytes);
/* Wipe the line before other output (the next progress_add draws it
 * again), and at the end. */
void progress_clear(struct progress *p);

#endif
