#include "durable.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
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
