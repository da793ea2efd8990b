/*-------------------------------------------------------------------------
 *
 * lsn.c
 *		Formatting and parsing LSNs the way PostgreSQL prints them.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>

#include "lsn.h"

const char *
lsn_format(uint64_t lsn, char *buf, size_t buflen)
{
	snprintf(buf, buflen, "%X/%X", (unsigned) (lsn >> 32), (unsigned) lsn);
	return buf;
}

static bool
parse_hex32(const char *s, size_t n, uint32_t *out)
{
	uint32_t	v = 0;

	if (n == 0 || n > 8)
		return false;
	for (size_t i = 0; i < n; i++)
	{
		char		c = s[i];
		uint32_t	d;

		if (c >= '0' && c <= '9')
			d = (uint32_t) (c - '0');
		else if (c >= 'A' && c <= 'F')
			d = (uint32_t) (c - 'A' + 10);
		else if (c >= 'a' && c <= 'f')
			d = (uint32_t) (c - 'a' + 10);
		else
			return false;
		v = (v << 4) | d;
	}
	*out = v;
	return true;
}

bool
lsn_parse(const char *s, size_t len, uint64_t *out)
{
	uint32_t	hi,
				lo;

	for (size_t i = 0; i < len; i++)
	{
		if (s[i] == '/')
		{
			if (!parse_hex32(s, i, &hi) || !parse_hex32(s + i + 1, len - i - 1, &lo))
				return false;
			*out = ((uint64_t) hi << 32) | lo;
			return true;
		}
	}
	return false;
}
