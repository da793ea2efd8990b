/*-------------------------------------------------------------------------
 *
 * backfill_sql.c
 *		Catalog queries and keyset pages for the backfill.
 *
 * The tables are those the stream delivers: ordinary and partitioned
 * tables (partitions under their root), system schemas and the extension's
 * schema left out, selected by --tables, and with pgoutput those of the
 * publication.  Each is read by its primary key, or else its replica
 * identity index, in pages of "WHERE (condition) AND (k1, k2) > ($1, $2)
 * ORDER BY k1, k2 LIMIT n": every page is an index range, memory is one
 * page whatever the table's size.
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

/* columns, with the kind's type (a domain's base type) */
#define COLUMNS_SQL \
	"SELECT a.attname, CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END " \
	"FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid " \
	"WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"

/* the primary key, else the replica identity index: names in index order */
#define KEY_SQL \
	"SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) " \
	"FROM (SELECT indrelid, indkey FROM pg_catalog.pg_index WHERE indrelid = $1 " \
	"      AND (indisprimary OR indisreplident) ORDER BY indisprimary DESC LIMIT 1) i " \
	"CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord) " \
	"JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum " \
	"ORDER BY k.ord"

static char
kind_of(unsigned long typoid)
{
	switch (typoid)
	{
		case 20: case 21: case 23: case 700: case 701: case 1700:
			return W2Q_KIND_NUMBER;
		case 16:
			return W2Q_KIND_BOOL;
		case 114: case 3802:
			return W2Q_KIND_JSON;
		default:
			return W2Q_KIND_TEXT;
	}
}

