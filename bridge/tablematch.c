/*-------------------------------------------------------------------------
 *
 * tablematch.c
 *		The --tables patterns in the bridge (see tablematch.h), for the
 *		pgoutput mode, where the bridge selects the tables itself.
 *
 * The rules are the plugin's, from the same source: common/tablepattern.c
 * checks each pattern and matches its parts; this file splits the list,
 * keeps the parts and words the errors for the command line.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/tablepattern.h"
#include "errbuf.h"
#include "tablematch.h"

bool
tablematch_part(const char *pat, const char *s)
{
	return tablepattern_part_match(pat, s);
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

		if (tablepattern_match(p->schema, p->table, schema, table))
			return true;
	}
	return false;
}

/* one pattern, split in place at its '.'; NULL or the reason it is bad */
static const char *
parse_one(char *tok, TablePattern *p)
{
	ptrdiff_t	dot;
	const char *why = tablepattern_check(tok, &dot);

	p->schema = NULL;
	p->table = NULL;
	if (why != NULL || dot < 0)
		return why;
	tok[dot] = '\0';
	p->schema = tok;
	p->table = tok + dot + 1;
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
		pat = tablepattern_trim(tok);
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
