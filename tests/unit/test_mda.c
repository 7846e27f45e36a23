/* Unit tests for common/mda.c: the message and the environment reach the
 * command; exit 0, 75, 1 and a signal map to their statuses; a command
 * that reads nothing is not a write error; SIGPIPE is left as it was;
 * mda_abort stops the command before it sees the end of the message. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mda.h"
#include "tap.h"

static char top[1024];

/* Run cmd with env, feed it len bytes of msg in chunks; the status. */
static enum mp_status run(const char *cmd, const char *const *env,
			  const char *msg, size_t len, struct mp_error *err)
{
	struct mda *m;
	enum mp_status st = mda_start(&m, cmd, env, err);
	bool wrote = true;

	if (st != MP_OK)
		return st;
	for (size_t i = 0; i < len; i += 10000)
		wrote = wrote && mda_write(m, msg + i, len - i < 10000 ? len - i : 10000,
					   err) == MP_OK;
	if (!wrote) {
		mda_abort(m);
		return MP_ERR_INTERNAL;
	}
	return mda_finish(m, err);
}

static bool sigpipe_is(void (*want)(int))
{
	struct sigaction sa;

	sigaction(SIGPIPE, NULL, &sa);
	return sa.sa_handler == want;
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char cmd[8400], out[2048], envf[2048];
	const char *env[] = { "MAILPIPE_TEST=hello world", "HOME=/nowhere", NULL };
	struct mp_error err;
	size_t big_len = 1 << 20, len;
	char *big = malloc(big_len), *got;

	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)(i % 251);
	snprintf(top, sizeof(top), "%s/mp-mda-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(top)) {
		printf("Bail out! cannot make a temp dir: %s\n", strerror(errno));
		return 1;
	}
	snprintf(out, sizeof(out), "%s/out", top);
	snprintf(envf, sizeof(envf), "%s/env", top);

	/* Delivered: every byte, the extra variables, the rest of environ. */
	setenv("MAILPIPE_INHERITED", "yes", 1);
	snprintf(cmd, sizeof(cmd), "printf '%%s|%%s|%%s' \"$MAILPIPE_TEST\" \"$HOME\" "
		 "\"$MAILPIPE_INHERITED\" > '%s'; cat > '%s'", envf, out);
	ok(run(cmd, env, big, big_len, &err) == MP_OK, "exit 0: delivered");
	got = tap_slurp(out, &len);
	ok(got && len == big_len && memcmp(got, big, len) == 0,
	   "1 MB reached the command byte for byte");
	free(got);
	got = tap_slurp(envf, &len);
	is_str(got, "hello world|/nowhere|yes",
	       "extra variables set, HOME replaced, environment inherited");
	free(got);
	ok(sigpipe_is(SIG_DFL), "SIGPIPE still at its default");

	ok(run("cat >/dev/null; exit 75", NULL, "x\n", 2, &err) == MP_ERR_TEMP &&
	   strstr(err.msg, "exited 75 (try again later)"), "exit 75: %s", err.msg);
	ok(run("cat >/dev/null; exit 1", NULL, "x\n", 2, &err) == MP_ERR_UNAVAILABLE &&
	   strstr(err.msg, "exited 1"), "exit 1: %s", err.msg);
	ok(run("kill -9 $$", NULL, "x\n", 2, &err) == MP_ERR_UNAVAILABLE &&
	   strstr(err.msg, "signal 9"), "killed: %s", err.msg);
	ok(run("exit 127", NULL, "", 0, &err) == MP_ERR_UNAVAILABLE,
	   "an empty message, failing command");

	/* Reads nothing: writing 1 MB into it is not an error, exit decides. */
	signal(SIGPIPE, SIG_DFL);
	ok(run("exit 0", NULL, big, big_len, &err) == MP_OK,
	   "reads nothing, exits 0: no SIGPIPE death, delivered");
	ok(run("exit 3", NULL, big, big_len, &err) == MP_ERR_UNAVAILABLE &&
	   strstr(err.msg, "exited 3"), "reads nothing, exits 3: %s", err.msg);
	ok(sigpipe_is(SIG_DFL), "SIGPIPE restored to default");
	signal(SIGPIPE, SIG_IGN);
	ok(run("head -c 10 >/dev/null", NULL, big, big_len, &err) == MP_OK,
	   "stops reading after 10 bytes");
	ok(sigpipe_is(SIG_IGN), "an ignored SIGPIPE stays ignored");
	signal(SIGPIPE, SIG_DFL);

	/* Abort: the command (and what the shell started) dies before EOF,
	 * so "done" is never written. */
	{
		struct mda *m;
		char flag[2048];
		struct stat st;

		snprintf(flag, sizeof(flag), "%s/done", top);
		/* The inner shell would outlive a kill of the outer one. */
		snprintf(cmd, sizeof(cmd), "sh -c \"cat > '%s.part'; echo done > '%s'\"; "
			 "exit 0", out, flag);
		ok(mda_start(&m, cmd, NULL, &err) == MP_OK &&
		   mda_write(m, big, 100000, &err) == MP_OK, "a command, half fed");
		usleep(100 * 1000);
		mda_abort(m);
		usleep(300 * 1000);
		ok(stat(flag, &st) != 0, "after abort it never saw the end");
	}
	{
		struct mda *m;

		ok(mda_start(&m, "", NULL, &err) == MP_ERR_USAGE, "an empty command");
		mda_abort(NULL);
	}

	free(big);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", top);
	return tap_done();
}
