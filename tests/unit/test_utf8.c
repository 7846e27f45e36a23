/* Unit tests for common/utf8.c: strict RFC 3629 validation. */
#include <string.h>

#include "tap.h"
#include "utf8.h"

int main(void)
{
	static const char *const good[] = {
		"", "ascii", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
		"\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf",
		"\xee\x80\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80",
		"\xf4\x8f\xbf\xbf",
	};
	static const char *const bad[] = {
		"\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xc2", "\xc2\x41",
		"\xe0\x80\x80", "\xe0\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf",
		"\xe2\x82", "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf",
		"\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "\xfe",
		"a\xc3", "\xe2\x82\xac\x80",
	};
	const unsigned char euro[] = { 0xe2, 0x82, 0xac };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ok(utf8_valid(good[i], strlen(good[i])), "valid %zu", i);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(!utf8_valid(bad[i], strlen(bad[i])), "invalid %zu", i);
	ok(utf8_valid("a\0b", 3), "NUL is valid UTF-8");
	is_int(utf8_seq_len(euro, 3), 3, "euro sign is 3 bytes");
	is_int(utf8_seq_len(euro, 2), 0, "truncated euro sign");
	is_int(utf8_seq_len((const unsigned char *)"a", 1), 1, "ASCII is 1");
	is_int(utf8_seq_len(euro, 0), 0, "nothing is 0");
	return tap_done();
}
