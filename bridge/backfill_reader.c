/*-------------------------------------------------------------------------
 *
 * backfill_reader.c
 *		The backfill's reading connection: a normal connection in a
 *		repeatable-read transaction (the slot's exported snapshot, or a
 *		current one for a resume), the snapshot saved for a resume, the
 *		selected tables and the plugin's max-job-bytes read in it.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backfill_internal.h"
#include "pgerror.h"

/* a normal connection for the snapshot reads, in a transaction */
int
bf_open_reader(Backfill *bf, const char *snapshot_name)
{
	const char *keys[] = {"dbname", "replication", "fallback_application_name", NULL};
	const char *vals[] = {bf->cfg->stream.conninfo, "false", "wal2queue-bridge backfill", NULL};
	PgConnectFailure f;
	PGresult   *res;
	char		sql[256];

	if ((bf->conn = pgerror_connect(keys, vals, &f)) == NULL)
		return bf_fail(bf, f.kind == PGERR_PERMANENT ? BF_FATAL : BF_RETRY,
					"could not connect to PostgreSQL for the backfill: %s", f.message);
	res = PQexec(bf->conn, bf->unpinned ? BF_SAFE_SETTINGS "; " BF_NO_ROW_SECURITY :
				 BF_PINNED_SETTINGS "; " BF_NO_ROW_SECURITY "; " BF_CLIENT_ENCODING);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		bf_fail(bf, BF_RETRY, "could not set the backfill's session settings: %s",
				PQresultErrorMessage(res));
		PQclear(res);
		return BF_RETRY;
	}
	PQclear(res);
	res = PQexec(bf->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
	if (PQresultStatus(res) == PGRES_COMMAND_OK && snapshot_name)
	{
		PQclear(res);
		snprintf(sql, sizeof(sql), "SET TRANSACTION SNAPSHOT '%s'", snapshot_name);
		res = PQexec(bf->conn, sql);
	}
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		bf_fail(bf, BF_RETRY, "could not begin the backfill's snapshot: %s",
			 PQresultErrorMessage(res));
		PQclear(res);
		return BF_RETRY;
	}
	PQclear(res);
	return 0;
}

/* pg_current_snapshot() of the reader's transaction into st->snapshot */
int
bf_save_snapshot(Backfill *bf, BackfillState *st)
{
	PGresult   *res = PQexec(bf->conn, "SELECT pg_catalog.pg_current_snapshot()::text");

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		bf_fail(bf, BF_RETRY, "could not read the backfill's snapshot: %s",
			 PQresultErrorMessage(res));
		PQclear(res);
		return BF_RETRY;
	}
	free(st->snapshot);
	st->snapshot = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return st->snapshot ? 0 : bf_fail(bf, BF_FATAL, "out of memory");
}

/*
 * The plugin's max-job-bytes (its option, else its default 64MB), as
 * PostgreSQL reads a size; pgoutput sends every row whole: none.
 */
static int
read_max_job_bytes(Backfill *bf)
{
	const char *const *o = bf->cfg->stream.plugin_options;
	const char *params[1] = {"64MB"};
	PGresult   *res;

	bf->max_job_bytes = 0;
	if (bf->cfg->backfill.publication)
		return 0;
	for (; o && o[0] && o[1]; o += 2)
		if (strcmp(o[0], "max-job-bytes") == 0)
			params[0] = o[1];
	res = PQexecParams(bf->conn, "SELECT pg_catalog.pg_size_bytes($1)", 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		bf_fail(bf, BF_FATAL, "invalid --max-job-bytes \"%s\": %s", params[0], PQresultErrorMessage(res));
		PQclear(res);
		return BF_FATAL;
	}
	bf->max_job_bytes = (size_t) strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

int
bf_load_tables(Backfill *bf)
{
	BfSelect	sel = {bf->patterns.n ? &bf->patterns : NULL, bf->cfg->backfill.publication,
	bf->cfg->backfill.route_column, bf->cfg->backfill.key_column};
	char		err[512];

	bf_tables_free(&bf->tables);
	bf->tables_loaded = false;
	if (read_max_job_bytes(bf) != 0)
		return BF_FATAL;
	if (bf_tables_load(bf->conn, &sel, &bf->tables, err, sizeof(err)) != 0)
		return bf_fail(bf, BF_FATAL, "%s", err);
	bf->tables_loaded = true;
	bf->m->backfill_rows_estimated = 0;
	for (int i = 0; i < bf->tables.n; i++)
		bf->m->backfill_rows_estimated += (uint64_t) bf->tables.t[i].reltuples;
	return 0;
}
