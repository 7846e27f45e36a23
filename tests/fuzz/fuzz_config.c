/* libFuzzer target: config_parse, then every lookup on what it built. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mp_config cfg;
	struct mp_error err;

	if (config_parse((const char *)data, size, "fuzz", &cfg, &err) == MP_OK) {
		for (size_t i = 0; i < cfg.nsections; i++) {
			const struct cfg_section *s = &cfg.sections[i];

			if (s->name && config_account(&cfg, s->name) != s)
				abort();
			for (size_t j = 0; j < s->nentries; j++) {
				const struct cfg_entry *e;
				bool b;

				if (!config_key_known(s->entries[j].key))
					abort();
				if (config_key_is_bool(s->entries[j].key) &&
				    !config_parse_bool(s->entries[j].value, &b))
					abort();
				e = config_lookup(&cfg, s->name, s->entries[j].key);
				if (e != &s->entries[j])
					abort();
			}
		}
	} else if (err.status != MP_ERR_CONFIG || strncmp(err.msg, "fuzz:", 5)) {
		abort();
	}
	config_free(&cfg);
	return 0;
}
