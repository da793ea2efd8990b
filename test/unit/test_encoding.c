/*-------------------------------------------------------------------------
 *
 * test_encoding.c
 *		Database text to UTF-8 (bridge/encoding.c): PostgreSQL's encoding
 *		names mapped to iconv's, WIN1252's 0x81 (no UTF-8 equivalent) as
 *		U+FFFD, what converts as PostgreSQL converts it, an incomplete
 *		character at the end, long text, UTF8 and SQL_ASCII untouched, an
 *		encoding the bridge does not convert refused by name; WIN1258's
 *		last character kept and its combining marks not composed (501),
 *		EUC_JP's NEC rows and the codes glibc maps otherwise, a whole
 *		character skipped when it does not convert (500), the first
 *		unconvertible bytes kept for the WARNING.  Every code of these
 *		encodings against the server: test/t/025.
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

	unit_check(encoding_open(&ec, "SJIS", err, sizeof(err)) != 0 && strstr(err, "SJIS") != NULL,
			   "a client-only encoding is refused by name: %s", err);
	unit_check(encoding_open(&ec, "MULE_INTERNAL", err, sizeof(err)) != 0 &&
			   strstr(err, "MULE_INTERNAL") != NULL,
			   "an encoding the bridge cannot convert is refused by name: %s", err);
}

/* 501: glibc's CP1258 and CP1255 hold the last character back */
static void
test_stateful(void)
{
	unit_check(converts_to("WIN1258", "H\xe0 Nam", 6, "H\xc3\xa0 Nam"),
			   "WIN1258 \"H\\xE0 Nam\" keeps its last character (\"H\xc3\xa0 Nam\")");
	unit_check(converts_to("WIN1258", "h\xe0ng", 4, "h\xc3\xa0ng"),
			   "a WIN1258 table name \"h\xc3\xa0ng\" stays whole");
	unit_check(converts_to("WIN1258", "a\xcc", 2, "a\xcc\x80"),
			   "WIN1258 'a' and combining grave 0xCC stay two code points, as PostgreSQL converts");
	unit_check(converts_to("WIN1255", "\xf9\xc8", 2, "\xd7\xa9\xd6\xb8"),
			   "WIN1255 shin and qamats stay two code points, the last one kept");
}

/* 500: EUC_JP as PostgreSQL converts it, a whole character skipped */
static void
test_euc_jp(void)
{
	EncodingConv ec;
	char		err[256];
	char	   *out;
	size_t		n;

	unit_check(converts_to("EUC_JP", "\xad\xa1\xb0\xa1" "b", 5, "\xe2\x91\xa0\xe4\xba\x9c" "b"),
			   "EUC_JP NEC row 13 0xADA1 is U+2460, the text after it unchanged");
	unit_check(converts_to("EUC_JP", "\xa1\xc1", 2, "\xef\xbd\x9e"),
			   "EUC_JP 0xA1C1 is PostgreSQL's U+FF5E, not glibc's U+301C");
	unit_check(converts_to("EUC_JP", "\x8f\xf3\xf3x", 4, "\xe2\x85\xb0x"),
			   "EUC_JP three-byte IBM 0x8FF3F3 is U+2170");
	unit_check(converts_to("EUC_JIS_2004", "\xa1\xb1", 2, "\xe2\x80\xbe"),
			   "EUC_JIS_2004 0xA1B1 is PostgreSQL's U+203E, not glibc's U+FFE3");
	unit_check(converts_to("EUC_JP", "\xa9\xa1\xb0\xa1" "b", 5, FFFD "\xe4\xba\x9c" "b"),
			   "an EUC_JP code neither converts is one U+FFFD, the text after it unchanged");
	unit_check(converts_to("EUC_JP", "\x8f\xa2\xb7" "b", 4, FFFD "b"),
			   "an EUC_JP code PostgreSQL refuses (glibc converts 0x8FA2B7) is U+FFFD, three bytes skipped");
	unit_check(converts_to("EUC_JP", "\xa4\xa2\x8f\xa2", 4, "\xe3\x81\x82" FFFD),
			   "a three-byte EUC_JP character cut off at the end is one U+FFFD");

	unit_check(encoding_open(&ec, "EUC_JP", err, sizeof(err)) == 0, "EUC_JP opens");
	out = encoding_to_utf8(&ec, "x\xa9\xa1y\xa9\xa2", 6, &n);
	unit_check(out != NULL && ec.unconvertible == 2 && ec.badlen == 2 &&
			   memcmp(ec.bad, "\xa9\xa1", 2) == 0,
			   "two unconvertible characters counted, the first one's bytes kept");
	encoding_warn_unconvertible(&ec, "a value of table", "public.jobs", 11);
	unit_check(ec.warned, "the WARNING is given once");
	free(out);
	encoding_close(&ec);
}

int
main(void)
{
	test_names();
	test_convert();
	test_stateful();
	test_euc_jp();
	return unit_done();
}
