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
 *		A connection dropped while the path to the server is silent (a
 *		given-up command, attack 622) leaves its backend holding the lock
 *		until the server notices: this process remembers its lock session
 *		(pid, backend start, server start) and ends it, if it still holds
 *		the lock, when the next attempt finds the lock taken (end_previous(),
 *		as stream_own.c end_given_up() ends a given-up walsender).  The
 *		session's identity is read before its lock command, so one whose
 *		answer was lost is remembered too (attack 653); a refusal to end one
 *		(no right to pg_terminate_backend) is said once and forgotten (650).
 *		A lingering session of an earlier process cannot be told from another
 *		bridge's: it is named (state, idle time, and pg_terminate_backend for
 *		one of the bridge's role whose last query is a lock query, 651), and
 *		the server's own TCP keepalives on the lock's session (set below)
 *		end it soon once packets flow again.  Every command on the lock's
 *		connection is bounded (--recv-timeout, a stop request:
 *		pgerror_exec()).
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
#define BF_LOCK_END_WAIT_MS 2000

/* the key as a bigint, "WITH k AS (...) ..." of the slot's literal */
#define LOCK_KEY_CTE \
	"WITH k AS (SELECT pg_catalog.hashtext('wal2queue-backfill:' || %s)::bigint AS h) "

/*
 * The sessions holding the lock, of pg_locks l: a bigint key is classid (its
 * high half), objid (its low half), objsubid 1
 */
#define LOCK_HOLDERS_WHERE \
	"l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 " \
	"AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()) " \
	"AND l.classid::text::bigint = (k.h >> 32) & 4294967295 AND l.objid::text::bigint = k.h & 4294967295"

/*
 * This session's identity (the server's start, the pid, the backend's
 * start) for end_previous(), read before it takes the lock: a lock command
 * whose answer is lost still leaves a session this process knows (attack
 * 653)
 */
static const char *const ident_sql =
"SELECT (SELECT " POSTMASTER_EPOCH_SQL "), pg_catalog.pg_backend_pid(), "
"(SELECT " BACKEND_START_SQL " FROM pg_catalog.pg_stat_activity a "
"WHERE a.pid = pg_catalog.pg_backend_pid())";

/* take it */
static const char *const lock_fmt =
"SELECT pg_catalog.pg_try_advisory_lock(pg_catalog.hashtext('wal2queue-backfill:' || %s))";

/*
 * Who holds it (%s: only this session, else any): the pid, role,
 * application, and for people the state, seconds in it, whether its last
 * query is a bridge's lock query (this one or lock_fmt's), and whether its
 * role is this session's
 */
static const char *const holders_fmt =
LOCK_KEY_CTE
"SELECT l.pid, coalesce(a.usename::text, '?'), coalesce(a.application_name, ''), "
"coalesce(a.state, ''), coalesce(EXTRACT(epoch FROM pg_catalog.now() - a.state_change)::bigint::text, '?'), "
"coalesce(a.query LIKE 'WITH k AS (SELECT pg\\_catalog.hashtext(''wal2queue-backfill:''%%' "
"OR a.query LIKE 'SELECT pg\\_catalog.pg\\_try\\_advisory\\_lock(pg\\_catalog.hashtext(''wal2queue-backfill:''%%', false), "
"coalesce(a.usename = current_user, false) "
"FROM k, pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
"WHERE " LOCK_HOLDERS_WHERE " AND (NOT %s OR l.pid = pg_catalog.pg_backend_pid()) LIMIT 1";

/*
 * End this process's previous lock session (pid, backend start, server
 * start: a pid reused by another backend is never ended, attack 549), a
 * client backend of this role, only while it holds the lock (%s: the
 * sessions, end_match_fmt's)
 */
static const char *const end_fmt =
LOCK_KEY_CTE
"SELECT pg_catalog.pg_terminate_backend(a.pid, %d), a.pid FROM pg_catalog.pg_stat_activity a "
"WHERE (%s) AND a.pid <> pg_catalog.pg_backend_pid() AND a.backend_type = 'client backend' "
"AND a.usename = current_user "
"AND a.pid IN (SELECT l.pid FROM k, pg_catalog.pg_locks l WHERE " LOCK_HOLDERS_WHERE ")";

