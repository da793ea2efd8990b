/*-------------------------------------------------------------------------
 *
 * backfill_sql.c
 *		Catalog queries for the backfill: the tables it reads, their keys,
 *		and what it refuses (the pages themselves: backfill_keyset.c).
 *
 * The tables are those the stream delivers: ordinary and partitioned
 * tables (partitions under their root), system schemas and the extension's
 * schema left out, selected by --tables, and with pgoutput those of the
 * publication.  Each is read by its primary key, or else its replica
 * identity index (its key columns, in its collations and opclasses), in
 * pages of "WHERE (condition) AND (k1, k2) OPERATOR(pg_catalog.>) ($1::T1,
 * $2::T2) ORDER BY k1 USING <, k2 USING < LIMIT n": every page is an index
 * range, memory is one page whatever the table's size.  Every name is
 * looked up in pg_catalog alone (BF_SAFE_SETTINGS), the key's operators in
 * their own schema, the key cast to its base type, and a table whose key
 * type holds a domain's CHECK or whose indexes or constraints call another
 * role's function is refused: the backfill's SQL runs no code of another
 * role (test/t/432, 433, 480, 482, 512).
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backfill_sql.h"
#include "errbuf.h"

#define TABLES_SQL \
	"SELECT c.oid, format('%I.%I', n.nspname, c.relname), n.nspname, c.relname, " \
	"c.relkind = 'p', CASE WHEN c.relkind = 'p' THEN (SELECT coalesce(sum(greatest(p.reltuples, 0)), 0) " \
	"  FROM pg_catalog.pg_partition_tree(c.oid) t " \
	"  JOIN pg_catalog.pg_class p ON p.oid = t.relid) ELSE greatest(c.reltuples, 0) END " \
	"FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace " \
	"WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition " \
	"AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' " \
	"AND n.nspname <> 'wal2queue' " \
	"AND ($1::text IS NULL OR c.oid IN (SELECT format('%I.%I', schemaname, tablename)::regclass " \
	"  FROM pg_catalog.pg_publication_tables WHERE pubname = $1)) " \
	"ORDER BY 2"

/*
 * columns, with the kind's type (a domain's base type); with pgoutput ($2 its
 * publication) not the stored generated ones, which PG 15's pgoutput leaves
 * out of its rows: a backfilled job has the fields of a streamed one
 */
#define COLUMNS_SQL \
	"SELECT a.attname, CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END " \
	"FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid " \
	"WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped " \
	"AND ($2::text IS NULL OR a.attgenerated = '') ORDER BY a.attnum"

/*
 * the primary key, else the replica identity index: its key columns
 * (indnkeyatts: not a covering index's INCLUDE columns, as relinfo.c and
 * publication.c) in index order; the key's identity (attnum, type oid, the
 * INDEX's collation oid) for the keydef, the names only for people (a
 * search_path or a RENAME changes them).  For the pages, each key's base
 * type (a domain's, recursively: a cast to a domain would run its CHECK,
 * code of the domain's owner); the ">", "=" and "<" of the index's own
 * opclass (indclass) and " COLLATE schema.name" of its collation
 * (indcollation): the pages are read in the index's order (test/t/486),
 * operators written OPERATOR(schema.name), looked up in that schema alone.
 * Column 11: a domain with a CHECK constraint inside the base type (an
 * array's element, a composite's attribute, a range's subtype), which
 * the saved key's cast would run: such a key is refused (test/t/480)
 */
