#include "progress.h"

#include <stdio.h>

/* Redraw no more often than this: a terminal is slower than a fetch. */
#define REDRAW_NS 100000000L

void progress_init(struct progress *p, const char *prog, bool on, size_t total)
{
	*p = (struct progress){ .prog = prog, .on = on, .total = total };
}

static bool due(struct progress *p)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long ns = (long long)(now.tv_sec - p->last.tv_sec) * 1000000000LL +
		       (now.tv_nsec - p->last.tv_nsec);
	if (p->shown && ns < REDRAW_NS)
		return false;
	p->last = now;
	return true;
}

void progress_add(struct progress *p, unsigned long long bytes)
{
	p->done++;
	p->bytes += bytes;
	if (!p->on || (!due(p) && p->done != p->total))
		return;
	if (p->total >= p->done)
		fprintf(stderr, "\r%s: %zu/%zu messages, %.1f MB\033[K", p->prog,
			p->done, p->total, (double)p->bytes / 1e6);
	else
		fprintf(stderr, "\r%s: %zu messages, %.1f MB\033[K", p->prog,
			p->done, (double)p->bytes / 1e6);
	fflush(stderr);
	p->shown = true;
}

void progress_clear(struct progress *p)
{
	if (!p->on || !p->shown)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	p->shown = false;
}