static const char *const end_match_fmt =
"%s(a.pid = %d AND " BACKEND_START_SQL " = %s AND " POSTMASTER_EPOCH_SQL " = %s)";

/*
 * A command on the lock's connection, bounded (--recv-timeout, a stop
 * request: pgerror_exec()): its result if it has status want, else NULL
 * with err set (a connection given up is shut: only PQfinish() is left)
 */
static PGresult *
lock_exec(PGconn *conn, const char *sql, ExecStatusType want, char *err, size_t errlen)
{
	const char *why;
	PGresult   *res = pgerror_exec(conn, sql, true, &why);

	if (res == NULL)
	{
		errbuf_set(err, errlen, -1, "%s", why);
		return NULL;
	}
	if (PQresultStatus(res) != want)
	{
		errbuf_set(err, errlen, -1, "%s", PQresultErrorMessage(res));
		PQclear(res);
		return NULL;
	}
	return res;
}

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
	const char *why;
	PGresult   *res;

	if (conn == NULL)
		return NULL;

	/*
	 * The session is idle between checks, often longer than a page takes:
	 * a server's or role's idle_session_timeout would end it, and the lock
	 * with it, at every page (test/t/436); its SQL, like every backfill
	 * connection's, looks names up in pg_catalog alone (BF_SAFE_SETTINGS).
	 * The server's TCP keepalives on this session: a lock left behind by a
	 * connection lost without the server noticing (a network cut, then a
	 * restart of the bridge, which cannot tell it from another bridge's)
	 * ends about 25 s after the server can reach the client's host again,
	 * rather than after the server's default (2 h 11 min; attack 622).
	 */
	res = pgerror_exec(conn, "SET idle_session_timeout = 0; " BF_SAFE_SETTINGS
					   "; SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; "
					   "SET tcp_keepalives_count = 3", true, &why);
	if (res == NULL)
	{
		f->kind = PGERR_TRANSIENT;
		f->sqlstate[0] = '\0';
		f->hint = NULL;
		snprintf(f->message, sizeof(f->message), "its first command: %s", why);
		PQfinish(conn);
		return NULL;
	}
	PQclear(res);
	return conn;
}

/*
 * Who holds the lock (mine: this session), as "PID 123 (role r, application
 * a, ...)" with its pid in *pid, or "" (none); "?: why" if it could not be
 * read
 */
static void
lock_holder(PGconn *conn, const char *slot, bool mine, char *buf, size_t len, int *pid,
			bool *leftover)
{
	char		sql[2048];
	char		err[300];
	char	   *lit = PQescapeLiteral(conn, slot, strlen(slot));
	PGresult   *res;

	buf[0] = '\0';
	if (pid)
		*pid = 0;
	if (leftover)
		*leftover = false;
	if (lit == NULL)
	{
		snprintf(buf, len, "?: out of memory");
		return;
	}
	snprintf(sql, sizeof(sql), holders_fmt, lit, mine ? "true" : "false");
	PQfreemem(lit);
	if ((res = lock_exec(conn, sql, PGRES_TUPLES_OK, err, sizeof(err))) == NULL)
	{
		snprintf(buf, len, "?: %s", err);
		return;
	}
	if (PQntuples(res) == 1 && PQgetvalue(res, 0, 3)[0] == '\0')
		snprintf(buf, len, "PID %s (role %s, application \"%s\")", PQgetvalue(res, 0, 0),
				 PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
	else if (PQntuples(res) == 1)
		snprintf(buf, len, "PID %s (role %s, application \"%s\", %s for %s s%s)",
				 PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
				 PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4),
				 strcmp(PQgetvalue(res, 0, 5), "t") == 0 ? ", its last query a bridge's lock query" : "");
	if (PQntuples(res) == 1 && pid)
		*pid = atoi(PQgetvalue(res, 0, 0));
	/* a leftover of a bridge of this role can only look like this */
	if (PQntuples(res) == 1 && leftover)
		*leftover = strcmp(PQgetvalue(res, 0, 5), "t") == 0 && strcmp(PQgetvalue(res, 0, 6), "t") == 0;
	PQclear(res);
}

