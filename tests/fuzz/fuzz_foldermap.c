/* libFuzzer target: folder-name mapping. The first byte picks the layout,
 * the second the hierarchy delimiter, the rest is the server's name. A
 * mapped name must be a safe relative path within the limits and map back
 * to exactly the name; only NUL or length may stop the mapping. The
 * reverse mapping is also fed raw bytes and must never yield a NUL. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "foldermap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_maildir_subdir(const char *c, size_t n)
{
	return n == 3 && (!memcmp(c, "cur", 3) || !memcmp(c, "new", 3) ||
			  !memcmp(c, "tmp", 3));
}

static void check_safe(const char *p, enum foldermap_layout layout)
{
	size_t len = strlen(p);

	if (len == 0)
		return;
	if (len > FOLDERMAP_PATH_MAX || p[0] == '/')
		abort();
	for (const unsigned char *q = (const unsigned char *)p; *q; q++)
		if (*q < 0x20 || *q == 0x7f || *q == '\\')
			abort();
	if (layout == FOLDERMAP_MAILDIRPP) {
		if (p[0] != '.' || strchr(p, '/') || strstr(p, "..") ||
		    len < 2 || len > FOLDERMAP_COMPONENT_MAX)
			abort();
		return;
	}
	for (;;) {
		size_t n = strcspn(p, "/");

		if (n == 0 || n > FOLDERMAP_COMPONENT_MAX || p[0] == '.' ||
		    is_maildir_subdir(p, n))
			abort();
		if (!p[n])
			break;
		p += n + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum foldermap_layout layout;
	const char *name;
	struct mp_error err;
	char delim, *local, *back;
	size_t len, blen;
	enum mp_status st;

	if (size < 2)
		return 0;
	layout = data[0] & 1 ? FOLDERMAP_NESTED : FOLDERMAP_MAILDIRPP;
	delim = (char)data[1];
	name = (const char *)data + 2;
	len = size - 2;

	st = foldermap_to_local(name, len, delim, layout, &local, &err);
	if (st == MP_OK) {
		check_safe(local, layout);
		if (foldermap_to_server(local, strlen(local), delim, layout,
					&back, &blen, &err) != MP_OK)
			abort();
		if (foldermap_is_inbox(name, len)) {
			if (local[0] || strcmp(back, "INBOX") != 0)
				abort();
		} else if (!local[0] || blen != len ||
			   memcmp(back, name, len) != 0) {
			abort();
		}
		free(back);
		free(local);
	} else if (local || (st == MP_ERR_PROTOCOL) != !!memchr(name, 0, len) ||
		   (st != MP_ERR_PROTOCOL && st != MP_ERR_DATA)) {
		abort();
	}

	if (foldermap_to_server(name, len, delim, layout, &back, &blen,
				&err) == MP_OK) {
		if (strlen(back) != blen || blen > FOLDERMAP_PATH_MAX + 5)
			abort();
		free(back);
	} else if (back) {
		abort();
	}
	return 0;
}
