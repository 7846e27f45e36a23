/* libFuzzer target: the IMAP response parser. The input is read as a
 * server's answers: lines split at LF (a CR before it dropped), and when
 * the parser asks for a literal, that many bytes taken from the input
 * right after the line (the parse stops when they run out). Each line and
 * each literal handed over lives alone in an allocation of exactly its
 * size, so reading past one is caught. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imapparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct imapp *p)
{
	const struct imapp_resp *r = &p->r;

	if (strnlen(r->tag, sizeof r->tag) >= sizeof r->tag ||
	    strnlen(r->code, sizeof r->code) >= sizeof r->code ||
	    strnlen(r->fetch.flags, sizeof r->fetch.flags) >=
	    sizeof r->fetch.flags)
		abort();
	if (!r->text || !r->code_args || !r->words)
		abort();
	/* Read them through: they must be terminated strings. */
	if (strlen(r->text) + strlen(r->code_args) + strlen(r->words) >
	    (size_t)-1 / 2)
		abort();
	if (r->mailbox && (memchr(r->mailbox, '\0', r->mailbox_len) ||
			   r->mailbox[r->mailbox_len] != '\0'))
		abort();
	if (r->kind == IMAP_TAGGED && r->cond != IMAP_COND_OK &&
	    r->cond != IMAP_COND_NO && r->cond != IMAP_COND_BAD)
		abort();
	if (r->kind == IMAP_BAD_LINE)
		abort();
	if ((r->fetch.have & IMAPP_F_UID) && r->fetch.uid == 0)
		abort();
	if (r->fetch.body && r->fetch.body_len > 0 &&
	    r->fetch.body[r->fetch.body_len] != '\0')
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imapp p = { 0 };
	size_t pos = 0;
	bool mid = false;     /* within a response */
	enum imapp_step step;

	imapp_begin(&p);
	while (pos < size) {
		const uint8_t *lf = memchr(data + pos, '\n', size - pos);
		size_t end = lf ? (size_t)(lf - data) : size, len = end - pos;
		char *line;

		if (len > 0 && data[end - 1] == '\r')
			len--;
		line = malloc(len ? len : 1);
		if (!line)
			abort();
		memcpy(line, data + pos, len);
		if (!mid)
			imapp_begin(&p);
		step = imapp_line(&p, line, len);
		free(line);
		pos = lf ? end + 1 : size;
		mid = false;
		while (step == IMAPP_LITERAL) {
			uint64_t n = p.literal;
			uint64_t cap = p.use == IMAPP_USE_VALUE ? IMAPP_VALUE_MAX
							    : IMAPP_LITERAL_MAX;

			if (n > cap)
				abort();
			if (n > size - pos)
				goto out;
			if (p.use == IMAPP_USE_VALUE) {
				char *v = malloc(n ? (size_t)n : 1);

				if (!v)
					abort();
				memcpy(v, data + pos, (size_t)n);
				step = imapp_literal(&p, v, (size_t)n);
				free(v);
			} else {
				step = imapp_literal(&p, NULL, 0);
			}
			pos += (size_t)n;
			if (step == IMAPP_MORE) {
				mid = true;
				break;
			}
		}
		if (step == IMAPP_DONE)
			check(&p);
		else if (step == IMAPP_ERROR && !p.error[0])
			abort();
	}
out:
	imapp_free(&p);
	return 0;
}