/*
 * The lock's advice for people: the holder (pid) may be a leftover of a
 * bridge whose connection was lost without the server noticing, if it is a
 * session of this bridge's role whose last query is a bridge's lock query;
 * any other holder is not a bridge's, and is never advised to be ended
 * (attack 651)
 */
static void
leftover_hint(int pid, bool leftover, char *buf, size_t len)
{
	if (pid == 0)
		buf[0] = '\0';
	else if (!leftover)
		snprintf(buf, len, "; PID %d is not a bridge's lock session (not of this bridge's role, or its "
				 "last query not a bridge's lock query): another application holds that key; find out "
				 "which before anything is ended", pid);
	else
		snprintf(buf, len, "; if no bridge with this command line runs, PID %d is a leftover of one whose "
				 "connection was lost without the server noticing (a network cut; it lingers until the "
				 "server's TCP keepalive ends it, idle, its last query a bridge's lock query): end it with "
				 "SELECT pg_terminate_backend(%d)", pid, pid);
}

/* another bridge backfills the slot: wait, or (not --standby) give up */
static int
lock_busy(Backfill *bf, const char *holder, int pid, bool leftover)
{
	int64_t		now = now_us();
	char		hint[512];

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
	{
		leftover_hint(pid, leftover, hint, sizeof(hint));
		return bf_fail(bf, BF_FATAL, "another bridge is backfilling slot \"%s\" (the advisory lock "
					"hashtext('wal2queue-backfill:%s') is held by %s); is a second bridge running with "
					"this command line, or does another session hold that lock? (--standby waits for it)%s",
					bf->cfg->stream.slot, bf->cfg->stream.slot, holder[0] ? holder : "another session", hint);
	}
	return bf_fail(bf, BF_RETRY, "another bridge is backfilling slot \"%s\"", bf->cfg->stream.slot);
}

/* remember a session this process may leave holding the lock (one per pid) */
static void
remember(Backfill *bf, const BfLockSession *id, bool took)
{
	int			i;

	if (id->pid == 0)
		return;
	if (took)
	{
		/* it holds the lock: no earlier session can */
		memset(bf->lock_prev, 0, sizeof(bf->lock_prev));
		bf->lock_prev[0] = *id;
		return;
	}
	for (i = 0; i < 2; i++)
		if (bf->lock_prev[i].pid == id->pid || bf->lock_prev[i].pid == 0)
			break;
	bf->lock_prev[i < 2 ? i : 1] = *id;
}

static bool
remembered(const Backfill *bf)
{
	return bf->lock_prev[0].pid != 0 || bf->lock_prev[1].pid != 0;
}

/*
 * Try the lock on conn: 1 taken, 0 held elsewhere, -1 failed (err).  With
 * bf, this session's identity is read first, in a statement of its own, and
 * remembered in bf if it took the lock or if the lock command had no answer
 * or failed (it may hold the lock: end_previous(), attack 653).
 */
static int
lock_try(PGconn *conn, const char *slot, Backfill *bf, char *err, size_t errlen)
{
	char		sql[1024];
	char	   *lit;
	PGresult   *res;
	BfLockSession id;
	int			got;

	memset(&id, 0, sizeof(id));
	if (bf)
	{
		if ((res = lock_exec(conn, ident_sql, PGRES_TUPLES_OK, err, errlen)) == NULL)
			return -1;
		if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) && !PQgetisnull(res, 0, 1) &&
			!PQgetisnull(res, 0, 2))
		{
			id.pid = atoi(PQgetvalue(res, 0, 1));
			snprintf(id.epoch, sizeof(id.epoch), "%s", PQgetvalue(res, 0, 0));
			snprintf(id.start, sizeof(id.start), "%s", PQgetvalue(res, 0, 2));
		}
		PQclear(res);
	}
	if ((lit = PQescapeLiteral(conn, slot, strlen(slot))) == NULL)
	{
		errbuf_set(err, errlen, -1, "out of memory");
		return -1;
	}
	snprintf(sql, sizeof(sql), lock_fmt, lit);
	PQfreemem(lit);
	res = lock_exec(conn, sql, PGRES_TUPLES_OK, err, errlen);
	if (res != NULL && PQntuples(res) != 1)
	{
		errbuf_set(err, errlen, -1, "%d rows", PQntuples(res));
		PQclear(res);
		res = NULL;
	}
	got = res == NULL ? -1 : strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	/* the session to end if it lingers holding the lock (end_previous()) */
	if (bf && got != 0)
		remember(bf, &id, got == 1);
	return got;
}

