/* What the local Maildir already holds: its files by base name, for
 * flag updates and --mirror, and by content, after a UIDVALIDITY change. */
#include "worker.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "strutil.h"

/* Base name -> current file name in cur/ (or new/) of the folder. */
/* Base name -> current file name in cur/ (or new/) of the folder. */
struct listing {
	char **names;     /* "cur/BASE:2,FS" */
	size_t n;
};

static void list_dir(const char *dir, const char *sub, struct listing *l)
{
	char path[4200];
	if (!PATHF(path, "%s/%s", dir, sub))
		return;
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		l->names = mp_xrealloc(l->names, (l->n + 1) * sizeof *l->names);
		size_t size = strlen(sub) + strlen(e->d_name) + 2;
		l->names[l->n] = mp_xmalloc(size);
		snprintf(l->names[l->n], size, "%s/%s", sub, e->d_name);
		l->n++;
	}
	closedir(d);
}

static const char *find_file(const struct listing *l, const char *base)
{
	size_t blen = strlen(base);
	for (size_t i = 0; i < l->n; i++) {
		const char *name = l->names[i] + 4;   /* after "cur/" or "new/" */
		if (!strncmp(name, base, blen) && (name[blen] == '\0' || name[blen] == ':'))
			return l->names[i];
	}
	return NULL;
}

static void listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	memset(l, 0, sizeof *l);
}

enum mp_status update_flags(struct worker *w, const char *dir,
			    uint32_t maxuid, uint64_t changedsince,
			    const char *removed_dir,
			    const struct imap_msginfo *known, size_t nknown,
			    struct mp_error *err)
{
	struct imap_msginfo *fetched = NULL;
	const struct imap_msginfo *info = known;
	size_t n = nknown;
	if (maxuid == 0)
		return MP_OK;
	if (!known) {
		enum mp_status st = imap_fetch_info(w->imap, 1, maxuid,
						    w->sh->opts->mirror ? 0 : changedsince,
						    &fetched, &n, err);
		if (st != MP_OK)
			return st;
		info = fetched;
	}
	/* Those above maxuid came just now, with their flags. */
	while (n > 0 && info[n - 1].uid > maxuid)
		n--;
	if (n == 0 && !w->sh->opts->mirror) {
		/* No flag changed: no need to look at the files. */
		free(fetched);
		return MP_OK;
	}
	struct listing l = { 0 };
	list_dir(dir, "cur", &l);
	list_dir(dir, "new", &l);
	for (size_t i = 0; i < n; i++) {
		const struct uid_entry *e = folder_state_find(&w->fs, w->uidvalidity, info[i].uid);
		if (!e || !strcmp(e->name, "-"))
			continue;
		const char *cur = find_file(&l, e->name);
		if (!cur)
			continue;
		char info_s[32], want[4200], from[4200], to[4200];
		flags_to_info(info[i].flags, info_s, sizeof info_s);
		if (!PATHF(want, "cur/%s:%s", e->name, info_s) || !strcmp(cur, want) ||
		    w->sh->opts->dry_run)
			continue;
		if (PATHF(from, "%s/%s", dir, cur) && PATHF(to, "%s/%s", dir, want) &&
		    rename(from, to) == 0)
			w->res->flags_updated++;
	}
	if (w->sh->opts->mirror && removed_dir) {
		/* Kept UIDs the server did not list are gone there. */
		size_t k = 0;
		for (size_t i = 0; i < w->fs.nuids; i++) {
			const struct uid_entry *e = &w->fs.uids[i];
			/* Above maxuid: fetched just now, so on the server. */
			if (e->uidvalidity != w->uidvalidity || !strcmp(e->name, "-") ||
			    e->uid > maxuid)
				continue;
			while (k < n && info[k].uid < e->uid)
				k++;
			if (k < n && info[k].uid == e->uid)
				continue;
			const char *cur = find_file(&l, e->name);
			if (!cur || w->sh->opts->dry_run)
				continue;
			char from[4200], to[4200];
			if (PATHF(from, "%s/%s", dir, cur) &&
			    PATHF(to, "%s/%s", removed_dir, cur) && rename(from, to) == 0)
				w->res->removed++;
		}
	}
	listing_free(&l);
	free(fetched);
	return MP_OK;
}

void index_local(struct worker *w, const char *dir)
{
	struct listing l = { 0 };
	list_dir(dir, "cur", &l);
	list_dir(dir, "new", &l);
	w->known = mp_xcalloc(l.n + 1, sizeof *w->known);
	for (size_t i = 0; i < l.n; i++) {
		char path[4200];
		FILE *f = PATHF(path, "%s/%s", dir, l.names[i]) ? fopen(path, "re") : NULL;
		if (!f)
			continue;
		gnutls_hash_hd_t h;
		if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) {
			fclose(f);
			continue;
		}
		char buf[65536];
		size_t got;
		while ((got = fread(buf, 1, sizeof buf, f)) > 0)
			gnutls_hash(h, buf, got);
		fclose(f);
		gnutls_hash_deinit(h, w->known[w->nknown].sum);
		char *base = mp_xstrdup(l.names[i] + 4);
		base[strcspn(base, ":")] = '\0';
		w->known[w->nknown++].name = base;
	}
	listing_free(&l);
}

/* An mbox message found by mboxout_index. */
void know_message(void *ctx, const unsigned char sum[32], const char *name)
{
	struct worker *w = ctx;
	w->known = mp_xrealloc(w->known, (w->nknown + 1) * sizeof *w->known);
	memcpy(w->known[w->nknown].sum, sum, sizeof w->known[w->nknown].sum);
	w->known[w->nknown++].name = mp_xstrdup(name);
}

void free_known(struct worker *w)
{
	for (size_t i = 0; i < w->nknown; i++)
		free(w->known[i].name);
	free(w->known);
	w->known = NULL;
	w->nknown = 0;
}
