/* Growable byte string. */
#include "sbuf.h"

#include <stdlib.h>
#include <string.h>

#include "strutil.h"

static void grow(struct sbuf *b, size_t more)
{
	size_t need = b->n + more + 1;

	if (need <= b->cap)
		return;
	if (need < b->n)
		abort();   /* size_t overflow: no input is this large */
	b->cap = b->cap ? b->cap : 64;
	while (b->cap < need)
		b->cap = b->cap > (size_t)-1 / 2 ? need : b->cap * 2;
	b->p = mp_xrealloc(b->p, b->cap);
}

void sbuf_add(struct sbuf *b, const void *s, size_t len)
{
	grow(b, len);
	if (len)
		memcpy(b->p + b->n, s, len);
	b->n += len;
	b->p[b->n] = '\0';
}

void sbuf_addc(struct sbuf *b, char c)
{
	sbuf_add(b, &c, 1);
}

void sbuf_adds(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

char *sbuf_take(struct sbuf *b)
{
	char *p = b->p ? b->p : mp_xstrdup("");

	b->p = NULL;
	b->n = b->cap = 0;
	return p;
}

void sbuf_free(struct sbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->n = b->cap = 0;
}
