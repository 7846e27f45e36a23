/* POP3 reply parsing (layer 1, pure): multi-line bodies and the scan
 * listings of STAT, LIST and UIDL. */
#ifndef MAILPIPE_POP3PARSE_H
#define MAILPIPE_POP3PARSE_H

#include <stdbool.h>
#include <stddef.h>

/* One line of a multi-line reply (CRLF already removed): the end marker
 * ".", or a data line with its stuffed dot removed. */
enum pop3_ml { POP3_ML_END, POP3_ML_DATA };
enum pop3_ml pop3_multiline(const char *line, size_t len, const char **data,
			    size_t *data_len);

/* "+OK 2 320" text after +OK of STAT -> count, size. False if malformed or
 * out of range (count > max_count). */
bool pop3_parse_stat(const char *text, size_t len, unsigned long max_count,
		     unsigned long *count, unsigned long long *size);

/* A LIST line "NUM SIZE" (or the single-line "+OK NUM SIZE" text). */
bool pop3_parse_list_line(const char *line, size_t len, unsigned long max_num,
			  unsigned long *num, unsigned long long *size);

/* A UIDL line "NUM UID": uid is 1-70 chars 0x21-0x7E (RFC 1939), copied
 * NUL-terminated into uid (72 bytes). */
bool pop3_parse_uidl_line(const char *line, size_t len, unsigned long max_num,
			  unsigned long *num, char uid[72]);

#endif
