/* What a run tells: one line per folder on stderr, or a JSON summary. */
#include "worker.h"

#include <stdlib.h>
#include <string.h>

#include "strutil.h"

/* A folder name fit for one line of a terminal. */
char *printable(const char *name)
{
	char *p = mp_xstrdup(name ? name : "?");
	for (char *q = p; *q; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			*q = '?';
	return p;
}

void print_result(struct shared *sh, const struct folder_result *r)
{
	const struct sync_opts *o = sh->opts;
	/* Failures always reach stderr; the rest is for people. */
	if (r->status == MP_OK && (o->json || o->quiet))
		return;
	char *name = printable(r->name);
	pthread_mutex_lock(&sh->lock);
	progress_clear(&sh->bar);
	if (r->status != MP_OK)
		fprintf(stderr, "%s: %s: %s\n", sh->cli->prog, name, r->error);
	else if (r->refused_empty)
		fprintf(stderr, "%s: %s: the server shows it empty but the backup has mail; "
			"nothing changed\n", sh->cli->prog, name);
	else
		fprintf(stderr, "%s: %s: %s%zu new (%.1f MB), %zu flags updated%s%s\n",
			sh->cli->prog, name, r->unchanged ? "unchanged, " : "",
			r->fetched, (double)r->bytes / 1e6, r->flags_updated,
			r->removed ? ", some moved to Removed" : "",
			r->uidvalidity_changed ? ", UIDVALIDITY changed (matched by content)" : "");
	pthread_mutex_unlock(&sh->lock);
	free(name);
}

static void json_string(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

void print_json(const struct shared *sh)
{
	printf("{\"folders\":[");
	for (size_t i = 0; i < sh->nfolders; i++) {
		const struct folder_result *r = &sh->results[i];
		printf("%s{\"name\":", i ? "," : "");
		json_string(r->name);
		printf(",\"fetched\":%zu,\"bytes\":%llu,\"flags_updated\":%zu,"
		       "\"removed\":%zu,\"matched\":%zu,\"unchanged\":%s,"
		       "\"uidvalidity_changed\":%s,\"refused_empty\":%s,\"error\":",
		       r->fetched, r->bytes, r->flags_updated, r->removed, r->matched,
		       r->unchanged ? "true" : "false",
		       r->uidvalidity_changed ? "true" : "false",
		       r->refused_empty ? "true" : "false");
		if (r->status == MP_OK)
			printf("null");
		else
			json_string(r->error);
		printf("}");
	}
	printf("]}\n");
}
