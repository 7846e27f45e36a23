#include "folderstate.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "durable.h"
#include "strutil.h"

#define STATE_FILE "mailpipe-state"
#define UIDS_FILE "mailpipe-uids"

static void path_of(const struct folder_state *fs, const char *file,
		    char *out, size_t size)
{
	snprintf(out, size, "%s/%s%s", fs->dir, fs->dotted ? "." : "", file);
}

static int cmp_entry(const void *a, const void *b)
{
	const struct uid_entry *x = a, *y = b;
	if (x->uidvalidity != y->uidvalidity)
		return x->uidvalidity < y->uidvalidity ? -1 : 1;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* A decimal number that fits 32 bits, at *p; *p moves past it. */
static bool parse_u32(const char **p, uint32_t *out)
{
	uint64_t v = 0;
	const char *q = *p;
	if (*q < '0' || *q > '9')
		return false;
	while (*q >= '0' && *q <= '9') {
		v = v * 10 + (uint64_t)(*q++ - '0');
		if (v > UINT32_MAX)
			return false;
	}
	*out = (uint32_t)v;
	*p = q;
	return true;
}

/* Sorted already (as appended, in UID order), or made so. */
static void sort_uids(struct folder_state *fs)
{
	for (size_t i = 1; i < fs->nuids; i++) {
		if (cmp_entry(&fs->uids[i - 1], &fs->uids[i]) > 0) {
			qsort(fs->uids, fs->nuids, sizeof *fs->uids, cmp_entry);
			return;
		}
	}
}

static void add(struct folder_state *fs, uint32_t v, uint32_t uid, const char *name)
{
	if (fs->nuids == fs->capuids) {
		fs->capuids = fs->capuids ? fs->capuids * 2 : 256;
		fs->uids = mp_xrealloc(fs->uids, fs->capuids * sizeof *fs->uids);
	}
	fs->uids[fs->nuids++] = (struct uid_entry){ v, uid, mp_xstrdup(name) };
}

enum mp_status folder_state_load_summary(const char *dir, bool dotted,
					 struct folder_state *fs,
					 struct mp_error *err)
{
	memset(fs, 0, sizeof *fs);
	fs->dir = mp_xstrdup(dir);
	fs->dotted = dotted;
	char path[4200], line[1024];
	path_of(fs, STATE_FILE, path, sizeof path);
	FILE *f = fopen(path, "re");
	if (f) {
		while (fgets(line, sizeof line, f)) {
			unsigned long long v;
			if (sscanf(line, "uidvalidity %llu", &v) == 1 && v <= UINT32_MAX)
				fs->uidvalidity = (uint32_t)v;
			else if (sscanf(line, "highestmodseq %llu", &v) == 1)
				fs->highestmodseq = v;
			else if (sscanf(line, "maxuid %llu", &v) == 1 && v <= UINT32_MAX) {
				fs->maxuid = (uint32_t)v;
				fs->has_maxuid = true;
			}
		}
		fclose(f);
	} else if (errno != ENOENT) {
		return mp_fail(err, MP_ERR_IO, "cannot read %s: %s", path, strerror(errno));
	}
	return MP_OK;
}

enum mp_status folder_state_load(const char *dir, bool dotted,
				 struct folder_state *fs, struct mp_error *err)
{
	enum mp_status st = folder_state_load_summary(dir, dotted, fs, err);
	if (st != MP_OK)
		return st;
	char path[4200], line[1024], buf[65536];
	path_of(fs, UIDS_FILE, path, sizeof path);
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? MP_OK
			: mp_fail(err, MP_ERR_IO, "cannot read %s: %s", path, strerror(errno));
	setvbuf(f, buf, _IOFBF, sizeof buf);
	unsigned lineno = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		uint32_t v, uid;
		size_t len = strcspn(line, "\n");
		bool whole = line[len] == '\n';
		line[len] = '\0';
		const char *p = line;
		if (!parse_u32(&p, &v) || *p++ != ' ' || !parse_u32(&p, &uid) ||
		    *p++ != ' ' || !*p || strchr(p, '/')) {
			/* A torn last line from a crash is expected; others not. */
			if (!whole)
				continue;
			fclose(f);
			return mp_fail(err, MP_ERR_DATA, "%s:%u: malformed line", path, lineno);
		}
		add(fs, v, uid, p);
		fs->last_uidvalidity = v;
	}
	fclose(f);
	sort_uids(fs);
	/* A state file lost to a crash before the run's final sync: the
	 * journal's latest UIDVALIDITY is the one last synced. */
	if (fs->uidvalidity == 0 && fs->last_uidvalidity) {
		fs->uidvalidity = fs->last_uidvalidity;
		fs->guessed = true;
	}
	return MP_OK;
}

