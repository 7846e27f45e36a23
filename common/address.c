/* RFC 5322 address-list parser (with the obsolete forms mail still carries)
 * and RFC 5321 envelope address checks. */
#include "address.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"
#include "strutil.h"
#include "utf8.h"

enum tok_kind { T_END, T_ATOM, T_QSTR, T_DLIT, T_SPECIAL, T_ERROR };

struct tok {
	enum tok_kind kind;
	char c;                 /* T_SPECIAL: which */
	const char *p;          /* T_ATOM: the atom; T_QSTR: between the quotes,
				 * still escaped; T_DLIT: with its brackets */
	size_t n;
	bool space_before;      /* whitespace or a comment precedes it */
	const char *cmt;        /* the first comment before it, inside the
				 * parens and still escaped; NULL if none */
	size_t cmt_n;
	size_t at;              /* its offset in the input */
};

struct parser {
	const char *s;
	size_t len, pos;
	struct tok next;        /* look-ahead */
	size_t item;            /* where the current address began */
	unsigned flags;
	size_t added;
	bool failed;
	struct mp_error *err;
};

static enum mp_status bad_status(unsigned flags)
{
	return flags & ADDRESS_ERR_DATA ? MP_ERR_DATA : MP_ERR_USAGE;
}

/* Record the first failure, naming the address it happened in. */
__attribute__((format(printf, 2, 3)))
static void fail(struct parser *p, const char *fmt, ...)
{
	char why[256];
	size_t from = p->item, to = p->pos;
	va_list ap;

	if (p->failed)
		return;
	p->failed = true;
	if (to > p->len)
		to = p->len;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	while (from < to && (p->s[from] == ' ' || p->s[from] == '\t'))
		from++;
	if (to - from > 80)
		to = from + 80;
	if (to > from)
		mp_fail(p->err, bad_status(p->flags), "bad address '%.*s': %s",
			(int)(to - from), p->s + from, why);
	else
		mp_fail(p->err, bad_status(p->flags), "bad address list: %s", why);
}

/* RFC 5322 atext, plus UTF-8 (RFC 6532). */
static bool is_atom_char(unsigned char c)
{
	return c > ' ' && c != 0x7f && !strchr("()<>[]:;@\\,.\"", c);
}

/* Skip whitespace and comments before the next token. */
static void skip_cfws(struct parser *p, struct tok *t)
{
	const char *s = p->s;

	while (p->pos < p->len) {
		char c = s[p->pos];

		if (c == ' ' || c == '\t') {
			p->pos++;
			t->space_before = true;
		} else if (c == '(') {
			size_t start = ++p->pos;
			int depth = 1;

			while (p->pos < p->len && depth > 0) {
				c = s[p->pos++];
				if (c == '\\')
					p->pos++;
				else if (c == '(')
					depth++;
				else if (c == ')')
					depth--;
			}
			if (depth > 0 || p->pos > p->len) {
				p->pos = p->len;
				fail(p, "a comment is not closed with ')'");
				return;
			}
			if (!t->cmt) {
				t->cmt = s + start;
				t->cmt_n = p->pos - 1 - start;
			}
			t->space_before = true;
		} else {
			break;
		}
	}
}

