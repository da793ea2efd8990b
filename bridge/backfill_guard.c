/*-------------------------------------------------------------------------
 *
 * backfill_guard.c
 *		A backfill page read under a savepoint, and what is done when the
 *		server cannot read it: a row whose text would pass 1GB is read as
 *		its key alone and delivered as its claim check, as the stream
 *		delivers it (plugin/job.c guarded_output(); test/t/411); a saved
 *		position that no longer reads as its key's type is named, with the
 *		way out (test/t/413).
 *
 * The reader's transaction holds the backfill's snapshot (the slot's
 * exported one, which no later transaction can import again): an error
 * would abort it.  So every page is read after a SAVEPOINT, released once
 * the page is read, rolled back to when the page failed with an error
 * handled here.  A page that failed because a value's text could not be
 * built (program_limit_exceeded, "invalid memory alloc request size": the
 * 1GB limit of a text, as the plugin judges it) is read again: first the
 * key and route columns of its rows (a failure there, the condition's, is
 * an error as before), then each row alone (the page's query from the
 * previous row's key, LIMIT 1), each under a savepoint; a row whose read
 * fails the same way is one that cannot be built.  A page of one row is
 * that row.  An out of memory is not taken for it (memory short for
 * another reason): an error, as before.
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backfill.h"
#include "backfill_sql.h"
#include "errbuf.h"

#define SAVEPOINT_SQL	"SAVEPOINT wal2queue_page"
#define ROLLBACK_SQL	"ROLLBACK TO SAVEPOINT wal2queue_page"
#define RELEASE_SQL		"RELEASE SAVEPOINT wal2queue_page"

static bool
exec_ok(PGconn *conn, const char *sql, char *err, size_t errlen)
{
	PGresult   *res = PQexec(conn, sql);
	bool		ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	if (!ok)
		errbuf_set(err, errlen, -1, "could not run \"%s\" in the backfill's snapshot: %s", sql,
				   res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
	PQclear(res);
	return ok;
}

static bool
sqlstate_is(const PGresult *res, const char *state)
{
	const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return s && strncmp(s, state, strlen(state)) == 0;
}

/* the server could not build a value's text: it would pass 1GB */
static bool
too_large(const PGresult *res)
{
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	return sqlstate_is(res, "54000") ||
		(sqlstate_is(res, "XX000") && msg &&
		 strncmp(msg, "invalid memory alloc request size", 33) == 0);
}

/* NULL, with the error of res (NULL: out of memory) in err */
static PGresult *
read_failed(const BfTable *t, PGresult *res, char *err, size_t errlen)
{
	if (res == NULL)
		errbuf_set(err, errlen, -1, "out of memory");
	else
		errbuf_set(err, errlen, -1, "could not read table %s: %s", t->name,
				   PQresultErrorMessage(res));
	PQclear(res);
	return NULL;
}

/* an empty result of t's columns and the unreadable flag */
static PGresult *
empty_page(PGconn *conn, const BfTable *t)
{
	PGresAttDesc *attrs = calloc(t->ncols + 1, sizeof(PGresAttDesc));
	PGresult   *out = PQmakeEmptyPGresult(conn, PGRES_TUPLES_OK);

	for (uint32_t c = 0; attrs && c <= t->ncols; c++)
	{
		attrs[c].name = c < t->ncols ? t->colnames[c] : BF_UNREADABLE_COLUMN;
		attrs[c].typid = 25;	/* text */
		attrs[c].typlen = -1;
		attrs[c].atttypmod = -1;
	}
	if (attrs == NULL || out == NULL || !PQsetResultAttrs(out, (int) t->ncols + 1, attrs))
	{
		PQclear(out);
		out = NULL;
	}
	free(attrs);
	return out;
}

