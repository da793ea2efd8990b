/*-------------------------------------------------------------------------
 *
 * rowjob.h
 *		One row of a relation into the FrameJob the sinks take, with the
 *		plugin's rules (plugin/FORMAT.md), for any source of rows: the
 *		pgoutput decoder (pgoutput.c) and rows read with SELECT.
 *
 * Nothing here knows a wire format.  A caller describes a relation once
 * (rowjob_rel_init: schema, table, column names, type OIDs or kinds, the
 * key columns its source flags) and then turns each row of text values
 * into a job (rowjob_build).  The rules applied are the plugin's:
 *
 *	- selection: --tables patterns; with none, every table but those of the
 *	  schema "wal2queue" (the extension's own);
 *	- target: the --route-column value when it is neither NULL nor empty,
 *	  else "schema.table";
 *	- key: the --key-column if the relation has it, else the catalog's
 *	  primary key (RowjobKeys, index order) if the caller read it for the
 *	  relid (rows read with SELECT), else the columns the caller flagged,
 *	  in table order (pgoutput: the replica identity flags of the Relation
 *	  message, counted only under REPLICA IDENTITY DEFAULT, pgoutput.c).
 *	  One column: its text (no key when NULL);
 *	  several: the text of a JSON array of their texts, NULL as null,
 *	  escaped as PostgreSQL's escape_json;
 *	- kinds: int2/4/8, float4/8, numeric are numbers, bool is bool,
 *	  json/jsonb are JSON, every other type text (a domain: its base type's
 *	  kind, which the caller resolves and passes as the column's kind).
 *
 * Usage (a SELECT of public.jobs (id bigint, queue text), key id):
 *
 *	RowjobColumn cols[2] = {{{"id", 2}, 20, 0, true}, {{"queue", 5}, 25, 0, false}};
 *	RowjobRel	rr;
 *	RowjobBuf	buf = {0};
 *	FrameJob	job;
 *
 *	rowjob_rel_init(&rr, &cfg, relid, (FrameBytes) {"public", 6},
 *					(FrameBytes) {"jobs", 4}, 2, cols);
 *	if (rr.include)
 *		for each row: values[i] = {isnull, {text, len}};
 *			rowjob_build(&rr, values, &buf, &job); job.seq = n++; hand on
 *	rowjob_rel_free(&rr); rowjob_buf_free(&buf);
 *
 * The job points into rr, values and buf: valid until the next
 * rowjob_build with the same buf, or until rr or values change.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_ROWJOB_H
#define W2Q_ROWJOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "json_row.h"
#include "tablematch.h"

/*
 * Primary keys (DEFERRABLE ones too), columns in index order, as the plugin
 * takes them, read from the catalog by a caller whose rows are read from the
 * same catalog (the backfill's SELECT, backfill_sql.c).
 */
typedef struct RowjobKeys
{
	uint32_t	n;
	uint32_t	cap;
	uint32_t   *relids;
	uint32_t   *ncols;
	char	  **names;			/* per table: ncols names, each NUL-terminated */
} RowjobKeys;

/* what the plugin would have been told */
typedef struct RowjobConfig
{
	const TablePatterns *tables;	/* NULL or n == 0: every table but wal2queue.* */
	const char *route_column;	/* NULL: none */
	const char *key_column;		/* NULL: the primary key */
	const RowjobKeys *keys;		/* NULL: the flagged columns */
} RowjobConfig;

/* one column, as the caller knows it */
typedef struct RowjobColumn
{
	FrameBytes	name;			/* need not be NUL-terminated */
	uint32_t	typoid;			/* the column's type OID */
	char		kind;			/* W2Q_KIND_*, or 0: rowjob_kind_of_type(typoid) */
	bool		key;			/* a key column by the source (replica identity) */
} RowjobColumn;

/* a described relation: what the sinks see, and how its rows become jobs */
typedef struct RowjobRel
{
	FrameRelation rel;			/* relid, "schema.table", columns and kinds */
	bool		include;		/* selected by --tables */
	int			route;			/* column index, or -1 */
	uint32_t	nkeys;
	uint32_t   *keys;			/* column indexes */
	char	   *strings;		/* every name of rel */
} RowjobRel;

/* scratch for composite keys, reused across rows (start with {0}) */
typedef JsonBuf RowjobBuf;

/* the plugin's kind of a built-in type OID (W2Q_KIND_TEXT if not typed) */
extern char rowjob_kind_of_type(uint32_t typoid);

/*
 * Describe a relation (cfg may be NULL: every table but wal2queue.*, no
 * route, the flagged key).  Copies every name.  Returns FRAME_OK, or
 * FRAME_NOMEM with rr left empty (rowjob_rel_free is still safe).
 */
extern int	rowjob_rel_init(RowjobRel *rr, const RowjobConfig *cfg, uint32_t relid,
							FrameBytes schema, FrameBytes table, uint32_t ncols,
							const RowjobColumn *cols);
extern void rowjob_rel_free(RowjobRel *rr);

/*
 * One row (rr->rel.ncols values) into *job: rel, values, target, key;
 * seq is left 0 for the caller to number, is_message false.  Whether the
 * relation is selected at all is rr->include (the caller skips the row
 * when false).  Returns FRAME_OK, or FRAME_NOMEM (composite key).
 */
extern int	rowjob_build(const RowjobRel *rr, const FrameValue *values,
						 RowjobBuf *buf, FrameJob *job);

static inline void
rowjob_buf_free(RowjobBuf *buf)
{
	json_buf_free(buf);
}

/* forget every key; add one table's (names: n NUL-terminated strings) */
extern void rowjob_keys_clear(RowjobKeys *keys);
extern bool rowjob_keys_add(RowjobKeys *keys, uint32_t relid, uint32_t n,
							const char *const *names);

#endif							/* W2Q_ROWJOB_H */
