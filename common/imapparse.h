/* IMAP response parser (layer 1, pure): one response line at a time.
 *
 * A response may run over several lines joined by literals ({N} at the end
 * of a line, then N bytes, then more of the same response on the next
 * line). The parser never reads: when a line ends in a literal it returns
 * IMAPP_LITERAL and says what the bytes are for; the caller either hands
 * them over (small values such as mailbox names) or deals with them itself
 * (message data streamed elsewhere, or bytes to drop), calls
 * imapp_literal, and feeds the next line.
 *
 *	imapp_begin(&p);
 *	step = imapp_line(&p, line, len);
 *	while (step == IMAPP_LITERAL) {
 *		... read p.literal bytes as p.use says ...
 *		step = imapp_literal(&p, bytes_or_NULL, n);
 *		if (step == IMAPP_MORE)
 *			step = imapp_line(&p, next_line, next_len);
 *	}
 *	IMAPP_DONE: p.r holds the response; IMAPP_ERROR: p.error says why.
 *
 * Every number, size, count and depth is capped; anything malformed or
 * over a cap is IMAPP_ERROR with the offending line (printable, cut). */
#ifndef MAILPIPE_IMAPPARSE_H
#define MAILPIPE_IMAPPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "reply.h"   /* enum imap_kind, enum imap_cond */

/* A literal handed to the parser (mailbox names) is at most this long. */
#define IMAPP_VALUE_MAX (64 * 1024)
/* Any other literal (message data, or bytes to drop) is at most this. */
#define IMAPP_LITERAL_MAX ((uint64_t)2 << 30)
/* Parentheses nest at most this deep. */
#define IMAPP_DEPTH_MAX 64
/* Lines (literals + 1) and values in one response. */
#define IMAPP_LINES_MAX 10000
#define IMAPP_ITEMS_MAX 100000

enum imapp_step {
	IMAPP_DONE,      /* the response is complete: see p->r */
	IMAPP_LITERAL,   /* p->literal bytes follow; handle them as p->use says */
	IMAPP_MORE,      /* after imapp_literal: feed the next line */
	IMAPP_ERROR,     /* malformed or over a cap: p->error says why */
};

enum imapp_use {
	IMAPP_USE_VALUE, /* hand the bytes to imapp_literal (<= IMAPP_VALUE_MAX) */
	IMAPP_USE_BODY,  /* BODY[] data of the FETCH in p->r.fetch: stream it */
	IMAPP_USE_SKIP,  /* read and drop */
};

enum imapp_type {
	IMAPP_T_NONE,        /* continuation requests */
	IMAPP_T_COND,        /* OK, NO, BAD, BYE, PREAUTH (tagged or not) */
	IMAPP_T_CAPABILITY,  /* words: the capabilities */
	IMAPP_T_ENABLED,     /* words: what ENABLE turned on */
	IMAPP_T_EXISTS,      /* num */
	IMAPP_T_RECENT,      /* num */
	IMAPP_T_EXPUNGE,     /* num: a sequence number */
	IMAPP_T_FETCH,       /* num, fetch */
	IMAPP_T_LIST,        /* list, mailbox */
	IMAPP_T_STATUS,      /* status, mailbox */
	IMAPP_T_VANISHED,    /* words: the UID set; vanished_earlier */
	IMAPP_T_OTHER,       /* anything else, read and passed over */
};

/* Bits of imapp_fetch.have. */
#define IMAPP_F_UID      0x01u
#define IMAPP_F_FLAGS    0x02u
#define IMAPP_F_DATE     0x04u
#define IMAPP_F_SIZE     0x08u
#define IMAPP_F_MODSEQ   0x10u
#define IMAPP_F_BODY     0x20u   /* BODY[] was a literal or a string */
#define IMAPP_F_BODY_NIL 0x40u   /* BODY[] was NIL */

