/* Making what was written survive a crash (layer 4). */
#ifndef MAILPIPE_DURABLE_H
#define MAILPIPE_DURABLE_H

#include "error.h"

/* fsync the directory dir, so the names created, renamed or removed in it
 * are durable. MP_ERR_IO on failure. */
enum mp_status durable_dir(const char *dir, struct mp_error *err);

/* The same for the directory that holds path. */
enum mp_status durable_parent(const char *path, struct mp_error *err);

#endif
