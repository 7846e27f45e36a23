/* -bs: the server side of SMTP (RFC 5321 with PIPELINING, 8BITMIME, SIZE
 * and ENHANCEDSTATUSCODES) on stdin/stdout, for programs that hand mail to
 * a local sendmail this way. Each message received is spooled, then relayed
 * over one upstream session opened on the first message and kept for the
 * rest.
 *
 * SMTP has a single reply for a whole message after DATA. When the upstream
 * takes the message for some recipients and refuses others, the reply is
 * 250 (the message is on its way, and a 5xx would make the client send it
 * again to those who got it) and the refused recipients are reported on
 * stderr. */
#include "mailsend.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "address.h"
#include "strutil.h"

enum {
	DATA_LINE_MAX = 1024 * 1024,  /* longest message line accepted */
	CMD_LINE_MAX = 4096,          /* RFC 5321 says 512; extensions add more */
	RCPT_MAX = 1000,              /* recipients in one message */
	OUT_SIZE = 16384,
	REPLY_MAX = 510,              /* a reply line without its CRLF */
	TEXT_MAX = 400,               /* upstream text quoted in a reply */
};

struct out {
	int fd;
	size_t len;
	bool broken;
	int error;                    /* errno of the failed write */
	char buf[OUT_SIZE];
};

struct in {
	int fd;
	char *buf;                    /* cap bytes */
	size_t cap, start, end;
	int error;                    /* errno of a failed read */
	struct out *out;              /* flushed before every blocking read */
};

struct bs {
	struct cli *cli;
	struct in in;
	struct out out;
	char host[256];
	bool queue;                   /* --queue: keep what cannot go now */
	bool greeted;                 /* HELO or EHLO seen */
	bool have_mail;               /* MAIL accepted: a transaction is open */
	bool done;                    /* QUIT, or stdin ended */
	char *from;                   /* the transaction's reverse-path */
	struct strlist rcpts;
	struct smtp_session *up;      /* the upstream session, once opened */
};

static bool out_flush(struct out *o)
{
	size_t off = 0;

	while (!o->broken && off < o->len) {
		ssize_t w = write(o->fd, o->buf + off, o->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			o->broken = true;
			o->error = w < 0 ? errno : EIO;
			break;
		}
		off += (size_t)w;
	}
	o->len = 0;
	return !o->broken;
}