struct imapp_fetch {
	unsigned have;
	uint32_t uid;
	char flags[256];        /* "\\Seen \\Answered"; flags that would not
				   fit are left out */
	time_t internaldate;    /* UTC (imapdate_parse) */
	uint64_t size;          /* RFC822.SIZE */
	uint64_t modseq;
	uint64_t body_size;     /* BODY[] literal's size (IMAPP_USE_BODY) */
	const char *body;       /* BODY[] sent as a quoted string, decoded
				   and NUL-terminated; owned by the parser,
				   NULL otherwise */
	size_t body_len;
};

/* Bits of imapp_list.attrs. */
#define IMAPP_L_NOSELECT     0x01u
#define IMAPP_L_NONEXISTENT  0x02u
#define IMAPP_L_NOINFERIORS  0x04u
#define IMAPP_L_HASCHILDREN  0x08u

struct imapp_list {
	unsigned attrs;
	char delim;             /* 0 for NIL */
};

/* Bits of imapp_status.have. */
#define IMAPP_S_MESSAGES      0x01u
#define IMAPP_S_UIDNEXT       0x02u
#define IMAPP_S_UIDVALIDITY   0x04u
#define IMAPP_S_HIGHESTMODSEQ 0x08u
#define IMAPP_S_UNSEEN        0x10u

struct imapp_status {
	unsigned have;
	uint32_t messages, uidnext, uidvalidity, unseen;
	uint64_t highestmodseq;
};

/* One response. Strings are NUL-terminated, owned by the parser and valid
 * until the next imapp_begin (or imapp_free). */
struct imapp_resp {
	enum imap_kind kind;     /* CONTINUATION, UNTAGGED or TAGGED */
	enum imapp_type type;
	char tag[32];            /* TAGGED only */
	enum imap_cond cond;     /* IMAPP_T_COND */
	char code[32];           /* response code atom ("UIDVALIDITY"), or "" */
	const char *code_args;   /* what follows it inside [...], or "" */
	uint64_t code_num;       /* its number, for UIDVALIDITY, UIDNEXT,
				    HIGHESTMODSEQ and UNSEEN */
	const char *text;        /* human text (status, continuation), or "" */
	const char *words;       /* CAPABILITY, ENABLED, VANISHED, or "" */
	bool vanished_earlier;
	uint32_t num;            /* EXISTS, RECENT, EXPUNGE, FETCH */
	char *mailbox;           /* LIST, STATUS; may hold 8-bit bytes, never NUL */
	size_t mailbox_len;
	struct imapp_fetch fetch;
	struct imapp_list list;
	struct imapp_status status;
};

/* The parser. Treat the fields other than r, literal, use and error as
 * private. Zero it (or imapp_begin it) before use; imapp_free at the end. */
struct imapp {
	struct imapp_resp r;
	uint64_t literal;        /* after IMAPP_LITERAL: its size */
	enum imapp_use use;      /* ... and what it is for */
	char error[256];         /* after IMAPP_ERROR */

	int st;                  /* grammar state */
	int ret;                 /* state to return to after a skipped value */
	int att;                 /* FETCH or STATUS attribute being read */
	int depth;               /* parentheses open in a skipped value */
	unsigned lines, items;
	bool waiting;            /* a literal was announced and not yet given */
	char *first;             /* copy of the response's first line */
	const char *line;        /* the line being parsed (for errors) */
	size_t len, pos;
	char *body;              /* owned storage of fetch.body */
};

/* Start a new response (frees what the previous one held). */
void imapp_begin(struct imapp *p);
/* Parse the next line of the response (CRLF removed; need not be
 * NUL-terminated). line is not kept after the call. */
enum imapp_step imapp_line(struct imapp *p, const char *line, size_t len);
/* The literal announced by IMAPP_LITERAL is over: data[0..len) are its
 * bytes for IMAPP_USE_VALUE (len must equal p->literal), NULL otherwise.
 * Returns IMAPP_MORE (feed the next line) or IMAPP_ERROR. */
enum imapp_step imapp_literal(struct imapp *p, const char *data, size_t len);
/* Free what the parser holds; it may be begun again afterwards. */
void imapp_free(struct imapp *p);


#endif
