/*-------------------------------------------------------------------------
 *
 * stream_own.c
 *		The bridge's own walsenders: the one of this connection, remembered
 *		to be ended at the next open if it lingers (stream_end_own_walsender(),
 *		attack 496), the one of an open whose command was given up, ended
 *		before the next open runs a command that could wait (end_given_up(),
 *		attack 571), and the check that the server still runs a command
 *		waited for (own_command_running(), test/t/602).
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pgerror.h"
#include "stream.h"
#include "stream_internal.h"

/*
 * This connection's walsender is this process's own: the one to end at the
 * next open if it lingers (stream_end_own_walsender()).
 */
void
remember_own(Stream *s)
{
	s->own_pid = s->conn_pid;
	snprintf(s->own_epoch, sizeof(s->own_epoch), "%s", s->conn_epoch);
	snprintf(s->own_start, sizeof(s->own_start), "%s", s->conn_start);
	s->own_ended_us = 0;
}

/*
 * This connection's command was given up: its walsender may go on waiting
 * (on a lock, keeping the locks it took before and a walsender slot) for as
 * long as the server does not write to the connection.  Ended at the next
 * open (end_given_up()), so that a retry does not leave one more each time
 * (attack 571).  Only one whose identity is known, and only while none is
 * pending: an open that finds the last one not gone fails before it runs
 * a command that could wait.
 */
void
remember_gone(Stream *s)
{
	if (s->gone_pid != 0 || s->conn_pid == 0 || s->conn_epoch[0] == '\0' ||
		s->conn_start[0] == '\0')
		return;
	s->gone_pid = s->conn_pid;
	snprintf(s->gone_epoch, sizeof(s->gone_epoch), "%s", s->conn_epoch);
	snprintf(s->gone_start, sizeof(s->gone_start), "%s", s->conn_start);
}

/*
 * Does the server still run this connection's command?  Asked from a
 * connection of its own while a command that may wait long has no answer
 * (pgerror_exec_watched()).  No only on positive evidence from the same
 * system (its identifier, as IDENTIFY_SYSTEM gave it): a later start of the
 * server (its start epoch, as 549 checks), or the backend gone, replaced by
 * another of that pid, or no longer active, so that its answer was sent, or
 * the connection ended, and never came: the path went silent (test/t/602,
 * 615).  A row the checking role may not see (its state hidden) tells
 * nothing, and the wait goes on (test/t/610, 611).  A server that cannot be
 * reached, or another one behind the conninfo, tells nothing either, but
 * OWN_CHECK_BLIND_MAX such bounds in a row give the command up, as the
 * stream is given up after --recv-timeout (a failover: test/t/613).
 */
#define OWN_CHECK_BLIND_MAX 3

static bool
own_check_blind(OwnCheck *c, const char **why)
{
	if (++c->blind < OWN_CHECK_BLIND_MAX)
		return true;
	*why = "the server it runs on could not be reached from a new connection at "
		"three bounds in a row";
	return false;
}

/*
 * The side check's query: the server's identity and start, and the
 * walsender's presence, start, state and slot (pid, backend start).
 */
static bool
own_check_sql(PGconn *conn, const Stream *s, char *sql, size_t len)
{
	char	   *start = PQescapeLiteral(conn, s->conn_start, strlen(s->conn_start));
	char	   *slot = PQescapeLiteral(conn, s->cfg->slot, strlen(s->cfg->slot));

	if (start && slot)
		snprintf(sql, len,
				 "SELECT (SELECT system_identifier::pg_catalog.text FROM pg_catalog.pg_control_system()), "
				 POSTMASTER_EPOCH_SQL ", "
				 "(SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_activity a WHERE a.pid = %d), "
				 "(SELECT a.state IS NULL OR a.backend_start IS NULL FROM pg_catalog.pg_stat_activity a "
				 "WHERE a.pid = %d), "
				 "(SELECT " BACKEND_START_SQL " = %s FROM pg_catalog.pg_stat_activity a WHERE a.pid = %d), "
				 "(SELECT a.state FROM pg_catalog.pg_stat_activity a WHERE a.pid = %d), "
				 "(SELECT r.restart_lsn::pg_catalog.text FROM pg_catalog.pg_replication_slots r "
				 "WHERE r.slot_name = %s AND r.active_pid = %d), "
				 "(SELECT r.restart_lsn::pg_catalog.text FROM pg_catalog.pg_replication_slots r "
				 "WHERE r.slot_name = %s AND r.active_pid IS NULL)",
				 s->conn_pid, s->conn_pid, start, s->conn_pid, s->conn_pid, slot, s->conn_pid, slot);
	PQfreemem(start);
	PQfreemem(slot);
	return start && slot;
}

