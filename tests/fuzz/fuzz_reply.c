/* libFuzzer target: the SMTP, POP3 and IMAP line classifiers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* p must point into line[0..len) or be an empty string elsewhere. */
static void within(const char *p, const char *line, size_t len)
{
	uintptr_t a = (uintptr_t)p, lo = (uintptr_t)line;

	if (!p)
		abort();
	if (a >= lo && a < lo + len)
		return;
	if (*p != '\0')
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A private copy with no terminator, so reading past len is caught. */
	char *line = malloc(size ? size : 1);
	struct smtp_reply_line s;
	struct imap_line im;
	const char *text;
	char code[64];

	if (!line)
		abort();
	memcpy(line, data, size);

	if (smtp_parse_reply_line(line, size, &s)) {
		if (s.code < 200 || s.code > 599)
			abort();
		within(s.text, line, size);
	}

	if (pop3_parse_status(line, size, &text, code) != POP3_BAD)
		within(text, line, size);
	if (strnlen(code, sizeof(code)) >= sizeof(code))
		abort();

	imap_parse_line(line, size, &im);
	if (strnlen(im.tag, sizeof(im.tag)) >= sizeof(im.tag) ||
	    strnlen(im.code, sizeof(im.code)) >= sizeof(im.code))
		abort();
	if (im.kind == IMAP_BAD_LINE && (im.literal != -1 || im.tag[0]))
		abort();
	if (im.kind != IMAP_BAD_LINE) {
		within(im.text, line, size);
		within(im.rest, line, size);
	}
	if (im.code_args && (im.code_args < line ||
			     im.code_args + im.code_args_len > line + size))
		abort();
	if (im.literal < -1 || im.literal > (1LL << 62))
		abort();
	free(line);
	return 0;
}
