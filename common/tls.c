/* The TLS half of struct conn: GnuTLS sessions, certificate checks and
 * record I/O over the socket conn.c connected.
 *
 * The transport callbacks wait with poll() and the connection timeout, and
 * send with MSG_NOSIGNAL, so a dead peer is a clean error and never SIGPIPE.
 * Verification runs after the handshake so each failure gets its own
 * sentence. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "conn.h"
#include "error.h"
#include "strutil.h"
#include "tls.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0  /* conn.c sets SO_NOSIGPIPE instead */
#endif

/* close_notify is a courtesy: never wait long for it. */
#define BYE_TIMEOUT_MS 1000u
#define SHA256_LEN 32

struct tls {
	gnutls_session_t session;
	gnutls_certificate_credentials_t cred;
	int fd;
	unsigned timeout_ms;
	const char *host;
	const char *peer;
	int sys_errno;        /* errno of the last failed socket call */
	bool timed_out;       /* the last transport failure was our timeout */
	bool up;              /* handshake done */
	bool failed;          /* fatal error: no close_notify */
	bool verified;
};

/* --- transport --- */

static ssize_t transport_fail(struct tls *t, int e)
{
	t->sys_errno = e;
	gnutls_transport_set_errno(t->session, e);
	errno = e;
	return -1;
}

static ssize_t pull(gnutls_transport_ptr_t ptr, void *data, size_t len)
{
	struct tls *t = ptr;

	for (;;) {
		ssize_t r;
		int w = conn_wait_fd(t->fd, POLLIN, t->timeout_ms);

		if (w == 0) {
			t->timed_out = true;
			return transport_fail(t, ETIMEDOUT);
		}
		if (w < 0)
			return transport_fail(t, errno);
		r = recv(t->fd, data, len, MSG_DONTWAIT);
		if (r > 0)
			conn_quickack(t->fd);
		if (r >= 0)
			return r;
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			return transport_fail(t, errno);
	}
}

static ssize_t push(gnutls_transport_ptr_t ptr, const void *data, size_t len)
{
	struct tls *t = ptr;

	for (;;) {
		ssize_t r;
		int w = conn_wait_fd(t->fd, POLLOUT, t->timeout_ms);

		if (w == 0) {
			t->timed_out = true;
			return transport_fail(t, ETIMEDOUT);
		}
		if (w < 0)
			return transport_fail(t, errno);
		r = send(t->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r >= 0)
			return r;
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			return transport_fail(t, errno);
	}
}

/* GnuTLS asks this during the handshake to enforce its overall timeout. */
static int pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
	struct tls *t = ptr;
	int r;

	if (ms == GNUTLS_INDEFINITE_TIMEOUT)
		ms = t->timeout_ms;
	r = conn_wait_fd(t->fd, POLLIN, ms);
	if (r < 0)
		transport_fail(t, errno);
	return r;
}

/* --- helpers --- */

/* gnutls_strerror without its final period, to sit inside a sentence. */
static const char *why(int r, char buf[160])
{
	size_t n;

	mp_strlcpy(buf, gnutls_strerror(r), 160);
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '.')
		buf[n - 1] = '\0';
	return buf;
}

static void get_dn(gnutls_x509_crt_t crt, bool issuer, char *dst, size_t size)
{
	gnutls_datum_t d = { NULL, 0 };
	int r = issuer ? gnutls_x509_crt_get_issuer_dn3(crt, &d, 0)
		       : gnutls_x509_crt_get_dn3(crt, &d, 0);

	if (r < 0 || !d.data) {
		mp_strlcpy(dst, "?", size);
		return;
	}
	mp_printable((const char *)d.data, d.size, dst, size);
	gnutls_free(d.data);
}

static void fmt_date(char *dst, size_t size, time_t t)
{
	struct tm tm;

	if (t == (time_t)-1 || !gmtime_r(&t, &tm) ||
	    strftime(dst, size, "%Y-%m-%d", &tm) == 0)
		mp_strlcpy(dst, "an unknown date", size);
}

static void fmt_hex(char *dst, const unsigned char *md, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		*dst++ = hex[md[i] >> 4];
		*dst++ = hex[md[i] & 15];
		if (i + 1 < n)
			*dst++ = ':';
	}
	*dst = '\0';
}