/*
 * Judge the side check's answer: false when it tells nothing (another
 * system, or no answer); else *why is set when the command no longer runs,
 * and *idle when its walsender released, unmoved, the slot it held at an
 * earlier check.
 */
static bool
own_check_judge(OwnCheck *c, PGresult *res, const char **why, bool *idle)
{
	const Stream *s = c->s;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
		strcmp(PQgetvalue(res, 0, 0), s->sysid) != 0)
		return false;
	if (strcmp(PQgetvalue(res, 0, 1), s->conn_epoch) != 0)
		*why = "the server restarted since (a later start of the same system) and no word "
			"of it came: the path went silent";
	else if (strcmp(PQgetvalue(res, 0, 2), "0") == 0 ||
			 (strcmp(PQgetvalue(res, 0, 3), "f") == 0 &&
			  strcmp(PQgetvalue(res, 0, 4), "t") != 0))
		*why = "the server ended the connection and no word of it came: the path went silent";
	else if (strcmp(PQgetvalue(res, 0, 3), "t") == 0)
		;						/* hidden from this role: tells nothing */
	else if (strcmp(PQgetvalue(res, 0, 5), "active") != 0)
	{
		*why = "the server finished the command and its answer never came: the path went silent";
		/* the slot its walsender held at a check, now released, unmoved */
		*idle = strcmp(PQgetvalue(res, 0, 5), "idle") == 0 && c->made[0] != '\0' &&
			!PQgetisnull(res, 0, 7) && strcmp(PQgetvalue(res, 0, 7), c->made) == 0;
	}
	else if (!PQgetisnull(res, 0, 6))
		snprintf(c->made, sizeof(c->made), "%s", PQgetvalue(res, 0, 6));
	return true;
}

bool
own_command_running(void *arg, const char **why)
{
	OwnCheck   *c = arg;
	Stream	   *s = c->s;
	const char *keys[] = {"dbname", "replication", "fallback_application_name", NULL};
	const char *vals[] = {s->cfg->conninfo, "false", "wal2queue-bridge check", NULL};
	PgConnectFailure f;
	PGconn	   *conn;
	PGresult   *res;
	const char *failed;
	char		sql[1280];
	bool		told;
	bool		idle = false;

	*why = NULL;
	if (s->conn_pid == 0 || s->conn_epoch[0] == '\0' || s->conn_start[0] == '\0' ||
		s->sysid[0] == '\0')
		return true;			/* whose backend it is is not known */
	if ((conn = pgerror_connect(keys, vals, &f)) == NULL)
		return own_check_blind(c, why);
	if (!own_check_sql(conn, s, sql, sizeof(sql)))
	{
		PQfinish(conn);
		return true;
	}
	res = pgerror_exec(conn, sql, true, &failed);
	told = own_check_judge(c, res, why, &idle);
	PQclear(res);
	PQfinish(conn);
	if (!told)
		return own_check_blind(c, why);
	c->blind = 0;
	/*
	 * The server made the slot: it is this run's, under its --create-slot
	 * lock.  Positive evidence only (attack 620): the walsender running the
	 * command held a slot of that name at a check (CREATE_REPLICATION_SLOT
	 * acquires it before it waits), and now, idle, has released it where it
	 * was (restart_lsn: a slot made later, after the command failed, begins
	 * past the running-transactions record the first one logged).  A failed
	 * command, a request that never arrived, or a finish before the first
	 * check mark nothing: the next open then finds a slot it cannot vouch
	 * for and refuses it, as any slot made outside it.
	 */
	if (idle && s->conn_locked && strncmp(c->sql, "CREATE_REPLICATION_SLOT", 23) == 0)
		s->create_unanswered = true;
	return *why == NULL;
}

