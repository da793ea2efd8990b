/*-------------------------------------------------------------------------
 *
 * slot.c
 *		The replication slot's lifecycle on the replication connection:
 *		checking it before START_REPLICATION (plugin, database, holder,
 *		wal_status; for pgoutput the publication), creating it (also with an
 *		exported snapshot for --backfill) and dropping it (--drop-slot, or one
 *		this open created and the server then refused); the extension's slot
 *		registry is told of each (slot_registry.c).
 *
 * The connection itself, its commands and error text are stream.c's
 * (stream_internal.h).
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "lsn.h"
#include "message_access.h"
#include "precheck.h"
#include "publication.h"
#include "stream.h"
#include "stream_internal.h"

static int
create_slot(Stream *s)
{
	char		sql[512];
	char	   *ident = PQescapeIdentifier(s->conn, s->cfg->slot, strlen(s->cfg->slot));
	int			rc;
	PGresult   *res = NULL;

	snprintf(sql, sizeof(sql),
			 "CREATE_REPLICATION_SLOT %s LOGICAL %s NOEXPORT_SNAPSHOT", ident, SLOT_PLUGIN(s));
	PQfreemem(ident);
	rc = stream_run_command(s, sql, PGRES_TUPLES_OK, &res);
	if (rc == STREAM_OK)
	{
		unsigned	hi = 0,
					lo = 0;

		if (PQntuples(res) == 1 && PQnfields(res) >= 2 &&
			sscanf(PQgetvalue(res, 0, 1), "%X/%X", &hi, &lo) == 2)
			s->created_at = ((uint64_t) hi << 32) | lo;
		PQclear(res);
		log_msg(LOG_INFO, "created replication slot \"%s\"", s->cfg->slot);
		s->slot_created = true;
		slot_registry_call(s, true);
	}
	return rc;
}

/*
 * --create-slot: only one bridge at a time may create, or start to stream,
 * a slot of that name.  Two bridges creating it at once, one of them fails
 * ("already exists"); and the server releases a slot between its CREATE and
 * the START_REPLICATION after it, so a second bridge that took it in that
 * moment would find no progress record in the sink and stop.  A session
 * advisory lock of the walsender, held as long as the connection lives
 * (through the stream), says another bridge is there: the slot is then
 * handled as one another bridge holds (--standby stands by).
 */
/* CREATE_LOCK_CLASS: stream_internal.h */

/*
 * Who holds the --create-slot lock, for people: "; held by PID 123
 * (walsender, role r, application a, idle in transaction for 45 s, its
 * last command a bridge's CREATE_REPLICATION_SLOT)" and the advice to end it
 * if it is a walsender of this role (no bridge with this command line
 * running, it is the leftover of one whose connection was lost without the
 * server noticing: attack 652), or "" if it cannot be read.  Never ended
 * here: a live bridge's walsender looks the same.
 */
