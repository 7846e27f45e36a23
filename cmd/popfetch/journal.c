#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "durable.h"
#include "mbox.h"
#include "strutil.h"

/* Write the journal whole and durably: temp file, fsync, rename. */
static enum mp_status write_journal(const char *path, const char *head,
				    const char *const *uidls,
				    const char *const *names, size_t n,
				    struct mp_error *err)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return mp_fail(err, MP_ERR_INTERNAL, "out of memory");
	fprintf(f, "%s\n", head);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s %s\n", uidls[i], names ? names[i] : "-");
	fclose(f);
	enum mp_status st = durable_replace(path, buf, len, true, err);
	free(buf);
	return st;
}

enum mp_status journal_maildir(const char *path, const char *const *uidls,
			       const char *const *names, size_t n,
			       struct mp_error *err)
{
	return write_journal(path, "maildir", uidls, names, n, err);
}

enum mp_status journal_mbox(const char *path, const char *mbox_path,
			    long long size, const char *const *uidls, size_t n,
			    struct mp_error *err)
{
	char head[4200];
	snprintf(head, sizeof head, "mbox %lld %s", size, mbox_path);
	return write_journal(path, head, uidls, NULL, n, err);
}

enum mp_status journal_clear(const char *path, struct mp_error *err)
{
	if (unlink(path) < 0 && errno != ENOENT)
		return mp_fail(err, MP_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
	return durable_parent(path, err);
}

enum mp_status journal_replay(const char *path, struct maildir *md,
			      struct uidl_state *st, const char *state_path,
			      size_t *recovered, struct mp_error *err)
{
	*recovered = 0;
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? MP_OK
			: mp_fail(err, MP_ERR_IO, "cannot read %s: %s", path, strerror(errno));
	char line[8400];
	enum mp_status s = MP_OK;
	bool is_mbox = false, is_maildir = false;
	if (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		long long size;
		int off = 0;
		if (!strcmp(line, "maildir")) {
			is_maildir = true;
		} else if (sscanf(line, "mbox %lld %n", &size, &off) == 1 && off > 0) {
			is_mbox = true;
			/* Cut the mbox back first: then forgetting is safe. */
			s = mbox_truncate_to(line + off, size, err);
		}
	}
	time_t now = time(NULL);
	while (s == MP_OK && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		char *sp = strchr(line, ' ');
		if (!sp)
			continue;
		*sp = '\0';
		if (is_mbox) {
			if (state_has(st, line)) {
				state_remove(st, line);
				++*recovered;
			}
		} else if (is_maildir && md && maildir_has(md, basename(sp + 1)) &&
			   !state_has(st, line)) {
			state_add(st, line, now);
			++*recovered;
		}
	}
	fclose(f);
	if (s == MP_OK && (is_mbox || is_maildir) && !md && is_maildir)
		return mp_fail(err, MP_ERR_USAGE,
			       "%s is left from a run into a Maildir; run popfetch with "
			       "that --maildir once to recover it", path);
	if (s == MP_OK)
		s = state_save(st, state_path, err);
	if (s == MP_OK)
		s = journal_clear(path, err);
	return s;
}
