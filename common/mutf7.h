/* Modified UTF-7 (RFC 3501 section 5.1.3), the encoding of IMAP folder
 * names when UTF8=ACCEPT is not enabled, to and from UTF-8. Pure.
 *
 * Printable ASCII (0x20-0x7e) stands for itself, except '&' which is
 * written "&-"; every other character is UTF-16BE in base64 (',' in place
 * of '/', no padding) between '&' and '-'. The decoder is strict: it
 * accepts exactly what the encoder produces, so decode and encode are each
 * other's inverse and a name survives a backup and restore unchanged. */
#ifndef MAILPIPE_MUTF7_H
#define MAILPIPE_MUTF7_H

#include <stddef.h>
#include "error.h"

/* Longest name accepted in either direction, in bytes. */
#define MUTF7_MAX 4096

/* Decode the server's name in[0..len) into a new NUL-terminated UTF-8
 * string *out (caller frees). Fails with MP_ERR_PROTOCOL, *out NULL, for
 * anything not in canonical modified UTF-7: bytes outside printable ASCII,
 * an unterminated or bad base64 run, leftover or non-zero padding bits, an
 * odd byte count, lone surrogates, U+0000, a run that encodes printable
 * ASCII, or two runs back to back; and for input over MUTF7_MAX bytes.
 * A caller that must still back such a folder up can keep the raw name:
 * foldermap accepts any bytes but NUL. */
enum mp_status mutf7_decode(const char *in, size_t len, char **out,
			    struct mp_error *err);

/* Encode the UTF-8 name in[0..len) into a new NUL-terminated modified
 * UTF-7 string *out (caller frees). Fails with MP_ERR_DATA, *out NULL, for
 * invalid UTF-8, NUL, or input over MUTF7_MAX bytes. */
enum mp_status mutf7_encode(const char *in, size_t len, char **out,
			    struct mp_error *err);

#endif
