/* libFuzzer target: mboxrd quoting. The first 3 bytes choose the chunk
 * sizes; the rest is the message. No output line may be a separator, each
 * chunk's output must fit MBOXRD_QUOTE_MAX, and reading the lines back
 * with mboxrd_read_line must give the input with CRLF made LF, a final
 * LF added if missing, then the empty line that ends the message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mboxrd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mboxrd_quote q;
	uint8_t steps[3];
	const char *in;
	size_t o = 0, i = 0, k = 0, nlen = 0, ulen = 0;
	char *out, *norm, *un;

	if (size < 3)
		return 0;
	memcpy(steps, data, 3);
	in = (const char *)data + 3;
	size -= 3;

	out = malloc(MBOXRD_QUOTE_MAX(size) + size + 24);
	norm = malloc(size + 2);
	un = malloc(MBOXRD_QUOTE_MAX(size) + size + 24);
	if (!out || !norm || !un)
		abort();
	mboxrd_quote_init(&q);
	while (i < size) {
		size_t n = steps[k++ % 3], w;
		char *chunk;

		if (n == 0) {
			if (mboxrd_quote_feed(&q, in + i, 0, out + o) != 0)
				abort();
			n = 1;
		}
		if (n > size - i)
			n = size - i;
		/* A buffer of exactly the promised size, so ASan sees any
		 * overrun. */
		chunk = malloc(MBOXRD_QUOTE_MAX(n));
		if (!chunk)
			abort();
		w = mboxrd_quote_feed(&q, in + i, n, chunk);
		if (w > MBOXRD_QUOTE_MAX(n))
			abort();
		memcpy(out + o, chunk, w);
		free(chunk);
		o += w;
		i += n;
	}
	{
		char fin[24];
		size_t w = mboxrd_quote_finish(&q, fin);

		if (w > sizeof(fin))
			abort();
		memcpy(out + o, fin, w);
		o += w;
	}

	/* The input as it should read back: CRLF -> LF, a final LF, an
	 * empty line. */
	for (i = 0; i < size; i++) {
		if (in[i] == '\r' && i + 1 < size && in[i + 1] == '\n')
			continue;
		norm[nlen++] = in[i];
	}
	if (nlen > 0 && norm[nlen - 1] != '\n')
		norm[nlen++] = '\n';
	norm[nlen++] = '\n';

	if (o == 0 || out[o - 1] != '\n')
		abort();
	for (i = 0; i < o;) {
		const char *lf = memchr(out + i, '\n', o - i);
		size_t end = (size_t)(lf - out);
		const char *u;
		size_t n;

		if (mboxrd_read_line(out + i, end - i, &u, &n) != MBOXRD_BODY)
			abort();   /* a line that would split the message */
		memcpy(un + ulen, u, n);
		ulen += n;
		un[ulen++] = '\n';
		i = end + 1;
	}
	if (ulen != nlen || memcmp(un, norm, nlen) != 0)
		abort();
	free(out);
	free(norm);
	free(un);
	return 0;
}
