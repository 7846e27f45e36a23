/* sendmail-style flags become mailsend's long options. */
#include <string.h>

#include "options.h"
#include "tap.h"

/* The translated vector as one space-separated string. */
static const char *translate(int argc, char **argv, int *status)
{
	static char out[1024];
	int n;
	char **v;
	static struct mp_error err;
	out[0] = '\0';
	*status = sendmail_args(argc, argv, &n, &v, &err);
	if (*status != MP_OK)
		return err.msg;
	for (int i = 1; i < n; i++) {
		if (i > 1)
			strcat(out, " ");
		strcat(out, v[i]);
	}
	sendmail_args_free(n, v);
	return out;
}

#define T(want, ...) do { \
	char *args[] = { "sendmail", __VA_ARGS__ }; \
	int st; \
	is_str(translate((int)(sizeof args / sizeof args[0]), args, &st), want, \
	       "%s", want); \
	is_int(st, MP_OK, "  succeeds"); \
} while (0)

#define BAD(...) do { \
	char *args[] = { "sendmail", __VA_ARGS__ }; \
	int st; \
	translate((int)(sizeof args / sizeof args[0]), args, &st); \
	is_int(st, MP_ERR_USAGE, "refused: %s", args[1]); \
} while (0)

int main(void)
{
	/* cron */
	T("--full-name CronDaemon --ignore-dots -- user", "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "user");
	/* PHP mail() */
	T("--read-recipients --ignore-dots --", "-t", "-i");
	T("--read-recipients --ignore-dots --", "-ti");
	T("--ignore-dots --envelope-from a@b --", "-oi", "-f", "a@b");
	T("--envelope-from a@b -- x@y", "-fa@b", "x@y");
	T("--envelope-from a@b -- x@y", "-r", "a@b", "x@y");
	T("--smtp-stdio --", "-bs");
	T("--list-queue --", "-bp");
	T("--", "-bm");
	T("--flush --", "-q");
	T("--flush --", "-q30m");
	T("--dsn-notify SUCCESS,FAILURE --dsn-return HDRS --envid abc --", "-N", "SUCCESS,FAILURE", "-RHDRS", "-V", "abc");
	T("--verbose --", "-v");
	T("--account work --", "-a", "work");
	/* operands first, options after: options still count */
	T("--ignore-dots -- a@b c@d", "a@b", "-i", "c@d");
	/* after "--" nothing is an option */
	T("-- -t x@y", "--", "-t", "x@y");
	/* long options pass through with their values */
	T("--server smtp://h --to a@b --print --", "--server", "smtp://h", "--to", "a@b", "--print");
	T("--subject=hi --", "--subject=hi");
	/* -odi, -oem, -o X are accepted and mean nothing here */
	T("--", "-odi", "-oem");

	BAD("-bd");
	BAD("-x");
	BAD("-f");
	BAD("-bi");
	return tap_done();
}
