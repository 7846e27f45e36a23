/* POP3 client sessions (RFC 1939, 2449, 2595, 5034). */
#ifndef MAILPIPE_POP3_H
#define MAILPIPE_POP3_H

#include "session.h"

struct pop3_session;

/* Connect, read the greeting, CAPA, STLS when srv->tls says so (and CAPA
 * again). The caller frees *out with pop3_close. */
enum mp_status pop3_open(struct pop3_session **out,
			 const struct server_opts *srv, struct mp_error *err);

/* Log in: AUTH through SASL when offered, else USER/PASS; APOP only when
 * auth->mech is "APOP". CAPA is asked again afterwards; when the server
 * pipelines, its answer is read with the next command's. */
enum mp_status pop3_auth(struct pop3_session *s, const struct mp_auth *auth,
			 struct mp_error *err);

/* What the session knows of the server (the capabilities after login, once
 * logged in). */
const struct session_info *pop3_info(struct pop3_session *s);

struct conn *pop3_conn(struct pop3_session *s);

/* --- the mailbox --- */

/* The maildrop at a glance: STAT, and the UIDL of message num when num is
 * not 0 ("" when the server has no such message). With PIPELINING, and
 * with a pending CAPA, one round trip. A client that saw the maildrop
 * whole can tell from this that nothing was added, without the UIDL
 * listing, which is most of the server's work in a run with nothing new. */
struct pop3_glance {
	unsigned long count;
	unsigned long long octets;
	char uidl[72];
};

enum mp_status pop3_glance(struct pop3_session *s, unsigned long num,
			   struct pop3_glance *g, struct mp_error *err);

/* One message of the maildrop. */
struct pop3_entry {
	unsigned long num;           /* message number, 1-based */
	unsigned long long size;     /* octets, from LIST */
	char uidl[72];               /* from UIDL (at most 70 chars), "" if none */
};

/* UIDL: the messages by number (sorted, sizes 0) with their UIDLs. Caps:
 * at most POP3_MAX_MESSAGES messages; a UIDL over 70 characters, a number
 * that is not one, a number twice, two messages with the same UIDL, or a
 * list that never ends are MP_ERR_PROTOCOL. A server without UIDL:
 * MP_ERR_UNAVAILABLE. UIDL comes alone so a run with nothing new never
 * asks for LIST, which costs the server time.
 *
 * pop3_sizes: LIST, which also bounds what pop3_retr accepts for each
 * message. from_uidl: LIST must name exactly the messages UIDL did (else
 * MP_ERR_PROTOCOL) and fills in their sizes; otherwise (a server without
 * UIDL) the entries are made from LIST. The caller frees the entries. */
#define POP3_MAX_MESSAGES 1000000
enum mp_status pop3_uidl(struct pop3_session *s, struct pop3_entry **entries,
			 size_t *n, struct mp_error *err);
enum mp_status pop3_sizes(struct pop3_session *s, bool from_uidl,
			  struct pop3_entry **entries, size_t *n,
			  struct mp_error *err);

/* Lower the message cap of s below POP3_MAX_MESSAGES (0: the default). */
void pop3_set_max_messages(struct pop3_session *s, unsigned long max);

/* Receives a message's bytes as retrieved: dot-unstuffed, each line ending
 * in LF (the wire's CRLF made LF), in pieces of any size. A non-OK return
 * stops the retrieval (the rest of the message is read and dropped). */
struct pop3_sink {
	enum mp_status (*begin)(void *ctx, size_t index, struct mp_error *err);
	enum mp_status (*data)(void *ctx, size_t index, const char *buf,
			       size_t len, struct mp_error *err);
	/* The message ended cleanly. */
	enum mp_status (*end)(void *ctx, size_t index, struct mp_error *err);
	void *ctx;
};

/* RETR nums[0..n) (message numbers), keeping up to `window` RETRs in
 * flight when the server offers PIPELINING (1 otherwise), calling sink for
 * each in order with index = its position in nums. A message that ends
 * early (connection lost) never gets its end call. The first sink error
 * or -ERR (which names the message; RESP-CODES map as for login, else
 * MP_ERR_PROTOCOL) stops the run and is returned, after the message in
 * progress and the RETRs already sent are read and dropped, so DELE and
 * QUIT still work. Body lines of any length stream through in pieces;
 * after pop3_sizes, a message sending more than twice its listed size
 * plus 1 MiB is MP_ERR_PROTOCOL.
 * begin and end may be NULL. Body lines are not traced, only "-- N bytes
 * of message data".
 *
 * After an error that leaves the session out of step with the server
 * (connection lost, a line over the cap, a malformed or endless reply),
 * every later call on s fails at once with that error's status. */
enum mp_status pop3_retr(struct pop3_session *s, const unsigned long *nums,
			 size_t n, size_t window, const struct pop3_sink *sink,
			 struct mp_error *err);
/* The same with TOP n 0: each message's header and the empty line after
 * it. MP_ERR_UNAVAILABLE, with nothing sent, when the server's CAPA does
 * not offer TOP. */
enum mp_status pop3_top(struct pop3_session *s, const unsigned long *nums,
			size_t n, size_t window, const struct pop3_sink *sink,
			struct mp_error *err);

/* DELE each of nums[0..n), pipelined when offered. The deletions happen
 * only at a successful QUIT. Any -ERR is an error naming the message
 * (RESP-CODES mapped, else MP_ERR_PROTOCOL); the other replies are still
 * read, so the session stays usable. */
enum mp_status pop3_dele(struct pop3_session *s, const unsigned long *nums,
			 size_t n, struct mp_error *err);

/* QUIT: a +OK commits the deletions (RFC 1939 UPDATE state). */
enum mp_status pop3_quit(struct pop3_session *s, struct mp_error *err);
/* QUIT without waiting for the answer, for a session that retrieved and
 * deleted nothing, so the answer could change nothing. */
enum mp_status pop3_quit_nowait(struct pop3_session *s, struct mp_error *err);

void pop3_close(struct pop3_session *s);

#endif
