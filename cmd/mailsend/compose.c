/* Compose mode: a MIME message built from --to, --subject, --attach and
 * the rest, written to the spool with LF line ends (the SMTP layer turns
 * them into CRLF; --print output then pipes into other tools as it is).
 *
 * Everything the user typed is checked before the body is read, so a bad
 * option fails at once instead of after a body was typed on a terminal.
 * The body is converted to UTF-8 into a temp file first, because its
 * Content-Transfer-Encoding depends on what it holds; attachments stream
 * through base64. Memory does not grow with the body or the attachments. */
#include "mailsend.h"

#include <errno.h>
#include <fcntl.h>
#include <iconv.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "base64.h"
#include "header.h"
#include "mimetype.h"
#include "qp.h"
#include "rfc2047.h"
#include "rfc2231.h"
#include "sbuf.h"
#include "strutil.h"
#include "utf8.h"

#define CHUNK 65536
/* Bytes of an incomplete character iconv may leave for the next read. */
#define ICONV_CARRY_MAX 64
/* 57 input bytes make one 76-character base64 line. */
#define B64_LINE_IN 57

struct attachment {
	int fd;
	const char *path;
	char *fields;        /* its folded part header, LF line ends */
};

struct compose {
	const struct cli *cli;
	char *arg_charset;   /* what command-line text is in (the locale's) */
	bool arg_is_utf8;    /* UTF-8 locale, or ASCII taken as UTF-8 */
	struct sbuf head;    /* the folded header block so far */
	struct sbuf to, cc;  /* rendered address lists */
	struct strlist rcpts;
	char *env_from;      /* envelope sender */
	bool user_date, user_msgid;
	struct attachment *att;
	size_t natt;
	int body_fd;         /* the UTF-8 body, LF line ends, rewound */
};

/* What the converted body holds; decides its transfer encoding. */
struct body_scan {
	long long size;
	size_t col, longest;
	bool has_8bit, has_nul, lone_cr;
	bool held_cr;
	bool boundary_like;  /* a line starting "--=_" (our boundaries' prefix) */
	size_t prefix;       /* bytes of "--=_" matched at this line's start */
	bool prefix_dead;
};

/* --- small helpers --- */

static bool is_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

static bool charset_is_ascii(const char *cs)
{
	return !strcasecmp(cs, "ANSI_X3.4-1968") || !strcasecmp(cs, "ASCII") ||
	       !strcasecmp(cs, "US-ASCII") || !strcasecmp(cs, "646");
}

static bool charset_is_utf8(const char *cs)
{
	return !strcasecmp(cs, "UTF-8") || !strcasecmp(cs, "UTF8");
}

/* The locale's character set, without leaving the locale changed: the
 * rest of mailsend parses protocol text and must keep the C ctype rules. */
static char *locale_charset(void)
{
	const char *cur = setlocale(LC_CTYPE, NULL);
	char *saved = cur ? mp_xstrdup(cur) : NULL;
	char *cs;
	if (setlocale(LC_CTYPE, "")) {
		const char *name = nl_langinfo(CODESET);
		cs = mp_xstrdup(name && *name ? name : "ANSI_X3.4-1968");
	} else {
		cs = mp_xstrdup("ANSI_X3.4-1968");
	}
	if (saved) {
		setlocale(LC_CTYPE, saved);
		free(saved);
	}
	return cs;
}

static enum mp_status no_line_break(const char *what, const char *s,
				    struct mp_error *err)
{
	if (mp_has_line_break(s, strlen(s)))
		return mp_fail(err, MP_ERR_USAGE,
			       "%s must not contain a line break", what);
	return MP_OK;
}

/* Convert the command-line text s (in the locale's charset) to a new
 * UTF-8 string. A UTF-8 or ASCII locale only validates. */
static enum mp_status arg_to_utf8(const struct compose *c, const char *what,
				  const char *s, char **out,
				  struct mp_error *err)
{
	size_t len = strlen(s);
	*out = NULL;
	if (is_ascii(s, len) || c->arg_is_utf8) {
		if (!utf8_valid(s, len))
			return mp_fail(err, MP_ERR_USAGE,
				       "%s is not valid UTF-8 (the locale's charset is %s)",
				       what, c->arg_charset);
		*out = mp_xstrdup(s);
		return MP_OK;
	}
	iconv_t cd = iconv_open("UTF-8", c->arg_charset);
	if (cd == (iconv_t)-1)
		return mp_fail(err, MP_ERR_USAGE,
			       "cannot convert %s from the locale's charset %s",
			       what, c->arg_charset);
	size_t cap = 4 * len + 16;
	char *buf = mp_xmalloc(cap);
	char *ip = (char *)s, *op = buf;
	size_t il = len, ol = cap - 1;
	size_t r = iconv(cd, &ip, &il, &op, &ol);
	if (r != (size_t)-1)
		r = iconv(cd, NULL, NULL, &op, &ol);
	iconv_close(cd);
	if (r == (size_t)-1 || !utf8_valid(buf, (size_t)(op - buf))) {
		free(buf);
		return mp_fail(err, MP_ERR_USAGE, "%s is not valid %s text",
			       what, c->arg_charset);
	}
	*op = '\0';
	*out = buf;
	return MP_OK;
}

