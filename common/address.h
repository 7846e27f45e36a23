/* RFC 5322 address lists (To/Cc/Bcc/From header values, or an address
 * given on the command line) and envelope address checks. Pure. */
#ifndef MAILPIPE_ADDRESS_H
#define MAILPIPE_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>
#include "error.h"

#define ADDRESS_LIST_MAX 1000   /* addresses one call may add */
#define ADDRESS_LEN_MAX 998     /* bytes in one address or display name */

/* Flags for address_parse_list() and address_check_envelope(). */
#define ADDRESS_ALLOW_LOCAL 0x1 /* accept a bare local part ("root"), as cron
				 * and other local mailers send */
#define ADDRESS_ERR_DATA    0x2 /* report problems as MP_ERR_DATA (the text
				 * came from a message), not MP_ERR_USAGE */

struct address {
	char *name;   /* display name: quoted-strings unquoted and unescaped,
		       * words joined by one space; a trailing "(comment)"
		       * when there is no name; "" when absent. Encoded-words
		       * are left as they are. */
	char *addr;   /* addr-spec as MAIL FROM/RCPT TO want it: "local@domain",
		       * the local part unquoted when it can be, else
		       * re-quoted; or a bare local part (ADDRESS_ALLOW_LOCAL).
		       * Always passes address_check_envelope(). */
};

struct address_list {
	struct address *v;   /* v[0..n), owned by the list */
	size_t n;
	size_t cap;
};

/* Parse the address list s[0..len) and append its mailboxes to *list
 * (start from a zeroed list; several calls may add to one list). Accepts
 * "a@b", "Name <a@b>", "\"Quoted, Name\" <a@b>", "a@b (Comment)", groups
 * ("Team: a@b, c@d;", "undisclosed-recipients:;" which adds nothing),
 * empty list elements, obsolete routes "<@relay:a@b>" (the route is
 * dropped) and whitespace around dots. Header text must be unfolded first
 * (header_unfold()). On failure nothing is added: the status is
 * MP_ERR_USAGE (MP_ERR_DATA with ADDRESS_ERR_DATA) with a sentence naming
 * the problem: CR, LF or NUL anywhere, bad syntax, an address without '@'
 * (unless ADDRESS_ALLOW_LOCAL), over ADDRESS_LIST_MAX addresses, an
 * address or name over ADDRESS_LEN_MAX bytes. */
enum mp_status address_parse_list(const char *s, size_t len, unsigned flags,
				  struct address_list *list,
				  struct mp_error *err);

/* Free every entry; the list is empty and reusable afterwards. */
void address_list_free(struct address_list *list);

/* True if addr has a byte >= 0x80 and so needs SMTPUTF8 (RFC 6531). */
bool address_needs_smtputf8(const char *addr);

/* Check a bare envelope address (no <>) before it goes into MAIL FROM or
 * RCPT TO: a dot-string or quoted local part, '@', a domain of letters,
 * digits, '-', '_' or UTF-8 labels, or an address literal such as
 * [192.0.2.1] or [IPv6:2001:db8::1]; no blanks or controls outside quotes
 * and no '<' or '>' even inside them (a careless server would end the path
 * there); valid UTF-8; at most ADDRESS_LEN_MAX bytes.
 * Without '@' only with ADDRESS_ALLOW_LOCAL. The empty (null) sender is the
 * caller's business and is refused here. Fails with MP_ERR_USAGE
 * (MP_ERR_DATA with ADDRESS_ERR_DATA) and a sentence. */
enum mp_status address_check_envelope(const char *addr, unsigned flags,
				      struct mp_error *err);

#endif
