/* Unit tests for common/imapdate.c: date-times with zones and padding,
 * calendar edges, strictness, formatting and round trips, SEARCH dates. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imapdate.h"
#include "tap.h"

static void parse_is(const char *s, long long want, const char *what)
{
	struct mp_error err;
	time_t t = 12345;

	ok(imapdate_parse(s, strlen(s), &t, &err) == MP_OK, "%s: parses", what);
	is_int(t, want, "%s", what);
}

static void parse_bad(const char *s, size_t len, const char *what)
{
	struct mp_error err = { 0 };
	time_t t;

	ok(imapdate_parse(s, len, &t, &err) == MP_ERR_PROTOCOL &&
	   err.status == MP_ERR_PROTOCOL && err.msg[0], "refused: %s", what);
}

static void test_parse(void)
{
	parse_is("25-Nov-2026 10:00:00 +0000", 1795600800LL, "UTC");
	parse_is("17-Jul-1996 02:44:25 -0700", 837596665LL,
		 "RFC 3501 example, west of UTC");
	parse_is("05-Nov-2026 23:30:00 +0530", 1793901600LL,
		 "east of UTC, two-digit day");
	parse_is(" 5-Nov-2026 23:30:00 +0530", 1793901600LL,
		 "space-padded day");
	parse_is("\" 5-Nov-2026 23:30:00 +0530\"", 1793901600LL,
		 "inside quotes");
	parse_is("29-Feb-2024 12:00:00 -1200", 1709251200LL, "leap day");
	parse_is("29-Feb-2000 00:00:00 +0000", 951782400LL,
		 "leap day in a 400-year");
	parse_is("01-Jan-1970 00:00:00 +0000", 0, "the epoch");
	parse_is("01-Jan-1970 00:00:00 +0100", -3600, "before the epoch");
	parse_is("31-Dec-1969 23:59:59 +0000", -1, "one second before");
	parse_is("25-nov-2026 10:00:00 +0000", 1795600800LL,
		 "month without case");
	parse_is("31-Dec-2016 23:59:60 +0000", 1483228800LL, "leap second");
	parse_is("31-Dec-9999 23:59:59 +0000", 253402300799LL, "year 9999");
	parse_is("01-Jan-0000 00:00:00 +0000", -62167219200LL, "year 0");

#define BAD(s, what) parse_bad(s, sizeof(s) - 1, what)
	BAD("", "empty");
	BAD("25-Nov-2026 10:00:00", "no zone");
	BAD("25-Nov-2026 10:00:00 +000", "short zone");
	BAD("25-Nov-2026 10:00:00 0000", "zone without sign");
	BAD("25-Nov-2026 10:00:00 +0060", "zone minutes 60");
	BAD("25-Nov-2026 10:00:00 +2400", "zone hours 24");
	BAD("5-Nov-2026 10:00:00 +0000", "unpadded day");
	BAD("005-Nov-2026 10:00:00 +000", "three-digit day");
	BAD("  -Nov-2026 10:00:00 +0000", "blank day");
	BAD("00-Nov-2026 10:00:00 +0000", "day 0");
	BAD("31-Nov-2026 10:00:00 +0000", "31 November");
	BAD("29-Feb-2026 10:00:00 +0000", "29 February, common year");
	BAD("29-Feb-1900 10:00:00 +0000", "29 February 1900");
	BAD("25-Nox-2026 10:00:00 +0000", "bad month");
	BAD("25-11-2026 10:00:00 +0000", "numeric month");
	BAD("25-Nov-26 10:00:00 +0000", "two-digit year");
	BAD("25-Nov-2026 24:00:00 +0000", "hour 24");
	BAD("25-Nov-2026 10:60:00 +0000", "minute 60");
	BAD("25-Nov-2026 10:00:61 +0000", "second 61");
	BAD("25-Nov-2026 1:00:00 +0000 ", "one-digit hour");
	BAD("25-Nov-2026T10:00:00 +0000", "'T' separator");
	BAD("25 Nov 2026 10:00:00 +0000", "spaces for dashes");
	BAD("25-Nov-2026 10:00:00 +0000 ", "trailing space");
	BAD("25-Nov-2026 10:00:00 +00\n0", "newline");
	BAD("25-Nov-2026 1a:00:00 +0000", "letter in the hour");
	BAD("\"25-Nov-2026 10:00:00 +0000", "one quote");
	BAD("25-Nov-2026 10:00:-1 +0000", "negative second");
	parse_bad("25-Nov-2026 10:00:00\0+0000", 26, "NUL inside");
#undef BAD
}

static void fmt_is(long long t, const char *want, const char *what)
{
	struct mp_error err;
	char out[IMAPDATE_TIME_LEN + 1];
	time_t back = 0;

	ok(imapdate_format((time_t)t, out, &err) == MP_OK, "%s: formats", what);
	is_str(out, want, "%s", what);
	ok(strlen(out) == IMAPDATE_TIME_LEN &&
	   imapdate_parse(out, strlen(out), &back, &err) == MP_OK &&
	   (long long)back == t, "%s: parses back", what);
}

static void test_format(void)
{
	struct mp_error err;
	char out[IMAPDATE_TIME_LEN + 1];
	char date[IMAPDATE_DATE_LEN + 1];

	fmt_is(1795600800LL, "25-Nov-2026 10:00:00 +0000", "plain");
	fmt_is(1793939400LL, "06-Nov-2026 04:30:00 +0000", "two-digit day");
	fmt_is(0, "01-Jan-1970 00:00:00 +0000", "epoch");
	fmt_is(-1, "31-Dec-1969 23:59:59 +0000", "before the epoch");
	fmt_is(951782400LL, "29-Feb-2000 00:00:00 +0000", "leap day");
	fmt_is(253402300799LL, "31-Dec-9999 23:59:59 +0000", "year 9999");
	fmt_is(-62167219200LL, "01-Jan-0000 00:00:00 +0000", "year 0");
	ok(imapdate_format((time_t)253402300800LL, out, &err) == MP_ERR_DATA &&
	   out[0] == '\0', "year 10000 refused");
	ok(imapdate_format((time_t)-62167219201LL, out, &err) == MP_ERR_DATA,
	   "year -1 refused");
	ok(imapdate_format_date((time_t)253402300800LL, date, &err) ==
	   MP_ERR_DATA, "date: year 10000 refused");

	/* Every day of four years (one a leap year) parses back. */
	{
		bool all = true;

		for (long long t = 1704067200LL; t < 1704067200LL + 4 * 366 * 86400LL;
		     t += 86400 + 3601) {
			time_t back;

			if (imapdate_format((time_t)t, out, &err) != MP_OK ||
			    imapdate_parse(out, strlen(out), &back, &err) != MP_OK ||
			    back != (time_t)t) {
				all = false;
				printf("#   %lld -> %s\n", t, out);
				break;
			}
		}
		ok(all, "four years of days round-trip");
	}
}

