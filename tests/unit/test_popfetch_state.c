/* Unit tests for cmd/popfetch/state.c, popfetch's record of the UIDLs it
 * has fetched: parsing (and refusing) state text, the hash table under
 * many entries, removals and re-adds, touching, pruning, and a save/load
 * round trip in a temp dir under $TMPDIR. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state.h"
#include "tap.h"

#define DAY 86400

static struct uidl_state *parse(const char *text, enum mp_status *st,
				struct mp_error *err)
{
	struct uidl_state *s = NULL;

	*st = state_parse(text, strlen(text), "state", &s, err);
	return s;
}

static void test_parse(void)
{
	struct mp_error err = { 0 };
	enum mp_status st;
	struct uidl_state *s = parse(
		"# mailpipe popfetch state 1: first-fetched last-listed uidl\n"
		"100 200 abc\n"
		"\n"
		"# a comment\n"
		"300\t400  x~y!\n"
		"100 900 abc\n"
		"5 6 last-without-newline", &st, &err);

	is_int(st, MP_OK, "a state file parses (%s)", err.msg);
	if (!s)
		return;
	is_int((long)state_count(s), 3, "three UIDLs, the repeated one once");
	ok(state_has(s, "abc") && state_has(s, "x~y!") &&
	   state_has(s, "last-without-newline"), "each one known");
	ok(!state_has(s, "ab") && !state_has(s, "abcd") && !state_has(s, ""),
	   "near misses unknown");
	is_int((long)state_first_seen(s, "abc"), 100, "first-fetched time kept");
	is_int((long)state_first_seen(s, "x~y!"), 300, "tabs and runs of blanks");
	is_int((long)state_first_seen(s, "nope"), 0, "unknown: 0");
	state_free(s);

	s = parse("", &st, &err);
	is_int(st, MP_OK, "an empty file is an empty state");
	is_int(s ? (long)state_count(s) : -1, 0, "with nothing in it");
	state_free(s);
}

static void test_malformed(void)
{
	static const char *const bad[] = {
		"1 2\n",                     /* no UIDL */
		"1 2 \n",                    /* empty UIDL */
		"x 2 abc\n",                 /* not a number */
		"-1 2 abc\n",                /* negative */
		"+1 2 abc\n",                /* signed */
		"1x 2 abc\n",                /* junk in a number */
		"1 2 a b\n",                 /* a blank inside the UIDL */
		"1 2 abc\r\n",               /* a CR is not a UIDL character */
		"1234567890123456789 2 a\n", /* more digits than fit */
		"1 2 0123456789012345678901234567890123456789012345678901234567890123456789x\n",
		"1 2 caf\xc3\xa9\n",         /* 8-bit */
	};
	struct mp_error err = { 0 };
	enum mp_status st;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char text[200];

		snprintf(text, sizeof text, "# header\n5 6 good\n%s7 8 fine\n", bad[i]);
		struct uidl_state *s = parse(text, &st, &err);
		is_int(st, MP_ERR_CONFIG, "bad line %zu refused", i);
		ok(!s && strstr(err.msg, "state:3:"), "... naming file and line (%s)",
		   err.msg);
		state_free(s);
	}
}

/* Enough entries to grow the table many times, UIDLs alike but for a few
 * characters, as servers make them. */
static void test_many(void)
{
	enum { N = 20000 };
	struct uidl_state *s = NULL;
	struct mp_error err = { 0 };
	char uidl[80];
	bool all = true, news;
	size_t known = 0;

	is_int(state_parse("", 0, "state", &s, &err), MP_OK, "empty start");
	if (!s)
		return;
	for (int i = 0; i < N; i++) {
		snprintf(uidl, sizeof uidl, "%08X6b07a66e", i);
		state_add(s, uidl, 1000 + i);
	}
	state_add(s, "00000000" "6b07a66e", 5);   /* already there: no-op */
	is_int((long)state_count(s), N, "%d entries", N);
	for (int i = 0; i < N; i++) {
		snprintf(uidl, sizeof uidl, "%08X6b07a66e", i);
		all &= state_first_seen(s, uidl) == 1000 + i;
	}
	ok(all, "each found with its own first-fetched time");

	/* Remove every other one: tombstones must not hide the rest. */
	for (int i = 0; i < N; i += 2) {
		snprintf(uidl, sizeof uidl, "%08X6b07a66e", i);
		state_remove(s, uidl);
	}
	is_int((long)state_count(s), N / 2, "half removed");
	all = true;
	for (int i = 0; i < N; i++) {
		snprintf(uidl, sizeof uidl, "%08X6b07a66e", i);
		all &= state_has(s, uidl) == (i % 2 == 1);
	}
	ok(all, "exactly the odd ones left");
	/* Re-adding fills tombstones and rehashes without losing anything. */
	for (int i = 0; i < 3 * N; i++) {
		snprintf(uidl, sizeof uidl, "new-%d", i);
		state_add(s, uidl, 7);
	}
	all = true;
	for (int i = 1; i < N; i += 2) {
		snprintf(uidl, sizeof uidl, "%08X6b07a66e", i);
		known += state_touch(s, uidl, 2000 + i + DAY / 2, &news);
		all &= !news;
	}
	is_int((long)known, N / 2, "old entries still there after growth");
	ok(all, "listed again within a day: nothing worth writing");
	is_int((long)state_count(s), N / 2 + 3 * N, "count after re-adding");
	state_free(s);
}

