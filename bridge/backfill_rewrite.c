/*-------------------------------------------------------------------------
 *
 * backfill_rewrite.c
 *		A table rewritten under a backfill: its storage when the snapshot
 *		was taken, and the check before each table is read.
 *
 * A resume keeps the rows whose xmin the saved snapshot sees.  A rewrite
 * by ALTER TABLE (ALTER COLUMN ... TYPE, ADD COLUMN with a volatile
 * DEFAULT, SET ACCESS METHOD) writes every row again with the ALTER's xid:
 * the filter would skip all of them, and the stream decodes nothing of a
 * rewrite.  VACUUM FULL and CLUSTER write a new file too but keep every
 * row's xmin.  So the first state records each selected relation's
 * relfilenode (every leaf partition's), read in the exported snapshot,
 * and before a resume reads a table:
 *	- a leaf whose relfilenode is the recorded one was not rewritten;
 *	- a leaf with another one was rewritten; it kept its rows' xmin (VACUUM
 *	  FULL, CLUSTER) if it holds a row whose xmin the saved snapshot sees
 *	  (a frozen row keeps its xmin in PG 15, freezing only sets flags;
 *	  only a row frozen before 9.4 shows xmin 2, not counted): an ALTER's
 *	  rewrite gives every row its own xid, which the saved snapshot does
 *	  not see, so one such row proves none happened.  Without such a row,
 *	  and with rows the filter would skip, the table is reported rewritten
 *	  (an empty one, or one whose every row the saved snapshot sees, loses
 *	  nothing);
 *	- a leaf whose oid the saved storage does not hold (a table replaced
 *	  under its name by a copy and swap, a partition attached or created
 *	  since) is judged the same way: a copy's rows carry the copy's xid.
 * A recorded leaf that still exists but is under no selected table not
 * finished yet (detached, renamed away) is reported by bf_storage_missing.
 * A rewrite while this transaction's snapshot is open is caught too: the
 * table is locked (ACCESS SHARE, until the transaction ends) and its
 * relfilenode in this snapshot compared with the current one; a rewrite
 * since hides the table's rows from this snapshot, so the reader starts
 * over (a resume, with the check above).
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backfill_rewrite.h"
#include "errbuf.h"

/*
 * The table's leaves (itself, unless partitioned; pg_partition_tree() lists
 * nothing for a table without partitions): name, relfilenode in this
 * snapshot, now, in $2 (or NULL), oid
 */
#define LEAVES_SQL \
	"SELECT format('%I.%I', n.nspname, c.relname), c.relfilenode::text, " \
	"pg_catalog.pg_relation_filenode(c.oid)::text, s.fn::text, c.oid::text " \
	"FROM (SELECT relid FROM pg_catalog.pg_partition_tree($1::regclass) " \
	"      UNION SELECT $1::regclass) p " \
	"JOIN pg_catalog.pg_class c ON c.oid = p.relid " \
	"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace " \
	"LEFT JOIN (SELECT pg_catalog.split_part(w, ':', 1)::oid AS oid, " \
	"  pg_catalog.split_part(w, ':', 2)::oid AS fn " \
	"  FROM pg_catalog.unnest(pg_catalog.string_to_array($2, ' ')) w) s ON s.oid = c.oid " \
	"WHERE c.relkind = 'r' ORDER BY c.oid"