void
slot_lock_holder(Stream *s, char *buf, size_t len)
{
	char		sql[1536];
	char	   *lit;
	PGresult   *res;

	buf[0] = '\0';
	if (s->conn == NULL || PQstatus(s->conn) != CONNECTION_OK ||
		(lit = PQescapeLiteral(s->conn, s->cfg->slot, strlen(s->cfg->slot))) == NULL)
		return;
	snprintf(sql, sizeof(sql),
			 "SELECT l.pid, coalesce(a.backend_type, '?'), coalesce(a.usename::pg_catalog.text, '?'), "
			 "coalesce(a.application_name, ''), coalesce(a.state, ''), "
			 "coalesce(EXTRACT(epoch FROM pg_catalog.now() - a.state_change)::bigint::pg_catalog.text, '?'), "
			 "coalesce(a.query LIKE 'CREATE\\_REPLICATION\\_SLOT%%', false), "
			 "coalesce(a.usename = current_user AND a.backend_type = 'walsender', false) "
			 "FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
			 "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %u "
			 "AND l.objid = pg_catalog.hashtext(%s)::pg_catalog.oid AND l.objsubid = 2 "
			 "AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d "
			 "WHERE d.datname = pg_catalog.current_database()) "
			 "AND l.pid <> pg_catalog.pg_backend_pid() LIMIT 1",
			 (unsigned) CREATE_LOCK_CLASS, lit);
	PQfreemem(lit);
	res = stream_exec(s, sql);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
	{
		const char *pid = PQgetvalue(res, 0, 0);
		bool		ours = strcmp(PQgetvalue(res, 0, 7), "t") == 0;
		size_t		n;

		snprintf(buf, len, "; held by PID %s (%s, role %s, application \"%s\"", pid,
				 PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3));
		n = strlen(buf);
		if (PQgetvalue(res, 0, 4)[0] != '\0' && n < len)
			snprintf(buf + n, len - n, ", %s for %s s", PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 5));
		n = strlen(buf);
		if (n < len)
			snprintf(buf + n, len - n, "%s)", strcmp(PQgetvalue(res, 0, 6), "t") == 0 ?
					 ", its last command a bridge's CREATE_REPLICATION_SLOT" : "");
		n = strlen(buf);
		if (ours && n < len)
			snprintf(buf + n, len - n, "; if no bridge with this command line runs, PID %s is a "
					 "leftover of one whose connection was lost without the server noticing (a "
					 "network cut, then a restart: it keeps the lock and its exported snapshot until "
					 "the server's TCP keepalive ends it): end it with SELECT pg_terminate_backend(%s)",
					 pid, pid);
		else if (n < len)
			snprintf(buf + n, len - n, "; PID %s is not a walsender of this bridge's role: "
					 "find out which application holds that key before anything is ended", pid);
	}
	PQclear(res);
}

int
slot_lock_name(Stream *s)
{
	char		sql[512];
	char	   *lit = PQescapeLiteral(s->conn, s->cfg->slot, strlen(s->cfg->slot));
	PGresult   *res;
	int			rc;
	bool		got;

	if (lit == NULL)
		return stream_fail(s, STREAM_FATAL, "out of memory");
	snprintf(sql, sizeof(sql), "SELECT pg_catalog.pg_try_advisory_lock(%d, pg_catalog.hashtext(%s)), "
			 POSTMASTER_EPOCH_SQL, CREATE_LOCK_CLASS, lit);
	PQfreemem(lit);
	if ((rc = stream_run_command(s, sql, PGRES_TUPLES_OK, &res)) != STREAM_OK)
		return rc;
	got = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	slot_note_epoch(s, res, 1);
	PQclear(res);
	s->conn_locked = got;
	if (got)
		return STREAM_OK;
	s->slot_busy = true;
	{
		char		held[768];

		slot_lock_holder(s, held, sizeof(held));
		return stream_fail(s, STREAM_RETRY, "replication slot \"%s\" is being created or streamed by "
						   "another bridge started with --create-slot%s", s->cfg->slot, held);
	}
}

/* drop the slot this process created and that delivered nothing */
static void
drop_created(Stream *s, const char *why)
{
	char		sql[512];
	char	   *ident;
	PGresult   *res;

	if (!s->slot_created || s->slot_busy || s->conn == NULL ||
		PQstatus(s->conn) != CONNECTION_OK)
		return;
	if ((ident = PQescapeIdentifier(s->conn, s->cfg->slot, strlen(s->cfg->slot))) == NULL)
		return;
	snprintf(sql, sizeof(sql), "DROP_REPLICATION_SLOT %s", ident);
	PQfreemem(ident);
	res = stream_exec(s, sql);
	if (PQresultStatus(res) == PGRES_COMMAND_OK)
	{
		log_msg(LOG_WARNING, "dropped replication slot \"%s\" again: %s created it and %s, "
				"so it delivered nothing; correct the command line and start again with --create-slot",
				s->cfg->slot, s->slot_reclaimed ? "an earlier run, stopped before its sink recorded "
				"anything," : "this run", why);
		s->slot_created = false;
		s->slot_reclaimed = false;
		slot_registry_call(s, false);
	}
	else
	{
		char		buf[400];

		log_msg(LOG_WARNING, "could not drop replication slot \"%s\", which this run created and "
				"which delivered nothing: %s; drop it with --drop-slot", s->cfg->slot,
				res ? stream_result_message(res, buf, sizeof(buf)) : s->err);
	}
	PQclear(res);
}

