/* mboxrd quoting (layer 1, pure): a line matching ^>*From  gets one more
 * '>' on the way into an mbox and loses one on the way out, so any message
 * survives a round trip. Streaming: chunks may split lines anywhere. */
#ifndef MAILPIPE_MBOXRD_H
#define MAILPIPE_MBOXRD_H

#include <stdbool.h>
#include <stddef.h>

struct mboxrd_quote {
	bool bol;            /* at the start of a line, or only '>' so far */
	size_t held;         /* bytes held back: a possible ">From" prefix, */
	char hold[16];       /* or (when !bol) a CR that may start a CRLF */
};

/* Output room for one mboxrd_quote_feed of len bytes: every quoted line
 * grows by one '>' (a run of "From \n" lines grows by 1/6), plus a few
 * bytes held back from the previous chunk. */
#define MBOXRD_QUOTE_MAX(len) ((len) + (len) / 6 + 16)

void mboxrd_quote_init(struct mboxrd_quote *q);
/* Quote in[0..len) into out (at least MBOXRD_QUOTE_MAX(len) bytes); CRLF
 * line ends are written as LF, a lone CR is kept. Returns the bytes
 * written. */
size_t mboxrd_quote_feed(struct mboxrd_quote *q, const char *in, size_t len,
			 char *out);
/* Flush anything held back, and end the message with "\n" if its last
 * line had none, then an empty line. out holds 24 bytes. q is then ready
 * for the next message. */
size_t mboxrd_quote_finish(struct mboxrd_quote *q, char *out);

/* Reading an mbox: feed whole lines (without their LF); each returns
 * what the line is. For MBOXRD_BODY lines *unq is the unquoted line
 * (pointing into line), *unq_len its length. */
enum mboxrd_line { MBOXRD_SEPARATOR, MBOXRD_BODY };
enum mboxrd_line mboxrd_read_line(const char *line, size_t len,
				  const char **unq, size_t *unq_len);

#endif
