/* Folder names to local paths and back, with '%XX' escapes (see the
 * header for the rules). */
#include "foldermap.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sbuf.h"
#include "strutil.h"
#include "utf8.h"

bool foldermap_is_inbox(const char *name, size_t len)
{
	return len == 5 && strncasecmp(name, "INBOX", 5) == 0;
}

static void put_escape(struct sbuf *b, unsigned char c)
{
	static const char hex[] = "0123456789ABCDEF";

	sbuf_addc(b, '%');
	sbuf_addc(b, hex[c >> 4]);
	sbuf_addc(b, hex[c & 15]);
}

/* A name the nested layout must not use as is: a Maildir's own folders. */
static bool maildir_subdir(const unsigned char *c, size_t n)
{
	return n == 3 && (memcmp(c, "cur", 3) == 0 || memcmp(c, "new", 3) == 0 ||
			  memcmp(c, "tmp", 3) == 0);
}

/* Append component c[0..n) escaped for layout. */
static void put_component(struct sbuf *b, const unsigned char *c, size_t n,
			  enum foldermap_layout layout)
{
	size_t k = 0;

	if (n == 0) {
		sbuf_adds(b, "%00");
		return;
	}
	if (layout == FOLDERMAP_NESTED && maildir_subdir(c, n)) {
		put_escape(b, c[0]);
		k = 1;
	}
	while (k < n) {
		unsigned char x = c[k];
		size_t m;

		if (x < 0x80) {
			if (x < 0x20 || x == 0x7f || x == '%' || x == '/' ||
			    x == '\\' ||
			    (x == '.' && (layout == FOLDERMAP_MAILDIRPP || k == 0)))
				put_escape(b, x);
			else
				sbuf_addc(b, (char)x);
			k++;
			continue;
		}
		m = utf8_seq_len(c + k, n - k);
		if (m == 0) {
			put_escape(b, x);   /* not UTF-8: keep the byte, escaped */
			k++;
		} else if (x == 0xc2 && c[k + 1] < 0xa0) {
			put_escape(b, x);   /* C1 control */
			put_escape(b, c[k + 1]);
			k += 2;
		} else {
			sbuf_add(b, c + k, m);
			k += m;
		}
	}
}

enum mp_status foldermap_to_local(const char *name, size_t len, char delim,
				  enum foldermap_layout layout, char **out,
				  struct mp_error *err)
{
	const unsigned char *s = (const unsigned char *)name;
	struct sbuf b = { 0 };
	size_t i = 0;

	*out = NULL;
	if (memchr(name, '\0', len))
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "the server sent a folder name with a NUL byte");
	if (foldermap_is_inbox(name, len)) {
		*out = mp_xstrdup("");
		return MP_OK;
	}
	/* Escaping only grows a name, so longer input can never fit. */
	if (len > FOLDERMAP_PATH_MAX)
		goto too_long;
	for (;;) {
		const unsigned char *d = delim ?
			memchr(s + i, (unsigned char)delim, len - i) : NULL;
		size_t n = d ? (size_t)(d - (s + i)) : len - i, mark = b.n;

		if (layout == FOLDERMAP_MAILDIRPP)
			sbuf_addc(&b, '.');
		else if (i > 0)
			sbuf_addc(&b, '/');
		put_component(&b, s + i, n, layout);
		if (layout == FOLDERMAP_NESTED &&
		    b.n - mark - (i > 0) > FOLDERMAP_COMPONENT_MAX)
			goto too_long;
		if (b.n > (layout == FOLDERMAP_MAILDIRPP ?
			   FOLDERMAP_COMPONENT_MAX : FOLDERMAP_PATH_MAX))
			goto too_long;
		if (!d)
			break;
		i += n + 1;
	}
	*out = sbuf_take(&b);
	return MP_OK;

too_long:
	sbuf_free(&b);
	return mp_fail(err, MP_ERR_DATA,
		       "folder name is too long for a local directory name "
		       "(%zu bytes)", len);
}

/* Append the unescaped component c[0..n) (n > 0) to b. */
static enum mp_status get_component(struct sbuf *b, const unsigned char *c,
				    size_t n, char delim, struct mp_error *err)
{
	if (n == 3 && memcmp(c, "%00", 3) == 0)
		return MP_OK;   /* the empty component */
	for (size_t k = 0; k < n; k++) {
		unsigned char x = c[k];

		if (x == '%' && k + 2 < n) {
			int hi = mp_hexdigit(c[k + 1]), lo = mp_hexdigit(c[k + 2]);

			if (hi >= 0 && lo >= 0) {
				x = (unsigned char)(hi << 4 | lo);
				k += 2;
			}
		}
		if (x == '\0')
			return mp_fail(err, MP_ERR_DATA,
				       "local folder name decodes to a NUL byte");
		if (delim && x == (unsigned char)delim)
			return mp_fail(err, MP_ERR_DATA,
				       "local folder name holds the server's "
				       "hierarchy delimiter inside a level");
		sbuf_addc(b, (char)x);
	}
	return MP_OK;
}

enum mp_status foldermap_to_server(const char *path, size_t len, char delim,
				   enum foldermap_layout layout, char **out,
				   size_t *outlen, struct mp_error *err)
{
	const unsigned char *s = (const unsigned char *)path;
	unsigned char sep = layout == FOLDERMAP_MAILDIRPP ? '.' : '/';
	struct sbuf b = { 0 };
	enum mp_status st = MP_OK;
	size_t i = 0;

	*out = NULL;
	if (outlen)
		*outlen = 0;
	if (len > FOLDERMAP_PATH_MAX)
		return mp_fail(err, MP_ERR_DATA,
			       "local folder path is longer than %d bytes",
			       FOLDERMAP_PATH_MAX);
	if (memchr(path, '\0', len))
		return mp_fail(err, MP_ERR_DATA,
			       "local folder path contains a NUL byte");
	if (len == 0) {
		*out = mp_xstrdup("INBOX");
		if (outlen)
			*outlen = 5;
		return MP_OK;
	}
	if (layout == FOLDERMAP_MAILDIRPP) {
		if (s[0] != '.' || memchr(path, '/', len))
			return mp_fail(err, MP_ERR_DATA,
				       "'%.*s' is not a Maildir++ folder name",
				       (int)(len > 200 ? 200 : len), path);
		i = 1;
	}
	for (bool first = true;; first = false) {
		const unsigned char *e = memchr(s + i, sep, len - i);
		size_t n = e ? (size_t)(e - (s + i)) : len - i;

		if (n == 0 || (n == 1 && s[i] == '.') ||
		    (n == 2 && s[i] == '.' && s[i + 1] == '.')) {
			st = mp_fail(err, MP_ERR_DATA,
				     "local folder path has an empty, '.' or "
				     "'..' level");
			break;
		}
		if (!first) {
			if (!delim) {
				st = mp_fail(err, MP_ERR_DATA,
					     "local folder has levels but the "
					     "server has no hierarchy delimiter");
				break;
			}
			sbuf_addc(&b, delim);
		}
		if ((st = get_component(&b, s + i, n, delim, err)) != MP_OK)
			break;
		if (!e)
			break;
		i += n + 1;
	}
	if (st != MP_OK) {
		sbuf_free(&b);
		return st;
	}
	if (outlen)
		*outlen = b.n;
	*out = sbuf_take(&b);
	return MP_OK;
}