/*
 * The lock is held elsewhere: by one of this process's previous lock
 * sessions, left behind by a connection dropped while the path was silent
 * (a given-up command: attacks 622, 653)?  It serves no one: ended (a role
 * may end its own backends), and waited for a moment.  Only the backend of
 * a remembered pid whose starts are the ones read on its own connection,
 * while it holds the lock.  1 ended, 0 none there holds it (forgotten), 2
 * ended but still there after BF_LOCK_END_WAIT_MS (kept: ended again at the
 * next attempt), -1 no answer (kept: err); *ended_pid: the holder.  A refusal (no right to
 * pg_terminate_backend(), a statement_timeout) is said and forgotten, as
 * stream_own.c end_given_up() does: 0, the lock is then waited for as any
 * busy lock (attack 650).
 */
static int
end_previous(Backfill *bf, int *ended_pid, char *err, size_t errlen)
{
	PGconn	   *conn = bf->lock_conn;
	char		sql[3072];
	char		match[1024] = "";
	char	   *lit = PQescapeLiteral(conn, bf->cfg->stream.slot, strlen(bf->cfg->stream.slot));
	const char *why;
	PGresult   *res;
	bool		oom = lit == NULL;
	int			rc;
	int			pid = 0;
	int			i;

	for (i = 0; i < 2 && !oom; i++)
	{
		const BfLockSession *p = &bf->lock_prev[i];
		char	   *start;
		char	   *epoch;
		size_t		n = strlen(match);

		if (p->pid == 0)
			continue;
		start = PQescapeLiteral(conn, p->start, strlen(p->start));
		epoch = PQescapeLiteral(conn, p->epoch, strlen(p->epoch));
		if (start && epoch)
			snprintf(match + n, sizeof(match) - n, end_match_fmt, n ? " OR " : "", p->pid, start, epoch);
		else
			oom = true;
		PQfreemem(start);
		PQfreemem(epoch);
	}
	if (oom)
	{
		PQfreemem(lit);
		errbuf_set(err, errlen, -1, "out of memory");
		return -1;
	}
	snprintf(sql, sizeof(sql), end_fmt, lit, BF_LOCK_END_WAIT_MS, match[0] ? match : "false");
	PQfreemem(lit);
	if ((res = pgerror_exec(conn, sql, true, &why)) == NULL)
	{
		errbuf_set(err, errlen, -1, "%s", why);
		return -1;
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		if (PQstatus(conn) != CONNECTION_OK)
		{
			errbuf_set(err, errlen, -1, "%s", PQerrorMessage(conn));
			PQclear(res);
			return -1;
		}
		log_msg(LOG_WARNING, "could not end this bridge's own previous backfill lock session "
				"(pid %d), in case it still holds the backfill lock of slot \"%s\": %s; left to "
				"the server", bf->lock_prev[0].pid ? bf->lock_prev[0].pid : bf->lock_prev[1].pid,
				bf->cfg->stream.slot, PQresultErrorMessage(res));
		PQclear(res);
		memset(bf->lock_prev, 0, sizeof(bf->lock_prev));
		return 0;
	}
	if (PQntuples(res) == 0)
		rc = 0;
	else if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
		rc = 1;
	else
		rc = 2;
	if (rc != 0)
		pid = atoi(PQgetvalue(res, 0, 1));
	PQclear(res);
	if (rc == 1)
		log_msg(LOG_WARNING, "ended this bridge's own previous backfill lock session (pid %d), which "
				"still held the backfill lock of slot \"%s\": its connection was lost without the "
				"server noticing", pid, bf->cfg->stream.slot);
	/* the holder is the only one that may still matter */
	for (i = 0; i < 2; i++)
		if (rc != 2 || bf->lock_prev[i].pid != pid)
			memset(&bf->lock_prev[i], 0, sizeof(bf->lock_prev[i]));
	*ended_pid = pid;
	return rc;
}

