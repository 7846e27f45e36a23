#include "strlist.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "strutil.h"

void strlist_addn(struct strlist *l, const char *s, size_t len)
{
	if (l->n + 2 > l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = mp_xrealloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n++] = mp_xstrndup(s, len);
	l->v[l->n] = NULL;
}

void strlist_add(struct strlist *l, const char *s)
{
	strlist_addn(l, s, strlen(s));
}

void strlist_clear(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

bool strlist_has(const struct strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcasecmp(l->v[i], s) == 0)
			return true;
	return false;
}

const char *strlist_find_prefix(const struct strlist *l, const char *prefix)
{
	size_t plen = strlen(prefix);
	for (size_t i = 0; i < l->n; i++)
		if (strncasecmp(l->v[i], prefix, plen) == 0)
			return l->v[i] + plen;
	return NULL;
}
