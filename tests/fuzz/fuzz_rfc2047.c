/* libFuzzer target: RFC 2047. Valid UTF-8 without line breaks must encode
 * to 7-bit text whose encoded-words are at most 75 characters and which
 * decodes back to the input; anything else must be refused. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rfc2047.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_words(const char *e)
{
	for (const unsigned char *p = (const unsigned char *)e; *p; p++)
		if (*p >= 0x7f || (*p < ' ' && *p != '\t'))
			abort();
	while (*e) {
		size_t n = strcspn(e, " \t");

		if (n >= 2 && e[0] == '=' && e[1] == '?' && n > 75)
			abort();
		e += n;
		e += strspn(e, " \t");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	bool good = size <= RFC2047_MAX && utf8_valid(s, size) &&
		    !memchr(s, '\r', size) && !memchr(s, '\n', size) &&
		    !memchr(s, '\0', size);
	struct mp_error err;
	char *enc, *dec;

	rfc2047_decode(s, size, &dec);
	if (strlen(dec) > size)
		abort();
	free(dec);

	if (rfc2047_encode(s, size, RFC2047_TEXT, &enc, &err) != MP_OK) {
		if (good || enc)
			abort();
	} else {
		if (!good)
			abort();
		check_words(enc);
		rfc2047_decode(enc, strlen(enc), &dec);
		if (strlen(dec) != size || memcmp(dec, s, size) != 0)
			abort();
		free(dec);
		free(enc);
	}

	if (rfc2047_encode(s, size, RFC2047_PHRASE, &enc, &err) != MP_OK) {
		if (good)
			abort();
	} else {
		if (!good)
			abort();
		/* Inside a quoted-string "=?" is only text. */
		if (enc[0] != '"')
			check_words(enc);
		if (enc[0] == '=' && enc[1] == '?') {
			rfc2047_decode(enc, strlen(enc), &dec);
			if (strlen(dec) != size || memcmp(dec, s, size) != 0)
				abort();
			free(dec);
		}
		free(enc);
	}
	return 0;
}
