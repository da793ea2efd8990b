/*-------------------------------------------------------------------------
 *
 * tablematch.h
 *		The --tables patterns, as the plugin reads its tables option:
 *		comma-separated SCHEMA.TABLE patterns with '*' wildcards.
 *
 * A pattern is "*" (every table) or exactly one '.' between a non-empty
 * schema part and a non-empty table part; '*' matches any run of
 * characters within its part, never across the '.'.  Names are matched as
 * stored (unquoted); quoted patterns are refused.  Matching is linear in
 * the name's length times the pattern's (no backtracking).
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_TABLEMATCH_H
#define W2Q_TABLEMATCH_H

#include <stdbool.h>
#include <stddef.h>

typedef struct TablePattern
{
	char	   *schema;			/* NULL for "*" */
	char	   *table;
} TablePattern;

typedef struct TablePatterns
{
	int			n;				/* 0: every table */
	TablePattern *p;
	char	   *storage;		/* the parts point into this copy */
} TablePatterns;

/*
 * Parse "public.jobs, app.job_*" into out; NULL or "" gives no patterns
 * (every table).  Returns false with err set ("invalid pattern "x" in
 * --tables: not schema-qualified") on a bad pattern or out of memory.
 */
extern bool tablematch_parse(const char *text, TablePatterns *out,
							 char *err, size_t errlen);

/* does any pattern select schema.table?  (no patterns: every table) */
extern bool tablematch_match(const TablePatterns *pats, const char *schema,
							 const char *table);

/* does one '*'-pattern part match the whole of s? */
extern bool tablematch_part(const char *pat, const char *s);

extern void tablematch_free(TablePatterns *pats);

#endif							/* W2Q_TABLEMATCH_H */