static void test_touch_prune(void)
{
	struct mp_error err = { 0 };
	enum mp_status st;
	struct uidl_state *s = parse("100 100 a\n100 100 b\n", &st, &err);
	bool news = true;

	if (!s) {
		ok(0, "parse (%s)", err.msg);
		return;
	}
	ok(!state_touch(s, "zzz", 500, &news) && !news, "unknown: not known, no news");
	ok(state_touch(s, "a", 100 + DAY + 1, &news) && news,
	   "a day since last listed: news");
	ok(state_touch(s, "a", 100 + DAY + 2, &news) && !news,
	   "just listed: no news");
	is_int((long)state_first_seen(s, "a"), 100, "touching keeps first-fetched");
	/* b was last listed at 100, a just now. */
	is_int((long)state_prune(s, 100 + 2 * DAY, DAY), 1, "one forgotten");
	ok(state_has(s, "a") && !state_has(s, "b"), "the one not listed lately");
	state_free(s);
}

static void test_round_trip(void)
{
	char dir[] = "/tmp/mp-pfstate-XXXXXX", path[64];
	struct mp_error err = { 0 };
	struct uidl_state *s = NULL, *back = NULL;

	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof path, "%s/state", dir);
	is_int(state_load(path, &s, &err), MP_OK, "a missing file loads empty");
	if (!s)
		return;
	for (int i = 0; i < 3000; i++) {
		char uidl[32];

		snprintf(uidl, sizeof uidl, "u%d", i);
		state_add(s, uidl, 1700000000 + i);
	}
	state_remove(s, "u7");
	is_int(state_save(s, path, &err), MP_OK, "saved (%s)", err.msg);
	is_int(state_load(path, &back, &err), MP_OK, "loaded back (%s)", err.msg);
	if (back) {
		bool same = true;

		for (int i = 0; i < 3000; i++) {
			char uidl[32];

			snprintf(uidl, sizeof uidl, "u%d", i);
			same &= state_first_seen(back, uidl) ==
				(i == 7 ? 0 : 1700000000 + i);
		}
		is_int((long)state_count(back), 2999, "same count");
		ok(same, "same entries and times");
	}
	state_free(s);
	state_free(back);
	unlink(path);
	rmdir(dir);
}

/* The maildrop summary: a comment line to older readers, dropped when it
 * does not parse (the next run then lists), kept through save and load. */
static void test_summary(void)
{
	static const char *const bad[] = {
		"#@ maildrop 0 0 100 0 u\n",        /* no messages */
		"#@ maildrop 3 10 100 3\n",          /* no UIDL */
		"#@ maildrop 3 10 100 3 a b\n",      /* a blank in it */
		"#@ maildrop x 10 100 3 u\n",
		"#@ maildrop 3 10 100 u\n",          /* the count of UIDLs left out */
	};
	struct mp_error err = { 0 };
	enum mp_status st;
	struct uidl_state *s = parse("# header\n#@ maildrop 3 4096 1700000000 2 uid-3\n"
				     "1 2 uid-1\n1 2 uid-3\n", &st, &err);
	const struct maildrop_summary *sum = s ? state_summary(s) : NULL;

	ok(sum && sum->count == 3 && sum->octets == 4096 &&
	   sum->when == 1700000000 && sum->known == 2 &&
	   !strcmp(sum->last_uidl, "uid-3"), "a summary line is read");
	is_int(s ? (long)state_count(s) : -1, 2, "and is no UIDL");
	state_free(s);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char text[200];

		snprintf(text, sizeof text, "%s7 8 fine\n", bad[i]);
		s = parse(text, &st, &err);
		ok(st == MP_OK && s && !state_summary(s) && state_count(s) == 1,
		   "bad summary %zu dropped, the rest kept", i);
		state_free(s);
	}

	s = parse("1 2 a\n", &st, &err);
	if (!s)
		return;
	ok(!state_summary(s), "none in a file without one");
	struct maildrop_summary set = { .valid = true, .count = 9, .octets = 77,
					.when = 1234, .known = 1 };
	strcpy(set.last_uidl, "last");
	ok(state_set_summary(s, &set), "setting one changes the state");
	ok(!state_set_summary(s, &set), "setting it again does not");
	set.when++;
	ok(state_set_summary(s, &set), "a new time does");

	char dir[] = "/tmp/mp-pfsum-XXXXXX", path[64];
	struct uidl_state *back = NULL;
	if (mkdtemp(dir)) {
		snprintf(path, sizeof path, "%s/state", dir);
		is_int(state_save(s, path, &err), MP_OK, "saved (%s)", err.msg);
		is_int(state_load(path, &back, &err), MP_OK, "loaded (%s)", err.msg);
		sum = back ? state_summary(back) : NULL;
		ok(sum && sum->count == 9 && sum->octets == 77 && sum->when == 1235 &&
		   sum->known == 1 && !strcmp(sum->last_uidl, "last"),
		   "the summary survives a round trip");
		state_free(back);
		back = NULL;
		ok(state_set_summary(s, NULL), "dropping it changes the state");
		ok(!state_set_summary(s, NULL), "dropping none does not");
		is_int(state_save(s, path, &err), MP_OK, "saved without (%s)", err.msg);
		is_int(state_load(path, &back, &err), MP_OK, "loaded (%s)", err.msg);
		ok(back && !state_summary(back) && state_has(back, "a"),
		   "gone after a round trip");
		state_free(back);
		unlink(path);
		rmdir(dir);
	}
	state_free(s);
}

int main(void)
{
	test_parse();
	test_malformed();
	test_many();
	test_touch_prune();
	test_round_trip();
	test_summary();
	return tap_done();
}