static enum mp_status append(struct folder_state *fs, const struct uid_entry *e,
			     size_t n, bool durable, struct mp_error *err)
{
	if (n == 0)
		return MP_OK;
	char path[4200];
	path_of(fs, UIDS_FILE, path, sizeof path);
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return mp_fail(err, MP_ERR_IO, "cannot write %s: %s", path, strerror(errno));
	/* One buffer, one write: no torn line but the last on a crash. */
	size_t size = 0;
	for (size_t i = 0; i < n; i++)
		size += strlen(e[i].name) + 32;
	char *buf = mp_xmalloc(size + 1);
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, size + 1 - len, "%" PRIu32 " %" PRIu32 " %s\n",
					e[i].uidvalidity, e[i].uid, e[i].name);
	bool ok = durable_write_all(fd, buf, len) == 0;
	free(buf);
	if (!ok || (durable && fsync(fd) < 0)) {
		int saved = errno;
		close(fd);
		return mp_fail(err, MP_ERR_IO, "cannot write %s: %s", path, strerror(saved));
	}
	close(fd);
	for (size_t i = 0; i < n; i++)
		add(fs, e[i].uidvalidity, e[i].uid, e[i].name);
	sort_uids(fs);
	fs->last_uidvalidity = e[n - 1].uidvalidity;
	return MP_OK;
}

enum mp_status folder_state_append(struct folder_state *fs,
				   const struct uid_entry *e, size_t n,
				   struct mp_error *err)
{
	return append(fs, e, n, true, err);
}

enum mp_status folder_state_append_unsynced(struct folder_state *fs,
					    const struct uid_entry *e, size_t n,
					    struct mp_error *err)
{
	return append(fs, e, n, false, err);
}

/* Write path atomically from buf. */
static enum mp_status write_atomic(const struct folder_state *fs, const char *file,
				   const char *buf, size_t len, bool durable,
				   struct mp_error *err)
{
	char path[4200];
	path_of(fs, file, path, sizeof path);
	return durable_replace(path, buf, len, durable, err);
}

enum mp_status folder_state_save(const struct folder_state *fs,
				 struct mp_error *err)
{
	char buf[256];
	int len = snprintf(buf, sizeof buf,
			   "# mailpipe imapsync folder state 1\n"
			   "uidvalidity %" PRIu32 "\nhighestmodseq %" PRIu64 "\n"
			   "maxuid %" PRIu32 "\n",
			   fs->uidvalidity, fs->highestmodseq,
			   folder_state_max_uid(fs, fs->uidvalidity));
	return write_atomic(fs, STATE_FILE, buf, (size_t)len, false, err);
}

const struct uid_entry *folder_state_find(const struct folder_state *fs,
					  uint32_t uidvalidity, uint32_t uid)
{
	struct uid_entry key = { uidvalidity, uid, NULL };
	if (fs->nuids == 0)
		return NULL;
	return bsearch(&key, fs->uids, fs->nuids, sizeof *fs->uids, cmp_entry);
}

uint32_t folder_state_max_uid(const struct folder_state *fs, uint32_t uidvalidity)
{
	uint32_t max = 0;
	for (size_t i = 0; i < fs->nuids; i++)
		if (fs->uids[i].uidvalidity == uidvalidity && fs->uids[i].uid > max)
			max = fs->uids[i].uid;
	return max;
}

enum mp_status folder_state_compact(struct folder_state *fs,
				    bool (*exists)(void *ctx, const char *name),
				    void *ctx, struct mp_error *err)
{
	size_t k = 0, size = 1;
	for (size_t i = 0; i < fs->nuids; i++) {
		if (exists(ctx, fs->uids[i].name)) {
			fs->uids[k++] = fs->uids[i];
			size += strlen(fs->uids[i].name) + 32;
		} else {
			free(fs->uids[i].name);
		}
	}
	fs->nuids = k;
	char *buf = mp_xmalloc(size);
	size_t len = 0;
	for (size_t i = 0; i < fs->nuids; i++)
		len += (size_t)snprintf(buf + len, size - len, "%" PRIu32 " %" PRIu32 " %s\n",
					fs->uids[i].uidvalidity, fs->uids[i].uid,
					fs->uids[i].name);
	enum mp_status st = write_atomic(fs, UIDS_FILE, buf, len, true, err);
	free(buf);
	return st;
}

void folder_state_free(struct folder_state *fs)
{
	for (size_t i = 0; i < fs->nuids; i++)
		free(fs->uids[i].name);
	free(fs->uids);
	free(fs->dir);
	memset(fs, 0, sizeof *fs);
}