#define KEY_SQL \
	"SELECT a.attname, pg_catalog.format_type(b.base, b.mod), i.indisprimary, " \
	"  pg_catalog.format('%I %s%s (type %s, collation %s)', a.attname, " \
	"  pg_catalog.format_type(a.atttypid, NULL), CASE WHEN k.coll <> 0 " \
	"  THEN ' COLLATE ' || pg_catalog.quote_ident(co.collname) ELSE '' END, " \
	"  a.atttypid, k.coll), a.attnum, a.atttypid, k.coll, " \
	"  coalesce(op.gt, 'OPERATOR(pg_catalog.>)'), coalesce(op.eq, 'OPERATOR(pg_catalog.=)'), " \
	"  coalesce(op.lt, 'OPERATOR(pg_catalog.<)'), CASE WHEN k.coll <> 0 " \
	"  THEN pg_catalog.format(' COLLATE %I.%I', cn.nspname, co.collname) ELSE '' END, " \
	"  (WITH RECURSIVE w(t) AS (SELECT b.base UNION " \
	"  SELECT s.t FROM w JOIN pg_catalog.pg_type y ON y.oid = w.t CROSS JOIN LATERAL (" \
	"    SELECT y.typbasetype WHERE y.typtype = 'd' UNION ALL SELECT y.typelem WHERE y.typelem <> 0 " \
	"    UNION ALL SELECT at.atttypid FROM pg_catalog.pg_attribute at WHERE y.typrelid <> 0 " \
	"      AND at.attrelid = y.typrelid AND at.attnum > 0 AND NOT at.attisdropped " \
	"    UNION ALL SELECT r.rngsubtype FROM pg_catalog.pg_range r WHERE r.rngtypid = y.oid " \
	"    UNION ALL SELECT r.rngtypid FROM pg_catalog.pg_range r WHERE r.rngmultitypid = y.oid) s(t)) " \
	"   SELECT pg_catalog.format_type(z.oid, NULL) FROM w JOIN pg_catalog.pg_type z ON z.oid = w.t " \
	"   WHERE z.typtype = 'd' AND EXISTS (SELECT 1 FROM pg_catalog.pg_constraint x " \
	"     WHERE x.contypid = z.oid AND x.contype = 'c') ORDER BY z.oid LIMIT 1) " \
	"FROM (SELECT indrelid, indkey, indclass, indcollation, indnkeyatts, indisprimary " \
	"      FROM pg_catalog.pg_index WHERE indrelid = $1 " \
	"      AND (indisprimary OR indisreplident) ORDER BY indisprimary DESC LIMIT 1) i " \
	"CROSS JOIN LATERAL unnest(i.indkey::int2[], i.indclass::oid[], i.indcollation::oid[]) " \
	"  WITH ORDINALITY k(attnum, cls, coll, ord) " \
	"JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum " \
	"LEFT JOIN pg_catalog.pg_collation co ON co.oid = k.coll " \
	"LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace " \
	"CROSS JOIN LATERAL (WITH RECURSIVE d(t, mod, n) AS (SELECT a.atttypid, a.atttypmod, 0 " \
	"  UNION ALL SELECT y.typbasetype, y.typtypmod, d.n + 1 FROM d " \
	"  JOIN pg_catalog.pg_type y ON y.oid = d.t WHERE y.typtype = 'd') " \
	"  SELECT d.t AS base, d.mod FROM d ORDER BY d.n DESC LIMIT 1) b " \
	"LEFT JOIN LATERAL (SELECT pg_catalog.max(s.f) FILTER (WHERE s.st = 5) AS gt, " \
	"  pg_catalog.max(s.f) FILTER (WHERE s.st = 3) AS eq, " \
	"  pg_catalog.max(s.f) FILTER (WHERE s.st = 1) AS lt " \
	"  FROM (SELECT am.amopstrategy AS st, " \
	"    pg_catalog.format('OPERATOR(%I.%s)', n.nspname, o.oprname) AS f " \
	"    FROM pg_catalog.pg_opclass oc " \
	"    JOIN pg_catalog.pg_amop am ON am.amopfamily = oc.opcfamily " \
	"      AND am.amoplefttype = oc.opcintype AND am.amoprighttype = oc.opcintype " \
	"      AND am.amopstrategy IN (1, 3, 5) " \
	"    JOIN pg_catalog.pg_operator o ON o.oid = am.amopopr " \
	"    JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace " \
	"    WHERE oc.oid = k.cls) s) op ON true " \
	"WHERE k.ord <= i.indnkeyatts " \
	"ORDER BY k.ord"

