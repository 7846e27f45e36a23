/* Small string helpers shared by every layer. */
#include "strutil.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool mp_strlcpy(char *dst, const char *src, size_t dstsize)
{
	size_t n;

	if (dstsize == 0)
		return src[0] == '\0';
	n = strnlen(src, dstsize);
	if (n < dstsize) {
		memcpy(dst, src, n + 1);
		return true;
	}
	memcpy(dst, src, dstsize - 1);
	dst[dstsize - 1] = '\0';
	return false;
}

bool mp_has_line_break(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
			return true;
	return false;
}

bool mp_word_in_list(const char *list, const char *word)
{
	size_t wlen;

	if (!list || !word || !*word)
		return false;
	wlen = strlen(word);
	while (*list) {
		size_t n;

		while (*list == ' ' || *list == '\t')
			list++;
		n = strcspn(list, " \t");
		if (n == wlen && strncasecmp(list, word, n) == 0)
			return true;
		list += n;
	}
	return false;
}

const char *mp_skip_prefix(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncasecmp(s, prefix, n) != 0)
		return NULL;
	return s + n;
}

static void *oom(void)
{
	abort();
}

char *mp_xstrdup(const char *s)
{
	char *p = strdup(s);

	return p ? p : oom();
}

char *mp_xstrndup(const char *s, size_t n)
{
	char *p = mp_xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void *mp_xmalloc(size_t n)
{
	/* malloc(0) may return NULL; ask for one byte so NULL means OOM. */
	void *p = malloc(n ? n : 1);

	return p ? p : oom();
}

void *mp_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	return p ? p : oom();
}

void *mp_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	return q ? q : oom();
}

void mp_wipe(void *p, size_t n)
{
	/* Writes through a volatile pointer are not removed as dead stores. */
	volatile unsigned char *v = p;

	while (n--)
		*v++ = 0;
}

void mp_printable(const char *s, size_t len, char *out, size_t size)
{
	size_t k = 0, room = size - 1;
	bool cut = len > room;

	if (cut)
		room -= 3;
	for (size_t i = 0; i < len && k < room; i++) {
		unsigned char c = (unsigned char)s[i];

		out[k++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (cut) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
}

int mp_hexdigit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
