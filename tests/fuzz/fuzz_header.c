/* libFuzzer target: header folding. Folding then unfolding must give the
 * field back exactly, no line may exceed 998 characters, and a line over
 * 78 must be one that could not be broken earlier. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "header.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct mp_error err;
	size_t name, off, n;
	char *out, *copy;

	if (header_check(s, size, &name, &off, &err) == MP_OK) {
		if (name == 0 || name > HEADER_NAME_MAX || s[name] != ':' ||
		    off > size || memchr(s, '\r', size) || memchr(s, '\n', size) ||
		    memchr(s, '\0', size))
			abort();
	}

	copy = malloc(size + 1);
	if (!copy)
		abort();
	memcpy(copy, s, size);
	n = header_unfold(copy, size);
	if (n > size)
		abort();
	free(copy);

	if (header_fold(s, size, &out, &err) != MP_OK) {
		if (out)
			abort();
		return 0;
	}
	if (memchr(s, '\r', size) || memchr(s, '\n', size) ||
	    memchr(s, '\0', size))
		abort();
	{
		const char *line = out;

		for (;;) {
			const char *e = strstr(line, "\r\n");
			size_t len = e ? (size_t)(e - line) : strlen(line);

			if (len > HEADER_LINE_MAX)
				abort();
			/* A continuation starts with a blank and holds text. */
			if (line != out && (line[0] != ' ' && line[0] != '\t'))
				abort();
			if (len > HEADER_FOLD_WIDTH) {
				/* Only if no blank-then-text break fits. */
				for (size_t i = 1; i < HEADER_FOLD_WIDTH; i++)
					if ((line[i] == ' ' || line[i] == '\t') &&
					    line[i - 1] != ' ' && line[i - 1] != '\t' &&
					    i + strspn(line + i, " \t") < len)
						abort();
			}
			if (!e)
				break;
			line = e + 2;
		}
	}
	n = strlen(out);
	copy = malloc(n + 1);
	if (!copy)
		abort();
	memcpy(copy, out, n);
	n = header_unfold(copy, n);
	if (n != size || memcmp(copy, s, size) != 0)
		abort();
	free(copy);
	free(out);
	return 0;
}
