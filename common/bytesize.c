/*-------------------------------------------------------------------------
 *
 * bytesize.c
 *		Parse a size of max-job-bytes' grammar (bytesize.h).
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "bytesize.h"

/* larger than any range a caller gives: stops the digits from overflowing */
#define BYTESIZE_CAP	(1LL << 50)

int
bytesize_parse(const char *text, long long min, long long max, long long *bytes)
{
	static const struct
	{
		const char *name;
		int			shift;
	}			units[] = {{"", 0}, {"kB", 10}, {"MB", 20}, {"GB", 30}};
	const char *p = text;
	long long	v = 0;

	if (text == NULL || *p < '0' || *p > '9')
		return BYTESIZE_SYNTAX;
	for (; *p >= '0' && *p <= '9'; p++)
		if (v < BYTESIZE_CAP)
			v = v * 10 + (*p - '0');
	for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++)
	{
		if (strcmp(p, units[u].name) != 0)
			continue;
		if (v >= BYTESIZE_CAP >> units[u].shift)
			return BYTESIZE_RANGE;
		v <<= units[u].shift;
		if (v < min || v > max)
			return BYTESIZE_RANGE;
		*bytes = v;
		return BYTESIZE_OK;
	}
	return BYTESIZE_SYNTAX;
}
