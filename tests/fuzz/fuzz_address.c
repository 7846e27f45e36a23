/* libFuzzer target: address-list parsing and envelope checks. Whatever is
 * accepted must be safe to put on the wire. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct address_list l = { 0 };
	struct mp_error err;
	unsigned flags;
	const char *s;
	char *z;

	if (size < 1)
		return 0;
	flags = data[0] & (ADDRESS_ALLOW_LOCAL | ADDRESS_ERR_DATA);
	s = (const char *)data + 1;
	size--;

	if (address_parse_list(s, size, flags, &l, &err) == MP_OK) {
		if (l.n > ADDRESS_LIST_MAX || memchr(s, '\r', size) ||
		    memchr(s, '\n', size) || memchr(s, '\0', size))
			abort();
		for (size_t i = 0; i < l.n; i++) {
			const char *a = l.v[i].addr, *n = l.v[i].name;

			if (!a || !n || strlen(a) == 0 ||
			    strlen(a) > ADDRESS_LEN_MAX ||
			    strlen(n) > ADDRESS_LEN_MAX ||
			    strpbrk(a, "\r\n\t<>") != NULL ||
			    (a[0] != '"' && strpbrk(a, " ,") != NULL) ||
			    strpbrk(n, "\r\n") != NULL)
				abort();
			if (address_check_envelope(a, flags, &err) != MP_OK)
				abort();
			if (!(flags & ADDRESS_ALLOW_LOCAL) && !strchr(a, '@'))
				abort();
		}
	} else {
		if (l.n != 0 || err.msg[0] == '\0' ||
		    err.status != ((flags & ADDRESS_ERR_DATA) ? MP_ERR_DATA
							       : MP_ERR_USAGE))
			abort();
	}
	address_list_free(&l);

	/* The envelope check alone, on the input as a C string. */
	z = malloc(size + 1);
	if (!z)
		abort();
	memcpy(z, s, size);
	z[size] = '\0';
	if (address_check_envelope(z, flags, &err) == MP_OK &&
	    (strpbrk(z, "\r\n\t<>") != NULL || strlen(z) > ADDRESS_LEN_MAX))
		abort();
	(void)address_needs_smtputf8(z);
	free(z);
	return 0;
}