/* Parse a SHA-256 pin: 64 hex digits, colons anywhere, any case. */
static bool parse_pin(const char *s, unsigned char out[SHA256_LEN])
{
	size_t nd = 0;
	int hi = -1;

	for (; *s; s++) {
		int v;

		if (*s == ':')
			continue;
		v = mp_hexdigit(*s);
		if (v < 0 || nd >= 2 * SHA256_LEN)
			return false;
		if (hi < 0) {
			hi = v;
		} else {
			out[nd / 2] = (unsigned char)(hi << 4 | v);
			hi = -1;
		}
		nd++;
	}
	return nd == 2 * SHA256_LEN;
}

static bool is_ip_literal(const char *host)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, host, buf) == 1 ||
	       inet_pton(AF_INET6, host, buf) == 1;
}

/* The server's chain as sent, leaf first. Returns the count (0: none). */
static unsigned peer_chain(gnutls_session_t s, const gnutls_datum_t **list)
{
	unsigned n = 0;

	*list = gnutls_certificate_get_peers(s, &n);
	if (!*list || gnutls_certificate_type_get(s) != GNUTLS_CRT_X509)
		return 0;
	return n;
}

static gnutls_x509_crt_t import_crt(const gnutls_datum_t *der)
{
	gnutls_x509_crt_t crt;

	if (gnutls_x509_crt_init(&crt) < 0)
		return NULL;
	if (gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) < 0) {
		gnutls_x509_crt_deinit(crt);
		return NULL;
	}
	return crt;
}

/* --- verification --- */

static enum mp_status check_pin(struct tls *t, const unsigned char pin[SHA256_LEN],
				struct mp_error *err)
{
	const gnutls_datum_t *chain;
	unsigned char md[SHA256_LEN];
	size_t mdlen = sizeof md;
	char got[3 * SHA256_LEN], want[3 * SHA256_LEN];

	if (peer_chain(t->session, &chain) == 0)
		return mp_fail(err, MP_ERR_TLS, "%s sent no certificate", t->host);
	if (gnutls_fingerprint(GNUTLS_DIG_SHA256, &chain[0], md, &mdlen) < 0 ||
	    mdlen != sizeof md)
		return mp_fail(err, MP_ERR_TLS,
			       "cannot compute the certificate fingerprint of %s",
			       t->host);
	if (memcmp(md, pin, sizeof md) != 0) {
		fmt_hex(got, md, sizeof md);
		fmt_hex(want, pin, SHA256_LEN);
		return mp_fail(err, MP_ERR_TLS,
			       "certificate fingerprint SHA256 %s does not match "
			       "the pinned %s", got, want);
	}
	t->verified = true;
	return MP_OK;
}

/* "it is for 'CN=x'; names: a, b" for the host-name mismatch message. */
static void describe_owner(gnutls_x509_crt_t leaf, char *dst, size_t size)
{
	char dn[200];
	size_t used;

	get_dn(leaf, false, dn, sizeof dn);
	snprintf(dst, size, "it is for '%s'", dn);
	used = strlen(dst);
	for (unsigned seq = 0, shown = 0; shown < 6 && used + 1 < size; seq++) {
		char name[256], clean[128];
		size_t nlen = sizeof name;
		unsigned critical;
		int type = gnutls_x509_crt_get_subject_alt_name(leaf, seq, name,
								&nlen, &critical);

		if (type == GNUTLS_E_SHORT_MEMORY_BUFFER)
			continue;
		if (type < 0)
			break;
		if (type != GNUTLS_SAN_DNSNAME && type != GNUTLS_SAN_IPADDRESS)
			continue;
		if (type == GNUTLS_SAN_IPADDRESS) {
			if (!inet_ntop(nlen == 4 ? AF_INET : AF_INET6, name,
				       clean, sizeof clean))
				continue;
		} else {
			mp_printable(name, nlen, clean, sizeof clean);
		}
		snprintf(dst + used, size - used, "%s%s",
			 shown ? ", " : "; names: ", clean);
		used = strlen(dst);
		shown++;
	}
}

/* Find the first certificate in the chain whose validity period excludes
 * now: expired (want_expired) or not yet active. Returns its index or -1. */
