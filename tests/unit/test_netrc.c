#include "netrc.h"

#include <string.h>

#include "tap.h"

static const char *find(const char *text, const char *host, const char *user)
{
	static char pw[64];
	if (!netrc_find(text, strlen(text), host, user, pw, sizeof pw))
		return NULL;
	return pw;
}

int main(void)
{
	const char *rc =
		"machine imap.example.com login alice password a-secret\n"
		"machine imap.example.com login bob password b-secret\n"
		"machine other.example.com\n  login carol\n  password \"with space\"\n"
		"macdef init\ncd /pub\nmachine evil password no\n\n"
		"machine nologin.example.com password shared\n"
		"default login anyone password fallback\n";

	is_str(find(rc, "imap.example.com", "alice"), "a-secret", "first login matches");
	is_str(find(rc, "imap.example.com", "bob"), "b-secret", "second login matches");
	is_str(find(rc, "other.example.com", "carol"), "with space", "quoted password, entry over lines");
	is_str(find(rc, "nologin.example.com", "dave"), "shared", "entry without login matches any user");
	is_str(find(rc, "unknown.example.com", "anyone"), "fallback", "default entry");
	ok(find(rc, "unknown.example.com", "zed") == NULL, "default with another login does not match");
	ok(find(rc, "evil", "x") == NULL, "macdef body is not read as entries");
	ok(find(rc, "imap.example.com", "mallory") == NULL, "wrong login does not match");
	ok(find("", "h", "u") == NULL, "empty file");
	ok(find("machine", "h", "u") == NULL, "truncated entry");
	ok(find("machine h login u password", "h", "u") == NULL, "missing password value");

	char small[4];
	ok(!netrc_find("machine h password toolong", 26, "h", NULL, small, sizeof small),
	   "password longer than the buffer is not returned");
	return tap_done();
}
