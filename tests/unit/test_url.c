/* Unit tests for common/url.c. */
#include <string.h>

#include "url.h"
#include "tap.h"

static void good(const char *text, const char *scheme, enum mp_proto proto,
		 bool tls, const char *user, const char *host, unsigned port,
		 const char *path)
{
	struct mp_url u;
	struct mp_error err = { 0 };
	enum mp_status st = url_parse(text, &u, &err);

	is_int(st, MP_OK, "parse '%s'", text);
	if (st != MP_OK) {
		printf("#   error: %s\n", err.msg);
		return;
	}
	is_str(u.scheme, scheme, "'%s': scheme", text);
	is_int(u.proto, proto, "'%s': protocol", text);
	ok(u.implicit_tls == tls, "'%s': implicit TLS %s", text, tls ? "on" : "off");
	is_str(u.user, user, "'%s': user", text);
	is_str(u.host, host, "'%s': host", text);
	is_int(u.port, port, "'%s': port", text);
	is_str(u.path, path, "'%s': path", text);
}

/* text with control bytes shown as \xNN, so TAP lines stay whole. */
static const char *shown(const char *text, char *buf, size_t size)
{
	size_t o = 0;

	for (; *text && o + 5 < size; text++) {
		unsigned char c = (unsigned char)*text;

		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
	return buf;
}

/* The parse must fail with MP_ERR_USAGE and a message containing want. */
static void bad(const char *text, const char *want)
{
	struct mp_url u;
	struct mp_error err = { 0 };
	enum mp_status st = url_parse(text, &u, &err);
	char buf[600];
	const char *t = shown(text, buf, sizeof(buf));

	is_int(st, MP_ERR_USAGE, "reject '%s'", t);
	ok(strstr(err.msg, want) != NULL, "'%s': message says '%s'", t, want);
	if (!strstr(err.msg, want))
		printf("#   message: %s\n", err.msg);
	ok(u.host[0] == '\0' && u.user[0] == '\0' && u.port == 0,
	   "'%s': nothing half-parsed is left", t);
	ok(strchr(err.msg, '\r') == NULL && strchr(err.msg, '\n') == NULL,
	   "'%s': message has no line break", t);
}

static void test_good(void)
{
	good("smtp://mail.example.com", "smtp", MP_PROTO_SMTP, false, "",
	     "mail.example.com", 587, "");
	good("smtps://me@mail.example.com", "smtps", MP_PROTO_SMTP, true, "me",
	     "mail.example.com", 465, "");
	good("smtp://mail.example.com:25", "smtp", MP_PROTO_SMTP, false, "",
	     "mail.example.com", 25, "");
	good("lmtp://127.0.0.1", "lmtp", MP_PROTO_LMTP, false, "", "127.0.0.1",
	     24, "");
	good("lmtp:///run/dovecot/lmtp", "lmtp", MP_PROTO_LMTP, false, "", "",
	     0, "/run/dovecot/lmtp");
	good("imap://imap.example.org", "imap", MP_PROTO_IMAP, false, "",
	     "imap.example.org", 143, "");
	good("imaps://imap.example.org", "imaps", MP_PROTO_IMAP, true, "",
	     "imap.example.org", 993, "");
	good("pop3://pop.example.org", "pop3", MP_PROTO_POP3, false, "",
	     "pop.example.org", 110, "");
	good("pop3s://pop.example.org", "pop3s", MP_PROTO_POP3, true, "",
	     "pop.example.org", 995, "");
	good("IMAPS://Host.Example", "imaps", MP_PROTO_IMAP, true, "",
	     "Host.Example", 993, "");
	good("Pop3S://h:1", "pop3s", MP_PROTO_POP3, true, "", "h", 1, "");
	good("imaps://h:65535", "imaps", MP_PROTO_IMAP, true, "", "h", 65535, "");
	good("imaps://h:00993", "imaps", MP_PROTO_IMAP, true, "", "h", 993, "");
	good("imaps://host/", "imaps", MP_PROTO_IMAP, true, "", "host", 993, "");
	good("imaps://host:10993/", "imaps", MP_PROTO_IMAP, true, "", "host",
	     10993, "");
	good("imaps://under_score-host.example", "imaps", MP_PROTO_IMAP, true,
	     "", "under_score-host.example", 993, "");

	/* users */
	good("imaps://me%40example.com@imap.example.com", "imaps",
	     MP_PROTO_IMAP, true, "me@example.com", "imap.example.com", 993, "");
	good("imaps://me@example.com@imap.example.com:1993", "imaps",
	     MP_PROTO_IMAP, true, "me@example.com", "imap.example.com", 1993, "");
	good("smtps://john%20doe@h", "smtps", MP_PROTO_SMTP, true, "john doe",
	     "h", 465, "");
	good("smtps://a%3ab@h", "smtps", MP_PROTO_SMTP, true, "a:b", "h", 465, "");
	good("smtps://%C3%A9@h", "smtps", MP_PROTO_SMTP, true, "\xc3\xa9", "h",
	     465, "");

	/* IPv6 */
	good("imaps://[::1]", "imaps", MP_PROTO_IMAP, true, "", "::1", 993, "");
	good("imaps://[::1]:10993", "imaps", MP_PROTO_IMAP, true, "", "::1",
	     10993, "");
	good("smtp://u@[2001:db8::25]:2525/", "smtp", MP_PROTO_SMTP, false, "u",
	     "2001:db8::25", 2525, "");
	good("pop3://[::ffff:192.0.2.1]", "pop3", MP_PROTO_POP3, false, "",
	     "::ffff:192.0.2.1", 110, "");
}

static void test_bad(void)
{
	char longpath[200], longhost[300], url[400];

	/* schemes */
	bad("http://example.com", "unknown scheme 'http'");
	bad("smtpx://example.com", "unknown scheme");
	bad("://example.com", "unknown scheme");
	bad("example.com", "no scheme");
	bad("imaps:/example.com", "no scheme");
	bad("", "empty server URL");
	bad("me:secret@host://x", "unknown scheme in");
	bad("me:secret@host", "no scheme");

	/* ports */
	bad("imaps://h:0", "bad port '0' in server URL");
	bad("imaps://h:65536", "bad port '65536'");
	bad("imaps://h:99999", "bad port '99999' in server URL");
	bad("imaps://h:-1", "bad port '-1'");
	bad("imaps://h:abc", "bad port 'abc'");
	bad("imaps://h:", "missing port");
	bad("imaps://h:+993", "bad port '+993'");
	bad("imaps://h:0x3e1", "bad port '0x3e1'");
	bad("imaps://h:99999999999999999999999", "bad port");
	bad("imaps://[::1]:", "missing port");
	bad("imaps://[::1]:0", "bad port '0'");
	bad("imaps://[::1]993", "after ']'");

	/* hosts */
	bad("imaps://", "no host");
	bad("imaps://me@", "no host");
	bad("imaps://:993", "no host");
	bad("imaps:///", "only lmtp");
	bad("imaps://ho st", "blank");
	bad("imaps://ho!st", "bad host name 'ho!st'");
	bad("imaps://h\xc3\xa9st", "bad host name");
	bad("imaps://::1", "need brackets");
	bad("imaps://::1:993", "need brackets");
	bad("imaps://[]", "empty IPv6");
	bad("imaps://[::1", "missing ']'");
	bad("imaps://[example.com]", "bad IPv6");
	bad("imaps://[::1%eth0]", "bad IPv6");
	bad("imaps://[1234]", "bad IPv6");
	memset(longhost, 'a', 256);
	longhost[256] = '\0';
	snprintf(url, sizeof(url), "imaps://%s", longhost);
	bad(url, "too long");

	/* path, query, fragment */
	bad("imaps://host/INBOX", "path, query or fragment");
	bad("imaps://host//", "path, query or fragment");
	bad("imaps://host?x=1", "path, query or fragment");
	bad("imaps://host#frag", "path, query or fragment");
	bad("imaps://host:993/x", "path, query or fragment");

	/* passwords */
	bad("imaps://me:secret@host", "password-command or MAILPIPE_PASSWORD");
	bad("imaps://me:@host", "password");
	bad("imaps://me%40x.org:pw@host", "password");

	/* users */
	bad("imaps://@host", "empty user");
	bad("imaps://a%4@host", "bad percent escape");
	bad("imaps://a%@host", "bad percent escape");
	bad("imaps://a%zz@host", "bad percent escape");

	/* line breaks and controls, raw and encoded */
	bad("imaps://me\r@host", "control character");
	bad("imaps://me\n@host", "control character");
	bad("imaps://me\r\nRCPT@host", "control character");
	bad("imaps://host\n", "control character");
	bad("imaps://me\t@host", "control character");
	bad("imaps://me\x7f@host", "control character");
	bad("imaps://me%0d@host", "control character (%0D)");
	bad("imaps://me%0A@host", "control character (%0A)");
	bad("imaps://me%00@host", "control character (%00)");
	bad("imaps://me%0d%0aRCPT%20TO:x@host", "control character");
	bad("imaps://me%7f@host", "control character");
	bad("imaps://me%1b@host", "control character");

	/* unix sockets */
	bad("lmtp:///", "empty socket path");
	memset(longpath, 'p', sizeof(longpath));
	longpath[0] = '/';
	longpath[108] = '\0';   /* 108 bytes do not fit with the NUL */
	snprintf(url, sizeof(url), "lmtp://%s", longpath);
	bad(url, "longer than 107 bytes");
	bad("smtp:///run/socket", "only lmtp");
	bad("imaps:///run/socket", "only lmtp");
	bad("lmtp://relative/path", "path, query or fragment");
	bad("lmtp:///run/lmtp\r", "control character");
}

/* Messages must not echo a password that was put where it does not belong. */
static void test_no_echo(void)
{
	static const char *const urls[] = {
		"me:secret@host://x", "me:secret@host", "imaps://me:secret@host",
		"imaps://me:secret@host:99999", "imaps://me:secret@ho!st",
		"imaps://me:secret@host/path",
	};
	struct mp_url u;
	struct mp_error err;

	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		err.msg[0] = '\0';
		ok(url_parse(urls[i], &u, &err) == MP_ERR_USAGE &&
		   !strstr(err.msg, "secret"), "'%s': password not echoed", urls[i]);
	}
}

