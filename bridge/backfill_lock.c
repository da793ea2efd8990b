/*-------------------------------------------------------------------------
 *
 * backfill_lock.c
 *		One bridge backfills a slot at a time: from before it records the
 *		creation marker (and creates, drops or resumes the slot) to its last
 *		page, the backfill phase holds a session-level advisory lock on a
 *		normal connection to the slot's database, keyed by the slot's name:
 *			pg_try_advisory_lock(hashtext('wal2queue-backfill:' || slot))
 *		A second bridge of the same command line (a second replica, a
 *		rolling update) that cannot take it reads, drops and writes
 *		nothing: it waits as for a slot another walsender holds (with
 *		--standby as long as it takes, else BF_LOCK_GRACE_US, then exits 1).
 *		The lock dies with its connection: a killed bridge releases it.
 *
 *		The lock's connection can die under a live bridge too (an operator's
 *		pg_terminate_backend, idle_session_timeout, a dropped TCP
 *		connection): bf_lock_check(), before every sink write and every
 *		slot drop or creation, asks the server whether this session still
 *		holds the lock (pg_locks of its own pid); a lost lock ends the
 *		attempt, which starts again from the sink's state (BF_RETRY).
 *		The connection has TCP keepalives, so a silent network loss ends
 *		its queries too.
 *
 *		An advisory lock is open to every role of the database: a finished
 *		backfill does not take it (backfill.c attempt()), and a lock held
 *		elsewhere is named by its holder's pid, role and application.
 *		--drop-slot takes it too (backfill_lock_hold()).
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backfill_internal.h"
#include "errbuf.h"
#include "log.h"
#include "pgerror.h"

#define BF_LOCK_GRACE_US (30 * INT64_C(1000000))

static const char *const lock_sql =
"SELECT pg_catalog.pg_try_advisory_lock(pg_catalog.hashtext('wal2queue-backfill:' || $1))";

/*
 * The sessions holding the lock ($2: only this one, else any): a bigint
 * key is classid (its high half), objid (its low half), objsubid 1
 */
static const char *const holders_sql =
"WITH k AS (SELECT pg_catalog.hashtext('wal2queue-backfill:' || $1)::bigint AS h) "
"SELECT l.pid, coalesce(a.usename::text, '?'), coalesce(a.application_name, '') "
"FROM k, pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
"WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
"AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()) "
"AND l.classid::text::bigint = (k.h >> 32) & 4294967295 AND l.objid::text::bigint = k.h & 4294967295 "
"AND (NOT $2::bool OR l.pid = pg_catalog.pg_backend_pid()) LIMIT 1";

/*
 * A normal connection for the lock: TCP keepalives (the user's conninfo may
 * set others), never a replication connection, no idle_session_timeout
 */
static PGconn *
lock_connect(const char *conninfo, PgConnectFailure *f)
{
	const char *keys[] = {"keepalives_idle", "keepalives_interval", "keepalives_count",
	"dbname", "replication", "fallback_application_name", NULL};
	const char *vals[] = {"10", "5", "3", conninfo, "false", "wal2queue-bridge backfill lock", NULL};
	PGconn	   *conn = pgerror_connect(keys, vals, f);

	/*
	 * The session is idle between checks, often longer than a page takes:
	 * a server's or role's idle_session_timeout would end it, and the lock
	 * with it, at every page (test/t/436); its SQL, like every backfill
	 * connection's, looks names up in pg_catalog alone (BF_SAFE_SETTINGS)
	 */
	if (conn != NULL)
		PQclear(PQexec(conn, "SET idle_session_timeout = 0; " BF_SAFE_SETTINGS));
	return conn;
}

