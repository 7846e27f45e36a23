/* IMAP dates (RFC 3501 section 9): the date-time of INTERNALDATE and
 * APPEND, "25-Nov-2026 10:00:00 +0000", and the date of SEARCH SINCE,
 * "25-Nov-2026". Pure: the calendar is computed here, independent of the
 * TZ variable and of the C library's time range. */
#ifndef MAILPIPE_IMAPDATE_H
#define MAILPIPE_IMAPDATE_H

#include <stddef.h>
#include <time.h>
#include "error.h"

/* Lengths of the formatted forms, without the NUL. */
#define IMAPDATE_TIME_LEN 26   /* "25-Nov-2026 10:00:00 +0000" */
#define IMAPDATE_DATE_LEN 11   /* "25-Nov-2026" */

/* Parse a date-time s[0..len) ("DD-Mon-YYYY HH:MM:SS +HHMM", the day two
 * digits or a space and a digit, optionally inside double quotes) into
 * seconds since the epoch, UTC. Month names are case-insensitive; the day
 * must exist in that month; seconds may be 60 (a leap second, counted as
 * the next minute's first). Fails with MP_ERR_PROTOCOL for anything else,
 * or a time that does not fit time_t. */
enum mp_status imapdate_parse(const char *s, size_t len, time_t *out,
			      struct mp_error *err);

/* Write t as a date-time in UTC ("+0000", day as two digits) into out,
 * NUL-terminated. Fails with MP_ERR_DATA if the year is outside 0-9999. */
enum mp_status imapdate_format(time_t t, char out[IMAPDATE_TIME_LEN + 1],
			       struct mp_error *err);

/* Parse a SEARCH date s[0..len), "D-Mon-YYYY" or "DD-Mon-YYYY" (as a user
 * gives it to --since; "YYYY-MM-DD" is taken too), into the start of that
 * day, UTC. Fails with MP_ERR_USAGE for anything else. */
enum mp_status imapdate_parse_date(const char *s, size_t len, time_t *out,
				   struct mp_error *err);

/* Write the UTC day of t as a SEARCH date ("5-Nov-2026": no leading zero)
 * into out, NUL-terminated. Fails with MP_ERR_DATA if the year is outside
 * 0-9999. */
enum mp_status imapdate_format_date(time_t t, char out[IMAPDATE_DATE_LEN + 1],
				    struct mp_error *err);

#endif
