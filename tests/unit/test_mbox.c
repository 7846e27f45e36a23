/* Unit tests for common/mbox.c (and the run lock of common/lock.c), in a
 * temp dir under $TMPDIR: round trips through the mboxrd reader, the From_
 * line, rollback and write errors leaving the file byte-identical,
 * truncation, and locking between two processes. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lock.h"
#include "mbox.h"
#include "mboxrd.h"
#include "tap.h"

#define MAXMSG 8

static char top[1024];

struct parsed {
	int n;
	char *sep[MAXMSG];     /* the From_ lines */
	char *body[MAXMSG];    /* unquoted, final empty line removed */
	size_t len[MAXMSG];
};

static void spew(const char *path, const char *s, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (f) {
		fwrite(s, 1, n, f);
		fclose(f);
	}
}

/* Split an mbox into messages as a reader would; false if malformed
 * (text before the first From_ line, a message not ending in an empty
 * line). */
static bool parse(const char *mb, size_t len, struct parsed *p)
{
	size_t i = 0;
	int cur = -1;

	memset(p, 0, sizeof(*p));
	while (i < len) {
		const char *lf = memchr(mb + i, '\n', len - i);
		size_t end = lf ? (size_t)(lf - mb) : len;
		const char *u;
		size_t ulen;

		if (!lf)
			return false;   /* every mbox line ends in LF */
		if (mboxrd_read_line(mb + i, end - i, &u, &ulen) == MBOXRD_SEPARATOR) {
			if (cur + 1 >= MAXMSG)
				return false;
			cur++;
			p->sep[cur] = strndup(mb + i, end - i);
			p->body[cur] = malloc(len + 1);
			p->len[cur] = 0;
		} else {
			if (cur < 0)
				return false;
			memcpy(p->body[cur] + p->len[cur], u, ulen);
			p->len[cur] += ulen;
			p->body[cur][p->len[cur]++] = '\n';
		}
		i = end + 1;
	}
	for (int k = 0; k <= cur; k++) {
		size_t n = p->len[k];

		if (n == 0 || p->body[k][n - 1] != '\n' ||
		    (n >= 2 && p->body[k][n - 2] != '\n'))
			return false;
		p->len[k]--;
		p->body[k][p->len[k]] = '\0';
	}
	p->n = cur + 1;
	return true;
}

static void parsed_free(struct parsed *p)
{
	for (int k = 0; k < p->n; k++) {
		free(p->sep[k]);
		free(p->body[k]);
	}
	p->n = 0;
}

static enum mp_status put_msg(struct mbox *mb, const char *sender, time_t date,
			      const char *body, size_t len, size_t step,
			      struct mp_error *err)
{
	enum mp_status st = mbox_begin(mb, sender, date, err);

	for (size_t i = 0; st == MP_OK && i < len; i += step)
		st = mbox_write(mb, body + i, len - i < step ? len - i : step, err);
	if (st == MP_OK)
		st = mbox_end(mb, err);
	return st;
}

