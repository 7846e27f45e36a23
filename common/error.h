/* Errors in the core: a status plus one human sentence.
 *
 * Functions in common/ return an enum mp_status and, on failure, fill the
 * caller's struct mp_error. Only cmd/ prints the message and turns the
 * status into a sysexits(3) exit code. */
#ifndef MAILPIPE_ERROR_H
#define MAILPIPE_ERROR_H

#include <stddef.h>

enum mp_status {
	MP_OK = 0,
	MP_ERR_USAGE,       /* a bad argument from the user            -> 64 */
	MP_ERR_DATA,        /* bad input data (message, file)          -> 65 */
	MP_ERR_NOUSER,      /* no such user / mailbox                  -> 67 */
	MP_ERR_NOHOST,      /* host name does not resolve              -> 68 */
	MP_ERR_UNAVAILABLE, /* permanent refusal (5xx, no STARTTLS)    -> 69 */
	MP_ERR_INTERNAL,    /* a bug or out of memory                  -> 70 */
	MP_ERR_IO,          /* local file or disk trouble              -> 74 */
	MP_ERR_TEMP,        /* try later: network, timeout, 4xx        -> 75 */
	MP_ERR_PROTOCOL,    /* the server broke the protocol           -> 76 */
	MP_ERR_AUTH,        /* authentication refused                  -> 77 */
	MP_ERR_CONFIG,      /* configuration error                     -> 78 */
	MP_ERR_TLS,         /* certificate or TLS negotiation refused  -> 69 */
};

struct mp_error {
	enum mp_status status;
	char msg[512];      /* one sentence, no trailing newline */
};

/* Record a failure in err (which may be NULL) and return status. */
enum mp_status mp_fail(struct mp_error *err, enum mp_status status,
		       const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix err->msg with "what: " (for adding context on the way up). */
void mp_error_prefix(struct mp_error *err, const char *what);

#endif
