/* A tiny TAP producer for the unit tests: meson reads the output with
 * protocol 'tap'. One process per test file; no globals outside this file's
 * counters. */
#ifndef MAILPIPE_TAP_H
#define MAILPIPE_TAP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count, tap_failed;

#define ok(cond, ...) do { \
	int tap_ok_ = (cond) ? 1 : 0; \
	tap_count++; \
	if (!tap_ok_) tap_failed++; \
	printf("%s %d - ", tap_ok_ ? "ok" : "not ok", tap_count); \
	printf(__VA_ARGS__); \
	printf("\n"); \
	if (!tap_ok_) printf("#   failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
} while (0)

#define is_str(got, want, ...) do { \
	const char *tap_g_ = (got), *tap_w_ = (want); \
	int tap_same_ = tap_g_ && tap_w_ ? strcmp(tap_g_, tap_w_) == 0 : tap_g_ == tap_w_; \
	ok(tap_same_, __VA_ARGS__); \
	if (!tap_same_) printf("#   got:  '%s'\n#   want: '%s'\n", \
			       tap_g_ ? tap_g_ : "(null)", tap_w_ ? tap_w_ : "(null)"); \
} while (0)

#define is_int(got, want, ...) do { \
	long long tap_g_ = (long long)(got), tap_w_ = (long long)(want); \
	ok(tap_g_ == tap_w_, __VA_ARGS__); \
	if (tap_g_ != tap_w_) printf("#   got:  %lld\n#   want: %lld\n", tap_g_, tap_w_); \
} while (0)
/* The contents of path, NUL-terminated (len: its length, may be NULL);
 * NULL if it cannot be opened. */
static inline char *tap_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (len)
		*len = 0;
	if (!f)
		return NULL;
	for (;;) {
		if (n + 65536 + 1 > cap) {
			cap = (n + 65536 + 1) * 2;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		size_t k = fread(buf + n, 1, cap - n - 1, f);
		if (k == 0)
			break;
		n += k;
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static inline void tap_skip(const char *why)
{
	tap_count++;
	printf("ok %d # SKIP %s\n", tap_count, why);
}

/* This process's peak resident size in KiB (VmHWM), or -1. */
static inline long tap_peak_rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmHWM: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* Print the plan and return the exit status for main(). */
static inline int tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

#endif