static int find_bad_time(gnutls_x509_crt_t *crts, unsigned n, bool want_expired,
			 time_t *when)
{
	time_t now = time(NULL);

	for (unsigned i = 0; i < n; i++) {
		time_t t = want_expired ? gnutls_x509_crt_get_expiration_time(crts[i])
					: gnutls_x509_crt_get_activation_time(crts[i]);

		if (t == (time_t)-1)
			continue;
		if (want_expired ? t < now : t > now) {
			*when = t;
			return (int)i;
		}
	}
	return -1;
}

static enum mp_status explain_status(struct tls *t, unsigned status,
				     gnutls_x509_crt_t *crts, unsigned n,
				     struct mp_error *err)
{
	char dn[200], date[32], owner[400];
	time_t when = 0;
	int i;

	if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA)) {
		/* The top of the sent chain names the issuer nobody vouches
		 * for. */
		get_dn(crts[n - 1], true, dn, sizeof dn);
		return mp_fail(err, MP_ERR_TLS,
			       "certificate for %s is not trusted (issuer '%s' "
			       "is not a known CA)", t->host, dn);
	}
	if (status & GNUTLS_CERT_EXPIRED) {
		i = find_bad_time(crts, n, true, &when);
		fmt_date(date, sizeof date, when);
		if (i > 0) {
			get_dn(crts[i], false, dn, sizeof dn);
			return mp_fail(err, MP_ERR_TLS,
				       "certificate chain for %s is not valid: "
				       "'%s' expired on %s", t->host, dn, date);
		}
		if (i == 0)
			return mp_fail(err, MP_ERR_TLS,
				       "certificate for %s expired on %s",
				       t->host, date);
		return mp_fail(err, MP_ERR_TLS,
			       "certificate chain for %s has expired", t->host);
	}
	if (status & GNUTLS_CERT_NOT_ACTIVATED) {
		i = find_bad_time(crts, n, false, &when);
		fmt_date(date, sizeof date, when);
		if (i > 0) {
			get_dn(crts[i], false, dn, sizeof dn);
			return mp_fail(err, MP_ERR_TLS,
				       "certificate chain for %s is not valid: "
				       "'%s' is not valid before %s", t->host, dn,
				       date);
		}
		if (i == 0)
			return mp_fail(err, MP_ERR_TLS,
				       "certificate for %s is not valid before %s",
				       t->host, date);
		return mp_fail(err, MP_ERR_TLS,
			       "certificate chain for %s is not yet valid", t->host);
	}
	if (status & GNUTLS_CERT_UNEXPECTED_OWNER) {
		describe_owner(crts[0], owner, sizeof owner);
		return mp_fail(err, MP_ERR_TLS,
			       "certificate is not valid for host '%s' (%s)",
			       t->host, owner);
	}
	{
		gnutls_datum_t out = { NULL, 0 };
		char reason[300];

		if (gnutls_certificate_verification_status_print(status,
				GNUTLS_CRT_X509, &out, 0) == 0 && out.data) {
			mp_printable((const char *)out.data, out.size, reason,
				     sizeof reason);
			gnutls_free(out.data);
		} else {
			mp_strlcpy(reason, "verification failed", sizeof reason);
		}
		return mp_fail(err, MP_ERR_TLS,
			       "certificate for %s was rejected: %s", t->host,
			       reason);
	}
}

static enum mp_status check_ca(struct tls *t, struct mp_error *err)
{
	char eb[160];
	gnutls_typed_vdata_st data[2] = {
		{ .type = GNUTLS_DT_DNS_HOSTNAME,
		  .data = (unsigned char *)t->host },
		{ .type = GNUTLS_DT_KEY_PURPOSE_OID,
		  .data = (unsigned char *)GNUTLS_KP_TLS_WWW_SERVER },
	};
	gnutls_x509_crt_t crts[16];
	const gnutls_datum_t *chain;
	unsigned status = 0, n, i;
	enum mp_status st;
	int r;

