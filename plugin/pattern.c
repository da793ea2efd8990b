/*-------------------------------------------------------------------------
 *
 * pattern.c
 *		The tables option's patterns: SCHEMA.TABLE with '*' wildcards.
 *
 * The rules (and the matching) are common/tablepattern.c, the same source
 * the bridge builds its --tables from; this file keeps the checked
 * patterns in palloc'd memory and reports a bad one as an ERROR.  The work
 * of a match is bounded by the name length (at most NAMEDATALEN - 1) times
 * the pattern length.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "pattern.h"
#include "../common/tablepattern.h"

static void
pattern_error(const char *text, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid pattern \"%s\" in wal2queue option \"tables\": %s",
					text, why),
			 errhint("Write schema.table, unquoted, with * for any run of characters within a name, for example public.job_* or *.jobs.")));
}

W2QPattern *
w2q_pattern_parse(const char *text)
{
	W2QPattern *p = palloc0(sizeof(W2QPattern));
	ptrdiff_t	dot;
	const char *why = tablepattern_check(text, &dot);

	if (why != NULL)
		pattern_error(text, why);
	p->text = pstrdup(text);
	if (dot < 0)
		return p;				/* "*" alone */
	p->schema = pnstrdup(text, dot);
	p->table = pstrdup(text + dot + 1);
	return p;
}

bool
w2q_patterns_match(List *patterns, const char *schema, const char *table)
{
	ListCell   *lc;

	if (patterns == NIL)
		return true;
	foreach(lc, patterns)
	{
		W2QPattern *p = lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		if (tablepattern_match(p->schema, p->table, schema, table))
			return true;
	}
	return false;
}
