/* --dry-run: what would be fetched, one line a message, with its From and
 * Subject where the server offers TOP (headers only, nothing marked). */
#include "preview.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rfc2047.h"
#include "strutil.h"

/* Enough header to find From and Subject in; the rest is not kept. */
#define HEAD_MAX (64 * 1024)
/* Messages asked for at a time. */
#define WINDOW 16

struct heads {
	char **text;
	size_t *len;
};

static enum mp_status head_data(void *ctx, size_t index, const char *buf,
				size_t len, struct mp_error *err)
{
	struct heads *h = ctx;
	(void)err;
	size_t room = HEAD_MAX - h->len[index];
	if (len > room)
		len = room;
	if (!h->text[index])
		h->text[index] = mp_xmalloc(HEAD_MAX + 1);
	memcpy(h->text[index] + h->len[index], buf, len);
	h->len[index] += len;
	return MP_OK;
}

/* The decoded value of header field name in head[0..len), shown safely
 * on one line; NULL if absent. */
static char *field(const char *head, size_t len, const char *name)
{
	size_t nlen = strlen(name);
	for (size_t at = 0; at < len;) {
		const char *line = head + at;
		const char *nl = memchr(line, '\n', len - at);
		size_t end = nl ? (size_t)(nl - head) + 1 : len;
		if (line[0] == '\n')
			return NULL;   /* the header's end */
		if (end - at > nlen && !strncasecmp(line, name, nlen) && line[nlen] == ':') {
			/* The value and its continuation lines. */
			size_t stop = end;
			while (stop < len && (head[stop] == ' ' || head[stop] == '\t')) {
				const char *more = memchr(head + stop, '\n', len - stop);
				stop = more ? (size_t)(more - head) + 1 : len;
			}
			char *value;
			rfc2047_decode(line + nlen + 1, stop - at - nlen - 1, &value);
			for (char *p = value; *p; p++)
				if ((unsigned char)*p < 0x20 || *p == 0x7f)
					*p = ' ';
			char *s = value;
			while (*s == ' ')
				s++;
			size_t n = strlen(s);
			while (n > 0 && s[n - 1] == ' ')
				s[--n] = '\0';
			memmove(value, s, n + 1);
			return value;
		}
		at = end;
	}
	return NULL;
}

enum mp_status preview_print(struct pop3_session *pop,
			     const struct pop3_entry *entries,
			     const size_t *todo, size_t n, struct mp_error *err)
{
	struct heads h = { mp_xcalloc(n + 1, sizeof *h.text),
			   mp_xcalloc(n + 1, sizeof *h.len) };
	unsigned long *nums = mp_xcalloc(n + 1, sizeof *nums);
	for (size_t i = 0; i < n; i++)
		nums[i] = entries[todo[i]].num;
	struct pop3_sink sink = { NULL, head_data, NULL, &h };
	enum mp_status st = n ? pop3_top(pop, nums, n, WINDOW, &sink, err) : MP_OK;
	bool heads = st == MP_OK;
	if (st == MP_ERR_UNAVAILABLE)
		st = MP_OK;   /* no TOP: the lines without From and Subject */
	for (size_t i = 0; st == MP_OK && i < n; i++) {
		const struct pop3_entry *e = &entries[todo[i]];
		printf("would fetch %lu (%llu bytes) %s", e->num, e->size, e->uidl);
		char *from = heads ? field(h.text[i] ? h.text[i] : "", h.len[i], "From") : NULL;
		char *subject = heads ? field(h.text[i] ? h.text[i] : "", h.len[i], "Subject") : NULL;
		if (heads)
			printf("  From: %s  Subject: %s", from ? from : "",
			       subject ? subject : "");
		putchar('\n');
		free(from);
		free(subject);
	}
	for (size_t i = 0; i < n; i++)
		free(h.text[i]);
	free(h.text);
	free(h.len);
	free(nums);
	return st;
}