/*
 * The slot this open created was refused before it streamed (a plugin
 * option the plugin rejects, ...): it never delivered anything, so drop it
 * again rather than leave an unregistered slot holding WAL behind.  Not a
 * slot another walsender holds.  s->err keeps the refusal.
 */
void
slot_drop_created(Stream *s)
{
	if (s->slot_reclaimed)
		return;
	drop_created(s, "the server refused to stream from it");
}

/* the same for a slot whose first backfill stopped before it delivered */
void
stream_drop_created_slot(Stream *s, const char *why)
{
	drop_created(s, why);
}

void
stream_drop_refused_slot(Stream *s, int timeout_ms)
{
	PGresult   *res;
	int			waited = 0;

	if (!s->slot_created || s->conn == NULL || PQstatus(s->conn) != CONNECTION_OK)
		return;
	if (s->copybuf)
	{
		PQfreemem(s->copybuf);
		s->copybuf = NULL;
	}
	/* the walsender releases the slot before it ends the copy too */
	if (PQputCopyEnd(s->conn, NULL) != 1 || PQflush(s->conn) != 0)
		return;
	for (;;)
	{
		char	   *buf = NULL;
		int			len = PQgetCopyData(s->conn, &buf, 1);

		if (buf)
			PQfreemem(buf);
		if (len == -2)
			return;
		if (len == -1)
			break;
		if (len == 0)
		{
			if (waited >= timeout_ms || !PQconsumeInput(s->conn))
				return;
			{
				struct pollfd pfd = {.fd = PQsocket(s->conn),.events = POLLIN};

				if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
					return;
			}
			waited += 100;
		}
	}
	while ((res = PQgetResult(s->conn)) != NULL)
		PQclear(res);
	drop_created(s, "the sink refused it at its first check");
}

/*
 * --backfill: connect, identify the server and create the slot with an
 * exported snapshot; the connection stays open and idle, keeping the
 * snapshot alive, until stream_close().
 */
int
stream_create_exported(Stream *s, char *snapshot, size_t snaplen)
{
	char		sql[512];
	char	   *ident;
	PGresult   *res = NULL;
	int			rc;
	const char *cp;
	char		at[LSN_STRLEN];

	stream_close(s);
	s->slot_created = false;
	if ((rc = stream_connect(s)) != STREAM_OK ||
		(rc = stream_identify_system(s)) != STREAM_OK ||
		(rc = stream_identify_backend(s)) != STREAM_OK ||
		(rc = slot_lock_name(s)) != STREAM_OK ||
		(rc = slot_check_publication(s)) != STREAM_OK)
		return rc;
	ident = PQescapeIdentifier(s->conn, s->cfg->slot, strlen(s->cfg->slot));
	snprintf(sql, sizeof(sql), "CREATE_REPLICATION_SLOT %s LOGICAL %s (SNAPSHOT 'export')",
			 ident, SLOT_PLUGIN(s));
	PQfreemem(ident);
	if ((rc = stream_run_command(s, sql, PGRES_TUPLES_OK, &res)) != STREAM_OK)
	{
		stream_explain_plugin_refusal(s);
		return rc;
	}
	cp = PQnfields(res) >= 3 ? PQgetvalue(res, 0, 1) : "";
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 2) ||
		!lsn_parse(cp, strlen(cp), &s->start_lsn))
	{
		PQclear(res);
		return stream_fail(s, STREAM_FATAL, "unexpected CREATE_REPLICATION_SLOT result");
	}
	snprintf(snapshot, snaplen, "%s", PQgetvalue(res, 0, 2));
	PQclear(res);
	log_msg(LOG_INFO, "created replication slot \"%s\" with snapshot %s at %s",
			s->cfg->slot, snapshot, lsn_format(s->start_lsn, at, sizeof(at)));
	s->slot_created = true;
	/* not slot_registry_call() yet: any command ends the exported snapshot */
	return STREAM_OK;
}

/*
 * --backfill: the server's identity and the slot's state (exists, its
 * wal_status and confirmed position), on a connection closed after.
 */
