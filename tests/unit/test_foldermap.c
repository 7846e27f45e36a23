/* Unit tests for common/foldermap.c: both layouts, hostile names, limits,
 * injectivity, and the reverse mapping used for restores. Every local name
 * produced is checked to be a safe relative path. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "foldermap.h"
#include "tap.h"

#define MDPP FOLDERMAP_MAILDIRPP
#define NEST FOLDERMAP_NESTED

/* A path that stays inside the backup directory, within the limits. */
static bool safe_path(const char *p, enum foldermap_layout layout)
{
	size_t len = strlen(p);

	if (len == 0)
		return true;   /* INBOX: the directory itself */
	if (len > FOLDERMAP_PATH_MAX || p[0] == '/')
		return false;
	for (const unsigned char *q = (const unsigned char *)p; *q; q++)
		if (*q < 0x20 || *q == 0x7f || *q == '\\')
			return false;
	if (layout == MDPP)
		return p[0] == '.' && !strchr(p, '/') &&
		       len <= FOLDERMAP_COMPONENT_MAX && strcmp(p, ".") != 0 &&
		       strcmp(p, "..") != 0 && !strstr(p, "..");
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 0 || n > FOLDERMAP_COMPONENT_MAX ||
		    (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.') ||
		    (n == 3 && (!strncmp(p, "cur", 3) || !strncmp(p, "new", 3) ||
				!strncmp(p, "tmp", 3))))
			return false;
		p += n;
		if (*p == '/' && *++p == '\0')
			return false;   /* trailing '/' */
	}
	return true;
}

/* name (len bytes) with delim must map to want in layout, safely, and
 * back to name. */
static void map_is(const char *name, size_t len, char delim,
		   enum foldermap_layout layout, const char *want,
		   const char *what)
{
	struct mp_error err;
	char *local = NULL, *back = NULL;
	size_t blen = 0;

	ok(foldermap_to_local(name, len, delim, layout, &local, &err) == MP_OK,
	   "%s (%s): maps", what, layout == MDPP ? "maildir++" : "nested");
	is_str(local, want, "%s (%s)", what,
	       layout == MDPP ? "maildir++" : "nested");
	if (!local)
		return;
	ok(safe_path(local, layout), "%s: safe path", what);
	ok(foldermap_to_server(local, strlen(local), delim, layout, &back,
			       &blen, &err) == MP_OK &&
	   (foldermap_is_inbox(name, len) ?
	    strcmp(back, "INBOX") == 0 :
	    blen == len && memcmp(back, name, len) == 0),
	   "%s: maps back", what);
	free(local);
	free(back);
}

#define BOTH(name, delim, mdpp, nest, what) do { \
	map_is(name, sizeof(name) - 1, delim, MDPP, mdpp, what); \
	map_is(name, sizeof(name) - 1, delim, NEST, nest, what); \
} while (0)

static void test_plain(void)
{
	BOTH("INBOX", '/', "", "", "INBOX");
	BOTH("inbox", '/', "", "", "inbox");
	BOTH("Inbox", '.', "", "", "Inbox");
	BOTH("Sent", '/', ".Sent", "Sent", "top-level folder");
	BOTH("A/B", '/', ".A.B", "A/B", "child with '/'");
	BOTH("A.B", '.', ".A.B", "A/B", "child with '.'");
	BOTH("INBOX.Sent", '.', ".INBOX.Sent", "INBOX/Sent",
	     "child of INBOX");
	BOTH("a.b", '/', ".a%2Eb", "a.b", "a dot inside a level");
	BOTH("lists.debian/devel", '/', ".lists%2Edebian.devel",
	     "lists.debian/devel", "dots and levels");
	BOTH("Entw\xc3\xbcrfe", '/', ".Entw\xc3\xbcrfe", "Entw\xc3\xbcrfe",
	     "UTF-8 kept");
	BOTH("\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5", '/',
	     ".\xe5\x8f\xb0\xe5\x8c\x97.\xe6\x97\xa5",
	     "\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5", "CJK levels");
	BOTH("a b", '/', ".a b", "a b", "space kept");
	BOTH("Cur", '/', ".Cur", "Cur", "only exact cur/new/tmp escaped");
	BOTH("/abs", 0, ".%2Fabs", "%2Fabs", "no delimiter: '/' escaped");
	BOTH("a.b/c", 0, ".a%2Eb%2Fc", "a.b%2Fc", "no delimiter: one level");
	BOTH("a%b", '%', ".a.b", "a/b", "'%' as the delimiter");
}

