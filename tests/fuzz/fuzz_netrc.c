/* libFuzzer target: netrc_find on arbitrary file contents. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netrc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char pw[64];
	/* The file is not NUL-terminated: reads past size are caught. */
	char *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (netrc_find(copy, size, "host", "user", pw, sizeof pw) &&
	    strlen(pw) >= sizeof pw)
		abort();
	netrc_find(copy, size, "host", NULL, pw, sizeof pw);
	free(copy);
	return 0;
}
