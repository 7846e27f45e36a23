/* Errors: a status plus one human sentence. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum mp_status mp_fail(struct mp_error *err, enum mp_status status,
		       const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return status;
	err->status = status;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return status;
}

void mp_error_prefix(struct mp_error *err, const char *what)
{
	size_t cap = sizeof(err->msg) - 1, wlen, mlen;

	if (!err || !what || !*what)
		return;
	err->msg[cap] = '\0';
	wlen = strlen(what);
	if (wlen > cap - 2)
		wlen = cap - 2;
	mlen = strlen(err->msg);
	/* Shift the old message right, dropping its tail if it no longer fits. */
	if (mlen > cap - wlen - 2)
		mlen = cap - wlen - 2;
	memmove(err->msg + wlen + 2, err->msg, mlen);
	err->msg[wlen + 2 + mlen] = '\0';
	memcpy(err->msg, what, wlen);
	err->msg[wlen] = ':';
	err->msg[wlen + 1] = ' ';
}