/* Queue one reply line; control bytes (from upstream text) become '?'. */
static void reply(struct bs *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void reply(struct bs *b, const char *fmt, ...)
{
	char line[REPLY_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	struct out *o = &b->out;
	if (o->len + len + 2 > sizeof o->buf)
		out_flush(o);
	memcpy(o->buf + o->len, line, len);
	memcpy(o->buf + o->len + len, "\r\n", 2);
	o->len += len + 2;
}

/* The next line of input with its line end. Returns 1 for a line, 0 at
 * the end of input (a last line without LF is dropped: the client went
 * away in the middle of it), -1 on a read error. A line longer than the
 * buffer is skipped up to its end and reported as *too_long with len 0. */
static int in_line(struct in *in, const char **line, size_t *len,
		   bool *too_long)
{
	bool skipping = false;

	*too_long = false;
	for (;;) {
		char *p = in->buf + in->start;
		char *lf = memchr(p, '\n', in->end - in->start);
		if (lf) {
			size_t n = (size_t)(lf - p) + 1;
			in->start += n;
			*line = p;
			*len = skipping ? 0 : n;
			*too_long = skipping;
			return 1;
		}
		if (in->end - in->start >= in->cap) {
			skipping = true;
			in->start = in->end = 0;
		} else if (in->start > 0) {
			memmove(in->buf, p, in->end - in->start);
			in->end -= in->start;
			in->start = 0;
		}
		/* Everything answered so far goes out before we wait: a
		 * pipelining client waits for these replies. */
		if (!out_flush(in->out))
			return -1;
		ssize_t r = read(in->fd, in->buf + in->end, in->cap - in->end);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			in->error = errno;
			return -1;
		}
		if (r == 0)
			return 0;
		in->end += (size_t)r;
	}
}

static void reset_txn(struct bs *b)
{
	free(b->from);
	b->from = NULL;
	strlist_clear(&b->rcpts);
	b->have_mail = false;
}

/* The path of MAIL FROM:/RCPT TO: at p: "<addr>" (a source route
 * "<@a,@b:addr>" loses its route) or, leniently, a bare address. *addr
 * gets a new string; *params points past the blanks after the path. */
static bool parse_path(const char *p, char **addr, const char **params)
{
	const char *start, *end;

	while (*p == ' ')
		p++;
	if (*p == '<') {
		bool quoted = false;
		start = ++p;
		for (; *p; p++) {
			if (quoted && *p == '\\' && p[1]) {
				p++;
				continue;
			}
			if (*p == '"')
				quoted = !quoted;
			else if (!quoted && *p == '>')
				break;
		}
		if (*p != '>')
			return false;
		end = p++;
		if (*p && *p != ' ')
			return false;
		if (*start == '@') {
			const char *colon = memchr(start, ':', (size_t)(end - start));
			if (!colon)
				return false;
			start = colon + 1;
		}
	} else {
		start = p;
		while (*p && *p != ' ')
			p++;
		end = p;
		if (end == start)
			return false;
	}
	while (*p == ' ')
		p++;
	*params = p;
	*addr = mp_xmalloc((size_t)(end - start) + 1);
	memcpy(*addr, start, (size_t)(end - start));
	(*addr)[end - start] = '\0';
	return true;
}

/* MAIL parameters: SIZE=n and BODY=7BIT|8BITMIME, the ones offered. The
 * upstream session declares its own from what the spooled message holds.
 * Returns NULL if all are fine, else the offending parameter's text. */
static const char *bad_mail_param(const char *p, char *bad, size_t size)
{
	while (*p) {
		const char *e = p;
		while (*e && *e != ' ')
			e++;
		size_t n = (size_t)(e - p);
		bool ok = false;
		if (n > 5 && strncasecmp(p, "SIZE=", 5) == 0 && n - 5 <= 20) {
			ok = true;
			for (const char *d = p + 5; d < e; d++)
				ok = ok && *d >= '0' && *d <= '9';
		} else {
			ok = (n == 9 && strncasecmp(p, "BODY=7BIT", 9) == 0) ||
			     (n == 13 && strncasecmp(p, "BODY=8BITMIME", 13) == 0);
		}
		if (!ok) {
			snprintf(bad, size, "%.*s", (int)(n > 60 ? 60 : n), p);
			return bad;
		}
		p = e;
		while (*p == ' ')
			p++;
	}
	return NULL;
}

static void cmd_mail(struct bs *b, const char *arg)
{
	const char *rest = mp_skip_prefix(arg, "FROM:");
	const char *params;
	char *addr = NULL, bad[64];
	struct mp_error e = { 0 };

	if (!b->greeted) {
		reply(b, "503 5.5.1 Send EHLO or HELO first");
		return;
	}
	if (b->have_mail) {
		reply(b, "503 5.5.1 Sender already given (RSET to start over)");
		return;
	}
	if (!rest || !parse_path(rest, &addr, &params)) {
		reply(b, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	if (*addr && address_check_envelope(addr, 0, &e) != MP_OK) {
		reply(b, "553 5.1.7 Bad sender address: %s", e.msg);
		free(addr);
		return;
	}
	if (bad_mail_param(params, bad, sizeof bad)) {
		reply(b, "555 5.5.4 Unsupported parameter %s", bad);
		free(addr);
		return;
	}
	b->from = addr;
	b->have_mail = true;
	reply(b, "250 2.1.0 Sender OK");
}

static void cmd_rcpt(struct bs *b, const char *arg)
{
	const char *rest = mp_skip_prefix(arg, "TO:");
	const char *params;
	char *addr = NULL;
	struct mp_error e = { 0 };

	if (!b->have_mail) {
		reply(b, "503 5.5.1 Need MAIL before RCPT");
		return;
	}
	if (!rest || !parse_path(rest, &addr, &params) || !*addr) {
		reply(b, "501 5.5.4 Syntax: RCPT TO:<address>");
		free(addr);
		return;
	}
	/* RFC 5321 4.5.1: "postmaster" alone is a valid recipient. */
	if (strcasecmp(addr, "postmaster") != 0 &&
	    address_check_envelope(addr, 0, &e) != MP_OK) {
		reply(b, "553 5.1.3 Bad recipient address: %s", e.msg);
	} else if (*params) {
		reply(b, "555 5.5.4 RCPT parameters are not supported");
	} else if (b->rcpts.n >= RCPT_MAX) {
		reply(b, "452 4.5.3 Too many recipients");
	} else if (strlist_has(&b->rcpts, addr)) {
		reply(b, "250 2.1.5 Recipient OK (already given)");
	} else {
		strlist_add(&b->rcpts, addr);
		reply(b, "250 2.1.5 Recipient OK");
	}
	free(addr);
}

/* An RFC 3463 code "c.x.y" of class c in text, copied to enh; else dflt. */
static void enhanced_code(const char *text, char c, const char *dflt,
			  char *enh, size_t size)
{
	for (const char *p = text; *p; p++) {
		if (*p != c || p[1] != '.' || (p > text && p[-1] != ' '))
			continue;
		const char *q = p + 2;
		size_t d1 = strspn(q, "0123456789");
		if (d1 == 0 || d1 > 3 || q[d1] != '.')
			continue;
		size_t d2 = strspn(q + d1 + 1, "0123456789");
		const char *end = q + d1 + 1 + d2;
		if (d2 == 0 || d2 > 3 || (*end && *end != ' '))
			continue;
		snprintf(enh, size, "%.*s", (int)(end - p), p);
		return;
	}
	snprintf(enh, size, "%s", dflt);
}

/* Drop the upstream session if it no longer answers, so the next message
 * opens a new one. True if it was dropped. */
static bool upstream_lost(struct bs *b)
{
	struct mp_error e;

	if (!b->up)
		return true;
	if (smtp_reset(b->up, &e) == MP_OK)
		return false;
	smtp_close(b->up);
	b->up = NULL;
	return true;
}

/* After a partial delivery: make the recipients refused with 4xx the
 * only ones of msg, to queue it for them. Returns their number. */
static size_t keep_deferred(struct outgoing *msg, const struct delivery *d)
{
	struct strlist later = { 0 };

	for (size_t i = 0; i < d->nrcpts && i < msg->rcpts.n; i++)
		if (d->results[i].code >= 400 && d->results[i].code < 500)
			strlist_add(&later, msg->rcpts.v[i]);
	if (later.n == 0)
		return 0;
	strlist_clear(&msg->rcpts);
	msg->rcpts = later;
	return later.n;
}

/* Send msg upstream and answer the client for it. */
static void relay(struct bs *b, struct outgoing *msg)
{
	struct delivery d;
	struct mp_error e = { 0 };
	enum mp_status st;
	char enh[16];

	memset(&d, 0, sizeof d);
	for (int attempt = 0;; attempt++) {
		bool reused = b->up != NULL;
		if (!b->up) {
			struct smtp_session *s = NULL;
			st = deliver_open(b->cli, &s, &e);
			if (st != MP_OK)
				break;
			b->up = s;
		}
		st = deliver_message(b->up, msg, b->cli, true, &d);
		if (st == MP_OK || d.ndelivered > 0)
			break;
		e = d.err;
		/* A session kept from an earlier message may have timed out
		 * while the client was quiet: try once more on a new one. */
		if (upstream_lost(b) && reused && attempt == 0 &&
		    st == MP_ERR_TEMP) {
			delivery_free(&d);
			continue;
		}
		break;
	}

	if (st == MP_OK) {
		reply(b, "250 2.0.0 Message relayed to %zu recipient%s",
		      d.ndelivered, d.ndelivered == 1 ? "" : "s");
	} else if (d.ndelivered > 0) {
		delivery_report(b->cli, msg, &d);
		size_t nlater = b->queue ? keep_deferred(msg, &d) : 0;
		struct mp_error qe = { 0 };
		if (nlater > 0 && queue_store(b->cli, msg, d.err.msg, &qe) != MP_OK) {
			fprintf(stderr, "%s: %s\n", b->cli->prog, qe.msg);
			nlater = 0;
		}
		if (nlater > 0)
			reply(b, "250 2.0.0 Message relayed to %zu of %zu recipients "
			      "and queued for %zu; others refused (reported on stderr)",
			      d.ndelivered, d.nrcpts, nlater);
		else
			reply(b, "250 2.0.0 Message relayed to %zu of %zu recipients; "
			      "the others were refused (reported on stderr)",
			      d.ndelivered, d.nrcpts);
	} else if (st == MP_ERR_TEMP && b->queue) {
		struct mp_error qe = { 0 };
		if (queue_store(b->cli, msg, e.msg, &qe) == MP_OK)
			reply(b, "250 2.0.0 Queued for later delivery: %.*s",
			      TEXT_MAX, e.msg);
		else
			reply(b, "451 4.3.0 Cannot queue the message: %.*s",
			      TEXT_MAX, qe.msg);
	} else if (st == MP_ERR_NOUSER || st == MP_ERR_UNAVAILABLE) {
		enhanced_code(e.msg, '5', st == MP_ERR_NOUSER ? "5.1.1" : "5.0.0",
			      enh, sizeof enh);
		reply(b, "%d %s %.*s", st == MP_ERR_NOUSER ? 550 : 554, enh,
		      TEXT_MAX, e.msg);
	} else if (st == MP_ERR_DATA) {
		reply(b, "554 5.6.0 %.*s", TEXT_MAX, e.msg);
	} else if (st == MP_ERR_USAGE) {
		reply(b, "554 5.5.0 %.*s", TEXT_MAX, e.msg);
	} else {
		/* 4xx upstream, no connection, or trouble the admin must fix
		 * (login, TLS, config): the client may try again later. */
		enhanced_code(e.msg, '4', "4.3.0", enh, sizeof enh);
		reply(b, "451 %s %.*s", enh, TEXT_MAX, e.msg);
	}
	if (st != MP_OK && d.ndelivered == 0 && b->cli->verbose)
		fprintf(stderr, "%s: message not relayed: %s\n", b->cli->prog,
			e.msg);
	delivery_free(&d);
}

/* DATA: read the message up to the lone ".", unstuffing dots, into a
 * spool, then relay it. */
static enum mp_status cmd_data(struct bs *b, const char *arg)
{
	struct outgoing msg;
	struct mp_error e = { 0 };
	FILE *fp = NULL;
	const char *line;
	size_t len;
	bool too_long = false, long_line, write_failed = false;
	int write_errno = 0;

	if (*arg) {
		reply(b, "501 5.5.4 Syntax: DATA");
		return MP_OK;
	}
	if (!b->have_mail) {
		reply(b, "503 5.5.1 Need MAIL and RCPT before DATA");
		return MP_OK;
	}
	if (b->rcpts.n == 0) {
		reply(b, "554 5.5.1 No valid recipients");
		return MP_OK;
	}
	if (spool_create(&msg, &fp, &e) != MP_OK) {
		outgoing_free(&msg);
		reply(b, "451 4.3.0 Cannot spool the message: %.*s", TEXT_MAX, e.msg);
		return MP_OK;
	}
	reply(b, "354 End data with <CR><LF>.<CR><LF>");
	for (;;) {
		int r = in_line(&b->in, &line, &len, &long_line);
		if (r <= 0) {
			/* Input ended inside the message: drop it, end quietly. */
			spool_seal(&msg, fp, &e);
			outgoing_free(&msg);
			reset_txn(b);
			b->done = true;
			return r < 0 ? MP_ERR_IO : MP_OK;
		}
		if (long_line) {
			too_long = true;
			continue;
		}
		if (line[0] == '.') {
			if (len == 2 || (len == 3 && line[1] == '\r'))
				break;
			line++;
			len--;
		}
		if (!write_failed && fwrite(line, 1, len, fp) != len) {
			write_failed = true;
			write_errno = errno;
		}
	}
	enum mp_status st = spool_seal(&msg, fp, &e);
	if (write_failed) {
		reply(b, "452 4.3.1 Cannot spool the message: %s",
		      strerror(write_errno ? write_errno : EIO));
	} else if (st != MP_OK) {
		reply(b, "452 4.3.1 %.*s", TEXT_MAX, e.msg);
	} else if (too_long) {
		reply(b, "554 5.6.0 The message has a line longer than %d bytes",
		      DATA_LINE_MAX);
	} else {
		msg.from = b->from;
		b->from = NULL;
		msg.rcpts = b->rcpts;
		memset(&b->rcpts, 0, sizeof b->rcpts);
		relay(b, &msg);
	}
	outgoing_free(&msg);
	reset_txn(b);
	return MP_OK;
}

static void cmd_ehlo(struct bs *b, const char *arg, bool extended)
{
	if (!*arg) {
		reply(b, "501 5.5.4 Syntax: %s hostname", extended ? "EHLO" : "HELO");
		return;
	}
	reset_txn(b);
	b->greeted = true;
	if (!extended) {
		reply(b, "250 %s", b->host);
		return;
	}
	reply(b, "250-%s greets %.200s", b->host, arg);
	reply(b, "250-PIPELINING");
	reply(b, "250-8BITMIME");
	reply(b, "250-SIZE");
	reply(b, "250 ENHANCEDSTATUSCODES");
}

/* One command line (without its line end). */
static enum mp_status command(struct bs *b, char *line, size_t len)
{
	if (memchr(line, '\0', len)) {
		reply(b, "500 5.5.2 Syntax error (NUL byte)");
		return MP_OK;
	}
	size_t vlen = strcspn(line, " ");
	char *arg = line + vlen;
	while (*arg == ' ')
		arg++;
	/* Trailing blanks are not part of the argument. */
	size_t alen = strlen(arg);
	while (alen > 0 && (arg[alen - 1] == ' ' || arg[alen - 1] == '\t'))
		arg[--alen] = '\0';
	line[vlen] = '\0';

	static const char *const unimplemented[] = {
		"EXPN", "TURN", "ETRN", "ATRN", "STARTTLS", "AUTH", "BDAT",
		"SEND", "SOML", "SAML",
	};
	if (!strcasecmp(line, "EHLO"))
		cmd_ehlo(b, arg, true);
	else if (!strcasecmp(line, "HELO"))
		cmd_ehlo(b, arg, false);
	else if (!strcasecmp(line, "MAIL"))
		cmd_mail(b, arg);
	else if (!strcasecmp(line, "RCPT"))
		cmd_rcpt(b, arg);
	else if (!strcasecmp(line, "DATA"))
		return cmd_data(b, arg);
	else if (!strcasecmp(line, "RSET")) {
		if (*arg) {
			reply(b, "501 5.5.4 Syntax: RSET");
		} else {
			reset_txn(b);
			reply(b, "250 2.0.0 OK");
		}
	} else if (!strcasecmp(line, "NOOP"))
		reply(b, "250 2.0.0 OK");
	else if (!strcasecmp(line, "VRFY"))
		reply(b, "252 2.5.2 Cannot VRFY; send the message and it will be tried");
	else if (!strcasecmp(line, "HELP"))
		reply(b, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP VRFY QUIT");
	else if (!strcasecmp(line, "QUIT")) {
		reply(b, "221 2.0.0 %s closing", b->host);
		b->done = true;
	} else {
		for (size_t i = 0; i < sizeof unimplemented / sizeof *unimplemented; i++) {
			if (!strcasecmp(line, unimplemented[i])) {
				reply(b, "502 5.5.1 %s is not implemented", unimplemented[i]);
				return MP_OK;
			}
		}
		reply(b, "500 5.5.2 Command not recognized");
	}
	return MP_OK;
}

static void host_name(char *buf, size_t size)
{
	if (gethostname(buf, size) != 0)
		buf[0] = '\0';
	buf[size - 1] = '\0';
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			*p = '-';
	if (!buf[0])
		snprintf(buf, size, "localhost");
}

enum mp_status smtp_stdio(struct cli *cli, struct mp_error *err)
{
	struct bs *b = mp_xcalloc(1, sizeof *b);
	struct sigaction ign, old;
	enum mp_status st;

	b->cli = cli;
	st = cli_bool(cli, "queue", false, &b->queue, err);
	if (st != MP_OK) {
		free(b);
		return st;
	}
	host_name(b->host, sizeof b->host);
	b->out.fd = STDOUT_FILENO;
	b->in.fd = STDIN_FILENO;
	b->in.cap = DATA_LINE_MAX + 2;
	b->in.buf = mp_xmalloc(b->in.cap);
	b->in.out = &b->out;

	/* A client that goes away must give EPIPE, not kill us mid-relay. */
	memset(&ign, 0, sizeof ign);
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, &old);

	reply(b, "220 %s mailsend ESMTP ready", b->host);
	while (!b->done && !b->out.broken) {
		const char *line;
		size_t len;
		bool long_line;
		int r = in_line(&b->in, &line, &len, &long_line);
		if (r < 0) {
			st = MP_ERR_IO;
			break;
		}
		if (r == 0)
			break;   /* the client left without QUIT */
		if (long_line || len > CMD_LINE_MAX + 2) {
			reply(b, "500 5.5.2 Line too long");
			continue;
		}
		/* Commands are short: copy to modify in place. */
		char cmd[CMD_LINE_MAX + 3];
		memcpy(cmd, line, len);
		len--;                           /* the LF */
		if (len > 0 && cmd[len - 1] == '\r')
			len--;
		cmd[len] = '\0';
		st = command(b, cmd, len);
		if (st != MP_OK)
			break;
	}
	out_flush(&b->out);

	if (b->up) {
		struct mp_error ignored;
		smtp_quit(b->up, &ignored);
		smtp_close(b->up);
	}
	if (b->in.error)
		st = mp_fail(err, MP_ERR_IO, "cannot read standard input: %s",
			     strerror(b->in.error));
	else if (b->out.broken)
		st = mp_fail(err, MP_ERR_IO, "cannot write to standard output: %s",
			     strerror(b->out.error));
	else
		st = MP_OK;
	sigaction(SIGPIPE, &old, NULL);
	reset_txn(b);
	free(b->in.buf);
	free(b);
	return st;
}
