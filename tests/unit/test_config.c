/* Unit tests for common/config.c. */
#include <string.h>

#include "config.h"
#include "tap.h"

/* Parse text (NUL-terminated) as file "cfg". */
static enum mp_status parse(const char *text, struct mp_config *cfg,
			    struct mp_error *err)
{
	return config_parse(text, strlen(text), "cfg", cfg, err);
}

static const char *val(const struct mp_config *cfg, const char *account,
		       const char *key)
{
	const struct cfg_entry *e = config_lookup(cfg, account, key);

	return e ? e->value : NULL;
}

/* text must fail with MP_ERR_CONFIG and a message containing want. */
static void bad(const char *name, const char *text, size_t len,
		const char *want)
{
	struct mp_config cfg;
	struct mp_error err = { 0 };
	enum mp_status st = config_parse(text, len, "cfg", &cfg, &err);

	is_int(st, MP_ERR_CONFIG, "reject: %s", name);
	ok(strstr(err.msg, want) != NULL, "%s: message says '%s'", name, want);
	if (!strstr(err.msg, want))
		printf("#   message: %s\n", err.msg);
	ok(strchr(err.msg, '\n') == NULL && strchr(err.msg, '\r') == NULL,
	   "%s: message is one line", name);
	config_free(&cfg);
}

static void bads(const char *name, const char *text, const char *want)
{
	bad(name, text, strlen(text), want);
}

static void test_example(void)
{
	static const char text[] =
		"# mailpipe config\n"
		"  # indented comment\n"
		"\n"
		"[defaults]\n"
		"timeout = 30\n"
		"default-account = work\n"
		"tls = yes\n"
		"user = default-user\n"
		"\n"
		"[account work]\n"
		"server = imaps://me@example.com\n"
		"password-command = pass show mail/work # not a comment\n"
		"\tuser\t=\tme@example.com\t\n"
		"[account home]\n"
		"server=pop3s://pop.example.org\n"
		"timeout=5\n"
		"from = \"  Me <me@example.org>  \"\n"
		"helo = \"a \\\"quoted\\\" \\\\ name\"\n"
		"tls-fingerprint = \n";
	struct mp_config cfg;
	struct mp_error err = { 0 };
	const struct cfg_section *s;
	const struct cfg_entry *e;

	is_int(parse(text, &cfg, &err), MP_OK, "example parses");
	if (err.msg[0])
		printf("#   message: %s\n", err.msg);
	is_int(cfg.nsections, 3, "three sections");
	is_str(cfg.path, "cfg", "path kept for messages");
	s = config_account(&cfg, "work");
	ok(s && s->line == 10, "account work found with its line");
	ok(config_account(&cfg, "home") != NULL, "account home found");
	ok(config_account(&cfg, "nope") == NULL, "unknown account is NULL");
	ok(config_account(&cfg, NULL) == NULL, "NULL account name is NULL");

	is_str(val(&cfg, "work", "server"), "imaps://me@example.com",
	       "account's own value");
	is_str(val(&cfg, "work", "password-command"),
	       "pass show mail/work # not a comment", "'#' inside a value stays");
	is_str(val(&cfg, "work", "user"), "me@example.com",
	       "tabs around key and value trimmed");
	is_str(val(&cfg, "work", "timeout"), "30", "falls back to defaults");
	is_str(val(&cfg, "home", "timeout"), "5", "account overrides defaults");
	is_str(val(&cfg, "home", "user"), "default-user", "default user");
	is_str(val(&cfg, NULL, "timeout"), "30", "defaults only");
	is_str(val(&cfg, NULL, "server"), NULL, "no default server");
	is_str(val(&cfg, "nope", "timeout"), "30",
	       "unknown account falls back to defaults");
	is_str(val(&cfg, "work", "helo"), NULL, "absent everywhere is NULL");
	is_str(val(&cfg, "home", "from"), "  Me <me@example.org>  ",
	       "quotes keep blanks");
	is_str(val(&cfg, "home", "helo"), "a \"quoted\" \\ name",
	       "escapes in quotes");
	is_str(val(&cfg, "home", "tls-fingerprint"), "", "empty value allowed");
	is_str(val(&cfg, "home", "default-account"), "work",
	       "default-account from defaults");
	e = config_lookup(&cfg, "home", "timeout");
	ok(e && e->line == 16, "entry line number");
	config_free(&cfg);
	ok(cfg.sections == NULL && cfg.nsections == 0 && cfg.path == NULL,
	   "config_free clears the struct");
	config_free(&cfg);
	ok(1, "config_free twice is harmless");
}

