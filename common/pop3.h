/* POP3 client sessions (RFC 1939, 2449, 2595, 5034). */
#ifndef MAILPIPE_POP3_H
#define MAILPIPE_POP3_H

#include "session.h"

struct pop3_session;

/* Connect, read the greeting, CAPA, STLS when srv->tls says so (and CAPA
 * again). The caller frees *out with pop3_close. */
enum mp_status pop3_open(struct pop3_session **out,
			 const struct server_opts *srv, struct mp_error *err);

/* Log in: AUTH through SASL when offered, else USER/PASS; APOP only when
 * auth->mech is "APOP". CAPA is asked again afterwards. */
enum mp_status pop3_auth(struct pop3_session *s, const struct mp_auth *auth,
			 struct mp_error *err);

const struct session_info *pop3_info(const struct pop3_session *s);

struct conn *pop3_conn(struct pop3_session *s);

enum mp_status pop3_quit(struct pop3_session *s, struct mp_error *err);

void pop3_close(struct pop3_session *s);

#endif