/* Fold "Name: value" and append it to b with an LF line end. */
static enum mp_status add_field(struct sbuf *b, const char *field,
				struct mp_error *err)
{
	char *folded;
	enum mp_status st = header_fold(field, strlen(field), &folded, err);
	if (st != MP_OK)
		return st;
	for (const char *p = folded; *p; p++)
		if (*p != '\r')
			sbuf_addc(b, *p);
	sbuf_addc(b, '\n');
	free(folded);
	return MP_OK;
}

static enum mp_status add_field2(struct sbuf *b, const char *name,
				 const char *value, struct mp_error *err)
{
	struct sbuf f = { 0 };
	sbuf_adds(&f, name);
	sbuf_adds(&f, ": ");
	sbuf_adds(&f, value);
	enum mp_status st = add_field(b, f.p, err);
	sbuf_free(&f);
	return st;
}

static enum mp_status random_bytes(unsigned char *buf, size_t n,
				   struct mp_error *err)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = getrandom(buf + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		got += (size_t)r;
	}
	if (got == n)
		return MP_OK;
	/* Old kernels without getrandom(2). */
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		got = 0;
		while (got < n) {
			ssize_t r = read(fd, buf + got, n - got);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		close(fd);
	}
	if (got != n)
		return mp_fail(err, MP_ERR_INTERNAL,
			       "cannot read random bytes for the Message-ID");
	return MP_OK;
}

static enum mp_status random_hex(char *out, size_t nbytes, struct mp_error *err)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char buf[32];
	if (nbytes > sizeof buf)
		nbytes = sizeof buf;
	enum mp_status st = random_bytes(buf, nbytes, err);
	if (st != MP_OK)
		return st;
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hex[buf[i] >> 4];
		out[2 * i + 1] = hex[buf[i] & 15];
	}
	out[2 * nbytes] = '\0';
	return MP_OK;
}

static void host_name(char *host, size_t size)
{
	if (gethostname(host, size) != 0 || !*host)
		mp_strlcpy(host, "localhost", size);
	host[size - 1] = '\0';
}

