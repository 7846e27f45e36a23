/* The SMTP DATA (and BDAT) body encoder as a streaming state machine. Pure.
 *
 * Feed the raw message in chunks of any size, split anywhere (even between
 * CR and LF); each call writes the wire form of what it was given:
 *   - every line end (CRLF, bare LF, or a bare CR) becomes CRLF, so the
 *     server never sees a bare CR or LF (no "SMTP smuggling" ambiguity);
 *   - in SMTPDATA_DOT mode a line starting with '.' gets another '.'
 *     (RFC 5321 4.5.2); SMTPDATA_BDAT mode (CHUNKING) only normalises.
 * Memory use is the struct: nothing is buffered across calls.
 * While encoding it records what the caller must judge: NUL bytes (refuse,
 * exit 65), 8-bit bytes (BODY=8BITMIME), the longest line (over 998 is
 * refused in sendmail mode) and sizes. */
#ifndef MAILPIPE_SMTPDATA_H
#define MAILPIPE_SMTPDATA_H

#include <stdbool.h>
#include <stddef.h>

enum smtpdata_mode {
	SMTPDATA_DOT,    /* DATA: dot-stuffing and a final ".\r\n" */
	SMTPDATA_BDAT,   /* BDAT: CRLF normalisation only, no terminator */
};

struct smtpdata {
	enum smtpdata_mode mode;
	bool bol;                 /* the next byte starts a line */
	bool after_cr;            /* last byte was a CR: a following LF is its pair */
	bool saw_nul;             /* a NUL byte was fed */
	bool saw_8bit;            /* a byte >= 0x80 was fed */
	size_t line_len;          /* bytes in the current line so far */
	size_t longest;           /* longest line, without its line end or stuffing */
	unsigned long long msg_bytes;  /* message size with CRLF line ends, no
					* stuffing dots, no terminator (RFC 1870
					* SIZE counts this) */
	unsigned long long out_bytes;  /* everything written, terminator included */
};

/* Most bytes smtpdata_feed() writes for len input bytes. */
#define SMTPDATA_OUT_MAX(len) (2 * (size_t)(len))
/* Most bytes smtpdata_finish() writes. */
#define SMTPDATA_FINISH_MAX 5

/* Start encoding a message. */
void smtpdata_init(struct smtpdata *s, enum smtpdata_mode mode);

/* Encode in[0..len) into out, which must hold SMTPDATA_OUT_MAX(len) bytes.
 * Returns the number of bytes written (not NUL-terminated). */
size_t smtpdata_feed(struct smtpdata *s, const void *in, size_t len,
		     char *out);

/* End the message: CRLF if its last line had no line end, then ".\r\n" in
 * SMTPDATA_DOT mode. out holds SMTPDATA_FINISH_MAX bytes. Returns the
 * number written. The struct then holds the final statistics. */
size_t smtpdata_finish(struct smtpdata *s, char *out);

#endif