/*
 * Code the planner runs when a page of table $1 is planned, as the bridge's
 * role: the functions (directly, or an operator's) that the expressions
 * and predicates of its indexes, its CHECK constraints and the expressions
 * of its extended statistics (pg_statistic_ext.stxexprs, simplified by
 * get_relation_statistics() once the owner has run ANALYZE) depend on, its
 * partitions' included, owned by a role that is neither a superuser nor
 * the bridge's (test/t/482, 512): the first, as "index m.jobs_tag calls
 * m.tag(integer), owned by mallory".  Nothing else of the table is
 * evaluated by a page: column defaults and generated columns are not
 * (SELECT); policies are not (row_security = off: a bridge subject to one
 * gets an error, bf_read_hint()); a partition key cannot hold an
 * expression on a table with a primary key or replica identity index,
 * which the backfill needs; triggers and rules do not fire on SELECT.
 */
#define OWNER_CODE_SQL \
	"WITH rels AS (SELECT $1::pg_catalog.regclass AS relid UNION " \
	"  SELECT t.relid FROM pg_catalog.pg_partition_tree($1) t), " \
	"objs AS (SELECT 'pg_catalog.pg_class'::pg_catalog.regclass AS cls, i.indexrelid AS oid, " \
	"    i.indexrelid::pg_catalog.regclass::text AS name, 'index' AS kind " \
	"  FROM pg_catalog.pg_index i JOIN rels ON i.indrelid = rels.relid " \
	"  UNION ALL SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass, x.oid, " \
	"    pg_catalog.format('%s of %s', pg_catalog.quote_ident(x.conname), x.conrelid::pg_catalog.regclass), " \
	"    'constraint' FROM pg_catalog.pg_constraint x JOIN rels ON x.conrelid = rels.relid " \
	"  UNION ALL SELECT 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass, s.oid, " \
	"    pg_catalog.format('%I.%I', sn.nspname, s.stxname), 'statistics object' " \
	"  FROM pg_catalog.pg_statistic_ext s JOIN rels ON s.stxrelid = rels.relid " \
	"  JOIN pg_catalog.pg_namespace sn ON sn.oid = s.stxnamespace), " \
	"procs AS (SELECT o.kind, o.name, CASE WHEN d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass " \
	"    THEN d.refobjid ELSE (SELECT op.oprcode::pg_catalog.oid FROM pg_catalog.pg_operator op " \
	"    WHERE op.oid = d.refobjid) END AS proc " \
	"  FROM objs o JOIN pg_catalog.pg_depend d ON d.classid = o.cls AND d.objid = o.oid " \
	"  WHERE d.refclassid IN ('pg_catalog.pg_proc'::pg_catalog.regclass, " \
	"    'pg_catalog.pg_operator'::pg_catalog.regclass)) " \
	"SELECT pg_catalog.format('%s %s calls %s, owned by %I', c.kind, c.name, " \
	"  p.oid::pg_catalog.regprocedure, r.rolname) " \
	"FROM procs c JOIN pg_catalog.pg_proc p ON p.oid = c.proc " \
	"JOIN pg_catalog.pg_roles r ON r.oid = p.proowner " \
	"WHERE NOT r.rolsuper AND r.rolname <> current_user ORDER BY 1 LIMIT 1"

const char *
bf_read_hint(const char *server_message)
{
	if (server_message == NULL || strstr(server_message, "row-level security") == NULL)
		return "";
	return "; the backfill reads with row_security = off so that a policy cannot hide rows from it: "
		"run the bridge as a role with BYPASSRLS, or as the table's owner with the table not set to "
		"FORCE ROW LEVEL SECURITY (docs/operations.md, \"Backfill\")";
}

