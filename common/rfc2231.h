/* MIME parameter values (RFC 2045, RFC 2231), e.g. an attachment's file
 * name. Pure. */
#ifndef MAILPIPE_RFC2231_H
#define MAILPIPE_RFC2231_H

#include <stddef.h>
#include "error.h"

/* Longest value accepted, in bytes. */
#define RFC2231_MAX 1024

/* Format parameter name (an ASCII token such as "filename") with the UTF-8
 * value[0..len) as it goes after "; " in a Content-Type or
 * Content-Disposition header, into a new string *out (caller frees):
 *   filename=report.pdf                 a token
 *   filename="my report.pdf"            printable ASCII that fits
 *   filename*=utf-8''r%C3%A9sum%C3%A9.pdf   anything else
 *   filename*0*=utf-8''...; filename*1*=...   when that is too long
 * Each piece is at most 76 characters and pieces are joined by "; ", so
 * header_fold() can put every piece on a line of its own within 78
 * columns. Percent-escapes and UTF-8 sequences are never split.
 * Removing any directory part is the caller's job. Fails with MP_ERR_USAGE
 * for CR, LF or NUL, an empty value or one over RFC2231_MAX bytes, and
 * MP_ERR_DATA for invalid UTF-8 (convert from the locale first); *out is
 * then NULL. */
enum mp_status rfc2231_param(const char *name, const char *value, size_t len,
			     char **out, struct mp_error *err);

#endif
