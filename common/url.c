/* Server URL parsing: scheme://[user@]host[:port][/] or lmtp:///socket. */
#include "url.h"

#include <string.h>
#include <strings.h>

#include "strutil.h"

/* How much of a bad piece to quote back in a message. */
#define QUOTE_MAX 64

struct scheme {
	const char *name;
	enum mp_proto proto;
	bool implicit_tls;
	unsigned port;
};

static const struct scheme schemes[] = {
	{ "smtp",  MP_PROTO_SMTP, false, 587 },	/* submission */
	{ "smtps", MP_PROTO_SMTP, true,  465 },
	{ "lmtp",  MP_PROTO_LMTP, false, 24 },
	{ "imap",  MP_PROTO_IMAP, false, 143 },
	{ "imaps", MP_PROTO_IMAP, true,  993 },
	{ "pop3",  MP_PROTO_POP3, false, 110 },
	{ "pop3s", MP_PROTO_POP3, true,  995 },
};

static const struct scheme *find_scheme(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strlen(schemes[i].name) == len &&
		    strncasecmp(schemes[i].name, name, len) == 0)
			return &schemes[i];
	return NULL;
}

unsigned url_default_port(const char *scheme)
{
	const struct scheme *s;

	if (!scheme)
		return 0;
	s = find_scheme(scheme, strlen(scheme));
	return s ? s->port : 0;
}

static bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Percent-decode the user part s[0..len) into out (outsize bytes). */
static enum mp_status decode_user(const char *s, size_t len, char *out,
				  size_t outsize, struct mp_error *err)
{
	size_t o = 0;

	if (len == 0)
		return mp_fail(err, MP_ERR_USAGE,
			       "empty user name before '@' in server URL");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == ':')
			return mp_fail(err, MP_ERR_USAGE,
				       "a password in the server URL is refused; "
				       "use password-command or MAILPIPE_PASSWORD");
		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				hi = lo = -1;
			else {
				hi = mp_hexdigit((unsigned char)s[i + 1]);
				lo = mp_hexdigit((unsigned char)s[i + 2]);
			}
			if (hi < 0 || lo < 0)
				return mp_fail(err, MP_ERR_USAGE,
					       "bad percent escape in the user "
					       "name of the server URL");
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
			if (is_ctl(c))
				return mp_fail(err, MP_ERR_USAGE,
					       "control character (%%%02X) in "
					       "the user name of the server URL",
					       c);
		}
		if (o + 1 >= outsize)
			return mp_fail(err, MP_ERR_USAGE,
				       "user name in server URL is too long");
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return MP_OK;
}

static bool is_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

static enum mp_status parse_port(const char *s, size_t len, unsigned *port,
				 struct mp_error *err)
{
	unsigned long v = 0;

	if (len == 0)
		return mp_fail(err, MP_ERR_USAGE,
			       "missing port number after ':' in server URL");
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || v > 65535)
			goto bad;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v < 1 || v > 65535)
		goto bad;
	*port = (unsigned)v;
	return MP_OK;
bad:
	return mp_fail(err, MP_ERR_USAGE,
		       "bad port '%.*s' in server URL (use 1 to 65535)",
		       (int)(len > QUOTE_MAX ? QUOTE_MAX : len), s);
}

/* host[:port] or [v6]:port in s[0..len). */
static enum mp_status parse_hostport(const char *s, size_t len,
				     struct mp_url *out, struct mp_error *err)
{
	const char *host = s, *port = NULL;
	size_t hlen, plen = 0;

	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		size_t after;

		if (!close)
			return mp_fail(err, MP_ERR_USAGE,
				       "missing ']' after IPv6 address in server URL");
		host = s + 1;
		hlen = (size_t)(close - host);
		if (hlen == 0)
			return mp_fail(err, MP_ERR_USAGE,
				       "empty IPv6 address in server URL");
		for (size_t i = 0; i < hlen; i++)
			if (mp_hexdigit((unsigned char)host[i]) < 0 &&
			    host[i] != ':' && host[i] != '.')
				return mp_fail(err, MP_ERR_USAGE,
					       "bad IPv6 address '%.*s' in server URL",
					       (int)(hlen > QUOTE_MAX ? QUOTE_MAX : hlen),
					       host);
		if (!memchr(host, ':', hlen))
			return mp_fail(err, MP_ERR_USAGE,
				       "bad IPv6 address '%.*s' in server URL",
				       (int)(hlen > QUOTE_MAX ? QUOTE_MAX : hlen), host);
		after = len - (size_t)(close + 1 - s);
		if (after > 0) {
			if (close[1] != ':')
				return mp_fail(err, MP_ERR_USAGE,
					       "unexpected text after ']' in server URL");
			port = close + 2;
			plen = after - 1;
		}
	} else {
		const char *colon = memchr(s, ':', len);

		hlen = colon ? (size_t)(colon - s) : len;
		if (colon) {
			port = colon + 1;
			plen = len - hlen - 1;
			if (memchr(port, ':', plen))
				return mp_fail(err, MP_ERR_USAGE,
					       "IPv6 addresses in a server URL "
					       "need brackets: [::1]:993");
		}
		if (hlen == 0)
			return mp_fail(err, MP_ERR_USAGE,
				       "no host name in server URL");
		for (size_t i = 0; i < hlen; i++)
			if (!is_name_char((unsigned char)host[i]))
				return mp_fail(err, MP_ERR_USAGE,
					       "bad host name '%.*s' in server URL",
					       (int)(hlen > QUOTE_MAX ? QUOTE_MAX : hlen),
					       host);
	}
	if (hlen >= sizeof(out->host))
		return mp_fail(err, MP_ERR_USAGE,
			       "host name in server URL is too long");
	memcpy(out->host, host, hlen);
	out->host[hlen] = '\0';
	if (port)
		return parse_port(port, plen, &out->port, err);
	return MP_OK;
}

