/* Command-line options and the config file, merged into one set of
 * settings: the command line wins over the account, which wins over the
 * defaults section. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strutil.h"

/* Largest config file read. */
#define MAX_CONFIG_SIZE (1024 * 1024)

const struct opt_def cli_shared_opts[] = {
	{ "server", 0, OPT_VALUE, "URL", "server to talk to, e.g. imaps://user@host" },
	{ "user", 0, OPT_VALUE, "NAME", "login name (overrides the URL's)" },
	{ "auth", 0, OPT_VALUE, "MECH", "authentication mechanism (default: auto)" },
	{ "tls", 0, OPT_VALUE, "yes|no", "--tls=no talks without TLS on plain URLs" },
	{ "allow-plaintext-auth", 0, OPT_BOOL, NULL, "send credentials even without TLS" },
	{ "tls-ca-file", 0, OPT_VALUE, "FILE", "trust this CA instead of the system's" },
	{ "tls-fingerprint", 0, OPT_VALUE, "SHA256", "pin the server certificate" },
	{ "tls-cert", 0, OPT_VALUE, "FILE", "client certificate (PEM)" },
	{ "tls-key", 0, OPT_VALUE, "FILE", "client certificate key (PEM)" },
	{ "tls-min", 0, OPT_VALUE, "1.2|1.3", "lowest TLS version accepted" },
	{ "insecure", 0, OPT_BOOL, NULL, "do not verify the certificate (unsafe)" },
	{ "timeout", 0, OPT_VALUE, "SECONDS", "network timeout (default 60)" },
	{ "password-command", 0, OPT_VALUE, "CMD", "command that prints the password" },
	{ "token-command", 0, OPT_VALUE, "CMD", "command that prints an OAuth2 token" },
	{ "netrc-file", 0, OPT_VALUE, "FILE", "netrc file to read (default ~/.netrc)" },
	OPT_END
};

/* Options that steer the program rather than set a config key. */
enum { OPT_ACCOUNT = 1, OPT_CONFIG, OPT_PROBE, OPT_HELP, OPT_VERSION,
       OPT_VERBOSE, OPT_QUIET,
       OPT_FIRST_DEF = 256 /* above every short option character */ };

static const struct option control_opts[] = {
	{ "account", required_argument, NULL, OPT_ACCOUNT },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "probe", no_argument, NULL, OPT_PROBE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "quiet", no_argument, NULL, OPT_QUIET },
};
#define NCONTROL (sizeof control_opts / sizeof control_opts[0])

static size_t count_defs(const struct opt_def *defs)
{
	size_t n = 0;
	while (defs && defs[n].name)
		n++;
	return n;
}

/* The i-th option of the tool's list followed by the shared list. */
static const struct opt_def *def_at(const struct cli *cli, size_t i)
{
	size_t ntool = count_defs(cli->tool_opts);
	return i < ntool ? &cli->tool_opts[i] : &cli_shared_opts[i - ntool];
}

/* The option number of the tool's option with short name c, or 0. */
static int tool_short(const struct cli *cli, int c)
{
	for (size_t i = 0; cli->tool_opts && cli->tool_opts[i].name; i++)
		if (cli->tool_opts[i].short_name == c)
			return OPT_FIRST_DEF + (int)i;
	return 0;
}

static void set_option(struct cli *cli, const char *name, const char *value,
		       bool repeatable)
{
	for (size_t i = 0; i < cli->nsettings && !repeatable; i++) {
		if (strcmp(cli->settings[i].name, name) == 0) {
			cli->settings[i].value = value;
			return;
		}
	}
	cli->settings = mp_xrealloc(cli->settings,
				    (cli->nsettings + 1) * sizeof *cli->settings);
	struct setting *s = &cli->settings[cli->nsettings++];
	s->name = name;
	s->value = value;
	mp_strlcpy(s->origin, "command line", sizeof s->origin);
}

enum mp_status cli_state_path(const char *sub, char *out, size_t size,
			      struct mp_error *err)
{
	const char *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	char dir[4096];
	if (xdg && *xdg)
		snprintf(dir, sizeof dir, "%s", xdg);
	else if (home && *home)
		snprintf(dir, sizeof dir, "%s/.local/state", home);
	else
		return mp_fail(err, MP_ERR_CONFIG,
			       "neither XDG_STATE_HOME nor HOME is set");
	/* Create each level; the last one private. */
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(dir, 0755);
		*p = '/';
	}
	mkdir(dir, 0755);
	size_t n = strlen(dir);
	if (n + sizeof "/mailpipe" >= sizeof dir)
		return mp_fail(err, MP_ERR_CONFIG, "state directory path too long");
	strcat(dir, "/mailpipe");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return mp_fail(err, MP_ERR_IO, "cannot create %s: %s", dir,
			       strerror(errno));
	if ((size_t)snprintf(out, size, "%s/%s", dir, sub) >= size)
		return mp_fail(err, MP_ERR_CONFIG, "state path too long");
	return MP_OK;
}

