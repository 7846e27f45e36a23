/* Classifiers for server replies. Pure: each takes one line already read
 * (CRLF removed) and says what it is. */
#ifndef MAILPIPE_REPLY_H
#define MAILPIPE_REPLY_H

#include <stdbool.h>
#include <stddef.h>

/* --- SMTP / LMTP: "250-text" (more follows) or "250 text" (last line) --- */
struct smtp_reply_line {
	int code;            /* 200..599 */
	bool last;           /* space after the code, or nothing */
	const char *text;    /* points into the line; "" when absent */
};
/* False if the line is not a well-formed reply line. */
bool smtp_parse_reply_line(const char *line, size_t len,
			   struct smtp_reply_line *out);

/* --- POP3: "+OK text", "-ERR [CODE] text", "+ base64" --- */
enum pop3_status { POP3_OK, POP3_ERR, POP3_CONT, POP3_BAD };
/* text points after the status word and blank; resp_code receives the
 * RFC 2449 response code ("IN-USE", "SYS/TEMP", ...) without brackets or
 * "" (resp_code must hold 64 bytes). */
enum pop3_status pop3_parse_status(const char *line, size_t len,
				   const char **text, char *resp_code);

/* --- IMAP: one response line --- */
enum imap_kind {
	IMAP_BAD_LINE,       /* not a valid response line */
	IMAP_CONTINUATION,   /* "+ text" */
	IMAP_UNTAGGED,       /* "* ..." */
	IMAP_TAGGED,         /* "tag ..." */
};
enum imap_cond { IMAP_COND_NONE, IMAP_COND_OK, IMAP_COND_NO, IMAP_COND_BAD,
		 IMAP_COND_PREAUTH, IMAP_COND_BYE };
struct imap_line {
	enum imap_kind kind;
	char tag[32];            /* for IMAP_TAGGED */
	enum imap_cond cond;     /* OK/NO/BAD/PREAUTH/BYE if the line is a status */
	char code[64];           /* response code atom: "CAPABILITY", "ALERT", "" */
	const char *code_args;   /* text after the code atom inside [...], or NULL */
	size_t code_args_len;
	const char *text;        /* human text after the status and code */
	const char *rest;        /* after "* " or "tag ": e.g. "CAPABILITY IMAP4rev1 ..." */
	long long literal;       /* size of a {N} or {N+} literal ending the line, else -1 */
};
/* The condition named by the word w[0..n) (any case), or IMAP_COND_NONE. */
enum imap_cond imap_cond_word(const char *w, size_t n);
/* Classify an IMAP response line. A literal announced at the end of the
 * line is reported in out->literal; the caller reads those bytes. */
void imap_parse_line(const char *line, size_t len, struct imap_line *out);

#endif
