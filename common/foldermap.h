/* Server folder names <-> local directory names under a backup directory.
 * Pure: computes names, touches no files.
 *
 * The server's name (already UTF-8, or raw bytes if it did not decode) is
 * split at its hierarchy delimiter into components. INBOX, in any case, is
 * the backup directory itself (""). Every other folder is a relative path
 * in one of two layouts:
 *
 *   FOLDERMAP_MAILDIRPP  Maildir++, as Dovecot and mutt read it: one
 *                        directory ".A.B" beside INBOX's cur/new/tmp for
 *                        the folder A<delim>B.
 *   FOLDERMAP_NESTED     one directory per level: "A/B".
 *
 * Inside a component these bytes are written as '%' and two upper-case hex
 * digits, so the result never leaves the backup directory and maps back to
 * exactly the server's name:
 *   - '%' itself, '/', backslash, controls (0x00-0x1f, 0x7f), C1 controls
 *     (U+0080-U+009F), and bytes that are not part of well-formed UTF-8;
 *   - '.': everywhere in Maildir++ (it separates levels there), and at the
 *     start of a component in the nested layout (so no ".", ".." or hidden
 *     names);
 *   - nested only: the first letter of a component named "cur", "new" or
 *     "tmp", which would clash with a Maildir's own directories.
 * An empty component (as in "a//b" or "a/") is written "%00"; NUL itself
 * is never part of a name. Newlines and other controls are thus encoded and
 * the folder is still backed up.
 *
 * Names a store may use beside the folders without ever clashing with one:
 * in a Maildir++ root anything not starting with '.' other than
 * cur, new and tmp; in the nested layout anything starting with '.'. */
#ifndef MAILPIPE_FOLDERMAP_H
#define MAILPIPE_FOLDERMAP_H

#include <stdbool.h>
#include <stddef.h>
#include "error.h"

/* Longest local path component (NAME_MAX), and longest whole local path,
 * in bytes. In Maildir++ the whole ".A.B" is one component. */
#define FOLDERMAP_COMPONENT_MAX 255
#define FOLDERMAP_PATH_MAX 1024

enum foldermap_layout {
	FOLDERMAP_MAILDIRPP,
	FOLDERMAP_NESTED,
};

/* True if name[0..len) is INBOX, compared without case. */
bool foldermap_is_inbox(const char *name, size_t len);

/* Map the server's folder name[0..len), whose hierarchy delimiter is delim
 * (0 for none), to a new NUL-terminated relative path *out (caller frees):
 * "" for INBOX, otherwise a path with no empty, "." or ".." component, no
 * leading '/', no control bytes, within the limits above. Fails, *out
 * NULL, with MP_ERR_PROTOCOL for a NUL byte in the name and MP_ERR_DATA
 * for a name whose local form would exceed the limits. */
enum mp_status foldermap_to_local(const char *name, size_t len, char delim,
				  enum foldermap_layout layout, char **out,
				  struct mp_error *err);

/* The reverse, for restoring: the local path[0..len) as foldermap_to_local
 * writes it (in Maildir++ a directory name such as ".A.B"; nested a
 * relative path such as "A/B") back to the server's name, joined with
 * delim, into a new NUL-terminated string *out (caller frees); *outlen,
 * if not NULL, gets its length. "" gives "INBOX". A '%' not followed by
 * two hex digits is taken as itself, so hand-made folders restore too.
 * Fails with MP_ERR_DATA, *out NULL, for a path that is not a folder in
 * that layout (empty, "." or ".." components, no leading '.' in
 * Maildir++), that decodes to a NUL byte or to a component holding delim,
 * or that has levels when delim is 0. */
enum mp_status foldermap_to_server(const char *path, size_t len, char delim,
				   enum foldermap_layout layout, char **out,
				   size_t *outlen, struct mp_error *err);

#endif