static int
query_failed(PGconn *conn, PGresult *res, const char *what, char *err, size_t errlen)
{
	errbuf_set(err, errlen, -1, "could not read %s: %s", what,
			   res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
	PQclear(res);
	return -1;
}

/* a table's columns and key */
static int
load_table(PGconn *conn, const char *oid, BfTable *t, char *err, size_t errlen)
{
	const char *params[1] = {oid};
	PGresult   *res = PQexecParams(conn, COLUMNS_SQL, 1, NULL, params, NULL, NULL, 0);
	int			n;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return query_failed(conn, res, "the columns of a table", err, errlen);
	n = PQntuples(res);
	t->rel.ncols = (uint32_t) n;
	t->rel.cols = calloc(n + 1, sizeof(FrameColumn));
	t->colnames = calloc(n + 1, sizeof(char *));
	for (int i = 0; t->rel.cols && t->colnames && i < n; i++)
	{
		t->colnames[i] = strdup(PQgetvalue(res, i, 0));
		if (t->colnames[i] == NULL)
			break;
		t->rel.cols[i].name.data = t->colnames[i];
		t->rel.cols[i].name.len = (uint32_t) strlen(t->colnames[i]);
		t->rel.cols[i].kind = kind_of(strtoul(PQgetvalue(res, i, 1), NULL, 10));
	}
	PQclear(res);
	if (t->rel.cols == NULL || t->colnames == NULL || (n > 0 && t->colnames[n - 1] == NULL))
		return errbuf_set(err, errlen, -1, "out of memory");

	res = PQexecParams(conn, KEY_SQL, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return query_failed(conn, res, "the key of a table", err, errlen);
	t->nkeys = PQntuples(res);
	if (t->nkeys == 0)
	{
		PQclear(res);
		return errbuf_set(err, errlen, -1,
						  "cannot backfill table %s: it has neither a primary key nor a replica "
						  "identity index to read it in key order; add one, or leave the table "
						  "out (--tables)", t->name);
	}
	t->keycols = calloc(t->nkeys, sizeof(int));
	t->keytypes = calloc(t->nkeys, sizeof(char *));
	for (int k = 0; t->keycols && t->keytypes && k < t->nkeys; k++)
	{
		t->keycols[k] = -1;
		for (int i = 0; i < n; i++)
			if (strcmp(t->colnames[i], PQgetvalue(res, k, 0)) == 0)
				t->keycols[k] = i;
		t->keytypes[k] = strdup(PQgetvalue(res, k, 1));
	}
	PQclear(res);
	for (int k = 0; k < t->nkeys; k++)
		if (t->keycols == NULL || t->keytypes == NULL || t->keycols[k] < 0 ||
			t->keytypes[k] == NULL)
			return errbuf_set(err, errlen, -1, "could not read the key of table %s", t->name);
	return 0;
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
		t->partitioned = PQgetvalue(res, i, 4)[0] == 't';
		t->reltuples = strtod(PQgetvalue(res, i, 5), NULL);
		if (t->qname == NULL || t->name == NULL)
		{
			PQclear(res);
			return errbuf_set(err, errlen, -1, "out of memory");
		}
		t->rel.relid = (uint32_t) strtoul(PQgetvalue(res, i, 0), NULL, 10);
		t->rel.name.data = t->name;
		t->rel.name.len = (uint32_t) strlen(t->name);
		if (load_table(conn, PQgetvalue(res, i, 0), t, err, errlen) != 0)
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

		for (uint32_t c = 0; t->colnames && c < t->rel.ncols; c++)
			free(t->colnames[c]);
		for (int k = 0; t->keytypes && k < t->nkeys; k++)
			free(t->keytypes[k]);
		free(t->colnames);
		free(t->rel.cols);
		free(t->keycols);
		free(t->keytypes);
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

/* append printf output to a growing string; false when out of memory */
static bool
add(char **buf, size_t *len, const char *fmt, const char *a, const char *b)
{
	char	   *piece;
	char	   *nb;
	int			n = asprintf(&piece, fmt, a, b);

	if (n < 0)
		return false;
	nb = realloc(*buf, *len + n + 1);
	if (nb == NULL)
	{
		free(piece);
		return false;
	}
	memcpy(nb + *len, piece, n + 1);
	*len += n;
	*buf = nb;
	free(piece);
	return true;
}

/* the key's column list, "k1, k2", quoted */
static bool
key_list(PGconn *conn, const BfTable *t, char **sql, size_t *len)
{
	bool		ok = true;

	for (int k = 0; ok && k < t->nkeys; k++)
	{
		char	   *id = PQescapeIdentifier(conn, t->colnames[t->keycols[k]],
											strlen(t->colnames[t->keycols[k]]));

		ok = id && add(sql, len, "%s%s", k ? ", " : "", id);
		PQfreemem(id);
	}
	return ok;
}

PGresult *
bf_page(PGconn *conn, const BfTable *t, const char *condition, char **after,
		const char *visible_in, int limit, char *err, size_t errlen)
{
	char	   *sql = NULL;
	size_t		len = 0;
	const char **params = calloc(t->nkeys + 2, sizeof(char *));
	int			np = 0;
	bool		ok = params != NULL;
	char		num[32];
	PGresult   *res;

	for (uint32_t c = 0; ok && c < t->rel.ncols; c++)
	{
		char	   *id = PQescapeIdentifier(conn, t->colnames[c], strlen(t->colnames[c]));

		ok = id && add(&sql, &len, "%s%s", c ? ", " : "SELECT ", id);
		PQfreemem(id);
	}
	ok = ok && add(&sql, &len, " FROM %s%s WHERE true", t->partitioned ? "" : "ONLY ", t->qname);
	if (ok && condition && condition[0])
		ok = add(&sql, &len, " AND (%s)%s", condition, "");
	if (ok && after)
	{
		ok = add(&sql, &len, " AND (%s", "", "") && key_list(conn, t, &sql, &len) &&
			add(&sql, &len, ") > (%s%s", "", "");
		for (int k = 0; ok && k < t->nkeys; k++)
		{
			snprintf(num, sizeof(num), "$%d::", np + 1);
			params[np++] = after[k];
			ok = add(&sql, &len, "%s%s", k ? ", " : "", num) &&
				add(&sql, &len, "%s%s", t->keytypes[k], "");
		}
		ok = ok && add(&sql, &len, ")%s%s", "", "");
	}
	if (ok && visible_in)
	{
		char		clause[768];

		/* xmin as the full xid nearest the saved snapshot's xmax */
		snprintf(num, sizeof(num), "$%d", np + 1);
		params[np++] = visible_in;
		snprintf(clause, sizeof(clause),
				 " AND pg_catalog.pg_visible_in_snapshot((CASE WHEN xmin::text::bigint < 3 "
				 "THEN xmin::text::bigint ELSE greatest(0, pg_catalog.pg_snapshot_xmax(%s::pg_snapshot)::text::bigint "
				 "- ((pg_catalog.pg_snapshot_xmax(%s::pg_snapshot)::text::bigint %% 4294967296 "
				 "- xmin::text::bigint + 6442450944) %% 4294967296 - 2147483648)) END)::text::xid8, "
				 "%s::pg_snapshot)", num, num, num);
		ok = add(&sql, &len, "%s%s", clause, "");
	}
	ok = ok && add(&sql, &len, " ORDER BY %s%s", "", "") && key_list(conn, t, &sql, &len);
	snprintf(num, sizeof(num), "%d", limit);
	ok = ok && add(&sql, &len, " LIMIT %s%s", num, "");
	if (!ok)
	{
		free(sql);
		free(params);
		errbuf_set(err, errlen, -1, "out of memory");
		return NULL;
	}
	res = PQexecParams(conn, sql, np, NULL, params, NULL, NULL, 0);
	free(sql);
	free(params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		errbuf_set(err, errlen, -1, "could not read table %s: %s", t->name,
				   PQresultErrorMessage(res));
		PQclear(res);
		return NULL;
	}
	return res;
}
