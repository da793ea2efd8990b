/*-------------------------------------------------------------------------
 *
 * log.c
 *		The bridge's log lines and clock.
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "log.h"

int			log_verbosity = 0;

void
log_msg(int level, const char *fmt,...)
{
	static const char *const names[] = {"ERROR", "WARNING", "LOG", "DEBUG"};
	char		stamp[32];
	struct timespec ts;
	struct tm	tm;
	va_list		ap;

	if (level > log_verbosity && level >= LOG_INFO)
		return;
	if (log_verbosity < 0 && level == LOG_INFO)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld UTC wal2queue-bridge %s: ", stamp,
			ts.tv_nsec / 1000000, names[level + 2]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