int
stream_probe(Stream *s, bool *exists)
{
	char		sql[512];
	char	   *lit;
	PGresult   *res;
	int			rc;

	*exists = false;
	stream_close(s);
	if ((rc = stream_connect(s)) != STREAM_OK ||
		(rc = stream_identify_system(s)) != STREAM_OK)
	{
		stream_close(s);
		return rc;
	}
	lit = PQescapeLiteral(s->conn, s->cfg->slot, strlen(s->cfg->slot));
	snprintf(sql, sizeof(sql),
			 "SELECT coalesce(wal_status, ''), coalesce(confirmed_flush_lsn::text, '') "
			 "FROM pg_catalog.pg_replication_slots WHERE slot_name = %s", lit);
	PQfreemem(lit);
	if ((rc = stream_run_command(s, sql, PGRES_TUPLES_OK, &res)) == STREAM_OK)
	{
		if (PQntuples(res) == 1)
		{
			const char *lsn = PQgetvalue(res, 0, 1);

			*exists = true;
			snprintf(s->wal_status, sizeof(s->wal_status), "%s", PQgetvalue(res, 0, 0));
			if (!lsn_parse(lsn, strlen(lsn), &s->start_lsn))
				s->start_lsn = 0;
		}
		PQclear(res);
	}
	stream_close(s);
	return rc;
}

/*
 * --create-slot found the slot: did a run with --create-slot make it and
 * stop (kill -9) before its sink recorded anything?  The positive evidence
 * is the registry: the bridge registers a slot right after creating it,
 * with its confirmed_flush_lsn then (start_lsn), and a slot still there
 * has confirmed nothing since.  Such a slot is handled as created by this
 * run (the sink checks it as new: a record of this source behind it means
 * the slot was dropped, NEWSLOT), but never dropped for a refusal of the
 * server.  Without the registry (extension absent) nothing is inferred.
 */
static int
slot_check_reclaim(Stream *s)
{
	char		sql[512];
	char		at[LSN_STRLEN];
	char	   *lit;
	PGresult   *res;
	int			rc;
	bool		same;

	if (slot_registry_present(s) != 1)
		return STREAM_OK;
	if ((lit = PQescapeLiteral(s->conn, s->cfg->slot, strlen(s->cfg->slot))) == NULL)
		return stream_fail(s, STREAM_FATAL, "out of memory");
	snprintf(sql, sizeof(sql),
			 "SELECT start_lsn = '%s'::pg_catalog.pg_lsn FROM wal2queue.slots WHERE slot_name = %s",
			 lsn_format(s->start_lsn, at, sizeof(at)), lit);
	PQfreemem(lit);
	if ((rc = stream_run_command(s, sql, PGRES_TUPLES_OK, &res)) != STREAM_OK)
		return rc;
	same = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!same)
		return STREAM_OK;
	s->slot_created = true;
	s->slot_reclaimed = true;
	log_msg(LOG_INFO, "replication slot \"%s\" is still at %s, where it was created and registered: "
			"an earlier run with --create-slot made it and delivered nothing, so it is checked as new",
			s->cfg->slot, at);
	return STREAM_OK;
}

/* one number (or NULL) of a query about the slot; false if none */
static bool
slot_query_u64(Stream *s, const char *sql, bool want_lsn, uint64_t *out)
{
	PGresult   *res = stream_exec(s, sql);
	const char *v;
	bool		ok;

	ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		!PQgetisnull(res, 0, 0);
	if (ok)
	{
		v = PQgetvalue(res, 0, 0);
		if (want_lsn)
			ok = lsn_parse(v, strlen(v), out);
		else
			*out = strtoull(v, NULL, 10);
	}
	else if (PQresultStatus(res) != PGRES_TUPLES_OK)
		log_msg(LOG_DEBUG, "slot \"%s\": %s: %s", s->cfg->slot, sql, PQresultErrorMessage(res));
	PQclear(res);
	return ok;
}

/*
 * Has the slot delivered before (Stream.delivered_before)?  Positive
 * evidence only.  The extension's registry holds the slot's
 * confirmed_flush_lsn when it was registered (start_lsn): a slot past it
 * confirmed positions to a client since; one still at it did not, whatever
 * else says so.  A slot the registry does not hold: the server's statistics
 * count the transactions it decoded for a client
 * (pg_stat_replication_slots.total_txns; lost in a crash, reset by
 * pg_stat_reset_replication_slot(): then nothing is inferred).  A slot this
 * open created has not.  The Kafka sink stops a session so marked whose
 * position record is missing (kafka_record.c): the cluster lost it.
 */
