/* RFC 2047 encoded-words for header values (Subject, display names). Pure.
 *
 * Input is UTF-8; output is 7-bit ASCII ready for a header, on one line:
 * the encoded-words are separated by single spaces where header_fold() may
 * break the line. Each encoded-word is "=?UTF-8?Q?...?=" or "=?UTF-8?B?...?="
 * (whichever is shorter for that stretch of text), at most 75 characters,
 * and never splits a UTF-8 sequence. */
#ifndef MAILPIPE_RFC2047_H
#define MAILPIPE_RFC2047_H

#include <stddef.h>
#include "error.h"

/* Longest value accepted for encoding, in bytes. */
#define RFC2047_MAX 16384

enum rfc2047_mode {
	/* Unstructured text (Subject): only the words that need it are
	 * encoded (non-ASCII or control bytes, a "=?" that a reader would
	 * take for an encoded-word, words over 77 characters that could not
	 * be folded); whitespace and other words stay as written. Pure ASCII
	 * text without those comes back unchanged. */
	RFC2047_TEXT,
	/* A display name, to be followed by " <addr>": atoms stay as they
	 * are, other ASCII becomes a quoted-string, and a name that needs
	 * encoding is encoded whole with the stricter character set RFC 2047
	 * section 5 allows in a phrase. "" gives "" (omit the name). */
	RFC2047_PHRASE,
};

/* Encode in[0..len) into a new NUL-terminated string *out (caller frees).
 * Fails with MP_ERR_USAGE for CR, LF or NUL or input over RFC2047_MAX
 * bytes, and MP_ERR_DATA for invalid UTF-8; *out is then NULL. */
enum mp_status rfc2047_encode(const char *in, size_t len,
			      enum rfc2047_mode mode, char **out,
			      struct mp_error *err);

/* Decode unstructured text in[0..len): unfold (drop CRLF before WSP),
 * replace each UTF-8 or US-ASCII encoded-word by its bytes and drop the
 * whitespace between adjacent encoded-words. Anything that is not a
 * well-formed encoded-word stays as written. *out is a new NUL-terminated
 * string the caller frees, at most len bytes long. Never fails. */
void rfc2047_decode(const char *in, size_t len, char **out);

#endif