int
bf_lock_take(Backfill *bf)
{
	char		holder[384];
	char		err[512];
	PgConnectFailure f;
	int			pid;
	bool		leftover;
	int			got;
	int			ended;
	int			ended_pid = 0;

	bf->lock_wait = false;
	if (bf->lock_conn == NULL && (bf->lock_conn = lock_connect(bf->cfg->stream.conninfo, &f)) == NULL)
		return bf_fail(bf, f.kind == PGERR_PERMANENT ? BF_FATAL : BF_RETRY,
					"could not connect to PostgreSQL for the backfill's lock: %s", f.message);
	got = lock_try(bf->lock_conn, bf->cfg->stream.slot, bf, err, sizeof(err));
	if (got == 0 && remembered(bf))
	{
		ended = end_previous(bf, &ended_pid, err, sizeof(err));
		if (ended == 1)
			got = lock_try(bf->lock_conn, bf->cfg->stream.slot, bf, err, sizeof(err));
		else if (ended == 2)
		{
			bf_lock_release(bf);
			return bf_fail(bf, BF_RETRY, "waiting for this bridge's own previous backfill lock session "
						"(pid %d), which still holds the backfill lock of slot \"%s\", to end: it was "
						"ended and is still there after %d ms", ended_pid, bf->cfg->stream.slot,
						BF_LOCK_END_WAIT_MS);
		}
		else if (ended < 0)
			got = -1;
	}
	if (got < 0)
	{
		bf_fail(bf, BF_RETRY, "could not take the backfill's advisory lock of slot \"%s\": %s",
				bf->cfg->stream.slot, err);
		bf_lock_release(bf);
		return BF_RETRY;
	}
	if (!got)
	{
		lock_holder(bf->lock_conn, bf->cfg->stream.slot, false, holder, sizeof(holder), &pid, &leftover);
		bf_lock_release(bf);
		return lock_busy(bf, holder, pid, leftover);
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
	char		holder[384] = "";
	char		why[512];

	if (bf->lock_conn == NULL || PQstatus(bf->lock_conn) != CONNECTION_OK)
		snprintf(why, sizeof(why), "its connection is gone: %s",
				 bf->lock_conn ? PQerrorMessage(bf->lock_conn) : "closed");
	else
	{
		lock_holder(bf->lock_conn, bf->cfg->stream.slot, true, holder, sizeof(holder), NULL, NULL);
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
	PgConnectFailure f;
	PGconn	   *conn = lock_connect(cfg->stream.conninfo, &f);
	char		holder[384];
	char		hint[512];
	char		why[512];
	int			pid;
	bool		leftover;
	int			got;

	if (conn == NULL)
	{
		errbuf_set(err, errlen, -1, "could not connect to PostgreSQL for the backfill's lock: %s", f.message);
		return NULL;
	}
	if ((got = lock_try(conn, cfg->stream.slot, NULL, why, sizeof(why))) == 1)
		return conn;
	if (got < 0)
		errbuf_set(err, errlen, -1, "could not take the backfill's advisory lock of slot \"%s\": %s",
				   cfg->stream.slot, why);
	else
	{
		lock_holder(conn, cfg->stream.slot, false, holder, sizeof(holder), &pid, &leftover);
		leftover_hint(pid, leftover, hint, sizeof(hint));
		errbuf_set(err, errlen, -1, "a bridge is backfilling slot \"%s\" (the advisory lock "
				   "hashtext('wal2queue-backfill:%s') is held by %s); not dropping it (stop that bridge first)%s",
				   cfg->stream.slot, cfg->stream.slot, holder[0] ? holder : "another session", hint);
	}
	PQfinish(conn);
	return NULL;
}
