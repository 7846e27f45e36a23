/* SMTP and LMTP client sessions (RFC 5321, 3207, 4954, 2033). */
#ifndef MAILPIPE_SMTP_H
#define MAILPIPE_SMTP_H

#include "session.h"

struct smtp_session;

/* Connect, read the greeting, EHLO (LHLO for LMTP; HELO fallback when EHLO
 * is refused and no TLS is needed), STARTTLS when srv->tls says so (and
 * EHLO again). helo is the name we give (NULL: this host's name).
 * The caller frees *out with smtp_close. srv must outlive the session. */
enum mp_status smtp_open(struct smtp_session **out,
			 const struct server_opts *srv, const char *helo,
			 struct mp_error *err);

/* Log in through SASL (AUTH). */
enum mp_status smtp_auth(struct smtp_session *s, const struct mp_auth *auth,
			 struct mp_error *err);

/* Greeting, capabilities, mechanism used; lives as long as s. */
const struct session_info *smtp_info(const struct smtp_session *s);

struct conn *smtp_conn(struct smtp_session *s);

/* Send QUIT and read the answer (errors are of little interest). */
enum mp_status smtp_quit(struct smtp_session *s, struct mp_error *err);

void smtp_close(struct smtp_session *s);

#endif