static bool same_file(const char *path, const char *want, size_t wlen)
{
	size_t n;
	char *got = tap_slurp(path, &n);
	bool same = got && n == wlen && memcmp(got, want, n) == 0;

	free(got);
	return same;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static char big[200000];

static void test_roundtrip(const char *path)
{
	const char *m1 = "From: a@b\nSubject: 1\n\nFrom here\n>From there\n"
			 ">>From x\n.\nend\n";
	const char *m2 = "Subject: 2\r\n\r\nFrom crlf\r\nno final newline";
	const char *m2_want = "Subject: 2\n\nFrom crlf\nno final newline\n";
	char lockpath[4200], host[256], want[300];
	struct mbox *mb;
	struct mp_error err;
	struct parsed p;
	struct stat st;
	size_t len;
	char *data, *lock;
	bool all = true;

	snprintf(lockpath, sizeof(lockpath), "%s.lock", path);
	ok(mbox_open(&mb, path, &err) == MP_OK, "open a new mbox");
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "created mode 600");
	lock = tap_slurp(lockpath, &len);
	gethostname(host, sizeof(host));
	snprintf(want, sizeof(want), "%ld:%s\n", (long)getpid(), host);
	is_str(lock, want, "the dotlock names us");
	free(lock);
	is_int(mbox_synced_size(mb), 0, "synced size 0");

	all = all && put_msg(mb, "a@b", 1795645253, m1, strlen(m1), 3, &err) == MP_OK;
	all = all && put_msg(mb, NULL, 1000000000, m2, strlen(m2), 1, &err) == MP_OK;
	all = all && put_msg(mb, "two words", 1000000000, "", 0, 1, &err) == MP_OK;
	all = all && put_msg(mb, "x@y", 0, big, sizeof(big), 70001, &err) == MP_OK;
	ok(all, "four messages written");
	ok(mbox_sync(mb, &err) == MP_OK, "sync");
	ok(mbox_synced_size(mb) > (long long)sizeof(big), "synced size grew");
	mbox_close(mb);
	ok(access(lockpath, F_OK) != 0, "dotlock removed at close");

	data = tap_slurp(path, &len);
	ok(data && parse(data, len, &p) && p.n == 4, "the reader finds 4 messages");
	is_str(p.sep[0], "From a@b Wed Nov 25 22:20:53 2026", "From_ line, asctime style");
	is_str(p.sep[1], "From MAILER-DAEMON Sun Sep  9 01:46:40 2001",
	       "no sender: MAILER-DAEMON; day padded with a space");
	is_str(p.sep[2], "From MAILER-DAEMON Sun Sep  9 01:46:40 2001",
	       "an unusable sender: MAILER-DAEMON");
	is_str(p.body[0], m1, "message 1 survives quoting");
	is_str(p.body[1], m2_want, "message 2: CRLF to LF, final newline added");
	is_int(p.len[2], 0, "an empty message");
	ok(p.len[3] == sizeof(big) && memcmp(p.body[3], big, sizeof(big)) == 0,
	   "a 200 KB message full of From lines");
	ok(strncmp(p.sep[3], "From x@y ", 9) == 0, "date 0: now");
	parsed_free(&p);
	free(data);
}

/* Appending after text that another program left without an empty line. */
static void test_append_existing(const char *path)
{
	const char *old = "From x Thu Jan  1 00:00:00 1970\nold body";
	struct mbox *mb;
	struct mp_error err;
	struct parsed p;
	size_t len;
	char *data;

	spew(path, old, strlen(old));
	ok(mbox_open(&mb, path, &err) == MP_OK, "open an existing mbox");
	is_int(mbox_synced_size(mb), strlen(old), "synced size is the file size");
	ok(put_msg(mb, "n@m", 0, "new\n", 4, 4, &err) == MP_OK &&
	   mbox_sync(mb, &err) == MP_OK, "append");
	mbox_close(mb);
	data = tap_slurp(path, &len);
	ok(data && strncmp(data + strlen(old), "\n\nFrom n@m ", 11) == 0,
	   "an empty line before the new From_ line");
	ok(data && parse(data, len, &p) && p.n == 2, "two messages");
	is_str(p.body[0], "old body\n", "the old one intact");
	is_str(p.body[1], "new\n", "the new one");
	parsed_free(&p);
	free(data);
}

