/* IMAP4rev1 client sessions (RFC 3501, 9051 where compatible). */
#ifndef MAILPIPE_IMAP_H
#define MAILPIPE_IMAP_H

#include <stdint.h>
#include <time.h>

#include "session.h"

struct imap_session;

/* Connect, read the greeting (refusing PREAUTH when TLS must be started),
 * STARTTLS when srv->tls says so, then CAPABILITY (asked again after TLS).
 * The caller frees *out with imap_close. srv must outlive the session. */
enum mp_status imap_open(struct imap_session **out,
			 const struct server_opts *srv, struct mp_error *err);

/* Log in: AUTHENTICATE through SASL (with SASL-IR when offered), or the
 * LOGIN command when the server offers no usable mechanism. Capabilities
 * are asked for again afterwards. */
enum mp_status imap_auth(struct imap_session *s, const struct mp_auth *auth,
			 struct mp_error *err);

const struct session_info *imap_info(const struct imap_session *s);

struct conn *imap_conn(struct imap_session *s);

/* The text of the last [ALERT] the server sent (printable; for the user's
 * eyes), or NULL. Valid until the next call on s. */
const char *imap_alert(const struct imap_session *s);

/* --- the mailbox store (after login) --- */

/* True if the server offers capability name (case-insensitive). */
bool imap_has_cap(const struct imap_session *s, const char *name);

/* ENABLE what the server offers of CONDSTORE, QRESYNC and UTF8=ACCEPT, and
 * send ID; both only when advertised. */
enum mp_status imap_enable(struct imap_session *s, struct mp_error *err);
/* True once UTF8=ACCEPT is enabled: folder names are then UTF-8. */
bool imap_utf8(const struct imap_session *s);

/* What STATUS or EXAMINE tells about a folder. */
struct imap_mailbox {
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t messages;       /* EXISTS */
	uint64_t highestmodseq;  /* 0 when the server has no CONDSTORE */
};

/* One folder from LIST. */
struct imap_folder {
	char *name;            /* as the server names it (modified UTF-7, or
				  UTF-8 under UTF8=ACCEPT); owned */
	char delim;            /* hierarchy delimiter, 0 for none (NIL) */
	bool noselect;         /* \Noselect or \NonExistent */
	bool has_status;       /* status came with LIST (LIST-STATUS) */
	struct imap_mailbox status;
};
/* LIST "" pattern (IMAP wildcards * and %). At most 100000 folders; names
 * with NUL are refused (MP_ERR_PROTOCOL), other odd names are returned as
 * they are: mapping them to local names safely is the caller's job. A
 * pattern holding CR or LF is MP_ERR_USAGE. Where the server offers
 * LIST-STATUS, each selectable folder's STATUS comes in the same round
 * trip (has_status; a folder the server sends no UIDVALIDITY for has
 * none). The caller frees with imap_folders_free. */
enum mp_status imap_list(struct imap_session *s, const char *pattern,
			 struct imap_folder **out, size_t *n,
			 struct mp_error *err);
void imap_folders_free(struct imap_folder *f, size_t n);

/* Folder names for STATUS and EXAMINE are names LIST returned: 8-bit
 * ones, and those holding CR or LF, go as literals.
 *
 * STATUS folder (MESSAGES UIDNEXT UIDVALIDITY [HIGHESTMODSEQ]). A NO is
 * MP_ERR_NOUSER for [NONEXISTENT], MP_ERR_TEMP for [UNAVAILABLE], [INUSE]
 * or [LIMIT], else MP_ERR_UNAVAILABLE, with the server's text (a BAD is
 * MP_ERR_PROTOCOL); uidnext is 0 when the server did not say. No
 * UIDVALIDITY in the answer is MP_ERR_PROTOCOL. */
enum mp_status imap_status(struct imap_session *s, const char *folder,
			   struct imap_mailbox *out, struct mp_error *err);
/* EXAMINE folder (read-only: fetching never marks mail read), with
 * (CONDSTORE) when enabled. */
enum mp_status imap_examine(struct imap_session *s, const char *folder,
			    struct imap_mailbox *out, struct mp_error *err);

/* One message's metadata. */
struct imap_msginfo {
	uint32_t uid;
	char flags[256];         /* the FLAGS list's inside: "\\Seen \\Answered" */
	time_t internaldate;     /* 0 if not given */
	uint64_t size;           /* RFC822.SIZE */
	uint64_t modseq;         /* 0 without CONDSTORE */
};
/* UID FETCH first:last (UID FLAGS INTERNALDATE RFC822.SIZE [MODSEQ])
 * [(CHANGEDSINCE changedsince) when changedsince > 0]; last 0 means "*".
 * Results sorted by UID, each once; the caller frees *out. Untagged
 * EXPUNGE or EXISTS arriving meanwhile are handled (noted, not fatal).
 * MODSEQ is asked for after an EXAMINE that reported a HIGHESTMODSEQ;
 * changedsince without that is MP_ERR_USAGE. At most 2000000 messages. */
