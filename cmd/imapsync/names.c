/* Server folder names to local directories. */
#include "sync.h"

#include <stdlib.h>
#include <string.h>

#include "foldermap.h"
#include "mutf7.h"
#include "strutil.h"

enum mp_status folder_local_name(const struct imap_folder *f, bool utf8,
				 enum layout layout, char **utf8_name,
				 char **out, struct mp_error *err)
{
	char *name = NULL;
	struct mp_error ignored;
	/* A name that is not valid modified UTF-7 is kept as its bytes: the
	 * mapping escapes what is not UTF-8, so it is still backed up. */
	if (utf8 || mutf7_decode(f->name, strlen(f->name), &name, &ignored) != MP_OK)
		name = mp_xstrdup(f->name);
	enum mp_status st = foldermap_to_local(name, strlen(name), f->delim,
					       layout == LAYOUT_NESTED ? FOLDERMAP_NESTED
								       : FOLDERMAP_MAILDIRPP,
					       out, err);
	if (st != MP_OK) {
		free(name);
		return st;
	}
	free(*utf8_name);
	*utf8_name = name;
	return MP_OK;
}
