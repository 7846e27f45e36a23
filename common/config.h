/* The shared config file ($XDG_CONFIG_HOME/mailpipe/config). Pure parser.
 *
 *   # comment
 *   [defaults]                 (keys before any section are defaults too)
 *   timeout = 30
 *   default-account = work
 *
 *   [account work]
 *   server = imaps://me@example.com
 *   password-command = pass show mail/work
 *
 * Every key is a long option of the tools ("tls-ca-file" = --tls-ca-file).
 * Values run to the end of the line with surrounding blanks removed; a value
 * in double quotes keeps its blanks and understands \" and \\ . Boolean keys
 * take yes/no/true/false/on/off/1/0. */
#ifndef MAILPIPE_CONFIG_H
#define MAILPIPE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include "error.h"

struct cfg_entry {
	char *key;
	char *value;
	unsigned line;
};

struct cfg_section {
	char *name;              /* account name; NULL for the defaults */
	unsigned line;           /* line of the [header], 0 for implicit defaults */
	struct cfg_entry *entries;
	size_t nentries;
};

struct mp_config {
	char *path;              /* for messages: "path:line: ..." */
	struct cfg_section *sections;
	size_t nsections;
};

/* Parse text[0..len). path is used in error messages only. On failure
 * returns MP_ERR_CONFIG with "path:line: reason" (unknown key, bad section
 * header, duplicate account or key, NUL or bad quoting, key that belongs in
 * no section it is used in). The caller frees *out with config_free, also
 * after a failure. */
enum mp_status config_parse(const char *text, size_t len, const char *path,
			    struct mp_config *out, struct mp_error *err);

void config_free(struct mp_config *cfg);

/* The account section named name, or NULL. */
const struct cfg_section *config_account(const struct mp_config *cfg,
					 const char *name);

/* The value of key for account (NULL: defaults only): the account's own
 * entry, else the defaults' entry, else NULL. The returned entry lives as
 * long as cfg. */
const struct cfg_entry *config_lookup(const struct mp_config *cfg,
				      const char *account, const char *key);

/* True if key is a known config key (a long option of some tool). */
bool config_key_known(const char *key);

/* True if key takes a boolean value. */
bool config_key_is_bool(const char *key);

/* Parse a boolean value; false on anything unrecognised. */
bool config_parse_bool(const char *value, bool *out);

#endif
