/*-------------------------------------------------------------------------
 *
 * encoding_check.c
 *		The bridge's conversion (bridge/encoding.c) of every code that
 *		test/helpers/encoding_codes.sql dumped from a server, compared with
 *		the server's convert_from() ("-": refused, so U+FFFD).  Prints each
 *		code that differs and a last line "N codes, M differ"; exits 1 if
 *		any differs.  Run by test/t/025_encoding_every_code.pl.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"

static size_t
unhex(const char *h, char *out, size_t cap)
{
	size_t		n = 0;
	unsigned int v;

	while (h[0] && h[1] && n < cap && sscanf(h, "%2x", &v) == 1)
	{
		out[n++] = (char) v;
		h += 2;
	}
	return n;
}

int
main(void)
{
	EncodingConv ec;
	char		open_name[32] = "";
	char		line[256], enc[32], codehex[16], pghex[160];
	long		codes = 0, differ = 0;

	encoding_open(&ec, NULL, NULL, 0);
	while (fgets(line, sizeof(line), stdin))
	{
		char		code[8], got_hex[200];
		char	   *got, *h = got_hex;
		size_t		n, glen;
		const char *want = pghex;

		if (sscanf(line, "%31s %15s %159s", enc, codehex, pghex) != 3)
			continue;
		if (strcmp(enc, open_name) != 0)
		{
			char		err[256];

			encoding_close(&ec);
			if (encoding_open(&ec, enc, err, sizeof(err)) != 0)
			{
				fprintf(stderr, "%s\n", err);
				return 2;
			}
			snprintf(open_name, sizeof(open_name), "%s", enc);
		}
		n = unhex(codehex, code, sizeof(code));
		if ((got = encoding_to_utf8(&ec, code, n, &glen)) == NULL)
			return 2;
		for (size_t i = 0; i < glen && i < 90; i++)
			h += sprintf(h, "%02x", (unsigned char) got[i]);
		free(got);
		if (strcmp(pghex, "-") == 0)
			want = "efbfbd";
		codes++;
		if (strcmp(got_hex, want) != 0)
		{
			differ++;
			printf("%s %s: PostgreSQL %s, bridge %s\n", enc, codehex, pghex, got_hex);
		}
	}
	encoding_close(&ec);
	printf("%ld codes, %ld differ\n", codes, differ);
	return differ == 0 && codes > 0 ? 0 : 1;
}
