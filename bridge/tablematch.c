/*-------------------------------------------------------------------------
 *
 * tablematch.c
 *		The --tables patterns in the bridge (see tablematch.h), for the
 *		pgoutput mode, where the bridge selects the tables itself.
 *
 * The rules are the plugin's (plugin/pattern.c): the literal segments
 * between '*'s are found left to right, each at its leftmost place after
 * the previous one, the text before the first '*' is a prefix and the text
 * after the last one a suffix.  That is exact for '*'-only patterns and
 * never backtracks.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "tablematch.h"

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
tablematch_part(const char *pat, const char *s)
{
	const char *star = strchr(pat, '*');
	size_t		slen;
	size_t		n;

	if (star == NULL)
		return strcmp(pat, s) == 0;
	n = star - pat;
	if (!starts_with(s, pat, n))
		return false;
	s += n;
	pat = star + 1;
	while ((star = strchr(pat, '*')) != NULL)
	{
		n = star - pat;
		if ((s = find_segment(s, pat, n)) == NULL)
			return false;
		s += n;
		pat = star + 1;
	}
	n = strlen(pat);
	slen = strlen(s);
	return slen >= n && strcmp(s + slen - n, pat) == 0;
}

bool
tablematch_match(const TablePatterns *pats, const char *schema,
				 const char *table)
{
	int			i;

	if (pats == NULL || pats->n == 0)
		return true;
	for (i = 0; i < pats->n; i++)
	{
		const TablePattern *p = &pats->p[i];

		if (p->schema == NULL ||
			(tablematch_part(p->schema, schema) && tablematch_part(p->table, table)))
			return true;
	}
	return false;
}

static char *
trim_blanks(char *tok)
{
	char	   *end;

	while (*tok == ' ' || *tok == '\t')
		tok++;
	end = tok + strlen(tok);
	while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return tok;
}

/* one pattern, split in place at its '.'; NULL or the reason it is bad */
static const char *
parse_one(char *tok, TablePattern *p)
{
	char	   *dot;

	p->schema = NULL;
	p->table = NULL;
	if (*tok == '\0')
		return "empty pattern";
	if (strcmp(tok, "*") == 0)
		return NULL;
	if (strchr(tok, '"') != NULL)
		return "quoted names are not supported";
	if ((dot = strchr(tok, '.')) == NULL)
		return "not schema-qualified";
	if (strchr(dot + 1, '.') != NULL)
		return "more than one \".\"";
	if (dot == tok || dot[1] == '\0')
		return "empty schema or table part";
	*dot = '\0';
	p->schema = tok;
	p->table = dot + 1;
	return NULL;
}

bool
tablematch_parse(const char *text, TablePatterns *out, char *err, size_t errlen)
{
	char	   *tok;
	size_t		max = 1;
	const char *c;

	memset(out, 0, sizeof(*out));
	if (text == NULL || text[0] == '\0')
		return true;
	for (c = text; *c; c++)
		max += (*c == ',');
	out->storage = strdup(text);
	out->p = calloc(max, sizeof(TablePattern));
	if (out->storage == NULL || out->p == NULL)
	{
		tablematch_free(out);
		errbuf_set(err, errlen, 0, "out of memory");
		return false;
	}
	tok = out->storage;
	for (;;)
	{
		char	   *comma = strchr(tok, ',');
		char	   *pat;
		char		shown[128];
		const char *why;

		if (comma)
			*comma = '\0';
		pat = trim_blanks(tok);
		snprintf(shown, sizeof(shown), "%s", pat);
		if ((why = parse_one(pat, &out->p[out->n])) != NULL)
		{
			errbuf_set(err, errlen, 0,
					   "invalid pattern \"%s\" in --tables: %s (write schema.table, unquoted, "
					   "with * for any run of characters within a name, e.g. public.job_*)",
					   shown, why);
			tablematch_free(out);
			return false;
		}
		out->n++;
		if (comma == NULL)
			break;
		tok = comma + 1;
	}
	return true;
}

void
tablematch_free(TablePatterns *pats)
{
	free(pats->p);
	free(pats->storage);
	memset(pats, 0, sizeof(*pats));
}