static void
slot_check_delivered(Stream *s)
{
	char		sql[512];
	char		at[LSN_STRLEN];
	char		reg[LSN_STRLEN];
	char	   *lit;
	uint64_t	v;

	s->delivered_before = false;
	if (s->slot_created || s->start_lsn == 0 ||
		(lit = PQescapeLiteral(s->conn, s->cfg->slot, strlen(s->cfg->slot))) == NULL)
		return;
	lsn_format(s->start_lsn, at, sizeof(at));
	snprintf(sql, sizeof(sql),
			 "SELECT start_lsn FROM wal2queue.slots WHERE slot_name = %s", lit);
	if (slot_registry_state(s) == 1 && slot_query_u64(s, sql, true, &v))
	{
		s->delivered_before = s->start_lsn > v;
		if (s->delivered_before)
			log_msg(LOG_DEBUG, "replication slot \"%s\" is at %s, past where it was registered (%s): "
					"it delivered before", s->cfg->slot, at, lsn_format(v, reg, sizeof(reg)));
		PQfreemem(lit);
		return;
	}
	snprintf(sql, sizeof(sql),
			 "SELECT total_txns FROM pg_catalog.pg_stat_replication_slots WHERE slot_name = %s", lit);
	PQfreemem(lit);
	if (slot_query_u64(s, sql, false, &v) && v > 0)
	{
		s->delivered_before = true;
		log_msg(LOG_DEBUG, "replication slot \"%s\" (at %s) decoded %llu transactions for a client "
				"before (pg_stat_replication_slots): it delivered before", s->cfg->slot, at,
				(unsigned long long) v);
	}
}

void
slot_note_epoch(Stream *s, PGresult *res, int col)
{
	if (PQntuples(res) == 1 && PQnfields(res) > col && !PQgetisnull(res, 0, col))
		snprintf(s->conn_epoch, sizeof(s->conn_epoch), "%s", PQgetvalue(res, 0, col));
}

/*
 * No slot of that name: create it (--create-slot, first session) or say
 * why not.
 */
static int
slot_absent(Stream *s, bool may_create)
{
	int			rc;

	if (may_create && !s->never_create)
	{
		if ((rc = create_slot(s)) == STREAM_OK)
			return slot_check(s, false);
		return s->gave_up ? rc : STREAM_FATAL;	/* given up: retried */
	}
	if (may_create)
		return stream_fail(s, STREAM_FATAL, "replication slot \"%s\" does not exist any more: it was "
					"dropped, or the connection reaches another server; --create-slot creates a "
					"slot only in the bridge's first session (or with --backfill, in the backfill), "
					"so that no row is skipped silently: find out what happened, then restart the bridge",
					s->cfg->slot);
	return stream_fail(s, STREAM_FATAL, "replication slot \"%s\" does not exist (create it with --create-slot)",
				s->cfg->slot);
}

/*
 * A slot found where this process's own creation left it: taken as created
 * by this run (registered again), so the first session streams from where it
 * was made.
 */
static void
slot_take_own(Stream *s, bool unanswered)
{
	if (!unanswered && s->created_at != 0 && s->start_lsn == s->created_at)
	{
		/*
		 * The slot this process created, unmoved since (its consistent point
		 * is where it stands): its registration may have been lost with a
		 * crash or a connection given up before it committed (test/t/615).
		 * Registered again, it is reclaimed as created by this run.
		 */
		log_msg(LOG_INFO, "replication slot \"%s\" is the one this process created, still at its "
				"consistent point: registered again, taken as created by this run", s->cfg->slot);
		s->slot_created = true;
		slot_registry_call(s, true);
	}
	if (unanswered)
	{
		/*
		 * The server finished this bridge's CREATE_REPLICATION_SLOT, run under
		 * its --create-slot lock, and the answer never came (attack 614): the
		 * slot is the one it made.  Registered now, as create_slot() would
		 * have, it is then reclaimed as created by this run (nothing
		 * consumed), and streams from where it was made.
		 */
		log_msg(LOG_INFO, "replication slot \"%s\" is the one this bridge's CREATE_REPLICATION_SLOT "
				"made (the server finished it, its answer never came): taken as created by this run",
				s->cfg->slot);
		s->slot_created = true;
		slot_registry_call(s, true);
	}
}

