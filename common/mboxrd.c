/* mboxrd quoting: streaming quoter for writing, line classifier for
 * reading. */
#include "mboxrd.h"

#include <string.h>

static const char from_[] = "From ";

void mboxrd_quote_init(struct mboxrd_quote *q)
{
	memset(q, 0, sizeof(*q));
	q->bol = true;
}

/* Bytes of "From" in the held prefix (after an optional '>'). */
static size_t from_matched(const struct mboxrd_quote *q)
{
	return q->held - (q->held > 0 && q->hold[0] == '>');
}

static size_t release(struct mboxrd_quote *q, char *out)
{
	size_t n = q->held;

	memcpy(out, q->hold, n);
	q->held = 0;
	return n;
}

size_t mboxrd_quote_feed(struct mboxrd_quote *q, const char *in, size_t len,
			 char *out)
{
	size_t i = 0, o = 0;

	while (i < len) {
		char c = in[i];

		if (!q->bol && q->held) {
			/* A CR held back: CRLF becomes LF, a lone CR stays. */
			q->held = 0;
			if (c == '\n') {
				out[o++] = '\n';
				q->bol = true;
				i++;
				continue;
			}
			out[o++] = '\r';
		} else if (q->bol) {
			size_t k = from_matched(q);

			if (c == from_[k]) {
				i++;
				if (k < 4) {
					q->hold[q->held++] = c;
					continue;
				}
				/* ">*From " at the start of a line: one more '>'. */
				out[o++] = '>';
				o += release(q, out + o);
				out[o++] = ' ';
				q->bol = false;
				continue;
			}
			if (c == '>' && k == 0) {
				/* Where in the run of '>' the added one goes makes
				 * no difference, so hold only the first: it marks
				 * the line as begun. */
				i++;
				if (q->held == 0)
					q->hold[q->held++] = '>';
				else
					out[o++] = '>';
				continue;
			}
			o += release(q, out + o);
			q->bol = false;
		}

		/* Inside a line: copy up to the next CR or LF in one go. */
		{
			size_t run = i;

			while (run < len && in[run] != '\n' && in[run] != '\r')
				run++;
			memcpy(out + o, in + i, run - i);
			o += run - i;
			i = run;
		}
		if (i == len)
			break;
		if (in[i] == '\n') {
			out[o++] = '\n';
			q->bol = true;
		} else {
			q->hold[0] = '\r';
			q->held = 1;
		}
		i++;
	}
	return o;
}

size_t mboxrd_quote_finish(struct mboxrd_quote *q, char *out)
{
	size_t o = 0;
	bool open_line = !q->bol || q->held > 0;

	o += release(q, out);
	if (open_line)
		out[o++] = '\n';
	out[o++] = '\n';
	mboxrd_quote_init(q);
	return o;
}

enum mboxrd_line mboxrd_read_line(const char *line, size_t len,
				  const char **unq, size_t *unq_len)
{
	size_t i = 0;

	*unq = line;
	*unq_len = len;
	while (i < len && line[i] == '>')
		i++;
	if (len - i < 5 || memcmp(line + i, from_, 5) != 0)
		return MBOXRD_BODY;
	if (i == 0)
		return MBOXRD_SEPARATOR;
	*unq = line + 1;
	*unq_len = len - 1;
	return MBOXRD_BODY;
}
