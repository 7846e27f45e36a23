#include "cli.h"

#include <sysexits.h>

int cli_exit_code(enum mp_status status)
{
	switch (status) {
	case MP_OK: return EX_OK;
	case MP_ERR_USAGE: return EX_USAGE;
	case MP_ERR_DATA: return EX_DATAERR;
	case MP_ERR_NOUSER: return EX_NOUSER;
	case MP_ERR_NOHOST: return EX_NOHOST;
	case MP_ERR_UNAVAILABLE: return EX_UNAVAILABLE;
	case MP_ERR_INTERNAL: return EX_SOFTWARE;
	case MP_ERR_IO: return EX_IOERR;
	case MP_ERR_TEMP: return EX_TEMPFAIL;
	case MP_ERR_PROTOCOL: return EX_PROTOCOL;
	case MP_ERR_AUTH: return EX_NOPERM;
	case MP_ERR_CONFIG: return EX_CONFIG;
	/* A certificate that does not verify will not fix itself by retrying,
	 * and queueing mail for a possibly hostile host is wrong. */
	case MP_ERR_TLS: return EX_UNAVAILABLE;
	}
	return EX_SOFTWARE;
}
