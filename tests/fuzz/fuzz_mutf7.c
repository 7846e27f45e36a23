/* libFuzzer target: modified UTF-7. Whatever decodes must encode back to
 * exactly the input (the decoder accepts only canonical forms); whatever
 * encodes must be printable ASCII and decode back to the input; encoding
 * fails exactly for invalid UTF-8, NUL or overlong input. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mutf7.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct mp_error err;
	char *dec, *enc;
	bool good = size <= MUTF7_MAX && !memchr(s, '\0', size) &&
		    utf8_valid(s, size);

	if (mutf7_decode(s, size, &dec, &err) == MP_OK) {
		if (!utf8_valid(dec, strlen(dec)))
			abort();
		if (mutf7_encode(dec, strlen(dec), &enc, &err) != MP_OK)
			abort();
		if (strlen(enc) != size || memcmp(enc, s, size) != 0)
			abort();
		free(enc);
		free(dec);
	} else if (dec) {
		abort();
	}

	if (mutf7_encode(s, size, &enc, &err) == MP_OK) {
		if (!good)
			abort();
		for (const char *p = enc; *p; p++)
			if (*p < 0x20 || *p > 0x7e)
				abort();
		if (mutf7_decode(enc, strlen(enc), &dec, &err) != MP_OK) {
			/* Only the length cap may stop a long encoding. */
			if (strlen(enc) <= MUTF7_MAX)
				abort();
		} else {
			if (strlen(dec) != size || memcmp(dec, s, size) != 0)
				abort();
			free(dec);
		}
		free(enc);
	} else if (good || enc) {
		abort();
	}
	return 0;
}
