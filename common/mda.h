/* Delivery through a command (layer 4): the message on the command's
 * stdin, its metadata in environment variables. Exit 0: delivered; 75
 * (EX_TEMPFAIL): try later; anything else: failed. */
#ifndef MAILPIPE_MDA_H
#define MAILPIPE_MDA_H

#include <stddef.h>
#include "error.h"

struct mda;

/* Run `/bin/sh -c cmd` with env[] ("NAME=value", NULL-terminated) added to
 * the environment, in its own process group (so mda_abort can stop all of
 * it); stdout and stderr are inherited. The caller frees *out with
 * mda_finish or mda_abort. */
enum mp_status mda_start(struct mda **out, const char *cmd,
			 const char *const *env, struct mp_error *err);

/* Feed message bytes to the command. A command that stops reading early
 * (EPIPE) is not an error here: its exit status decides. */
enum mp_status mda_write(struct mda *m, const void *buf, size_t n,
			 struct mp_error *err);

/* Close its stdin, wait for it, free m. MP_OK for exit 0; MP_ERR_TEMP for
 * exit 75; MP_ERR_UNAVAILABLE for any other exit or a signal, with the
 * status in the message. */
enum mp_status mda_finish(struct mda *m, struct mp_error *err);

/* Give up on the message (the connection dropped, a read failed): kill
 * the command's process group before it sees end of input, so it cannot
 * deliver a truncated message; wait for it, free m. NULL is a no-op. */
void mda_abort(struct mda *m);

#endif