/* Read the next token into p->next. */
static void lex(struct parser *p)
{
	struct tok *t = &p->next;
	const char *s = p->s;
	unsigned char c;

	memset(t, 0, sizeof(*t));
	skip_cfws(p, t);
	if (p->failed) {
		t->kind = T_ERROR;
		return;
	}
	t->at = p->pos;
	if (p->pos >= p->len) {
		t->kind = T_END;
		return;
	}
	c = (unsigned char)s[p->pos];
	if (c == '"' || c == '[') {
		char close = c == '"' ? '"' : ']';
		size_t start = p->pos++;

		while (p->pos < p->len && s[p->pos] != close) {
			if (s[p->pos] == '\\')
				p->pos++;
			else if (c == '[' && s[p->pos] == '[')
				break;
			p->pos++;
		}
		if (p->pos >= p->len || s[p->pos] != close) {
			p->pos = p->len;
			fail(p, c == '"' ? "a quoted string is not closed"
				: "a domain literal is not closed with ']'");
			t->kind = T_ERROR;
			return;
		}
		p->pos++;
		if (c == '"') {
			t->kind = T_QSTR;
			t->p = s + start + 1;
			t->n = p->pos - start - 2;
		} else {
			t->kind = T_DLIT;
			t->p = s + start;
			t->n = p->pos - start;
		}
		return;
	}
	if (strchr("<>@,;:.", c)) {
		t->kind = T_SPECIAL;
		t->c = (char)c;
		p->pos++;
		return;
	}
	if (!is_atom_char(c)) {
		if (c < ' ' || c == 0x7f)
			fail(p, "it contains a control character");
		else
			fail(p, "unexpected '%c'", c);
		t->kind = T_ERROR;
		return;
	}
	t->kind = T_ATOM;
	t->p = s + p->pos;
	while (p->pos < p->len && is_atom_char((unsigned char)s[p->pos]))
		p->pos++;
	t->n = (size_t)(s + p->pos - t->p);
}

static bool at_special(const struct parser *p, char c)
{
	return p->next.kind == T_SPECIAL && p->next.c == c;
}

/* Append s[0..n) with quoted-pairs resolved. */
static void add_unescaped(struct sbuf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n)
			i++;
		sbuf_addc(b, s[i]);
	}
}

/* Words and dots before '<', ':' or '@': a display name, a group name or
 * a local part, and which it is shows only at the token after it. */
struct phrase {
	struct sbuf name;    /* as a display name */
	struct sbuf local;   /* as a local part (unquoted) */
	bool any;
	bool local_ok;       /* word *("." word) */
};

static void collect_phrase(struct parser *p, struct phrase *ph)
{
	bool want_word = true;

	ph->local_ok = true;
	for (;;) {
		struct tok *t = &p->next;

		if (t->kind == T_ATOM || t->kind == T_QSTR) {
			if (!want_word)
				ph->local_ok = false;   /* two words, no dot */
			want_word = false;
		} else if (t->kind == T_SPECIAL && t->c == '.') {
			if (want_word)
				ph->local_ok = false;   /* leading or double dot */
			want_word = true;
		} else {
			break;
		}
		if (t->space_before && ph->name.n > 0)
			sbuf_addc(&ph->name, ' ');
		if (t->kind == T_QSTR) {
			add_unescaped(&ph->name, t->p, t->n);
			add_unescaped(&ph->local, t->p, t->n);
		} else if (t->kind == T_ATOM) {
			sbuf_add(&ph->name, t->p, t->n);
			sbuf_add(&ph->local, t->p, t->n);
		} else {
			sbuf_addc(&ph->name, '.');
			sbuf_addc(&ph->local, '.');
		}
		ph->any = true;
		lex(p);
	}
	if (want_word)
		ph->local_ok = false;   /* empty, or a trailing dot */
}

static void phrase_free(struct phrase *ph)
{
	sbuf_free(&ph->name);
	sbuf_free(&ph->local);
}

/* True if s[0..n) is a dot-atom, which needs no quotes as a local part. */
static bool is_dot_atom(const char *s, size_t n)
{
	bool want = true;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (want)
				return false;
			want = true;
		} else if (is_atom_char((unsigned char)s[i])) {
			want = false;
		} else {
			return false;
		}
	}
	return !want;
}

/* The local part as RFC 5321 wants it: bare if possible, else quoted. */
static void add_local(struct sbuf *b, const struct phrase *ph)
{
	const char *l = ph->local.p ? ph->local.p : "";

	if (is_dot_atom(l, ph->local.n)) {
		sbuf_add(b, l, ph->local.n);
		return;
	}
	sbuf_addc(b, '"');
	for (size_t i = 0; i < ph->local.n; i++) {
		if (l[i] == '"' || l[i] == '\\')
			sbuf_addc(b, '\\');
		sbuf_addc(b, l[i]);
	}
	sbuf_addc(b, '"');
}

