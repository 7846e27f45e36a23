/* UTF-8 validation for the encoders that label text as UTF-8. Pure. */
#ifndef MAILPIPE_UTF8_H
#define MAILPIPE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the well-formed UTF-8 sequence starting at s[0..len): 1..4,
 * or 0 if s does not start with one (stray continuation byte, overlong
 * form, surrogate, value above U+10FFFF, truncated sequence). */
size_t utf8_seq_len(const unsigned char *s, size_t len);

/* True if s[0..len) is entirely well-formed UTF-8 (NUL counts as valid). */
bool utf8_valid(const char *s, size_t len);

#endif
