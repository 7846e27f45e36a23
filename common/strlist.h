/* A growable list of owned strings (capabilities, reply lines). Pure. */
#ifndef MAILPIPE_STRLIST_H
#define MAILPIPE_STRLIST_H

#include <stdbool.h>
#include <stddef.h>

struct strlist {
	char **v;      /* v[0..n) owned by the list; v[n] is NULL */
	size_t n;
	size_t cap;
};

/* Append a copy of s[0..len). */
void strlist_addn(struct strlist *l, const char *s, size_t len);
void strlist_add(struct strlist *l, const char *s);
/* Free every string; the list is empty and reusable afterwards. */
void strlist_clear(struct strlist *l);
/* True if an entry equals s (case-insensitive). */
bool strlist_has(const struct strlist *l, const char *s);
/* The rest of the first entry that begins with prefix (case-insensitive),
 * or NULL: strlist_find_prefix(caps, "AUTH ") -> "PLAIN LOGIN". */
const char *strlist_find_prefix(const struct strlist *l, const char *prefix);

#endif
