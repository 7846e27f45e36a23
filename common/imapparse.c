/* IMAP response parser: a tokenizer over one line at a time and a grammar
 * kept as an explicit state, so a response can stop at a literal and go
 * on with the next line. */
#include "imapparse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapdate.h"
#include "strutil.h"

/* --- tokens --- */

enum tok { T_EOL, T_ATOM, T_QUOTED, T_LITERAL, T_LPAREN, T_RPAREN, T_BAD };

struct token {
	enum tok t;
	const char *s;      /* ATOM: the atom; QUOTED: inside the quotes, raw */
	size_t n;
	uint64_t lit;       /* LITERAL: its size */
	const char *why;    /* BAD: what is wrong */
};

/* Grammar states. */
enum {
	S_START,
	S_FETCH_OPEN,       /* "(" after FETCH */
	S_FETCH_ATT,        /* an attribute name, or ")" */
	S_FETCH_VAL,        /* the value of attribute p->att */
	S_FETCH_FLAGS,      /* inside FLAGS (...) */
	S_FETCH_MODSEQ,     /* inside MODSEQ (...): the number */
	S_FETCH_MODSEQ_END, /* its ")" */
	S_END,              /* nothing more but the end of the line */
	S_SKIP,             /* inside a value passed over; back to p->ret */
	S_LIST_OPEN,
	S_LIST_FLAGS,
	S_LIST_DELIM,
	S_LIST_NAME,
	S_LIST_EXT,         /* extended data after the name, passed over */
	S_STATUS_NAME,
	S_STATUS_OPEN,
	S_STATUS_ATT,
	S_STATUS_VAL,
	S_REST,             /* an unknown response: passed over to its end */
};

/* FETCH and STATUS attributes the parser keeps. */
enum {
	A_OTHER,
	A_UID, A_FLAGS, A_DATE, A_SIZE, A_MODSEQ, A_BODY,
	A_MESSAGES, A_UIDNEXT, A_UIDVALIDITY, A_UNSEEN, A_HIGHESTMODSEQ,
};

static const char *type_name(enum imapp_type t)
{
	switch (t) {
	case IMAPP_T_FETCH: return "FETCH ";
	case IMAPP_T_LIST: return "LIST ";
	case IMAPP_T_STATUS: return "STATUS ";
	case IMAPP_T_EXISTS: return "EXISTS ";
	case IMAPP_T_EXPUNGE: return "EXPUNGE ";
	case IMAPP_T_RECENT: return "RECENT ";
	default: return "";
	}
}

