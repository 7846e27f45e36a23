/* libFuzzer target: MIME parameter encoding. Accepted values give 7-bit
 * pieces of at most 76 characters joined by "; ". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rfc2231.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mp_error err;
	char *out;
	const char *p;

	if (rfc2231_param("filename", (const char *)data, size, &out, &err) !=
	    MP_OK) {
		if (out || !err.msg[0])
			abort();
		return 0;
	}
	if (memchr(data, '\r', size) || memchr(data, '\n', size) ||
	    memchr(data, '\0', size) || size == 0)
		abort();
	for (p = out; *p; p++)
		if ((unsigned char)*p >= 0x7f || (unsigned char)*p < ' ')
			abort();
	/* Only the extended form has pieces; a quoted "; " (or "*0*=") is
	 * text inside the plain form. */
	if (strncmp(out, "filename*", 9) != 0) {
		if (strlen(out) > 76 || strncmp(out, "filename", 8) != 0)
			abort();
		free(out);
		return 0;
	}
	p = out;
	for (;;) {
		const char *e = strstr(p, "; ");
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (n > 76 || strncmp(p, "filename", 8) != 0)
			abort();
		if (!e)
			break;
		p = e + 2;
	}
	free(out);
	return 0;
}
