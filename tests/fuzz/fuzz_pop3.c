/* libFuzzer target: POP3 status lines, multi-line bodies and the STAT,
 * LIST and UIDL listings. The input is read as a server's answer: split at
 * LF (CR before it dropped), the first line a status line, the rest body
 * lines, each also tried as a listing line. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pop3parse.h"
#include "reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one_line(const char *line, size_t len, size_t *out_bytes)
{
	const char *d, *text;
	size_t dlen;
	char code[64], uid[72];
	unsigned long num, count;
	unsigned long long sz;
	enum pop3_ml ml = pop3_multiline(line, len, &d, &dlen);

	if (ml == POP3_ML_END) {
		if (len != 1 || line[0] != '.')
			abort();
	} else {
		/* Unstuffing drops at most the one leading dot. */
		if (d < line || d + dlen != line + len || dlen + 1 < len)
			abort();
		if (dlen != len && line[0] != '.')
			abort();
		*out_bytes += dlen + 1;
	}

	if (pop3_parse_status(line, len, &text, code) != POP3_BAD &&
	    *text && (text < line || text > line + len))
		abort();
	if (strnlen(code, sizeof code) >= sizeof code)
		abort();

	if (pop3_parse_stat(line, len, 1000, &count, &sz) && count > 1000)
		abort();
	if (pop3_parse_list_line(line, len, 1000, &num, &sz) &&
	    (num == 0 || num > 1000))
		abort();
	memset(uid, 'x', sizeof uid);
	if (pop3_parse_uidl_line(line, len, 1000, &num, uid)) {
		size_t ulen = strnlen(uid, sizeof uid);

		if (num == 0 || num > 1000 || ulen < 1 || ulen > 70)
			abort();
		for (size_t i = 0; i < ulen; i++)
			if ((unsigned char)uid[i] < 0x21 ||
			    (unsigned char)uid[i] > 0x7e)
				abort();
		/* The UIDL is a piece of the line. */
		bool found = false;
		for (size_t i = 0; !found && i + ulen <= len; i++)
			found = !memcmp(line + i, uid, ulen);
		if (!found)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A private copy with no terminator, so reading past a line is
	 * caught. */
	char *buf = malloc(size ? size : 1);
	size_t start = 0, bytes = 0;

	if (!buf)
		abort();
	memcpy(buf, data, size);
	while (start < size) {
		char *lf = memchr(buf + start, '\n', size - start);
		size_t end = lf ? (size_t)(lf - buf) : size, len = end - start;
		char *line;

		if (len > 0 && buf[end - 1] == '\r')
			len--;
		/* Each line alone in its own allocation, exactly len long. */
		line = malloc(len ? len : 1);
		if (!line)
			abort();
		memcpy(line, buf + start, len);
		one_line(line, len, &bytes);
		free(line);
		start = end + 1;
	}
	if (bytes > 2 * size + 2)
		abort();
	free(buf);
	return 0;
}
