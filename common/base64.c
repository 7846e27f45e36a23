/* RFC 4648 base64, strict on input. */
#include "base64.h"

#include <stdint.h>

static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encoded_size(size_t n)
{
	return (n + 2) / 3 * 4 + 1;
}

size_t base64_encode(const void *in, size_t n, char *out)
{
	const unsigned char *p = in;
	size_t o = 0;

	while (n >= 3) {
		uint32_t v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];

		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = alphabet[v >> 6 & 63];
		out[o++] = alphabet[v & 63];
		p += 3;
		n -= 3;
	}
	if (n > 0) {
		uint32_t v = (uint32_t)p[0] << 16;

		if (n == 2)
			v |= (uint32_t)p[1] << 8;
		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = n == 2 ? alphabet[v >> 6 & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

int base64_digit(unsigned char c, char last)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == (unsigned char)last)
		return 63;
	return -1;
}

static int b64val(unsigned char c)
{
	return base64_digit(c, '/');
}

bool base64_decode(const char *text, size_t len, unsigned char *out,
		   size_t *outlen)
{
	const unsigned char *t = (const unsigned char *)text;
	size_t o = 0;

	*outlen = 0;
	if (len % 4 != 0)
		return false;
	for (size_t i = 0; i < len; i += 4) {
		bool final = i + 4 == len;
		int a = b64val(t[i]), b = b64val(t[i + 1]);
		int c = b64val(t[i + 2]), d = b64val(t[i + 3]);
		uint32_t v;

		if (a < 0 || b < 0)
			return false;
		v = (uint32_t)a << 18 | (uint32_t)b << 12;
		if (final && t[i + 2] == '=' && t[i + 3] == '=') {
			/* Unused bits must be zero so each input has one meaning. */
			if (v & 0xffff)
				return false;
			out[o++] = (unsigned char)(v >> 16);
			break;
		}
		if (c < 0)
			return false;
		v |= (uint32_t)c << 6;
		if (final && t[i + 3] == '=') {
			if (v & 0xff)
				return false;
			out[o++] = (unsigned char)(v >> 16);
			out[o++] = (unsigned char)(v >> 8);
			break;
		}
		if (d < 0)
			return false;
		v |= (uint32_t)d;
		out[o++] = (unsigned char)(v >> 16);
		out[o++] = (unsigned char)(v >> 8);
		out[o++] = (unsigned char)v;
	}
	*outlen = o;
	return true;
}
