/* Reading and rewriting the header of a spooled message. */
#include "mailsend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "strutil.h"

/* A header larger than this is not something mailsend should edit. */
#define MAX_HEADER (1024 * 1024)

/* Read the raw header block (through its terminating empty line, if any)
 * into a new buffer; *len is its length. */
static enum mp_status read_header_block(int fd, char **out, size_t *len,
					struct mp_error *err)
{
	char *buf = mp_xmalloc(MAX_HEADER + 1);
	size_t got = 0;
	while (got < MAX_HEADER) {
		ssize_t n = pread(fd, buf + got, MAX_HEADER - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return mp_fail(err, MP_ERR_IO, "cannot read the message: %s",
				       strerror(errno));
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	/* Find the end: an empty line (LF LF, or LF CR LF), or the start. */
	size_t end = got;
	if (got >= 1 && (buf[0] == '\n' || (got >= 2 && buf[0] == '\r' && buf[1] == '\n')))
		end = 0;
	for (size_t i = 0; i + 1 < got && end == got; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			end = i + 1;
		else if (buf[i + 1] == '\r' && i + 2 < got && buf[i + 2] == '\n')
			end = i + 1;
	}
	if (end == got && got == MAX_HEADER) {
		free(buf);
		return mp_fail(err, MP_ERR_DATA, "the message header is larger than %d bytes",
			       MAX_HEADER);
	}
	buf[end] = '\0';
	*out = buf;
	*len = end;
	return MP_OK;
}

/* Length of the field starting at p: through its continuation lines. */
static size_t field_len(const char *p, const char *end)
{
	const char *q = p;
	for (;;) {
		const char *nl = memchr(q, '\n', (size_t)(end - q));
		if (!nl)
			return (size_t)(end - p);
		q = nl + 1;
		if (q >= end || (*q != ' ' && *q != '\t'))
			return (size_t)(q - p);
	}
}

static bool field_named(const char *field, size_t len, const char *name)
{
	size_t n = strlen(name);
	return len > n && strncasecmp(field, name, n) == 0 && field[n] == ':';
}

enum mp_status message_headers(const struct outgoing *msg,
			       struct strlist *fields, struct mp_error *err)
{
	char *block;
	size_t len;
	enum mp_status st = read_header_block(msg->fd, &block, &len, err);
	if (st != MP_OK)
		return st;
	const char *p = block, *end = block + len;
	while (p < end) {
		size_t n = field_len(p, end);
		/* Unfold: drop each line break, keep the blanks after it. */
		char *copy = mp_xmalloc(n + 1);
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			if (p[i] != '\r' && p[i] != '\n')
				copy[k++] = p[i];
		copy[k] = '\0';
		if (strchr(copy, ':'))
			strlist_add(fields, copy);
		free(copy);
		p += n;
	}
	free(block);
	return MP_OK;
}

const char *header_value(const struct strlist *fields, const char *name)
{
	for (size_t i = 0; i < fields->n; i++) {
		const char *f = fields->v[i];
		if (field_named(f, strlen(f), name)) {
			f += strlen(name) + 1;
			while (*f == ' ' || *f == '\t')
				f++;
			return f;
		}
	}
	return NULL;
}

static bool dropped(const char *field, size_t len, const char *const *drop)
{
	for (size_t i = 0; drop && drop[i]; i++)
		if (field_named(field, len, drop[i]))
			return true;
	return false;
}

enum mp_status message_rewrite(struct outgoing *msg, const char *const *drop,
			       const char *replace_from, struct mp_error *err)
{
	char *block;
	size_t len;
	enum mp_status st = read_header_block(msg->fd, &block, &len, err);
	if (st != MP_OK)
		return st;
	struct outgoing fresh;
	FILE *out;
	st = spool_create(&fresh, &out, err);
	if (st != MP_OK) {
		free(block);
		outgoing_free(&fresh);
		return st;
	}
	const char *p, *end = block + len;
	bool has_from = false;
	for (p = block; p < end; p += field_len(p, end))
		has_from |= field_named(p, field_len(p, end), "From");
	/* Without a From field the new one goes first. */
	if (replace_from && !has_from)
		fprintf(out, "%s\n", replace_from);
	bool from_done = false;
	for (p = block; p < end; p += field_len(p, end)) {
		size_t n = field_len(p, end);
		if (replace_from && field_named(p, n, "From")) {
			if (!from_done)
				fprintf(out, "%s\n", replace_from);
			from_done = true;
		} else if (!dropped(p, n, drop)) {
			fwrite(p, 1, n, out);
		}
	}
	free(block);
	/* The body, with the empty line before it, unchanged. */
	char buf[65536];
	off_t off = (off_t)len;
	ssize_t n;
	while (st == MP_OK && (n = pread(msg->fd, buf, sizeof buf, off)) > 0) {
		fwrite(buf, 1, (size_t)n, out);
		off += n;
	}
	st = spool_seal(&fresh, out, err);
	if (st != MP_OK) {
		outgoing_free(&fresh);
		return st;
	}
	close(msg->fd);
	msg->fd = fresh.fd;
	msg->size = fresh.size;
	msg->has_8bit = fresh.has_8bit;
	msg->has_nul = fresh.has_nul;
	msg->longest_line = fresh.longest_line;
	return MP_OK;
}