static PGresult *
leaves(PGconn *conn, const BfTable *t, const char *saved, char *err, size_t errlen)
{
	const char *params[2] = {t->qname, saved ? saved : ""};
	PGresult   *res = PQexecParams(conn, LEAVES_SQL, 2, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		return res;
	errbuf_set(err, errlen, -1, "could not read the storage of table %s: %s", t->name,
			   PQresultErrorMessage(res));
	PQclear(res);
	return NULL;
}

char *
bf_storage_read(PGconn *conn, const BfTables *ts, char *err, size_t errlen)
{
	char	   *out = strdup("");
	size_t		len = 0;

	for (int i = 0; out && i < ts->n; i++)
	{
		PGresult   *res = leaves(conn, &ts->t[i], NULL, err, errlen);

		if (res == NULL)
		{
			free(out);
			return NULL;
		}
		for (int r = 0; out && r < PQntuples(res); r++)
		{
			size_t		add = strlen(PQgetvalue(res, r, 4)) + strlen(PQgetvalue(res, r, 1)) + 16;
			char	   *grown = realloc(out, len + add + 1);

			if (grown == NULL)
			{
				free(out);
				out = NULL;
				break;
			}
			out = grown;
			len += sprintf(out + len, "%s%s:%s:%u", len ? " " : "", PQgetvalue(res, r, 4),
						   PQgetvalue(res, r, 1), (unsigned) ts->t[i].oid);
		}
		PQclear(res);
	}
	if (out == NULL)
		errbuf_set(err, errlen, -1, "out of memory");
	return out;
}

/*
 * Would leaf (%I.%I) lose rows to the snapshot filter after a rewrite?  1 if
 * it holds a row the saved snapshot does not see and none whose xmin (3 or
 * more) it sees (kept by VACUUM FULL or CLUSTER), 0 if not, -1 on error.
 */
static int
restamped(PGconn *conn, const char *leaf, const char *snapshot, char *err, size_t errlen)
{
	char		clause[1024];
	char		sql[2600];
	const char *params[1] = {snapshot};
	PGresult   *res;
	int			rc;

	bf_visible_clause(clause, sizeof(clause), "$1");
	snprintf(sql, sizeof(sql), "SELECT NOT EXISTS (SELECT 1 FROM ONLY %s WHERE "
			 "xmin::text::bigint >= 3 AND %s) AND EXISTS (SELECT 1 FROM ONLY %s WHERE NOT %s)",
			 leaf, clause, leaf, clause);
	res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		errbuf_set(err, errlen, -1, "could not read table %s: %s", leaf, PQresultErrorMessage(res));
		PQclear(res);
		return -1;
	}
	rc = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return rc;
}

