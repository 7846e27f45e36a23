/* IMAP date-time and date parsing and formatting, in UTC. */
#include "imapdate.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <strings.h>

static const char months[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

static bool leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30,
				      31, 31, 30, 31, 30, 31 };

	return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar.
 * Years are counted from March so the leap day falls at a year's end;
 * 400-year cycles of 146097 days keep it exact. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* n digits at s as a number, or -1. */
static int digits(const char *s, size_t n)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int month_of(const char *s)
{
	for (int i = 0; i < 12; i++)
		if (strncasecmp(s, months[i], 3) == 0)
			return i + 1;
	return 0;
}

/* Seconds since the epoch for a checked date and time, if time_t holds
 * them. */
static bool to_time(int64_t y, int m, int d, int64_t secs, time_t *out)
{
	int64_t t = days_from_civil(y, m, d) * 86400 + secs;

	if ((time_t)t != t)
		return false;
	*out = (time_t)t;
	return true;
}

enum mp_status imapdate_parse(const char *s, size_t len, time_t *out,
			      struct mp_error *err)
{
	int day, mon, year, hh, mm, ss, zh, zm;
	int64_t secs;

	if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
		s++;
		len -= 2;
	}
	if (len != IMAPDATE_TIME_LEN || s[2] != '-' || s[6] != '-' ||
	    s[11] != ' ' || s[14] != ':' || s[17] != ':' || s[20] != ' ' ||
	    (s[21] != '+' && s[21] != '-'))
		goto bad;
	day = s[0] == ' ' ? digits(s + 1, 1) : digits(s, 2);
	mon = month_of(s + 3);
	year = digits(s + 7, 4);
	hh = digits(s + 12, 2);
	mm = digits(s + 15, 2);
	ss = digits(s + 18, 2);
	zh = digits(s + 22, 2);
	zm = digits(s + 24, 2);
	if (day < 1 || mon == 0 || year < 0 || hh < 0 || hh > 23 ||
	    mm < 0 || mm > 59 || ss < 0 || ss > 60 || zh < 0 || zh > 23 ||
	    zm < 0 || zm > 59 || day > month_days(year, mon))
		goto bad;
	secs = (int64_t)hh * 3600 + mm * 60 + ss;
	/* The zone is east of UTC: subtract it to get UTC. */
	secs -= (s[21] == '+' ? 1 : -1) * ((int64_t)zh * 3600 + zm * 60);
	if (!to_time(year, mon, day, secs, out))
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "the server sent a date-time out of range");
	return MP_OK;
bad:
	/* Not echoed: it comes from the server and may hold anything. */
	return mp_fail(err, MP_ERR_PROTOCOL,
		       "the server sent a malformed IMAP date-time");
}

/* Split t into its UTC day and seconds of the day; false outside the
 * years 0-9999. */
static bool split(time_t t, int64_t *y, int *m, int *d, int64_t *sod)
{
	int64_t days = (int64_t)t / 86400, rem = (int64_t)t % 86400;

	if (rem < 0) {
		rem += 86400;
		days--;
	}
	civil_from_days(days, y, m, d);
	*sod = rem;
	return *y >= 0 && *y <= 9999;
}

/* split, or the error for a time it cannot write (out emptied). */
static enum mp_status split_writable(time_t t, int64_t *y, int *m, int *d,
				     int64_t *sod, char *out, struct mp_error *err)
{
	if (split(t, y, m, d, sod))
		return MP_OK;
	out[0] = '\0';
	return mp_fail(err, MP_ERR_DATA, "time %lld is outside the years 0-9999",
		       (long long)t);
}

enum mp_status imapdate_format(time_t t, char out[IMAPDATE_TIME_LEN + 1],
			       struct mp_error *err)
{
	int64_t y, sod;
	int m, d;
	enum mp_status st = split_writable(t, &y, &m, &d, &sod, out, err);

	if (st != MP_OK)
		return st;
	/* The fields are in range (split checked them), so this fits. */
	int n = snprintf(out, IMAPDATE_TIME_LEN + 1, "%02d-%s-%04d %02d:%02d:%02d +0000",
			 d, months[m - 1], (int)y, (int)(sod / 3600),
			 (int)(sod / 60 % 60), (int)(sod % 60));
	if (n != IMAPDATE_TIME_LEN)
		return mp_fail(err, MP_ERR_INTERNAL, "date formatting went wrong");
	return MP_OK;
}

enum mp_status imapdate_parse_date(const char *s, size_t len, time_t *out,
				   struct mp_error *err)
{
	int day, mon, year;

	if (len == 10 && s[4] == '-' && s[7] == '-') {
		year = digits(s, 4);
		mon = digits(s + 5, 2);
		day = digits(s + 8, 2);
		if (mon < 1 || mon > 12)
			goto bad;
	} else {
		size_t dl = len == IMAPDATE_DATE_LEN ? 2 : 1;

		if ((len != IMAPDATE_DATE_LEN && len != IMAPDATE_DATE_LEN - 1) ||
		    s[dl] != '-' || s[dl + 4] != '-')
			goto bad;
		day = digits(s, dl);
		mon = month_of(s + dl + 1);
		year = digits(s + dl + 5, 4);
		if (mon == 0)
			goto bad;
	}
	if (year < 0 || day < 1 || day > month_days(year, mon))
		goto bad;
	if (!to_time(year, mon, day, 0, out))
		return mp_fail(err, MP_ERR_USAGE,
			       "date \"%.*s\" is out of range", (int)len, s);
	return MP_OK;
bad:
	return mp_fail(err, MP_ERR_USAGE,
		       "\"%.*s\" is not a date like 25-Nov-2026 or 2026-11-25",
		       (int)(len > 40 ? 40 : len), s);
}

enum mp_status imapdate_format_date(time_t t, char out[IMAPDATE_DATE_LEN + 1],
				    struct mp_error *err)
{
	int64_t y, sod;
	int m, d;
	enum mp_status st = split_writable(t, &y, &m, &d, &sod, out, err);

	if (st != MP_OK)
		return st;
	snprintf(out, IMAPDATE_DATE_LEN + 1, "%d-%s-%04d", d, months[m - 1],
		 (int)y);
	return MP_OK;
}