/*
 * The walsender of an open whose command was given up (remember_gone()),
 * if it is still there: ended, and waited for a moment (pg_terminate_backend
 * with a timeout).  Only the backend of that pid whose start and whose
 * server's start are the ones read on its own connection, a walsender of
 * this role: a pid reused by another client's backend is never ended
 * (attack 549).  One not gone within END_WAIT_MS fails the open (retried)
 * before any command that could wait, so at most two walsenders of this
 * bridge are up at a time.
 */
#define END_WAIT_MS 2000

static int
end_given_up(Stream *s)
{
	char		sql[1024];
	char	   *epoch;
	char	   *start;
	PGresult   *res;
	int			rc;
	int			pid = s->gone_pid;

	if (pid == 0 || s->conn_epoch[0] == '\0')
		return STREAM_OK;		/* none, or this server's start unknown */
	if (strcmp(s->gone_epoch, s->conn_epoch) != 0)
	{
		s->gone_pid = 0;		/* the server restarted since: it is gone */
		return STREAM_OK;
	}
	epoch = PQescapeLiteral(s->conn, s->gone_epoch, strlen(s->gone_epoch));
	start = PQescapeLiteral(s->conn, s->gone_start, strlen(s->gone_start));
	if (epoch == NULL || start == NULL)
	{
		PQfreemem(epoch);
		PQfreemem(start);
		return stream_fail(s, STREAM_RETRY, "out of memory");
	}
	snprintf(sql, sizeof(sql),
			 "SELECT pg_catalog.pg_terminate_backend(a.pid, %d) FROM pg_catalog.pg_stat_activity a "
			 "WHERE a.pid = %d AND a.backend_type = 'walsender' AND a.usename = current_user "
			 "AND " BACKEND_START_SQL " = %s AND " POSTMASTER_EPOCH_SQL " = %s",
			 END_WAIT_MS, pid, start, epoch);
	PQfreemem(epoch);
	PQfreemem(start);
	if ((rc = stream_run_command(s, sql, PGRES_TUPLES_OK, &res)) != STREAM_OK)
	{
		if (s->gave_up || PQstatus(s->conn) != CONNECTION_OK)
			return STREAM_RETRY;	/* kept: ended at the next open */
		/* refused: left to the server, as before attack 571 */
		log_msg(LOG_WARNING, "could not end this bridge's own previous walsender (pid %d), "
				"whose command was given up: %s", pid, s->err);
		s->gone_pid = 0;
		s->err[0] = '\0';
		return STREAM_OK;
	}
	if (PQntuples(res) == 0)
		s->gone_pid = 0;		/* gone by itself */
	else if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
	{
		s->gone_pid = 0;
		log_msg(LOG_WARNING, "ended this bridge's own previous walsender (pid %d), whose command "
				"was given up and which still waited (on a lock, or for the network): each retry "
				"would leave one more", pid);
	}
	PQclear(res);
	if (s->gone_pid != 0)
		return stream_fail(s, STREAM_RETRY, "waiting for this bridge's own previous walsender "
						   "(pid %d), whose command was given up, to end: it was ended and "
						   "is still there after %d ms", pid, END_WAIT_MS);
	return STREAM_OK;
}

int
stream_identify_backend(Stream *s)
{
	PGresult   *res;
	int			rc;

	if ((rc = stream_run_command(s, "SELECT " POSTMASTER_EPOCH_SQL ", a.pid, " BACKEND_START_SQL
								 " FROM pg_catalog.pg_stat_activity a "
								 "WHERE a.pid = pg_catalog.pg_backend_pid()",
								 PGRES_TUPLES_OK, &res)) != STREAM_OK)
		return rc;
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) && !PQgetisnull(res, 0, 1) &&
		!PQgetisnull(res, 0, 2))
	{
		snprintf(s->conn_epoch, sizeof(s->conn_epoch), "%s", PQgetvalue(res, 0, 0));
		s->conn_pid = atoi(PQgetvalue(res, 0, 1));
		snprintf(s->conn_start, sizeof(s->conn_start), "%s", PQgetvalue(res, 0, 2));
	}
	PQclear(res);
	return end_given_up(s);
}

