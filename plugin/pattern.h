/*-------------------------------------------------------------------------
 *
 * pattern.h
 *		The tables option's patterns: SCHEMA.TABLE with '*' wildcards.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_PATTERN_H
#define W2Q_PATTERN_H

#include "nodes/pg_list.h"

/* a checked pattern: "*" alone, or a schema part and a table part */
typedef struct W2QPattern
{
	char	   *text;			/* as given, for messages */
	char	   *schema;			/* NULL: "*" alone, every table */
	char	   *table;
} W2QPattern;

extern W2QPattern *w2q_pattern_parse(const char *text);
extern bool w2q_patterns_match(List *patterns, const char *schema,
							   const char *table);

#endif							/* W2Q_PATTERN_H */