enum mp_status imap_fetch_info(struct imap_session *s, uint32_t first,
			       uint32_t last, uint64_t changedsince,
			       struct imap_msginfo **out, size_t *n,
			       struct mp_error *err);

/* EXAMINE a folder and list its messages (as imap_fetch_info from 1 to
 * "*", changed since changedsince when not 0) in one round trip: the two
 * commands go out together and the caller may do other work while the
 * server answers; imap_open_finish then reads both answers. Call finish
 * only after send returned MP_OK; free op with imap_open_free either way.
 * finish gives what imap_examine and imap_fetch_info would (an empty
 * folder lists nothing; a folder without MODSEQs is asked again without
 * CHANGEDSINCE, and op->since becomes 0: the list is whole). A folder
 * name that needs a synchronizing literal is sent the plain way, one
 * command after the other. */
struct examine_want;
struct imap_open {
	char *folder;
	uint64_t since;
	bool condstore, sequential;
	char examine_tag[16], fetch_tag[16];
	struct examine_want *w;      /* private to imap.c */
};
enum mp_status imap_open_send(struct imap_session *s, const char *folder,
			      uint64_t changedsince, struct imap_open *op,
			      struct mp_error *err);
enum mp_status imap_open_finish(struct imap_session *s, struct imap_open *op,
				struct imap_mailbox *mb,
				struct imap_msginfo **info, size_t *n,
				struct mp_error *err);
void imap_open_free(struct imap_open *op);

/* UID SEARCH criteria in the selected folder: the criteria are IMAP search
 * keys as a user writes them ("SINCE 1-Nov-2026 SUBJECT report"), sent
 * inside parentheses (the same meaning, and a trailing {N} can never start
 * a literal). Text with 8-bit bytes must be UTF-8; such words and quoted
 * strings go as literals, with CHARSET UTF-8 unless UTF8=ACCEPT is on.
 * Criteria that are empty, hold CR or LF, start with CHARSET or are longer
 * than 8000 bytes are MP_ERR_USAGE, and nothing is sent. A BAD (or NO
 * [BADCHARSET]) is MP_ERR_USAGE with the server's words: the criteria were
 * wrong; another NO is as for STATUS. The answer may be any length (it is
 * read in pieces); more than 2000000 UIDs is MP_ERR_PROTOCOL. *uids gets
 * the UIDs sorted, each once, and is freed by the caller (NULL when *n is
 * 0). */
enum mp_status imap_uid_search(struct imap_session *s, const char *criteria,
			       uint32_t **uids, size_t *n, struct mp_error *err);

/* Receives message bodies: BODY.PEEK[] literals with CRLF made LF, in
 * pieces of any size; info has what the same FETCH response said (UID,
 * FLAGS, INTERNALDATE, RFC822.SIZE when asked, else the literal's size).
 * info stays valid until the end call, and what the response sends after
 * the data (FLAGS after BODY[], say) is filled in before end. */
struct imap_sink {
	enum mp_status (*begin)(void *ctx, size_t index,
				const struct imap_msginfo *info,
				struct mp_error *err);
	enum mp_status (*data)(void *ctx, size_t index, const char *buf,
			       size_t len, struct mp_error *err);
	enum mp_status (*end)(void *ctx, size_t index, struct mp_error *err);
	void *ctx;
};
/* UID FETCH the bodies of uids[0..n) (BODY.PEEK[] with UID FLAGS
 * INTERNALDATE), pipelining up to `window` commands, streaming each
 * literal to sink in order of arrival (index: position in uids). A literal
 * is never held in memory whole; its size is capped (MP_ERR_PROTOCOL
 * above 2 GiB). A message the server no longer has (expunged meanwhile)
 * is skipped without a begin call. Sink errors stop the run after the
 * responses in flight are read. */
enum mp_status imap_fetch_bodies(struct imap_session *s, const uint32_t *uids,
				 size_t n, size_t window,
				 const struct imap_sink *sink, struct mp_error *err);

enum mp_status imap_logout(struct imap_session *s, struct mp_error *err);
/* LOGOUT without waiting for the answer, for a session that changed
 * nothing on the server (EXAMINE and FETCH BODY.PEEK only): the server
 * may take milliseconds over it that the caller need not wait for. */
enum mp_status imap_logout_nowait(struct imap_session *s, struct mp_error *err);

void imap_close(struct imap_session *s);

#endif