static enum imapp_step fail(struct imapp *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Record why, with the line being parsed, and stop. */
static enum imapp_step fail(struct imapp *p, const char *fmt, ...)
{
	char shown[104];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(p->error, sizeof p->error, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n < sizeof p->error && p->line) {
		mp_printable(p->line, p->len, shown, sizeof shown);
		snprintf(p->error + n, sizeof p->error - (size_t)n, ": '%s'",
			 shown);
	}
	p->waiting = false;
	p->st = S_START;
	return IMAPP_ERROR;
}

static enum imapp_step malformed(struct imapp *p, const char *why)
{
	return fail(p, "malformed %sresponse from server (%s)",
		    type_name(p->r.type), why);
}

/* Bytes an atom may hold: no space, control, parenthesis, brace or quote.
 * 8-bit bytes pass: servers send them in names and keywords. */
static bool atom_char(unsigned char c)
{
	return c > 0x20 && c != 0x7f && c != '(' && c != ')' && c != '{' &&
	       c != '"';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* s[0..n) as a decimal number no larger than max. */
static bool number(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static void next(struct imapp *p, struct token *t)
{
	const char *l = p->line;
	size_t n = p->len, i;

	memset(t, 0, sizeof *t);
	while (p->pos < n && l[p->pos] == ' ')
		p->pos++;
	if (p->pos == n) {
		t->t = T_EOL;
		return;
	}
	i = p->pos;
	switch (l[i]) {
	case '(':
		p->pos++;
		t->t = T_LPAREN;
		return;
	case ')':
		p->pos++;
		t->t = T_RPAREN;
		return;
	case '"':
		for (i++; i < n && l[i] != '"'; i++)
			if (l[i] == '\\' && ++i == n)
				break;
		if (i >= n) {
			t->t = T_BAD;
			t->why = "unterminated string";
			return;
		}
		t->t = T_QUOTED;
		t->s = l + p->pos + 1;
		t->n = i - p->pos - 1;
		p->pos = i + 1;
		return;
	case '~':
		if (i + 1 < n && l[i + 1] == '{')
			i++;       /* literal8 (BINARY) */
		break;
	default:
		break;
	}
	if (l[i] == '{') {
		size_t start = ++i;
		uint64_t v;

		while (i < n && is_digit(l[i]))
			i++;
		if (!number(l + start, i - start, UINT64_MAX, &v)) {
			t->t = T_BAD;
			t->why = i > start ? "literal size out of range"
					   : "bad literal";
			return;
		}
		if (i < n && l[i] == '+')
			i++;
		if (i >= n || l[i] != '}' || i + 1 != n) {
			t->t = T_BAD;
			t->why = "bad literal";
			return;
		}
		t->t = T_LITERAL;
		t->lit = v;
		p->pos = n;
		return;
	}
	if (!atom_char((unsigned char)l[i])) {
		t->t = T_BAD;
		t->why = "control character";
		return;
	}
	while (i < n && atom_char((unsigned char)l[i])) {
		if (l[i] == '[') {
			/* A section: BODY[HEADER.FIELDS (FROM)] is one atom. */
			const char *close = memchr(l + i, ']', n - i);

			if (!close) {
				t->t = T_BAD;
				t->why = "unclosed '['";
				return;
			}
			for (size_t k = i; k < (size_t)(close - l); k++)
				if ((unsigned char)l[k] < 0x20) {
					t->t = T_BAD;
					t->why = "control character";
					return;
				}
			i = (size_t)(close - l);
		}
		i++;
	}
	t->t = T_ATOM;
	t->s = l + p->pos;
	t->n = i - p->pos;
	p->pos = i;
}

static bool is_word(const struct token *t, const char *w)
{
	size_t n = strlen(w);

	return t->t == T_ATOM && t->n == n && strncasecmp(t->s, w, n) == 0;
}

/* Decode a quoted string's inside into out (room for n bytes). */
static size_t unquote(const char *s, size_t n, char *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n)
			i++;
		out[k++] = s[i];
	}
	return k;
}

static void set_mailbox(struct imapp *p, const char *s, size_t n, bool quoted)
{
	free(p->r.mailbox);
	p->r.mailbox = mp_xmalloc(n + 1);
	p->r.mailbox_len = quoted ? unquote(s, n, p->r.mailbox) : n;
	if (!quoted)
		memcpy(p->r.mailbox, s, n);
	p->r.mailbox[p->r.mailbox_len] = '\0';
}

/* A literal ends the line: tell the caller, and go on in state resume. */
static enum imapp_step want_literal(struct imapp *p, const struct token *t,
				    enum imapp_use use, int resume)
{
	uint64_t cap = use == IMAPP_USE_VALUE ? IMAPP_VALUE_MAX
					      : IMAPP_LITERAL_MAX;

	if (t->lit > cap)
		return fail(p, "server announced a literal of %llu bytes, over "
			    "the limit of %llu", (unsigned long long)t->lit,
			    (unsigned long long)cap);
	if (p->lines >= IMAPP_LINES_MAX)
		return fail(p, "server response runs over more than %d lines",
			    IMAPP_LINES_MAX);
	p->literal = t->lit;
	p->use = use;
	p->st = resume;
	p->waiting = true;
	return IMAPP_LITERAL;
}

/* The first token of a value the parser has no use for: an atom or a
 * string is done with, a list or literal is passed over. Ends in ret. */
static enum imapp_step skip_value(struct imapp *p, const struct token *t,
				  int ret, bool *more)
{
	*more = true;
	switch (t->t) {
	case T_ATOM:
	case T_QUOTED:
		p->st = ret;
		return IMAPP_MORE;
	case T_LPAREN:
		p->depth = 1;
		p->ret = ret;
		p->st = S_SKIP;
		return IMAPP_MORE;
	case T_LITERAL:
		*more = false;
		return want_literal(p, t, IMAPP_USE_SKIP, ret);
	default:
		*more = false;
		return malformed(p, "value expected");
	}
}

static const struct {
	const char *name;
	int att;
} fetch_atts[] = {
	{ "UID", A_UID }, { "FLAGS", A_FLAGS }, { "INTERNALDATE", A_DATE },
	{ "RFC822.SIZE", A_SIZE }, { "MODSEQ", A_MODSEQ }, { "BODY[]", A_BODY },
}, status_atts[] = {
	{ "MESSAGES", A_MESSAGES }, { "UIDNEXT", A_UIDNEXT },
	{ "UIDVALIDITY", A_UIDVALIDITY }, { "UNSEEN", A_UNSEEN },
	{ "HIGHESTMODSEQ", A_HIGHESTMODSEQ },
};

/* Append a flag; a keyword that does not fit is left out, and system
 * flags (which map to Maildir letters) push keywords out to fit. */
static void add_flag(struct imapp_fetch *f, const char *s, size_t n)
{
	size_t have = strlen(f->flags);

	while (have + (have > 0) + n >= sizeof f->flags) {
		char *last = NULL;

		if (n == 0 || s[0] != '\\' || n >= sizeof f->flags - 1)
			return;
		/* The last keyword goes. */
		for (char *w = f->flags; *w;) {
			size_t k = strcspn(w, " ");

			if (*w != '\\')
				last = w;
			w += k + (w[k] == ' ');
		}
		if (!last)
			return;
		size_t k = strcspn(last, " ");
		memmove(last, last + k + (last[k] == ' '),
			strlen(last + k + (last[k] == ' ')) + 1);
		have = strlen(f->flags);
		while (have > 0 && f->flags[have - 1] == ' ')
			f->flags[--have] = '\0';
	}
	if (have)
		f->flags[have++] = ' ';
	memcpy(f->flags + have, s, n);
	f->flags[have + n] = '\0';
}

static enum imapp_step fetch_value(struct imapp *p, const struct token *t)
{
	struct imapp_fetch *f = &p->r.fetch;
	uint64_t v;
	bool more;
	char buf[64];
	struct mp_error derr;

	/* Attributes not kept, and a second BODY[], are passed over. */
	if (p->att == A_OTHER ||
	    (p->att == A_BODY && (f->have & (IMAPP_F_BODY | IMAPP_F_BODY_NIL)))) {
		enum imapp_step r = skip_value(p, t, S_FETCH_ATT, &more);

		return more ? IMAPP_MORE : r;
	}
	p->st = S_FETCH_ATT;
	switch (p->att) {
	case A_UID:
		if (t->t != T_ATOM || !number(t->s, t->n, UINT32_MAX, &v) || !v)
			return malformed(p, "bad UID");
		if ((f->have & IMAPP_F_UID) && f->uid != v)
			return malformed(p, "two UIDs");
		f->uid = (uint32_t)v;
		f->have |= IMAPP_F_UID;
		return IMAPP_MORE;
	case A_FLAGS:
		if (t->t != T_LPAREN)
			return malformed(p, "bad FLAGS");
		f->flags[0] = '\0';
		p->st = S_FETCH_FLAGS;
		return IMAPP_MORE;
	case A_DATE:
		if (t->t != T_QUOTED || t->n >= sizeof buf ||
		    imapdate_parse(buf, unquote(t->s, t->n, buf),
				   &f->internaldate, &derr) != MP_OK)
			return malformed(p, "bad INTERNALDATE");
		f->have |= IMAPP_F_DATE;
		return IMAPP_MORE;
	case A_SIZE:
		if (t->t != T_ATOM || !number(t->s, t->n, INT64_MAX, &f->size))
			return malformed(p, "bad RFC822.SIZE");
		f->have |= IMAPP_F_SIZE;
		return IMAPP_MORE;
	case A_MODSEQ:
		if (t->t != T_LPAREN)
			return malformed(p, "bad MODSEQ");
		p->st = S_FETCH_MODSEQ;
		return IMAPP_MORE;
	default:   /* A_BODY */
		if (t->t == T_LITERAL) {
			f->body_size = t->lit;
			f->have |= IMAPP_F_BODY;
			return want_literal(p, t, IMAPP_USE_BODY, S_FETCH_ATT);
		}
		if (t->t == T_QUOTED) {
			free(p->body);
			p->body = mp_xmalloc(t->n + 1);
			f->body_len = unquote(t->s, t->n, p->body);
			p->body[f->body_len] = '\0';
			f->body = p->body;
			f->have |= IMAPP_F_BODY;
			return IMAPP_MORE;
		}
		if (is_word(t, "NIL")) {
			f->have |= IMAPP_F_BODY_NIL;
			return IMAPP_MORE;
		}
		return malformed(p, "bad BODY[]");
	}
}

static enum imapp_step status_value(struct imapp *p, const struct token *t)
{
	struct imapp_status *s = &p->r.status;
	uint64_t v, max = p->att == A_HIGHESTMODSEQ ? INT64_MAX : UINT32_MAX;
	bool more;

	if (p->att == A_OTHER) {
		enum imapp_step step = skip_value(p, t, S_STATUS_ATT, &more);

		return more ? IMAPP_MORE : step;
	}
	if (t->t != T_ATOM || !number(t->s, t->n, max, &v))
		return malformed(p, "bad number");
	switch (p->att) {
	case A_MESSAGES:
		s->messages = (uint32_t)v;
		s->have |= IMAPP_S_MESSAGES;
		break;
	case A_UIDNEXT:
		s->uidnext = (uint32_t)v;
		s->have |= IMAPP_S_UIDNEXT;
		break;
	case A_UIDVALIDITY:
		s->uidvalidity = (uint32_t)v;
		s->have |= IMAPP_S_UIDVALIDITY;
		break;
	case A_UNSEEN:
		s->unseen = (uint32_t)v;
		s->have |= IMAPP_S_UNSEEN;
		break;
	default:
		s->highestmodseq = v;
		s->have |= IMAPP_S_HIGHESTMODSEQ;
		break;
	}
	p->st = S_STATUS_ATT;
	return IMAPP_MORE;
}

static const struct {
	const char *name;
	unsigned bit;
} list_attrs[] = {
	{ "\\Noselect", IMAPP_L_NOSELECT },
	{ "\\NonExistent", IMAPP_L_NONEXISTENT },
	{ "\\Noinferiors", IMAPP_L_NOINFERIORS },
	{ "\\HasChildren", IMAPP_L_HASCHILDREN },
};

/* One token in the current state. */
static enum imapp_step step(struct imapp *p, const struct token *t)
{
	bool more;
	char c[4];

	if (t->t == T_BAD)
		return malformed(p, t->why);
	switch (p->st) {
	case S_FETCH_OPEN:
		if (t->t != T_LPAREN)
			return malformed(p, "'(' expected");
		p->st = S_FETCH_ATT;
		return IMAPP_MORE;
	case S_FETCH_ATT:
		if (t->t == T_RPAREN) {
			p->st = S_END;
			return IMAPP_MORE;
		}
		if (t->t != T_ATOM)
			return malformed(p, t->t == T_EOL ? "unterminated"
							  : "attribute expected");
		p->att = A_OTHER;
		for (size_t i = 0; i < sizeof fetch_atts / sizeof *fetch_atts; i++)
			if (is_word(t, fetch_atts[i].name))
				p->att = fetch_atts[i].att;
		p->st = S_FETCH_VAL;
		return IMAPP_MORE;
	case S_FETCH_VAL:
		return fetch_value(p, t);
	case S_FETCH_FLAGS:
		if (t->t == T_RPAREN) {
			p->r.fetch.have |= IMAPP_F_FLAGS;
			p->st = S_FETCH_ATT;
			return IMAPP_MORE;
		}
		if (t->t != T_ATOM)
			return malformed(p, "bad flag");
		add_flag(&p->r.fetch, t->s, t->n);
		return IMAPP_MORE;
	case S_FETCH_MODSEQ:
		if (t->t != T_ATOM ||
		    !number(t->s, t->n, INT64_MAX, &p->r.fetch.modseq))
			return malformed(p, "bad MODSEQ");
		p->st = S_FETCH_MODSEQ_END;
		return IMAPP_MORE;
	case S_FETCH_MODSEQ_END:
		if (t->t != T_RPAREN)
			return malformed(p, "bad MODSEQ");
		p->r.fetch.have |= IMAPP_F_MODSEQ;
		p->st = S_FETCH_ATT;
		return IMAPP_MORE;
	case S_END:
		if (t->t != T_EOL)
			return malformed(p, "unexpected data at the end");
		p->st = S_START;
		return IMAPP_DONE;
	case S_SKIP:
		switch (t->t) {
		case T_LPAREN:
			if (++p->depth > IMAPP_DEPTH_MAX)
				return malformed(p, "lists nested too deep");
			return IMAPP_MORE;
		case T_RPAREN:
			if (--p->depth == 0)
				p->st = p->ret;
			return IMAPP_MORE;
		case T_LITERAL:
			return want_literal(p, t, IMAPP_USE_SKIP, S_SKIP);
		case T_EOL:
			return malformed(p, "unbalanced parentheses");
		default:
			return IMAPP_MORE;
		}
	case S_LIST_OPEN:
		if (t->t != T_LPAREN)
			return malformed(p, "'(' expected");
		p->st = S_LIST_FLAGS;
		return IMAPP_MORE;
	case S_LIST_FLAGS:
		if (t->t == T_RPAREN) {
			p->st = S_LIST_DELIM;
			return IMAPP_MORE;
		}
		if (t->t != T_ATOM)
			return malformed(p, "bad attribute");
		for (size_t i = 0; i < sizeof list_attrs / sizeof *list_attrs; i++)
			if (is_word(t, list_attrs[i].name))
				p->r.list.attrs |= list_attrs[i].bit;
		return IMAPP_MORE;
	case S_LIST_DELIM:
		if (is_word(t, "NIL")) {
			p->r.list.delim = 0;
		} else if (t->t == T_QUOTED && t->n <= 2 &&
			   unquote(t->s, t->n, c) == 1) {
			p->r.list.delim = c[0];
		} else {
			return malformed(p, "bad delimiter");
		}
		p->st = S_LIST_NAME;
		return IMAPP_MORE;
	case S_LIST_NAME:
	case S_STATUS_NAME: {
		int after = p->st == S_LIST_NAME ? S_LIST_EXT : S_STATUS_OPEN;

		if (t->t == T_LITERAL)
			return want_literal(p, t, IMAPP_USE_VALUE, after);
		if (t->t != T_ATOM && t->t != T_QUOTED)
			return malformed(p, "mailbox name expected");
		set_mailbox(p, t->s, t->n, t->t == T_QUOTED);
		p->st = after;
		return IMAPP_MORE;
	}
	case S_LIST_EXT:
		if (t->t == T_EOL) {
			p->st = S_START;
			return IMAPP_DONE;
		}
		return skip_value(p, t, S_LIST_EXT, &more);
	case S_STATUS_OPEN:
		if (t->t != T_LPAREN)
			return malformed(p, "'(' expected");
		p->st = S_STATUS_ATT;
		return IMAPP_MORE;
	case S_STATUS_ATT:
		if (t->t == T_RPAREN) {
			p->st = S_END;
			return IMAPP_MORE;
		}
		if (t->t != T_ATOM)
			return malformed(p, "attribute expected");
		p->att = A_OTHER;
		for (size_t i = 0; i < sizeof status_atts / sizeof *status_atts; i++)
			if (is_word(t, status_atts[i].name))
				p->att = status_atts[i].att;
		p->st = S_STATUS_VAL;
		return IMAPP_MORE;
	case S_STATUS_VAL:
		return status_value(p, t);
	case S_REST:
		if (t->t == T_EOL) {
			p->st = S_START;
			return IMAPP_DONE;
		}
		if (t->t == T_LITERAL)
			return want_literal(p, t, IMAPP_USE_SKIP, S_REST);
		return IMAPP_MORE;
	default:
		return malformed(p, "parser state");
	}
}

/* Feed the tokens of the current line from p->pos on. */
static enum imapp_step run(struct imapp *p)
{
	struct token t;

	for (;;) {
		enum imapp_step r;

		next(p, &t);
		if (++p->items > IMAPP_ITEMS_MAX)
			return fail(p, "server response holds more than %d items",
				    IMAPP_ITEMS_MAX);
		r = step(p, &t);
		if (r != IMAPP_MORE)
			return r;
		if (t.t == T_EOL)
			return malformed(p, "unterminated");
	}
}

/* --- the first line --- */

/* The word at p->pos (up to a blank), consumed with one blank after it. */
static size_t word(struct imapp *p, const char **w)
{
	size_t start = p->pos;

	while (p->pos < p->len && p->line[p->pos] != ' ')
		p->pos++;
	*w = p->line + start;
	return p->pos - start;
}

static bool same(const char *w, size_t n, const char *want)
{
	return n == strlen(want) && strncasecmp(w, want, n) == 0;
}

/* The rest of a line after one blank, as a string in p->first. */
static const char *rest(struct imapp *p)
{
	if (p->pos < p->len && p->first[p->pos] == ' ')
		p->pos++;
	return p->first + p->pos;
}

/* "[CODE args] text" after a condition word. */
static enum imapp_step cond_text(struct imapp *p)
{
	struct imapp_resp *r = &p->r;
	char *s = (char *)rest(p), *close, *args;
	uint64_t max = 0;
	size_t n;

	r->type = IMAPP_T_COND;
	r->text = s;
	if (*s != '[' || !(close = strchr(s, ']')))
		return IMAPP_DONE;   /* no code: all of it is text */
	n = strcspn(s + 1, " ]");
	if (n == 0 || n >= sizeof r->code)
		return IMAPP_DONE;   /* no code we know: text */
	memcpy(r->code, s + 1, n);
	r->code[n] = '\0';
	args = s + 1 + n + (s[1 + n] == ' ');
	if (!strcasecmp(r->code, "HIGHESTMODSEQ"))
		max = INT64_MAX;
	else if (!strcasecmp(r->code, "UIDVALIDITY") ||
		 !strcasecmp(r->code, "UIDNEXT") || !strcasecmp(r->code, "UNSEEN"))
		max = UINT32_MAX;
	if (max && !number(args, (size_t)(close - args), max, &r->code_num))
		return fail(p, "malformed [%s] response code from server",
			    r->code);
	*close = '\0';
	r->code_args = args;
	r->text = close + 1 + (close[1] == ' ');
	return IMAPP_DONE;
}

/* RFC 3501 tag characters (astring-char without '+'). */
static bool tag_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && !strchr("(){%*\"\\+", c);
}