/* A domain fit for a Message-ID: letters, digits, '-' and '.'. */
static bool plain_domain(const char *d)
{
	if (!*d || *d == '.' || d[strlen(d) - 1] == '.')
		return false;
	for (const char *p = d; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
			return false;
	return true;
}

/* --- addresses --- */

/* Render one mailbox as it goes into a header: an RFC 2047 phrase when a
 * display name is known, then <addr>; the bare address otherwise. */
static enum mp_status render_mailbox(struct sbuf *b, const struct address *a,
				     const char *fallback_name,
				     struct mp_error *err)
{
	const char *name = a->name && *a->name ? a->name : fallback_name;
	if (!name || !*name) {
		sbuf_adds(b, a->addr);
		return MP_OK;
	}
	char *enc;
	enum mp_status st = rfc2047_encode(name, strlen(name), RFC2047_PHRASE,
					   &enc, err);
	if (st != MP_OK)
		return st;
	sbuf_adds(b, enc);
	sbuf_adds(b, " <");
	sbuf_adds(b, a->addr);
	sbuf_addc(b, '>');
	free(enc);
	return MP_OK;
}

/* Parse one --to/--cc/--bcc value (a list) or operand, add its addresses
 * to the envelope and, unless hdr is NULL (Bcc), to that header's list. */
static enum mp_status add_recipients(struct compose *c, const char *what,
				     const char *value, struct sbuf *hdr,
				     struct mp_error *err)
{
	enum mp_status st = no_line_break(what, value, err);
	if (st != MP_OK)
		return st;
	char *u;
	if ((st = arg_to_utf8(c, what, value, &u, err)) != MP_OK)
		return st;
	struct address_list list = { 0 };
	st = address_parse_list(u, strlen(u), ADDRESS_ALLOW_LOCAL, &list, err);
	if (st != MP_OK)
		mp_error_prefix(err, what);
	for (size_t i = 0; st == MP_OK && i < list.n; i++) {
		if (hdr) {
			if (hdr->n)
				sbuf_adds(hdr, ", ");
			st = render_mailbox(hdr, &list.v[i], NULL, err);
			if (st != MP_OK)
				mp_error_prefix(err, what);
		}
		if (!strlist_has(&c->rcpts, list.v[i].addr))
			strlist_add(&c->rcpts, list.v[i].addr);
	}
	address_list_free(&list);
	free(u);
	return st;
}

static enum mp_status collect_recipients(struct compose *c, struct mp_error *err)
{
	static const struct {
		const char *opt, *what;
	} lists[] = { { "to", "--to" }, { "cc", "--cc" }, { "bcc", "--bcc" } };
	enum mp_status st = MP_OK;
	for (size_t k = 0; k < 3 && st == MP_OK; k++) {
		size_t n;
		const char *const *v = cli_get_all(c->cli, lists[k].opt, &n);
		struct sbuf *hdr = k == 0 ? &c->to : k == 1 ? &c->cc : NULL;
		for (size_t i = 0; i < n && st == MP_OK; i++)
			st = add_recipients(c, lists[k].what, v[i], hdr, err);
	}
	/* Operands are recipients too and, as with mail(1), shown in To. */
	for (int i = 0; i < c->cli->nargs && st == MP_OK; i++)
		st = add_recipients(c, "a recipient argument", c->cli->args[i],
				    &c->to, err);
	if (st == MP_OK && c->rcpts.n == 0)
		st = mp_fail(err, MP_ERR_USAGE,
			     "no recipients: give --to, --cc, --bcc or addresses as arguments");
	return st;
}

/* The From field and the envelope sender. */
static enum mp_status make_from(struct compose *c, struct mp_error *err)
{
	const char *from = cli_get(c->cli, "from");
	const char *full = cli_get(c->cli, "full-name");
	const char *env = cli_get(c->cli, "envelope-from");
	char *ufull = NULL, *ufrom = NULL;
	struct address_list list = { 0 };
	struct sbuf field = { 0 };
	enum mp_status st = MP_OK;

	if (full && (st = no_line_break("--full-name", full, err)) == MP_OK)
		st = arg_to_utf8(c, "--full-name", full, &ufull, err);
	if (st == MP_OK && from && (st = no_line_break("--from", from, err)) == MP_OK)
		st = arg_to_utf8(c, "--from", from, &ufrom, err);
	if (st == MP_OK && ufrom) {
		st = address_parse_list(ufrom, strlen(ufrom), ADDRESS_ALLOW_LOCAL,
					&list, err);
		if (st == MP_OK && list.n != 1)
			st = mp_fail(err, MP_ERR_USAGE,
				     "give exactly one address, not %zu", list.n);
		if (st != MP_OK)
			mp_error_prefix(err, "--from");
	} else if (st == MP_OK) {
		/* Nobody said who is sending: the local user at this host. */
		char host[HOST_NAME_MAX + 1];
		host_name(host, sizeof host);
		const struct passwd *pw = getpwuid(getuid());
		const char *user = pw ? pw->pw_name : getenv("USER");
		struct sbuf s = { 0 };
		sbuf_adds(&s, user && *user ? user : "nobody");
		sbuf_addc(&s, '@');
		sbuf_adds(&s, host);
		st = address_parse_list(s.p, s.n, ADDRESS_ALLOW_LOCAL, &list, err);
		if (st != MP_OK || list.n != 1)
			st = mp_fail(err, MP_ERR_CONFIG,
				     "no --from given and '%s' is no usable address: set from in the config",
				     s.p);
		sbuf_free(&s);
	}
	if (st == MP_OK) {
		sbuf_adds(&field, "From: ");
		st = render_mailbox(&field, &list.v[0], ufull, err);
		if (st != MP_OK)
			mp_error_prefix(err, "--from");
	}
	if (st == MP_OK)
		st = add_field(&c->head, field.p, err);
	if (st == MP_OK && env) {
		/* -f '' and -f '<>' are the null sender, as in sendmail. */
		size_t n = strlen(env);
		st = no_line_break("--envelope-from", env, err);
		if (st == MP_OK && n >= 2 && env[0] == '<' && env[n - 1] == '>') {
			env++;
			n -= 2;
		}
		char *e = mp_xmalloc(n + 1);
		memcpy(e, env, n);
		e[n] = '\0';
		if (st == MP_OK && n)
			st = address_check_envelope(e, ADDRESS_ALLOW_LOCAL, err);
		if (st != MP_OK) {
			mp_error_prefix(err, "--envelope-from");
			free(e);
		} else {
			c->env_from = e;
		}
	} else if (st == MP_OK) {
		c->env_from = mp_xstrdup(ufrom ? list.v[0].addr : "");
	}
	address_list_free(&list);
	sbuf_free(&field);
	free(ufull);
	free(ufrom);
	return st;
}

/* --- other header fields --- */

static void make_date(struct sbuf *b)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
					    "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May",
					      "Jun", "Jul", "Aug", "Sep", "Oct",
					      "Nov", "Dec" };
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	long off = tm.tm_gmtoff / 60;
	char sign = off < 0 ? '-' : '+';
	if (off < 0)
		off = -off;
	/* Names spelt out here: strftime's %a and %b follow the locale. */
	char buf[80];
	snprintf(buf, sizeof buf, "Date: %s, %d %s %04d %02d:%02d:%02d %c%02ld%02ld\n",
		 days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign,
		 off / 60, off % 60);
	sbuf_adds(b, buf);
}

