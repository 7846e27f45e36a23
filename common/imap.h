/* IMAP4rev1 client sessions (RFC 3501, 9051 where compatible). */
#ifndef MAILPIPE_IMAP_H
#define MAILPIPE_IMAP_H

#include "session.h"

struct imap_session;

/* Connect, read the greeting (refusing PREAUTH when TLS must be started),
 * STARTTLS when srv->tls says so, then CAPABILITY (asked again after TLS).
 * The caller frees *out with imap_close. srv must outlive the session. */
enum mp_status imap_open(struct imap_session **out,
			 const struct server_opts *srv, struct mp_error *err);

/* Log in: AUTHENTICATE through SASL (with SASL-IR when offered), or the
 * LOGIN command when the server offers no usable mechanism. Capabilities
 * are asked for again afterwards. */
enum mp_status imap_auth(struct imap_session *s, const struct mp_auth *auth,
			 struct mp_error *err);

const struct session_info *imap_info(const struct imap_session *s);

struct conn *imap_conn(struct imap_session *s);

enum mp_status imap_logout(struct imap_session *s, struct mp_error *err);

void imap_close(struct imap_session *s);

#endif
