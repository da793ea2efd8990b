/*-------------------------------------------------------------------------
 *
 * utf8.c
 *		Text in the database encoding as UTF-8, for every job.
 *
 * Jobs carry text as UTF-8 in both forms (FORMAT.md): JSON must be UTF-8
 * (RFC 8259), and the bridge copies the binary form's text into Kafka JSON
 * values and Redis fields unchanged.  In a database of another encoding
 * (LATIN1, WIN1252, EUC_JP, ...) the values, keys, targets, table and
 * column names are converted here.  UTF8 needs nothing; SQL_ASCII has no
 * known encoding, so its bytes are passed on as they are.  The JSON form
 * read through the SQL functions stays in the database encoding (it is
 * returned as text); streamed by a walsender it is UTF-8 too.
 *
 * A conversion must never fail: an ERROR would come back at every attempt
 * to decode the same record, and the slot would never move.  A character
 * without a UTF-8 equivalent (WIN1252 stores 0x81, which maps to nothing)
 * becomes U+FFFD, the replacement character.  Text is converted in chunks
 * through a fixed buffer, with conversion errors reported, not raised.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "replication/walsender.h"

#include "utf8.h"

/* source bytes per conversion call (the buffer holds 4 times as many) */
#define CHUNK	8192

#define REPLACEMENT_CHARACTER	"\xEF\xBF\xBD"

static Oid	conversion_proc = InvalidOid;
static bool enabled = true;

/*
 * Convert in this decoding session?  Not for the JSON form read through
 * the SQL functions: pg_logical_slot_get_changes() returns it as text,
 * which must be in the database encoding.
 */
void
w2q_utf8_init(bool json)
{
	enabled = !json || am_walsender;
}

bool
w2q_utf8_converts(void)
{
	int			enc = GetDatabaseEncoding();

	return enabled && enc != PG_UTF8 && enc != PG_SQL_ASCII;
}

/* the database's default conversion to UTF-8 (a catalog lookup, once) */
static Oid
utf8_proc(int enc)
{
	if (!OidIsValid(conversion_proc))
		conversion_proc = FindDefaultConversionProc(enc, PG_UTF8);
	return conversion_proc;
}

static bool
ascii_only(const char *s, size_t len)
{
	size_t		i;

	for (i = 0; i < len; i++)
		if ((unsigned char) s[i] & 0x80)
			return false;
	return true;
}

/*
 * s[0..len) as UTF-8, NUL-terminated, in the current memory context; s
 * itself (which the caller then knows to be NUL-terminated at len, or
 * copies) when nothing needs converting.
 */
char *
w2q_to_utf8(const char *s, size_t len)
{
	int			enc = GetDatabaseEncoding();
	StringInfoData out;
	unsigned char *buf;
	size_t		pos = 0;
	Oid			proc;

	if (!w2q_utf8_converts() || ascii_only(s, len) ||
		!OidIsValid(proc = utf8_proc(enc)))
		return (char *) s;
	initStringInfo(&out);
	buf = palloc(CHUNK * MAX_CONVERSION_GROWTH + 1);
	while (pos < len)
	{
		int			n = (int) Min(len - pos, (size_t) CHUNK);
		int			done;

		done = pg_do_encoding_conversion_buf(proc, enc, PG_UTF8,
											 (unsigned char *) s + pos, n,
											 buf, CHUNK * MAX_CONVERSION_GROWTH + 1,
											 true);
		appendStringInfoString(&out, (char *) buf);
		pos += done;
		if (done == 0)
		{
			/* a character without an equivalent, or cut short */
			int			l = pg_encoding_mblen(enc, s + pos);

			appendStringInfoString(&out, REPLACEMENT_CHARACTER);
			pos += Max(1, Min((size_t) l, len - pos));
		}
	}
	pfree(buf);
	return out.data;
}
