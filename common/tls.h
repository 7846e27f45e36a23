/* Internal to conn.c and tls.c: the TLS half of struct conn.
 *
 * tls.c owns everything GnuTLS: credentials, priorities, the handshake,
 * certificate checks and record I/O. conn.c keeps the socket and buffers and
 * calls in here once TLS is up. Nothing outside common/conn.c and
 * common/tls.c includes this header. */
#ifndef MAILPIPE_TLS_H
#define MAILPIPE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include "conn.h"
#include "error.h"

struct tls;

/* After data arrived: acknowledge it at once. A server that holds its
 * reply back until our ACK (Nagle) would otherwise wait out the kernel's
 * delayed-ACK timer, 40 ms, each time the client has nothing to send. */
void conn_quickack(int fd);

/* Wait until fd is ready for events (POLLIN or POLLOUT) for at most
 * timeout_ms, retrying on EINTR. Returns 1 ready, 0 timed out, -1 error
 * (errno set). Defined in conn.c; tls.c's transport uses it too. */
int conn_wait_fd(int fd, short events, unsigned timeout_ms);

/* Format a timeout for messages ("60 s", "200 ms") into buf; returns buf.
 * Defined in conn.c. */
const char *conn_duration(char buf[24], unsigned ms);

/* Run the client handshake on the connected socket fd and check the peer as
 * opts says. host is the name the user connected to (SNI and the host-name
 * check), peer the "host:port" used in messages; both must outlive *out.
 * timeout_ms bounds the handshake and every later read or write. On success
 * the caller owns *out and frees it with tls_free. */
enum mp_status tls_start(struct tls **out, int fd, const char *host,
			 const char *peer, unsigned timeout_ms,
			 const struct tls_opts *opts, struct mp_error *err);

/* Read up to n bytes into buf. *got is 0 only when the server closed the
 * TLS session cleanly. Errors: MP_ERR_TEMP (timeout, network, truncation),
 * MP_ERR_TLS (a TLS protocol failure). */
enum mp_status tls_recv(struct tls *t, void *buf, size_t n, size_t *got,
			struct mp_error *err);

/* Send all n bytes. Errors as for tls_recv. */
enum mp_status tls_send(struct tls *t, const void *buf, size_t n,
			struct mp_error *err);

/* Fill info from the established session. */
void tls_describe(const struct tls *t, struct tls_info *info);

/* Mark the session unusable (after a failure above it): tls_free will then
 * not try to send close_notify. */
void tls_abandon(struct tls *t);

/* Send close_notify if the session is still healthy (bounded by a short
 * timeout), then free t. The socket stays open. NULL is fine. */
void tls_free(struct tls *t);

#endif