/* row r of out: row 0 of one (a whole row), else the key's columns of keys */
static bool
put_row(PGresult *out, int r, const BfTable *t, const PGresult *one, const PGresult *keys,
		const int *cols, int ncols)
{
	bool		ok = true;

	if (one)
	{
		for (int c = 0; ok && c < (int) t->ncols; c++)
			ok = PQsetvalue(out, r, c, PQgetisnull(one, 0, c) ? NULL : PQgetvalue(one, 0, c),
							PQgetisnull(one, 0, c) ? -1 : PQgetlength(one, 0, c));
		return ok && PQsetvalue(out, r, (int) t->ncols, NULL, -1);
	}
	for (int c = 0; ok && c < (int) t->ncols; c++)
		ok = PQsetvalue(out, r, c, NULL, -1);
	for (int i = 0; ok && i < ncols; i++)
		ok = PQsetvalue(out, r, cols[i], PQgetisnull(keys, r, i) ? NULL : PQgetvalue(keys, r, i),
						PQgetisnull(keys, r, i) ? -1 : PQgetlength(keys, r, i));
	return ok && PQsetvalue(out, r, (int) t->ncols, "t", 1);
}

/*
 * Row r of the page alone (after: the previous row's key): into out, or
 * flagged unreadable when its text cannot be built
 */
static bool
read_row(PGconn *conn, const BfTable *t, const char *condition, char **after,
		 const char *visible_in, PGresult *out, int r, const PGresult *keys,
		 const int *cols, int ncols, char *err, size_t errlen)
{
	PGresult   *one;
	bool		ok;

	if (!exec_ok(conn, SAVEPOINT_SQL, err, errlen))
		return false;
	one = bf_page_run(conn, t, NULL, 0, condition, after, visible_in, 1);
	if (one && PQresultStatus(one) == PGRES_TUPLES_OK && PQntuples(one) == 1)
	{
		ok = put_row(out, r, t, one, NULL, NULL, 0) && exec_ok(conn, RELEASE_SQL, err, errlen);
		PQclear(one);
		return ok || errbuf_set(err, errlen, false, "out of memory");
	}
	if (one == NULL || !too_large(one))
	{
		if (one && PQresultStatus(one) == PGRES_TUPLES_OK)
			return errbuf_set(err, errlen, false, "could not read table %s: a row of the page "
							  "read again is gone", t->name);
		return read_failed(t, one, err, errlen) != NULL;
	}
	PQclear(one);
	return exec_ok(conn, ROLLBACK_SQL, err, errlen) &&
		(put_row(out, r, t, NULL, keys, cols, ncols) ||
		 errbuf_set(err, errlen, false, "out of memory"));
}

/* the page again: its keys, then each row alone */
static PGresult *
read_rows(PGconn *conn, const BfTable *t, const char *condition, char **after,
		  const char *visible_in, int limit, char *err, size_t errlen)
{
	int			cols[W2Q_MAX_COLUMNS + 1];
	int			ncols = 0;
	PGresult   *keys;
	PGresult   *out;
	char	   *prev[W2Q_MAX_COLUMNS];
	char	  **pos = after;
	bool		ok = true;

	for (int k = 0; k < t->nkeys && k < W2Q_MAX_COLUMNS; k++)
		cols[ncols++] = t->keycols[k];
	if (t->rr.route >= 0)
		cols[ncols++] = t->rr.route;
	keys = bf_page_run(conn, t, cols, ncols, condition, after, visible_in, limit);
	if (keys == NULL || PQresultStatus(keys) != PGRES_TUPLES_OK)
		return read_failed(t, keys, err, errlen);
	if ((out = empty_page(conn, t)) == NULL)
		return read_failed(t, NULL, err, errlen);
	for (int r = 0; ok && r < PQntuples(keys); r++)
	{
		if (PQntuples(keys) == 1)
			ok = put_row(out, r, t, NULL, keys, cols, ncols) ||
				errbuf_set(err, errlen, false, "out of memory");
		else
			ok = read_row(conn, t, condition, pos, visible_in, out, r, keys, cols, ncols,
						  err, errlen);
		/* the next row's position: this row's key (never NULL: an index's) */
		for (int k = 0; k < t->nkeys && k < W2Q_MAX_COLUMNS; k++)
			prev[k] = PQgetvalue(keys, r, k);
		pos = prev;
	}
	PQclear(keys);
	if (!ok)
	{
		PQclear(out);
		return NULL;
	}
	return out;
}