static char *default_config_path(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	char path[4096];
	if (xdg && *xdg)
		snprintf(path, sizeof path, "%s/mailpipe/config", xdg);
	else if (home && *home)
		snprintf(path, sizeof path, "%s/.config/mailpipe/config", home);
	else
		return NULL;
	return mp_xstrdup(path);
}

static bool config_has_password(const struct mp_config *cfg)
{
	for (size_t i = 0; i < cfg->nsections; i++)
		for (size_t j = 0; j < cfg->sections[i].nentries; j++)
			if (!strcmp(cfg->sections[i].entries[j].key, "password"))
				return true;
	return false;
}

/* Read and parse the config file; a missing default file is no error. */
static enum mp_status load_config(struct cli *cli, const char *explicit_path,
				  struct mp_error *err)
{
	char *path = explicit_path ? mp_xstrdup(explicit_path) : default_config_path();
	if (!path)
		return MP_OK;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		enum mp_status st = MP_OK;
		if (explicit_path || errno != ENOENT)
			st = mp_fail(err, MP_ERR_CONFIG, "cannot read config %s: %s",
				     path, strerror(errno));
		free(path);
		return st;
	}
	struct stat sb;
	char *text = NULL;
	enum mp_status st = MP_OK;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		st = mp_fail(err, MP_ERR_CONFIG, "config %s is not a regular file", path);
	} else if (sb.st_size > MAX_CONFIG_SIZE) {
		st = mp_fail(err, MP_ERR_CONFIG, "config %s is larger than %d bytes",
			     path, MAX_CONFIG_SIZE);
	} else {
		size_t size = (size_t)sb.st_size, got = 0;
		text = mp_xmalloc(size + 1);
		while (got < size) {
			ssize_t n = read(fd, text + got, size - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		st = config_parse(text, got, path, &cli->config, err);
		if (st == MP_OK && config_has_password(&cli->config) &&
		    (sb.st_mode & 077))
			st = mp_fail(err, MP_ERR_CONFIG,
				     "%s holds a password and others may read it; "
				     "run chmod 600 %s", path, path);
	}
	close(fd);
	if (text) {
		mp_wipe(text, (size_t)sb.st_size);
		free(text);
	}
	if (st == MP_OK)
		cli->config_path = path;
	else
		free(path);
	return st;
}

enum mp_status cli_init(struct cli *cli, const char *prog,
			const struct opt_def *tool_opts, int argc, char **argv,
			struct mp_error *err)
{
	memset(cli, 0, sizeof *cli);
	cli->prog = prog;
	cli->tool_opts = tool_opts;

	size_t ndefs = count_defs(tool_opts) + count_defs(cli_shared_opts);
	struct option *longopts = mp_xcalloc(NCONTROL + ndefs + 1, sizeof *longopts);
	memcpy(longopts, control_opts, sizeof control_opts);
	for (size_t i = 0; i < ndefs; i++) {
		const struct opt_def *d = def_at(cli, i);
		longopts[NCONTROL + i] = (struct option){
			d->name, d->kind == OPT_BOOL ? optional_argument : required_argument,
			NULL, OPT_FIRST_DEF + (int)i };
	}

	/* A tool's own short option wins over a shared one with the same
	 * letter (mailsend's sendmail-style -q flushes the queue). */
	char shortopts[128] = "+:";
	static const char shared_short[] = "a:vqhV";
	for (const char *p = shared_short; *p; p++) {
		if (*p == ':')
			continue;
		bool taken = false;
		for (size_t i = 0; tool_opts && tool_opts[i].name; i++)
			taken |= tool_opts[i].short_name == *p;
		if (!taken) {
			size_t n = strlen(shortopts);
			shortopts[n++] = *p;
			if (p[1] == ':')
				shortopts[n++] = ':';
			shortopts[n] = '\0';
		}
	}
	for (size_t i = 0; i < ndefs; i++) {
		const struct opt_def *d = def_at(cli, i);
		if (d->short_name && strlen(shortopts) + 3 < sizeof shortopts) {
			size_t n = strlen(shortopts);
			shortopts[n++] = (char)d->short_name;
			if (d->kind != OPT_BOOL)
				shortopts[n++] = ':';
			shortopts[n] = '\0';
		}
	}

	const char *config_path = NULL;
	enum mp_status st = MP_OK;
	int c;
	opterr = 0;
	optind = 1;
	int longindex = -1;
	while (st == MP_OK &&
	       (c = getopt_long(argc, argv, shortopts, longopts, &longindex)) != -1) {
		if (optarg && mp_has_line_break(optarg, strlen(optarg))) {
			if (longindex >= 0)
				st = mp_fail(err, MP_ERR_USAGE,
					     "option --%s: line breaks are not allowed in a value",
					     longopts[longindex].name);
			else
				st = mp_fail(err, MP_ERR_USAGE,
					     "option -%c: line breaks are not allowed in a value", c);
			break;
		}
		longindex = -1;
		if (c < OPT_FIRST_DEF && c != ':' && c != '?' && tool_short(cli, c))
			c = tool_short(cli, c);
		switch (c) {
		case 'a': case OPT_ACCOUNT: cli->account = optarg; break;
		case OPT_CONFIG: config_path = optarg; break;
		case OPT_PROBE: cli->probe = true; break;
		case 'h': case OPT_HELP: cli->help = true; break;
		case 'V': case OPT_VERSION: cli->version = true; break;
		case 'v': case OPT_VERBOSE: cli->verbose++; break;
		case 'q': case OPT_QUIET: cli->quiet = true; break;
		case ':':
			st = mp_fail(err, MP_ERR_USAGE, "option %s needs a value",
				     argv[optind - 1]);
			break;
		case '?':
			if (optopt)
				st = mp_fail(err, MP_ERR_USAGE,
					     "unknown option '-%c' (see --help)", optopt);
			else
				st = mp_fail(err, MP_ERR_USAGE,
					     "unknown option '%s' (see --help)",
					     argv[optind - 1]);
			break;
		default:
			if (c >= OPT_FIRST_DEF && (size_t)(c - OPT_FIRST_DEF) < ndefs) {
				const struct opt_def *d = def_at(cli, (size_t)(c - OPT_FIRST_DEF));
				/* --flag alone is yes; --flag=no turns off a config yes. */
				set_option(cli, d->name,
					   d->kind == OPT_BOOL && !optarg ? "yes" : optarg,
					   d->kind == OPT_LIST);
			}
		}
	}
	free(longopts);
	if (st != MP_OK)
		return st;
	cli->args = argv + optind;
	cli->nargs = argc - optind;
	if (cli->help || cli->version)
		return MP_OK;

	st = load_config(cli, config_path, err);
	if (st != MP_OK)
		return st;
	if (!cli->account && cli->config_path) {
		const struct cfg_entry *e = config_lookup(&cli->config, NULL,
							  "default-account");
		if (e)
			cli->account = e->value;
	}
	if (cli->account && !config_account(&cli->config, cli->account)) {
		if (cli->config_path)
			return mp_fail(err, MP_ERR_CONFIG, "no account '%s' in %s",
				       cli->account, cli->config_path);
		return mp_fail(err, MP_ERR_CONFIG,
			       "no account '%s': there is no config file", cli->account);
	}
	bool flag;
	if ((st = cli_bool(cli, "verbose", false, &flag, err)) != MP_OK)
		return st;
	if (flag && !cli->verbose)
		cli->verbose = 1;
	if ((st = cli_bool(cli, "quiet", cli->quiet, &cli->quiet, err)) != MP_OK)
		return st;
	return MP_OK;
}

static const struct setting *command_line(const struct cli *cli, const char *name)
{
	for (size_t i = 0; i < cli->nsettings; i++)
		if (strcmp(cli->settings[i].name, name) == 0)
			return &cli->settings[i];
	return NULL;
}

const char *cli_get(const struct cli *cli, const char *name)
{
	const struct setting *s = command_line(cli, name);
	if (s)
		return s->value;
	if (!cli->config_path)
		return NULL;
	const struct cfg_entry *e = config_lookup(&cli->config, cli->account, name);
	return e ? e->value : NULL;
}

const char *const *cli_get_all(const struct cli *cli, const char *name,
			       size_t *n)
{
	/* Each answer is a new array, freed with cli, so one answer stays
	 * valid while another is asked for. */
	struct cli *c = (struct cli *)cli;
	const char **v = NULL;
	size_t count = 0;
	for (size_t i = 0; i < cli->nsettings; i++) {
		if (strcmp(cli->settings[i].name, name) != 0)
			continue;
		v = mp_xrealloc(v, (count + 2) * sizeof *v);
		v[count++] = cli->settings[i].value;
	}
	if (count == 0 && cli_get(cli, name)) {
		v = mp_xmalloc(2 * sizeof *v);
		v[count++] = cli_get(cli, name);
	}
	*n = count;
	if (!v)
		return NULL;
	v[count] = NULL;
	c->list_scratch = mp_xrealloc(c->list_scratch,
				      (c->nlist_scratch + 1) * sizeof *c->list_scratch);
	c->list_scratch[c->nlist_scratch++] = (const char *)v;
	return v;
}

const char *cli_origin(const struct cli *cli, const char *name)
{
	static __thread char where[4200];
	if (command_line(cli, name) || !cli->config_path)
		return "command line";
	const struct cfg_entry *e = config_lookup(&cli->config, cli->account, name);
	if (!e)
		return "default";
	snprintf(where, sizeof where, "%s:%u", cli->config_path, e->line);
	return where;
}

enum mp_status cli_bool(const struct cli *cli, const char *name, bool dflt,
			bool *out, struct mp_error *err)
{
	const char *v = cli_get(cli, name);
	*out = dflt;
	if (!v)
		return MP_OK;
	if (!config_parse_bool(v, out))
		return mp_fail(err, cli->nsettings && command_line(cli, name)
			       ? MP_ERR_USAGE : MP_ERR_CONFIG,
			       "%s: '%s' for %s is not yes or no",
			       cli_origin(cli, name), v, name);
	return MP_OK;
}

void cli_help(const struct cli *cli, const char *usage, const char *about,
	      FILE *out)
{
	fprintf(out, "Usage: %s %s\n%s\n\n", cli->prog, usage, about);
	for (int list = 0; list < 2; list++) {
		const struct opt_def *defs = list ? cli_shared_opts : cli->tool_opts;
		fprintf(out, "%s\n", list ? "Shared options:" : "Options:");
		if (list) {
			fprintf(out, "  -a, --account NAME         use [account NAME] of the config file\n"
				     "      --config FILE          config file (default ~/.config/mailpipe/config)\n"
				     "      --probe                show TLS, certificate and capabilities, try to log in\n"
				     "  -v, --verbose              protocol trace on stderr, secrets redacted\n"
				     "  %s--quiet                print only errors\n"
				     "  -h, --help                 this help\n"
				     "  %s--version              version\n",
				cli->sendmail_style ? "    " : "-q, ",
				cli->sendmail_style ? "    " : "-V, ");
		}
		for (size_t i = 0; defs && defs[i].name; i++) {
			char left[64];
			snprintf(left, sizeof left, "%s%c%s--%s%s%s",
				 defs[i].short_name ? "-" : " ",
				 defs[i].short_name ? defs[i].short_name : ' ',
				 defs[i].short_name ? ", " : "  ",
				 defs[i].name, defs[i].arg ? " " : "",
				 defs[i].arg ? defs[i].arg : "");
			fprintf(out, "  %-25s  %s\n", left, defs[i].help);
		}
		fprintf(out, "\n");
	}
	fprintf(out, "Password sources: MAILPIPE_PASSWORD, password-command, the config's\n"
		     "password key (file mode 600), ~/.netrc, a prompt on a terminal.\n"
		     "See %s(1) and mailpipe(5).\n", cli->prog);
}

void cli_version(const struct cli *cli)
{
	printf("%s (mailpipe) %s\n", cli->prog, MAILPIPE_VERSION);
}

void cli_error(const struct cli *cli, const struct mp_error *err)
{
	fprintf(stderr, "%s: %s\n", cli->prog, err->msg);
}

void cli_free(struct cli *cli)
{
	if (cli->password) {
		mp_wipe(cli->password, strlen(cli->password));
		free(cli->password);
	}
	if (cli->token) {
		mp_wipe(cli->token, strlen(cli->token));
		free(cli->token);
	}
	free(cli->settings);
	for (size_t i = 0; i < cli->nlist_scratch; i++)
		free((void *)cli->list_scratch[i]);
	free(cli->list_scratch);
	free(cli->config_path);
	config_free(&cli->config);
	memset(cli, 0, sizeof *cli);
}
