/* The shared config file parser. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "strutil.h"

#define LINE_MAX_BYTES 4096
#define FILE_MAX_BYTES (1024 * 1024)
#define QUOTE_MAX 64
#define ACCOUNTS_MAX 1000   /* keeps the duplicate check cheap */

struct key_info {
	const char *name;
	bool is_bool;
	bool defaults_only;   /* allowed only in [defaults] */
};

/* Every key is a long option of some tool. Add new keys to their tool's
 * group; keep names in the long-option spelling. */
static const struct key_info keys[] = {
	/* shared by all three tools */
	{ "server",               false, false },
	{ "user",                 false, false },
	{ "auth",                 false, false },
	{ "tls",                  true,  false },
	{ "allow-plaintext-auth", true,  false },
	{ "tls-ca-file",          false, false },
	{ "tls-fingerprint",      false, false },
	{ "tls-cert",             false, false },
	{ "tls-key",              false, false },
	{ "tls-min",              false, false },
	{ "insecure",             true,  false },
	{ "timeout",              false, false },
	{ "password",             false, false },
	{ "password-command",     false, false },
	{ "token-command",        false, false },
	{ "netrc-file",           false, false },
	{ "verbose",              true,  false },
	{ "quiet",                true,  false },
	{ "default-account",      false, true  },

	/* mailsend */
	{ "from",                 false, false },
	{ "helo",                 false, false },
	{ "rewrite-from",         false, false },
	{ "queue",                true,  false },
	{ "dsn-notify",           false, false },
	{ "dsn-return",           false, false },
	{ "charset",              false, false },

	/* popfetch */
	{ "maildir",              false, false },
	{ "mbox",                 false, false },
	{ "mda",                  false, false },
	{ "stdout",               true,  false },
	{ "keep",                 true,  false },
	{ "delete",               true,  false },
	{ "delete-older-than",    false, false },
	{ "all",                  true,  false },
	{ "status",               true,  false },
	{ "max-size",             false, false },
	{ "delete-oversized",     true,  false },
	{ "limit",                false, false },
	{ "dry-run",              true,  false },
	{ "state",                false, false },

	/* imapsync (maildir, stdout, mda, dry-run and state are shared) */
	{ "folder",               false, false },
	{ "exclude",              false, false },
	{ "layout",               false, false },
	{ "jobs",                 false, false },
	{ "mirror",               true,  false },
	{ "json",                 true,  false },
	{ "since",                false, false },
	{ "search",               false, false },
};

static const struct key_info *find_key(const char *key, size_t len)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strlen(keys[i].name) == len &&
		    memcmp(keys[i].name, key, len) == 0)
			return &keys[i];
	return NULL;
}

bool config_key_known(const char *key)
{
	return key && find_key(key, strlen(key)) != NULL;
}

bool config_key_is_bool(const char *key)
{
	const struct key_info *k = key ? find_key(key, strlen(key)) : NULL;

	return k && k->is_bool;
}

