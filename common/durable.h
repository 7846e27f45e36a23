/* Making what was written survive a crash (layer 4). */
#ifndef MAILPIPE_DURABLE_H
#define MAILPIPE_DURABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* fsync the directory dir, so the names created, renamed or removed in it
 * are durable. MP_ERR_IO on failure. */
enum mp_status durable_dir(const char *dir, struct mp_error *err);

/* The same for the directory that holds path. */
enum mp_status durable_parent(const char *path, struct mp_error *err);

/* write(2) all of buf[0..len), again after EINTR. 0, or -1 with errno. */
int durable_write_all(int fd, const void *buf, size_t len);

/* Replace path atomically with buf[0..len): path.tmp (mode 600) is
 * written, renamed over path, and - when synced - fsynced before and its
 * directory after. A reader sees the old content or the new, never a
 * mix. MP_ERR_IO on failure, the temporary file removed. */
enum mp_status durable_replace(const char *path, const char *buf, size_t len,
			       bool synced, struct mp_error *err);

#endif
