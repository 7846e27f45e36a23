/* Who a message goes to: recipients from arguments or from its header. */
#include "mailsend.h"

#include <string.h>
#include <strings.h>

#include "address.h"

static enum mp_status add_list(struct outgoing *msg, const char *text,
			       unsigned flags, struct mp_error *err)
{
	struct address_list list = { 0 };
	enum mp_status st = address_parse_list(text, strlen(text),
					       flags | ADDRESS_ALLOW_LOCAL, &list, err);
	for (size_t i = 0; st == MP_OK && i < list.n; i++)
		if (!strlist_has(&msg->rcpts, list.v[i].addr))
			strlist_add(&msg->rcpts, list.v[i].addr);
	address_list_free(&list);
	return st;
}

enum mp_status envelope_from_headers(struct outgoing *msg,
				     const struct strlist *fields,
				     struct mp_error *err)
{
	static const char *const names[] = { "To", "Cc", "Bcc" };
	for (size_t i = 0; i < fields->n; i++) {
		const char *f = fields->v[i];
		for (size_t k = 0; k < 3; k++) {
			size_t n = strlen(names[k]);
			if (strncasecmp(f, names[k], n) != 0 || f[n] != ':')
				continue;
			enum mp_status st = add_list(msg, f + n + 1, ADDRESS_ERR_DATA, err);
			if (st != MP_OK) {
				mp_error_prefix(err, names[k]);
				return st;
			}
		}
	}
	return MP_OK;
}

enum mp_status envelope_add_args(struct outgoing *msg, char **args, int n,
				 struct mp_error *err)
{
	for (int i = 0; i < n; i++) {
		enum mp_status st = add_list(msg, args[i], 0, err);
		if (st != MP_OK)
			return st;
	}
	return MP_OK;
}
