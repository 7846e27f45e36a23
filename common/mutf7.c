/* Modified UTF-7 <-> UTF-8: base64 runs by hand, UTF-16BE <-> UTF-8 by
 * iconv. */
#include "mutf7.h"

#include <errno.h>
#include <iconv.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "sbuf.h"
#include "strutil.h"
#include "utf8.h"

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64val(unsigned char c)
{
	return base64_digit(c, ',');
}

static bool printable(unsigned char c)
{
	return c >= 0x20 && c <= 0x7e;
}

/* Convert in[0..inlen) with the open descriptor cd into out (outcap bytes,
 * which the callers size for the worst case) and set *outlen. */
static enum mp_status run_iconv(iconv_t cd, const char *in, size_t inlen,
				char *out, size_t outcap, size_t *outlen,
				struct mp_error *err)
{
	char *ip = (char *)in, *op = out;
	size_t il = inlen, ol = outcap;

	iconv(cd, NULL, NULL, NULL, NULL);
	if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1 ||
	    iconv(cd, NULL, NULL, &op, &ol) == (size_t)-1)
		return mp_fail(err, MP_ERR_INTERNAL,
			       "iconv could not convert a folder name: %s",
			       strerror(errno));
	*outlen = outcap - ol;
	return MP_OK;
}

static enum mp_status open_iconv(iconv_t *cd, const char *to,
				 const char *from, struct mp_error *err)
{
	*cd = iconv_open(to, from);
	if (*cd == (iconv_t)-1)
		return mp_fail(err, MP_ERR_INTERNAL,
			       "iconv cannot convert %s to %s: %s", from, to,
			       strerror(errno));
	return MP_OK;
}

static enum mp_status bad(struct mp_error *err, const char *why)
{
	return mp_fail(err, MP_ERR_PROTOCOL,
		       "folder name is not valid modified UTF-7: %s", why);
}

/* Check the UTF-16BE code units u[0..n) of one run: pairs whole, nothing
 * that should have been written as itself, no NUL. */
static enum mp_status check_units(const unsigned char *u, size_t n,
				  struct mp_error *err)
{
	for (size_t k = 0; k < n; k++) {
		unsigned v = (unsigned)u[2 * k] << 8 | u[2 * k + 1];

		if (v == 0)
			return bad(err, "it encodes a NUL character");
		if (v < 0x80 && printable((unsigned char)v))
			return bad(err, "a base64 run encodes printable ASCII");
		if (v >= 0xdc00 && v <= 0xdfff)
			return bad(err, "a low surrogate stands alone");
		if (v >= 0xd800 && v <= 0xdbff) {
			unsigned w;

			if (k + 1 == n)
				return bad(err, "a high surrogate stands alone");
			w = (unsigned)u[2 * k + 2] << 8 | u[2 * k + 3];
			if (w < 0xdc00 || w > 0xdfff)
				return bad(err, "a high surrogate stands alone");
			k++;
		}
	}
	return MP_OK;
}

enum mp_status mutf7_decode(const char *in, size_t len, char **out,
			    struct mp_error *err)
{
	const unsigned char *s = (const unsigned char *)in;
	struct sbuf b = { 0 };
	unsigned char *units = NULL;
	char *utf8 = NULL;
	iconv_t cd = (iconv_t)-1;
	enum mp_status st = MP_OK;
	bool after_run = false;
	size_t i = 0;