static void test_rollback(const char *path)
{
	struct mbox *mb;
	struct mp_error err;
	struct parsed p;
	size_t before_len, len;
	char *before = tap_slurp(path, &before_len), *data;

	ok(mbox_open(&mb, path, &err) == MP_OK, "open for rollback");
	ok(put_msg(mb, NULL, 0, big, sizeof(big), 50000, &err) == MP_OK &&
	   mbox_begin(mb, NULL, 0, &err) == MP_OK &&
	   mbox_write(mb, "half", 4, &err) == MP_OK, "a message and a half");
	ok(!same_file(path, before, before_len), "the file grew before the sync");
	mbox_rollback(mb);
	ok(same_file(path, before, before_len), "rollback: byte-identical");
	is_int(mbox_synced_size(mb), before_len, "synced size unchanged");

	/* A begin inside a message drops that message. */
	ok(mbox_begin(mb, NULL, 0, &err) == MP_OK &&
	   mbox_write(mb, big, sizeof(big), &err) == MP_OK &&
	   put_msg(mb, "kept@x", 0, "kept\n", 5, 5, &err) == MP_OK &&
	   mbox_sync(mb, &err) == MP_OK, "unfinished message, then a whole one");
	ok(mbox_sync(mb, &err) == MP_OK, "a second sync is harmless");
	mbox_close(mb);
	data = tap_slurp(path, &len);
	ok(data && parse(data, len, &p) && p.n == 3 &&
	   strncmp(p.sep[2], "From kept@x ", 12) == 0 &&
	   strcmp(p.body[2], "kept\n") == 0, "only the whole one is there");
	parsed_free(&p);
	free(before);
	before = data;
	before_len = len;

	/* What a sync made durable stays; close without a sync drops the rest. */
	ok(mbox_open(&mb, path, &err) == MP_OK, "open again");
	ok(put_msg(mb, NULL, 0, big, sizeof(big), sizeof(big), &err) == MP_OK &&
	   mbox_sync(mb, &err) == MP_OK, "a message, synced");
	mbox_close(mb);
	ok(!same_file(path, before, before_len), "a synced message stays after close");
	ok(mbox_truncate_to(path, (long long)before_len, &err) == MP_OK,
	   "truncate_to cuts it back");
	ok(same_file(path, before, before_len), "byte-identical again");
	ok(mbox_open(&mb, path, &err) == MP_OK &&
	   put_msg(mb, NULL, 0, "gone\n", 5, 5, &err) == MP_OK, "unsynced message");
	mbox_close(mb);
	ok(same_file(path, before, before_len), "close without sync: byte-identical");
	free(before);
}

/* After a failure mid-batch: a message begun and never ended is cut off,
 * separator and all, wherever its bytes are (file or buffer); the ended
 * ones stay and become durable with a sync. */
static void test_drop_partial(const char *path)
{
	static const char old_mbox[] = "From x Thu Jan  1 00:00:00 1970\nold\n\n";
	struct mbox *mb;
	struct mp_error err;
	struct parsed p;
	size_t before_len, len;
	char *before, *data;
	bool good;

	spew(path, old_mbox, strlen(old_mbox));
	before = tap_slurp(path, &before_len);
	ok(mbox_open(&mb, path, &err) == MP_OK, "open for drop_partial");
	is_int(mbox_drop_partial(mb, &err), MP_OK, "outside a message: nothing to do");
	ok(same_file(path, before, before_len), "and nothing changed");
	ok(put_msg(mb, "one@x", 0, big, sizeof(big), 30000, &err) == MP_OK &&
	   put_msg(mb, "two@x", 0, "two\n", 4, 4, &err) == MP_OK,
	   "two whole messages, unsynced");
	/* Large enough that the partial message reaches the file. */
	ok(mbox_begin(mb, "part@x", 0, &err) == MP_OK &&
	   mbox_write(mb, big, sizeof(big), &err) == MP_OK,
	   "a third begun, 200 KB written, never ended");
	is_int(mbox_drop_partial(mb, &err), MP_OK, "drop_partial (%s)", err.msg);
	is_int(mbox_write(mb, "x", 1, &err), MP_ERR_INTERNAL,
	       "no longer inside a message");
	is_int(mbox_sync(mb, &err), MP_OK, "sync the whole ones (%s)", err.msg);
	data = tap_slurp(path, &len);
	is_int(mbox_synced_size(mb), (long long)len, "synced size is the file's");
	good = data && len > before_len && !memcmp(data, before, before_len) &&
	       parse(data, len, &p);
	ok(good && p.len[p.n - 2] == sizeof(big) &&
	   !memcmp(p.body[p.n - 2], big, sizeof(big)) &&
	   !strcmp(p.body[p.n - 1], "two\n") &&
	   !strncmp(p.sep[p.n - 1], "From two@x ", 11),
	   "old content, then exactly the two whole messages");
	ok(good && !strstr(data + before_len, "From part@x"),
	   "no trace of the partial one");
	if (good)
		parsed_free(&p);
	free(before);
	before = data;
	before_len = len;

	/* A partial message still in the buffer; then more mail after it. */
	ok(mbox_begin(mb, "small@x", 0, &err) == MP_OK &&
	   mbox_write(mb, "half a mess", 11, &err) == MP_OK &&
	   mbox_drop_partial(mb, &err) == MP_OK &&
	   mbox_sync(mb, &err) == MP_OK, "a small partial one dropped, sync");
	ok(same_file(path, before, before_len), "file unchanged");
	ok(put_msg(mb, "next@x", 0, "next\n", 5, 5, &err) == MP_OK &&
	   mbox_sync(mb, &err) == MP_OK, "a message after the drop");
	mbox_close(mb);
	data = tap_slurp(path, &len);
	ok(data && len > before_len && !memcmp(data, before, before_len) &&
	   !strncmp(data + before_len, "From next@x ", 12) &&
	   parse(data, len, &p) && !strcmp(p.body[p.n - 1], "next\n") &&
	   !strcmp(p.body[p.n - 2], "two\n"),
	   "it follows the last whole one, after its empty line");
	parsed_free(&p);
	free(data);
	free(before);
}

