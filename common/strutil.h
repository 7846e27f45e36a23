/* Small string helpers shared by every layer. Pure: no I/O. */
#ifndef MAILPIPE_STRUTIL_H
#define MAILPIPE_STRUTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Copy src into dst of size dstsize, always terminated.
 * Returns false if src did not fit (dst then holds a truncated copy). */
bool mp_strlcpy(char *dst, const char *src, size_t dstsize);

/* True if s[0..len) holds CR, LF or NUL: such bytes must never reach the
 * wire from a user-supplied argument. */
bool mp_has_line_break(const char *s, size_t len);

/* True if the space-separated list contains word, compared without case. */
bool mp_word_in_list(const char *list, const char *word);

/* Case-insensitive prefix test: returns the rest of s after prefix, or NULL. */
const char *mp_skip_prefix(const char *s, const char *prefix);

/* Copy s[0..len) into out (size >= 8) for a message on a terminal: bytes
 * outside 0x20-0x7e become '?', and a copy cut short ends in "...". */
void mp_printable(const char *s, size_t len, char *out, size_t size);

/* The value of a hex digit (either case), or -1. */
int mp_hexdigit(unsigned char c);

/* strdup that aborts on out-of-memory; the caller frees. */
char *mp_xstrdup(const char *s);
/* The n bytes at s as a new string (a NUL among them ends it early). */
char *mp_xstrndup(const char *s, size_t n);
/* malloc/calloc/realloc that abort on out-of-memory. */
void *mp_xmalloc(size_t n);
void *mp_xcalloc(size_t n, size_t size);
void *mp_xrealloc(void *p, size_t n);

/* Overwrite n bytes at p with zeros in a way the compiler keeps
 * (for passwords and keys). */
void mp_wipe(void *p, size_t n);

#endif