/* domain = dot-atom / domain-literal, whitespace allowed around dots. */
static bool parse_domain(struct parser *p, struct sbuf *b)
{
	if (p->next.kind == T_DLIT) {
		if (b)
			sbuf_add(b, p->next.p, p->next.n);
		lex(p);
		return !p->failed;
	}
	for (;;) {
		if (p->next.kind != T_ATOM) {
			fail(p, "expected a domain after '@' or '.'");
			return false;
		}
		if (b)
			sbuf_add(b, p->next.p, p->next.n);
		lex(p);
		if (!at_special(p, '.'))
			break;
		if (b)
			sbuf_addc(b, '.');
		lex(p);
	}
	return !p->failed;
}

/* Comment text to stand in for a missing display name: unescaped and
 * trimmed. */
static void comment_name(struct sbuf *name, const struct tok *t)
{
	const char *c = t->cmt;
	size_t n = t->cmt_n;

	if (!c)
		return;
	while (n > 0 && (*c == ' ' || *c == '\t')) {
		c++;
		n--;
	}
	while (n > 0 && (c[n - 1] == ' ' || c[n - 1] == '\t'))
		n--;
	add_unescaped(name, c, n);
}

static bool add_address(struct parser *p, struct address_list *list,
			struct sbuf *name, struct sbuf *addr)
{
	struct mp_error e;
	char *a;

	if (p->added >= ADDRESS_LIST_MAX) {
		fail(p, "more than %d addresses in one list", ADDRESS_LIST_MAX);
		return false;
	}
	if (name->n > ADDRESS_LEN_MAX) {
		fail(p, "the display name is longer than %d bytes",
		     ADDRESS_LEN_MAX);
		return false;
	}
	a = sbuf_take(addr);
	if (address_check_envelope(a, p->flags, &e) != MP_OK) {
		/* That sentence already names the address. */
		p->failed = true;
		if (p->err)
			*p->err = e;
		free(a);
		return false;
	}
	if (list->n == list->cap) {
		list->cap = list->cap ? list->cap * 2 : 8;
		list->v = mp_xrealloc(list->v, list->cap * sizeof(*list->v));
	}
	list->v[list->n].name = sbuf_take(name);
	list->v[list->n].addr = a;
	list->n++;
	p->added++;
	return true;
}

/* angle-addr after its '<': [route] addr-spec '>'. */
static bool parse_angle(struct parser *p, struct sbuf *addr)
{
	struct phrase local = { 0 };
	bool good = false;

	lex(p);
	if (at_special(p, '@')) {
		/* Obsolete source route "@a,@b:": read and dropped. */
		for (;;) {
			if (at_special(p, '@')) {
				lex(p);
				if (!parse_domain(p, NULL))
					return false;
			}
			if (!at_special(p, ','))
				break;
			lex(p);
		}
		if (!at_special(p, ':')) {
			fail(p, "a route in <> must end with ':'");
			return false;
		}
		lex(p);
	}
	if (at_special(p, '>')) {
		fail(p, "<> is empty");
		return false;
	}
	collect_phrase(p, &local);
	if (p->failed)
		goto out;
	if (!local.local_ok) {
		fail(p, "expected user@domain inside <>");
		goto out;
	}
	add_local(addr, &local);
	if (at_special(p, '@')) {
		sbuf_addc(addr, '@');
		lex(p);
		if (!parse_domain(p, addr))
			goto out;
	}
	if (!at_special(p, '>')) {
		fail(p, "expected '>'");
		goto out;
	}
	lex(p);
	good = !p->failed;
out:
	phrase_free(&local);
	return good;
}

static const char *tok_desc(const struct tok *t, char *buf, size_t size)
{
	if (t->kind == T_SPECIAL)
		snprintf(buf, size, "'%c'", t->c);
	else if (t->kind == T_END || t->kind == T_ERROR)
		snprintf(buf, size, "the end");
	else
		snprintf(buf, size, "'%.*s'", (int)(t->n < 20 ? t->n : 20), t->p);
	return buf;
}

