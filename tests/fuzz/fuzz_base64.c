/* libFuzzer target: strict base64 decoding, and encode -> decode round trip. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t esize = base64_encoded_size(size), n, dlen;
	unsigned char *dec = malloc(size * 3 / 4 + 3);
	unsigned char *back = malloc(size + 3);
	char *enc = malloc(esize);
	char *reenc = malloc(base64_encoded_size(size * 3 / 4 + 3));

	if (!dec || !back || !enc || !reenc)
		abort();

	/* Decode the input as text; what decodes must encode back to it,
	 * since the decoder accepts only canonical input. */
	if (base64_decode((const char *)data, size, dec, &dlen)) {
		if (dlen > size * 3 / 4)
			abort();
		n = base64_encode(dec, dlen, reenc);
		if (n != size || memcmp(reenc, data, size) != 0)
			abort();
	}

	/* Encode the input as bytes; decoding must give them back. */
	n = base64_encode(data, size, enc);
	if (n + 1 != esize || enc[n] != '\0')
		abort();
	if (!base64_decode(enc, n, back, &dlen) || dlen != size ||
	    memcmp(back, data, size) != 0)
		abort();

	free(dec);
	free(back);
	free(enc);
	free(reenc);
	return 0;
}
