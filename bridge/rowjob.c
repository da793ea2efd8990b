/*-------------------------------------------------------------------------
 *
 * rowjob.c
 *		One row of a relation into a FrameJob, with the plugin's rules for
 *		selection, target, key and kinds (see rowjob.h).
 *
 * Memory: rowjob_rel_init allocates the relation's names, columns and key
 * indexes once; rowjob_build allocates nothing but a growing composite-key
 * buffer (a JsonBuf: the escaping is json_row.c's).
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_row.h"
#include "rowjob.h"

#define EXTENSION_SCHEMA "wal2queue"

char
rowjob_kind_of_type(uint32_t typoid)
{
	switch (typoid)
	{
		case 20:				/* int8 */
		case 21:				/* int2 */
		case 23:				/* int4 */
		case 700:				/* float4 */
		case 701:				/* float8 */
		case 1700:				/* numeric */
			return W2Q_KIND_NUMBER;
		case 16:				/* bool */
			return W2Q_KIND_BOOL;
		case 114:				/* json */
		case 3802:				/* jsonb */
			return W2Q_KIND_JSON;
		default:
			return W2Q_KIND_TEXT;
	}
}

/* a column named name (as the plugin's column_index), or -1 */
static int
column_named(const FrameRelation *rel, const char *name)
{
	size_t		n = strlen(name);
	uint32_t	i;

	for (i = 0; i < rel->ncols; i++)
		if (rel->cols[i].name.len == n && memcmp(rel->cols[i].name.data, name, n) == 0)
			return (int) i;
	return -1;
}

/*
 * The primary key of a relation as the caller read it from the catalog
 * (rows read with SELECT, where the catalog is the rows'), in index order,
 * as the plugin keys it: none for a table without one; false if the
 * relation is unknown.  A key column the relation lacks gives no key
 * (never a partial one).  The pgoutput decoder passes no keys: a streamed
 * row is keyed by its Relation message alone (pgoutput.c).
 */
static bool
catalog_key(RowjobRel *rr, const RowjobKeys *keys)
{
	uint32_t	i;
	uint32_t	j;

	for (i = 0; keys && i < keys->n; i++)
	{
		const char *name = keys->names[i];

		if (keys->relids[i] != rr->rel.relid)
			continue;
		for (j = 0; j < keys->ncols[i]; j++, name += strlen(name) + 1)
		{
			int			c = column_named(&rr->rel, name);

			if (c < 0)
			{
				rr->nkeys = 0;
				return true;
			}
			rr->keys[rr->nkeys++] = (uint32_t) c;
		}
		return true;
	}
	return false;
}

/* selection, route and key columns of a freshly described relation */
static void
select_columns(RowjobRel *rr, const RowjobConfig *cfg, const RowjobColumn *cols,
			   const char *schema, const char *table)
{
	const TablePatterns *pats = cfg ? cfg->tables : NULL;
	uint32_t	i;
	int			k;

	/* as the plugin: without --tables, every table but the extension's */
	rr->include = tablematch_match(pats, schema, table) &&
		((pats && pats->n > 0) || strcmp(schema, EXTENSION_SCHEMA) != 0);
	rr->route = cfg && cfg->route_column ? column_named(&rr->rel, cfg->route_column) : -1;
	rr->nkeys = 0;
	if (cfg && cfg->key_column && (k = column_named(&rr->rel, cfg->key_column)) >= 0)
	{
		rr->keys[rr->nkeys++] = (uint32_t) k;
		return;
	}
	if (cfg && catalog_key(rr, cfg->keys))
		return;
	for (i = 0; i < rr->rel.ncols; i++)
		if (cols[i].key)
			rr->keys[rr->nkeys++] = i;
}

/*
 * The strings are laid out as "schema.table\0schema\0table\0col\0col\0...".
 */
