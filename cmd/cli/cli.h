/* The face the three tools share: options and config merged into one set
 * of settings, the server and login they describe, password sources,
 * --probe output and the mapping of errors to sysexits codes. */
#ifndef MAILPIPE_CLI_H
#define MAILPIPE_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"
#include "error.h"
#include "session.h"

enum opt_kind {
	OPT_VALUE,   /* --name VALUE */
	OPT_BOOL,    /* --name sets "yes" (config: yes/no) */
	OPT_LIST,    /* --name VALUE, repeatable: every value is kept */
};

/* One long option of a tool; its name is also its config key. */
struct opt_def {
	const char *name;
	int short_name;          /* 0 for none */
	enum opt_kind kind;
	const char *arg;         /* metavariable for --help, e.g. "URL" */
	const char *help;
};

/* Options every tool has, and the end marker of a tool's own list. */
extern const struct opt_def cli_shared_opts[];
#define OPT_END { NULL, 0, OPT_VALUE, NULL, NULL }

struct setting {
	const char *name;
	const char *value;       /* owned by argv or by the config */
	char origin[300];        /* "command line" or "FILE:LINE" */
};

struct cli {
	const char *prog;        /* "imapsync" */
	const struct opt_def *tool_opts;
	struct setting *settings;
	size_t nsettings;
	const char **list_scratch;   /* cli_get_all's answers, freed with cli */
	size_t nlist_scratch;
	char **args;             /* operands left after the options */
	int nargs;
	const char *account;     /* -a, or default-account, or NULL */
	struct mp_config config;
	char *config_path;       /* the file read, or NULL if none */
	int verbose;
	bool quiet, probe, help, version;
	bool sendmail_style;     /* see struct tool */

	/* filled by cli_server */
	bool server_ready;
	const enum mp_proto *protos;
	size_t nprotos;
	struct server_opts server;
	struct mp_auth auth;
	char *password;          /* fetched on demand; wiped at the end */
	char *token;
};

/* Parse argv with the shared options and tool_opts (OPT_END-terminated),
 * read the config file and pick the account. Usage errors are MP_ERR_USAGE,
 * config errors MP_ERR_CONFIG with file:line. */
enum mp_status cli_init(struct cli *cli, const char *prog,
			const struct opt_def *tool_opts, int argc, char **argv,
			struct mp_error *err);

/* The effective value of a setting: command line, else account, else
 * defaults, else NULL. */
const char *cli_get(const struct cli *cli, const char *name);
/* Every value of a repeatable (OPT_LIST) option, command line first; else
 * the single config value. *n gets the count; the array lives as long as
 * cli and is NULL when n is 0. */
const char *const *cli_get_all(const struct cli *cli, const char *name,
			       size_t *n);
/* Its origin for messages ("command line", "FILE:LINE"). */
const char *cli_origin(const struct cli *cli, const char *name);
/* A boolean setting; a bad value is reported through err. */
enum mp_status cli_bool(const struct cli *cli, const char *name, bool dflt,
			bool *out, struct mp_error *err);

/* Build cli->server and cli->auth from the settings. protos lists the URL
 * protocols this tool speaks. */
enum mp_status cli_server(struct cli *cli, const enum mp_proto *protos,
			  size_t nprotos, struct mp_error *err);

/* cli_server with the tool's protocols, once: for tools whose work may
 * not need a server (listing a queue), called when one is needed. */
enum mp_status cli_ensure_server(struct cli *cli, struct mp_error *err);

/* Print --help: usage line, the tool's options, then the shared ones. */
void cli_help(const struct cli *cli, const char *usage, const char *about,
	      FILE *out);

/* Print the version line. */
void cli_version(const struct cli *cli);

/* Print "prog: message" on stderr. */
void cli_error(const struct cli *cli, const struct mp_error *err);

/* The sysexits(3) code for a status. */
int cli_exit_code(enum mp_status status);

/* --probe output for an open session. */
void cli_probe_print_server(const struct cli *cli, struct conn *conn,
			    const struct session_info *info, FILE *out);
void cli_probe_print_caps(const char *title, const struct session_info *info,
			  FILE *out);

/* The path of sub (e.g. "queue") under $XDG_STATE_HOME/mailpipe (or
 * ~/.local/state/mailpipe), creating the mailpipe directory (mode 700). */
enum mp_status cli_state_path(const char *sub, char *out, size_t size,
			      struct mp_error *err);

/* Wipe and free secrets and everything else cli holds. */
void cli_free(struct cli *cli);

/* A protocol session as --probe drives it; each tool wraps its module. */
struct probe_ops {
	enum mp_status (*open)(void **session, const struct cli *cli,
			       struct mp_error *err);
	enum mp_status (*auth)(void *session, const struct mp_auth *auth,
			       struct mp_error *err);
	const struct session_info *(*info)(void *session);
	struct conn *(*conn)(void *session);
	enum mp_status (*quit)(void *session, struct mp_error *err);
	void (*close)(void *session);
	bool caps_change_at_login;   /* IMAP and POP3 show more after login */
};

/* Connect, print what the server offers, log in if a user is known, quit.
 * Changes nothing on the server. */
enum mp_status cli_probe(struct cli *cli, const struct probe_ops *ops,
			 struct mp_error *err);


/* A tool as cli_main runs it. */
struct tool {
	const char *prog;
	const char *usage;             /* after the program name in --help */
	const char *about;             /* one line */
	const struct opt_def *opts;    /* the tool's own options, OPT_END-terminated */
	const enum mp_proto *protos;   /* URL protocols the tool speaks */
	size_t nprotos;
	const struct probe_ops *probe;
	/* sendmail's flags own -q and -V (mailsend): --help then shows
	 * --quiet and --version without their short letters. */
	bool sendmail_style;
	/* The tool's own work once settings and server are known; NULL while
	 * the tool offers only --probe. */
	enum mp_status (*run)(struct cli *cli, struct mp_error *err);
};

/* Parse options, load the config, run --help, --version, --probe or the
 * tool's work, print any error and return the exit code for main(). */
int cli_main(const struct tool *tool, int argc, char **argv);

#endif
