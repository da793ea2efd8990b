/*-------------------------------------------------------------------------
 *
 * encoding.h
 *		Text in a database's encoding as UTF-8, converted by the bridge as
 *		PostgreSQL's convert_from() converts it, never failing.
 *
 * Jobs carry text as UTF-8 (FORMAT.md).  A connection that asks the
 * server for client_encoding UTF8 makes the server convert, and the server
 * raises an error for a character the database stores but UTF-8 lacks
 * (WIN1252 stores 0x81, chr(129), which maps to nothing): at every attempt,
 * for the same WAL record or the same page (test/t/470, 476).  So where
 * such text enters (the pgoutput stream, the backfill's rows), the bridge
 * reads it in the database's own encoding and converts it here, as the
 * plugin does (plugin/utf8.c): what does not convert becomes U+FFFD, the
 * replacement character, and the caller warns once per session
 * (encoding_warn_unconvertible()).  UTF8 and SQL_ASCII need no conversion
 * (SQL_ASCII is refused where it matters: precheck.c).
 *
 * The result must be PostgreSQL's own (send() signs its prefix as
 * convert_to(prefix, 'UTF8'), test/t/503): the single-byte encodings are
 * converted with tables of PostgreSQL's mapping (encoding_tables.c, made
 * by test/helpers/gen_encoding_tables.sh); the EUC ones with glibc's
 * iconv one character at a time (PostgreSQL's length rules), flushed, but
 * for the codes where glibc differs (the same file: ~200 of EUC_JP, 2 of
 * EUC_JIS_2004, 3 of EUC_TW).  test/t/025 compares every code with the
 * server's convert_from() (EUC_TW: CNS planes 1 and 2).  Other encodings
 * (MULE_INTERNAL, the client-only ones) are refused by name.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_ENCODING_H
#define W2Q_ENCODING_H

#include <iconv.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "encoding_tables.h"

#define ENCODING_REPLACEMENT "\xEF\xBF\xBD"	/* U+FFFD in UTF-8 */

typedef struct EncodingConv
{
	bool		identity;		/* UTF8 or SQL_ASCII: nothing to convert */
	const uint16_t *high;		/* single-byte: PostgreSQL's code points */
	iconv_t		cd;				/* multi-byte: to UTF-8 from the encoding */
	char		mb;				/* multi-byte: PostgreSQL's length rule */
	const EncodingOverride *over;	/* multi-byte: glibc corrected, sorted */
	size_t		nover;
	char		name[32];		/* PostgreSQL's name of the encoding */
	uint64_t	unconvertible;	/* characters that became U+FFFD since open */
	unsigned char bad[4];		/* the first of them */
	size_t		badlen;
	bool		warned;			/* encoding_warn_unconvertible() did */
} EncodingConv;

/*
 * iconv's name of a PostgreSQL server encoding the bridge converts
 * ("WIN1252" -> "CP1252", though it converts the single-byte ones with
 * tables), "UTF-8" for UTF8, or NULL for one it does not convert
 * (MULE_INTERNAL, the client-only encodings) or SQL_ASCII
 */
extern const char *encoding_iconv_name(const char *pg_encoding);

/* does the database's text need converting (neither UTF8 nor SQL_ASCII)? */
extern bool encoding_converts(const char *pg_encoding);

/*
 * Prepare ec for text in pg_encoding (NULL, UTF8, SQL_ASCII: identity).
 * Returns 0, or -1 with err set for an encoding the bridge cannot convert
 * as PostgreSQL does.
 */
extern int	encoding_open(EncodingConv *ec, const char *pg_encoding, char *err, size_t errlen);
extern void encoding_close(EncodingConv *ec);

/* is any byte of in[0..len) not ASCII (so that it needs converting)? */
extern bool encoding_has_high(const char *in, size_t len);

/*
 * in[0..len) as UTF-8 in a malloc'd NUL-terminated buffer (*out_len bytes
 * before the NUL).  A character PostgreSQL does not convert, or an
 * incomplete one at the end, becomes one U+FFFD (whole, by PostgreSQL's
 * length rules: the text after it is unchanged) and is counted in
 * ec->unconvertible.  NULL only when out of memory.
 */
extern char *encoding_to_utf8(EncodingConv *ec, const char *in, size_t len, size_t *out_len);

/*
 * Once per ec (a stream session): when a character became U+FFFD, a
 * WARNING naming the encoding, its bytes, and where: what (e.g. "table")
 * and name (UTF-8, e.g. "public.jobs").
 */
extern void encoding_warn_unconvertible(EncodingConv *ec, const char *what,
										const char *name, size_t namelen);

#endif							/* W2Q_ENCODING_H */
