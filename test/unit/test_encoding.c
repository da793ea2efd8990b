/*-------------------------------------------------------------------------
 *
 * test_encoding.c
 *		Database text to UTF-8 (bridge/encoding.c): PostgreSQL's encoding
 *		names mapped to iconv's, WIN1252's 0x81 (no UTF-8 equivalent) as
 *		U+FFFD, what converts as PostgreSQL converts it, an incomplete
 *		character at the end, long text, UTF8 and SQL_ASCII untouched, an
 *		encoding iconv does not know refused by name.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"
#include "unit.h"

#define FFFD ENCODING_REPLACEMENT

/* in (len bytes) from pg_encoding as UTF-8 equals want? */
static bool
converts_to(const char *pg_encoding, const char *in, size_t len, const char *want)
{
	EncodingConv ec;
	char		err[256];
	char	   *out;
	size_t		n = 0;
	bool		ok;

	if (encoding_open(&ec, pg_encoding, err, sizeof(err)) != 0)
	{
		printf("# %s\n", err);
		return false;
	}
	out = encoding_to_utf8(&ec, in, len, &n);
	ok = out != NULL && n == strlen(want) && strcmp(out, want) == 0;
	if (!ok)
		printf("# got \"%s\" (%zu bytes)\n", out ? out : "(null)", n);
	free(out);
	encoding_close(&ec);
	return ok;
}

static void
test_names(void)
{
	unit_check_str(encoding_iconv_name("WIN1252"), "CP1252", "WIN1252 is iconv's CP1252");
	unit_check_str(encoding_iconv_name("LATIN9"), "ISO-8859-15", "LATIN9 is ISO-8859-15");
	unit_check_str(encoding_iconv_name("EUC_JP"), "EUC-JP", "EUC_JP is EUC-JP");
	unit_check(encoding_iconv_name("MULE_INTERNAL") == NULL, "MULE_INTERNAL has no iconv name");
	unit_check(!encoding_converts("UTF8") && !encoding_converts("SQL_ASCII") &&
			   !encoding_converts(NULL) && encoding_converts("WIN1252"),
			   "only an encoding other than UTF8 and SQL_ASCII converts");
}

static void
test_convert(void)
{
	EncodingConv ec;
	char		err[256];
	char		big[20000];
	char	   *out;
	size_t		n;

	unit_check(converts_to("WIN1252", "x\x81y", 3, "x" FFFD "y"),
			   "WIN1252 0x81 (chr(129), no UTF-8 equivalent) becomes U+FFFD");
	unit_check(converts_to("WIN1252", "caf\xe9 \x80", 6, "caf\xc3\xa9 \xe2\x82\xac"),
			   "WIN1252 0xE9 is U+00E9, 0x80 is the euro sign");
	unit_check(converts_to("WIN1252", "\x81\x8d\x8f\x90\x9d", 5, FFFD FFFD FFFD FFFD FFFD),
			   "each of WIN1252's five unmapped bytes becomes one U+FFFD");
	unit_check(converts_to("LATIN1", "\xff", 1, "\xc3\xbf"), "LATIN1 0xFF is U+00FF");
	unit_check(converts_to("EUC_JP", "\xa4\xa2", 2, "\xe3\x81\x82"), "EUC_JP A4A2 is U+3042");
	unit_check(converts_to("EUC_JP", "a\xa4", 2, "a" FFFD),
			   "an incomplete EUC_JP character at the end becomes U+FFFD");
	unit_check(converts_to("UTF8", "x\x81y", 3, "x\x81y") &&
			   converts_to("SQL_ASCII", "\xe9", 1, "\xe9"),
			   "UTF8 and SQL_ASCII text is passed on as it is");
	unit_check(converts_to("WIN1252", "", 0, ""), "empty text stays empty");

	/* long text grows the buffer: every 0xE9 is two bytes, every 0x81 three */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = i % 2 ? '\xe9' : '\x81';
	unit_check(encoding_open(&ec, "WIN1252", err, sizeof(err)) == 0, "WIN1252 opens");
	out = encoding_to_utf8(&ec, big, sizeof(big), &n);
	unit_check(out != NULL && n == sizeof(big) / 2 * 5 && strlen(out) == n &&
			   memcmp(out, FFFD "\xc3\xa9", 5) == 0 &&
			   memcmp(out + n - 5, FFFD "\xc3\xa9", 5) == 0,
			   "20000 bytes of 0x81 and 0xE9 convert to 50000 bytes");
	free(out);
	encoding_close(&ec);

	unit_check(encoding_open(&ec, "MULE_INTERNAL", err, sizeof(err)) != 0 &&
			   strstr(err, "MULE_INTERNAL") != NULL,
			   "an encoding the bridge cannot convert is refused by name: %s", err);
}

int
main(void)
{
	test_names();
	test_convert();
	return unit_done();
}
