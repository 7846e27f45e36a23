/* RFC 4648 base64. Pure. */
#ifndef MAILPIPE_BASE64_H
#define MAILPIPE_BASE64_H

#include <stdbool.h>
#include <stddef.h>

/* Bytes needed to encode n bytes, including the terminating NUL. */
/* The value of one digit, or -1; the last digit (63) is '/' in base64
 * and ',' in IMAP's modified UTF-7 (RFC 3501). */
int base64_digit(unsigned char c, char last);

size_t base64_encoded_size(size_t n);

/* Encode in[0..n) into out (base64_encoded_size(n) bytes), NUL-terminated.
 * Returns the length without the NUL. */
size_t base64_encode(const void *in, size_t n, char *out);

/* Decode text[0..len) into out, which must hold at least len*3/4+3 bytes.
 * Strict: rejects characters outside the alphabet and bad padding;
 * whitespace is not allowed. Returns false on bad input. */
bool base64_decode(const char *text, size_t len, unsigned char *out,
		   size_t *outlen);

#endif
