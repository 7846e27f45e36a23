/* libFuzzer target: quoted-printable. The input, fed in chunks whose sizes
 * come from its first byte, must encode to lines of at most 76 characters
 * that dot-stuffing and mbox quoting leave alone, and decode back to the
 * input with its LF line ends turned into CRLF. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_lines(const char *e, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i <= n; i++) {
		size_t len;

		if (i < n && e[i] != '\r' && e[i] != '\n')
			continue;
		if (i < n && (e[i] != '\r' || i + 1 >= n || e[i + 1] != '\n'))
			abort();   /* a bare CR or LF */
		len = i - start;
		if (len > 76)
			abort();
		if (len > 0 && (e[start] == '.' ||
				(len >= 5 && memcmp(e + start, "From ", 5) == 0) ||
				e[i - 1] == ' ' || e[i - 1] == '\t'))
			abort();
		for (size_t k = start; k < i; k++) {
			unsigned char c = (unsigned char)e[k];

			if (c >= 0x7f || (c < ' ' && c != '\t'))
				abort();
		}
		start = i + 2;
		i++;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qp_enc q;
	size_t step, o = 0, i = 0, nlen = 0, dlen;
	char *enc, *norm;
	unsigned char *dec;

	if (size < 1)
		return 0;
	step = data[0] ? data[0] : size;
	data++;
	size--;

	/* Decoding arbitrary text must not overrun. */
	dec = malloc(size + 1);
	if (!dec)
		abort();
	if (qp_decode((const char *)data, size, dec, &dlen) && dlen > size)
		abort();
	free(dec);

	enc = malloc(QP_ENCODE_MAX(size) + QP_ENCODE_MAX(0) * (size / step + 1) +
		     QP_FINISH_MAX);
	norm = malloc(2 * size + 1);
	dec = malloc(QP_ENCODE_MAX(size) + QP_ENCODE_MAX(0) * (size / step + 1) +
		     QP_FINISH_MAX);
	if (!enc || !norm || !dec)
		abort();
	qp_encode_init(&q);
	while (i < size) {
		size_t n = size - i < step ? size - i : step;
		size_t w = qp_encode_feed(&q, data + i, n, enc + o);

		if (w > QP_ENCODE_MAX(n))
			abort();
		o += w;
		i += n;
	}
	{
		size_t w = qp_encode_finish(&q, enc + o);

		if (w > QP_FINISH_MAX)
			abort();
		o += w;
	}
	check_lines(enc, o);

	for (i = 0; i < size; i++) {
		if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
			norm[nlen++] = '\r';
		norm[nlen++] = (char)data[i];
	}
	if (!qp_decode(enc, o, dec, &dlen) || dlen != nlen ||
	    memcmp(dec, norm, nlen) != 0)
		abort();
	free(enc);
	free(norm);
	free(dec);
	return 0;
}
