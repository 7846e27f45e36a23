/* MIME parameter encoding: token, quoted-string or RFC 2231 extended form. */
#include "rfc2231.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sbuf.h"
#include "strutil.h"
#include "utf8.h"

/* A piece plus ";" must fit a folded line: " " + 76 + ";" = 78. */
#define PIECE_MAX 76

/* RFC 2045 token characters. */
static bool is_token(unsigned char c)
{
	return c > ' ' && c < 0x7f && !strchr("()<>@,;:\\\"/[]?=", c);
}

/* Characters that may stand for themselves in an extended value: RFC 2231
 * attribute-char, less the ones some readers mishandle. */
static bool is_attr(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$&+-.^_`|~", c) != NULL;
}

/* Percent-encoded length of one UTF-8 character at v[0..cl). */
static size_t pct_len(const unsigned char *v, size_t cl)
{
	size_t n = 0;

	for (size_t k = 0; k < cl; k++)
		n += is_attr(v[k]) ? 1 : 3;
	return n;
}

static void pct_put(struct sbuf *b, const unsigned char *v, size_t cl)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t k = 0; k < cl; k++) {
		if (is_attr(v[k])) {
			sbuf_addc(b, (char)v[k]);
		} else {
			sbuf_addc(b, '%');
			sbuf_addc(b, hex[v[k] >> 4]);
			sbuf_addc(b, hex[v[k] & 15]);
		}
	}
}

static size_t char_len(const unsigned char *v, size_t len)
{
	return v[0] < 0x80 ? 1 : utf8_seq_len(v, len);
}

static void extended(struct sbuf *b, const char *name,
		     const unsigned char *v, size_t len)
{
	size_t nlen = strlen(name), total = 0, i = 0;
	unsigned part = 0;

	for (size_t k = 0; k < len; k += char_len(v + k, len - k))
		total += pct_len(v + k, char_len(v + k, len - k));
	if (nlen + strlen("*=utf-8''") + total <= PIECE_MAX) {
		sbuf_adds(b, name);
		sbuf_adds(b, "*=utf-8''");
		pct_put(b, v, len);
		return;
	}
	while (i < len) {
		char head[32];
		size_t used;

		/* name*N*= and, on the first piece, the charset. */
		snprintf(head, sizeof(head), "*%u*=%s", part,
			 part == 0 ? "utf-8''" : "");
		if (part > 0)
			sbuf_adds(b, "; ");
		sbuf_adds(b, name);
		sbuf_adds(b, head);
		used = nlen + strlen(head);
		do {
			size_t cl = char_len(v + i, len - i);
			size_t pl = pct_len(v + i, cl);

			if (used + pl > PIECE_MAX)
				break;
			pct_put(b, v + i, cl);
			used += pl;
			i += cl;
		} while (i < len);
		part++;
	}
}

enum mp_status rfc2231_param(const char *name, const char *value, size_t len,
			     char **out, struct mp_error *err)
{
	const unsigned char *v = (const unsigned char *)value;
	struct sbuf b = { 0 };
	size_t nlen = strlen(name);
	bool token = true, printable = true;
	size_t quoted = 2;

	*out = NULL;
	if (len == 0)
		return mp_fail(err, MP_ERR_USAGE, "the %s is empty", name);
	if (len > RFC2231_MAX)
		return mp_fail(err, MP_ERR_USAGE, "the %s is longer than %d bytes",
			       name, RFC2231_MAX);
	if (mp_has_line_break(value, len))
		return mp_fail(err, MP_ERR_USAGE,
			       "the %s contains a line break or NUL byte", name);
	if (!utf8_valid(value, len))
		return mp_fail(err, MP_ERR_DATA, "the %s is not valid UTF-8", name);
	/* The name comes from the program, never the user; a long one would
	 * leave no room for the value. */
	if (nlen == 0 || nlen > 32)
		return mp_fail(err, MP_ERR_INTERNAL, "bad MIME parameter name");

	for (size_t i = 0; i < len; i++) {
		if (!is_token(v[i]))
			token = false;
		if (v[i] < ' ' || v[i] >= 0x7f)
			printable = false;
		quoted += v[i] == '"' || v[i] == '\\' ? 2 : 1;
	}
	if (token && nlen + 1 + len <= PIECE_MAX) {
		sbuf_adds(&b, name);
		sbuf_addc(&b, '=');
		sbuf_add(&b, v, len);
	} else if (printable && nlen + 1 + quoted <= PIECE_MAX) {
		sbuf_adds(&b, name);
		sbuf_adds(&b, "=\"");
		for (size_t i = 0; i < len; i++) {
			if (v[i] == '"' || v[i] == '\\')
				sbuf_addc(&b, '\\');
			sbuf_addc(&b, (char)v[i]);
		}
		sbuf_addc(&b, '"');
	} else {
		extended(&b, name, v, len);
	}
	*out = sbuf_take(&b);
	return MP_OK;
}
