/*-------------------------------------------------------------------------
 *
 * pattern.c
 *		The tables option's patterns: SCHEMA.TABLE with '*' wildcards.
 *
 * A pattern is "*" (every table) or exactly one '.' between a non-empty
 * schema part and a non-empty table part.  '*' matches any run of
 * characters within its part, never across the '.': the schema part is
 * matched against the schema name and the table part against the table
 * name, as stored (unquoted), so a name that itself holds a '.' is matched
 * correctly.  Quotes are refused, not guessed at.
 *
 * Matching does not backtrack: the literal segments between '*'s are
 * found left to right, each at its leftmost place after the previous one,
 * which is enough for '*'-only patterns.  The work is bounded by the name
 * length (at most NAMEDATALEN - 1) times the pattern length.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "pattern.h"

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
	const char *dot;

	p->text = pstrdup(text);
	if (strcmp(text, "*") == 0)
		return p;
	if (strchr(text, '"') != NULL)
		pattern_error(text, "quoted names are not supported");
	dot = strchr(text, '.');
	if (dot == NULL)
		pattern_error(text, "not schema-qualified");
	if (strchr(dot + 1, '.') != NULL)
		pattern_error(text, "more than one \".\"");
	if (dot == text || dot[1] == '\0')
		pattern_error(text, "empty schema or table part");
	p->schema = pnstrdup(text, dot - text);
	p->table = pstrdup(dot + 1);
	return p;
}

/* does s start with the n bytes at seg? */
static bool
starts_with(const char *s, const char *seg, size_t n)
{
	return strncmp(s, seg, n) == 0;
}

/* the leftmost place at or after s where the n bytes at seg occur */
static const char *
find_segment(const char *s, const char *seg, size_t n)
{
	for (; *s; s++)
		if (starts_with(s, seg, n))
			return s;
	return n == 0 ? s : NULL;
}

/* '*' matches any run of characters, everything else itself */
static bool
part_matches(const char *pat, const char *s)
{
	const char *star = strchr(pat, '*');
	size_t		slen;
	size_t		n;

	/* the text before the first '*' is a prefix */
	if (star == NULL)
		return strcmp(pat, s) == 0;
	n = star - pat;
	if (!starts_with(s, pat, n))
		return false;
	s += n;
	pat = star + 1;

	/* each segment between two '*'s, at its leftmost place */
	while ((star = strchr(pat, '*')) != NULL)
	{
		n = star - pat;
		if ((s = find_segment(s, pat, n)) == NULL)
			return false;
		s += n;
		pat = star + 1;
	}

	/* the text after the last '*' is a suffix of what is left */
	n = strlen(pat);
	slen = strlen(s);
	return slen >= n && strcmp(s + slen - n, pat) == 0;
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
		if (p->schema == NULL ||
			(part_matches(p->schema, schema) && part_matches(p->table, table)))
			return true;
	}
	return false;
}