/* A write error (file size limit) rolls back to the last sync and makes
 * the mbox refuse more until mbox_rollback. */
static void test_write_error(const char *path)
{
	struct mbox *mb;
	struct mp_error err;
	struct rlimit old, rl;
	size_t before_len, synced_len;
	char *before = tap_slurp(path, &before_len), *synced;
	enum mp_status st;

	ok(mbox_open(&mb, path, &err) == MP_OK, "open for a write error");
	ok(put_msg(mb, "first@x", 0, "first\n", 6, 6, &err) == MP_OK &&
	   mbox_sync(mb, &err) == MP_OK, "one message synced");
	synced = tap_slurp(path, &synced_len);
	getrlimit(RLIMIT_FSIZE, &old);
	rl = old;
	rl.rlim_cur = synced_len + 10000;
	signal(SIGXFSZ, SIG_IGN);
	ok(setrlimit(RLIMIT_FSIZE, &rl) == 0, "file size limit set");
	st = put_msg(mb, NULL, 0, big, sizeof(big), 4096, &err);
	ok(st == MP_ERR_IO, "the write fails: %s", err.msg);
	ok(same_file(path, synced, synced_len), "cut back to the last sync");
	ok(mbox_write(mb, "x", 1, &err) == MP_ERR_IO, "more writes refused");
	ok(mbox_begin(mb, NULL, 0, &err) == MP_ERR_IO, "a new message refused");
	ok(mbox_sync(mb, &err) == MP_ERR_IO, "a sync refused: %s", err.msg);
	ok(mbox_drop_partial(mb, &err) == MP_ERR_IO,
	   "nothing to keep after a failed write: %s", err.msg);
	setrlimit(RLIMIT_FSIZE, &old);
	mbox_rollback(mb);
	ok(put_msg(mb, "after@x", 0, "after\n", 6, 6, &err) == MP_OK &&
	   mbox_sync(mb, &err) == MP_OK, "usable again after rollback");
	mbox_close(mb);
	{
		size_t len;
		char *data = tap_slurp(path, &len);
		struct parsed p;

		ok(data && len > synced_len && memcmp(data, synced, synced_len) == 0 &&
		   parse(data, len, &p) && strcmp(p.body[p.n - 1], "after\n") == 0 &&
		   strcmp(p.body[p.n - 2], "first\n") == 0, "first and after, nothing between");
		parsed_free(&p);
		free(data);
	}
	free(synced);
	free(before);
}