/*
 * The page failed with a data exception: is it a saved key that no longer
 * reads as its column's type?  Then an error naming it and the way out
 * (true); else false, with the transaction where it was.
 */
static bool
position_unreadable(PGconn *conn, const BfTable *t, char **after, char *err, size_t errlen)
{
	char		sql[400];
	char		why[512];

	if (!exec_ok(conn, ROLLBACK_SQL, err, errlen))
		return true;
	for (int k = 0; k < t->nkeys; k++)
	{
		const char *params[1] = {after[k]};
		PGresult   *res;
		bool		is_enum;
		char	   *key;

		snprintf(sql, sizeof(sql), "SELECT $1::%s IS NULL", t->keytypes[k]);
		if (!exec_ok(conn, SAVEPOINT_SQL, err, errlen))
			return true;
		res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) == PGRES_TUPLES_OK)
		{
			PQclear(res);
			if (!exec_ok(conn, RELEASE_SQL, err, errlen))
				return true;
			continue;
		}
		snprintf(why, sizeof(why), "%s", PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) ?
				 PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : PQresultErrorMessage(res));
		PQclear(res);
		exec_ok(conn, ROLLBACK_SQL, err, errlen);
		snprintf(sql, sizeof(sql), "SELECT t.typtype = 'e' FROM pg_catalog.pg_type t "
				 "WHERE t.oid = '%s'::pg_catalog.regtype", t->keytypes[k]);
		res = PQexec(conn, sql);
		is_enum = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
			PQgetvalue(res, 0, 0)[0] == 't';
		PQclear(res);
		key = backfill_key_format((const char *const *) after, t->nkeys);
		errbuf_set(err, errlen, -1,
				   "could not resume the backfill of table %s after key %.200s: the saved value "
				   "\"%.200s\" of its key column %s no longer reads as type %s (%s); hint: %s",
				   t->name, key ? key : "?", after[k], t->colnames[t->keycols[k]], t->keytypes[k], why,
				   is_enum ? "a label of the enum was renamed since the position was saved (ALTER "
				   "TYPE ... RENAME VALUE): rename it back to that value until the backfill is done, "
				   "then again (each row is delivered once)"
				   : "make that value read as the key's type again until the backfill is done");
		free(key);
		return true;
	}
	return false;
}

PGresult *
bf_page_guarded(PGconn *conn, const BfTable *t, const char *condition, char **after,
				const char *visible_in, int limit, char *err, size_t errlen)
{
	PGresult   *res;

	if (!exec_ok(conn, SAVEPOINT_SQL, err, errlen))
		return NULL;
	res = bf_page_run(conn, t, NULL, 0, condition, after, visible_in, limit);
	if (res && PQresultStatus(res) == PGRES_TUPLES_OK)
	{
		if (exec_ok(conn, RELEASE_SQL, err, errlen))
			return res;
		PQclear(res);
		return NULL;
	}
	if (res && too_large(res))
	{
		PQclear(res);
		if (!exec_ok(conn, ROLLBACK_SQL, err, errlen))
			return NULL;
		res = read_rows(conn, t, condition, after, visible_in, limit, err, errlen);
		if (res && !exec_ok(conn, RELEASE_SQL, err, errlen))
		{
			PQclear(res);
			return NULL;
		}
		return res;
	}
	if (res && after && sqlstate_is(res, "22"))
	{
		char		first[1024];

		snprintf(first, sizeof(first), "%s", PQresultErrorMessage(res));
		PQclear(res);
		if (!position_unreadable(conn, t, after, err, errlen))
			errbuf_set(err, errlen, -1, "could not read table %s: %s", t->name, first);
		return NULL;
	}
	return read_failed(t, res, err, errlen);
}
