/*-------------------------------------------------------------------------
 *
 * backfill_oversize.c
 *		A row whose text the server cannot build does not wedge the
 *		backfill.
 *
 * The pages are read as text.  A value whose text passes 1GB (a jsonb of
 * a few thousand numbers 1e131071 is 30kB stored) fails the whole page on
 * the server ("Cannot enlarge string buffer", SQLSTATE 54000; or out of
 * memory, 53200, on a server that cannot give a backend that much), at
 * every attempt: no later row would ever be backfilled, nothing streamed.
 * The stream delivers such a row as a claim check (plugin/job.c
 * guarded_output(), its size MaxAllocSize: "at least 1GB"), so the
 * backfill does too: each page is read in a savepoint; a page that fails
 * so is read again one row at a time, and the row that fails alone is
 * read with its key columns and the job's key and route columns only, and
 * delivered as a claim check of BF_OVERSIZE_BYTES (backfill.c
 * deliver_page()).  Then pages go on as before.  With pgoutput (no claim
 * checks) the error stays.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "backfill_internal.h"
#include "log.h"

/* the SQLSTATEs of a text too large to build */
static bool
too_large(const char *sqlstate)
{
	return strcmp(sqlstate, "54000") == 0 || strcmp(sqlstate, "53200") == 0;
}

static bool
run(PGconn *conn, const char *sql)
{
	PGresult   *res = PQexec(conn, sql);
	bool		ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	PQclear(res);
	return ok;
}

/* one read in a savepoint: the transaction (its snapshot) survives a refusal */
static PGresult *
try_read(Backfill *bf, const BfTable *t, char **after, const char *visible_in, int limit,
		 bool keys_only, bool *large, char *err, size_t errlen)
{
	const char *keep[] = {bf->cfg->backfill.route_column, bf->cfg->backfill.key_column, NULL};
	char		sqlstate[6];
	PGresult   *res;

	*large = false;
	if (!keep[0])
		keep[0] = keep[1], keep[1] = NULL;
	if (!run(bf->conn, "SAVEPOINT bf_page"))
	{
		snprintf(err, errlen, "could not read table %s: %s", t->name, PQerrorMessage(bf->conn));
		return NULL;
	}
	res = bf_page_only(bf->conn, t, bf->cur.condition, after, visible_in, limit,
					   keys_only ? keep : NULL, sqlstate, err, errlen);
	if (!run(bf->conn, res ? "RELEASE SAVEPOINT bf_page" : "ROLLBACK TO SAVEPOINT bf_page"))
	{
		PQclear(res);
		snprintf(err, errlen, "could not read table %s: %s", t->name, PQerrorMessage(bf->conn));
		return NULL;
	}
	*large = res == NULL && too_large(sqlstate);
	return res;
}

PGresult *
bf_page_guarded(Backfill *bf, const BfTable *t, char **after, const char *visible_in,
				int *limit, char *err, size_t errlen)
{
	PGresult   *res;
	bool		large;

	if (bf->single_rows)
		*limit = 1;
	res = try_read(bf, t, after, visible_in, *limit, false, &large, err, errlen);
	if (res != NULL || !large)
		return res;
	if (*limit > 1)
	{
		log_msg(LOG_WARNING, "backfill of %s: the server could not build the text of a page (%s): "
				"reading it one row at a time", t->name, err);
		bf->single_rows = true;
		*limit = 1;
		res = try_read(bf, t, after, visible_in, 1, false, &large, err, errlen);
		if (res != NULL || !large)
			return res;
	}
	if (bf->max_job_bytes == 0)
		return NULL;			/* pgoutput: no claim checks, as streamed */
	if ((res = try_read(bf, t, after, visible_in, 1, true, &large, err, errlen)) == NULL)
		return NULL;
	log_msg(LOG_WARNING, "backfill of %s: the server could not build the text of the row after key %s "
			"(over 1GB): delivered as a claim check, as the stream would", t->name,
			bf->cur.key && bf->cur.key[0] && bf->cur.table && strcmp(bf->cur.table, t->qname) == 0 ?
			bf->cur.key : "(its start)");
	bf->oversize = true;
	bf->single_rows = false;
	return res;
}
