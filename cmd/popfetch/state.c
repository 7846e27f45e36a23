#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "durable.h"
#include "strutil.h"

/* State files larger than this are not ours. */
#define MAX_STATE_SIZE (256L * 1024 * 1024)
#define HEADER "# mailpipe popfetch state 1: first-fetched last-listed uidl\n"

struct entry {
	char *uidl;          /* NULL: empty slot; TOMBSTONE: removed */
	time_t first, last;
};

static char tombstone[] = "";
#define TOMBSTONE tombstone

/* An open-addressing hash set keyed by UIDL. */
struct uidl_state {
	struct entry *slots;
	size_t cap;          /* power of two */
	size_t used;         /* live entries */
	size_t filled;       /* live + tombstones */
};

static size_t hash(const char *s)
{
	size_t h = 14695981039346656037ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static struct entry *find(const struct uidl_state *st, const char *uidl)
{
	if (!st->cap)
		return NULL;
	for (size_t i = hash(uidl) & (st->cap - 1);; i = (i + 1) & (st->cap - 1)) {
		struct entry *e = &st->slots[i];
		if (!e->uidl)
			return NULL;
		if (e->uidl != TOMBSTONE && strcmp(e->uidl, uidl) == 0)
			return e;
	}
}

static void insert(struct uidl_state *st, char *uidl, time_t first, time_t last);

static void grow(struct uidl_state *st)
{
	struct entry *old = st->slots;
	size_t oldcap = st->cap;
	st->cap = oldcap ? oldcap * 2 : 1024;
	st->slots = mp_xcalloc(st->cap, sizeof *st->slots);
	st->used = st->filled = 0;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].uidl && old[i].uidl != TOMBSTONE)
			insert(st, old[i].uidl, old[i].first, old[i].last);
	free(old);
}

static void insert(struct uidl_state *st, char *uidl, time_t first, time_t last)
{
	if ((st->filled + 1) * 4 >= st->cap * 3)
		grow(st);
	size_t i = hash(uidl) & (st->cap - 1);
	while (st->slots[i].uidl && st->slots[i].uidl != TOMBSTONE)
		i = (i + 1) & (st->cap - 1);
	if (!st->slots[i].uidl)
		st->filled++;
	st->slots[i] = (struct entry){ uidl, first, last };
	st->used++;
}

bool state_has(const struct uidl_state *st, const char *uidl)
{
	return find(st, uidl) != NULL;
}

time_t state_first_seen(const struct uidl_state *st, const char *uidl)
{
	const struct entry *e = find(st, uidl);
	return e ? e->first : 0;
}

void state_add(struct uidl_state *st, const char *uidl, time_t now)
{
	if (!find(st, uidl))
		insert(st, mp_xstrdup(uidl), now, now);
}

void state_remove(struct uidl_state *st, const char *uidl)
{
	struct entry *e = find(st, uidl);
	if (e) {
		free(e->uidl);
		e->uidl = TOMBSTONE;
		st->used--;
	}
}

bool state_touch(struct uidl_state *st, const char *uidl, time_t now)
{
	struct entry *e = find(st, uidl);
	if (!e)
		return false;
	bool news = now - e->last > 86400;
	e->last = now;
	return news;
}

size_t state_prune(struct uidl_state *st, time_t now, time_t max_age)
{
	size_t n = 0;
	for (size_t i = 0; i < st->cap; i++) {
		struct entry *e = &st->slots[i];
		if (e->uidl && e->uidl != TOMBSTONE && now - e->last > max_age) {
			free(e->uidl);
			e->uidl = TOMBSTONE;
			st->used--;
			n++;
		}
	}
	return n;
}

size_t state_count(const struct uidl_state *st)
{
	return st->used;
}

/* A UIDL as RFC 1939 allows it: 1 to 70 characters 0x21-0x7E. */
static bool valid_uidl(const char *s, size_t len)
{
	if (len < 1 || len > 70)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

enum mp_status state_parse(const char *text, size_t len, const char *path,
			   struct uidl_state **out, struct mp_error *err)
{
	struct uidl_state *st = mp_xcalloc(1, sizeof *st);
	const char *p = text, *end = text + len;
	unsigned line = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		line++;
		size_t n = (size_t)(eol - p);
		if (n > 0 && p[0] != '#') {
			char buf[128];
			long long first, last;
			int used = 0;
			if (n >= sizeof buf)
				goto bad;
			memcpy(buf, p, n);
			buf[n] = '\0';
			if (sscanf(buf, "%lld %lld %n", &first, &last, &used) != 2 ||
			    used <= 0 || first < 0 || last < 0 ||
			    !valid_uidl(buf + used, n - (size_t)used))
				goto bad;
			if (!find(st, buf + used))
				insert(st, mp_xstrdup(buf + used), (time_t)first, (time_t)last);
		}
		p = nl ? nl + 1 : end;
	}
	*out = st;
	return MP_OK;
bad:
	state_free(st);
	return mp_fail(err, MP_ERR_CONFIG, "%s:%u: malformed state line", path, line);
}

enum mp_status state_load(const char *path, struct uidl_state **out,
			  struct mp_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) {
			*out = mp_xcalloc(1, sizeof **out);
			return MP_OK;
		}
		return mp_fail(err, MP_ERR_IO, "cannot read %s: %s", path, strerror(errno));
	}
	size_t cap = 65536, len = 0;
	char *buf = mp_xmalloc(cap);
	for (;;) {
		if (len == cap) {
			if (cap >= (size_t)MAX_STATE_SIZE) {
				close(fd);
				free(buf);
				return mp_fail(err, MP_ERR_CONFIG, "%s is too large to be a state file", path);
			}
			cap *= 2;
			buf = mp_xrealloc(buf, cap);
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			free(buf);
			return mp_fail(err, MP_ERR_IO, "cannot read %s: %s", path, strerror(errno));
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	enum mp_status st = state_parse(buf, len, path, out, err);
	free(buf);
	return st;
}

enum mp_status state_save(const struct uidl_state *st, const char *path,
			  struct mp_error *err)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return mp_fail(err, MP_ERR_INTERNAL, "out of memory");
	fputs(HEADER, f);
	for (size_t i = 0; i < st->cap; i++) {
		const struct entry *e = &st->slots[i];
		if (e->uidl && e->uidl != TOMBSTONE)
			fprintf(f, "%lld %lld %s\n", (long long)e->first, (long long)e->last,
				e->uidl);
	}
	fclose(f);
	enum mp_status r = durable_replace(path, buf, len, true, err);
	free(buf);
	return r;
}

void state_free(struct uidl_state *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->cap; i++)
		if (st->slots[i].uidl && st->slots[i].uidl != TOMBSTONE)
			free(st->slots[i].uidl);
	free(st->slots);
	free(st);
}