/* does the slot exist, use our plugin, and is it free? */
int
slot_check(Stream *s, bool may_create)
{
	char		sql[512];
	char	   *lit = PQescapeLiteral(s->conn, s->cfg->slot, strlen(s->cfg->slot));
	PGresult   *res;
	int			rc;
	bool		unanswered = s->create_unanswered;

	s->create_unanswered = false;
	snprintf(sql, sizeof(sql),
			 "SELECT plugin, active_pid, confirmed_flush_lsn, database = current_database(), "
			 POSTMASTER_EPOCH_SQL " FROM pg_catalog.pg_replication_slots WHERE slot_name = %s", lit);
	PQfreemem(lit);
	if ((rc = stream_run_command(s, sql, PGRES_TUPLES_OK, &res)) != STREAM_OK)
		return rc;
	if (PQntuples(res) == 0)
	{
		PQclear(res);
		return slot_absent(s, may_create);
	}
	rc = STREAM_OK;
	slot_note_epoch(s, res, 4);
	if (strcmp(PQgetvalue(res, 0, 0), SLOT_PLUGIN(s)) != 0)
		rc = stream_fail(s, STREAM_FATAL, "replication slot \"%s\" uses plugin \"%s\", not %s",
				  s->cfg->slot, PQgetvalue(res, 0, 0), SLOT_PLUGIN(s));
	else if (strcmp(PQgetvalue(res, 0, 3), "t") != 0)
		rc = stream_fail(s, STREAM_FATAL, "replication slot \"%s\" belongs to another database",
				  s->cfg->slot);
	else if (!PQgetisnull(res, 0, 1))
		rc = stream_fail(s, STREAM_RETRY, "replication slot \"%s\" is active for PID %s",
				  s->cfg->slot, PQgetvalue(res, 0, 1));
	else
	{
		unsigned	hi = 0,
					lo = 0;

		if (sscanf(PQgetvalue(res, 0, 2), "%X/%X", &hi, &lo) == 2)
			s->start_lsn = ((uint64_t) hi << 32) | lo;
	}
	PQclear(res);
	if (rc == STREAM_OK && may_create)
		slot_take_own(s, unanswered);
	if (rc == STREAM_OK && may_create && !s->never_create && s->start_lsn != 0)
		rc = slot_check_reclaim(s);
	if (rc == STREAM_OK)
		slot_check_delivered(s);
	return rc;
}

/*
 * pgoutput: the keys that sign send()'s messages (message_sign.h), with the
 * snapshot they were read in, if the bridge's role may read them.  A key
 * that is there but not one of 32 to 64 bytes is fatal: a tampered key must
 * not pass unnoticed.
 */
static int
slot_read_message_key(Stream *s)
{
	PGresult   *res;
	int			rc;
	char		err[200];
	bool		ok;

	message_keys_free(&s->msg_keys);
	if ((rc = stream_run_command(s, MESSAGE_KEY_STATE_SQL, PGRES_TUPLES_OK, &res)) != STREAM_OK)
		return rc;
	s->msg_keys.state = message_key_state(res);
	PQclear(res);
	if (s->msg_keys.state != MESSAGE_KEY_READ && s->msg_keys.state != MESSAGE_KEY_UNTRUSTED)
		return STREAM_OK;
	if ((rc = stream_run_command(s, MESSAGE_KEYS_SQL, PGRES_TUPLES_OK, &res)) != STREAM_OK)
		return rc;
	ok = message_keys_from_result(res, &s->msg_keys, err, sizeof(err));
	PQclear(res);
	if (!ok)
	{
		message_keys_free(&s->msg_keys);
		return stream_fail(s, STREAM_FATAL, "%s", err);
	}
	return STREAM_OK;
}

/*
 * pgoutput: the publication exists (before the slot) and covers --tables;
 * and whether PUBLIC may emit logical messages (message_access.h)
 */