static void test_implicit_defaults(void)
{
	struct mp_config cfg;
	struct mp_error err = { 0 };

	is_int(parse("timeout = 10\nverbose = on\n[account a]\nserver = "
		     "smtp://h\n", &cfg, &err), MP_OK, "keys before any section");
	is_str(val(&cfg, "a", "timeout"), "10", "implicit defaults used");
	ok(cfg.sections[0].name == NULL && cfg.sections[0].line == 0,
	   "implicit defaults have line 0");
	config_free(&cfg);

	is_int(parse("timeout = 10\n[defaults]\nquiet = no\n", &cfg, &err),
	       MP_OK, "implicit then explicit defaults merge");
	is_int(cfg.nsections, 1, "one defaults section");
	is_str(val(&cfg, NULL, "quiet"), "no", "key from explicit part");
	is_str(val(&cfg, NULL, "timeout"), "10", "key from implicit part");
	config_free(&cfg);

	is_int(parse("", &cfg, &err), MP_OK, "empty file");
	is_int(cfg.nsections, 0, "empty file has no sections");
	is_str(val(&cfg, "a", "server"), NULL, "lookup in empty config");
	config_free(&cfg);

	is_int(config_parse(NULL, 0, "cfg", &cfg, &err), MP_OK,
	       "NULL text with length 0");
	config_free(&cfg);

	is_int(parse("[account x]\n\n[defaults]\ntimeout=1\n[account y]\n",
		     &cfg, &err), MP_OK, "defaults after an account");
	is_str(val(&cfg, "x", "timeout"), "1", "account before defaults falls back");
	config_free(&cfg);
}

static void test_line_ends(void)
{
	struct mp_config cfg;
	struct mp_error err = { 0 };

	is_int(parse("[account a]\r\nserver = imaps://h\r\nuser = \"u\"\r\n",
		     &cfg, &err), MP_OK, "CRLF file");
	is_str(val(&cfg, "a", "server"), "imaps://h", "CR removed from value");
	is_str(val(&cfg, "a", "user"), "u", "CR removed after a quote");
	config_free(&cfg);

	is_int(parse("[account a]\nserver = imaps://h", &cfg, &err), MP_OK,
	       "no newline at the end");
	is_str(val(&cfg, "a", "server"), "imaps://h", "last line read");
	config_free(&cfg);

	is_int(parse("timeout = 1\r\n\r\n# c\r\n", &cfg, &err), MP_OK,
	       "blank CRLF lines");
	config_free(&cfg);
}

