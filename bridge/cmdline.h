/*-------------------------------------------------------------------------
 *
 * cmdline.h
 *		The bridge's command line as a POSIX shell command for hints, with
 *		the secrets it may carry masked as *** (cmdline.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_CMDLINE_H
#define W2Q_CMDLINE_H

#include <getopt.h>
#include <stdbool.h>

#define CMDLINE_MASK "***"

/* the option codes (struct option .val, or a short option letter) whose values may hold secrets */
typedef struct CmdlineSecrets
{
	int			conninfo;		/* -d: password=, sslpassword=, postgresql://u:pw@ */
	int			sink_url;		/* --sink: redis://[user]:pw@ */
	int			property;		/* -X: sasl.password=, *secret*, sasl.oauthbearer.config= ... */
} CmdlineSecrets;

/*
 * argv[1..argc) read the way getopt_long(optstring, longopts) reads it, each
 * word quoted for a POSIX shell, after prog; secrets masked.  *masked tells
 * whether anything was.  malloc'd, NULL when out of memory.
 */
extern char *cmdline_redacted(int argc, char **argv, const char *prog,
							  const char *optstring, const struct option *longopts,
							  const CmdlineSecrets *secrets, bool *masked);

/* one value of an option of that kind, masked; malloc'd (NULL: no memory) */
extern char *cmdline_mask_conninfo(const char *value, bool *masked);
extern char *cmdline_mask_sink_url(const char *value, bool *masked);
extern char *cmdline_mask_property(const char *value, bool *masked);

#endif							/* W2Q_CMDLINE_H */
