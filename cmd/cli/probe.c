/* What --probe prints, the same in every tool. */
#include "cli.h"

#include <string.h>
#include <time.h>

static void print_time(FILE *out, time_t t)
{
	struct tm tm;
	char buf[64];
	if (gmtime_r(&t, &tm) && strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm))
		fputs(buf, out);
	else
		fputs("?", out);
}

void cli_probe_print_server(const struct cli *cli, struct conn *conn,
			    const struct session_info *info, FILE *out)
{
	const struct mp_url *u = &cli->server.url;
	if (u->path[0])
		fprintf(out, "Server: %s://%s\n", u->scheme, u->path);
	else if (strchr(u->host, ':'))
		fprintf(out, "Server: %s://[%s]:%u\n", u->scheme, u->host, u->port);
	else
		fprintf(out, "Server: %s://%s:%u\n", u->scheme, u->host, u->port);

	struct tls_info ti;
	if (conn_tls_info(conn, &ti) == MP_OK) {
		fprintf(out, "TLS: %s, %s%s\n", ti.version, ti.cipher,
			ti.verified ? "" : " (certificate NOT verified)");
		fprintf(out, "Certificate subject: %s\n", ti.subject);
		fprintf(out, "Certificate issuer: %s\n", ti.issuer);
		fprintf(out, "Certificate valid: ");
		print_time(out, ti.not_before);
		fprintf(out, " to ");
		print_time(out, ti.not_after);
		fprintf(out, "\nCertificate SHA-256: %s\n", ti.sha256);
	} else {
		fprintf(out, "TLS: none\n");
	}
	fprintf(out, "Greeting: %s\n", info->greeting);
	cli_probe_print_caps("Capabilities", info, out);
}

void cli_probe_print_caps(const char *title, const struct session_info *info,
			  FILE *out)
{
	fprintf(out, "%s:\n", title);
	for (size_t i = 0; i < info->ncaps; i++)
		fprintf(out, "  %s\n", info->caps[i]);
}

enum mp_status cli_probe(struct cli *cli, const struct probe_ops *ops,
			 struct mp_error *err)
{
	void *session;
	enum mp_status st = ops->open(&session, cli, err);
	if (st != MP_OK)
		return st;
	const struct session_info *info = ops->info(session);
	cli_probe_print_server(cli, ops->conn(session), info, stdout);
	if (cli->auth.user) {
		fflush(stdout);
		st = ops->auth(session, &cli->auth, err);
		if (st == MP_OK) {
			info = ops->info(session);
			printf("Authenticated as %s using %s\n", cli->auth.user,
			       info->auth_used);
			if (ops->caps_change_at_login)
				cli_probe_print_caps("Capabilities after login", info,
						     stdout);
		}
	} else {
		printf("Not logged in (no user given)\n");
	}
	if (st == MP_OK) {
		struct mp_error ignored;
		ops->quit(session, &ignored);
	}
	ops->close(session);
	fflush(stdout);
	return st;
}