static enum mp_status make_message_id(struct compose *c, struct sbuf *b,
				      struct mp_error *err)
{
	char rnd[33], host[HOST_NAME_MAX + 1];
	enum mp_status st = random_hex(rnd, 16, err);
	if (st != MP_OK)
		return st;
	const char *at = strrchr(c->env_from, '@');
	const char *domain = at && plain_domain(at + 1) ? at + 1 : NULL;
	if (!domain) {
		host_name(host, sizeof host);
		domain = plain_domain(host) ? host : "localhost";
	}
	sbuf_adds(b, "Message-ID: <");
	sbuf_adds(b, rnd);
	sbuf_addc(b, '@');
	sbuf_adds(b, domain);
	sbuf_adds(b, ">\n");
	return MP_OK;
}

static enum mp_status make_subject(struct compose *c, struct mp_error *err)
{
	const char *subject = cli_get(c->cli, "subject");
	if (!subject)
		return MP_OK;
	char *u = NULL, *enc = NULL;
	enum mp_status st = no_line_break("--subject", subject, err);
	if (st == MP_OK)
		st = arg_to_utf8(c, "--subject", subject, &u, err);
	if (st == MP_OK)
		st = rfc2047_encode(u, strlen(u), RFC2047_TEXT, &enc, err);
	if (st == MP_OK)
		st = add_field2(&c->head, "Subject", enc, err);
	if (st != MP_OK && strncmp(err->msg, "--subject", 9))
		mp_error_prefix(err, "--subject");
	free(u);
	free(enc);
	return st;
}

/* Fields the options own; a --header naming one is refused. */
static const char *owned_by(const char *name, size_t n)
{
	static const char *const owners[][2] = {
		{ "To", "--to" }, { "Cc", "--cc" }, { "Bcc", "--bcc" },
		{ "From", "--from" }, { "Subject", "--subject" },
		{ "MIME-Version", "mailsend" }, { "Content-Type", "mailsend" },
		{ "Content-Transfer-Encoding", "mailsend" },
	};
	for (size_t i = 0; i < sizeof owners / sizeof owners[0]; i++)
		if (strlen(owners[i][0]) == n && !strncasecmp(name, owners[i][0], n))
			return owners[i][1];
	return NULL;
}

static enum mp_status user_header(struct compose *c, const char *h,
				  struct sbuf *out, struct mp_error *err)
{
	size_t name_len, value_off;
	enum mp_status st = no_line_break("--header", h, err);
	if (st == MP_OK)
		st = header_check(h, strlen(h), &name_len, &value_off, err);
	if (st != MP_OK) {
		mp_error_prefix(err, "--header");
		return st;
	}
	const char *owner = owned_by(h, name_len);
	if (owner && !strcmp(owner, "mailsend"))
		return mp_fail(err, MP_ERR_USAGE,
			       "--header: mailsend writes the %.*s field itself",
			       (int)name_len, h);
	if (owner)
		return mp_fail(err, MP_ERR_USAGE,
			       "--header: give the %.*s field with %s", (int)name_len,
			       h, owner);
	/* A Date or Message-ID of the user's own replaces the generated one. */
	if (name_len == 4 && !strncasecmp(h, "Date", 4))
		c->user_date = true;
	if (name_len == 10 && !strncasecmp(h, "Message-ID", 10))
		c->user_msgid = true;

	const char *value = h + value_off;
	char *u = NULL, *enc = NULL;
	if (!is_ascii(value, strlen(value))) {
		st = arg_to_utf8(c, "--header", value, &u, err);
		if (st == MP_OK)
			st = rfc2047_encode(u, strlen(u), RFC2047_TEXT, &enc, err);
	}
	if (st == MP_OK) {
		/* ASCII values stay as written: they may be structured. */
		struct sbuf f = { 0 };
		sbuf_add(&f, h, name_len);
		sbuf_adds(&f, ": ");
		sbuf_adds(&f, enc ? enc : value);
		st = add_field(out, f.p, err);
		sbuf_free(&f);
		if (st != MP_OK) {
			char what[HEADER_NAME_MAX + 16];
			snprintf(what, sizeof what, "--header %.*s", (int)name_len, h);
			err->status = st = MP_ERR_USAGE;
			mp_error_prefix(err, what);
		}
	} else {
		mp_error_prefix(err, "--header");
	}
	free(u);
	free(enc);
	return st;
}

/* --- attachments --- */

/* True if the regular file fd holds UTF-8 with at least one 8-bit byte
 * (and so wants charset=utf-8); pure ASCII or anything else: false. */
