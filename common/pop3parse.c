/* POP3 multi-line bodies and scan listings (RFC 1939). Pure: every function
 * reads line[0..len) only, so embedded NULs and missing terminators are
 * harmless. */
#include "pop3parse.h"

#include <string.h>

enum pop3_ml pop3_multiline(const char *line, size_t len, const char **data,
			    size_t *data_len)
{
	if (len > 0 && line[0] == '.') {
		if (len == 1) {
			*data = line + 1;
			*data_len = 0;
			return POP3_ML_END;
		}
		/* Byte-stuffed: the first dot is the server's, not the message's. */
		line++;
		len--;
	}
	*data = line;
	*data_len = len;
	return POP3_ML_DATA;
}

static void skip_blanks(const char *s, size_t len, size_t *i)
{
	while (*i < len && (s[*i] == ' ' || s[*i] == '\t'))
		(*i)++;
}

/* A decimal number of at least one digit, no sign, no overflow. */
static bool parse_number(const char *s, size_t len, size_t *i,
			 unsigned long long *out)
{
	unsigned long long v = 0;
	size_t start = *i;

	while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
		unsigned d = (unsigned)(s[*i] - '0');

		if (v > (~0ULL - d) / 10)
			return false;
		v = v * 10 + d;
		(*i)++;
	}
	*out = v;
	return *i > start;
}

/* Separator between fields: at least one blank. */
static bool need_blank(const char *s, size_t len, size_t *i)
{
	size_t start = *i;

	skip_blanks(s, len, i);
	return *i > start;
}

/* "NUM SIZE", then nothing or blank-separated text (RFC 1939 allows more
 * after the size). */
static bool parse_pair(const char *s, size_t len, unsigned long long *a,
		       unsigned long long *b)
{
	size_t i = 0;

	skip_blanks(s, len, &i);
	if (!parse_number(s, len, &i, a) || !need_blank(s, len, &i) ||
	    !parse_number(s, len, &i, b))
		return false;
	return i == len || s[i] == ' ' || s[i] == '\t';
}

bool pop3_parse_stat(const char *text, size_t len, unsigned long max_count,
		     unsigned long *count, unsigned long long *size)
{
	unsigned long long c, sz;

	if (!parse_pair(text, len, &c, &sz) || c > max_count)
		return false;
	*count = (unsigned long)c;
	*size = sz;
	return true;
}

bool pop3_parse_list_line(const char *line, size_t len, unsigned long max_num,
			  unsigned long *num, unsigned long long *size)
{
	unsigned long long n, sz;

	if (!parse_pair(line, len, &n, &sz) || n == 0 || n > max_num)
		return false;
	*num = (unsigned long)n;
	*size = sz;
	return true;
}

bool pop3_parse_uidl_line(const char *line, size_t len, unsigned long max_num,
			  unsigned long *num, char uid[72])
{
	unsigned long long n;
	size_t i = 0, start, ulen;

	skip_blanks(line, len, &i);
	if (!parse_number(line, len, &i, &n) || n == 0 || n > max_num ||
	    !need_blank(line, len, &i))
		return false;
	start = i;
	while (i < len && (unsigned char)line[i] >= 0x21 &&
	       (unsigned char)line[i] <= 0x7e)
		i++;
	ulen = i - start;
	if (ulen < 1 || ulen > 70)
		return false;
	/* Trailing blanks are tolerated; anything else is not a UIDL. */
	skip_blanks(line, len, &i);
	if (i != len)
		return false;
	memcpy(uid, line + start, ulen);
	uid[ulen] = '\0';
	*num = (unsigned long)n;
	return true;
}
