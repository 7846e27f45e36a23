/* Header fields: folding, unfolding, checking user-supplied ones. Pure. */
#ifndef MAILPIPE_HEADER_H
#define MAILPIPE_HEADER_H

#include <stddef.h>
#include "error.h"

#define HEADER_FOLD_WIDTH 78   /* the line length to aim for (RFC 5322 2.1.1) */
#define HEADER_LINE_MAX 998    /* the hard limit, without CRLF */
#define HEADER_FIELD_MAX 16384 /* longest field accepted, unfolded */
#define HEADER_NAME_MAX 76     /* longest field name accepted */

/* Fold the one-line field[0..len) ("Name: value", no CR or LF) into a new
 * string *out (caller frees), without a final CRLF. Breaks go only before
 * a run of SP/TAB (the run then starts the next line), so unfolding gives
 * back field exactly; lines are at most 78 characters where whitespace
 * allows, and a longer word stays whole on its own line. Fails with
 * MP_ERR_DATA, *out NULL, if field holds CR, LF or NUL or a line would
 * exceed 998 characters (encode the value first: rfc2047_encode() splits
 * long words). */
enum mp_status header_fold(const char *field, size_t len, char **out,
			   struct mp_error *err);

/* Unfold text[0..len) in place: drop every CRLF (or bare LF) that is
 * followed by SP or TAB (RFC 5322 2.2.3). Returns the new length; text is
 * not NUL-terminated by this call. */
size_t header_unfold(char *text, size_t len);

/* Check a user-supplied "Name: value" (e.g. --header): the name is 1 to 76
 * printable ASCII characters without ':' (RFC 5322 ftext), followed by ':';
 * the value holds no CR, LF, NUL or other control character except TAB
 * (8-bit bytes are allowed: encode them with rfc2047_encode()); at most
 * HEADER_FIELD_MAX bytes in all. On success *name_len is the name's
 * length and *value_off the offset of the value after ':' and any SP/TAB.
 * Fails with MP_ERR_USAGE and a sentence naming the problem. */
enum mp_status header_check(const char *field, size_t len, size_t *name_len,
			    size_t *value_off, struct mp_error *err);

#endif