static bool file_is_utf8_text(int fd)
{
	unsigned char *buf = mp_xmalloc(CHUNK + 4);
	size_t have = 0;
	off_t off = 0;
	bool eight = false, ok = true;
	for (;;) {
		ssize_t r = pread(fd, buf + have, CHUNK, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ok = false;
			break;
		}
		off += r;
		have += (size_t)r;
		bool eof = r == 0;
		size_t i = 0;
		while (i < have) {
			if (buf[i] < 0x80) {
				i++;
				continue;
			}
			size_t n = utf8_seq_len(buf + i, have - i);
			if (n == 0 && !eof && have - i < 4)
				break;   /* perhaps cut by the read: wait for more */
			if (n == 0) {
				ok = false;
				break;
			}
			eight = true;
			i += n;
		}
		if (!ok || eof)
			break;
		memmove(buf, buf + i, have - i);
		have -= i;
	}
	free(buf);
	return ok && eight;
}

static enum mp_status open_attachment(struct compose *c, const char *path,
				      struct attachment *a, struct mp_error *err)
{
	a->path = path;
	a->fd = -1;
	a->fields = NULL;
	enum mp_status st = no_line_break("--attach", path, err);
	if (st != MP_OK)
		return st;
	a->fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	if (a->fd < 0 || fstat(a->fd, &sb) != 0)
		return mp_fail(err, MP_ERR_USAGE, "cannot read attachment %s: %s",
			       path, strerror(errno));
	if (S_ISDIR(sb.st_mode))
		return mp_fail(err, MP_ERR_USAGE,
			       "cannot read attachment %s: it is a directory", path);

	const char *end = path + strlen(path);
	const char *base = end;
	while (base > path && base[-1] != '/')
		base--;
	if (base == end)
		return mp_fail(err, MP_ERR_USAGE,
			       "attachment %s has no file name", path);
	char *u = NULL, *fname = NULL, *tname = NULL;
	st = arg_to_utf8(c, "the attachment's file name", base, &u, err);
	if (st == MP_OK)
		st = rfc2231_param("filename", u, strlen(u), &fname, err);
	if (st == MP_OK)
		st = rfc2231_param("name", u, strlen(u), &tname, err);
	if (st != MP_OK) {
		struct sbuf what = { 0 };
		sbuf_adds(&what, "attachment ");
		sbuf_adds(&what, path);
		err->status = st = MP_ERR_USAGE;
		mp_error_prefix(err, what.p);
		sbuf_free(&what);
	} else {
		const char *type = mimetype_from_name(base);
		struct sbuf f = { 0 }, ct = { 0 }, cd = { 0 };
		sbuf_adds(&ct, "Content-Type: ");
		sbuf_adds(&ct, type);
		/* A text file's charset can only be told by looking, and only
		 * a regular file can be read twice. */
		if (!strncmp(type, "text/", 5) && S_ISREG(sb.st_mode) &&
		    file_is_utf8_text(a->fd))
			sbuf_adds(&ct, "; charset=utf-8");
		sbuf_adds(&ct, "; ");
		sbuf_adds(&ct, tname);
		sbuf_adds(&cd, "Content-Disposition: attachment; ");
		sbuf_adds(&cd, fname);
		st = add_field(&f, ct.p, err);
		if (st == MP_OK)
			st = add_field(&f, cd.p, err);
		sbuf_adds(&f, "Content-Transfer-Encoding: base64\n");
		if (st == MP_OK)
			a->fields = sbuf_take(&f);
		sbuf_free(&f);
		sbuf_free(&ct);
		sbuf_free(&cd);
	}
	free(u);
	free(fname);
	free(tname);
	return st;
}

static enum mp_status open_attachments(struct compose *c, struct mp_error *err)
{
	size_t n;
	const char *const *v = cli_get_all(c->cli, "attach", &n);
	if (!n)
		return MP_OK;
	c->att = mp_xcalloc(n, sizeof *c->att);
	for (size_t i = 0; i < n; i++) {
		c->natt = i + 1;
		enum mp_status st = open_attachment(c, v[i], &c->att[i], err);
		if (st != MP_OK)
			return st;
	}
	return MP_OK;
}

