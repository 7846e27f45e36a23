#include "state.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "durable.h"
#include "strutil.h"

/* State files larger than this are not ours. */
#define MAX_STATE_SIZE (256L * 1024 * 1024)
#define HEADER "# mailpipe popfetch state 1: first-fetched last-listed uidl\n"
/* The maildrop as last seen whole. A comment to readers that know no
 * summary, so an older popfetch still reads the file. */
#define SUMMARY "#@ maildrop "

struct entry {
	char *uidl;          /* NULL: empty slot; TOMBSTONE: removed */
	size_t hash;         /* of uidl: most probes end without a strcmp */
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
	struct maildrop_summary summary;
};

/* FNV-1a, then mixed so that UIDLs differing only in a few characters
 * (servers number them) still spread over the table. */
static size_t hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (size_t)h;
}

static struct entry *find(const struct uidl_state *st, const char *uidl)
{
	if (!st->cap)
		return NULL;
	size_t h = hash(uidl);
	for (size_t i = h & (st->cap - 1);; i = (i + 1) & (st->cap - 1)) {
		struct entry *e = &st->slots[i];
		if (!e->uidl)
			return NULL;
		if (e->hash == h && e->uidl != TOMBSTONE && strcmp(e->uidl, uidl) == 0)
			return e;
	}
}

static void insert(struct uidl_state *st, char *uidl, time_t first, time_t last);

/* Room for n live entries at a load of at most 3/4. */
static void reserve(struct uidl_state *st, size_t n)
{
	size_t cap = st->cap ? st->cap : 1024;
	while ((n + 1) * 4 >= cap * 3)
		cap *= 2;
	if (cap == st->cap && (st->filled + 1) * 4 < st->cap * 3)
		return;
	struct entry *old = st->slots;
	size_t oldcap = st->cap;
	st->cap = cap;
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
		reserve(st, st->used + 1);
	size_t h = hash(uidl), i = h & (st->cap - 1);
	while (st->slots[i].uidl && st->slots[i].uidl != TOMBSTONE)
		i = (i + 1) & (st->cap - 1);
	if (!st->slots[i].uidl)
		st->filled++;
	st->slots[i] = (struct entry){ uidl, h, first, last };
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

bool state_touch(struct uidl_state *st, const char *uidl, time_t now,
		 bool *news)
{
	struct entry *e = find(st, uidl);
	*news = false;
	if (!e)
		return false;
	*news = now - e->last > 86400;
	e->last = now;
	return true;
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

const struct maildrop_summary *state_summary(const struct uidl_state *st)
{
	return st->summary.valid ? &st->summary : NULL;
}

static bool same_summary(const struct maildrop_summary *a,
			 const struct maildrop_summary *b)
{
	if (!a->valid || !b->valid)
		return a->valid == b->valid;
	return a->count == b->count && a->octets == b->octets &&
	       a->when == b->when && a->known == b->known &&
	       !strcmp(a->last_uidl, b->last_uidl);
}

bool state_set_summary(struct uidl_state *st, const struct maildrop_summary *sum)
{
	struct maildrop_summary none = { .valid = false };
	if (!sum)
		sum = &none;
	bool changed = !same_summary(&st->summary, sum);
	st->summary = *sum;
	return changed;
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

/* A count of seconds at *p, then at least one blank: p moves past both.
 * Eighteen digits at most, so the value fits any time_t we use. */
static bool parse_time(const char **p, const char *end, time_t *out)
{
	const char *q = *p;
	long long v = 0;
	while (q < end && q - *p < 18 && *q >= '0' && *q <= '9')
		v = v * 10 + (*q++ - '0');
	if (q == *p || q == end || (*q != ' ' && *q != '\t'))
		return false;
	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	*out = (time_t)v;
	*p = q;
	return true;
}

static bool parse_count(const char **p, const char *end, unsigned long long *out)
{
	time_t v;
	if (!parse_time(p, end, &v))
		return false;
	*out = (unsigned long long)v;
	return true;
}

/* "COUNT OCTETS WHEN KNOWN LAST-UIDL". One that does not parse is
 * dropped: the next run then lists the maildrop whole, which is always
 * safe. */
static void parse_summary(const char *p, const char *end,
			  struct maildrop_summary *sum)
{
	unsigned long long count, octets, known;
	time_t when;
	memset(sum, 0, sizeof *sum);
	if (!parse_count(&p, end, &count) || !parse_count(&p, end, &octets) ||
	    !parse_time(&p, end, &when) || !parse_count(&p, end, &known) ||
	    !valid_uidl(p, (size_t)(end - p)) || count == 0 ||
	    count > ULONG_MAX || known > SIZE_MAX)
		return;
	sum->valid = true;
	sum->count = (unsigned long)count;
	sum->octets = octets;
	sum->when = when;
	sum->known = (size_t)known;
	memcpy(sum->last_uidl, p, (size_t)(end - p));
	sum->last_uidl[end - p] = '\0';
}

enum mp_status state_parse(const char *text, size_t len, const char *path,
			   struct uidl_state **out, struct mp_error *err)
{
	struct uidl_state *st = mp_xcalloc(1, sizeof *st);
	const char *p = text, *end = text + len;
	unsigned line = 0;
	/* A line is about 40 bytes: size the table once, not by doubling. */
	reserve(st, len / 40);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		line++;
		if ((size_t)(eol - p) > strlen(SUMMARY) &&
		    !memcmp(p, SUMMARY, strlen(SUMMARY))) {
			parse_summary(p + strlen(SUMMARY), eol, &st->summary);
		} else if (eol > p && p[0] != '#') {
			time_t first, last;
			const char *q = p;
			if (!parse_time(&q, eol, &first) || !parse_time(&q, eol, &last) ||
			    !valid_uidl(q, (size_t)(eol - q)))
				goto bad;
			char *uidl = mp_xstrndup(q, (size_t)(eol - q));
			if (find(st, uidl))
				free(uidl);
			else
				insert(st, uidl, first, last);
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
	if (st->summary.valid)
		fprintf(f, SUMMARY "%lu %llu %lld %zu %s\n", st->summary.count,
			st->summary.octets, (long long)st->summary.when,
			st->summary.known, st->summary.last_uidl);
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