static void test_truncate(const char *path)
{
	struct mp_error err;
	char missing[4200];
	size_t len, len2;
	char *data = tap_slurp(path, &len);

	ok(mbox_truncate_to(path, (long long)len, &err) == MP_OK &&
	   same_file(path, data, len), "truncate_to the same size changes nothing");
	ok(mbox_truncate_to(path, (long long)len - 10, &err) == MP_OK, "shorter");
	free(tap_slurp(path, &len2));
	is_int(len2, len - 10, "cut by 10 bytes");
	ok(mbox_truncate_to(path, (long long)len, &err) == MP_ERR_DATA,
	   "longer than the file: refused: %s", err.msg);
	snprintf(missing, sizeof(missing), "%s/missing", top);
	ok(mbox_truncate_to(missing, 100, &err) == MP_OK, "a missing file is fine");
	ok(access(missing, F_OK) != 0, "and is not created");
	spew(path, data, len);
	free(data);
}

/* Another process holds the locks for a while: we wait, then append. */
static void test_wait(const char *path, bool dotlock_too)
{
	int pfd[2];
	pid_t pid;
	char c;
	double t0, waited;
	struct mbox *mb;
	struct mp_error err;
	int status;
	size_t len0, len;
	char *data0 = tap_slurp(path, &len0), *data;
	struct parsed p;

	if (pipe(pfd) != 0)
		return;
	pid = fork();
	if (pid == 0) {
		struct mbox *cmb;
		struct mp_error cerr;
		int fd = -1;

		close(pfd[0]);
		if (dotlock_too) {
			if (mbox_open(&cmb, path, &cerr) != MP_OK)
				_exit(1);
		} else {
			struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

			fd = open(path, O_RDWR);
			if (fd < 0 || fcntl(fd, F_SETLK, &fl) != 0)
				_exit(1);
		}
		if (write(pfd[1], "1", 1) != 1)
			_exit(1);
		usleep(1500 * 1000);
		if (dotlock_too) {
			if (put_msg(cmb, "child@x", 0, "child\n", 6, 6, &cerr) != MP_OK ||
			    mbox_sync(cmb, &cerr) != MP_OK)
				_exit(1);
			mbox_close(cmb);
		} else {
			close(fd);
		}
		_exit(0);
	}
	close(pfd[1]);
	ok(read(pfd[0], &c, 1) == 1, "the other process holds the %s",
	   dotlock_too ? "locks" : "fcntl lock");
	close(pfd[0]);
	t0 = now_s();
	ok(mbox_open(&mb, path, &err) == MP_OK, "we get it after a wait");
	waited = now_s() - t0;
	ok(waited >= 1.0 && waited < 5, "waited %.1f s", waited);
	ok(put_msg(mb, "parent@x", 0, "parent\n", 7, 7, &err) == MP_OK &&
	   mbox_sync(mb, &err) == MP_OK, "and append");
	mbox_close(mb);
	ok(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	   WEXITSTATUS(status) == 0, "the other process did its part");
	data = tap_slurp(path, &len);
	ok(data && memcmp(data, data0, len0) == 0 && parse(data, len, &p),
	   "old content intact, the file parses");
	if (dotlock_too)
		ok(p.n >= 2 && strcmp(p.body[p.n - 2], "child\n") == 0 &&
		   strcmp(p.body[p.n - 1], "parent\n") == 0, "child's, then ours");
	else
		ok(p.n >= 1 && strcmp(p.body[p.n - 1], "parent\n") == 0, "ours at the end");
	parsed_free(&p);
	free(data);
	free(data0);
}

