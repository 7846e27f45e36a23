/* Strict UTF-8 validation (RFC 3629). */
#include "utf8.h"

size_t utf8_seq_len(const unsigned char *s, size_t len)
{
	unsigned char c;
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf;

	if (len == 0)
		return 0;
	c = s[0];
	if (c < 0x80)
		return 1;
	if (c < 0xc2)
		return 0;   /* continuation byte or overlong two-byte lead */
	if (c < 0xe0) {
		n = 2;
	} else if (c < 0xf0) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;   /* overlong */
		else if (c == 0xed)
			hi = 0x9f;   /* surrogates */
	} else if (c < 0xf5) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;   /* overlong */
		else if (c == 0xf4)
			hi = 0x8f;   /* above U+10FFFF */
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

bool utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		size_t n;

		if (p[i] < 0x80) {
			i++;
			continue;
		}
		n = utf8_seq_len(p + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}