int
slot_check_publication(Stream *s)
{
	PGresult   *res;
	PgExec		x;
	int			rc;

	s->messages_public = -1;
	if (s->cfg->pgoutput == NULL)
		return STREAM_OK;
	if (precheck_encoding(s->conn, s->err, sizeof(s->err)) != 0)
		return STREAM_FATAL;
	/* its commands are the open's: bounded, and one given up is retried */
	stream_pgexec(s, &x);
	if (publication_prepare(&x, s->cfg->pgoutput, s->cfg->slot, s->cfg->create_slot,
							s->err, sizeof(s->err)) != 0)
		return s->gave_up || PQstatus(s->conn) != CONNECTION_OK ? STREAM_RETRY : STREAM_FATAL;
	/* may anyone emit a message?  Judged before the session decodes one */
	if ((rc = stream_run_command(s, MESSAGE_ACCESS_SQL, PGRES_TUPLES_OK, &res)) != STREAM_OK)
		return rc;
	s->messages_public = message_access_public(res);
	PQclear(res);
	return slot_read_message_key(s);
}

/*
 * A slot whose WAL is gone (max_slot_wal_keep_size) can never deliver what
 * it skipped: stop and say how to recover.  One at risk is a warning.
 */
int
slot_check_wal_status(Stream *s)
{
	char		sql[512];
	char	   *lit = PQescapeLiteral(s->conn, s->cfg->slot, strlen(s->cfg->slot));
	PGresult   *res;
	int			rc;
	const char *st;

	snprintf(sql, sizeof(sql),
			 "SELECT coalesce(wal_status, ''), coalesce(safe_wal_size::text, '') "
			 "FROM pg_catalog.pg_replication_slots WHERE slot_name = %s", lit);
	PQfreemem(lit);
	if ((rc = stream_run_command(s, sql, PGRES_TUPLES_OK, &res)) != STREAM_OK)
		return rc;
	if (PQntuples(res) != 1)
	{
		PQclear(res);
		return STREAM_OK;
	}
	st = PQgetvalue(res, 0, 0);
	snprintf(s->wal_status, sizeof(s->wal_status), "%s", st);
	s->safe_wal_size = PQgetvalue(res, 0, 1)[0] ? strtoll(PQgetvalue(res, 0, 1), NULL, 10) : -1;
	if (strcmp(st, "lost") == 0)
		rc = stream_fail(s, STREAM_FATAL, "replication slot \"%s\" is lost: the server removed WAL it still "
				  "needed (max_slot_wal_keep_size), so jobs committed while it fell behind can never "
				  "come from it; hint: %s re-creates it (passwords and secrets of the command line are shown "
				  "as ***: put yours back) and re-delivers the rows the tables still hold "
				  "(at least once: consumers dedupe by table and key; docs/operations.md, "
				  "\"Recovering a lost slot\")",
				  s->cfg->slot, s->cfg->command_line ? s->cfg->command_line
				  : "wal2queue-bridge --create-slot --recreate-lost-slot --backfill");
	else if (strcmp(st, "unreserved") == 0)
		log_msg(LOG_WARNING, "replication slot \"%s\" is past max_slot_wal_keep_size (wal_status "
				"unreserved): the server may remove WAL it needs at the next checkpoint, and the slot "
				"is then lost", s->cfg->slot);
	PQclear(res);
	return rc;
}

/*
 * --drop-slot refuses what pg_recvlogical --drop-slot refuses, and more: a
 * slot a walsender holds (no WAIT: an abandoned drop must not take the live
 * slot later), a slot of another plugin or another database.  The server's
 * own check (55006) covers a bridge that takes the slot in between.
 */
