/* Server URLs: smtp://, smtps://, lmtp://, imap://, imaps://, pop3://,
 * pop3s://  with  [user@]host[:port]  or, for lmtp, a unix socket path
 * (lmtp:///run/dovecot/lmtp). Hosts may be [IPv6] literals. Pure. */
#ifndef MAILPIPE_URL_H
#define MAILPIPE_URL_H

#include <stdbool.h>
#include "error.h"

enum mp_proto { MP_PROTO_SMTP, MP_PROTO_LMTP, MP_PROTO_IMAP, MP_PROTO_POP3 };

struct mp_url {
	enum mp_proto proto;
	bool implicit_tls;   /* smtps, imaps, pop3s */
	char scheme[8];      /* as written, lower case: "imaps" */
	char user[256];      /* percent-decoded, "" when absent */
	char host[256];      /* brackets removed from IPv6 literals; "" for a socket */
	unsigned port;       /* the scheme's default when absent; 0 for a socket */
	char path[108];      /* unix socket path for lmtp:///path, else "" */
};

/* Parse text into *out. Fails with MP_ERR_USAGE naming the problem: unknown
 * scheme, bad port, a password in the URL, CR/LF/NUL in any part, ... */
enum mp_status url_parse(const char *text, struct mp_url *out,
			 struct mp_error *err);

/* The default port of a scheme name ("imaps" -> 993), 0 if unknown. */
unsigned url_default_port(const char *scheme);

#endif
