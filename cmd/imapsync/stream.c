/* --stdout and --mda: each new message handed on as it arrives; after a
 * UIDVALIDITY change, held in a spool file first, until its content hash
 * tells whether it was handed on before under the old UIDs. What is handed
 * on is recorded as "=" and the hex SHA-256 of its bytes. */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "durable.h"
#include "strutil.h"

enum { PIECE = 16384 };

enum mp_status stream_begin(struct worker *w, const struct imap_msginfo *info,
			    struct mp_error *err)
{
	if (w->sh->opts->output == OUT_STDOUT) {
		mboxrd_quote_init(&w->quote);
		pthread_mutex_lock(&w->sh->lock);   /* held until the message ends */
		w->stdout_locked = true;
		time_t t = info->internaldate ? info->internaldate : time(NULL);
		printf("From MAILER-DAEMON %s", asctime(gmtime(&t)));
		return MP_OK;
	}
	char uid[32], *env[4];
	snprintf(uid, sizeof uid, "%" PRIu32, info->uid);
	size_t n1 = strlen(w->res->name) + 20;
	env[0] = mp_xmalloc(n1);
	snprintf(env[0], n1, "MAILPIPE_FOLDER=%s", w->res->name);
	env[1] = mp_xmalloc(64);
	snprintf(env[1], 64, "MAILPIPE_UID=%s", uid);
	env[2] = mp_xmalloc(300);
	snprintf(env[2], 300, "MAILPIPE_FLAGS=%s", info->flags);
	env[3] = NULL;
	enum mp_status st = mda_start(&w->cur_mda, w->sh->opts->target,
				      (const char *const *)env, err);
	for (int i = 0; i < 3; i++)
		free(env[i]);
	return st;
}

enum mp_status stream_data(struct worker *w, const char *buf, size_t len,
			   struct mp_error *err)
{
	if (w->sh->opts->output == OUT_MDA)
		return mda_write(w->cur_mda, buf, len, err);
	char out[MBOXRD_QUOTE_MAX(PIECE)];
	for (size_t off = 0; off < len; off += PIECE) {
		size_t n = len - off > PIECE ? PIECE : len - off;
		size_t k = mboxrd_quote_feed(&w->quote, buf + off, n, out);
		if (fwrite(out, 1, k, stdout) != k)
			return mp_fail(err, MP_ERR_IO, "cannot write to stdout: %s",
				       strerror(errno));
	}
	return MP_OK;
}

enum mp_status stream_end(struct worker *w, struct mp_error *err)
{
	if (w->sh->opts->output == OUT_MDA) {
		enum mp_status st = mda_finish(w->cur_mda, err);
		w->cur_mda = NULL;
		return st;
	}
	char out[32];
	size_t k = mboxrd_quote_finish(&w->quote, out);
	bool ok = fwrite(out, 1, k, stdout) == k && fflush(stdout) == 0;
	w->stdout_locked = false;
	pthread_mutex_unlock(&w->sh->lock);
	if (!ok)
		return mp_fail(err, MP_ERR_IO, "cannot write to stdout: %s",
			       strerror(errno));
	return MP_OK;
}

static void spool_close(struct worker *w)
{
	if (w->spooling)
		close(w->spool_fd);
	w->spooling = false;
}

void stream_abort(struct worker *w)
{
	if (w->stdout_locked) {
		w->stdout_locked = false;
		pthread_mutex_unlock(&w->sh->lock);
	}
	if (w->cur_mda)
		mda_abort(w->cur_mda);
	w->cur_mda = NULL;
	spool_close(w);
}

/* --- after a UIDVALIDITY change --- */

enum mp_status spool_begin(struct worker *w, struct mp_error *err)
{
	char path[4200];
	if (!PATHF(path, "%s/.mailpipe-spool.XXXXXX", w->sh->opts->state_dir))
		return mp_fail(err, MP_ERR_IO, "state directory path too long");
	int fd = mkstemp(path);
	if (fd < 0)
		return mp_fail(err, MP_ERR_IO, "cannot create %s: %s", path,
			       strerror(errno));
	unlink(path);   /* gone with the process, whatever happens */
	w->spool_fd = fd;
	w->spooling = true;
	return MP_OK;
}

enum mp_status spool_data(struct worker *w, const char *buf, size_t len,
			  struct mp_error *err)
{
	if (durable_write_all(w->spool_fd, buf, len) != 0)
		return mp_fail(err, MP_ERR_IO, "cannot write the spool file in %s: %s",
			       w->sh->opts->state_dir, strerror(errno));
	return MP_OK;
}

enum mp_status spool_deliver(struct worker *w, struct mp_error *err)
{
	char buf[PIECE];
	enum mp_status st = MP_OK;
	if (lseek(w->spool_fd, 0, SEEK_SET) < 0)
		st = mp_fail(err, MP_ERR_IO, "cannot read the spool file: %s",
			     strerror(errno));
	if (st == MP_OK)
		st = stream_begin(w, w->cur, err);
	while (st == MP_OK) {
		ssize_t n = read(w->spool_fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			st = mp_fail(err, MP_ERR_IO, "cannot read the spool file: %s",
				     strerror(errno));
		else if (n == 0)
			break;
		else
			st = stream_data(w, buf, (size_t)n, err);
	}
	if (st == MP_OK)
		st = stream_end(w, err);
	spool_close(w);
	return st;
}

void spool_drop(struct worker *w)
{
	spool_close(w);
}

char *delivered_name(const unsigned char sum[32])
{
	char *name = mp_xmalloc(66);
	name[0] = '=';
	for (int i = 0; i < 32; i++)
		snprintf(name + 1 + 2 * i, 3, "%02x", sum[i]);
	return name;
}

void index_delivered(struct worker *w, uint32_t uidvalidity)
{
	for (size_t i = 0; i < w->fs.nuids; i++) {
		const struct uid_entry *e = &w->fs.uids[i];
		unsigned char sum[32];
		bool ok = e->uidvalidity == uidvalidity && e->name[0] == '=' &&
			  strlen(e->name) == 65;
		for (int k = 0; ok && k < 32; k++) {
			unsigned v;
			ok = sscanf(e->name + 1 + 2 * k, "%2x", &v) == 1;
			sum[k] = (unsigned char)v;
		}
		if (ok)
			know_message(w, sum, e->name);
	}
}
