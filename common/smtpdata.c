/* Streaming CRLF normalisation and dot-stuffing for SMTP DATA/BDAT. */
#include "smtpdata.h"

#include <string.h>

void smtpdata_init(struct smtpdata *s, enum smtpdata_mode mode)
{
	memset(s, 0, sizeof(*s));
	s->mode = mode;
	s->bol = true;
}

static void end_line(struct smtpdata *s)
{
	if (s->line_len > s->longest)
		s->longest = s->line_len;
	s->line_len = 0;
	s->bol = true;
	s->msg_bytes += 2;
}

size_t smtpdata_feed(struct smtpdata *s, const void *in, size_t len,
		     char *out)
{
	const unsigned char *p = in;
	unsigned char any = 0;
	size_t i = 0, o = 0;

	while (i < len) {
		unsigned char c = p[i];
		size_t run;

		if (c == '\n') {
			i++;
			if (s->after_cr) {
				/* The LF of a CRLF whose CR already ended the line. */
				s->after_cr = false;
				continue;
			}
			out[o++] = '\r';
			out[o++] = '\n';
			end_line(s);
			continue;
		}
		s->after_cr = false;
		if (c == '\r') {
			i++;
			out[o++] = '\r';
			out[o++] = '\n';
			end_line(s);
			s->after_cr = true;
			continue;
		}
		if (s->bol) {
			if (c == '.' && s->mode == SMTPDATA_DOT)
				out[o++] = '.';
			s->bol = false;
		}
		/* Copy the rest of the line in one go. */
		for (run = i; run < len; run++) {
			unsigned char b = p[run];

			any |= b;
			if (b <= '\r') {   /* one test for NUL, CR and LF */
				if (b == '\n' || b == '\r')
					break;
				if (b == '\0')
					s->saw_nul = true;
			}
		}
		memcpy(out + o, p + i, run - i);
		o += run - i;
		s->line_len += run - i;
		s->msg_bytes += run - i;
		i = run;
	}
	if (any & 0x80)
		s->saw_8bit = true;
	s->out_bytes += o;
	return o;
}

size_t smtpdata_finish(struct smtpdata *s, char *out)
{
	size_t o = 0;

	if (!s->bol) {
		out[o++] = '\r';
		out[o++] = '\n';
		end_line(s);
	}
	if (s->mode == SMTPDATA_DOT) {
		memcpy(out + o, ".\r\n", 3);
		o += 3;
	}
	s->after_cr = false;
	s->out_bytes += o;
	return o;
}
