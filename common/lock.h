/* One run at a time: an fcntl lock on a lock file (layer 4). */
#ifndef MAILPIPE_LOCK_H
#define MAILPIPE_LOCK_H

#include "error.h"

/* Take an exclusive lock on path (created, mode 600) without waiting.
 * *fd holds it until lock_release. MP_ERR_TEMP ("what is already
 * running") when another process holds it. */
enum mp_status lock_take(const char *path, const char *what, int *fd,
			 struct mp_error *err);
void lock_release(int fd);

#endif