static void test_hostile(void)
{
	BOTH("../../x", '/', ".%2E%2E.%2E%2E.x", "%2E./%2E./x", "../../x");
	BOTH("/abs", '/', ".%00.abs", "%00/abs", "/abs");
	BOTH("a/../../b", '/', ".a.%2E%2E.%2E%2E.b", "a/%2E./%2E./b",
	     "a/../../b");
	BOTH("..", '/', ".%2E%2E", "%2E.", "..");
	BOTH(".", '/', ".%2E", "%2E", ".");
	BOTH("..", '.', ".%00.%00.%00", "%00/%00/%00", ".. with '.' delimiter");
	BOTH("", '/', ".%00", "%00", "empty name");
	BOTH("a/", '/', ".a.%00", "a/%00", "trailing delimiter");
	BOTH("a//b", '/', ".a.%00.b", "a/%00/b", "empty level");
	BOTH(".hidden", '/', ".%2Ehidden", "%2Ehidden", "leading dot");
	BOTH("a\nb", '/', ".a%0Ab", "a%0Ab", "newline");
	BOTH("a\r\nb", '/', ".a%0D%0Ab", "a%0D%0Ab", "CRLF");
	BOTH("x\x01y", '/', ".x%01y", "x%01y", "control byte");
	BOTH("x\x7f", '/', ".x%7F", "x%7F", "DEL");
	BOTH("\x1b[2J", '/', ".%1B[2J", "%1B[2J", "terminal escape");
	BOTH("a\\b", '/', ".a%5Cb", "a%5Cb", "backslash");
	BOTH("50%", '/', ".50%25", "50%25", "percent");
	BOTH("%2E", '/', ".%252E", "%252E", "an escape look-alike");
	BOTH("a\xc2\x85z", '/', ".a%C2%85z", "a%C2%85z", "C1 control");
	BOTH("\xc2\xa0", '/', ".\xc2\xa0", "\xc2\xa0", "no-break space kept");
	BOTH("\xff\xfe", '/', ".%FF%FE", "%FF%FE", "bytes that are not UTF-8");
	BOTH("\xc3", '/', ".%C3", "%C3", "truncated UTF-8");
	BOTH("cur", '/', ".cur", "%63ur", "cur");
	BOTH("a/new", '/', ".a.new", "a/%6Eew", "new below a folder");
	BOTH("tmp/x", '/', ".tmp.x", "%74mp/x", "tmp at the top");
	BOTH("INBOX/..", '/', ".INBOX.%2E%2E", "INBOX/%2E.", "INBOX/..");
	BOTH("a\xe2\x80\xae" "b", '/', ".a\xe2\x80\xae" "b",
	     "a\xe2\x80\xae" "b", "other Unicode kept");

	{
		struct mp_error err;
		char *out = (char *)1;

		ok(foldermap_to_local("a\0b", 3, '/', MDPP, &out, &err) ==
		   MP_ERR_PROTOCOL && out == NULL && err.msg[0],
		   "NUL refused (maildir++)");
		ok(foldermap_to_local("a\0b", 3, '/', NEST, &out, &err) ==
		   MP_ERR_PROTOCOL && out == NULL, "NUL refused (nested)");
		ok(foldermap_to_local("INBOX\0", 6, '/', NEST, &out, &err) ==
		   MP_ERR_PROTOCOL, "INBOX with a NUL refused");
	}
}

static void test_long(void)
{
	struct mp_error err;
	char name[2100], *out = (char *)1;

	memset(name, 'a', sizeof(name));
	/* Maildir++: the whole ".A.B" is one file name. */
	ok(foldermap_to_local(name, 254, '/', MDPP, &out, &err) == MP_OK &&
	   strlen(out) == 255, "maildir++: 254 bytes fit");
	free(out);
	ok(foldermap_to_local(name, 255, '/', MDPP, &out, &err) == MP_ERR_DATA &&
	   out == NULL && err.msg[0], "maildir++: 255 bytes too long");
	name[100] = '/';
	ok(foldermap_to_local(name, 300, '/', MDPP, &out, &err) == MP_ERR_DATA,
	   "maildir++: levels count toward 255");
	memset(name, '.', 100);
	ok(foldermap_to_local(name, 100, 0, MDPP, &out, &err) == MP_ERR_DATA,
	   "maildir++: escapes count toward 255");
	ok(foldermap_to_local(name, 84, 0, MDPP, &out, &err) == MP_OK &&
	   strlen(out) == 253 && safe_path(out, MDPP),
	   "maildir++: 84 escaped dots fit");
	free(out);

	/* Nested: 255 a component, 1024 in all. */
	memset(name, 'a', sizeof(name));
	ok(foldermap_to_local(name, 255, '/', NEST, &out, &err) == MP_OK &&
	   strlen(out) == 255, "nested: 255-byte level fits");
	free(out);
	ok(foldermap_to_local(name, 256, '/', NEST, &out, &err) == MP_ERR_DATA,
	   "nested: 256-byte level too long");
	name[255] = '/';
	name[511] = '/';
	name[767] = '/';
	ok(foldermap_to_local(name, 1023, '/', NEST, &out, &err) == MP_OK &&
	   strlen(out) == 1023 && safe_path(out, NEST),
	   "nested: four levels in 1023 bytes fit");
	free(out);
	ok(foldermap_to_local(name, 1025, '/', NEST, &out, &err) == MP_ERR_DATA,
	   "nested: 1025 bytes too long");
	ok(foldermap_to_local(name, 2100, '/', NEST, &out, &err) == MP_ERR_DATA,
	   "nested: very long name refused");
	ok(foldermap_to_local(name, 2100, '/', MDPP, &out, &err) == MP_ERR_DATA,
	   "maildir++: very long name refused");
	memset(name, '\n', 300);
	name[100] = name[200] = '/';
	ok(foldermap_to_local(name, 300, '/', NEST, &out, &err) == MP_ERR_DATA,
	   "nested: escapes count toward 255 a level");
}

