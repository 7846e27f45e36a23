/* The server and login the settings describe. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include "strutil.h"

enum mp_status cli_secret(void *ctx, bool token, const char **secret,
			  struct mp_error *err);

static const char *proto_schemes(enum mp_proto p)
{
	switch (p) {
	case MP_PROTO_SMTP: return "smtp://, smtps://";
	case MP_PROTO_LMTP: return "lmtp://";
	case MP_PROTO_IMAP: return "imap://, imaps://";
	case MP_PROTO_POP3: return "pop3://, pop3s://";
	}
	return "?";
}

/* Settings from the config file are config errors; from argv, usage. */
static enum mp_status setting_status(const struct cli *cli, const char *name)
{
	return strcmp(cli_origin(cli, name), "command line") ? MP_ERR_CONFIG
							     : MP_ERR_USAGE;
}

/* A setting's value, or an error naming where it came from. */
static enum mp_status number(const struct cli *cli, const char *name,
			     unsigned long min, unsigned long max,
			     unsigned long *out, struct mp_error *err)
{
	const char *v = cli_get(cli, name);
	if (!v)
		return MP_OK;
	char *end;
	unsigned long n = strtoul(v, &end, 10);
	if (!*v || *end || v[0] == '-' || n < min || n > max)
		return mp_fail(err, setting_status(cli, name),
			       "%s: %s must be a number from %lu to %lu, not '%s'",
			       cli_origin(cli, name), name, min, max, v);
	*out = n;
	return MP_OK;
}

static enum mp_status bad_value(const struct cli *cli, const char *name,
				const char *why, struct mp_error *err)
{
	return mp_fail(err, setting_status(cli, name), "%s: %s %s",
		       cli_origin(cli, name), name, why);
}

enum mp_status cli_server(struct cli *cli, const enum mp_proto *protos,
			  size_t nprotos, struct mp_error *err)
{
	struct server_opts *srv = &cli->server;
	const char *url = cli_get(cli, "server");
	if (!url)
		return mp_fail(err, MP_ERR_USAGE,
			       "no server given: use --server URL or -a ACCOUNT (see --help)");
	enum mp_status st = url_parse(url, &srv->url, err);
	if (st != MP_OK) {
		if (strcmp(cli_origin(cli, "server"), "command line")) {
			mp_error_prefix(err, cli_origin(cli, "server"));
			err->status = MP_ERR_CONFIG;
		}
		return err->status;
	}
	bool known = false;
	for (size_t i = 0; i < nprotos; i++)
		known |= srv->url.proto == protos[i];
	if (!known)
		return mp_fail(err, setting_status(cli, "server"),
			       "the server URL must be %s%s%s, not %s://",
			       proto_schemes(protos[0]),
			       nprotos > 1 ? ", " : "",
			       nprotos > 1 ? proto_schemes(protos[1]) : "",
			       srv->url.scheme);

	bool tls;
	if ((st = cli_bool(cli, "tls", true, &tls, err)) != MP_OK)
		return st;
	if (srv->url.implicit_tls && !tls)
		return bad_value(cli, "tls", "= no contradicts the implicit-TLS URL", err);
	srv->tls = srv->url.implicit_tls ? TLS_MODE_IMPLICIT
		 : !tls || srv->url.path[0] ? TLS_MODE_NONE : TLS_MODE_STARTTLS;

	unsigned long timeout = 60;
	if ((st = number(cli, "timeout", 1, 86400, &timeout, err)) != MP_OK)
		return st;
	srv->conn.timeout_ms = (unsigned)timeout * 1000;
	srv->conn.trace = cli->verbose ? stderr : NULL;

	struct tls_opts *t = &srv->conn.tls;
	t->ca_file = cli_get(cli, "tls-ca-file");
	t->fingerprint = cli_get(cli, "tls-fingerprint");
	t->cert_file = cli_get(cli, "tls-cert");
	t->key_file = cli_get(cli, "tls-key");
	if (!t->cert_file != !t->key_file)
		return mp_fail(err, setting_status(cli, t->cert_file ? "tls-cert" : "tls-key"),
			       "tls-cert and tls-key go together");
	const char *min = cli_get(cli, "tls-min");
	if (min && strcmp(min, "1.2") && strcmp(min, "1.3"))
		return bad_value(cli, "tls-min", "must be 1.2 or 1.3", err);
	t->min_version = !min ? 0 : !strcmp(min, "1.3") ? 13 : 12;
	if ((st = cli_bool(cli, "insecure", false, &t->insecure, err)) != MP_OK)
		return st;
	if (t->insecure && srv->tls != TLS_MODE_NONE && !cli->quiet)
		fprintf(stderr, "%s: warning: --insecure: the server's certificate "
			"is not verified; anyone on the path can read this session\n",
			cli->prog);

	struct mp_auth *a = &cli->auth;
	const char *user = cli_get(cli, "user");
	a->user = user ? user : srv->url.user[0] ? srv->url.user : NULL;
	if (a->user && mp_has_line_break(a->user, strlen(a->user)))
		return mp_fail(err, MP_ERR_USAGE, "line breaks are not allowed in a user name");
	a->mech = cli_get(cli, "auth");
	a->have_token = cli_get(cli, "token-command") != NULL;
	if ((st = cli_bool(cli, "allow-plaintext-auth", false, &a->allow_plaintext,
			   err)) != MP_OK)
		return st;
	a->get_secret = cli_secret;
	a->ctx = cli;
	return MP_OK;
}