/*
 * The slot (or its --create-slot lock) is held by this process's own last
 * walsender: the connection was dropped while the path to the server was
 * silent, so the server has not seen it go and keeps the walsender until
 * wal_sender_timeout.  It serves no one: end it (a role may end its own
 * backends), rather than wait, or take it for another bridge (attack 496).
 * Only while it is the slot's active_pid or holds the slot's --create-slot
 * lock, and the server's start and the backend's start are the ones read on
 * own_pid's connection (POSTMASTER_EPOCH_SQL, BACKEND_START_SQL), checked in
 * the same statement: a pid reused by another backend (a restarted
 * container whose pids count from 1 again, attack 549; a pooler's made-up
 * pids) is never ended, nor one whose starts are unknown.  (The walsender
 * of an open whose command was given up is end_given_up()'s.)  A walsender
 * that does not go at once (stopped, stuck on a disk) is ended again at
 * every attempt and its pid kept
 * (s->own_busy: the bridge waits for it, attack 504) until the slot's
 * holder is another process, or none.
 */
void
stream_end_own_walsender(Stream *s)
{
	char		sql[1536];
	char	   *lit;
	char	   *epoch;
	char	   *start;
	PGresult   *res;
	bool		ended;

	s->own_busy = false;
	if (s->own_pid != 0 && (s->own_epoch[0] == '\0' || s->own_start[0] == '\0'))
		s->own_pid = 0;			/* not known to be ours: never ended */
	if (s->own_pid == 0 || s->conn == NULL || PQstatus(s->conn) != CONNECTION_OK)
		return;
	lit = PQescapeLiteral(s->conn, s->cfg->slot, strlen(s->cfg->slot));
	epoch = PQescapeLiteral(s->conn, s->own_epoch, strlen(s->own_epoch));
	start = PQescapeLiteral(s->conn, s->own_start, strlen(s->own_start));
	if (lit == NULL || epoch == NULL || start == NULL)
	{
		PQfreemem(lit);
		PQfreemem(epoch);
		PQfreemem(start);
		return;
	}
	snprintf(sql, sizeof(sql),
			 "SELECT pg_catalog.pg_terminate_backend(a.pid) FROM pg_catalog.pg_stat_activity a "
			 "WHERE a.pid = %d AND a.backend_type = 'walsender' AND a.usename = current_user "
			 "AND " POSTMASTER_EPOCH_SQL " = %s AND " BACKEND_START_SQL " = %s "
			 "AND (a.pid IN (SELECT r.active_pid FROM pg_catalog.pg_replication_slots r "
			 "WHERE r.slot_name = %s) OR a.pid IN (SELECT l.pid FROM pg_catalog.pg_locks l "
			 "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %u "
			 "AND l.objid = pg_catalog.hashtext(%s)::pg_catalog.oid AND l.objsubid = 2))",
			 s->own_pid, epoch, start, lit, (unsigned) CREATE_LOCK_CLASS, lit);
	PQfreemem(lit);
	PQfreemem(epoch);
	PQfreemem(start);
	res = stream_exec(s, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		PQclear(res);
		return;					/* keep the pid: try again at the next open */
	}
	ended = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!ended)
	{
		s->own_pid = 0;			/* the holder is another process, or none */
		s->own_ended_us = 0;
		return;
	}
	s->own_busy = true;
	if (s->own_ended_us == 0)
	{
		s->own_ended_us = now_us();
		log_msg(LOG_WARNING, "ended this bridge's own previous walsender (pid %d), which still held "
				"replication slot \"%s\" (or its --create-slot lock): its connection was lost "
				"without the server noticing",
				s->own_pid, s->cfg->slot);
	}
	else
		log_msg(LOG_INFO, "waiting for this bridge's own previous walsender (pid %d) to end: it "
				"still holds replication slot \"%s\" %d s after it was ended (ended again)",
				s->own_pid, s->cfg->slot, (int) ((now_us() - s->own_ended_us) / 1000000));
}