	n = peer_chain(t->session, &chain);
	if (n == 0)
		return mp_fail(err, MP_ERR_TLS, "%s sent no certificate", t->host);
	r = gnutls_certificate_verify_peers(t->session, data, 2, &status);
	if (r < 0)
		return mp_fail(err, MP_ERR_TLS,
			       "cannot verify the certificate of %s: %s", t->host,
			       why(r, eb));
	if (status == 0) {
		t->verified = true;
		return MP_OK;
	}
	if (n > sizeof crts / sizeof crts[0])
		n = sizeof crts / sizeof crts[0];
	for (i = 0; i < n; i++) {
		crts[i] = import_crt(&chain[i]);
		if (!crts[i])
			break;
	}
	if (i < n) {
		n = i;
		if (n == 0)
			return mp_fail(err, MP_ERR_TLS,
				       "%s sent a certificate that cannot be parsed",
				       t->host);
	}
	st = explain_status(t, status, crts, n, err);
	for (i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	return st;
}

/* --- session setup --- */

static enum mp_status load_credentials(struct tls *t, const struct tls_opts *o,
				       bool verify_ca, struct mp_error *err)
{
	char eb[160];
	int r;

	r = gnutls_certificate_allocate_credentials(&t->cred);
	if (r < 0)
		return mp_fail(err, MP_ERR_INTERNAL,
			       "cannot set up TLS credentials: %s",
			       why(r, eb));
	if (verify_ca && o->ca_file) {
		if (access(o->ca_file, R_OK) != 0)
			return mp_fail(err, MP_ERR_CONFIG,
				       "cannot read CA file '%s': %s", o->ca_file,
				       strerror(errno));
		r = gnutls_certificate_set_x509_trust_file(t->cred, o->ca_file,
							   GNUTLS_X509_FMT_PEM);
		if (r < 0)
			return mp_fail(err, MP_ERR_CONFIG,
				       "cannot load CA file '%s': %s", o->ca_file,
				       why(r, eb));
		if (r == 0)
			return mp_fail(err, MP_ERR_CONFIG,
				       "CA file '%s' holds no PEM certificates",
				       o->ca_file);
	} else if (verify_ca) {
		r = gnutls_certificate_set_x509_system_trust(t->cred);
		if (r < 0)
			return mp_fail(err, MP_ERR_TLS,
				       "cannot load the system's trusted CAs: %s",
				       why(r, eb));
	}
	if (o->cert_file || o->key_file) {
		/* A key may sit in the same PEM file as its certificate. */
		const char *cert = o->cert_file;
		const char *key = o->key_file ? o->key_file : o->cert_file;

		if (!cert)
			return mp_fail(err, MP_ERR_CONFIG,
				       "a client key was given without its "
				       "certificate");
		if (access(cert, R_OK) != 0)
			return mp_fail(err, MP_ERR_CONFIG,
				       "cannot read client certificate '%s': %s",
				       cert, strerror(errno));
		if (access(key, R_OK) != 0)
			return mp_fail(err, MP_ERR_CONFIG,
				       "cannot read client key '%s': %s", key,
				       strerror(errno));
		r = gnutls_certificate_set_x509_key_file(t->cred, cert, key,
							 GNUTLS_X509_FMT_PEM);
		if (r < 0)
			return mp_fail(err, MP_ERR_CONFIG,
				       "cannot load client certificate '%s' with "
				       "key '%s': %s", cert, key,
				       why(r, eb));
	}
	return MP_OK;
}

static enum mp_status handshake_error(struct tls *t, int r,
				      struct mp_error *err)
{
	char eb[160], d[24];