static void test_stale(const char *path)
{
	char lockpath[4200], host[256], buf[400];
	struct timespec ts[2];
	struct mbox *mb;
	struct mp_error err;
	double t0;
	pid_t dead;
	int status;

	snprintf(lockpath, sizeof(lockpath), "%s.lock", path);
	spew(lockpath, "1:elsewhere\n", 12);
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - 600;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	utimensat(AT_FDCWD, lockpath, ts, 0);
	t0 = now_s();
	ok(mbox_open(&mb, path, &err) == MP_OK && now_s() - t0 < 2,
	   "a dotlock 10 minutes old is stale");
	mbox_close(mb);

	dead = fork();
	if (dead == 0)
		_exit(0);
	waitpid(dead, &status, 0);
	gethostname(host, sizeof(host));
	snprintf(buf, sizeof(buf), "%ld:%s\n", (long)dead, host);
	spew(lockpath, buf, strlen(buf));
	t0 = now_s();
	ok(mbox_open(&mb, path, &err) == MP_OK && now_s() - t0 < 2,
	   "a dotlock of a dead process here is stale");
	mbox_close(mb);
	ok(access(lockpath, F_OK) != 0, "and gone afterwards");

	/* A fresh lock of another machine: wait 10 s, then give up. */
	spew(lockpath, "1:elsewhere\n", 12);
	t0 = now_s();
	ok(mbox_open(&mb, path, &err) == MP_ERR_TEMP, "a live dotlock: try later: %s",
	   err.msg);
	ok(now_s() - t0 >= 9.5 && now_s() - t0 < 15, "after about 10 s");
	ok(access(lockpath, F_OK) == 0, "their dotlock stays");
	unlink(lockpath);
}

/* The run lock: a second process is told to try later, and gets it once
 * the first is gone. */
static void test_run_lock(void)
{
	char path[2048];
	struct mp_error err;
	int pfd[2], fd = -1, status;
	pid_t pid;
	char c;

	snprintf(path, sizeof(path), "%s/run.lock", top);
	if (pipe(pfd) != 0)
		return;
	pid = fork();
	if (pid == 0) {
		int cfd;
		struct mp_error cerr;

		close(pfd[0]);
		if (lock_take(path, "popfetch", &cfd, &cerr) != MP_OK)
			_exit(1);
		if (write(pfd[1], "1", 1) != 1)
			_exit(1);
		usleep(500 * 1000);
		_exit(0);   /* dying drops the lock */
	}
	close(pfd[1]);
	ok(read(pfd[0], &c, 1) == 1, "another process holds the run lock");
	close(pfd[0]);
	ok(lock_take(path, "popfetch", &fd, &err) == MP_ERR_TEMP && fd == -1,
	   "a second run: try later");
	{
		char want[2200];

		snprintf(want, sizeof(want), "popfetch is already running "
			 "(lock held on %s)", path);
		is_str(err.msg, want, "the message names the lock");
	}
	waitpid(pid, &status, 0);
	ok(lock_take(path, "popfetch", &fd, &err) == MP_OK && fd >= 0,
	   "free once the holder died");
	ok(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC), "close-on-exec");
	lock_release(fd);
	ok(lock_take(path, "popfetch", &fd, &err) == MP_OK, "and again after release");
	lock_release(fd);
	ok(access(path, F_OK) == 0, "the lock file stays");
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char path[2048];

	for (size_t i = 0; i < sizeof(big); i++) {
		static const char pat[] = "From a\n>From b\nx\n>>From c\n\n";

		big[i] = pat[i % (sizeof(pat) - 1)];
	}
	big[sizeof(big) - 1] = '\n';
	snprintf(top, sizeof(top), "%s/mp-mbox-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(top)) {
		printf("Bail out! cannot make a temp dir: %s\n", strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/mbox", top);
	test_roundtrip(path);
	snprintf(path, sizeof(path), "%s/existing", top);
	test_append_existing(path);
	test_rollback(path);
	snprintf(path, sizeof(path), "%s/drop", top);
	test_drop_partial(path);
	snprintf(path, sizeof(path), "%s/existing", top);
	test_write_error(path);
	test_truncate(path);
	test_wait(path, true);
	test_wait(path, false);
	test_stale(path);
	test_run_lock();
	{
		char cmd[4200];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", top);
	}
	return tap_done();
}