const char *
bf_condition_hint(const char *sqlstate)
{
	/* undefined_function, _object, _table, _column; invalid_schema_name */
	static const char *const codes[] = {"42883", "42704", "42P01", "3F000", NULL};

	for (int i = 0; sqlstate && codes[i]; i++)
		if (strcmp(sqlstate, codes[i]) == 0)
			return "; the backfill reads with search_path = pg_catalog, pg_temp (so that no "
				"code of another role runs as the bridge's): write the names of functions, "
				"types, operators and tables of your schemas in a condition schema-qualified, "
				"e.g. app.is_due(run_at) (docs/operations.md, \"Backfill\")";
	return "";
}

static int
query_failed(PGconn *conn, PGresult *res, const char *what, char *err, size_t errlen)
{
	errbuf_set(err, errlen, -1, "could not read %s: %s", what,
			   res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
	PQclear(res);
	return -1;
}

/*
 * The jobs' shape (rowjob.c): the key is the primary key (index order);
 * without one, the plugin's jobs have none and pgoutput's the replica
 * identity, which pages are read by in both cases.
 */
static int
describe(BfTable *t, const BfSelect *sel, uint32_t relid, const char *schema,
		 const char *table, uint32_t *typoids, bool primary)
{
	RowjobColumn *cols = calloc(t->ncols + 1, sizeof(RowjobColumn));
	RowjobKeys	keys = {0};
	RowjobConfig cfg = {NULL, sel->route_column, sel->key_column, &keys};
	const char *names[W2Q_MAX_COLUMNS];
	int			rc = FRAME_NOMEM;

	free(t->typoids);
	if ((t->typoids = calloc(t->ncols + 1, sizeof(uint32_t))) == NULL)
	{
		free(cols);
		return -1;
	}
	for (uint32_t c = 0; cols && c < t->ncols; c++)
	{
		t->typoids[c] = typoids[c];
		cols[c].name.data = t->colnames[c];
		cols[c].name.len = (uint32_t) strlen(t->colnames[c]);
		cols[c].typoid = typoids[c];
		for (int k = 0; k < t->nkeys && !primary && sel->publication; k++)
			cols[c].key |= t->keycols[k] == (int) c;
	}
	for (int k = 0; k < t->nkeys && k < W2Q_MAX_COLUMNS; k++)
		names[k] = t->colnames[t->keycols[k]];
	if (cols && (!primary || rowjob_keys_add(&keys, relid, (uint32_t) t->nkeys, names)))
		rc = rowjob_rel_init(&t->rr, &cfg, relid, (FrameBytes) {schema, (uint32_t) strlen(schema)},
							 (FrameBytes) {table, (uint32_t) strlen(table)}, t->ncols, cols);
	rowjob_keys_clear(&keys);
	free(cols);
	return rc == FRAME_OK ? 0 : -1;
}

/*
 * From KEY_SQL's rows: t's key columns (indexes into its n columns), their
 * types for the casts, and its keydef (BfTable.keydef); NULL or -1 left
 * where out of memory or a name not found
 */
static void
key_defs(PGresult *res, BfTable *t, int n)
{
	char	   *ids;

	t->keydef = strdup("");
	ids = strdup(BF_KEYDEF_TAG);
	for (int k = 0; t->keycols && t->keytypes && t->keyops && t->keyeqs && t->keylts &&
		 t->keycolls && k < t->nkeys; k++)
	{
		char	   *def = NULL;

		t->keycols[k] = -1;
		for (int i = 0; i < n; i++)
			if (strcmp(t->colnames[i], PQgetvalue(res, k, 0)) == 0)
				t->keycols[k] = i;
		t->keytypes[k] = strdup(PQgetvalue(res, k, 1));
		t->keyops[k] = strdup(PQgetvalue(res, k, 7));
		t->keyeqs[k] = strdup(PQgetvalue(res, k, 8));
		t->keylts[k] = strdup(PQgetvalue(res, k, 9));
		t->keycolls[k] = strdup(PQgetvalue(res, k, 10));
		if (t->keydef && asprintf(&def, "%s%s%s", t->keydef, k ? ", " : "",
								  PQgetvalue(res, k, 3)) < 0)
			def = NULL;
		free(t->keydef);
		t->keydef = def;
		def = NULL;
		if (ids && asprintf(&def, "%s%s%s:%s:%s", ids, k ? "," : "", PQgetvalue(res, k, 4),
							PQgetvalue(res, k, 5), PQgetvalue(res, k, 6)) < 0)
			def = NULL;
		free(ids);
		ids = def;
	}
	if (t->keydef)
	{
		char	   *def = NULL;

		if (ids == NULL || asprintf(&def, "%s; %s", ids, t->keydef) < 0)
			def = NULL;
		free(t->keydef);
		t->keydef = def;
	}
	free(ids);
}

/*
 * Is a key column's type one whose saved key's cast would run a domain's
 * CHECK (KEY_SQL's column 11: a domain inside an array, composite or
 * range, which no cast to a base type avoids: "$1::int[]" does not compare
 * with a d[] column)?  Then the table is refused before anything is sent.
 */
static bool
key_refused(PGresult *res, const BfTable *t, char *err, size_t errlen)
{
	for (int k = 0; k < t->nkeys; k++)
		if (!PQgetisnull(res, k, 11))
		{
			errbuf_set(err, errlen, -1,
					   "cannot backfill table %s: its key column %s has type %s, which contains "
					   "domain %s with a CHECK constraint: reading the saved key as that type "
					   "would run the domain's code as the bridge's role; leave the table out "
					   "(--tables) or key it by a column without such a domain "
					   "(docs/operations.md, \"Backfill\")",
					   t->name, PQgetvalue(res, k, 0), PQgetvalue(res, k, 1),
					   PQgetvalue(res, k, 11));
			return true;
		}
	return false;
}

/*
 * Does planning a page of t run code of another role (OWNER_CODE_SQL)?
 * Then t is refused before anything is sent: 1, err set; -1 an error
 */
static int
owner_code(PGconn *conn, const char *oid, const BfTable *t, char *err, size_t errlen)
{
	const char *params[1] = {oid};
	PGresult   *res = PQexecParams(conn, OWNER_CODE_SQL, 1, NULL, params, NULL, NULL, 0);
	int			found;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return query_failed(conn, res, "the functions of a table's indexes and statistics", err, errlen);
	found = PQntuples(res) > 0;
	if (found)
		errbuf_set(err, errlen, 0,
				   "cannot backfill table %s: its %s: planning a page of the table runs that "
				   "function as the bridge's role; run the bridge as that role (or a superuser "
				   "owns the function), or leave the table out (--tables) "
				   "(docs/operations.md, \"Backfill\")", t->name, PQgetvalue(res, 0, 0));
	PQclear(res);
	return found;
}

/* a table's columns and key */
static int
load_table(PGconn *conn, const BfSelect *sel, const char *oid, const char *schema,
		   const char *table, BfTable *t, char *err, size_t errlen)
{
	uint32_t   *typoids;
	bool		primary;
	const char *params[2] = {oid, sel->publication};
	PGresult   *res = PQexecParams(conn, COLUMNS_SQL, 2, NULL, params, NULL, NULL, 0);
	int			n;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return query_failed(conn, res, "the columns of a table", err, errlen);
	n = PQntuples(res);
	t->ncols = (uint32_t) n;
	t->colnames = calloc(n + 1, sizeof(char *));
	typoids = calloc(n + 1, sizeof(uint32_t));
	for (int i = 0; t->colnames && typoids && i < n; i++)
	{
		if ((t->colnames[i] = strdup(PQgetvalue(res, i, 0))) == NULL)
			break;
		typoids[i] = (uint32_t) strtoul(PQgetvalue(res, i, 1), NULL, 10);
	}
	PQclear(res);
	if (t->colnames == NULL || typoids == NULL || (n > 0 && t->colnames[n - 1] == NULL))
	{
		free(typoids);
		return errbuf_set(err, errlen, -1, "out of memory");
	}

	if (owner_code(conn, oid, t, err, errlen) != 0)
	{
		free(typoids);
		return -1;
	}
	res = PQexecParams(conn, KEY_SQL, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		free(typoids);
		return query_failed(conn, res, "the key of a table", err, errlen);
	}
	t->nkeys = PQntuples(res);
	primary = t->nkeys > 0 && PQgetvalue(res, 0, 2)[0] == 't';
	if (t->nkeys == 0)
	{
		free(typoids);
		PQclear(res);
		return errbuf_set(err, errlen, -1,
						  "cannot backfill table %s: it has neither a primary key nor a replica "
						  "identity index to read it in key order; add one, or leave the table "
						  "out (--tables)", t->name);
	}
	t->keycols = calloc(t->nkeys, sizeof(int));
	t->keytypes = calloc(t->nkeys, sizeof(char *));
	t->keyops = calloc(t->nkeys, sizeof(char *));
	t->keyeqs = calloc(t->nkeys, sizeof(char *));
	t->keylts = calloc(t->nkeys, sizeof(char *));
	t->keycolls = calloc(t->nkeys, sizeof(char *));
	t->primary = primary;
	if (key_refused(res, t, err, errlen))
	{
		free(typoids);
		PQclear(res);
		return -1;
	}
	key_defs(res, t, n);
	PQclear(res);
	for (int k = 0; k < t->nkeys; k++)
		if (t->keycols == NULL || t->keytypes == NULL || t->keyops == NULL ||
			t->keyeqs == NULL || t->keylts == NULL || t->keycolls == NULL ||
			t->keycols[k] < 0 || t->keytypes[k] == NULL || t->keyops[k] == NULL ||
			t->keyeqs[k] == NULL || t->keylts[k] == NULL || t->keycolls[k] == NULL ||
			t->keydef == NULL)
		{
			free(typoids);
			return errbuf_set(err, errlen, -1, "could not read the key of table %s", t->name);
		}
	n = describe(t, sel, (uint32_t) strtoul(oid, NULL, 10), schema, table, typoids, primary);
	free(typoids);
	return n == 0 ? 0 : errbuf_set(err, errlen, -1, "out of memory");
}

int
bf_tables_load(PGconn *conn, const BfSelect *sel, BfTables *out,
			   char *err, size_t errlen)
{
	const char *params[1] = {sel->publication};
	PGresult   *res = PQexecParams(conn, TABLES_SQL, 1, NULL, params, NULL, NULL, 0);
	int			n;

	memset(out, 0, sizeof(*out));
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return query_failed(conn, res, "the tables to backfill", err, errlen);
	n = PQntuples(res);
	if ((out->t = calloc(n + 1, sizeof(BfTable))) == NULL)
	{
		PQclear(res);
		return errbuf_set(err, errlen, -1, "out of memory");
	}
	for (int i = 0; i < n; i++)
	{
		BfTable    *t = &out->t[out->n];

		if (sel->patterns && !tablematch_match(sel->patterns, PQgetvalue(res, i, 2),
											   PQgetvalue(res, i, 3)))
			continue;
		out->n++;
		t->qname = strdup(PQgetvalue(res, i, 1));
		if (asprintf(&t->name, "%s.%s", PQgetvalue(res, i, 2), PQgetvalue(res, i, 3)) < 0)
			t->name = NULL;
		t->oid = (uint32_t) strtoul(PQgetvalue(res, i, 0), NULL, 10);
		t->partitioned = PQgetvalue(res, i, 4)[0] == 't';
		t->reltuples = strtod(PQgetvalue(res, i, 5), NULL);
		if (t->qname == NULL || t->name == NULL)
		{
			PQclear(res);
			return errbuf_set(err, errlen, -1, "out of memory");
		}
		if (load_table(conn, sel, PQgetvalue(res, i, 0), PQgetvalue(res, i, 2),
					   PQgetvalue(res, i, 3), t, err, errlen) != 0)
		{
			PQclear(res);
			return -1;
		}
	}
	PQclear(res);
	return 0;
}

void
bf_tables_free(BfTables *ts)
{
	for (int i = 0; ts->t && i < ts->n; i++)
	{
		BfTable    *t = &ts->t[i];

		for (uint32_t c = 0; t->colnames && c < t->ncols; c++)
			free(t->colnames[c]);
		rowjob_rel_free(&t->rr);
		for (int k = 0; k < t->nkeys; k++)
		{
			if (t->keytypes)
				free(t->keytypes[k]);
			if (t->keyops)
				free(t->keyops[k]);
			if (t->keyeqs)
				free(t->keyeqs[k]);
			if (t->keylts)
				free(t->keylts[k]);
			if (t->keycolls)
				free(t->keycolls[k]);
		}
		free(t->colnames);
		free(t->typoids);
		free(t->keycols);
		free(t->keytypes);
		free(t->keyops);
		free(t->keyeqs);
		free(t->keylts);
		free(t->keycolls);
		free(t->keydef);
		free(t->qname);
		free(t->name);
	}
	free(ts->t);
	memset(ts, 0, sizeof(*ts));
}

int
bf_table_index(const BfTables *ts, const char *qname)
{
	for (int i = 0; i < ts->n; i++)
		if (strcmp(ts->t[i].qname, qname) == 0)
			return i;
	return -1;
}

int
bf_table_gone(PGconn *conn, const BfTables *ts, const char *qname, int *next,
			  char *err, size_t errlen)
{
	const char *params[2] = {qname, NULL};
	PGresult   *res = PQexecParams(conn, "SELECT pg_catalog.to_regclass($1) IS NOT NULL",
								   1, NULL, params, NULL, NULL, 0);
	int			exists;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return query_failed(conn, res, "whether a table exists", err, errlen);
	exists = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	/* TABLES_SQL's order: the text order of the %I.%I names */
	for (*next = 0; *next < ts->n; (*next)++)
	{
		params[1] = ts->t[*next].qname;
		res = PQexecParams(conn, "SELECT $2::text > $1::text", 2, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			return query_failed(conn, res, "the order of the tables", err, errlen);
		if (PQgetvalue(res, 0, 0)[0] == 't')
		{
			PQclear(res);
			break;
		}
		PQclear(res);
	}
	return exists;
}

int
bf_table_now(PGconn *conn, uint32_t oid, char *buf, size_t len, char *err, size_t errlen)
{
	char		num[16];
	const char *params[1] = {num};
	PGresult   *res;
	int			exists;

	snprintf(num, sizeof(num), "%u", (unsigned) oid);
	res = PQexecParams(conn, "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c "
					   "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::oid",
					   1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return query_failed(conn, res, "whether a table exists", err, errlen);
	exists = PQntuples(res) == 1;
	snprintf(buf, len, "%s", exists ? PQgetvalue(res, 0, 0) : "");
	PQclear(res);
	return exists;
}

int
bf_key_readable(PGconn *conn, const BfTable *t, char **after, char *err, size_t errlen)
{
	for (int k = 0; k < t->nkeys; k++)
	{
		const char *params[1] = {after[k]};
		char	   *sql;
		PGresult   *res;
		int			ok;

		if (after[k] == NULL)
			continue;
		if (asprintf(&sql, "SELECT $1::%s", t->keytypes[k]) < 0)
			return errbuf_set(err, errlen, -1, "out of memory");
		/* a savepoint: the reader's transaction goes on after a refusal */
		res = PQexec(conn, "SAVEPOINT bf_key");
		PQclear(res);
		res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
		free(sql);
		ok = PQresultStatus(res) == PGRES_TUPLES_OK;
		if (!ok)
			errbuf_set(err, errlen, 0, "%s", PQresultErrorMessage(res));
		PQclear(res);
		res = PQexec(conn, ok ? "RELEASE SAVEPOINT bf_key" : "ROLLBACK TO SAVEPOINT bf_key");
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			ok = query_failed(conn, res, "the saved key", err, errlen);
		else
			PQclear(res);
		if (ok <= 0)
			return ok;
	}
	return 1;
}