/* One mailbox, or (when allowed) a group of them. */
static bool parse_address(struct parser *p, struct address_list *list,
			  bool allow_group)
{
	struct phrase ph = { 0 };
	struct sbuf addr = { 0 };
	char what[32];
	bool good = false;

	p->item = p->next.at;
	collect_phrase(p, &ph);
	if (p->failed)
		goto out;

	if (at_special(p, '<')) {
		if (!parse_angle(p, &addr))
			goto out;
		if (!ph.any)
			comment_name(&ph.name, &p->next);
		good = add_address(p, list, &ph.name, &addr);
	} else if (at_special(p, ':')) {
		if (!allow_group) {
			fail(p, "a group cannot hold another group");
			goto out;
		}
		if (!ph.any) {
			fail(p, "a group needs a name before ':'");
			goto out;
		}
		lex(p);
		for (;;) {
			if (at_special(p, ';')) {
				lex(p);
				break;
			}
			if (p->next.kind == T_END)
				break;   /* some mailers leave off the ';' */
			if (at_special(p, ',')) {
				lex(p);
				continue;
			}
			if (!parse_address(p, list, false))
				goto out;
			if (!at_special(p, ',') && !at_special(p, ';') &&
			    p->next.kind != T_END) {
				fail(p, "expected ',' or ';' after a group member");
				goto out;
			}
		}
		good = !p->failed;
	} else if (at_special(p, '@')) {
		if (!ph.local_ok) {
			fail(p, "the part before '@' is not a valid local part");
			goto out;
		}
		add_local(&addr, &ph);
		sbuf_addc(&addr, '@');
		lex(p);
		if (!parse_domain(p, &addr))
			goto out;
		sbuf_free(&ph.name);
		comment_name(&ph.name, &p->next);
		good = add_address(p, list, &ph.name, &addr);
	} else if (!ph.any) {
		fail(p, "unexpected %s", tok_desc(&p->next, what, sizeof(what)));
	} else if (!ph.local_ok) {
		fail(p, "expected user@domain or Name <user@domain>");
	} else if (!(p->flags & ADDRESS_ALLOW_LOCAL)) {
		fail(p, "an address needs a domain (user@domain)");
	} else {
		add_local(&addr, &ph);
		sbuf_free(&ph.name);
		comment_name(&ph.name, &p->next);
		good = add_address(p, list, &ph.name, &addr);
	}
out:
	phrase_free(&ph);
	sbuf_free(&addr);
	return good && !p->failed;
}

enum mp_status address_parse_list(const char *s, size_t len, unsigned flags,
				  struct address_list *list,
				  struct mp_error *err)
{
	struct parser p = { .s = s, .len = len, .flags = flags, .err = err };
	size_t before = list->n;

	if (mp_has_line_break(s, len))
		return mp_fail(err, bad_status(flags),
			       "address list contains a line break or NUL byte");
	lex(&p);
	while (!p.failed && p.next.kind != T_END) {
		if (at_special(&p, ',')) {
			lex(&p);
			continue;
		}
		if (!parse_address(&p, list, true))
			break;
		if (p.next.kind != T_END && !at_special(&p, ',')) {
			char what[32];

			fail(&p, "expected ',' between addresses, not %s",
			     tok_desc(&p.next, what, sizeof(what)));
		}
	}
	if (p.failed) {
		while (list->n > before) {
			list->n--;
			free(list->v[list->n].name);
			free(list->v[list->n].addr);
		}
		return err ? err->status : bad_status(flags);
	}
	return MP_OK;
}

void address_list_free(struct address_list *list)
{
	for (size_t i = 0; i < list->n; i++) {
		free(list->v[i].name);
		free(list->v[i].addr);
	}
	free(list->v);
	list->v = NULL;
	list->n = list->cap = 0;
}

