/*-------------------------------------------------------------------------
 *
 * unit.h
 *		A tiny harness for the unit tests: one line per check, "ok - ..." or
 *		"not ok - ...", and at the end "N passed, N failed".
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_UNIT_H
#define W2Q_UNIT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int	unit_passed;
static int	unit_failed;

/* record one check; returns ok */
static inline bool
unit_check(bool ok, const char *fmt,...)
	__attribute__((format(printf, 2, 3)));

static inline bool
unit_check(bool ok, const char *fmt,...)
{
	va_list		ap;

	printf("%s - ", ok ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (ok)
		unit_passed++;
	else
		unit_failed++;
	return ok;
}

/* a check comparing strings; shows both on failure */
static inline bool
unit_check_str(const char *got, const char *want, const char *desc)
{
	bool		ok = (got != NULL && want != NULL) ? strcmp(got, want) == 0 :
		got == want;

	unit_check(ok, "%s", desc);
	if (!ok)
		printf("#   got:  \"%s\"\n#   want: \"%s\"\n",
			   got ? got : "(null)", want ? want : "(null)");
	return ok;
}

/* print the summary; the exit status for main */
static inline int
unit_done(void)
{
	printf("%d passed, %d failed\n", unit_passed, unit_failed);
	return unit_failed > 0 ? 1 : 0;
}

#endif							/* W2Q_UNIT_H */