	if (t->timed_out || r == GNUTLS_E_TIMEDOUT)
		return mp_fail(err, MP_ERR_TEMP,
			       "TLS handshake with %s timed out after %s",
			       t->peer, conn_duration(d, t->timeout_ms));
	if (r == GNUTLS_E_PULL_ERROR || r == GNUTLS_E_PUSH_ERROR)
		return mp_fail(err, MP_ERR_TEMP, "TLS handshake with %s failed: %s",
			       t->peer, strerror(t->sys_errno));
	if (r == GNUTLS_E_PREMATURE_TERMINATION)
		return mp_fail(err, MP_ERR_TEMP,
			       "connection closed by server during the TLS "
			       "handshake with %s", t->peer);
	if (r == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		const char *a = gnutls_alert_get_name(gnutls_alert_get(t->session));

		return mp_fail(err, MP_ERR_TLS,
			       "TLS handshake with %s failed: the server sent "
			       "the alert '%s'", t->peer, a ? a : "unknown");
	}
	if (r == GNUTLS_E_UNEXPECTED_PACKET_LENGTH ||
	    r == GNUTLS_E_UNEXPECTED_PACKET ||
	    r == GNUTLS_E_UNSUPPORTED_VERSION_PACKET)
		return mp_fail(err, MP_ERR_TLS,
			       "TLS handshake with %s failed: %s (does the server "
			       "speak TLS on this port?)", t->peer,
			       why(r, eb));
	return mp_fail(err, MP_ERR_TLS, "TLS handshake with %s failed: %s",
		       t->peer, why(r, eb));
}

enum mp_status tls_start(struct tls **out, int fd, const char *host,
			 const char *peer, unsigned timeout_ms,
			 const struct tls_opts *o, struct mp_error *err)
{
	char eb[160];
	unsigned char pin[SHA256_LEN];
	bool have_pin = false;
	const char *prio, *errpos = NULL;
	enum mp_status st;
	struct tls *t;
	int r;

	*out = NULL;
	switch (o->min_version) {
	case 0:
	case 12:
		prio = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";
		break;
	case 13:
		prio = "NORMAL:-VERS-ALL:+VERS-TLS1.3";
		break;
	default:
		return mp_fail(err, MP_ERR_USAGE,
			       "unsupported minimum TLS version %d (use 1.2 or 1.3)",
			       o->min_version);
	}
	if (o->fingerprint && !o->insecure) {
		if (!parse_pin(o->fingerprint, pin))
			return mp_fail(err, MP_ERR_USAGE,
				       "invalid certificate fingerprint '%s': "
				       "expected a SHA-256 digest as 64 hex digits",
				       o->fingerprint);
		have_pin = true;
	}

	t = mp_xcalloc(1, sizeof *t);
	t->fd = fd;
	t->timeout_ms = timeout_ms;
	t->host = host;
	t->peer = peer;
	st = load_credentials(t, o, !o->insecure && !have_pin, err);
	if (st != MP_OK)
		goto fail;
	r = gnutls_init(&t->session, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL);
	if (r < 0) {
		t->session = NULL;
		st = mp_fail(err, MP_ERR_INTERNAL, "cannot start TLS: %s",
			     why(r, eb));
		goto fail;
	}
	r = gnutls_priority_set_direct(t->session, prio, &errpos);
	if (r >= 0)
		r = gnutls_credentials_set(t->session, GNUTLS_CRD_CERTIFICATE,
					   t->cred);
	if (r >= 0 && !is_ip_literal(host))
		r = gnutls_server_name_set(t->session, GNUTLS_NAME_DNS, host,
					   strlen(host));
	if (r < 0) {
		st = mp_fail(err, MP_ERR_INTERNAL, "cannot set up TLS: %s",
			     why(r, eb));
		goto fail;
	}
	gnutls_transport_set_ptr(t->session, t);
	gnutls_transport_set_push_function(t->session, push);
	gnutls_transport_set_pull_function(t->session, pull);
	gnutls_transport_set_pull_timeout_function(t->session, pull_timeout);
	gnutls_handshake_set_timeout(t->session, timeout_ms);

	do {
		r = gnutls_handshake(t->session);
	} while (r < 0 && !gnutls_error_is_fatal(r));
	if (r < 0) {
		st = handshake_error(t, r, err);
		goto fail;
	}
	t->up = true;
	if (have_pin)
		st = check_pin(t, pin, err);
	else if (!o->insecure)
		st = check_ca(t, err);
	if (st != MP_OK) {
		/* Tell the server why we hang up; best effort. */
		gnutls_alert_send(t->session, GNUTLS_AL_FATAL,
				  GNUTLS_A_BAD_CERTIFICATE);
		goto fail;
	}
	*out = t;
	return MP_OK;
fail:
	t->failed = true;
	tls_free(t);
	return st;
}

/* --- records --- */

static enum mp_status io_error(struct tls *t, ssize_t r, const char *doing,
			       struct mp_error *err)
{
	char eb[160], d[24];

