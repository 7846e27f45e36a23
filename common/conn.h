/* struct conn: one blocking, buffered connection to a server.
 *
 * It owns the socket, the timeouts, the GnuTLS session (implicit TLS or a
 * STARTTLS upgrade), capped read and write buffers and the protocol trace.
 * Protocol code reads lines and bytes and writes lines and bytes; it never
 * sees GnuTLS. Only conn.c and tls.c include gnutls/gnutls.h. */
#ifndef MAILPIPE_CONN_H
#define MAILPIPE_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>
#include "error.h"

struct tls_opts {
	const char *ca_file;      /* NULL: the system trust store */
	const char *fingerprint;  /* SHA-256 pin, hex with or without colons; the
				     pin replaces CA and host checks */
	const char *cert_file;    /* client certificate (PEM), or NULL */
	const char *key_file;     /* its key (PEM), or NULL */
	int min_version;          /* 0 (library default, at least 1.2), 12 or 13 */
	bool insecure;            /* skip verification entirely (warned by cmd/) */
};

struct conn_opts {
	unsigned timeout_ms;      /* connect, read and write timeout; 0 = 60 s */
	size_t max_line;          /* longest line accepted; 0 = 64 KiB */
	FILE *trace;              /* "C: "/"S: " protocol trace, or NULL */
	struct tls_opts tls;
};

struct conn;

/* Connect to host:port, trying every address getaddrinfo returns (IPv6 and
 * IPv4) in order; TCP_NODELAY is set. host is kept for TLS (SNI and the
 * host-name check). Errors: MP_ERR_NOHOST (no such host), MP_ERR_TEMP
 * (refused, unreachable, timeout). On success the caller owns *out and
 * frees it with conn_close. opts must outlive the connection. */
enum mp_status conn_connect_tcp(struct conn **out, const char *host,
				unsigned port, const struct conn_opts *opts,
				struct mp_error *err);

/* Connect to a unix-domain socket (LMTP). */
enum mp_status conn_connect_unix(struct conn **out, const char *path,
				 const struct conn_opts *opts,
				 struct mp_error *err);

/* Run the TLS handshake now: at once for implicit TLS, or after the server's
 * STARTTLS go-ahead. Refuses with MP_ERR_PROTOCOL if the server has already
 * sent bytes past the go-ahead (response injection). Verifies the peer as
 * opts->tls says; failures are MP_ERR_TLS with the reason: untrusted issuer,
 * not valid for host X, expired, not yet valid, pin mismatch. */
enum mp_status conn_start_tls(struct conn *c, struct mp_error *err);

/* True once TLS is up (or the peer is a unix socket): safe for secrets. */
bool conn_is_secure(const struct conn *c);

/* Read one line. *line points into the connection's buffer, NUL-terminated
 * with CRLF (or a bare LF) removed, valid until the next read call on c.
 * Embedded NUL bytes are allowed and counted in *len. Errors: MP_ERR_PROTOCOL
 * when the line exceeds max_line, MP_ERR_TEMP on timeout or when the server
 * closes the connection. Traced as "S: line". */
enum mp_status conn_read_line(struct conn *c, const char **line, size_t *len,
			      struct mp_error *err);

/* Read a line in pieces, for text whose lines have no cap of their own
 * (message bodies; the caller bounds the total). *data points into the
 * connection's buffer, valid until the next read call on c; it is not
 * NUL-terminated and keeps the line's end as sent. Returns either the
 * buffered bytes up to and including the next LF, *line_end true; or, once
 * more than max_line + 1 bytes are buffered without an LF, all of them,
 * *line_end false: the line goes on in the next piece. So a piece that does
 * not end a line holds at least max_line + 2 bytes (a short line always comes
 * whole), and a CR that ends such a piece may belong to a CRLF split across
 * two pieces. Finish a line before calling conn_read_line again. Errors as
 * for conn_read_line, without the length cap. Traced as conn_read_line is,
 * one "S: " line per piece, the line end left out. */
enum mp_status conn_read_piece(struct conn *c, const char **data, size_t *len,
			       bool *line_end, struct mp_error *err);

/* Read exactly n bytes (an IMAP literal, say). Not traced byte by byte. */
enum mp_status conn_read_exact(struct conn *c, void *buf, size_t n,
			       struct mp_error *err);

/* Bytes already received and not yet consumed. */
size_t conn_pending(const struct conn *c);

/* Queue bytes for sending; they go out in large writes when the buffer
 * fills or at conn_flush. Not traced. */
enum mp_status conn_write(struct conn *c, const void *buf, size_t n,
			  struct mp_error *err);

/* Queue line plus CRLF. Traced as "C: " followed by the first `visible`
 * bytes of line and then "<redacted>" if anything was hidden; pass
 * CONN_SHOW_ALL to show everything. Refuses (MP_ERR_USAGE) a line holding
 * CR, LF or NUL. */
#define CONN_SHOW_ALL ((size_t)-1)
enum mp_status conn_send_line(struct conn *c, const char *line, size_t visible,
			      struct mp_error *err);

/* printf-style conn_send_line with everything visible in the trace. */
enum mp_status conn_sendf(struct conn *c, struct mp_error *err,
			  const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Send everything queued. */
enum mp_status conn_flush(struct conn *c, struct mp_error *err);

/* Stop (true) or resume (false) tracing the lines conn_read_line and
 * conn_read_piece return, for message bodies; notes and sent lines are
 * still traced. */
void conn_trace_pause(struct conn *c, bool paused);

/* Write a note into the trace ("TLS started ..."), if tracing. */
void conn_trace_note(struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

struct tls_info {
	char subject[256];
	char issuer[256];
	time_t not_before, not_after;
	char sha256[100];        /* AA:BB:... upper-case hex */
	char version[32];        /* "TLS1.3" */
	char cipher[128];        /* "TLS_AES_256_GCM_SHA384" or a GnuTLS suite name */
	bool verified;           /* false only under --insecure */
};

/* Describe the TLS session; MP_ERR_USAGE if TLS is not up. */
enum mp_status conn_tls_info(const struct conn *c, struct tls_info *info);

/* Close the connection and free c (NULL is fine). Does not flush. */
void conn_close(struct conn *c);

#endif