static enum mp_status parse(const char *text, struct mp_url *out,
			    struct mp_error *err)
{
	const struct scheme *sch;
	const char *sep, *rest, *at, *end;
	size_t slen, alen;
	enum mp_status st;

	memset(out, 0, sizeof(*out));
	if (!text || !*text)
		return mp_fail(err, MP_ERR_USAGE, "empty server URL");
	for (const char *p = text; *p; p++) {
		if (is_ctl((unsigned char)*p))
			return mp_fail(err, MP_ERR_USAGE,
				       "control character in server URL");
		if (*p == ' ')
			return mp_fail(err, MP_ERR_USAGE,
				       "blank in server URL (write %%20 in a user name)");
	}

	sep = strstr(text, "://");
	if (!sep)
		return mp_fail(err, MP_ERR_USAGE,
			       "server URL has no scheme (like imaps://host)");
	slen = (size_t)(sep - text);
	sch = find_scheme(text, slen);
	/* Quote only what looks like a scheme: the text may hold a password. */
	if (!sch && slen > 0 && slen <= 10 &&
	    strspn(text, "abcdefghijklmnopqrstuvwxyz"
		   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.") == slen)
		return mp_fail(err, MP_ERR_USAGE,
			       "unknown scheme '%.*s' in server URL (use smtp, "
			       "smtps, lmtp, imap, imaps, pop3 or pop3s)",
			       (int)slen, text);
	if (!sch)
		return mp_fail(err, MP_ERR_USAGE,
			       "unknown scheme in server URL (use smtp, smtps, "
			       "lmtp, imap, imaps, pop3 or pop3s)");
	out->proto = sch->proto;
	out->implicit_tls = sch->implicit_tls;
	mp_strlcpy(out->scheme, sch->name, sizeof(out->scheme));
	rest = sep + 3;

	if (sch->proto == MP_PROTO_LMTP && rest[0] == '/') {
		/* lmtp:///abs/path names a unix socket; sun_path is 108 bytes. */
		size_t plen = strlen(rest);

		if (plen < 2)
			return mp_fail(err, MP_ERR_USAGE,
				       "empty socket path in server URL");
		if (plen >= sizeof(out->path))
			return mp_fail(err, MP_ERR_USAGE,
				       "socket path in server URL is longer than "
				       "%zu bytes", sizeof(out->path) - 1);
		memcpy(out->path, rest, plen + 1);
		out->port = 0;
		return MP_OK;
	}

	if (rest[0] == '/')
		return mp_fail(err, MP_ERR_USAGE,
			       "only lmtp:// URLs may name a unix socket "
			       "(%s:/// has no host)", sch->name);
	alen = strcspn(rest, "/?#");
	end = rest + alen;
	if (*end && !(end[0] == '/' && end[1] == '\0'))
		return mp_fail(err, MP_ERR_USAGE,
			       "server URL may not have a path, query or fragment");

	out->port = sch->port;
	at = NULL;
	for (const char *p = rest; p < end; p++)
		if (*p == '@')
			at = p;
	if (at) {
		st = decode_user(rest, (size_t)(at - rest), out->user,
				 sizeof(out->user), err);
		if (st != MP_OK)
			return st;
		rest = at + 1;
	}
	return parse_hostport(rest, (size_t)(end - rest), out, err);
}

enum mp_status url_parse(const char *text, struct mp_url *out,
			 struct mp_error *err)
{
	enum mp_status st = parse(text, out, err);

	/* Leave nothing half-parsed behind for a caller that ignores st. */
	if (st != MP_OK)
		memset(out, 0, sizeof(*out));
	return st;
}