static int
check_slot_to_drop(Stream *s, char *what, size_t whatlen)
{
	char		sql[512];
	char	   *lit = PQescapeLiteral(s->conn, s->cfg->slot, strlen(s->cfg->slot));
	PGresult   *res;
	int			rc;

	snprintf(sql, sizeof(sql),
			 "SELECT coalesce(plugin, ''), active_pid, "
			 "coalesce(database::text, ''), database IS NOT DISTINCT FROM current_database(), "
			 "coalesce(confirmed_flush_lsn::text, '') "
			 "FROM pg_catalog.pg_replication_slots WHERE slot_name = %s", lit);
	PQfreemem(lit);
	if ((rc = stream_run_command(s, sql, PGRES_TUPLES_OK, &res)) != STREAM_OK)
		return rc;
	if (PQntuples(res) == 0)
		rc = stream_fail(s, STREAM_FATAL, "replication slot \"%s\" does not exist", s->cfg->slot);
	else if (PQgetvalue(res, 0, 0)[0] == '\0')
		rc = stream_fail(s, STREAM_FATAL, "replication slot \"%s\" is a physical slot; not dropping it",
				  s->cfg->slot);
	else if (strcmp(PQgetvalue(res, 0, 0), SLOT_PLUGIN(s)) != 0)
		rc = stream_fail(s, STREAM_FATAL, "replication slot \"%s\" uses plugin \"%s\", not %s"
				  "; not dropping it%s", s->cfg->slot, PQgetvalue(res, 0, 0), SLOT_PLUGIN(s),
				  strcmp(PQgetvalue(res, 0, 0), "pgoutput") == 0 ?
				  " (a bridge's pgoutput slot: drop and unregister it with --plugin=pgoutput "
				  "--publication=NAME --drop-slot)" :
				  strcmp(PQgetvalue(res, 0, 0), "wal2queue") == 0 ?
				  " (drop it without --plugin=pgoutput)" :
				  " (not a slot of the bridge; pg_drop_replication_slot() drops any slot)");
	else if (strcmp(PQgetvalue(res, 0, 3), "t") != 0)
		rc = stream_fail(s, STREAM_FATAL, "replication slot \"%s\" belongs to database \"%s\"; "
				  "not dropping it (connect to that database)",
				  s->cfg->slot, PQgetvalue(res, 0, 2));
	else if (!PQgetisnull(res, 0, 1))
		rc = stream_fail(s, STREAM_FATAL, "replication slot \"%s\" is active for PID %s; "
				  "not dropping it (stop the bridge that streams it first)",
				  s->cfg->slot, PQgetvalue(res, 0, 1));
	else
		snprintf(what, whatlen, "plugin %s, database %s, confirmed up to %s",
				 PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 4));
	PQclear(res);
	return rc;
}

int
stream_drop_slot(Stream *s)
{
	char		sql[512];
	char		what[256];
	char	   *ident;
	int			rc;

	/*
	 * (stream_identify_backend() ends this process's walsender whose
	 * command was given up, which may hold the create lock: attack 622)
	 */
	if ((rc = stream_connect(s)) != STREAM_OK || (rc = stream_identify_backend(s)) != STREAM_OK)
	{
		stream_close(s);
		return rc;
	}
	/*
	 * A bridge creating the slot (or backfilling it, until its stream
	 * ends) holds the create lock, though no walsender holds the slot:
	 * refused as an active slot is; held while this connection drops it
	 */
	if ((rc = slot_lock_name(s)) != STREAM_OK)
	{
		if (s->slot_busy)
		{
			char		held[768];

			slot_lock_holder(s, held, sizeof(held));
			stream_fail(s, STREAM_RETRY, "replication slot \"%s\" is being created or backfilled by "
						"another bridge started with --create-slot (it holds the advisory lock (%d, "
						"hashtext('%s'))): left as it is (stop that bridge first)%s", s->cfg->slot,
						CREATE_LOCK_CLASS, s->cfg->slot, held);
		}
		stream_close(s);
		return s->slot_busy ? STREAM_RETRY : STREAM_FATAL;
	}
	if ((rc = check_slot_to_drop(s, what, sizeof(what))) == STREAM_OK)
	{
		ident = PQescapeIdentifier(s->conn, s->cfg->slot, strlen(s->cfg->slot));
		snprintf(sql, sizeof(sql), "DROP_REPLICATION_SLOT %s", ident);
		PQfreemem(ident);
		rc = stream_run_command(s, sql, PGRES_COMMAND_OK, NULL);
	}
	if (rc == STREAM_OK)
	{
		log_msg(LOG_INFO, "dropped replication slot \"%s\" (%s)", s->cfg->slot, what);
		slot_registry_call(s, false);
	}
	stream_close(s);
	return rc == STREAM_OK ? STREAM_OK : STREAM_FATAL;
}
