/*-------------------------------------------------------------------------
 *
 * errbuf.c
 *		One-line error messages (see errbuf.h).
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "errbuf.h"

int
errbuf_vset(char *buf, size_t buflen, int code, const char *fmt, va_list ap)
{
	size_t		n;

	if (buflen == 0)
		return code;
	vsnprintf(buf, buflen, fmt, ap);
	for (char *p = buf; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '.'))
		buf[--n] = '\0';
	return code;
}

int
errbuf_set(char *buf, size_t buflen, int code, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	errbuf_vset(buf, buflen, code, fmt, ap);
	va_end(ap);
	return code;
}
