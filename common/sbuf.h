/* A growable byte string for encoders whose output size is not known up
 * front. Pure. Allocation failure aborts, as mp_xmalloc does. */
#ifndef MAILPIPE_SBUF_H
#define MAILPIPE_SBUF_H

#include <stddef.h>

struct sbuf {
	char *p;      /* p[0..n) is the content, p[n] is '\0'; NULL while empty */
	size_t n;
	size_t cap;
};

/* Append s[0..len), one byte, or a C string. */
void sbuf_add(struct sbuf *b, const void *s, size_t len);
void sbuf_addc(struct sbuf *b, char c);
void sbuf_adds(struct sbuf *b, const char *s);

/* Hand the content to the caller (who frees it; never NULL: "" when empty)
 * and leave b empty. */
char *sbuf_take(struct sbuf *b);

/* Free the content; b is empty and reusable afterwards. */
void sbuf_free(struct sbuf *b);

#endif