static int
lock_table(PGconn *conn, const BfTable *t, char *err, size_t errlen)
{
	char		sql[1024];
	PGresult   *res;

	snprintf(sql, sizeof(sql), "LOCK TABLE %s IN ACCESS SHARE MODE", t->qname);
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		errbuf_set(err, errlen, -1, "could not lock table %s: %s", t->name,
				   PQresultErrorMessage(res));
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

int
bf_storage_check(PGconn *conn, const BfTable *t, const char *saved, const char *snapshot,
				 char *detail, size_t dlen, char *err, size_t errlen)
{
	PGresult   *res;
	int			rc = BF_STORAGE_SAME;

	if (lock_table(conn, t, err, errlen) != 0 || (res = leaves(conn, t, saved, err, errlen)) == NULL)
		return -1;
	for (int r = 0; rc == BF_STORAGE_SAME && r < PQntuples(res); r++)
	{
		const char *leaf = PQgetvalue(res, r, 0);
		const char *then = PQgetvalue(res, r, 3);
		const char *now = PQgetvalue(res, r, 2);

		if (strcmp(PQgetvalue(res, r, 1), now) != 0)
		{
			snprintf(detail, dlen, "%s was rewritten while the backfill read it (relfilenode %s, now %s)",
					 leaf, PQgetvalue(res, r, 1), now);
			rc = BF_STORAGE_RETRY;
		}
		else if (snapshot && saved && saved[0] &&
				 (PQgetisnull(res, r, 3) || strcmp(then, now) != 0))
		{
			/* a relation the snapshot did not read here: copied in since? */
			int			lost = restamped(conn, leaf, snapshot, err, errlen);

			if (lost < 0)
				rc = -1;
			else if (lost)
			{
				if (PQgetisnull(res, r, 3))
					snprintf(detail, dlen, "%s is another relation than the backfill's snapshot read under "
							 "that name (oid %s: replaced, e.g. by a copy and swap, or attached since)",
							 leaf, PQgetvalue(res, r, 4));
				else
					snprintf(detail, dlen, "%s was rewritten since the backfill's snapshot (relfilenode %s, now %s)",
							 leaf, then, now);
				rc = BF_STORAGE_REWRITTEN;
			}
		}
	}
	PQclear(res);
	return rc;
}

/*
 * The recorded leaves ("oid:relfilenode:root" words) no longer under any
 * selected table, skipping those of the tables already finished (roots in
 * done, "oid oid ..."; a word without its root, an older bridge's, is
 * always checked):
 * whether each exists (detached, renamed out of the selection, the old
 * table of a copy and swap) or not (dropped), its name or oid.
 */
#define MISSING_SQL \
	"SELECT c.oid IS NOT NULL, CASE WHEN c.oid IS NULL THEN s.oid::text " \
	"  ELSE format('%I.%I', n.nspname, c.relname) END " \
	"FROM (SELECT pg_catalog.split_part(w, ':', 1)::oid AS oid, " \
	"        NULLIF(pg_catalog.split_part(w, ':', 3), '')::oid AS root " \
	"      FROM pg_catalog.unnest(pg_catalog.string_to_array($1, ' ')) w) s " \
	"LEFT JOIN pg_catalog.pg_class c ON c.oid = s.oid " \
	"LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace " \
	"WHERE NOT coalesce(s.root = ANY (pg_catalog.string_to_array($2, ' ')::oid[]), false) " \
	"AND s.oid NOT IN (SELECT p.relid FROM pg_catalog.unnest($3::oid[]) r(t), " \
	"  LATERAL pg_catalog.pg_partition_tree(r.t::regclass) p " \
	"  UNION ALL SELECT pg_catalog.unnest($3::oid[])) " \
	"ORDER BY 1 DESC, 2"

/* "{oid,oid}" of tables [from, to) */
static char *
oid_array(const BfTables *ts, int from, int to)
{
	char	   *out = malloc(12 * (size_t) (ts->n + 1) + 3);
	size_t		len = 0;

	if (out == NULL)
		return NULL;
	out[len++] = '{';
	for (int i = from; i < to; i++)
		len += sprintf(out + len, "%s%u", i > from ? "," : "", (unsigned) ts->t[i].oid);
	sprintf(out + len, "}");
	return out;
}

char *
bf_storage_missing(PGconn *conn, const BfTables *ts, const char *done, const char *saved,
				   char **dropped, char *err, size_t errlen)
{
	char	   *all = oid_array(ts, 0, ts->n);
	const char *params[3] = {saved, done, all};
	PGresult   *res = NULL;
	char	   *out = NULL;

	if (all)
		res = PQexecParams(conn, MISSING_SQL, 3, NULL, params, NULL, NULL, 0);
	free(all);
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		errbuf_set(err, errlen, -1, "could not read the recorded storage of the tables: %s",
				   res ? PQresultErrorMessage(res) : "out of memory");
		PQclear(res);
		return NULL;
	}
	out = strdup(PQntuples(res) > 0 && PQgetvalue(res, 0, 0)[0] == 't' ? PQgetvalue(res, 0, 1) : "");
	*dropped = NULL;
	for (int r = 0, len = 0; out && r < PQntuples(res) + 1; r++)
	{
		char	   *grown;

		if (r < PQntuples(res) && PQgetvalue(res, r, 0)[0] == 't')
			continue;
		grown = realloc(*dropped, len + (r < PQntuples(res) ? strlen(PQgetvalue(res, r, 1)) : 0) + 2);
		if (grown == NULL)
		{
			free(out);
			out = NULL;
			break;
		}
		*dropped = grown;
		if (r < PQntuples(res))
			len += sprintf(*dropped + len, "%s%s", len ? " " : "", PQgetvalue(res, r, 1));
		else
			(*dropped)[len] = '\0';
	}
	PQclear(res);
	if (out == NULL)
	{
		free(*dropped);
		*dropped = NULL;
		errbuf_set(err, errlen, -1, "out of memory");
	}
	return out;
}
