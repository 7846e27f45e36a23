/* Delivery through a command: /bin/sh -c CMD with the message on a pipe
 * to its stdin. */
#include "mda.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "strutil.h"

#define WRITE_BUF (64 * 1024)
#define CMD_SHOWN 120        /* how much of the command an error quotes */

extern char **environ;

struct mda {
	pid_t pid;
	int fd;                  /* the command's stdin; -1 once closed */
	bool gone;               /* it stopped reading (EPIPE) */
	int error;               /* another write error */
	size_t used;
	char *cmd;
	char *buf;
};

/* environ without MAILPIPE_PASSWORD, with extra ("NAME=value") replacing
 * same-named entries. The
 * array is freed by the caller; its strings are borrowed. */
static char **merge_env(const char *const *extra)
{
	size_t ne = 0, nx = 0, o = 0;
	char **env;

	while (environ && environ[ne])
		ne++;
	while (extra && extra[nx])
		nx++;
	env = mp_xcalloc(ne + nx + 1, sizeof(*env));
	for (size_t i = 0; i < ne; i++) {
		size_t klen = strcspn(environ[i], "=");
		bool replaced = false;

		for (size_t j = 0; j < nx && !replaced; j++)
			replaced = strncmp(extra[j], environ[i], klen) == 0 &&
				   extra[j][klen] == '=';
		/* The delivery command has no business with our password. */
		if (!replaced && strncmp(environ[i], "MAILPIPE_PASSWORD=", 18) != 0)
			env[o++] = environ[i];
	}
	for (size_t j = 0; j < nx; j++)
		if (strchr(extra[j], '='))
			env[o++] = (char *)extra[j];
	env[o] = NULL;
	return env;
}

enum mp_status mda_start(struct mda **out, const char *cmd,
			 const char *const *env, struct mp_error *err)
{
	struct mda *m;
	char **envp;
	int p[2];
	pid_t pid;

	*out = NULL;
	if (!cmd || !*cmd)
		return mp_fail(err, MP_ERR_USAGE, "no delivery command given");
	if (pipe(p) != 0)
		return mp_fail(err, MP_ERR_IO, "cannot make a pipe: %s",
			       strerror(errno));
	/* Only the child's stdin may stay open across exec; later
	 * commands must not inherit this pipe. */
	(void)fcntl(p[0], F_SETFD, FD_CLOEXEC);
	(void)fcntl(p[1], F_SETFD, FD_CLOEXEC);
	envp = merge_env(env);
	pid = fork();
	if (pid < 0) {
		int e = errno;

		free(envp);
		close(p[0]);
		close(p[1]);
		return mp_fail(err, MP_ERR_TEMP, "cannot start `%.*s`: %s",
			       CMD_SHOWN, cmd, strerror(e));
	}
	if (pid == 0) {
		/* Only async-signal-safe calls from here to exec. */
		char *argv[] = { (char *)"sh", (char *)"-c", (char *)cmd, NULL };
		struct sigaction sa;
		sigset_t none;

		/* Its own process group, so mda_abort reaches every process
		 * the command starts, not only the shell. */
		(void)setpgid(0, 0);
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigemptyset(&sa.sa_mask);
		(void)sigaction(SIGPIPE, &sa, NULL);
		sigemptyset(&none);
		(void)sigprocmask(SIG_SETMASK, &none, NULL);
		if (p[0] == STDIN_FILENO)
			(void)fcntl(p[0], F_SETFD, 0);
		else if (dup2(p[0], STDIN_FILENO) < 0)
			_exit(127);
		execve("/bin/sh", argv, envp);
		_exit(127);
	}
	(void)setpgid(pid, pid);   /* also here: no race with the child */
	free(envp);
	close(p[0]);
	m = mp_xcalloc(1, sizeof(*m));
	m->pid = pid;
	m->fd = p[1];
	m->cmd = mp_xstrdup(cmd);
	m->buf = mp_xmalloc(WRITE_BUF);
	*out = m;
	return MP_OK;
}

/* Write the buffer to the pipe. A reader that went away ends the writing
 * quietly: its exit status will tell what happened. */
static void drain(struct mda *m)
{
	struct sigaction ign, old;
	const char *p = m->buf;
	size_t n = m->used;

	m->used = 0;
	if (m->gone || m->error || n == 0)
		return;
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	(void)sigaction(SIGPIPE, &ign, &old);
	while (n > 0) {
		ssize_t w = write(m->fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE)
				m->gone = true;
			else
				m->error = errno;
			break;
		}
		p += w;
		n -= (size_t)w;
	}
	(void)sigaction(SIGPIPE, &old, NULL);
}

enum mp_status mda_write(struct mda *m, const void *buf, size_t n,
			 struct mp_error *err)
{
	const char *p = buf;

	while (n > 0 && !m->gone && !m->error) {
		size_t k = WRITE_BUF - m->used;

		if (k > n)
			k = n;
		memcpy(m->buf + m->used, p, k);
		m->used += k;
		p += k;
		n -= k;
		if (m->used == WRITE_BUF)
			drain(m);
	}
	if (m->error)
		return mp_fail(err, MP_ERR_IO, "cannot write to `%.*s`: %s",
			       CMD_SHOWN, m->cmd, strerror(m->error));
	return MP_OK;
}

static int reap(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return status;
}

static void mda_free(struct mda *m)
{
	if (m->fd >= 0)
		close(m->fd);
	free(m->buf);
	free(m->cmd);
	free(m);
}

enum mp_status mda_finish(struct mda *m, struct mp_error *err)
{
	enum mp_status st;
	int status, werr;

	drain(m);
	werr = m->error;
	close(m->fd);
	m->fd = -1;
	status = reap(m->pid);
	if (status == -1)
		st = mp_fail(err, MP_ERR_INTERNAL, "cannot wait for `%.*s`: %s",
			     CMD_SHOWN, m->cmd, strerror(errno));
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && werr)
		/* It did not get the whole message, whatever it says. */
		st = mp_fail(err, MP_ERR_IO, "cannot write to `%.*s`: %s",
			     CMD_SHOWN, m->cmd, strerror(werr));
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		st = MP_OK;
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 75)
		st = mp_fail(err, MP_ERR_TEMP, "`%.*s` exited 75 (try again later)",
			     CMD_SHOWN, m->cmd);
	else if (WIFEXITED(status))
		st = mp_fail(err, MP_ERR_UNAVAILABLE, "`%.*s` exited %d",
			     CMD_SHOWN, m->cmd, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		st = mp_fail(err, MP_ERR_UNAVAILABLE, "`%.*s` was killed by "
			     "signal %d (%s)", CMD_SHOWN, m->cmd, WTERMSIG(status),
			     strsignal(WTERMSIG(status)));
	else
		st = mp_fail(err, MP_ERR_UNAVAILABLE, "`%.*s` ended with status %d",
			     CMD_SHOWN, m->cmd, status);
	mda_free(m);
	return st;
}

void mda_abort(struct mda *m)
{
	if (!m)
		return;
	/* Killed before its stdin closes, it never sees the end of the
	 * message, so it cannot take a truncated one for whole. */
	if (kill(-m->pid, SIGKILL) != 0)
		(void)kill(m->pid, SIGKILL);
	close(m->fd);
	m->fd = -1;
	(void)reap(m->pid);
	mda_free(m);
}
