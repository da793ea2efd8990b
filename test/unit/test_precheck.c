/*-------------------------------------------------------------------------
 *
 * test_precheck.c
 *		Unit tests of the --tables pattern to LIKE translation used by the
 *		start-up warnings (the catalog queries are tested in 012_cli.pl).
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "precheck.h"
#include "unit.h"

typedef struct Case
{
	const char *pattern;
	const char *schema;			/* NULL: refused */
	const char *table;
} Case;

static const Case cases[] = {
	{"public.jobs", "public", "jobs"},
	{"public.job_*", "public", "job\\_%"},
	{"*.jobs", "%", "jobs"},
	{"*", "%", "%"},
	{"jobs.*", "jobs", "%"},
	{"a%b.c\\d", "a\\%b", "c\\\\d"},
	{"s*x.t*y*", "s%x", "t%y%"},
	{"jobs", NULL, NULL},
	{".jobs", NULL, NULL},
	{"public.", NULL, NULL},
	{"", NULL, NULL},
};

int
main(void)
{
	size_t		i;
	char		s[64];
	char		t[64];
	char		longp[200];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		const Case *c = &cases[i];
		bool		ok = precheck_pattern_to_like(c->pattern, s, t, sizeof(s));

		if (c->schema == NULL)
			unit_check(!ok, "\"%s\" is refused (not schema.table)", c->pattern);
		else if (unit_check(ok, "\"%s\" translates", c->pattern))
		{
			unit_check_str(s, c->schema, "its schema part");
			unit_check_str(t, c->table, "its table part");
		}
	}

	/*
	 * '*' never crosses the '.': the schema and the table are matched
	 * separately, so "*s.t" cannot match the table "x.s" of schema "t".
	 */
	precheck_pattern_to_like("*s.t", s, t, sizeof(s));
	unit_check(strcmp(s, "%s") == 0 && strcmp(t, "t") == 0,
			   "\"*s.t\": the '*' stays in the schema part");

	memset(longp, '_', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	longp[3] = '.';
	unit_check(!precheck_pattern_to_like(longp, s, t, sizeof(s)),
			   "a pattern too long for the buffer is refused, not cut");
	return unit_done();
}