static void test_socket_limit(void)
{
	char path[120], url[140];
	struct mp_url u;
	struct mp_error err;

	memset(path, 'p', sizeof(path));
	path[0] = '/';
	path[107] = '\0';
	snprintf(url, sizeof(url), "lmtp://%s", path);
	is_int(url_parse(url, &u, &err), MP_OK, "107-byte socket path fits");
	is_str(u.path, path, "socket path kept whole");
}

static void test_default_port(void)
{
	is_int(url_default_port("smtp"), 587, "smtp default port");
	is_int(url_default_port("smtps"), 465, "smtps default port");
	is_int(url_default_port("lmtp"), 24, "lmtp default port");
	is_int(url_default_port("imap"), 143, "imap default port");
	is_int(url_default_port("imaps"), 993, "imaps default port");
	is_int(url_default_port("pop3"), 110, "pop3 default port");
	is_int(url_default_port("pop3s"), 995, "pop3s default port");
	is_int(url_default_port("IMAPS"), 993, "scheme case ignored");
	is_int(url_default_port("http"), 0, "unknown scheme: 0");
	is_int(url_default_port(""), 0, "empty scheme: 0");
	is_int(url_default_port("imapss"), 0, "longer name: 0");
}

static void test_null_err(void)
{
	struct mp_url u;

	is_int(url_parse("bogus", &u, NULL), MP_ERR_USAGE,
	       "a NULL error buffer is allowed");
	is_int(url_parse(NULL, &u, NULL), MP_ERR_USAGE, "a NULL URL is refused");
}

int main(void)
{
	test_good();
	test_bad();
	test_no_echo();
	test_socket_limit();
	test_default_port();
	test_null_err();
	return tap_done();
}
