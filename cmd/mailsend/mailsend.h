/* mailsend's own modules: how a message becomes an outgoing one (spool,
 * envelope), how it leaves (deliver), and where it waits (queue).
 *
 *   sendmail mode  stdin -> spool -> envelope (args, -t) -> deliver | queue
 *   compose mode   options -> compose -> spool -> deliver | queue | --print
 *   batch mode     each Maildir/mbox message -> spool -> deliver (one session)
 *   -bs            SMTP on stdin/stdout -> spool -> deliver | queue
 *   -q / --flush   each queued message -> deliver
 */
#ifndef MAILSEND_H
#define MAILSEND_H

#include <stdbool.h>
#include <stdio.h>

#include "cli.h"
#include "smtp.h"
#include "strlist.h"

/* A message ready to go: the raw text in an unlinked temp file plus what
 * the scan found, and its envelope. */
struct outgoing {
	int fd;                    /* seekable, read from offset 0; owned */
	long long size;            /* bytes with CRLF line ends (for SIZE=) */
	bool has_8bit;             /* a byte >= 0x80 */
	bool has_nul;              /* a NUL byte: refused (65) */
	size_t longest_line;       /* without the line end */
	char *from;                /* envelope sender, "" for <>; owned */
	struct strlist rcpts;      /* envelope recipients */
};

/* How spool_copy reads its input. */
enum spool_end {
	SPOOL_TO_EOF,              /* read to end of file (-i, -oi, compose) */
	SPOOL_DOT_LINE,            /* a line holding only "." ends the message,
				      as sendmail does without -i */
};

/* Copy in (a pipe or file) into a new unlinked temp file in $TMPDIR and
 * scan it. out is zeroed first; the caller frees it with outgoing_free
 * even after a failure. Fails with MP_ERR_IO (disk full, read error). */
enum mp_status spool_copy(int in, enum spool_end end, struct outgoing *out,
			  struct mp_error *err);

/* Make an empty spooled message to be written through spool_stream and
 * finished with spool_seal (compose mode, -bs, the queue). */
enum mp_status spool_create(struct outgoing *out, FILE **stream,
			    struct mp_error *err);
/* Flush stream, scan what was written, rewind; closes stream. */
enum mp_status spool_seal(struct outgoing *out, FILE *stream,
			  struct mp_error *err);

/* Scan the spooled file again after it changed, and rewind it. */
enum mp_status spool_rescan(struct outgoing *msg, struct mp_error *err);

void outgoing_free(struct outgoing *msg);

/* The message's header block (up to the first empty line), unfolded,
 * one field per entry of *fields ("Name: value"). Capped at 1 MiB. */
enum mp_status message_headers(const struct outgoing *msg,
			       struct strlist *fields, struct mp_error *err);

/* The value of the first field called name (case-insensitive), or NULL. */
const char *header_value(const struct strlist *fields, const char *name);

/* Rewrite the spooled message's header: drop every field named in drop
 * (NULL-terminated list, e.g. {"Bcc", NULL}) and put `replace_from` (a
 * whole "From: ..." field, or NULL) in place of the From field (or first,
 * if there was none). The body is copied unchanged. */
enum mp_status message_rewrite(struct outgoing *msg, const char *const *drop,
			       const char *replace_from, struct mp_error *err);

/* Add the addresses of the To, Cc and Bcc fields to msg->rcpts (-t, and
 * batch mode). Fails with MP_ERR_DATA on an unparsable field. */
enum mp_status envelope_from_headers(struct outgoing *msg,
				     const struct strlist *fields,
				     struct mp_error *err);

/* Add recipients given as arguments (each may be a list "a@b, c@d");
 * bare local names are allowed, as cron sends them. MP_ERR_USAGE on bad
 * input, CR/LF included. */
enum mp_status envelope_add_args(struct outgoing *msg, char **args, int n,
				 struct mp_error *err);

/* The outcome of delivering one message. */
struct delivery {
	size_t nrcpts;
	struct smtp_rcpt_result *results;  /* nrcpts entries; owned */
	size_t ndelivered;
	enum mp_status status;             /* MP_OK: every recipient got it */
	struct mp_error err;               /* why not, for a failed status */
};

/* An open, logged-in SMTP/LMTP session for cli->server (auth only when a
 * user is known). */
enum mp_status deliver_open(struct cli *cli, struct smtp_session **out,
			    struct mp_error *err);

/* What no server would take: NUL bytes (65), lines over 998 octets when
 * check_line_length (65), no recipients (64). */
enum mp_status deliver_check(const struct outgoing *msg, bool check_line_length,
			     struct mp_error *err);

/* Send msg over s and fill *d. Returns d->status: MP_OK only if every
 * recipient accepted; MP_ERR_NOUSER / MP_ERR_UNAVAILABLE (5xx) or
 * MP_ERR_TEMP (4xx, network) otherwise, with the refused recipients and
 * replies in d->results. Refuses before sending: NUL bytes (65), lines
 * over 998 octets when check_line_length (65). */
enum mp_status deliver_message(struct smtp_session *s, struct outgoing *msg,
			       const struct cli *cli, bool check_line_length,
			       struct delivery *d);

/* Print one line per refused recipient: "mailsend: <addr>: 550 5.1.1 ...". */
void delivery_report(const struct cli *cli, const struct outgoing *msg,
		     const struct delivery *d);

void delivery_free(struct delivery *d);

/* Connect, send one message, quit: the whole path for a single message. */
enum mp_status deliver_single(struct cli *cli, struct outgoing *msg,
			      bool check_line_length, struct delivery *d,
			      struct mp_error *err);

/* --- the queue: $XDG_STATE_HOME/mailpipe/queue (Maildir layout) --- */

/* Store msg for later (its envelope and the account with it), durably:
 * tmp/, fsync, rename into new/, fsync the directory; then print on stderr
 * (unless -q) that it was queued and why (reason: the delivery error). */
enum mp_status queue_store(const struct cli *cli, const struct outgoing *msg,
			   const char *reason, struct mp_error *err);

/* -bp: list the queue on stdout. */
enum mp_status queue_list(const struct cli *cli, struct mp_error *err);

/* -q / --flush: send every queued message, under a lock; remove each only
 * after the server's final 250; move 5xx-refused ones to the dead letter
 * file; keep 4xx ones. */
enum mp_status queue_flush(struct cli *cli, struct mp_error *err);

/* Keep a message the server refused for good (5xx), so its text is never
 * lost: append it, mboxrd-quoted, to $XDG_STATE_HOME/mailpipe/dead.letter. */
enum mp_status dead_letter(const struct cli *cli, const struct outgoing *msg,
			   const char *reason, struct mp_error *err);

/* --- the other modes --- */

/* Compose mode: build the MIME message from --to/--cc/--bcc/--from/
 * --subject/--header/--attach/--body/--charset (body on stdin without
 * --body) into *msg with its envelope. */
enum mp_status compose_message(const struct cli *cli, struct outgoing *msg,
			       struct mp_error *err);

/* -bs: speak SMTP on stdin/stdout and relay each message received. */
enum mp_status smtp_stdio(struct cli *cli, struct mp_error *err);

/* --batch DIR|MBOX: send every message over one session; remove the ones
 * sent, leave the others in place. */
enum mp_status batch_send(struct cli *cli, const char *path, struct mp_error *err);

#endif