bool config_parse_bool(const char *value, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	if (!value)
		return false;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(value, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(value, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* State shared by the line handlers of one parse. */
struct parser {
	struct mp_config *cfg;
	struct mp_error *err;
	const char *path;
	unsigned line;
	size_t cur_i;              /* an index: sections move on realloc */
	size_t sec_cap;            /* sections allocated */
	bool have_cur;
};

/* Length of a piece of the line to quote back in a message. */
static int ql(size_t n)
{
	return (int)(n > QUOTE_MAX ? QUOTE_MAX : n);
}

static enum mp_status perr(struct parser *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static enum mp_status perr(struct parser *p, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return mp_fail(p->err, MP_ERR_CONFIG, "%s:%u: %s", p->path, p->line, what);
}

static struct cfg_section *add_section(struct parser *p, const char *name,
				       size_t nlen, unsigned line)
{
	struct mp_config *cfg = p->cfg;
	struct cfg_section *s;

	if (cfg->nsections == p->sec_cap) {
		p->sec_cap = p->sec_cap ? p->sec_cap * 2 : 8;
		cfg->sections = mp_xrealloc(cfg->sections,
					    p->sec_cap * sizeof(*cfg->sections));
	}
	s = &cfg->sections[cfg->nsections];
	memset(s, 0, sizeof(*s));
	s->name = name ? mp_xstrndup(name, nlen) : NULL;
	s->line = line;
	p->cur_i = cfg->nsections++;
	p->have_cur = true;
	return s;
}

static struct cfg_section *find_defaults(struct mp_config *cfg, size_t *idx)
{
	for (size_t i = 0; i < cfg->nsections; i++)
		if (!cfg->sections[i].name) {
			*idx = i;
			return &cfg->sections[i];
		}
	return NULL;
}

static enum mp_status section_header(struct parser *p, const char *s,
				     size_t len)
{
	const char *in, *close;
	size_t ilen, idx;
	struct cfg_section *d;

	/* s[0] is '['; trailing blanks already removed. */
	close = memchr(s, ']', len);
	if (!close || close != s + len - 1)
		return perr(p, "bad section header '%.*s' (use [defaults] or "
			    "[account NAME])", ql(len), s);
	in = s + 1;
	ilen = (size_t)(close - in);
	while (ilen > 0 && is_blank(*in)) {
		in++;
		ilen--;
	}
	while (ilen > 0 && is_blank(in[ilen - 1]))
		ilen--;

	if (ilen == 8 && memcmp(in, "defaults", 8) == 0) {
		d = find_defaults(p->cfg, &idx);
		if (d && d->line > 0)
			return perr(p, "duplicate [defaults] section (first "
				    "on line %u)", d->line);
		if (d) {
			/* Keys before any header already opened the defaults. */
			d->line = p->line;
			p->cur_i = idx;
			p->have_cur = true;
		} else {
			add_section(p, NULL, 0, p->line);
		}
		return MP_OK;
	}
	if (ilen > 8 && memcmp(in, "account", 7) == 0 && is_blank(in[7])) {
		const char *name = in + 8;
		size_t nlen = ilen - 8;

		while (nlen > 0 && is_blank(*name)) {
			name++;
			nlen--;
		}
		for (size_t i = 0; i < nlen; i++)
			if (is_blank(name[i]) || name[i] == '[' || name[i] == ']')
				return perr(p, "bad account name in '%.*s' (no blanks "
					    "or brackets)", ql(len), s);
		if (nlen == 0)
			goto bad;
		if (p->cfg->nsections - (find_defaults(p->cfg, &idx) ? 1 : 0)
		    >= ACCOUNTS_MAX)
			return perr(p, "more than %d accounts", ACCOUNTS_MAX);
		for (size_t i = 0; i < p->cfg->nsections; i++) {
			const struct cfg_section *o = &p->cfg->sections[i];

			if (o->name && strncmp(o->name, name, nlen) == 0 &&
			    o->name[nlen] == '\0')
				return perr(p, "duplicate account '%.*s' (first on "
					    "line %u)", ql(nlen), name, o->line);
		}
		add_section(p, name, nlen, p->line);
		return MP_OK;
	}
bad:
	return perr(p, "bad section header '%.*s' (use [defaults] or "
		    "[account NAME])", ql(len), s);
}

/* Unquote a value s[0..len) that starts with '"' into a new string. */
static enum mp_status unquote(struct parser *p, const char *s, size_t len,
			      char **out)
{
	char *v = mp_xmalloc(len);
	size_t o = 0, i;

	for (i = 1; i < len; i++) {
		if (s[i] == '"')
			break;
		if (s[i] == '\\') {
			if (i + 1 >= len) {
				i = len;
				break;
			}
			i++;
			if (s[i] != '"' && s[i] != '\\') {
				free(v);
				return perr(p, "unknown escape '\\%c' in quoted "
					    "value (only \\\" and \\\\)", s[i]);
			}
		}
		v[o++] = s[i];
	}
	if (i >= len) {
		free(v);
		return perr(p, "unterminated quote in value");
	}
	for (i++; i < len; i++)
		if (!is_blank(s[i])) {
			free(v);
			return perr(p, "text after the closing quote");
		}
	v[o] = '\0';
	*out = v;
	return MP_OK;
}

/* Messages quote keys and headers but never values: they may be secret. */
static enum mp_status key_value(struct parser *p, const char *s, size_t len)
{
	const char *eq = memchr(s, '=', len), *val;
	const struct key_info *k;
	struct cfg_section *sec;
	struct cfg_entry *e;
	size_t klen, vlen;
	char *value = NULL;
	enum mp_status st;

	if (!eq)
		return perr(p, "malformed line (expected key = value)");
	klen = (size_t)(eq - s);
	while (klen > 0 && is_blank(s[klen - 1]))
		klen--;
	if (klen == 0)
		return perr(p, "missing key before '='");
	k = find_key(s, klen);
	if (!k)
		return perr(p, "unknown key '%.*s'", ql(klen), s);

	val = eq + 1;
	vlen = len - (size_t)(val - s);
	while (vlen > 0 && is_blank(*val)) {
		val++;
		vlen--;
	}
	while (vlen > 0 && is_blank(val[vlen - 1]))
		vlen--;
	if (vlen > 0 && val[0] == '"') {
		st = unquote(p, val, vlen, &value);
		if (st != MP_OK)
			return st;
	} else {
		value = mp_xstrndup(val, vlen);
	}

	if (!p->have_cur) {
		size_t idx;

		if (find_defaults(p->cfg, &idx)) {
			p->cur_i = idx;
			p->have_cur = true;
		} else {
			add_section(p, NULL, 0, 0);
		}
	}
	sec = &p->cfg->sections[p->cur_i];

	if (k->defaults_only && sec->name) {
		free(value);
		return perr(p, "'%.*s' belongs in the [defaults] section",
			    ql(klen), s);
	}
	if (k->is_bool) {
		bool b;

		if (!config_parse_bool(value, &b)) {
			st = perr(p, "'%.*s' takes yes or no, not '%.*s'",
				  ql(klen), s, ql(strlen(value)), value);
			free(value);
			return st;
		}
	}
	for (size_t i = 0; i < sec->nentries; i++)
		if (strcmp(sec->entries[i].key, k->name) == 0) {
			free(value);
			return perr(p, "duplicate key '%.*s' (first on line %u)",
				    ql(klen), s, sec->entries[i].line);
		}

	sec->entries = mp_xrealloc(sec->entries,
				   (sec->nentries + 1) * sizeof(*sec->entries));
	e = &sec->entries[sec->nentries++];
	e->key = mp_xstrdup(k->name);
	e->value = value;
	e->line = p->line;
	return MP_OK;
}

static enum mp_status parse_line(struct parser *p, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
			return perr(p, "control character in line");
	while (len > 0 && is_blank(*s)) {
		s++;
		len--;
	}
	while (len > 0 && is_blank(s[len - 1]))
		len--;
	if (len == 0 || s[0] == '#')
		return MP_OK;
	if (s[0] == '[')
		return section_header(p, s, len);
	return key_value(p, s, len);
}

/* A default-account must name an account that exists. */
static enum mp_status check_default_account(struct parser *p)
{
	const struct cfg_entry *e = config_lookup(p->cfg, NULL, "default-account");

	if (!e || config_account(p->cfg, e->value))
		return MP_OK;
	p->line = e->line;
	return perr(p, "default-account '%.*s' names no [account] section",
		    ql(strlen(e->value)), e->value);
}

enum mp_status config_parse(const char *text, size_t len, const char *path,
			    struct mp_config *out, struct mp_error *err)
{
	struct parser p = { .cfg = out, .err = err, .path = path ? path : "config" };
	const char *s = text, *end = text + len;
	enum mp_status st;

	memset(out, 0, sizeof(*out));
	out->path = mp_xstrdup(p.path);
	p.path = out->path;
	if (len > FILE_MAX_BYTES)
		return mp_fail(err, MP_ERR_CONFIG, "%s: file is larger than 1 MiB",
			       p.path);
	if (len > 0 && memchr(text, '\0', len)) {
		const char *nul = memchr(text, '\0', len);

		p.line = 1;
		for (const char *q = text; q < nul; q++)
			p.line += *q == '\n';
		return perr(&p, "NUL byte in file");
	}
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);

		p.line++;
		if (n > 0 && s[n - 1] == '\r')
			n--;
		if (n > LINE_MAX_BYTES)
			return perr(&p, "line longer than %d bytes", LINE_MAX_BYTES);
		st = parse_line(&p, s, n);
		if (st != MP_OK)
			return st;
		s = nl ? nl + 1 : end;
	}
	return check_default_account(&p);
}

void config_free(struct mp_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->nsections; i++) {
		struct cfg_section *s = &cfg->sections[i];

		for (size_t j = 0; j < s->nentries; j++) {
			free(s->entries[j].key);
			if (s->entries[j].value) {
				/* Values may hold a password. */
				mp_wipe(s->entries[j].value,
					strlen(s->entries[j].value));
				free(s->entries[j].value);
			}
		}
		free(s->entries);
		free(s->name);
	}
	free(cfg->sections);
	free(cfg->path);
	memset(cfg, 0, sizeof(*cfg));
}

const struct cfg_section *config_account(const struct mp_config *cfg,
					 const char *name)
{
	if (!cfg || !name)
		return NULL;
	for (size_t i = 0; i < cfg->nsections; i++)
		if (cfg->sections[i].name &&
		    strcmp(cfg->sections[i].name, name) == 0)
			return &cfg->sections[i];
	return NULL;
}

static const struct cfg_entry *section_get(const struct cfg_section *s,
					   const char *key)
{
	for (size_t i = 0; i < s->nentries; i++)
		if (strcmp(s->entries[i].key, key) == 0)
			return &s->entries[i];
	return NULL;
}

const struct cfg_entry *config_lookup(const struct mp_config *cfg,
				      const char *account, const char *key)
{
	const struct cfg_section *s;
	const struct cfg_entry *e;

	if (!cfg || !key)
		return NULL;
	if (account) {
		s = config_account(cfg, account);
		if (s && (e = section_get(s, key)))
			return e;
	}
	for (size_t i = 0; i < cfg->nsections; i++)
		if (!cfg->sections[i].name)
			return section_get(&cfg->sections[i], key);
	return NULL;
}