int
rowjob_rel_init(RowjobRel *rr, const RowjobConfig *cfg, uint32_t relid,
				FrameBytes schema, FrameBytes table, uint32_t ncols,
				const RowjobColumn *cols)
{
	size_t		total = 2 * ((size_t) schema.len + table.len) + 4;
	size_t		n = ncols ? ncols : 1;
	const char *sch;
	const char *tab;
	char	   *s;
	uint32_t	i;

	memset(rr, 0, sizeof(*rr));
	for (i = 0; i < ncols; i++)
		total += (size_t) cols[i].name.len + 1;
	rr->strings = malloc(total);
	rr->rel.cols = calloc(n, sizeof(FrameColumn));
	rr->keys = calloc(n, sizeof(uint32_t));
	if (rr->strings == NULL || rr->rel.cols == NULL || rr->keys == NULL)
	{
		rowjob_rel_free(rr);
		return FRAME_NOMEM;
	}
	rr->rel.relid = relid;
	rr->rel.ncols = ncols;
	s = rr->strings;
	rr->rel.name.data = s;
	rr->rel.name.len = schema.len + 1 + table.len;
	s += sprintf(s, "%.*s.%.*s", (int) schema.len, schema.data,
				 (int) table.len, table.data) + 1;
	sch = s;
	s += sprintf(s, "%.*s", (int) schema.len, schema.data) + 1;
	tab = s;
	s += sprintf(s, "%.*s", (int) table.len, table.data) + 1;
	for (i = 0; i < ncols; i++)
	{
		memcpy(s, cols[i].name.data, cols[i].name.len);
		s[cols[i].name.len] = '\0';
		rr->rel.cols[i].name.data = s;
		rr->rel.cols[i].name.len = cols[i].name.len;
		rr->rel.cols[i].kind = cols[i].kind ? cols[i].kind
			: rowjob_kind_of_type(cols[i].typoid);
		s += cols[i].name.len + 1;
	}
	select_columns(rr, cfg, cols, sch, tab);
	return FRAME_OK;
}

void
rowjob_rel_free(RowjobRel *rr)
{
	free(rr->strings);
	free(rr->rel.cols);
	free(rr->keys);
	rr->strings = NULL;
	rr->rel.cols = NULL;
	rr->keys = NULL;
}

/* v as a JSON string, escaped as PostgreSQL's escape_json (or null) */
static int
key_append_json(JsonBuf *buf, const FrameValue *v)
{
	if (v->isnull)
		return json_append_raw(buf, "null", 4);
	return json_append_string(buf, v->data.data, v->data.len);
}

/*
 * The key as the plugin writes it (FORMAT.md): one column's text, or for a
 * composite key the text of a JSON array of the columns' texts, NULL as
 * null; no key for a NULL single-column key.
 */
static int
row_key(const RowjobRel *rr, const FrameValue *values, RowjobBuf *buf,
		FrameJob *job)
{
	uint32_t	i;

	job->has_key = false;
	if (rr->nkeys == 0)
		return FRAME_OK;
	if (rr->nkeys == 1)
	{
		const FrameValue *v = &values[rr->keys[0]];

		job->has_key = !v->isnull;
		job->key = v->data;
		return FRAME_OK;
	}
	json_buf_reset(buf);
	for (i = 0; i < rr->nkeys; i++)
		if (json_append_raw(buf, i == 0 ? "[" : ",", 1) != 0 ||
			key_append_json(buf, &values[rr->keys[i]]) != 0)
			return FRAME_NOMEM;
	if (json_append_raw(buf, "]", 1) != 0 || buf->len > UINT32_MAX)
		return FRAME_NOMEM;
	job->has_key = true;
	job->key.data = buf->data;
	job->key.len = (uint32_t) buf->len;
	return FRAME_OK;
}

int
rowjob_build(const RowjobRel *rr, const FrameValue *values, RowjobBuf *buf,
			 FrameJob *job)
{
	memset(job, 0, sizeof(*job));
	job->rel = &rr->rel;
	job->values = values;
	job->target = rr->rel.name;
	/* an empty route value, like NULL, leaves the default target (the plugin's rule) */
	if (rr->route >= 0 && !values[rr->route].isnull && values[rr->route].data.len > 0)
		job->target = values[rr->route].data;
	return row_key(rr, values, buf, job);
}

void
rowjob_keys_clear(RowjobKeys *keys)
{
	uint32_t	i;

	for (i = 0; i < keys->n; i++)
		free(keys->names[i]);
	free(keys->relids);
	free(keys->ncols);
	free(keys->names);
	memset(keys, 0, sizeof(*keys));
}

bool
rowjob_keys_add(RowjobKeys *keys, uint32_t relid, uint32_t n, const char *const *names)
{
	size_t		len = 1;
	uint32_t	i;
	char	   *p;

	if (keys->n == keys->cap)
	{
		uint32_t	cap = keys->cap ? keys->cap * 2 : 16;
		uint32_t   *r = realloc(keys->relids, cap * sizeof(uint32_t));
		uint32_t   *c = r ? realloc(keys->ncols, cap * sizeof(uint32_t)) : NULL;
		char	  **s = c ? realloc(keys->names, cap * sizeof(char *)) : NULL;

		if (r)
			keys->relids = r;
		if (c)
			keys->ncols = c;
		if (s == NULL)
			return false;
		keys->names = s;
		keys->cap = cap;
	}
	for (i = 0; i < n; i++)
		len += strlen(names[i]) + 1;
	if ((p = malloc(len)) == NULL)
		return false;
	keys->relids[keys->n] = relid;
	keys->ncols[keys->n] = n;
	keys->names[keys->n++] = p;
	for (i = 0; i < n; i++)
		p = stpcpy(p, names[i]) + 1;
	return true;
}