static void test_bools(void)
{
	static const char *const yes[] = { "yes", "true", "on", "1", "YES", "On" };
	static const char *const no[] = { "no", "false", "off", "0", "No", "FALSE" };
	static const char *const junk[] = { "", "2", "yess", "y", "n", " yes",
					    "enabled" };
	bool b;

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ok(config_parse_bool(yes[i], &b) && b, "'%s' is true", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ok(config_parse_bool(no[i], &b) && !b, "'%s' is false", no[i]);
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		ok(!config_parse_bool(junk[i], &b), "'%s' is no boolean", junk[i]);
	ok(!config_parse_bool(NULL, &b), "NULL is no boolean");

	ok(config_key_is_bool("tls"), "tls is boolean");
	ok(config_key_is_bool("insecure"), "insecure is boolean");
	ok(config_key_is_bool("allow-plaintext-auth"), "allow-plaintext-auth is boolean");
	ok(config_key_is_bool("verbose") && config_key_is_bool("quiet"),
	   "verbose and quiet are boolean");
	ok(!config_key_is_bool("server"), "server is not boolean");
	ok(!config_key_is_bool("nonsense"), "unknown key is not boolean");
	ok(!config_key_is_bool(NULL), "NULL is not boolean");
}

static void test_known(void)
{
	static const char *const known[] = {
		"server", "user", "auth", "tls", "allow-plaintext-auth",
		"tls-ca-file", "tls-fingerprint", "tls-cert", "tls-key",
		"tls-min", "insecure", "timeout", "password",
		"password-command", "token-command", "netrc-file", "verbose",
		"quiet", "default-account", "from", "helo",
	};
	static const char *const unknown[] = {
		"", "Server", "servers", "serve", "foo", "tls ", "account",
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		ok(config_key_known(known[i]), "'%s' is known", known[i]);
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		ok(!config_key_known(unknown[i]), "'%s' is unknown", unknown[i]);
	ok(!config_key_known(NULL), "NULL is unknown");
}

static void test_bad(void)
{
	char big[5000];
	size_t n;

	bads("unknown key", "[account a]\nfoo = 1\n", "cfg:2: unknown key 'foo'");
	bads("unknown key in defaults", "servr = x\n", "cfg:1: unknown key 'servr'");
	bads("key case matters", "Server = x\n", "unknown key 'Server'");
	bads("duplicate key", "[account a]\nuser = x\nuser = y\n",
	     "cfg:3: duplicate key 'user' (first on line 2)");
	bads("duplicate default key", "timeout=1\n[defaults]\ntimeout=2\n",
	     "cfg:3: duplicate key 'timeout' (first on line 1)");
	bads("duplicate account", "[account a]\n[account b]\n\n[account a]\n",
	     "cfg:4: duplicate account 'a' (first on line 1)");
	bads("duplicate defaults", "[defaults]\n[defaults]\n",
	     "cfg:2: duplicate [defaults] section (first on line 1)");
	bads("no '='", "[account a]\nserver imaps://h\n", "cfg:2: malformed line");
	bads("missing key", "= value\n", "cfg:1: missing key");
	bads("unterminated quote", "[account a]\nfrom = \"abc\n",
	     "cfg:2: unterminated quote");
	bads("quote ended by escape", "from = \"abc\\\"\n", "unterminated quote");
	bads("lone backslash at end", "from = \"abc\\\n", "unterminated quote");
	bads("text after quote", "from = \"a\" b\n", "text after the closing quote");
	bads("unknown escape", "from = \"a\\n\"\n", "unknown escape '\\n'");
	bads("bad boolean", "tls = maybe\n", "cfg:1: 'tls' takes yes or no, not 'maybe'");
	bads("empty boolean", "[account a]\ninsecure =\n", "'insecure' takes yes or no");
	bads("default-account in account",
	     "[account a]\ndefault-account = a\n",
	     "cfg:2: 'default-account' belongs in the [defaults] section");
	bads("default-account names nothing",
	     "default-account = nope\n[account a]\n",
	     "cfg:1: default-account 'nope' names no [account] section");
	bads("bad header", "[account]\n", "cfg:1: bad section header '[account]'");
	bads("bad header: two names", "[account a b]\n", "bad account name");
	bads("bad header: bracket in name", "[account a[b]\n", "bad account name");
	bads("bad header: unknown", "[server]\n", "bad section header '[server]'");
	bads("bad header: unclosed", "[account a\n", "bad section header");
	bads("bad header: junk after", "[account a] x\n", "bad section header");
	bads("bad header: comment after", "[account a] # c\n", "bad section header");
	bads("bad header: accountx", "[accountx]\n", "bad section header");
	bads("bad header: empty", "[]\n", "bad section header");
	bads("stray CR", "from = a\rb\n", "cfg:1: control character");
	bads("escape char", "from = a\x1b[0mb\n", "control character");
	bad("NUL byte", "timeout = 1\nfrom = a\0b\n", 23, "cfg:2: NUL byte");
	bad("NUL after the text", "timeout = 1\n\0", 13, "cfg:2: NUL byte");

	memset(big, 'x', sizeof(big));
	memcpy(big, "from = ", 7);
	n = 4097;
	big[n] = '\n';
	bad("line over 4096 bytes", big, n + 1, "cfg:1: line longer than 4096");
	n = 4096;
	big[n] = '\n';
	{
		struct mp_config cfg;
		struct mp_error err = { 0 };

		is_int(config_parse(big, n + 1, "cfg", &cfg, &err), MP_OK,
		       "a line of exactly 4096 bytes is fine");
		is_int(strlen(val(&cfg, NULL, "from")), 4096 - 7, "its value");
		config_free(&cfg);
	}
	memcpy(big + 4096, "\r\n", 2);
	{
		struct mp_config cfg;
		struct mp_error err = { 0 };

		is_int(config_parse(big, 4098, "cfg", &cfg, &err), MP_OK,
		       "4096 bytes plus CRLF is fine");
		config_free(&cfg);
	}
	{
		static char many[20 * 1002];
		size_t o = 0;
		struct mp_config cfg;
		struct mp_error err = { 0 };

		for (int i = 0; i < 1000; i++)
			o += (size_t)snprintf(many + o, sizeof(many) - o,
					      "[account a%d]\n", i);
		is_int(config_parse(many, o, "cfg", &cfg, &err), MP_OK,
		       "1000 accounts are fine");
		config_free(&cfg);
		strcpy(many + o, "timeout = 1\n[account last]\n");
		bad("1001 accounts", many, strlen(many),
		    "cfg:1002: more than 1000 accounts");
	}
	bads("error in a long file names its line",
	     "# 1\n# 2\n# 3\n# 4\n# 5\n# 6\n# 7\n# 8\n# 9\n[account z]\nbogus=1\n",
	     "cfg:11: unknown key 'bogus'");
	{
		struct mp_config cfg;

		is_int(config_parse("foo=1", 5, "cfg", &cfg, NULL), MP_ERR_CONFIG,
		       "a NULL error buffer is allowed");
		config_free(&cfg);
	}
}

int main(void)
{
	test_example();
	test_implicit_defaults();
	test_line_ends();
	test_bools();
	test_known();
	test_bad();
	return tap_done();
}