static enum imapp_step untagged(struct imapp *p)
{
	struct imapp_resp *r = &p->r;
	const char *w;
	size_t n = word(p, &w);
	uint64_t v;

	r->kind = IMAP_UNTAGGED;
	if ((r->cond = imap_cond_word(w, n)) != IMAP_COND_NONE)
		return cond_text(p);
	if (n > 0 && is_digit(w[0])) {
		if (!number(w, n, UINT32_MAX, &v))
			return fail(p, "malformed response from server (bad number)");
		r->num = (uint32_t)v;
		if (p->pos < p->len)
			p->pos++;
		n = word(p, &w);
		if (same(w, n, "EXISTS"))
			r->type = IMAPP_T_EXISTS;
		else if (same(w, n, "RECENT"))
			r->type = IMAPP_T_RECENT;
		else if (same(w, n, "EXPUNGE"))
			r->type = IMAPP_T_EXPUNGE;
		else if (same(w, n, "FETCH"))
			r->type = IMAPP_T_FETCH;
		else
			r->type = IMAPP_T_OTHER;
		if (r->type == IMAPP_T_EXPUNGE && v == 0)
			return malformed(p, "message number 0");
		p->st = r->type == IMAPP_T_FETCH ? S_FETCH_OPEN
			: r->type == IMAPP_T_OTHER ? S_REST : S_END;
		return run(p);
	}
	if (same(w, n, "CAPABILITY") || same(w, n, "ENABLED")) {
		r->type = same(w, n, "ENABLED") ? IMAPP_T_ENABLED
						: IMAPP_T_CAPABILITY;
		r->words = rest(p);
		return IMAPP_DONE;
	}
	if (same(w, n, "VANISHED")) {
		r->type = IMAPP_T_VANISHED;
		r->words = rest(p);
		if (!strncasecmp(r->words, "(EARLIER)", 9)) {
			r->vanished_earlier = true;
			r->words += 9;
			r->words += *r->words == ' ';
		}
		return IMAPP_DONE;
	}
	if (same(w, n, "LIST")) {
		r->type = IMAPP_T_LIST;
		p->st = S_LIST_OPEN;
	} else if (same(w, n, "STATUS")) {
		r->type = IMAPP_T_STATUS;
		p->st = S_STATUS_NAME;
	} else if (n > 0) {
		r->type = IMAPP_T_OTHER;
		p->st = S_REST;
	} else {
		return fail(p, "malformed response from server");
	}
	return run(p);
}

