/*-------------------------------------------------------------------------
 *
 * errbuf.h
 *		One-line error messages kept in a caller's buffer: lower case, no
 *		trailing period, newlines and tabs folded to spaces (a server's
 *		multi-line message stays one log line).
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_ERRBUF_H
#define W2Q_ERRBUF_H

#include <stdarg.h>
#include <stddef.h>

/* format into buf as one line; returns code, so "return errbuf_set(...)" */
extern int	errbuf_set(char *buf, size_t buflen, int code, const char *fmt,...)
			__attribute__((format(printf, 4, 5)));
extern int	errbuf_vset(char *buf, size_t buflen, int code, const char *fmt, va_list ap)
			__attribute__((format(printf, 4, 0)));

#endif							/* W2Q_ERRBUF_H */