	t->failed = true;
	if (t->timed_out)
		return mp_fail(err, MP_ERR_TEMP, "timed out after %s %s %s",
			       conn_duration(d, t->timeout_ms), doing, t->peer);
	if (r == GNUTLS_E_PREMATURE_TERMINATION)
		return mp_fail(err, MP_ERR_TEMP, "connection closed by server");
	if (r == GNUTLS_E_PULL_ERROR || r == GNUTLS_E_PUSH_ERROR) {
		if (t->sys_errno == EPIPE || t->sys_errno == ECONNRESET)
			return mp_fail(err, MP_ERR_TEMP,
				       "connection closed by server (%s)",
				       strerror(t->sys_errno));
		return mp_fail(err, MP_ERR_TEMP, "%s %s failed: %s",
			       r == GNUTLS_E_PULL_ERROR ? "reading from"
							: "writing to",
			       t->peer, strerror(t->sys_errno));
	}
	return mp_fail(err, MP_ERR_TLS, "TLS error with %s: %s", t->peer,
		       why((int)r, eb));
}

enum mp_status tls_recv(struct tls *t, void *buf, size_t n, size_t *got,
			struct mp_error *err)
{
	for (;;) {
		ssize_t r = gnutls_record_recv(t->session, buf, n);

		if (r >= 0) {
			*got = (size_t)r;
			return MP_OK;
		}
		/* Warning alerts and a TLS 1.2 renegotiation request (which a
		 * client may ignore) are not failures. */
		if (!gnutls_error_is_fatal((int)r))
			continue;
		return io_error(t, r, "waiting for", err);
	}
}

enum mp_status tls_send(struct tls *t, const void *buf, size_t n,
			struct mp_error *err)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t r = gnutls_record_send(t->session, p, n);

		if (r > 0) {
			p += r;
			n -= (size_t)r;
			continue;
		}
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			continue;
		return io_error(t, r, "sending to", err);
	}
	return MP_OK;
}

void tls_describe(const struct tls *t, struct tls_info *info)
{
	const gnutls_datum_t *chain;
	const char *v, *cs = NULL;

	memset(info, 0, sizeof *info);
	info->verified = t->verified;
	v = gnutls_protocol_get_name(gnutls_protocol_get_version(t->session));
	mp_strlcpy(info->version, v ? v : "unknown", sizeof info->version);
#if GNUTLS_VERSION_NUMBER >= 0x030704
	cs = gnutls_ciphersuite_get(t->session);
#endif
	if (!cs)
		cs = gnutls_cipher_suite_get_name(gnutls_kx_get(t->session),
						  gnutls_cipher_get(t->session),
						  gnutls_mac_get(t->session));
	if (!cs)
		cs = gnutls_cipher_get_name(gnutls_cipher_get(t->session));
	mp_strlcpy(info->cipher, cs ? cs : "unknown", sizeof info->cipher);

	if (peer_chain(t->session, &chain) > 0) {
		gnutls_x509_crt_t leaf = import_crt(&chain[0]);
		unsigned char md[SHA256_LEN];
		size_t mdlen = sizeof md;

		if (leaf) {
			get_dn(leaf, false, info->subject, sizeof info->subject);
			get_dn(leaf, true, info->issuer, sizeof info->issuer);
			info->not_before = gnutls_x509_crt_get_activation_time(leaf);
			info->not_after = gnutls_x509_crt_get_expiration_time(leaf);
			gnutls_x509_crt_deinit(leaf);
		}
		if (gnutls_fingerprint(GNUTLS_DIG_SHA256, &chain[0], md,
				       &mdlen) == 0 && mdlen == sizeof md)
			fmt_hex(info->sha256, md, sizeof md);
	}
}

void tls_abandon(struct tls *t)
{
	if (t)
		t->failed = true;
}

void tls_free(struct tls *t)
{
	if (!t)
		return;
	if (t->session && t->up && !t->failed) {
		if (t->timeout_ms > BYE_TIMEOUT_MS)
			t->timeout_ms = BYE_TIMEOUT_MS;
		gnutls_bye(t->session, GNUTLS_SHUT_WR);
	}
	if (t->session)
		gnutls_deinit(t->session);
	if (t->cred)
		gnutls_certificate_free_credentials(t->cred);
	free(t);
}
