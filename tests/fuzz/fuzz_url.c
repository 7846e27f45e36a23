/* libFuzzer target: url_parse on arbitrary text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strutil.h"
#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct mp_url u;
	struct mp_error err;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (url_parse(text, &u, &err) == MP_OK) {
		/* What passes must be safe to put on the wire. */
		if (mp_has_line_break(u.user, strlen(u.user)) ||
		    mp_has_line_break(u.host, strlen(u.host)) ||
		    mp_has_line_break(u.path, strlen(u.path)))
			abort();
		if (u.path[0] ? u.port != 0 || u.host[0] :
				u.port < 1 || u.port > 65535 || !u.host[0])
			abort();
	} else if (err.status != MP_ERR_USAGE || !err.msg[0] ||
		   strchr(err.msg, '\n')) {
		abort();
	}
	free(text);
	return 0;
}
