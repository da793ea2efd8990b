/*-------------------------------------------------------------------------
 *
 * backfill_lock.c
 *		One bridge backfills a slot at a time: from before it reads the
 *		sink's state (and records the creation marker, creates, drops or
 *		resumes the slot) to its last page, the backfill phase holds a
 *		session-level advisory lock on a normal connection to the slot's
 *		database, keyed by the slot's name:
 *			pg_try_advisory_lock(hashtext('wal2queue-backfill:' || slot))
 *		A second bridge of the same command line (a second replica, a
 *		rolling update) that cannot take it reads, drops and writes
 *		nothing: it waits as for a slot another walsender holds (with
 *		--standby as long as it takes, else BF_LOCK_GRACE_US, then exits 1).
 *		The lock dies with its connection: a killed bridge releases it.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backfill_internal.h"
#include "log.h"
#include "pgerror.h"

#define BF_LOCK_GRACE_US (30 * INT64_C(1000000))

static const char *const lock_sql =
"SELECT pg_catalog.pg_try_advisory_lock(pg_catalog.hashtext('wal2queue-backfill:' || $1))";

/* another bridge backfills the slot: wait, or (not --standby) give up */
static int
lock_busy(Backfill *bf)
{
	int64_t		now = now_us();

	if (bf->lock_busy_since_us == 0)
	{
		bf->lock_busy_since_us = now;
		log_msg(LOG_INFO, "another bridge is backfilling slot \"%s\" (it holds the advisory lock "
				"hashtext('wal2queue-backfill:%s')): waiting for it%s", bf->cfg->stream.slot,
				bf->cfg->stream.slot, bf->cfg->standby ? "" : " for 30 s (--standby waits as long as it takes)");
	}
	bf->lock_wait = true;
	if (!bf->cfg->standby && now - bf->lock_busy_since_us > BF_LOCK_GRACE_US)
		return bf_fail(bf, BF_FATAL, "another bridge is backfilling slot \"%s\" (it holds the advisory lock "
					"hashtext('wal2queue-backfill:%s')); is a second bridge running with this command line? "
					"(--standby waits for it)", bf->cfg->stream.slot, bf->cfg->stream.slot);
	return bf_fail(bf, BF_RETRY, "another bridge is backfilling slot \"%s\"", bf->cfg->stream.slot);
}

int
bf_lock_take(Backfill *bf)
{
	const char *keys[] = {"dbname", "replication", "fallback_application_name", NULL};
	const char *vals[] = {bf->cfg->stream.conninfo, "false", "wal2queue-bridge backfill lock", NULL};
	const char *params[1] = {bf->cfg->stream.slot};
	PgConnectFailure f;
	PGresult   *res;
	bool		got;

	bf->lock_wait = false;
	if (bf->lock_conn == NULL && (bf->lock_conn = pgerror_connect(keys, vals, &f)) == NULL)
		return bf_fail(bf, f.kind == PGERR_PERMANENT ? BF_FATAL : BF_RETRY,
					"could not connect to PostgreSQL for the backfill's lock: %s", f.message);
	res = PQexecParams(bf->lock_conn, lock_sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		bf_fail(bf, BF_RETRY, "could not take the backfill's advisory lock of slot \"%s\": %s",
				bf->cfg->stream.slot, PQresultErrorMessage(res));
		PQclear(res);
		bf_lock_release(bf);
		return BF_RETRY;
	}
	got = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!got)
	{
		bf_lock_release(bf);
		return lock_busy(bf);
	}
	if (bf->lock_busy_since_us != 0)
		log_msg(LOG_INFO, "the other bridge's backfill of slot \"%s\" ended: going on", bf->cfg->stream.slot);
	bf->lock_busy_since_us = 0;
	return 0;
}

void
bf_lock_release(Backfill *bf)
{
	if (bf->lock_conn)
		PQfinish(bf->lock_conn);
	bf->lock_conn = NULL;
}
