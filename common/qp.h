/* Quoted-printable (RFC 2045 6.7) for text bodies. Pure.
 *
 * The encoder streams: feed chunks split anywhere, then finish; its state
 * is the struct, so memory does not grow with the message. Input is text
 * whose line ends are CRLF or bare LF (mixed is fine); both become a CRLF
 * hard line break. A CR not followed by LF is data and is encoded as =0D.
 * Output lines are at most 76 characters; '=', bytes >= 0x80, controls
 * other than TAB, and a SP/TAB ending a line are encoded. A '.' starting
 * an output line and the 'F' of a "From " starting a line are encoded too,
 * so dot-stuffing and mbox quoting never touch the encoded body. */
#ifndef MAILPIPE_QP_H
#define MAILPIPE_QP_H

#include <stdbool.h>
#include <stddef.h>

struct qp_enc {
	unsigned col;          /* characters on the current output line */
	unsigned char ws;      /* a held SP or TAB (0: none): encoded only if
				* a line end follows */
	bool cr;               /* a held CR: line end if LF follows, else =0D */
	unsigned char from;    /* bytes of "From" held at a line start, 0..4 */
};

/* Most bytes qp_encode_feed() writes for len input bytes. */
#define QP_ENCODE_MAX(len) (6 * ((size_t)(len) + 4))
/* Most bytes qp_encode_finish() writes. */
#define QP_FINISH_MAX 24

/* Start an encoder. */
void qp_encode_init(struct qp_enc *q);

/* Encode in[0..len) into out, which must hold QP_ENCODE_MAX(len) bytes.
 * Returns the number of bytes written (not NUL-terminated). Some input may
 * be held until the next call or qp_encode_finish(). */
size_t qp_encode_feed(struct qp_enc *q, const void *in, size_t len, char *out);

/* Write whatever is held (out holds QP_FINISH_MAX bytes) and reset q for
 * another body. No line break is added after the last line. */
size_t qp_encode_finish(struct qp_enc *q, char *out);

/* Decode text[0..len) into out (at least len bytes); *outlen receives the
 * decoded length. Soft breaks ("=" CRLF or "=" LF) vanish, "=XX" (hex in
 * either case) becomes the byte, line ends are kept as written, and spaces
 * or tabs before a line end are dropped (transports may add them). Returns
 * false for a '=' followed by anything else. */
bool qp_decode(const char *text, size_t len, unsigned char *out,
	       size_t *outlen);

#endif