static enum imapp_step first_line(struct imapp *p)
{
	struct imapp_resp *r = &p->r;
	const char *w;
	size_t n;

	/* A copy that holds the texts the response points to. */
	p->first = mp_xmalloc(p->len + 1);
	memcpy(p->first, p->line, p->len);
	p->first[p->len] = '\0';
	p->line = p->first;

	if (p->len >= 1 && p->line[0] == '+') {
		/* "+ text", or a bare "+" as some servers send. */
		r->kind = IMAP_CONTINUATION;
		r->type = IMAPP_T_NONE;
		p->pos = 1;
		r->text = rest(p);
		return IMAPP_DONE;
	}
	if (p->len >= 2 && p->line[0] == '*' && p->line[1] == ' ') {
		p->pos = 2;
		return untagged(p);
	}
	while (p->pos < p->len && tag_char((unsigned char)p->line[p->pos]))
		p->pos++;
	n = p->pos;
	if (n == 0 || n >= sizeof r->tag || p->pos >= p->len ||
	    p->line[p->pos] != ' ')
		return fail(p, "malformed response from server");
	memcpy(r->tag, p->line, n);
	r->tag[n] = '\0';
	p->pos++;
	r->kind = IMAP_TAGGED;
	n = word(p, &w);
	r->cond = imap_cond_word(w, n);
	/* A tagged reply is always OK, NO or BAD. */
	if (r->cond != IMAP_COND_OK && r->cond != IMAP_COND_NO &&
	    r->cond != IMAP_COND_BAD)
		return fail(p, "malformed tagged response from server");
	return cond_text(p);
}

