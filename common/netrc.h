/* ~/.netrc lookup (the format ftp(1) and curl read). Pure. */
#ifndef MAILPIPE_NETRC_H
#define MAILPIPE_NETRC_H

#include <stdbool.h>
#include <stddef.h>

/* Find the password for host and user in text[0..len): the first "machine
 * HOST" entry whose login is user (or that has no login), else a "default"
 * entry. Returns false if none; a password longer than pwsize-1 is not
 * returned. */
bool netrc_find(const char *text, size_t len, const char *host,
		const char *user, char *password, size_t pwsize);

#endif
