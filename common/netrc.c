#include "netrc.h"

#include <string.h>

#include "strutil.h"

/* The next blank-separated token; quoted tokens keep their blanks. */
static bool next_token(const char **p, const char *end, char *tok, size_t size)
{
	const char *s = *p;
	while (s < end && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
		s++;
	if (s >= end)
		return false;
	size_t n = 0;
	bool quoted = *s == '"';
	if (quoted)
		s++;
	while (s < end) {
		char c = *s;
		if (quoted ? c == '"' : (c == ' ' || c == '\t' || c == '\n' || c == '\r'))
			break;
		if (quoted && c == '\\' && s + 1 < end)
			c = *++s;
		if (n + 1 < size)
			tok[n++] = c;
		s++;
	}
	if (quoted && s < end)
		s++;
	tok[n] = '\0';
	*p = s;
	return true;
}

/* Skip a macdef body: it runs to the next empty line. */
static void skip_macdef(const char **p, const char *end)
{
	const char *s = *p;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		if (!nl) {
			s = end;
			break;
		}
		s = nl + 1;
		if (s < end && (*s == '\n' || (*s == '\r' && s + 1 < end && s[1] == '\n')))
			break;
	}
	*p = s;
}

bool netrc_find(const char *text, size_t len, const char *host,
		const char *user, char *password, size_t pwsize)
{
	const char *p = text, *end = text + len;
	char tok[1024], login[1024] = "", pass[1024] = "";
	bool in_entry = false, matches = false, is_default = false, found = false;
	char best[1024] = "";

	for (;;) {
		bool more = next_token(&p, end, tok, sizeof tok);
		bool macdef = more && !strcmp(tok, "macdef");
		bool boundary = !more || macdef || !strcmp(tok, "machine") ||
				!strcmp(tok, "default");
		if (boundary && in_entry && matches && (!*login || !user || !strcmp(login, user))
		    && *pass) {
			if (!is_default) {
				found = mp_strlcpy(password, pass, pwsize);
				mp_wipe(pass, sizeof pass);
				mp_wipe(best, sizeof best);
				return found;
			}
			if (!*best)
				mp_strlcpy(best, pass, sizeof best);
		}
		if (!more)
			break;
		if (macdef) {
			next_token(&p, end, tok, sizeof tok);
			skip_macdef(&p, end);
			in_entry = false;
		} else if (boundary) {
			in_entry = true;
			login[0] = pass[0] = '\0';
			is_default = !strcmp(tok, "default");
			matches = is_default;
			if (!is_default && next_token(&p, end, tok, sizeof tok))
				matches = !strcmp(tok, host);
		} else if (!strcmp(tok, "login")) {
			next_token(&p, end, login, sizeof login);
		} else if (!strcmp(tok, "password")) {
			next_token(&p, end, pass, sizeof pass);
		} else if (!strcmp(tok, "account")) {
			next_token(&p, end, tok, sizeof tok);
		}
	}
	mp_wipe(pass, sizeof pass);
	if (*best)
		found = mp_strlcpy(password, best, pwsize);
	mp_wipe(best, sizeof best);
	return found;
}