bool address_needs_smtputf8(const char *addr)
{
	for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
		if (*p >= 0x80)
			return true;
	return false;
}

static bool is_label_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_' || c >= 0x80;
}

/* A host name of labels, or an [address literal]; NULL if fine, else why. */
static const char *domain_problem(const char *d, size_t n)
{
	size_t label = 0;

	if (n == 0)
		return "has an empty domain";
	if (d[0] == '[') {
		if (n < 3 || d[n - 1] != ']')
			return "has a malformed [address literal]";
		/* [192.0.2.1] or [IPv6:2001:db8::1]: nothing else is used,
		 * and nothing else can confuse a server's path parser. */
		for (size_t i = 1; i + 1 < n; i++)
			if (!is_label_char((unsigned char)d[i]) && d[i] != '.' &&
			    d[i] != ':')
				return "has a malformed [address literal]";
		return NULL;
	}
	for (size_t i = 0; i <= n; i++) {
		if (i == n || d[i] == '.') {
			if (label == 0)
				return "has an empty label in its domain";
			if (label > 63)
				return "has a domain label over 63 characters";
			if (d[i - 1] == '-' || d[i - label] == '-')
				return "has a domain label that starts or ends with '-'";
			label = 0;
			continue;
		}
		if (!is_label_char((unsigned char)d[i]))
			return "has a character not allowed in a domain";
		label++;
	}
	return NULL;
}

enum mp_status address_check_envelope(const char *a, unsigned flags,
				      struct mp_error *err)
{
	enum mp_status st = bad_status(flags);
	size_t len = strlen(a), i = 0;
	const char *why;
	int show = len < 80 ? (int)len : 80;

	if (len == 0)
		return mp_fail(err, st, "the address is empty");
	if (len > ADDRESS_LEN_MAX)
		return mp_fail(err, st, "an address is longer than %d bytes",
			       ADDRESS_LEN_MAX);
	if (mp_has_line_break(a, len))
		return mp_fail(err, st,
			       "an address contains a line break or NUL byte");
	for (size_t k = 0; k < len; k++)
		if ((unsigned char)a[k] < ' ' || a[k] == 0x7f)
			return mp_fail(err, st,
				       "an address contains a control character");
	if (!utf8_valid(a, len))
		return mp_fail(err, st, "address '%.*s' is not valid UTF-8",
			       show, a);

	if (a[0] == '"') {
		for (i = 1; i < len && a[i] != '"'; i++) {
			if (a[i] == '\\')
				i++;
			/* Legal in quotes, but a server that looks for the
			 * first '>' would read the rest as parameters. */
			if (i < len && (a[i] == '<' || a[i] == '>'))
				return mp_fail(err, st,
					       "address '%.*s' has '%c' in its quoted local part",
					       show, a, a[i]);
		}
		if (i >= len)
			return mp_fail(err, st,
				       "address '%.*s' has an unclosed quote",
				       show, a);
		i++;
	} else {
		bool want = true;

		for (; i < len && a[i] != '@'; i++) {
			if (a[i] == '.') {
				if (want)
					break;
				want = true;
			} else if (is_atom_char((unsigned char)a[i])) {
				want = false;
			} else {
				break;
			}
		}
		if (i < len && a[i] != '@')
			return mp_fail(err, st,
				       "address '%.*s' has '%c' where it is not allowed",
				       show, a, a[i]);
		if (want)
			return mp_fail(err, st,
				       "address '%.*s' has an empty or dotted-off local part",
				       show, a);
	}
	if (i == len) {
		if (flags & ADDRESS_ALLOW_LOCAL)
			return MP_OK;
		return mp_fail(err, st, "address '%.*s' has no domain (user@domain)",
			       show, a);
	}
	if (a[i] != '@')
		return mp_fail(err, st,
			       "address '%.*s' has text after its quoted local part",
			       show, a);
	why = domain_problem(a + i + 1, len - i - 1);
	if (why)
		return mp_fail(err, st, "address '%.*s' %s", show, a, why);
	return MP_OK;
}
