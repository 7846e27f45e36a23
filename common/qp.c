/* Streaming quoted-printable encoder and a strict decoder. */
#include "qp.h"

#include <string.h>

#include "strutil.h"

/* Output lines hold at most 75 characters before the '=' of a soft break
 * (76 in all); hard-broken lines obey the same bound. */
#define QP_COLS 75

static const char hex[] = "0123456789ABCDEF";

void qp_encode_init(struct qp_enc *q)
{
	memset(q, 0, sizeof(*q));
}

/* Write byte c, literally or as =XX, breaking the line first if it would
 * not fit. A soft break makes c start a line, where '.' and 'F' must not
 * appear literally (they might begin "." or "From " lines). */
static size_t put(struct qp_enc *q, char *out, unsigned char c, bool enc)
{
	size_t o = 0;

	if (q->col + (enc ? 3 : 1) > QP_COLS) {
		memcpy(out, "=\r\n", 3);
		o = 3;
		q->col = 0;
		if (c == '.' || c == 'F')
			enc = true;
	}
	if (enc) {
		out[o++] = '=';
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 15];
		q->col += 3;
	} else {
		out[o++] = (char)c;
		q->col++;
	}
	return o;
}

/* A held SP/TAB: literal when more text follows on its line, else =20/=09. */
static size_t release_ws(struct qp_enc *q, char *out, bool line_end)
{
	unsigned char w = q->ws;

	if (!w)
		return 0;
	q->ws = 0;
	return put(q, out, w, line_end);
}

static size_t hard_break(struct qp_enc *q, char *out)
{
	size_t o = release_ws(q, out, true);

	out[o++] = '\r';
	out[o++] = '\n';
	q->col = 0;
	return o;
}

static size_t feed_byte(struct qp_enc *q, char *out, unsigned char c)
{
	static const char from[] = "From ";
	size_t o = 0;

	if (q->from > 0) {
		if (c == (unsigned char)from[q->from]) {
			if (q->from < 4) {
				q->from++;
				return 0;
			}
			/* "From " at a line start: hide it from mbox quoting. */
			q->from = 0;
			o += put(q, out + o, 'F', true);
			for (int i = 1; i < 4; i++)
				o += put(q, out + o, (unsigned char)from[i], false);
			q->ws = ' ';
			return o;
		}
		for (int i = 0; i < q->from; i++)
			o += put(q, out + o, (unsigned char)from[i], false);
		q->from = 0;
	}
	if (q->cr) {
		q->cr = false;
		if (c == '\n')
			return o + hard_break(q, out + o);
		o += release_ws(q, out + o, false);
		o += put(q, out + o, '\r', true);
	}
	if (c == '\r') {
		q->cr = true;
		return o;
	}
	if (c == '\n')
		return o + hard_break(q, out + o);
	o += release_ws(q, out + o, false);
	if (c == ' ' || c == '\t') {
		q->ws = c;
		return o;
	}
	if (q->col == 0 && c == 'F') {
		q->from = 1;
		return o;
	}
	return o + put(q, out + o, c,
		       c < 33 || c > 126 || c == '=' || (q->col == 0 && c == '.'));
}

size_t qp_encode_feed(struct qp_enc *q, const void *in, size_t len, char *out)
{
	const unsigned char *p = in;
	size_t o = 0;

	for (size_t i = 0; i < len; i++)
		o += feed_byte(q, out + o, p[i]);
	return o;
}

size_t qp_encode_finish(struct qp_enc *q, char *out)
{
	size_t o = 0;

	for (int i = 0; i < q->from; i++)
		o += put(q, out + o, (unsigned char)"From"[i], false);
	q->from = 0;
	if (q->cr) {
		o += release_ws(q, out + o, false);
		o += put(q, out + o, '\r', true);
	}
	/* The body ends here, and whatever follows begins a new line. */
	o += release_ws(q, out + o, true);
	qp_encode_init(q);
	return o;
}

bool qp_decode(const char *text, size_t len, unsigned char *out,
	       size_t *outlen)
{
	const unsigned char *t = (const unsigned char *)text;
	size_t i = 0, o = 0;

	*outlen = 0;
	while (i < len) {
		unsigned char c = t[i];

		if (c == '=') {
			int hi, lo;

			if (i + 1 < len && t[i + 1] == '\n') {
				i += 2;
				continue;
			}
			if (i + 2 < len && t[i + 1] == '\r' && t[i + 2] == '\n') {
				i += 3;
				continue;
			}
			if (i + 2 >= len)
				return false;
			hi = mp_hexdigit(t[i + 1]);
			lo = mp_hexdigit(t[i + 2]);
			if (hi < 0 || lo < 0)
				return false;
			out[o++] = (unsigned char)(hi << 4 | lo);
			i += 3;
			continue;
		}
		if (c == ' ' || c == '\t') {
			size_t j = i;

			while (j < len && (t[j] == ' ' || t[j] == '\t'))
				j++;
			/* Whitespace ending a line was added in transport. */
			if (j == len || t[j] == '\n' ||
			    (t[j] == '\r' && j + 1 < len && t[j + 1] == '\n')) {
				i = j;
				continue;
			}
			memcpy(out + o, t + i, j - i);
			o += j - i;
			i = j;
			continue;
		}
		out[o++] = c;
		i++;
	}
	*outlen = o;
	return true;
}
