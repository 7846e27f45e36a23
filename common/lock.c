/* One run at a time: an fcntl lock on a lock file. The kernel drops it
 * when the process dies, so a crash never leaves a stale lock behind. */
#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

enum mp_status lock_take(const char *path, const char *what, int *fd,
			 struct mp_error *err)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int f;

	*fd = -1;
	/* O_CLOEXEC: a command we run (an MDA) must not keep holding it. */
	f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (f < 0)
		return mp_fail(err, MP_ERR_IO, "cannot open the lock file %s: %s",
			       path, strerror(errno));
	while (fcntl(f, F_SETLK, &fl) != 0) {
		int e = errno;

		if (e == EINTR)
			continue;
		close(f);
		if (e == EACCES || e == EAGAIN)
			return mp_fail(err, MP_ERR_TEMP, "%s is already running "
				       "(lock held on %s)", what, path);
		return mp_fail(err, MP_ERR_IO, "cannot lock %s: %s", path,
			       strerror(e));
	}
	*fd = f;
	return MP_OK;
}

void lock_release(int fd)
{
	/* Closing drops the lock; the file stays, since removing it would
	 * let two runs lock two different files of the same name. */
	if (fd >= 0)
		close(fd);
}
