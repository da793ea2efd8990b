/*-------------------------------------------------------------------------
 *
 * txn_options.c
 *		The options that choose which transactions become jobs, as a sink's
 *		record keeps them: the plugin, --publication and --tables.  The
 *		columns, the target prefix and the sink's own options choose no
 *		transaction: a replay under other ones still presents every
 *		transaction it presented before.
 *
 * A replay from below a sink's record takes what it decodes up to there for
 * delivered (Redis: the record's last transaction; Kafka: the partitions'
 * marks).  That holds only under options that select no transaction the
 * recorded ones did not: the sinks compare them here.  The options are
 * compared as a selection, not as text: the plugin and --publication must
 * match exactly, --tables is a set of trimmed patterns ("public.b,
 * public.a,public.a" is "public.a,public.b").
 *
 * (The same text and comparison as bridge/redis_history.c's, which keeps
 * its own copy for now.)
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "txn_options.h"
#include "../common/tablepattern.h"

#define TABLES_AT " --tables="

char *
txn_options_text(const SinkConfig *cfg)
{
	const char *plugin = cfg->plugin ? cfg->plugin : "wal2queue";
	const char *pub = cfg->publication;
	const char *tables = cfg->tables;
	size_t		len = strlen(plugin) + (pub ? strlen(pub) : 0) +
		(tables ? strlen(tables) : 0) + 64;
	char	   *buf = malloc(len);

	if (buf == NULL)
		return NULL;
	snprintf(buf, len, "--plugin=%s%s%s%s%s", plugin, pub ? " --publication=" : "",
			 pub ? pub : "", tables ? TABLES_AT : ", no --tables", tables ? tables : "");
	return buf;
}

static int
cmp_item(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * The --tables items of OPTS, trimmed, sorted, repeats removed, in *n;
 * NULL when it has none or out of memory (*copy holds the items' text)
 */
static char **
table_items(const char *opts, char **copy, size_t *n)
{
	const char *t = strstr(opts, TABLES_AT);
	char	  **items;
	size_t		max = 1,
				k = 0;

	*copy = NULL;
	*n = 0;
	if (t == NULL)
		return NULL;
	t += strlen(TABLES_AT);
	for (const char *c = t; *c; c++)
		max += *c == ',';
	if ((*copy = strdup(t)) == NULL || (items = malloc(max * sizeof(char *))) == NULL)
	{
		free(*copy);
		*copy = NULL;
		return NULL;
	}
	for (char *tok = *copy;;)
	{
		char	   *comma = strchr(tok, ',');

		if (comma)
			*comma = '\0';
		items[k++] = tablepattern_trim(tok);
		if (comma == NULL)
			break;
		tok = comma + 1;
	}
	qsort(items, k, sizeof(char *), cmp_item);
	for (size_t i = 0; i < k; i++)
		if (*n == 0 || strcmp(items[*n - 1], items[i]) != 0)
			items[(*n)++] = items[i];
	return items;
}

/* the length of what precedes the --tables part (the plugin, the publication) */
static size_t
head_len(const char *opts)
{
	const char *t = strstr(opts, TABLES_AT);

	if (t == NULL)
		t = strstr(opts, ", no --tables");
	return t ? (size_t) (t - opts) : strlen(opts);
}

/*
 * The items of A's --tables all among B's (both sorted and without
 * repeats); with SAME, B's among A's too.  False when either has no
 * --tables, or out of memory.
 */
static bool
items_among(const char *a, const char *b, bool same)
{
	char	   *ca,
			   *cb;
	size_t		na,
				nb,
				j = 0;
	char	  **ia = table_items(a, &ca, &na);
	char	  **ib = table_items(b, &cb, &nb);
	bool		ok = ia != NULL && ib != NULL && (!same || na == nb);

	for (size_t i = 0; ok && i < na; i++)
	{
		while (j < nb && strcmp(ib[j], ia[i]) < 0)
			j++;
		ok = j < nb && strcmp(ib[j], ia[i]) == 0;
	}
	free(ia);
	free(ib);
	free(ca);
	free(cb);
	return ok;
}

bool
txn_options_same(const char *a, const char *b)
{
	size_t		ha = head_len(a);

	if (strcmp(a, b) == 0)
		return true;
	if (ha != head_len(b) || strncmp(a, b, ha) != 0 ||
		strstr(a, TABLES_AT) == NULL || strstr(b, TABLES_AT) == NULL)
		return false;
	return items_among(a, b, true);
}

bool
txn_options_within(const char *narrow, const char *wide)
{
	size_t		hn = head_len(narrow);

	if (txn_options_same(narrow, wide))
		return true;
	if (hn != head_len(wide) || strncmp(narrow, wide, hn) != 0)
		return false;
	if (strstr(wide, TABLES_AT) == NULL)
		return true;			/* no --tables: every table of the plugin's */
	return strstr(narrow, TABLES_AT) != NULL && items_among(narrow, wide, false);
}

bool
txn_options_brief(const char *opts, char *buf, size_t size, size_t room)
{
	size_t		n = strlen(opts),
				keep = 0;
	int			more = 0;
	char		tail[32];

	if (n <= room || strchr(opts, ',') == NULL)
	{
		snprintf(buf, size, "%s", opts);
		return false;
	}
	for (size_t i = 0; i < n; i++)
		more += opts[i] == ',';
	more++;						/* the items after the last kept comma */
	for (size_t i = 0; i < n; i++)
	{
		if (opts[i] != ',')
			continue;
		snprintf(tail, sizeof(tail), ",... (%d more)", more - 1);
		if (keep > 0 && i + strlen(tail) > room)
			break;
		keep = i;
		more--;
	}
	snprintf(buf, size, "%.*s,... (%d more)", (int) keep, opts, more);
	return true;
}

bool
txn_options_tables_of(const char *recorded, const char *mine, char **tables, bool *nomem)
{
	size_t		hr = head_len(recorded);
	const char *t = strstr(recorded, TABLES_AT);

	*tables = NULL;
	*nomem = false;
	if (hr != head_len(mine) || strncmp(recorded, mine, hr) != 0)
		return false;
	if (t == NULL)
		return true;
	if ((*tables = strdup(t + strlen(TABLES_AT))) == NULL)
		*nomem = true;
	return !*nomem;
}
