/* Header folding at whitespace, unfolding, and user header checks. */
#include "header.h"

#include <stdbool.h>
#include <string.h>

#include "sbuf.h"
#include "strutil.h"

static bool is_ws(char c)
{
	return c == ' ' || c == '\t';
}

enum mp_status header_fold(const char *f, size_t len, char **out,
			   struct mp_error *err)
{
	struct sbuf b = { 0 };
	size_t start = 0;

	*out = NULL;
	if (mp_has_line_break(f, len))
		return mp_fail(err, MP_ERR_DATA,
			       "header field contains a line break or NUL byte");
	while (len - start > HEADER_FOLD_WIDTH) {
		size_t best = 0, first = 0;

		/* A break point is the start of a whitespace run that has
		 * text before it on this line and text after it. */
		for (size_t i = start + 1; i < len; i++) {
			size_t j;

			if (!is_ws(f[i]) || is_ws(f[i - 1]))
				continue;
			for (j = i; j < len && is_ws(f[j]); j++)
				;
			if (j == len)
				break;   /* trailing whitespace: no text after it */
			if (i - start <= HEADER_FOLD_WIDTH) {
				best = i;
			} else {
				first = i;
				break;
			}
			i = j - 1;
		}
		if (!best)
			best = first;   /* a long word: overflow, but stay whole */
		if (!best)
			break;          /* no break point left: the rest is one line */
		if (best - start > HEADER_LINE_MAX)
			break;
		sbuf_add(&b, f + start, best - start);
		sbuf_add(&b, "\r\n", 2);
		start = best;
	}
	if (len - start > HEADER_LINE_MAX) {
		sbuf_free(&b);
		return mp_fail(err, MP_ERR_DATA,
			       "header field has a word too long for a %d-character line",
			       HEADER_LINE_MAX);
	}
	sbuf_add(&b, f + start, len - start);
	*out = sbuf_take(&b);
	return MP_OK;
}

size_t header_unfold(char *t, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (t[i] == '\r' && i + 2 < len && t[i + 1] == '\n' &&
		    is_ws(t[i + 2])) {
			i++;
			continue;
		}
		if (t[i] == '\n' && i + 1 < len && is_ws(t[i + 1]))
			continue;
		t[o++] = t[i];
	}
	return o;
}

enum mp_status header_check(const char *f, size_t len, size_t *name_len,
			    size_t *value_off, struct mp_error *err)
{
	size_t n, v;

	if (len > HEADER_FIELD_MAX)
		return mp_fail(err, MP_ERR_USAGE,
			       "header is longer than %d bytes", HEADER_FIELD_MAX);
	for (n = 0; n < len && f[n] != ':'; n++)
		if (f[n] <= ' ' || f[n] >= 0x7f)
			return mp_fail(err, MP_ERR_USAGE,
				       "header name must be printable ASCII without spaces: '%.*s'",
				       (int)(n < 64 ? n : 64), f);
	if (n == len)
		return mp_fail(err, MP_ERR_USAGE,
			       "header '%.*s' has no ':' (expected 'Name: value')",
			       (int)(len < 64 ? len : 64), f);
	if (n == 0)
		return mp_fail(err, MP_ERR_USAGE, "header has an empty name");
	if (n > HEADER_NAME_MAX)
		return mp_fail(err, MP_ERR_USAGE,
			       "header name is longer than %d characters",
			       HEADER_NAME_MAX);
	for (size_t i = n + 1; i < len; i++) {
		unsigned char c = (unsigned char)f[i];

		if (c == '\r' || c == '\n' || c == '\0')
			return mp_fail(err, MP_ERR_USAGE,
				       "header '%.*s' contains a line break or NUL byte",
				       (int)n, f);
		if ((c < ' ' && c != '\t') || c == 0x7f)
			return mp_fail(err, MP_ERR_USAGE,
				       "header '%.*s' contains a control character",
				       (int)n, f);
	}
	for (v = n + 1; v < len && is_ws(f[v]); v++)
		;
	*name_len = n;
	*value_off = v;
	return MP_OK;
}
