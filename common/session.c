#include "session.h"

enum mp_status session_connect(const struct server_opts *srv,
			       struct conn **out, struct mp_error *err)
{
	enum mp_status st;
	if (srv->url.path[0])
		st = conn_connect_unix(out, srv->url.path, &srv->conn, err);
	else
		st = conn_connect_tcp(out, srv->url.host, srv->url.port,
				      &srv->conn, err);
	if (st != MP_OK)
		return st;
	if (srv->tls == TLS_MODE_IMPLICIT) {
		st = conn_start_tls(*out, err);
		if (st != MP_OK) {
			conn_close(*out);
			*out = NULL;
		}
	}
	return st;
}

enum mp_status session_no_starttls(const struct server_opts *srv,
				   const char *command, struct mp_error *err)
{
	return mp_fail(err, MP_ERR_UNAVAILABLE,
		       "%s does not offer %s; refusing to continue without TLS "
		       "(use %ss:// for implicit TLS, or --tls=no to go without)",
		       srv->url.host, command, srv->url.scheme);
}
