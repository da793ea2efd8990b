/*-------------------------------------------------------------------------
 *
 * tablepattern.c
 *		Checking and matching SCHEMA.TABLE patterns (see tablepattern.h),
 *		built into both the plugin and the bridge.
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "tablepattern.h"

/* the extension's schema and its table of signing keys (sql/src/05_message_key.sql) */
#define KEY_SCHEMA "wal2queue"
#define KEY_TABLE "message_key"

const char *
tablepattern_check(const char *text, ptrdiff_t *dot)
{
	const char *d;

	*dot = -1;
	if (*text == '\0')
		return "empty pattern";
	if (strcmp(text, "*") == 0)
		return NULL;
	if (strchr(text, '"') != NULL)
		return "quoted names are not supported";
	if ((d = strchr(text, '.')) == NULL)
		return "not schema-qualified";
	if (strchr(d + 1, '.') != NULL)
		return "more than one \".\"";
	if (d == text || d[1] == '\0')
		return "empty schema or table part";
	if (strcmp(text, KEY_SCHEMA "." KEY_TABLE) == 0)
		return "the extension's signing keys are never streamed";
	*dot = d - text;
	return NULL;
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
	if (n == 0)
		return s;
	for (; *s; s++)
		if (starts_with(s, seg, n))
			return s;
	return NULL;
}

bool
tablepattern_part_match(const char *pat, const char *s)
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

char *
tablepattern_trim(char *tok)
{
	char	   *end;

	while (*tok == ' ' || *tok == '\t')
		tok++;
	end = tok + strlen(tok);
	while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return tok;
}

/* a schema a '*' never reaches: the extension's and the system's */
static bool
reserved_schema(const char *schema)
{
	return strcmp(schema, KEY_SCHEMA) == 0 ||
		strcmp(schema, "information_schema") == 0 ||
		strncmp(schema, "pg_", 3) == 0;
}

bool
tablepattern_match(const char *schema_pat, const char *table_pat,
				   const char *schema, const char *table)
{
	if (strcmp(schema, KEY_SCHEMA) == 0 && strcmp(table, KEY_TABLE) == 0)
		return false;
	if (reserved_schema(schema) && (schema_pat == NULL || strchr(schema_pat, '*') != NULL))
		return false;
	if (schema_pat == NULL)
		return true;
	return tablepattern_part_match(schema_pat, schema) &&
		tablepattern_part_match(table_pat, table);
}
