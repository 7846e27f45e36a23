/* Unit tests for common/maildir.c, in a temp dir under $TMPDIR: messages
 * appear only after a flush, with unique Dovecot-style names, exact
 * content and mtime; maildir_has; a full disk leaves new/ and tmp/ clean. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "maildir.h"
#include "tap.h"

static char top[1024];

/* Number of entries (not . or ..) in dir; -1 if it cannot be read. */
static int count(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static char *sub(const char *a, const char *b)
{
	static char buf[8][2048];
	static int k;

	k = (k + 1) % 8;
	if ((size_t)snprintf(buf[k], sizeof(buf[k]), "%s/%s", a, b) >= sizeof(buf[k]))
		buf[k][0] = '\0';
	return buf[k];
}

/* Deliver one message; returns the pending name (copied) or NULL. */
static char *deliver(struct maildir *md, const char *body, const char *info,
		     time_t mtime)
{
	struct maildir_msg *m;
	struct mp_error err;
	size_t n = maildir_pending(md);

	if (maildir_begin(md, &m, &err) != MP_OK)
		return NULL;
	if (maildir_write(m, body, strlen(body), &err) != MP_OK) {
		maildir_abort(m);
		return NULL;
	}
	if (maildir_commit(m, info, mtime, &err) != MP_OK)
		return NULL;
	return strdup(maildir_pending_name(md, n));
}

static bool name_looks_right(const char *name, size_t size)
{
	long long sec;
	long usec, pid;
	unsigned long q;
	int off = 0;
	char tail[64];
	const char *s;

	if (sscanf(name, "new/%lld.M%6ldP%ldQ%lu.%n", &sec, &usec, &pid, &q,
		   &off) != 4 || off == 0)
		return false;
	if (pid != (long)getpid() || sec < time(NULL) - 60)
		return false;
	s = strstr(name + off, ",S=");
	snprintf(tail, sizeof(tail), ",S=%zu", size);
	return s && strcmp(s, tail) == 0 && !strchr(name + off, '/') &&
	       !strchr(name + 4, ':');
}

static void test_basic(void)
{
	char *path = sub(top, "a/b/Maildir"), dir[2048], file[4096];
	struct maildir *md;
	struct mp_error err;
	struct stat st;
	char *name, *name2, *got;
	const char *body = "Subject: one\n\nbody\nFrom here\n";
	time_t when = 1234567890;

	snprintf(dir, sizeof(dir), "%s", path);
	ok(maildir_open(&md, dir, false, &err) == MP_ERR_IO,
	   "a missing Maildir is an error without create");
	ok(maildir_open(&md, dir, true, &err) == MP_OK, "created with parents");
	ok(stat(sub(dir, "cur"), &st) == 0 && S_ISDIR(st.st_mode) &&
	   (st.st_mode & 0777) == 0700, "cur/ made, mode 700");

	name = deliver(md, body, NULL, 0);
	ok(name != NULL, "one message committed");
	is_int(maildir_pending(md), 1, "one pending");
	ok(name && name_looks_right(name, strlen(body)),
	   "Dovecot-style name: %s", name ? name : "(none)");
	is_int(count(sub(dir, "new")), 0, "nothing in new/ before the flush");
	is_int(count(sub(dir, "tmp")), 1, "the file waits in tmp/");

	name2 = deliver(md, "x\n", "2,S", when);
	ok(name2 && strncmp(name2, "cur/", 4) == 0 &&
	   strlen(name2) > 8 && strcmp(name2 + strlen(name2) - 8, ",S=2:2,S") == 0,
	   "with info it goes to cur/: %s", name2 ? name2 : "(none)");
	ok(!maildir_has(md, name ? name + 4 : "x"), "not there before the flush");

	ok(maildir_flush(md, &err) == MP_OK, "flush");
	is_int(maildir_pending(md), 0, "nothing pending after the flush");
	is_int(count(sub(dir, "tmp")), 0, "tmp/ empty after the flush");
	is_int(count(sub(dir, "new")), 1, "one in new/");
	is_int(count(sub(dir, "cur")), 1, "one in cur/");
	snprintf(file, sizeof(file), "%s/%s", dir, name ? name : "x");
	got = tap_slurp(file, NULL);
	is_str(got, body, "content written as given");
	free(got);
	snprintf(file, sizeof(file), "%s/%s", dir, name2 ? name2 : "x");
	ok(stat(file, &st) == 0 && st.st_mtime == when, "mtime set");
	ok((st.st_mode & 0777) == 0600, "mode 600");

	ok(maildir_has(md, name ? name + 4 : "x"), "has a new/ message");
	{
		char base[512];

		snprintf(base, sizeof(base), "%s", name2 ? name2 + 4 : "x");
		ok(maildir_has(md, base), "has a cur/ message, info ignored");
		*strchr(base, ':') = '\0';
		ok(maildir_has(md, base), "has a cur/ message by base name");
	}
	ok(!maildir_has(md, "1234.M1P1Q1.nohost,S=3"), "not an unknown name");
	ok(!maildir_has(md, "../new"), "not a path");

	/* Another program adds flags to the cur/ file: a fresh open finds it. */
	{
		char from[4096], to[4096], base[512];
		struct maildir *md2;

		snprintf(from, sizeof(from), "%s/%s", dir, name2 ? name2 : "x:");
		snprintf(to, sizeof(to), "%s", from);
		strcpy(strchr(to + strlen(dir), ':'), ":2,RS");
		ok(rename(from, to) == 0, "flags changed by another program");
		snprintf(base, sizeof(base), "%s", name2 ? name2 + 4 : "x");
		*strchr(base, ':') = '\0';
		ok(maildir_open(&md2, dir, false, &err) == MP_OK, "open again");
		ok(maildir_has(md2, base), "found with new flags");
		ok(maildir_has(md2, name ? name + 4 : "x"), "new/ found after reopen");
		maildir_close(md2);
	}

	/* Aborted and unflushed messages leave nothing behind. */
	{
		struct maildir_msg *m;

		ok(maildir_begin(md, &m, &err) == MP_OK, "begin");
		maildir_write(m, "partial", 7, &err);
		maildir_abort(m);
		is_int(count(sub(dir, "tmp")), 0, "abort removes the tmp file");
		free(deliver(md, "never flushed\n", NULL, 0));
		ok(maildir_begin(md, &m, &err) == MP_OK, "begin, left open");
		is_int(count(sub(dir, "tmp")), 2, "two files in tmp/");
	}
	maildir_close(md);
	is_int(count(sub(dir, "tmp")), 0, "close removes unflushed tmp files");
	is_int(count(sub(dir, "new")), 1, "and moves nothing");
	free(name);
	free(name2);

	/* Not a Maildir. */
	mkdir(sub(top, "plain"), 0700);
	ok(maildir_open(&md, sub(top, "plain"), false, &err) == MP_ERR_IO &&
	   strstr(err.msg, "not a Maildir"), "a plain directory is refused: %s",
	   err.msg);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_many(void)
{
	char *dir = sub(top, "many");
	struct maildir *md;
	struct mp_error err;
	char *names[1000];
	bool all = true, unique = true, has = true, content = true;
	char body[64];

	ok(maildir_open(&md, dir, true, &err) == MP_OK, "open for 1000");
	for (int i = 0; i < 1000; i++) {
		snprintf(body, sizeof(body), "Subject: %d\n\n%d\n", i, i);
		names[i] = deliver(md, body, i % 3 ? NULL : "2,", 0);
		all = all && names[i];
		if ((i + 1) % 250 == 0)
			all = all && maildir_flush(md, &err) == MP_OK;
	}
	ok(all, "1000 messages in 4 flushes");
	is_int(count(sub(dir, "new")) + count(sub(dir, "cur")), 1000,
	       "1000 files in new/ and cur/");
	for (int i = 0; all && i < 1000; i++) {
		char base[512], path[4096], *got;

		snprintf(base, sizeof(base), "%s", names[i] + 4);
		base[strcspn(base, ":")] = '\0';
		has = has && maildir_has(md, base);
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		got = tap_slurp(path, NULL);
		snprintf(body, sizeof(body), "Subject: %d\n\n%d\n", i, i);
		content = content && got && strcmp(got, body) == 0;
		free(got);
	}
	ok(has, "maildir_has finds all 1000");
	ok(content, "each has its own content");
	if (all) {
		qsort(names, 1000, sizeof(*names), cmp_str);
		for (int i = 1; i < 1000; i++)
			unique = unique && strcmp(names[i - 1] + 4, names[i] + 4) != 0;
	}
	ok(all && unique, "1000 unique names");
	for (int i = 0; i < 1000; i++)
		free(names[i]);
	maildir_close(md);
}

/* A message larger than the write buffer, in odd chunk sizes. */
static void test_large(void)
{
	char *dir = sub(top, "large");
	struct maildir *md;
	struct maildir_msg *m;
	struct mp_error err;
	size_t len = 300000, i = 0, step = 1, glen = 0;
	char *body = malloc(len), *got, *name, path[4096];
	bool okay = true;

	for (size_t k = 0; k < len; k++)
		body[k] = (char)('a' + k % 26);
	ok(maildir_open(&md, dir, true, &err) == MP_OK, "open for a large one");
	ok(maildir_begin(md, &m, &err) == MP_OK, "begin");
	while (i < len) {
		size_t n = len - i < step ? len - i : step;

		okay = okay && maildir_write(m, body + i, n, &err) == MP_OK;
		i += n;
		step = step * 7 + 1;
		if (step > 100000)
			step = 3;
	}
	ok(okay && maildir_commit(m, NULL, 0, &err) == MP_OK, "written, committed");
	name = strdup(maildir_pending_name(md, 0));
	ok(maildir_flush(md, &err) == MP_OK, "flushed");
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	got = tap_slurp(path, &glen);
	ok(got && glen == len && memcmp(got, body, len) == 0, "byte-exact");
	ok(strstr(name, ",S=300000") != NULL, "S= is the size");
	free(got);
	free(name);
	free(body);
	maildir_close(md);
}

/* A crash-left tmp file is kept while young, and so is a pending one whose
 * mtime was set far back. */
static void test_clean_tmp(void)
{
	char *dir = sub(top, "clean");
	struct maildir *md;
	struct mp_error err;
	FILE *f;
	char *name;

	ok(maildir_open(&md, dir, true, &err) == MP_OK, "open for tmp cleaning");
	f = fopen(sub(sub(dir, "tmp"), "left.by.crash"), "w");
	if (f)
		fclose(f);
	name = deliver(md, "old date\n", NULL, 1000000000);
	maildir_clean_tmp(md);
	is_int(count(sub(dir, "tmp")), 2, "young and pending tmp files stay");
	ok(maildir_flush(md, &err) == MP_OK, "the old-dated message flushes");
	is_int(count(sub(dir, "new")), 1, "and is in new/");
	free(name);
	maildir_close(md);
}

/* Disk full: MP_ERR_IO, and nothing in new/ or tmp/. */
static void test_full(void)
{
	char *dir = sub(top, "full");
	char *md_dir = sub(dir, "Maildir");
	struct maildir *md;
	struct maildir_msg *m;
	struct mp_error err;
	size_t len = 200000;
	char *big = malloc(len);
	bool mounted, failed = false;
	enum mp_status st = MP_OK;
	struct rlimit old;

	memset(big, 'x', len);
	mkdir(dir, 0700);
	mounted = mount("tmpfs", dir, "tmpfs", 0, "size=64k") == 0;
	if (!mounted) {
		/* Not allowed to mount: a file size limit fails writes too. */
		struct rlimit rl;

		getrlimit(RLIMIT_FSIZE, &old);
		rl = old;
		rl.rlim_cur = 64 * 1024;
		signal(SIGXFSZ, SIG_IGN);
		setrlimit(RLIMIT_FSIZE, &rl);
	}
	printf("# disk full by %s\n", mounted ? "a 64k tmpfs" : "RLIMIT_FSIZE");
	ok(maildir_open(&md, md_dir, true, &err) == MP_OK, "open on a small disk");

	/* Fails while writing (past the buffer). */
	ok(maildir_begin(md, &m, &err) == MP_OK, "begin");
	for (size_t i = 0; i < len && st == MP_OK; i += 1000)
		st = maildir_write(m, big + i, 1000, &err);
	failed = st == MP_ERR_IO;
	ok(failed && strstr(err.msg, "tmp/"), "a write fails: %s", err.msg);
	if (st == MP_OK)
		st = maildir_commit(m, NULL, 0, &err);
	else
		maildir_abort(m);
	is_int(count(sub(md_dir, "tmp")), 0, "tmp/ clean after abort");
	is_int(count(sub(md_dir, "new")), 0, "new/ empty");

	/* Fails when commit drains the buffer: fill the disk first. */
	if (mounted) {
		FILE *f = fopen(sub(dir, "filler"), "w");

		if (f) {
			fwrite(big, 1, 60000, f);
			fclose(f);
		}
		ok(maildir_begin(md, &m, &err) == MP_OK, "begin on a full disk");
		ok(maildir_write(m, big, 20000, &err) == MP_OK, "buffered: no error yet");
		ok(maildir_commit(m, NULL, 0, &err) == MP_ERR_IO,
		   "commit reports the full disk: %s", err.msg);
		is_int(maildir_pending(md), 0, "nothing pending");
		ok(maildir_flush(md, &err) == MP_OK, "an empty flush is fine");
		is_int(count(sub(md_dir, "tmp")), 0, "tmp/ clean after commit failed");
		is_int(count(sub(md_dir, "new")), 0, "new/ still empty");
	}
	maildir_close(md);
	if (mounted)
		umount(dir);
	else
		setrlimit(RLIMIT_FSIZE, &old);
	free(big);
}

/* The flush for callers that sync the whole file system themselves. */
static void test_flush_fs(void)
{
	char *path = sub(top, "fs/Maildir"), dir[2048];
	struct maildir *md;
	struct mp_error err;
	char *a, *b;

	snprintf(dir, sizeof(dir), "%s", path);
	ok(maildir_open(&md, dir, true, &err) == MP_OK, "opened");
	a = deliver(md, "Subject: a\n\nx\n", NULL, 0);
	b = deliver(md, "Subject: b\n\ny\n", "2,S", 0);
	ok(a && b, "two committed");
	is_int(maildir_pending(md), 2, "two pending");
	ok(maildir_flush_fs(md, &err) == MP_OK, "flush_fs (%s)", err.msg);
	is_int(maildir_pending(md), 0, "nothing pending after it");
	is_int(count(sub(dir, "new")), 1, "one in new/");
	is_int(count(sub(dir, "cur")), 1, "one in cur/");
	is_int(count(sub(dir, "tmp")), 0, "tmp/ empty");
	ok(a && maildir_has(md, a + 4), "known by name after it");
	ok(maildir_sync_fs(dir, &err) == MP_OK, "sync of the file system");
	ok(maildir_sync_fs(sub(dir, "no-such-dir"), &err) == MP_ERR_IO &&
	   strstr(err.msg, "no-such-dir") != NULL,
	   "a missing directory is MP_ERR_IO naming it");
#ifdef __linux__
	ok(maildir_can_sync_fs(), "Linux syncs a whole file system at once");
#endif
	free(a);
	free(b);
	maildir_close(md);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(top, sizeof(top), "%s/mp-maildir-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(top)) {
		printf("Bail out! cannot make a temp dir: %s\n", strerror(errno));
		return 1;
	}
	test_basic();
	test_many();
	test_large();
	test_clean_tmp();
	test_full();
	test_flush_fs();
	{
		char cmd[4200];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", top);
	}
	return tap_done();
}
