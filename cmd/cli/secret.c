/* Where the password (or OAuth token) comes from, asked only when the
 * session needs it: MAILPIPE_PASSWORD, password-command, the config's
 * password key, netrc, then a prompt on the terminal. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "netrc.h"
#include "strutil.h"

#define MAX_SECRET 16384

enum mp_status cli_secret(void *ctx, bool token, const char **secret,
			  struct mp_error *err);

/* Run cmd through /bin/sh and keep the first line of its output. */
static enum mp_status run_command(const char *what, const char *cmd, char **out,
				  struct mp_error *err)
{
	int fds[2];
	if (pipe(fds) < 0)
		return mp_fail(err, MP_ERR_INTERNAL, "pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return mp_fail(err, MP_ERR_INTERNAL, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	char *buf = mp_xmalloc(MAX_SECRET + 1);
	size_t got = 0;
	for (;;) {
		ssize_t n = read(fds[0], buf + got, MAX_SECRET - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == MAX_SECRET) {
			/* Drain the rest so the command is not killed by SIGPIPE. */
			char sink[512];
			while (read(fds[0], sink, sizeof sink) > 0)
				;
			break;
		}
	}
	close(fds[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	buf[got] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		mp_wipe(buf, MAX_SECRET);
		free(buf);
		return mp_fail(err, MP_ERR_CONFIG, "%s failed (%s %d)", what,
			       WIFEXITED(status) ? "exit status" : "signal",
			       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	}
	if (!buf[0]) {
		free(buf);
		return mp_fail(err, MP_ERR_CONFIG, "%s printed nothing", what);
	}
	*out = buf;
	return MP_OK;
}

static char *netrc_password(const struct cli *cli)
{
	const char *path = cli_get(cli, "netrc-file");
	char def[4096];
	if (!path) {
		const char *home = getenv("HOME");
		if (!home)
			return NULL;
		snprintf(def, sizeof def, "%s/.netrc", home);
		path = def;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	char *text = mp_xmalloc(65536);
	size_t got = 0;
	ssize_t n;
	while (got < 65535 && (n = read(fd, text + got, 65535 - got)) > 0)
		got += (size_t)n;
	close(fd);
	char pw[1024];
	char *result = NULL;
	if (netrc_find(text, got, cli->server.url.host, cli->auth.user, pw, sizeof pw))
		result = mp_xstrdup(pw);
	mp_wipe(pw, sizeof pw);
	mp_wipe(text, 65536);
	free(text);
	return result;
}

/* Ask on the controlling terminal with echo off. */
static char *prompt(const struct cli *cli)
{
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return NULL;
	struct termios old, quiet;
	if (tcgetattr(fd, &old) < 0) {
		close(fd);
		return NULL;
	}
	quiet = old;
	quiet.c_lflag &= (tcflag_t)~ECHO;
	char ask[600];
	int len = snprintf(ask, sizeof ask, "Password for %s@%s: ",
			   cli->auth.user, cli->server.url.host);
	if (write(fd, ask, (size_t)len) < 0 || tcsetattr(fd, TCSAFLUSH, &quiet) < 0) {
		close(fd);
		return NULL;
	}
	char buf[1024];
	size_t got = 0;
	char c;
	while (got + 1 < sizeof buf && read(fd, &c, 1) == 1 && c != '\n')
		buf[got++] = c;
	buf[got] = '\0';
	tcsetattr(fd, TCSAFLUSH, &old);
	if (write(fd, "\n", 1) < 0) {
		/* nothing to do: the prompt line just stays open */
	}
	close(fd);
	char *pw = got ? mp_xstrdup(buf) : NULL;
	mp_wipe(buf, sizeof buf);
	return pw;
}

enum mp_status cli_secret(void *ctx, bool token, const char **secret,
			  struct mp_error *err)
{
	struct cli *cli = ctx;
	enum mp_status st;
	if (token) {
		if (!cli->token) {
			const char *cmd = cli_get(cli, "token-command");
			if (!cmd)
				return mp_fail(err, MP_ERR_CONFIG,
					       "the chosen mechanism needs a token-command");
			if ((st = run_command("token-command", cmd, &cli->token, err)) != MP_OK)
				return st;
		}
		*secret = cli->token;
		return MP_OK;
	}
	if (!cli->password) {
		const char *env = getenv("MAILPIPE_PASSWORD");
		const char *cmd = cli_get(cli, "password-command");
		const char *conf = cli_get(cli, "password");
		if (env && *env)
			cli->password = mp_xstrdup(env);
		else if (cmd) {
			if ((st = run_command("password-command", cmd, &cli->password, err)) != MP_OK)
				return st;
		} else if (conf)
			cli->password = mp_xstrdup(conf);
		else if (!(cli->password = netrc_password(cli)))
			cli->password = prompt(cli);
		if (!cli->password)
			return mp_fail(err, MP_ERR_CONFIG,
				       "no password for %s at %s: set password-command, "
				       "MAILPIPE_PASSWORD or a netrc entry",
				       cli->auth.user, cli->server.url.host);
		if (mp_has_line_break(cli->password, strlen(cli->password)))
			return mp_fail(err, MP_ERR_CONFIG, "the password holds a line break");
	}
	*secret = cli->password;
	return MP_OK;
}
