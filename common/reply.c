/* Classifiers for SMTP, POP3 and IMAP server reply lines. */
#include "reply.h"

#include <string.h>
#include <strings.h>

/* Cap on an IMAP literal size: anything larger is a hostile server. */
#define LITERAL_MAX (1LL << 62)

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool smtp_parse_reply_line(const char *line, size_t len,
			   struct smtp_reply_line *out)
{
	out->code = 0;
	out->last = false;
	out->text = "";
	if (len < 3 || line[0] < '2' || line[0] > '5' ||
	    !is_digit(line[1]) || !is_digit(line[2]))
		return false;
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return false;
	out->code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	out->last = len == 3 || line[3] == ' ';
	if (len > 4)
		out->text = line + 4;
	return true;
}

/* True if line[0..len) starts with word (any case) then a blank or the end. */
static bool starts_word(const char *line, size_t len, const char *word)
{
	size_t n = strlen(word);

	return len >= n && strncasecmp(line, word, n) == 0 &&
	       (len == n || line[n] == ' ');
}

enum pop3_status pop3_parse_status(const char *line, size_t len,
				   const char **text, char *resp_code)
{
	enum pop3_status st;
	size_t skip;

	if (text)
		*text = "";
	if (resp_code)
		resp_code[0] = '\0';
	if (starts_word(line, len, "+OK")) {
		st = POP3_OK;
		skip = 3;
	} else if (starts_word(line, len, "-ERR")) {
		st = POP3_ERR;
		skip = 4;
	} else if (len >= 1 && line[0] == '+' && (len == 1 || line[1] == ' ')) {
		/* SASL continuation; some servers send a bare "+". */
		if (text && len > 2)
			*text = line + 2;
		return POP3_CONT;
	} else {
		return POP3_BAD;
	}
	if (len > skip)
		skip++;   /* the blank after the status word */
	line += skip;
	len -= skip;

	/* RFC 2449 response code: "[LEVEL/LEVEL]" right after the status. */
	if (len > 0 && line[0] == '[') {
		const char *close = memchr(line, ']', len);
		size_t clen;

		if (close) {
			clen = (size_t)(close - line - 1);
			if (resp_code) {
				size_t n = clen < 63 ? clen : 63;

				memcpy(resp_code, line + 1, n);
				resp_code[n] = '\0';
			}
			len -= clen + 2;
			line = close + 1;
			if (len > 0 && line[0] == ' ') {
				line++;
				len--;
			}
		}
	}
	if (text && len > 0)
		*text = line;
	return st;
}

/* RFC 3501 astring-char without '+': what a tag may hold. */
static bool is_tag_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return !strchr("(){%*\"\\+", c);
}

/* A "{N}" or "{N+}" ending line[0..len): 1 and *n if found, 0 if the line
 * ends in no literal, -1 if it ends in a malformed one. */
static int trailing_literal(const char *line, size_t len, long long *n)
{
	const char *open;
	size_t end;
	long long v = 0;

	if (len == 0 || line[len - 1] != '}')
		return 0;
	open = NULL;
	for (size_t i = len - 1; i-- > 0;)
		if (line[i] == '{') {
			open = line + i;
			break;
		}
	if (!open)
		return 0;
	end = len - 1;
	if (end > 0 && line[end - 1] == '+')
		end--;
	if (line + end == open + 1)
		return -1;
	for (const char *p = open + 1; p < line + end; p++) {
		if (!is_digit(*p))
			return -1;
		if (v > (LITERAL_MAX - (*p - '0')) / 10)
			return -1;
		v = v * 10 + (*p - '0');
	}
	*n = v;
	return 1;
}

static const struct {
	const char *word;
	enum imap_cond cond;
} conds[] = {
	{ "OK", IMAP_COND_OK },
	{ "NO", IMAP_COND_NO },
	{ "BAD", IMAP_COND_BAD },
	{ "PREAUTH", IMAP_COND_PREAUTH },
	{ "BYE", IMAP_COND_BYE },
};

enum imap_cond imap_cond_word(const char *w, size_t n)
{
	for (size_t i = 0; i < sizeof(conds) / sizeof(conds[0]); i++)
		if (n == strlen(conds[i].word) && strncasecmp(w, conds[i].word, n) == 0)
			return conds[i].cond;
	return IMAP_COND_NONE;
}

/* Parse "COND [CODE args] text" at s[0..len) into out; leaves cond NONE and
 * text = s when s is no status response. */
static void parse_status(const char *s, size_t len, struct imap_line *out)
{
	size_t w;

	out->text = len > 0 ? s : "";
	for (w = 0; w < len && s[w] != ' '; w++)
		;
	out->cond = imap_cond_word(s, w);
	if (out->cond == IMAP_COND_NONE)
		return;
	if (w < len)
		w++;
	s += w;
	len -= w;
	out->text = len > 0 ? s : "";
	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		const char *code = s + 1;
		size_t clen, alen, n;

		if (!close)
			return;   /* no code after all: all of it is text */
		clen = (size_t)(close - code);
		for (alen = 0; alen < clen && code[alen] != ' '; alen++)
			;
		n = alen < sizeof(out->code) ? alen : sizeof(out->code) - 1;
		memcpy(out->code, code, n);
		out->code[n] = '\0';
		if (alen < clen) {
			out->code_args = code + alen + 1;
			out->code_args_len = clen - alen - 1;
		}
		len -= (size_t)(close + 1 - s);
		s = close + 1;
		if (len > 0 && s[0] == ' ') {
			s++;
			len--;
		}
		out->text = len > 0 ? s : "";
	}
}

static void reset(struct imap_line *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = IMAP_BAD_LINE;
	out->cond = IMAP_COND_NONE;
	out->text = "";
	out->rest = "";
	out->literal = -1;
}

void imap_parse_line(const char *line, size_t len, struct imap_line *out)
{
	size_t t;
	long long lit = -1;

	reset(out);
	if (len >= 1 && line[0] == '+') {
		/* "+ text", or a bare "+" as some servers send; resp-text
		 * carries no literal, so braces here are only text. */
		t = len > 1 && line[1] == ' ' ? 2 : 1;
		out->kind = IMAP_CONTINUATION;
		if (len > t)
			out->text = out->rest = line + t;
		return;
	}
	if (len >= 1 && line[0] == '*') {
		if (len < 3 || line[1] != ' ')
			return;
		parse_status(line + 2, len - 2, out);
		if (out->cond == IMAP_COND_NONE) {
			/* Data responses ("* 1 FETCH (BODY[] {42}") may end in a
			 * literal; status responses end in text. */
			if (trailing_literal(line, len, &lit) < 0) {
				reset(out);
				return;
			}
			out->literal = lit;
		}
		out->kind = IMAP_UNTAGGED;
		out->rest = line + 2;
		return;
	}

	for (t = 0; t < len && is_tag_char((unsigned char)line[t]); t++)
		;
	if (t == 0 || t >= sizeof(out->tag) || t + 1 >= len || line[t] != ' ')
		return;
	parse_status(line + t + 1, len - t - 1, out);
	if (out->cond != IMAP_COND_OK && out->cond != IMAP_COND_NO &&
	    out->cond != IMAP_COND_BAD) {
		/* A tagged reply is always OK, NO or BAD. */
		reset(out);
		return;
	}
	out->kind = IMAP_TAGGED;
	memcpy(out->tag, line, t);
	out->tag[t] = '\0';
	out->rest = line + t + 1;
}
