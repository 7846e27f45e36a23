/* Spooling: every outgoing message first lands in an unlinked temp file,
 * so its size and content are known before the first byte goes out, and
 * a queued or refused message can be kept without reading stdin again. */
#include "mailsend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtpdata.h"
#include "strutil.h"

#define CHUNK 65536

static enum mp_status temp_file(int *fd, struct mp_error *err)
{
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
#ifdef O_TMPFILE
	*fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (*fd >= 0)
		return MP_OK;
#endif
	char path[4096];
	snprintf(path, sizeof path, "%s/mailsend.XXXXXX", dir);
	*fd = mkstemp(path);
	if (*fd < 0)
		return mp_fail(err, MP_ERR_IO, "cannot create a temp file in %s: %s",
			       dir, strerror(errno));
	unlink(path);
	return MP_OK;
}

static enum mp_status write_all(int fd, const char *buf, size_t n,
				struct mp_error *err)
{
	while (n > 0) {
		ssize_t w = write(fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return mp_fail(err, MP_ERR_IO, "cannot write the spooled message: %s",
				       strerror(errno));
		buf += w;
		n -= (size_t)w;
	}
	return MP_OK;
}

static void record(struct outgoing *out, const struct smtpdata *sd)
{
	out->size = (long long)sd->msg_bytes;
	out->has_8bit = sd->saw_8bit;
	out->has_nul = sd->saw_nul;
	out->longest_line = sd->longest;
}

/* Scan the whole spooled file for its statistics and rewind it. */
static enum mp_status scan(struct outgoing *out, struct mp_error *err)
{
	struct smtpdata sd;
	smtpdata_init(&sd, SMTPDATA_BDAT);
	char *in = mp_xmalloc(CHUNK), *scratch = mp_xmalloc(SMTPDATA_OUT_MAX(CHUNK));
	enum mp_status st = MP_OK;
	off_t off = 0;
	for (;;) {
		ssize_t n = pread(out->fd, in, CHUNK, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			st = mp_fail(err, MP_ERR_IO, "cannot read the spooled message: %s",
				     strerror(errno));
			break;
		}
		if (n == 0)
			break;
		smtpdata_feed(&sd, in, (size_t)n, scratch);
		off += n;
	}
	char tail[SMTPDATA_FINISH_MAX];
	smtpdata_finish(&sd, tail);
	record(out, &sd);
	free(in);
	free(scratch);
	if (st == MP_OK && lseek(out->fd, 0, SEEK_SET) < 0)
		st = mp_fail(err, MP_ERR_IO, "cannot rewind the spooled message: %s",
			     strerror(errno));
	return st;
}

/* Copy n bytes of buf to the spool, stopping at a lone "." line when
 * asked. *ended reports that the message ended inside buf. The state
 * (at line start, a held-back ".", ".\r") spans calls. */
struct dot_state {
	bool bol;
	int held;            /* 0, 1 (".") or 2 (".\r") bytes held back */
};

static enum mp_status copy_chunk(int fd, const char *buf, size_t n,
				 enum spool_end end, struct dot_state *ds,
				 bool *ended, char *out, struct mp_error *err)
{
	if (end == SPOOL_TO_EOF)
		return write_all(fd, buf, n, err);
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = buf[i];
		if (ds->held == 1 && (c == '\n' || c == '\r')) {
			if (c == '\n') {
				*ended = true;
				break;
			}
			ds->held = 2;
			continue;
		}
		if (ds->held == 2 && c == '\n') {
			*ended = true;
			break;
		}
		if (ds->held) {
			out[o++] = '.';
			if (ds->held == 2)
				out[o++] = '\r';
			ds->held = 0;
			ds->bol = false;
		}
		if (ds->bol && c == '.') {
			ds->held = 1;
			continue;
		}
		out[o++] = c;
		ds->bol = c == '\n';
	}
	return write_all(fd, out, o, err);
}

enum mp_status spool_copy(int in, enum spool_end end, struct outgoing *out,
			  struct mp_error *err)
{
	memset(out, 0, sizeof *out);
	out->fd = -1;
	enum mp_status st = temp_file(&out->fd, err);
	if (st != MP_OK)
		return st;
	char *buf = mp_xmalloc(CHUNK), *scratch = mp_xmalloc(CHUNK + 4);
	struct dot_state ds = { true, 0 };
	bool ended = false;
	while (st == MP_OK && !ended) {
		ssize_t n = read(in, buf, CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			st = mp_fail(err, MP_ERR_IO, "cannot read the message: %s",
				     strerror(errno));
			break;
		}
		if (n == 0)
			break;
		st = copy_chunk(out->fd, buf, (size_t)n, end, &ds, &ended, scratch, err);
	}
	if (st == MP_OK && !ended && ds.held) {
		/* Input ended right after a "." or ".\r" that ended nothing. */
		st = write_all(out->fd, ".\r", (size_t)ds.held, err);
	}
	free(buf);
	free(scratch);
	if (st == MP_OK)
		st = scan(out, err);
	return st;
}

enum mp_status spool_create(struct outgoing *out, FILE **stream,
			    struct mp_error *err)
{
	memset(out, 0, sizeof *out);
	out->fd = -1;
	enum mp_status st = temp_file(&out->fd, err);
	if (st != MP_OK)
		return st;
	int dupfd = dup(out->fd);
	*stream = dupfd >= 0 ? fdopen(dupfd, "w") : NULL;
	if (!*stream) {
		if (dupfd >= 0)
			close(dupfd);
		return mp_fail(err, MP_ERR_IO, "cannot open the spool: %s",
			       strerror(errno));
	}
	return MP_OK;
}

enum mp_status spool_seal(struct outgoing *out, FILE *stream,
			  struct mp_error *err)
{
	bool failed = fflush(stream) != 0 || ferror(stream);
	int saved = errno;
	if (fclose(stream) != 0)
		failed = true;
	if (failed)
		return mp_fail(err, MP_ERR_IO, "cannot write the spooled message: %s",
			       strerror(saved ? saved : errno));
	return scan(out, err);
}

void outgoing_free(struct outgoing *msg)
{
	if (msg->fd >= 0)
		close(msg->fd);
	msg->fd = -1;
	free(msg->from);
	msg->from = NULL;
	strlist_clear(&msg->rcpts);
}

enum mp_status spool_rescan(struct outgoing *msg, struct mp_error *err)
{
	return scan(msg, err);
}