/* --- the interface --- */

void imapp_begin(struct imapp *p)
{
	imapp_free(p);
	memset(p, 0, sizeof *p);
	p->st = S_START;
	p->r.kind = IMAP_BAD_LINE;
	p->r.cond = IMAP_COND_NONE;
	p->r.code_args = p->r.text = p->r.words = "";
}

void imapp_free(struct imapp *p)
{
	free(p->first);
	free(p->body);
	free(p->r.mailbox);
	p->first = p->body = p->r.mailbox = NULL;
	p->r.fetch.body = NULL;
}

enum imapp_step imapp_line(struct imapp *p, const char *line, size_t len)
{
	enum imapp_step r;

	p->line = line;
	p->len = len;
	p->pos = 0;
	if (p->waiting)
		return fail(p, "literal not read");
	if (p->st == S_START && p->lines > 0)
		return fail(p, "response already complete");
	if (memchr(line, '\0', len))
		return fail(p, "server sent a NUL byte in a response line");
	if (++p->lines > IMAPP_LINES_MAX)
		return fail(p, "server response runs over more than %d lines",
			    IMAPP_LINES_MAX);
	r = p->st == S_START ? first_line(p) : run(p);
	p->line = NULL;
	return r;
}

enum imapp_step imapp_literal(struct imapp *p, const char *data, size_t len)
{
	if (!p->waiting)
		return fail(p, "no literal announced");
	p->waiting = false;
	if (p->use != IMAPP_USE_VALUE)
		return IMAPP_MORE;
	if (!data || len != p->literal)
		return fail(p, "literal of the wrong size");
	if (memchr(data, '\0', len))
		return fail(p, "server sent a mailbox name holding a NUL byte");
	set_mailbox(p, data, len, false);
	return IMAPP_MORE;
}