static void date_is(const char *s, long long want, const char *what)
{
	struct mp_error err;
	time_t t = 12345;

	ok(imapdate_parse_date(s, strlen(s), &t, &err) == MP_OK,
	   "date %s: parses", what);
	is_int(t, want, "date %s", what);
}

static void date_bad(const char *s, const char *what)
{
	struct mp_error err = { 0 };
	time_t t;

	ok(imapdate_parse_date(s, strlen(s), &t, &err) == MP_ERR_USAGE &&
	   err.msg[0], "date refused: %s", what);
}

static void test_date(void)
{
	struct mp_error err;
	char out[IMAPDATE_DATE_LEN + 1];
	time_t t;

	date_is("25-Nov-2026", 1795564800LL, "two-digit day");
	date_is("5-Nov-2026", 1793836800LL, "one-digit day");
	date_is("05-nov-2026", 1793836800LL, "zero-padded, lower case");
	date_is("2026-11-25", 1795564800LL, "ISO form");
	date_is("29-Feb-2024", 1709164800LL, "leap day");
	date_is("01-Jan-1970", 0, "epoch");
	date_bad("", "empty");
	date_bad("25-Nov-26", "two-digit year");
	date_bad(" 5-Nov-2026", "space-padded day");
	date_bad("32-Jan-2026", "day 32");
	date_bad("0-Jan-2026", "day 0");
	date_bad("29-Feb-2026", "29 February, common year");
	date_bad("25-Foo-2026", "bad month");
	date_bad("25-Nov-2026 10:00:00 +0000", "a date-time");
	date_bad("2026-13-01", "ISO month 13");
	date_bad("2026-02-30", "ISO 30 February");
	date_bad("2026/11/25", "slashes");
	date_bad("yesterday", "words");

	ok(imapdate_format_date((time_t)1795600800LL, out, &err) == MP_OK,
	   "date formats");
	is_str(out, "25-Nov-2026", "date of a time of day");
	ok(imapdate_format_date((time_t)1793836800LL, out, &err) == MP_OK,
	   "date formats (one-digit day)");
	is_str(out, "5-Nov-2026", "one-digit day, no padding");
	ok(imapdate_parse_date(out, strlen(out), &t, &err) == MP_OK &&
	   t == 1793836800LL, "formatted date parses back");
	ok(imapdate_format_date((time_t)-1, out, &err) == MP_OK,
	   "date before the epoch formats");
	is_str(out, "31-Dec-1969", "date before the epoch");
}

int main(void)
{
	test_parse();
	test_format();
	test_date();
	return tap_done();
}