/* Names that differ only in what gets escaped must stay different. */
static void test_injective(void)
{
	static const char *const names[] = {
		"a.b", "a%2Eb", "a/b", "a%2Fb", "a%2fb", "a\nb", "a%0Ab",
		"", "%00", "/", "//", ".", "..", "%2E", "%2E%2E", "%2E.",
		"cur", "%63ur", "Cur", "a\\b", "a%5Cb", "a%b", "a%25b",
		"\xff", "%FF", "\xc2\x85", "%C2%85", "INBOX/x", "INBOX.x",
		"a/.b", "a/%2Eb", "a..b", ".a", "a.", "a/", "/a",
	};
	enum { N = sizeof(names) / sizeof(names[0]) };
	struct mp_error err;
	char *local[N];
	bool distinct = true;

	for (int layout = 0; layout < 2; layout++) {
		enum foldermap_layout l = layout ? NEST : MDPP;

		for (size_t i = 0; i < N; i++)
			foldermap_to_local(names[i], strlen(names[i]), '/', l,
					   &local[i], &err);
		distinct = true;
		for (size_t i = 0; i < N; i++)
			for (size_t j = i + 1; j < N; j++)
				if (!local[i] || !local[j] ||
				    strcmp(local[i], local[j]) == 0) {
					distinct = false;
					printf("#   same: %zu and %zu\n", i, j);
				}
		ok(distinct, "%s: %d tricky names map to distinct paths",
		   l == MDPP ? "maildir++" : "nested", (int)N);
		for (size_t i = 0; i < N; i++)
			free(local[i]);
	}
}

static void back_is(const char *path, char delim, enum foldermap_layout l,
		    const char *want, const char *what)
{
	struct mp_error err;
	char *out = NULL;

	ok(foldermap_to_server(path, strlen(path), delim, l, &out, NULL,
			       &err) == MP_OK, "reverse %s: accepted", what);
	is_str(out, want, "reverse %s", what);
	free(out);
}

static void back_bad(const char *path, size_t len, char delim,
		     enum foldermap_layout l, const char *what)
{
	struct mp_error err = { 0 };
	char *out = (char *)1;
	size_t n = 7;

	ok(foldermap_to_server(path, len, delim, l, &out, &n, &err) ==
	   MP_ERR_DATA && out == NULL && n == 0 && err.msg[0],
	   "reverse refuses %s", what);
}

static void test_reverse(void)
{
	back_is("", '/', MDPP, "INBOX", "maildir++ root");
	back_is("", '.', NEST, "INBOX", "nested root");
	back_is(".Sent", '/', MDPP, "Sent", "maildir++ folder");
	back_is(".a.b", '.', MDPP, "a.b", "maildir++ levels, '.' delimiter");
	back_is("a/b", '\\', NEST, "a\\b", "nested levels, '\\\\' delimiter");
	back_is(".50%off", '/', MDPP, "50%off", "a bare '%' stays");
	back_is(".a%2eb", '/', MDPP, "a.b", "lower-case hex");
	back_is(".a%2", '/', MDPP, "a%2", "'%' at the end");
	back_is(".%63ur", '/', MDPP, "cur", "needless escape");
	back_is("x/.git", '/', NEST, "x/.git", "a hand-made hidden level");

#define BB(p, d, l, what) back_bad(p, sizeof(p) - 1, d, l, what)
	BB("Sent", '/', MDPP, "maildir++ name without a dot");
	BB(".", '/', MDPP, "maildir++ '.'");
	BB("..", '/', MDPP, "maildir++ '..'");
	BB(".a..b", '/', MDPP, "maildir++ empty level");
	BB(".a.", '/', MDPP, "maildir++ trailing dot");
	BB(".a/b", '/', MDPP, "maildir++ name with '/'");
	BB(".a%00b", '/', MDPP, "an escaped NUL inside a level");
	BB(".a.b", 0, MDPP, "levels without a delimiter");
	BB(".a%2Fb", '/', MDPP, "an escaped delimiter");
	BB("a%2Fb", '/', NEST, "an escaped delimiter (nested)");
	BB("a//b", '/', NEST, "nested empty level");
	BB("/a", '/', NEST, "nested absolute path");
	BB("a/", '/', NEST, "nested trailing '/'");
	BB("..", '/', NEST, "nested '..'");
	BB("a/../b", '/', NEST, "nested '..' level");
	BB("./a", '/', NEST, "nested '.' level");
	BB("a/b", 0, NEST, "nested levels without a delimiter");
	BB(".a\0b", '/', MDPP, "a raw NUL");
#undef BB
}

int main(void)
{
	test_plain();
	test_hostile();
	test_long();
	test_injective();
	test_reverse();
	return tap_done();
}
