/*-------------------------------------------------------------------------
 *
 * bytesize.h
 *		The size grammar of the plugin's max-job-bytes option and the
 *		bridge's --max-job-bytes: one source for both (plugin/options.c and
 *		bridge/main.c), so the plugin, the bridge and the registry read a
 *		size the same way.  Plain C: no allocation, no PostgreSQL headers.
 *
 * A size is one or more decimal digits (leading zeros are decimal: no
 * octal, no hexadecimal, no sign, no blanks, no fraction), optionally
 * followed at once by a unit: kB, MB or GB (1024, 1024^2, 1024^3; spelled
 * exactly so, as PostgreSQL's memory settings).
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_BYTESIZE_H
#define W2Q_BYTESIZE_H

/* max-job-bytes: default and accepted range (plugin/FORMAT.md) */
#define W2Q_MAX_JOB_BYTES_DEFAULT	(64 * 1024 * 1024)
#define W2Q_MAX_JOB_BYTES_MIN		1024
#define W2Q_MAX_JOB_BYTES_MAX		(256 * 1024 * 1024)

/* what bytesize_parse() found */
#define BYTESIZE_OK			0
#define BYTESIZE_SYNTAX		1		/* not a size of the grammar above */
#define BYTESIZE_RANGE		2		/* a size, outside [min, max] */

/* parse text into *bytes; BYTESIZE_OK, else *bytes is undefined */
extern int	bytesize_parse(const char *text, long long min, long long max,
						   long long *bytes);

#endif							/* W2Q_BYTESIZE_H */
