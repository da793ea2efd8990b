/*-------------------------------------------------------------------------
 *
 * tablepattern.h
 *		The table patterns of the plugin's tables option and the bridge's
 *		--tables: SCHEMA.TABLE with '*' wildcards.  One source for both
 *		(plugin/pattern.c and bridge/tablematch.c wrap it), plain C: no
 *		allocation, no error reporting, no PostgreSQL headers.
 *
 * A pattern is "*" (every table) or exactly one '.' between a non-empty
 * schema part and a non-empty table part.  '*' matches any run of
 * characters within its part, never across the '.': the schema part is
 * matched against the schema name and the table part against the table
 * name, as stored (unquoted), so a name that itself holds a '.' is matched
 * correctly.  Quotes are refused, not guessed at.
 *
 * Two tables rules hold whatever the patterns say (test/t/515): the
 * extension's signing keys, wal2queue.message_key, are never selected (a
 * pattern naming them exactly is refused), and a '*' in the schema part
 * (or "*" alone) never reaches the extension's schema wal2queue nor the
 * system's (pg_catalog, information_schema, pg_*): their tables are
 * selected only by a pattern that writes the schema's name out.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_TABLEPATTERN_H
#define W2Q_TABLEPATTERN_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Check one pattern (blanks already trimmed).  NULL if it is good, with
 * *dot the offset of its '.' (-1 for "*" alone); else why it is bad, e.g.
 * "not schema-qualified".
 */
extern const char *tablepattern_check(const char *text, ptrdiff_t *dot);

/*
 * Does one pattern part ('*' matches any run of characters, everything
 * else itself) match the whole of s?  No backtracking: the literal
 * segments between '*'s are found left to right, each at its leftmost
 * place after the previous one, which is exact for '*'-only patterns; the
 * work is bounded by strlen(s) times strlen(pat).
 */
extern bool tablepattern_part_match(const char *pat, const char *s);

/*
 * Does the pattern with parts schema_pat and table_pat (both NULL for "*")
 * select schema.table?  The parts' match and the two rules above.
 */
extern bool tablepattern_match(const char *schema_pat, const char *table_pat,
							   const char *schema, const char *table);

/* trim the blanks (spaces, tabs) around one list item, in place */
extern char *tablepattern_trim(char *tok);

#endif							/* W2Q_TABLEPATTERN_H */
