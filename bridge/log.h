/*-------------------------------------------------------------------------
 *
 * log.h
 *		The bridge's log: one line per event on stderr, with a UTC timestamp
 *		and a level.  -q shows only warnings and errors, -v adds detail.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_LOG_H
#define W2Q_LOG_H

#include <stdint.h>

#define LOG_DEBUG	1
#define LOG_INFO	0
#define LOG_WARNING (-1)
#define LOG_ERROR	(-2)

/* -1 quiet, 0 normal, 1 verbose */
extern int	log_verbosity;

extern void log_msg(int level, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));

/* monotonic clock in microseconds */
extern int64_t now_us(void);

/* wall clock: microseconds since the Unix epoch */
extern int64_t wall_us(void);

#endif							/* W2Q_LOG_H */
