#include "durable.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strutil.h"

enum mp_status durable_dir(const char *dir, struct mp_error *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	enum mp_status st = MP_OK;

	if (fd < 0 || fsync(fd) < 0)
		st = mp_fail(err, MP_ERR_IO, "cannot sync %s: %s", dir,
			     strerror(errno));
	if (fd >= 0)
		close(fd);
	return st;
}

enum mp_status durable_parent(const char *path, struct mp_error *err)
{
	char *copy = mp_xstrdup(path);
	enum mp_status st = durable_dir(dirname(copy), err);

	free(copy);
	return st;
}

int durable_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

enum mp_status durable_replace(const char *path, const char *buf, size_t len,
			       bool synced, struct mp_error *err)
{
	size_t n = strlen(path) + 5;
	char *tmp = mp_xmalloc(n);
	enum mp_status st = MP_OK;

	snprintf(tmp, n, "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		st = mp_fail(err, MP_ERR_IO, "cannot write %s: %s", tmp,
			     strerror(errno));
		free(tmp);
		return st;
	}
	bool ok = durable_write_all(fd, buf, len) == 0 && (!synced || fsync(fd) == 0);
	int saved = errno;

	if (close(fd) != 0 && ok) {
		ok = false;
		saved = errno;
	}
	if (ok && rename(tmp, path) != 0) {
		ok = false;
		saved = errno;
	}
	if (!ok) {
		unlink(tmp);
		st = mp_fail(err, MP_ERR_IO, "cannot write %s: %s", path,
			     strerror(saved));
	} else if (synced) {
		st = durable_parent(path, err);
	}
	free(tmp);
	return st;
}
