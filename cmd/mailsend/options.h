/* mailsend's own options (each long name is also its config key where it
 * makes sense as one), and the sendmail-style flags they translate from. */
#ifndef MAILSEND_OPTIONS_H
#define MAILSEND_OPTIONS_H

#include "cli.h"

extern const struct opt_def mailsend_opts[];

/* Rewrite sendmail-style arguments (-t, -f ADDR, -fADDR, -r, -F NAME, -i,
 * -oi, -oem and other -oX, -B8BITMIME, -bs, -bp, -bm, -q, -N, -R, -V ENVID,
 * clusters such as -ti) into mailsend's long options, options first and
 * operands (recipients) after a "--". argv[0] is kept. The new vector and
 * its strings live until sendmail_args_free. Unknown sendmail flags are a
 * usage error (MP_ERR_USAGE) naming the flag. */
enum mp_status sendmail_args(int argc, char **argv, int *new_argc,
			     char ***new_argv, struct mp_error *err);
void sendmail_args_free(int argc, char **argv);

#endif
