/*-------------------------------------------------------------------------
 *
 * encoding.h
 *		Text in a database's encoding as UTF-8, converted by the bridge
 *		with iconv(3), never failing.
 *
 * Jobs carry text as UTF-8 (FORMAT.md).  A connection that asks the
 * server for client_encoding UTF8 makes the server convert, and the server
 * raises an error for a character the database stores but UTF-8 lacks
 * (WIN1252 stores 0x81, chr(129), which maps to nothing): at every attempt,
 * for the same WAL record or the same page (test/t/470, 476).  So where
 * such text enters (the pgoutput stream, the backfill's rows), the bridge
 * reads it in the database's own encoding and converts it here, as the
 * plugin does (plugin/utf8.c): what does not convert becomes U+FFFD, the
 * replacement character.  UTF8 and SQL_ASCII need no conversion (SQL_ASCII
 * is refused where it matters: precheck.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_ENCODING_H
#define W2Q_ENCODING_H

#include <iconv.h>
#include <stdbool.h>
#include <stddef.h>

#define ENCODING_REPLACEMENT "\xEF\xBF\xBD"	/* U+FFFD in UTF-8 */

typedef struct EncodingConv
{
	bool		identity;		/* UTF8 or SQL_ASCII: nothing to convert */
	iconv_t		cd;				/* else to UTF-8 from the encoding */
	char		name[32];		/* PostgreSQL's name of the encoding */
} EncodingConv;

/*
 * iconv's name of a PostgreSQL server encoding ("WIN1252" -> "CP1252"),
 * "UTF-8" for UTF8, or NULL for one iconv does not know (MULE_INTERNAL)
 * or SQL_ASCII
 */
extern const char *encoding_iconv_name(const char *pg_encoding);

/* does the database's text need converting (neither UTF8 nor SQL_ASCII)? */
extern bool encoding_converts(const char *pg_encoding);

/*
 * Prepare ec for text in pg_encoding (NULL, UTF8, SQL_ASCII: identity).
 * Returns 0, or -1 with err set for an encoding iconv cannot convert.
 */
extern int	encoding_open(EncodingConv *ec, const char *pg_encoding, char *err, size_t errlen);
extern void encoding_close(EncodingConv *ec);

/* is any byte of in[0..len) not ASCII (so that it needs converting)? */
extern bool encoding_has_high(const char *in, size_t len);

/*
 * in[0..len) as UTF-8 in a malloc'd NUL-terminated buffer (*out_len bytes
 * before the NUL); a byte that does not convert, or an incomplete character
 * at the end, becomes U+FFFD.  NULL only when out of memory.
 */
extern char *encoding_to_utf8(EncodingConv *ec, const char *in, size_t len, size_t *out_len);

#endif							/* W2Q_ENCODING_H */
