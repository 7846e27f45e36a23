/* RFC 2047 encoder (UTF-8, Q or B chosen per run) and a decoder. */
#include "rfc2047.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "sbuf.h"
#include "strutil.h"
#include "utf8.h"

/* "=?UTF-8?Q?" + text + "?=" must stay within 75 characters. */
#define EW_TEXT_MAX (75 - 12)
/* Longest word left as written: " " + word fits a 78-column line. */
#define WORD_MAX 77

static bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* May c stand for itself inside a Q encoded-word? In a phrase only the
 * characters RFC 2047 section 5 (3) lists; in text any printable except
 * the ones that end or escape the word. */
static bool q_plain(unsigned char c, enum rfc2047_mode mode)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	if (mode == RFC2047_PHRASE)
		return c == '!' || c == '*' || c == '+' || c == '-' || c == '/';
	return c > ' ' && c < 0x7f && c != '=' && c != '?' && c != '_';
}

static size_t q_len(unsigned char c, enum rfc2047_mode mode)
{
	return c == ' ' || q_plain(c, mode) ? 1 : 3;
}

static void q_put(struct sbuf *b, unsigned char c, enum rfc2047_mode mode)
{
	static const char hex[] = "0123456789ABCDEF";

	if (c == ' ') {
		sbuf_addc(b, '_');
	} else if (q_plain(c, mode)) {
		sbuf_addc(b, (char)c);
	} else {
		sbuf_addc(b, '=');
		sbuf_addc(b, hex[c >> 4]);
		sbuf_addc(b, hex[c & 15]);
	}
}

/* Encode r[0..n) (valid UTF-8) as encoded-words separated by spaces. */
static void encode_run(struct sbuf *b, const unsigned char *r, size_t n,
		       enum rfc2047_mode mode)
{
	size_t qtotal = 0, i = 0;
	bool use_q;

	for (size_t k = 0; k < n; k++)
		qtotal += q_len(r[k], mode);
	use_q = qtotal <= (n + 2) / 3 * 4;

	while (i < n) {
		size_t start = i, width = 0;

		/* Take whole characters while the word stays in bounds. */
		while (i < n) {
			size_t cl = r[i] < 0x80 ? 1 : utf8_seq_len(r + i, n - i);
			size_t w = 0;

			if (use_q) {
				for (size_t k = 0; k < cl; k++)
					w += q_len(r[i + k], mode);
				if (width + w > EW_TEXT_MAX)
					break;
			} else if ((i + cl - start + 2) / 3 * 4 > EW_TEXT_MAX) {
				break;
			}
			width += w;
			i += cl;
		}
		if (start > 0)
			sbuf_addc(b, ' ');
		sbuf_adds(b, use_q ? "=?UTF-8?Q?" : "=?UTF-8?B?");
		if (use_q) {
			for (size_t k = start; k < i; k++)
				q_put(b, r[k], mode);
		} else {
			char enc[EW_TEXT_MAX + 1];

			sbuf_add(b, enc, base64_encode(r + start, i - start, enc));
		}
		sbuf_adds(b, "?=");
	}
}

/* Must this word be encoded in unstructured text? */
static bool word_needs_encoding(const unsigned char *w, size_t n)
{
	if (n > WORD_MAX)
		return true;
	for (size_t i = 0; i < n; i++) {
		if (w[i] < 0x20 || w[i] >= 0x7f)
			return true;
		if (w[i] == '=' && i + 1 < n && w[i + 1] == '?')
			return true;
	}
	return false;
}

static void encode_text(struct sbuf *b, const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t w = i, run_end;

		while (w < len && is_ws(s[w]))
			w++;
		sbuf_add(b, s + i, w - i);   /* whitespace outside runs */
		i = w;
		if (i == len)
			break;
		while (w < len && !is_ws(s[w]))
			w++;
		if (!word_needs_encoding(s + i, w - i)) {
			sbuf_add(b, s + i, w - i);
			i = w;
			continue;
		}
		/* Extend the run over following words that need encoding too,
		 * so the whitespace between them is carried inside the
		 * encoded text (decoders drop it between encoded-words). */
		run_end = w;
		for (;;) {
			size_t a = run_end, e;

			while (a < len && is_ws(s[a]))
				a++;
			if (a == len)
				break;
			for (e = a; e < len && !is_ws(s[e]); e++)
				;
			if (!word_needs_encoding(s + a, e - a))
				break;
			run_end = e;
		}
		encode_run(b, s + i, run_end - i, RFC2047_TEXT);
		i = run_end;
	}
}

/* RFC 5322 atext. */
static bool is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static void encode_phrase(struct sbuf *b, const unsigned char *s, size_t len)
{
	bool atoms = true, quotable = true;
	size_t word = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = s[i];

		if (c == ' ') {
			/* Atoms are joined by exactly one space. */
			if (i == 0 || i + 1 == len || s[i + 1] == ' ')
				atoms = false;
			word = 0;
			continue;
		}
		if (++word > WORD_MAX || c < 0x20 || c >= 0x7f)
			quotable = false;
		if (!is_atext(c) || (c == '=' && i + 1 < len && s[i + 1] == '?'))
			atoms = false;
	}
	if (!quotable) {
		encode_run(b, s, len, RFC2047_PHRASE);
	} else if (atoms) {
		sbuf_add(b, s, len);
	} else {
		sbuf_addc(b, '"');
		for (size_t i = 0; i < len; i++) {
			if (s[i] == '"' || s[i] == '\\')
				sbuf_addc(b, '\\');
			sbuf_addc(b, (char)s[i]);
		}
		sbuf_addc(b, '"');
	}
}