/* who holds the lock (mine: this session), as "PID 123 (role r, application a)", or "" */
static void
lock_holder(PGconn *conn, const char *slot, bool mine, char *buf, size_t len)
{
	const char *params[2] = {slot, mine ? "true" : "false"};
	PGresult   *res = PQexecParams(conn, holders_sql, 2, NULL, params, NULL, NULL, 0);

	buf[0] = '\0';
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		snprintf(buf, len, "PID %s (role %s, application \"%s\")", PQgetvalue(res, 0, 0),
				 PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
	else if (PQresultStatus(res) != PGRES_TUPLES_OK)
		snprintf(buf, len, "?: %s", PQresultErrorMessage(res));
	PQclear(res);
}

/* another bridge backfills the slot: wait, or (not --standby) give up */
static int
lock_busy(Backfill *bf, const char *holder)
{
	int64_t		now = now_us();

	if (bf->lock_busy_since_us == 0)
	{
		bf->lock_busy_since_us = now;
		log_msg(LOG_INFO, "another bridge is backfilling slot \"%s\" (it holds the advisory lock "
				"hashtext('wal2queue-backfill:%s')): waiting for it%s", bf->cfg->stream.slot,
				bf->cfg->stream.slot, bf->cfg->standby ? "" : " for 30 s (--standby waits as long as it takes)");
		log_msg(LOG_INFO, "the backfill lock of slot \"%s\" is held by %s", bf->cfg->stream.slot,
				holder[0] ? holder : "another session");
	}
	bf->lock_wait = true;
	if (!bf->cfg->standby && now - bf->lock_busy_since_us > BF_LOCK_GRACE_US)
		return bf_fail(bf, BF_FATAL, "another bridge is backfilling slot \"%s\" (the advisory lock "
					"hashtext('wal2queue-backfill:%s') is held by %s); is a second bridge running with "
					"this command line, or does another session hold that lock? (--standby waits for it)",
					bf->cfg->stream.slot, bf->cfg->stream.slot, holder[0] ? holder : "another session");
	return bf_fail(bf, BF_RETRY, "another bridge is backfilling slot \"%s\"", bf->cfg->stream.slot);
}

int
bf_lock_take(Backfill *bf)
{
	const char *params[1] = {bf->cfg->stream.slot};
	char		holder[256];
	PgConnectFailure f;
	PGresult   *res;
	bool		got;

	bf->lock_wait = false;
	if (bf->lock_conn == NULL && (bf->lock_conn = lock_connect(bf->cfg->stream.conninfo, &f)) == NULL)
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
		lock_holder(bf->lock_conn, bf->cfg->stream.slot, false, holder, sizeof(holder));
		bf_lock_release(bf);
		return lock_busy(bf, holder);
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

int
bf_lock_check(Backfill *bf)
{
	char		holder[256] = "";
	char		why[512];

	if (bf->lock_conn == NULL || PQstatus(bf->lock_conn) != CONNECTION_OK)
		snprintf(why, sizeof(why), "its connection is gone: %s",
				 bf->lock_conn ? PQerrorMessage(bf->lock_conn) : "closed");
	else
	{
		lock_holder(bf->lock_conn, bf->cfg->stream.slot, true, holder, sizeof(holder));
		if (strncmp(holder, "PID ", 4) == 0)
			return 0;
		if (holder[0])
			snprintf(why, sizeof(why), "could not check it: %s", holder + 3);
		else
			snprintf(why, sizeof(why), "its session no longer holds it");
	}
	bf_fail(bf, BF_RETRY, "the backfill of slot \"%s\" lost its advisory lock (%s): stopping before "
			"it writes more, starting again from the sink's state", bf->cfg->stream.slot, why);
	bf_lock_release(bf);
	return BF_RETRY;
}

PGconn *
backfill_lock_hold(const BridgeConfig *cfg, char *err, size_t errlen)
{
	const char *params[1] = {cfg->stream.slot};
	PgConnectFailure f;
	PGconn	   *conn = lock_connect(cfg->stream.conninfo, &f);
	PGresult   *res;
	char		holder[256];

	if (conn == NULL)
	{
		errbuf_set(err, errlen, -1, "could not connect to PostgreSQL for the backfill's lock: %s", f.message);
		return NULL;
	}
	res = PQexecParams(conn, lock_sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		strcmp(PQgetvalue(res, 0, 0), "t") == 0)
	{
		PQclear(res);
		return conn;
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		errbuf_set(err, errlen, -1, "could not take the backfill's advisory lock of slot \"%s\": %s",
				   cfg->stream.slot, PQresultErrorMessage(res));
	else
	{
		lock_holder(conn, cfg->stream.slot, false, holder, sizeof(holder));
		errbuf_set(err, errlen, -1, "a bridge is backfilling slot \"%s\" (the advisory lock "
				   "hashtext('wal2queue-backfill:%s') is held by %s); not dropping it (stop that bridge first)",
				   cfg->stream.slot, cfg->stream.slot, holder[0] ? holder : "another session");
	}
	PQclear(res);
	PQfinish(conn);
	return NULL;
}