/* Fill buf with up to size bytes from fd, short only at end of file. */
static ssize_t read_full(int fd, unsigned char *buf, size_t size)
{
	size_t got = 0;
	while (got < size) {
		ssize_t r = read(fd, buf + got, size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static enum mp_status write_base64(FILE *out, const struct attachment *a,
				   struct mp_error *err)
{
	enum { LINES = 1024 };
	unsigned char *in = mp_xmalloc(B64_LINE_IN * LINES);
	char line[80];
	enum mp_status st = MP_OK;
	for (;;) {
		ssize_t n = read_full(a->fd, in, B64_LINE_IN * LINES);
		if (n < 0) {
			st = mp_fail(err, MP_ERR_IO, "cannot read attachment %s: %s",
				     a->path, strerror(errno));
			break;
		}
		for (size_t off = 0; off < (size_t)n; off += B64_LINE_IN) {
			size_t k = (size_t)n - off < B64_LINE_IN ? (size_t)n - off
								 : B64_LINE_IN;
			size_t len = base64_encode(in + off, k, line);
			line[len++] = '\n';
			fwrite(line, 1, len, out);
		}
		if ((size_t)n < B64_LINE_IN * LINES)
			break;
	}
	free(in);
	return st;
}

/* --- the body --- */

static enum mp_status temp_file(FILE **f, int *fd, struct mp_error *err)
{
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	char path[4096];
	snprintf(path, sizeof path, "%s/mailsend-body.XXXXXX", dir);
	*fd = mkstemp(path);
	if (*fd < 0)
		return mp_fail(err, MP_ERR_IO, "cannot create a temp file in %s: %s",
			       dir, strerror(errno));
	unlink(path);
	int dupfd = dup(*fd);
	*f = dupfd >= 0 ? fdopen(dupfd, "w") : NULL;
	if (!*f) {
		if (dupfd >= 0)
			close(dupfd);
		close(*fd);
		*fd = -1;
		return mp_fail(err, MP_ERR_IO, "cannot open a temp file: %s",
			       strerror(errno));
	}
	return MP_OK;
}

static void scan_put(struct body_scan *s, FILE *f, unsigned char ch)
{
	static const char prefix[] = "--=_";
	if (ch == '\n') {
		if (s->col > s->longest)
			s->longest = s->col;
		s->col = 0;
		s->prefix = 0;
		s->prefix_dead = false;
	} else {
		s->col++;
		if (ch >= 0x80)
			s->has_8bit = true;
		if (ch == 0)
			s->has_nul = true;
		if (ch == '\r')
			s->lone_cr = true;
		if (!s->prefix_dead && s->prefix < 4) {
			if (ch == (unsigned char)prefix[s->prefix]) {
				if (++s->prefix == 4)
					s->boundary_like = true;
			} else {
				s->prefix_dead = true;
			}
		}
	}
	s->size++;
	putc(ch, f);
}

/* Write converted UTF-8 text, CRLF made LF (a CR is held in case the LF
 * comes with the next chunk). */
static void scan_text(struct body_scan *s, FILE *f, const char *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)t[i];
		if (s->held_cr) {
			s->held_cr = false;
			if (ch != '\n')
				scan_put(s, f, '\r');
		}
		if (ch == '\r') {
			s->held_cr = true;
			continue;
		}
		scan_put(s, f, ch);
	}
}

static enum mp_status bad_body(const char *charset, bool assumed,
			       long long off, struct mp_error *err)
{
	if (assumed)
		return mp_fail(err, MP_ERR_DATA,
			       "the body is not valid UTF-8 (byte %lld), and the locale names no charset: give it with --charset",
			       off);
	return mp_fail(err, MP_ERR_DATA,
		       "the body is not valid %s text (byte %lld); give its charset with --charset",
		       charset, off);
}

/* Read the body from fd in charset, convert it to UTF-8 with LF line
 * ends into the temp file f, and scan it. */
static enum mp_status convert_body(int fd, const char *charset, bool assumed,
				   FILE *f, struct body_scan *s,
				   struct mp_error *err)
{
	iconv_t cd = iconv_open("UTF-8", charset);
	if (cd == (iconv_t)-1)
		return mp_fail(err, MP_ERR_USAGE,
			       "cannot convert from charset '%s': %s", charset,
			       errno == EINVAL ? "unknown to iconv" : strerror(errno));
	size_t outcap = 4 * CHUNK;
	char *in = mp_xmalloc(CHUNK + ICONV_CARRY_MAX), *out = mp_xmalloc(outcap);
	size_t have = 0;
	long long consumed = 0;
	enum mp_status st = MP_OK;
	for (;;) {
		ssize_t r = read(fd, in + have, CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			st = mp_fail(err, MP_ERR_IO, "cannot read the body: %s",
				     strerror(errno));
			break;
		}
		have += (size_t)r;
		char *ip = in;
		size_t il = have;
		while (il > 0 || r == 0) {
			char *op = out;
			size_t ol = outcap;
			size_t cr = r == 0 && il == 0
				    ? iconv(cd, NULL, NULL, &op, &ol)   /* end: reset shift state */
				    : iconv(cd, &ip, &il, &op, &ol);
			int e = errno;
			if (!utf8_valid(out, (size_t)(op - out))) {
				st = bad_body(charset, assumed,
					      consumed + (ip - in), err);
				break;
			}
			scan_text(s, f, out, (size_t)(op - out));
			if (cr != (size_t)-1) {
				if (r == 0 && il == 0)
					break;
				continue;
			}
			if (e == E2BIG)
				continue;
			if (e == EINVAL && r != 0)
				break;   /* a character cut by the read */
			st = e == EINVAL
			     ? mp_fail(err, MP_ERR_DATA,
				       "the body ends in the middle of a %s character",
				       assumed ? "UTF-8" : charset)
			     : bad_body(charset, assumed, consumed + (ip - in), err);
			break;
		}
		if (st != MP_OK || r == 0)
			break;
		consumed += ip - in;
		if (il > ICONV_CARRY_MAX) {
			st = bad_body(charset, assumed, consumed, err);
			break;
		}
		memmove(in, ip, il);
		have = il;
	}
	if (st == MP_OK && s->held_cr) {
		s->held_cr = false;
		scan_put(s, f, '\r');
	}
	if (s->col > s->longest)
		s->longest = s->col;   /* a last line without its LF */
	iconv_close(cd);
	free(in);
	free(out);
	return st;
}

/* Read the body (--body FILE, or stdin) into c->body_fd. */
static enum mp_status read_body(struct compose *c, struct body_scan *s,
				struct mp_error *err)
{
	const char *path = cli_get(c->cli, "body");
	const char *given = cli_get(c->cli, "charset");
	const char *charset = c->arg_charset;
	bool assumed = false;
	enum mp_status st;
	if (given) {
		if ((st = no_line_break("--charset", given, err)) != MP_OK)
			return st;
		charset = given;
	} else if (charset_is_ascii(charset)) {
		/* The C locale says nothing about the text: UTF-8, as nearly
		 * every program writes today, is the useful guess. */
		charset = "UTF-8";
		assumed = true;
	}
	int in = STDIN_FILENO;
	if (path && strcmp(path, "-") != 0) {
		if ((st = no_line_break("--body", path, err)) != MP_OK)
			return st;
		in = open(path, O_RDONLY | O_CLOEXEC);
		if (in < 0)
			return mp_fail(err, MP_ERR_USAGE, "cannot read the body file %s: %s",
				       path, strerror(errno));
	}
	FILE *f;
	st = temp_file(&f, &c->body_fd, err);
	if (st == MP_OK) {
		st = convert_body(in, charset, assumed, f, s, err);
		if (fflush(f) != 0 || ferror(f))
			st = st != MP_OK ? st
					 : mp_fail(err, MP_ERR_IO, "cannot write a temp file: %s",
						   strerror(errno));
		fclose(f);
		if (st == MP_OK && lseek(c->body_fd, 0, SEEK_SET) < 0)
			st = mp_fail(err, MP_ERR_IO, "cannot rewind a temp file: %s",
				     strerror(errno));
	}
	if (in != STDIN_FILENO)
		close(in);
	return st;
}

/* Copy the body to out, as it is (7bit) or quoted-printable. Returns
 * whether the last byte written was a line end. */
static enum mp_status write_body(FILE *out, int fd, bool qp, bool *ends_nl,
				 struct mp_error *err)
{
	char *buf = mp_xmalloc(CHUNK);
	char *enc = qp ? mp_xmalloc(QP_ENCODE_MAX(CHUNK)) : NULL;
	struct qp_enc q;
	qp_encode_init(&q);
	char last = '\n';
	bool any = false;
	enum mp_status st = MP_OK;
	for (;;) {
		ssize_t n = read(fd, buf, CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			st = mp_fail(err, MP_ERR_IO, "cannot read a temp file: %s",
				     strerror(errno));
			break;
		}
		size_t len;
		const char *p;
		if (n == 0 && !qp)
			break;
		if (qp) {
			len = n ? qp_encode_feed(&q, buf, (size_t)n, enc)
				: qp_encode_finish(&q, enc);
			p = enc;
		} else {
			len = (size_t)n;
			p = buf;
		}
		/* The encoder's CRs are all line ends (a data CR becomes =0D). */
		for (size_t i = 0; i < len; i++) {
			if (qp && p[i] == '\r')
				continue;
			putc(p[i], out);
			last = p[i];
			any = true;
		}
		if (n == 0)
			break;
	}
	free(buf);
	free(enc);
	*ends_nl = !any || last == '\n';
	return st;
}

/* --- putting it together --- */

static void compose_free(struct compose *c)
{
	free(c->arg_charset);
	sbuf_free(&c->head);
	sbuf_free(&c->to);
	sbuf_free(&c->cc);
	strlist_clear(&c->rcpts);
	free(c->env_from);
	for (size_t i = 0; i < c->natt; i++) {
		if (c->att[i].fd >= 0)
			close(c->att[i].fd);
		free(c->att[i].fields);
	}
	free(c->att);
	if (c->body_fd >= 0)
		close(c->body_fd);
}

/* Everything from the options, before the body is read. */
static enum mp_status prepare(struct compose *c, struct mp_error *err)
{
	struct sbuf user = { 0 };
	size_t n = 0;
	enum mp_status st = collect_recipients(c, err);
	/* cli_get_all's array lasts only until its next call. */
	const char *const *v = st == MP_OK ? cli_get_all(c->cli, "header", &n) : NULL;
	for (size_t i = 0; i < n && st == MP_OK; i++)
		st = user_header(c, v[i], &user, err);
	if (st == MP_OK && !c->user_date)
		make_date(&c->head);
	if (st == MP_OK)
		st = make_from(c, err);
	if (st == MP_OK && c->to.n && add_field2(&c->head, "To", c->to.p, err)) {
		err->status = st = MP_ERR_USAGE;   /* an address too long for a line */
		mp_error_prefix(err, "--to");
	}
	if (st == MP_OK && c->cc.n && add_field2(&c->head, "Cc", c->cc.p, err)) {
		err->status = st = MP_ERR_USAGE;
		mp_error_prefix(err, "--cc");
	}
	if (st == MP_OK && !c->to.n && !c->cc.n)
		sbuf_adds(&c->head, "To: undisclosed-recipients:;\n");
	if (st == MP_OK)
		st = make_subject(c, err);
	if (st == MP_OK && !c->user_msgid)
		st = make_message_id(c, &c->head, err);
	if (st == MP_OK && user.n)
		sbuf_add(&c->head, user.p, user.n);
	sbuf_free(&user);
	if (st == MP_OK)
		st = open_attachments(c, err);
	return st;
}

static enum mp_status write_message(struct compose *c, const struct body_scan *s,
				    FILE *out, struct mp_error *err)
{
	char boundary[40];
	enum mp_status st;
	bool multi = c->natt > 0;
	bool text = !multi || s->size > 0;   /* no empty text part beside files */
	/* 7bit when it is plain ASCII text that every transport carries;
	 * otherwise quoted-printable, whatever the server offers, so that
	 * the message is the same sent now, queued or printed. */
	bool qp = s->has_8bit || s->has_nul || s->lone_cr ||
		  s->longest > HEADER_LINE_MAX || (multi && s->boundary_like);
	const char *text_type = "Content-Type: text/plain; charset=utf-8\n";
	const char *cte = qp ? "Content-Transfer-Encoding: quoted-printable\n"
			     : "Content-Transfer-Encoding: 7bit\n";

	fwrite(c->head.p, 1, c->head.n, out);
	fputs("MIME-Version: 1.0\n", out);
	if (multi) {
		/* "=_" never occurs in base64 or quoted-printable text, and a
		 * 7bit part with a line starting "--=_" was made QP above: no
		 * part can hold the boundary. */
		memcpy(boundary, "=_mailpipe_", 12);
		if ((st = random_hex(boundary + 11, 12, err)) != MP_OK)
			return st;
		fprintf(out, "Content-Type: multipart/mixed; boundary=\"%s\"\n\n",
			boundary);
		fputs("This is a MIME message with attachments.\n", out);
	}
	bool ends_nl = true;
	if (text) {
		if (multi)
			fprintf(out, "\n--%s\n", boundary);
		fputs(text_type, out);
		fputs(cte, out);
		fputc('\n', out);
		st = write_body(out, c->body_fd, qp, &ends_nl, err);
		if (st != MP_OK)
			return st;
		/* The last line needs its line end. For QP a soft break keeps
		 * the text exact; in a multipart the end is the boundary's. */
		if (!multi && !ends_nl)
			fputs(qp ? "=\n" : "\n", out);
	}
	for (size_t i = 0; i < c->natt; i++) {
		fprintf(out, "\n--%s\n", boundary);
		fputs(c->att[i].fields, out);
		fputc('\n', out);
		st = write_base64(out, &c->att[i], err);
		if (st != MP_OK)
			return st;
	}
	if (multi)
		fprintf(out, "\n--%s--\n", boundary);
	return MP_OK;
}

enum mp_status compose_message(const struct cli *cli, struct outgoing *msg,
			       struct mp_error *err)
{
	struct compose c = { 0 };
	struct body_scan scan = { 0 };
	FILE *out = NULL;
	memset(msg, 0, sizeof *msg);
	msg->fd = -1;
	c.cli = cli;
	c.body_fd = -1;
	c.arg_charset = locale_charset();
	c.arg_is_utf8 = charset_is_utf8(c.arg_charset) ||
			charset_is_ascii(c.arg_charset);

	enum mp_status st = prepare(&c, err);
	if (st == MP_OK)
		st = read_body(&c, &scan, err);
	if (st == MP_OK)
		st = spool_create(msg, &out, err);
	if (st == MP_OK) {
		st = write_message(&c, &scan, out, err);
		if (st == MP_OK) {
			st = spool_seal(msg, out, err);
		} else {
			fclose(out);
		}
	}
	if (st == MP_OK) {
		msg->from = c.env_from;
		c.env_from = NULL;
		msg->rcpts = c.rcpts;
		memset(&c.rcpts, 0, sizeof c.rcpts);
	}
	compose_free(&c);
	return st;
}