	*out = NULL;
	if (len > MUTF7_MAX)
		return mp_fail(err, MP_ERR_PROTOCOL,
			       "folder name is longer than %d bytes", MUTF7_MAX);
	while (i < len && st == MP_OK) {
		uint32_t acc = 0;
		unsigned nbits = 0;
		size_t j, nb = 0, ulen;

		if (s[i] != '&') {
			if (!printable(s[i])) {
				st = bad(err, "it holds a byte outside printable ASCII");
				break;
			}
			sbuf_addc(&b, (char)s[i++]);
			after_run = false;
			continue;
		}
		if (i + 1 < len && s[i + 1] == '-') {
			sbuf_addc(&b, '&');
			i += 2;
			after_run = false;
			continue;
		}
		if (after_run) {
			st = bad(err, "two base64 runs follow each other");
			break;
		}
		/* Each base64 character adds 6 bits, so the bytes fit in len. */
		if (!units)
			units = mp_xmalloc(len);
		for (j = i + 1; j < len && s[j] != '-'; j++) {
			int v = b64val(s[j]);

			if (v < 0)
				break;
			acc = (acc << 6 | (uint32_t)v) & 0xffffff;
			nbits += 6;
			if (nbits >= 8) {
				nbits -= 8;
				units[nb++] = (unsigned char)(acc >> nbits);
			}
		}
		if (j == len) {
			st = bad(err, "a base64 run is not closed with '-'");
			break;
		}
		if (s[j] != '-') {
			st = bad(err, "a base64 run holds a character outside base64");
			break;
		}
		if (nb % 2 != 0 || nbits >= 6) {
			st = bad(err, "a base64 run does not end on a whole UTF-16 unit");
			break;
		}
		if ((acc & ((1u << nbits) - 1)) != 0) {
			st = bad(err, "a base64 run ends with non-zero bits");
			break;
		}
		if ((st = check_units(units, nb / 2, err)) != MP_OK)
			break;
		if (cd == (iconv_t)-1 &&
		    (st = open_iconv(&cd, "UTF-8", "UTF-16BE", err)) != MP_OK)
			break;
		/* A UTF-16 unit becomes at most 3 bytes of UTF-8. */
		if (!utf8)
			utf8 = mp_xmalloc(len / 2 * 3 + 4);
		if ((st = run_iconv(cd, (const char *)units, nb, utf8,
				    len / 2 * 3 + 4, &ulen, err)) != MP_OK)
			break;
		sbuf_add(&b, utf8, ulen);
		i = j + 1;
		after_run = true;
	}
	if (cd != (iconv_t)-1)
		iconv_close(cd);
	free(units);
	free(utf8);
	if (st != MP_OK) {
		sbuf_free(&b);
		return st;
	}
	*out = sbuf_take(&b);
	return MP_OK;
}

/* Append the base64 of p[0..n) without padding. */
static void put_b64(struct sbuf *b, const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i + 3 <= n; i += 3) {
		sbuf_addc(b, b64[p[i] >> 2]);
		sbuf_addc(b, b64[(p[i] & 3) << 4 | p[i + 1] >> 4]);
		sbuf_addc(b, b64[(p[i + 1] & 15) << 2 | p[i + 2] >> 6]);
		sbuf_addc(b, b64[p[i + 2] & 63]);
	}
	if (n - i == 1) {
		sbuf_addc(b, b64[p[i] >> 2]);
		sbuf_addc(b, b64[(p[i] & 3) << 4]);
	} else if (n - i == 2) {
		sbuf_addc(b, b64[p[i] >> 2]);
		sbuf_addc(b, b64[(p[i] & 3) << 4 | p[i + 1] >> 4]);
		sbuf_addc(b, b64[(p[i + 1] & 15) << 2]);
	}
}

enum mp_status mutf7_encode(const char *in, size_t len, char **out,
			    struct mp_error *err)
{
	const unsigned char *s = (const unsigned char *)in;
	struct sbuf b = { 0 };
	char *utf16 = NULL;
	iconv_t cd = (iconv_t)-1;
	enum mp_status st = MP_OK;
	size_t i = 0;

	*out = NULL;
	if (len > MUTF7_MAX)
		return mp_fail(err, MP_ERR_DATA,
			       "folder name is longer than %d bytes", MUTF7_MAX);
	if (memchr(in, '\0', len))
		return mp_fail(err, MP_ERR_DATA,
			       "folder name contains a NUL byte");
	if (!utf8_valid(in, len))
		return mp_fail(err, MP_ERR_DATA,
			       "folder name is not valid UTF-8");
	while (i < len) {
		size_t j, n;

		if (printable(s[i])) {
			if (s[i] == '&')
				sbuf_adds(&b, "&-");
			else
				sbuf_addc(&b, (char)s[i]);
			i++;
			continue;
		}
		/* One run for everything up to the next printable ASCII,
		 * since two runs back to back are not canonical. */
		for (j = i; j < len && !printable(s[j]);)
			j += s[j] < 0x80 ? 1 : utf8_seq_len(s + j, len - j);
		if (cd == (iconv_t)-1 &&
		    (st = open_iconv(&cd, "UTF-16BE", "UTF-8", err)) != MP_OK)
			break;
		/* A UTF-8 byte becomes at most 2 bytes of UTF-16. */
		if (!utf16)
			utf16 = mp_xmalloc(2 * len);
		if ((st = run_iconv(cd, in + i, j - i, utf16, 2 * len, &n,
				    err)) != MP_OK)
			break;
		sbuf_addc(&b, '&');
		put_b64(&b, (const unsigned char *)utf16, n);
		sbuf_addc(&b, '-');
		i = j;
	}
	if (cd != (iconv_t)-1)
		iconv_close(cd);
	free(utf16);
	if (st != MP_OK) {
		sbuf_free(&b);
		return st;
	}
	*out = sbuf_take(&b);
	return MP_OK;
}
