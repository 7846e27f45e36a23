/* libFuzzer target: the SMTP DATA/BDAT encoder. The first bytes choose the
 * mode and the chunk sizes; the rest is the message. The output must have
 * only CRLF line ends, no line starting with a lone '.', and un-stuffing
 * must give the input with every line end made CRLF. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpdata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtpdata st;
	enum smtpdata_mode mode;
	uint8_t steps[3];
	size_t o = 0, i = 0, k = 0, nlen = 0, ulen = 0, longest = 0, line = 0;
	char *out, *norm, *un;
	int nul = 0, high = 0;

	if (size < 4)
		return 0;
	mode = data[0] & 1 ? SMTPDATA_BDAT : SMTPDATA_DOT;
	memcpy(steps, data + 1, 3);
	data += 4;
	size -= 4;

	out = malloc(SMTPDATA_OUT_MAX(size) + SMTPDATA_FINISH_MAX);
	norm = malloc(2 * size + 2);
	un = malloc(SMTPDATA_OUT_MAX(size) + SMTPDATA_FINISH_MAX);
	if (!out || !norm || !un)
		abort();
	smtpdata_init(&st, mode);
	while (i < size) {
		size_t n = steps[k++ % 3];

		if (n == 0) {
			/* An empty chunk must change nothing; then go on. */
			if (smtpdata_feed(&st, data + i, 0, out + o) != 0)
				abort();
			n = 1;
		}
		if (n > size - i)
			n = size - i;
		o += smtpdata_feed(&st, data + i, n, out + o);
		if (o > SMTPDATA_OUT_MAX(i + n))
			abort();
		i += n;
	}
	o += smtpdata_finish(&st, out + o);

	/* What the message should be: every line end CRLF, one at the end. */
	for (i = 0; i < size; i++) {
		if (data[i] == '\r' || data[i] == '\n') {
			norm[nlen++] = '\r';
			norm[nlen++] = '\n';
			if (line > longest)
				longest = line;
			line = 0;
			if (data[i] == '\r' && i + 1 < size && data[i + 1] == '\n')
				i++;
			continue;
		}
		nul |= data[i] == 0;
		high |= data[i] >= 0x80;
		norm[nlen++] = (char)data[i];
		line++;
	}
	if (nlen > 0 && norm[nlen - 1] != '\n') {
		norm[nlen++] = '\r';
		norm[nlen++] = '\n';
		if (line > longest)
			longest = line;
	}

	/* Walk the output line by line, undoing the stuffing. */
	if (mode == SMTPDATA_DOT) {
		if (o < 3 || memcmp(out + o - 3, ".\r\n", 3) != 0 ||
		    (o > 3 && out[o - 4] != '\n'))
			abort();
		o -= 3;
	}
	for (i = 0; i < o;) {
		const char *lf = memchr(out + i, '\n', o - i);
		size_t end;

		if (!lf || lf == out + i || lf[-1] != '\r')
			abort();
		end = (size_t)(lf - out) + 1;
		if (memchr(out + i, '\r', end - i - 2))
			abort();   /* a bare CR inside the line */
		if (mode == SMTPDATA_DOT && out[i] == '.') {
			if (end - i < 4 || out[i + 1] != '.')
				abort();   /* a lone dot: it would end DATA */
			i++;
		}
		memcpy(un + ulen, out + i, end - i);
		ulen += end - i;
		i = end;
	}
	if (ulen != nlen || memcmp(un, norm, nlen) != 0)
		abort();
	if (st.msg_bytes != nlen || st.longest != longest ||
	    st.saw_nul != nul || st.saw_8bit != high ||
	    st.out_bytes != o + (mode == SMTPDATA_DOT ? 3 : 0))
		abort();
	free(out);
	free(norm);
	free(un);
	return 0;
}
