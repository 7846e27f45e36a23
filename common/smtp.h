/* SMTP and LMTP client sessions (RFC 5321, 3207, 4954, 2033) and the mail
 * transaction (RFC 2920 PIPELINING, 3030 CHUNKING, 1870 SIZE, 6152 8BITMIME,
 * 6531 SMTPUTF8, 3461 DSN). */
#ifndef MAILPIPE_SMTP_H
#define MAILPIPE_SMTP_H

#include <stdbool.h>
#include <stddef.h>

#include "session.h"

struct smtp_session;

/* Connect, read the greeting, EHLO (LHLO for LMTP; HELO fallback when EHLO
 * is refused and no TLS is needed), STARTTLS when srv->tls says so (and
 * EHLO again). helo is the name we give (NULL: this host's name).
 * The caller frees *out with smtp_close. srv must outlive the session. */
enum mp_status smtp_open(struct smtp_session **out,
			 const struct server_opts *srv, const char *helo,
			 struct mp_error *err);

/* Log in through SASL (AUTH). */
enum mp_status smtp_auth(struct smtp_session *s, const struct mp_auth *auth,
			 struct mp_error *err);

/* Greeting, capabilities, mechanism used; lives as long as s. */
const struct session_info *smtp_info(const struct smtp_session *s);

struct conn *smtp_conn(struct smtp_session *s);

/* --- the mail transaction --- */

/* Who the message is from and for. Every string is borrowed for the call.
 * Addresses are bare (no <>); a byte >= 0x80 in one asks for SMTPUTF8. */
struct smtp_envelope {
	const char *from;            /* reverse-path; "" for the null sender */
	const char *const *rcpts;    /* nrcpts forward-paths, at least one */
	size_t nrcpts;
	const char *dsn_notify;      /* NULL, "NEVER", or a comma list of
					SUCCESS, FAILURE, DELAY (RFC 3461) */
	const char *dsn_ret;         /* NULL, "FULL" or "HDRS" */
	const char *envid;           /* NULL or the DSN envelope id: printable
					ASCII, at most 100 bytes */
};

/* The message: raw RFC 5322 text with LF or CRLF line ends, read from the
 * current offset of fd to its end (a pipe works too). smtp_send encodes it
 * for the wire (CRLF, dot-stuffing) and never holds more than about 1 MiB
 * of it in memory. */
struct smtp_message {
	int fd;
	long long size;              /* its size for SIZE= and the server's
					limit: best the encoded size, the raw
					size will do; -1 if unknown. Measured
					exactly if the message fits 1 MiB */
	bool has_8bit;               /* a byte >= 0x80 somewhere: BODY=8BITMIME.
					The first MiB is checked here too;
					8-bit data later that was not declared
					is refused mid-message */
	bool needs_smtputf8;         /* a header address is UTF-8 */
};

/* The server's answer for one recipient: to its RCPT, replaced for LMTP by
 * its own reply after the message (RFC 2033). code 0: not asked. */
struct smtp_rcpt_result {
	int code;
	char text[300];              /* reply text, lines joined by spaces */
};

/* Send one message: MAIL, RCPT for each recipient, then DATA or, with
 * CHUNKING, BDAT chunks of up to 1 MiB; pipelined when the server offers
 * PIPELINING (envelope and DATA, or a message that fits one chunk, in one
 * round trip). SIZE=, BODY=8BITMIME, SMTPUTF8 and the DSN parameters are
 * added as the message and envelope need them.
 * Before anything is sent it refuses: MP_ERR_USAGE for CR, LF, NUL, blanks
 * or <> in an address, a bad DSN value, no recipients; MP_ERR_UNAVAILABLE
 * for a message over the server's SIZE limit, or DSN or SMTPUTF8 asked of
 * a server without them; MP_ERR_DATA for 8-bit data without 8BITMIME or a
 * NUL byte in the first MiB.
 * results must hold nrcpts entries. MP_OK means at least one recipient got
 * the message: exactly those have a 2xx results[i].code, *ndelivered counts
 * them, and the caller reports the rest from results (an LMTP connection
 * lost during the per-recipient replies leaves 451 for those not yet
 * answered). Any other status means nobody got it: sender or message
 * refused: 4xx MP_ERR_TEMP, 5xx MP_ERR_UNAVAILABLE; every recipient
 * refused: MP_ERR_TEMP if any refusal was 4xx, else MP_ERR_NOUSER if all
 * were 5.1.x (no such mailbox), else MP_ERR_UNAVAILABLE.
 * After a reply-level failure the session is ready for the next message
 * (the RSET it needs goes out with the next MAIL). After MP_ERR_DATA or
 * MP_ERR_IO in the middle of a DATA body (a NUL byte, or undeclared 8-bit
 * data, past the first MiB; a read error) the server cannot be told to
 * drop the message: the session refuses further use, close it. */
enum mp_status smtp_send(struct smtp_session *s,
			 const struct smtp_envelope *env,
			 const struct smtp_message *msg,
			 struct smtp_rcpt_result *results, size_t *ndelivered,
			 struct mp_error *err);

/* RSET now and read the answer: drop any transaction in progress. Not
 * needed between messages; smtp_send resets by itself when it must. */
enum mp_status smtp_reset(struct smtp_session *s, struct mp_error *err);

/* Send QUIT and read the answer (errors are of little interest). Sends
 * nothing after a message was abandoned mid-DATA. */
enum mp_status smtp_quit(struct smtp_session *s, struct mp_error *err);

void smtp_close(struct smtp_session *s);

#endif