enum mp_status rfc2047_encode(const char *in, size_t len,
			      enum rfc2047_mode mode, char **out,
			      struct mp_error *err)
{
	struct sbuf b = { 0 };

	*out = NULL;
	if (len > RFC2047_MAX)
		return mp_fail(err, MP_ERR_USAGE,
			       "header text is longer than %d bytes",
			       RFC2047_MAX);
	if (mp_has_line_break(in, len))
		return mp_fail(err, MP_ERR_USAGE,
			       "header text contains a line break or NUL byte");
	if (!utf8_valid(in, len))
		return mp_fail(err, MP_ERR_DATA,
			       "header text is not valid UTF-8");
	if (mode == RFC2047_PHRASE)
		encode_phrase(&b, (const unsigned char *)in, len);
	else
		encode_text(&b, (const unsigned char *)in, len);
	*out = sbuf_take(&b);
	return MP_OK;
}

/* Decode w[0..n) if it is one encoded-word in a charset we can pass on
 * unchanged; true and the bytes appended to b, else false and b as it was. */
static bool decode_word(struct sbuf *b, const unsigned char *w, size_t n)
{
	const unsigned char *cs, *q1, *q2, *text;
	size_t cslen, tlen, mark = b->n;
	unsigned char enc;

	if (n < 8 || w[0] != '=' || w[1] != '?' || w[n - 2] != '?' ||
	    w[n - 1] != '=')
		return false;
	cs = w + 2;
	q1 = memchr(cs, '?', n - 4);
	if (!q1 || q1 + 3 > w + n - 2 || q1[2] != '?')
		return false;
	q2 = q1 + 2;
	cslen = (size_t)(q1 - cs);
	/* RFC 2231 lets a language follow the charset: "UTF-8*en". */
	for (size_t k = 0; k < cslen; k++)
		if (cs[k] == '*') {
			cslen = k;
			break;
		}
	if (!((cslen == 5 && strncasecmp((const char *)cs, "UTF-8", 5) == 0) ||
	      (cslen == 8 && strncasecmp((const char *)cs, "US-ASCII", 8) == 0)))
		return false;
	enc = q1[1];
	text = q2 + 1;
	tlen = (size_t)(w + n - 2 - text);
	if (memchr(text, '?', tlen))
		return false;
	if (enc == 'Q' || enc == 'q') {
		for (size_t k = 0; k < tlen; k++) {
			if (text[k] == '_') {
				sbuf_addc(b, ' ');
			} else if (text[k] == '=') {
				int hi = k + 2 < tlen ? mp_hexdigit(text[k + 1]) : -1;
				int lo = k + 2 < tlen ? mp_hexdigit(text[k + 2]) : -1;

				if (hi < 0 || lo < 0) {
					b->n = mark;
					if (b->p)
						b->p[mark] = '\0';
					return false;
				}
				sbuf_addc(b, (char)(hi << 4 | lo));
				k += 2;
			} else {
				sbuf_addc(b, (char)text[k]);
			}
		}
		return true;
	}
	if (enc == 'B' || enc == 'b') {
		unsigned char *dec = mp_xmalloc(tlen / 4 * 3 + 3);
		size_t dlen;
		bool good = base64_decode((const char *)text, tlen, dec, &dlen);

		if (good)
			sbuf_add(b, dec, dlen);
		free(dec);
		return good;
	}
	return false;
}

/* Length of a fold (CRLF or LF followed by SP/TAB) at s[i], else 0. */
static size_t fold_at(const unsigned char *s, size_t i, size_t len)
{
	if (s[i] == '\r' && i + 2 < len && s[i + 1] == '\n' && is_ws(s[i + 2]))
		return 2;
	if (s[i] == '\n' && i + 1 < len && is_ws(s[i + 1]))
		return 1;
	return 0;
}

/* Append the whitespace s[a..e) without its folds. */
static void add_ws(struct sbuf *b, const unsigned char *s, size_t a, size_t e)
{
	for (size_t k = a; k < e; k++)
		if (is_ws(s[k]))
			sbuf_addc(b, (char)s[k]);
}

void rfc2047_decode(const char *in, size_t len, char **out)
{
	const unsigned char *s = (const unsigned char *)in;
	struct sbuf b = { 0 }, tmp = { 0 };
	size_t i = 0;
	bool prev_encoded = false;

	while (i < len) {
		size_t a = i, w, f;

		while (i < len) {
			if (is_ws(s[i]))
				i++;
			else if ((f = fold_at(s, i, len)) > 0)
				i += f;
			else
				break;
		}
		if (i == len) {
			add_ws(&b, s, a, i);
			break;
		}
		for (w = i; w < len && !is_ws(s[w]) && !fold_at(s, w, len); w++)
			;
		tmp.n = 0;
		if (decode_word(&tmp, s + i, w - i)) {
			/* Whitespace between encoded-words is not text. */
			if (!prev_encoded)
				add_ws(&b, s, a, i);
			sbuf_add(&b, tmp.p, tmp.n);
			prev_encoded = true;
		} else {
			add_ws(&b, s, a, i);
			sbuf_add(&b, s + i, w - i);
			prev_encoded = false;
		}
		i = w;
	}
	sbuf_free(&tmp);
	*out = sbuf_take(&b);
}
