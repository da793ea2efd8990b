/*-------------------------------------------------------------------------
 *
 * backfill_mark.c
 *		Telling the wal2queue extension that a slot's backfill is done
 *		(wal2queue.mark_backfilled(), for prune()).
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "backfill.h"
#include "backfill_sql.h"
#include "bridge.h"
#include "log.h"
#include "lsn.h"
#include "pgerror.h"

/*
 * Tell the extension the slot's backfill is done, when it can hear it: only
 * for the slot the backfill was taken from, i.e. a slot registered at the
 * backfill's consistent point (a slot of the same name created since, by
 * hand or by another bridge, was not backfilled; mark_backfilled() refuses
 * it too).
 */
void
backfill_mark_done(const BridgeConfig *cfg, uint64_t lsn)
{
	const char *keys[] = {"dbname", "replication", "fallback_application_name", NULL};
	const char *vals[] = {cfg->stream.conninfo, "false", "wal2queue-bridge backfill", NULL};
	PgConnectFailure f;
	PGconn	   *conn = pgerror_connect(keys, vals, &f);
	PGresult   *res;
	char		at[LSN_STRLEN];
	const char *params[2] = {cfg->stream.slot, at};

	if (conn == NULL)
	{
		log_msg(LOG_WARNING, "could not tell the wal2queue extension that the backfill is done: %s", f.message);
		return;
	}
	lsn_format(lsn, at, sizeof(at));
	/* names looked up in pg_catalog alone, as every backfill connection's */
	PQclear(PQexec(conn, BF_SAFE_SETTINGS));
	res = PQexec(conn, "SELECT pg_catalog.to_regprocedure('wal2queue.mark_backfilled(name, pg_lsn)') IS NOT NULL");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "t") == 0)
	{
		PQclear(res);
		res = PQexecParams(conn, "SELECT 't', r.start_lsn = $2::pg_catalog.pg_lsn "
						   "FROM wal2queue.slots r WHERE r.slot_name = $1 UNION ALL SELECT 't', NULL LIMIT 1",
						   2, NULL, params, NULL, NULL, 0);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
		strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		log_msg(LOG_INFO, "the wal2queue extension (or its mark_backfilled()) is not installed: "
				"prune() does not know the backfilled rows were delivered");
	else if (strcmp(PQgetvalue(res, 0, 1), "f") == 0)
		log_msg(LOG_WARNING, "replication slot \"%s\" was registered at another position than the "
				"backfill's consistent point %s (it is not the slot that was backfilled): "
				"not marking it backfilled", cfg->stream.slot, at);
	else
	{
		PQclear(res);
		res = PQexecParams(conn, "SELECT wal2queue.mark_backfilled($1, $2)", 2, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			log_msg(LOG_WARNING, "wal2queue.mark_backfilled() failed: %s", PQresultErrorMessage(res));
		else
			log_msg(LOG_INFO, "told the wal2queue extension that slot \"%s\" is backfilled", cfg->stream.slot);
	}
	PQclear(res);
	PQfinish(conn);
}
