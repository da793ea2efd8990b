/*-------------------------------------------------------------------------
 *
 * stream.c
 *		The replication connection (libpq, replication=database).
 *
 * Opening checks the slot first, so that a missing slot, a slot of another
 * plugin or a server that does not allow wal2queue as an output plugin
 * each get an error that names the cause; a slot still held by a dying
 * walsender is a reason to retry, not to stop.  The message loop follows
 * pg_recvlogical: 'w' XLogData and 'k' keepalives in, 'r' status updates
 * out.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "lsn.h"
#include "message_access.h"
#include "pgerror.h"
#include "precheck.h"
#include "publication.h"
#include "stream.h"

#define PLUGIN_NAME "wal2queue"
#define SLOT_PLUGIN(s) ((s)->cfg->plugin ? (s)->cfg->plugin : PLUGIN_NAME)

/* microseconds from the Unix epoch to PostgreSQL's (2000-01-01) */
#define PG_EPOCH_OFFSET_US INT64_C(946684800000000)

static uint64_t
get_u64(const char *p)
{
	const unsigned char *u = (const unsigned char *) p;
	uint64_t	v = 0;
	int			i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | u[i];
	return v;
}

static void
put_u64(char *p, uint64_t v)
{
	int			i;

	for (i = 7; i >= 0; i--)
	{
		p[i] = (char) (v & 0xFF);
		v >>= 8;
	}
}

static int	fail(Stream *s, int code, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
static int	check_publication(Stream *s);
static void explain_plugin_refusal(Stream *s);

/* set s->err (one line, no trailing period) and return code */
static int
fail(Stream *s, int code, const char *fmt,...)
{
	va_list		ap;
	size_t		n;
	char	   *p;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	for (p = s->err; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	n = strlen(s->err);
	while (n > 0 && (s->err[n - 1] == ' ' || s->err[n - 1] == '.'))
		s->err[--n] = '\0';
	return code;
}

/* the server's message (and hint) of a failed command */
static const char *
result_message(PGresult *res, char *buf, size_t buflen)
{
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);

	if (primary == NULL)
		snprintf(buf, buflen, "%s", PQresultErrorMessage(res));
	else if (hint)
		snprintf(buf, buflen, "%s (hint: %s)", primary, hint);
	else
		snprintf(buf, buflen, "%s", primary);
	return buf;
}

void
stream_init(Stream *s, const StreamConfig *cfg)
{
	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
}

/* a failed connection: permanent (stop) or transient (retry), by SQLSTATE */
static int
connect_error_code(const PgConnectFailure *f)
{
	return f->kind == PGERR_PERMANENT ? STREAM_FATAL : STREAM_RETRY;
}

static int
stream_connect(Stream *s)
{
	const char *keys[] = {"dbname", "replication", "fallback_application_name", NULL};
	const char *vals[] = {s->cfg->conninfo, "database", "wal2queue-bridge", NULL};

	PgConnectFailure f;

	if ((s->conn = pgerror_connect(keys, vals, &f)) == NULL)
		return fail(s, connect_error_code(&f), "could not connect to PostgreSQL: %s%s%s",
					f.message, f.hint ? "; hint: " : "", f.hint ? f.hint : "");
	return STREAM_OK;
}

/* a command on the replication connection; code for errors */
static int
run_command(Stream *s, const char *sql, ExecStatusType want, PGresult **out)
{
	PGresult   *res = PQexec(s->conn, sql);

	if (PQresultStatus(res) != want)
	{
		const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		PgErrorKind kind = pgerror_classify(sqlstate);
		int			code;
		char		buf[400];

		if (kind == PGERR_UNKNOWN)	/* no answer from the server */
			code = PQstatus(s->conn) == CONNECTION_OK ? STREAM_FATAL : STREAM_RETRY;
		else
			code = kind == PGERR_PERMANENT ? STREAM_FATAL : STREAM_RETRY;
		if (sqlstate && strcmp(sqlstate, PGERR_OBJECT_IN_USE) == 0)
			s->slot_busy = true;	/* "replication slot ... is active for PID" */
		result_message(res, buf, sizeof(buf));
		if (kind == PGERR_PERMANENT && pgerror_hint(sqlstate) &&
			PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) == NULL)
			fail(s, code, "%s; hint: %s", buf, pgerror_hint(sqlstate));
		else
			fail(s, code, "%s", buf);
		PQclear(res);
		return code;
	}
	if (out)
		*out = res;
	else
		PQclear(res);
	return STREAM_OK;
}

/* IDENTIFY_SYSTEM: which server, which timeline, which database */
static int
identify_system(Stream *s)
{
	PGresult   *res;
	int			rc;
	const char *pos;

	if ((rc = run_command(s, "IDENTIFY_SYSTEM", PGRES_TUPLES_OK, &res)) != STREAM_OK)
		return rc;
	if (PQntuples(res) != 1 || PQnfields(res) < 4 || PQgetisnull(res, 0, 3))
	{
		PQclear(res);
		return fail(s, STREAM_FATAL, "could not identify the server: unexpected IDENTIFY_SYSTEM result");
	}
	snprintf(s->sysid, sizeof(s->sysid), "%s", PQgetvalue(res, 0, 0));
	s->timeline = (uint32_t) strtoul(PQgetvalue(res, 0, 1), NULL, 10);
	pos = PQgetvalue(res, 0, 2);
	if (!lsn_parse(pos, strlen(pos), &s->server_lsn))
		s->server_lsn = 0;
	snprintf(s->dbname, sizeof(s->dbname), "%s", PQgetvalue(res, 0, 3));
	PQclear(res);
	return STREAM_OK;
}

uint64_t
stream_timeline_switch(Stream *s, uint32_t old_tli)
{
	char		sql[64];
	PGresult   *res;
	uint64_t	at = 0;
	const char *p;
	PGconn	   *streaming = s->conn;

	if (s->timeline <= 1)
		return 0;
	/* the stream's connection may be copying: ask on a short one of its own */
	s->conn = NULL;
	if (stream_connect(s) != STREAM_OK)
	{
		if (s->conn)
			PQfinish(s->conn);
		s->conn = streaming;
		return 0;
	}
	snprintf(sql, sizeof(sql), "TIMELINE_HISTORY %u", s->timeline);
	res = PQexec(s->conn, sql);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		PQnfields(res) >= 2)
	{
		/* lines of "parentTLI<tab>switchpoint<tab>reason" */
		for (p = PQgetvalue(res, 0, 1); p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		{
			char	   *end;
			unsigned long tli = strtoul(p, &end, 10);

			if (end != p && *end == '\t' && tli == old_tli)
			{
				const char *lsn = end + 1;
				size_t		n = strcspn(lsn, "\t\n");

				if (!lsn_parse(lsn, n, &at))
					at = 0;
				break;
			}
		}
	}
	PQclear(res);
	PQfinish(s->conn);
	s->conn = streaming;
	return at;
}

/*
 * Is the extension's slot registry there for us?  1 yes, 0 not installed,
 * -1 installed but this role may not use its schema (said in a warning).
 */
static int
registry_present(Stream *s)
{
	PGresult   *res;
	const char *v;
	int			present;

	res = PQexec(s->conn,
				 "SELECT CASE WHEN pg_catalog.to_regnamespace('wal2queue') IS NULL THEN 'absent' "
				 "WHEN NOT pg_catalog.has_schema_privilege('wal2queue', 'USAGE') THEN 'no-usage' "
				 "WHEN pg_catalog.to_regprocedure('wal2queue.register_slot(name,text,name)') IS NULL "
				 "AND pg_catalog.to_regprocedure('wal2queue.register_slot(name,text)') IS NULL THEN 'absent' "
				 "ELSE 'present' END");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		PQclear(res);
		return 0;
	}
	v = PQgetvalue(res, 0, 0);
	present = strcmp(v, "present") == 0 ? 1 : strcmp(v, "no-usage") == 0 ? -1 : 0;
	PQclear(res);
	if (present < 0)
		log_msg(LOG_WARNING, "the wal2queue extension is installed but this role may not use its schema, "
				"so slot \"%s\" is not in its registry and prune() will refuse to delete its rows; "
				"hint: GRANT USAGE ON SCHEMA wal2queue TO %s", s->cfg->slot, PQuser(s->conn));
	return present;
}

/*
 * After creating a slot, tell the extension (when installed) from where the
 * slot delivers, so that prune() never deletes a row it did not deliver;
 * after dropping one, that it delivers no more.
 */
static void
registry_call(Stream *s, bool add)
{
	const char *tables = NULL;
	const char *const *o;
	char	   *slot;
	char	   *tab = NULL;
	char	   *pub = NULL;
	char	   *sql;
	PGresult   *res;

	if (registry_present(s) != 1)
		return;
	for (o = s->cfg->plugin_options; o && o[0]; o += 2)
		if (strcmp(o[0], "tables") == 0)
			tables = o[1];
	if (s->cfg->pgoutput)
		tables = s->cfg->pgoutput->tables_text;
	/* a replication connection speaks only the simple query protocol */
	slot = PQescapeLiteral(s->conn, s->cfg->slot, strlen(s->cfg->slot));
	if (tables)
		tab = PQescapeLiteral(s->conn, tables, strlen(tables));
	/* a pgoutput slot delivers what its publication publishes */
	if (s->cfg->pgoutput)
		pub = PQescapeLiteral(s->conn, s->cfg->pgoutput->publication,
							  strlen(s->cfg->pgoutput->publication));
	sql = malloc(strlen(slot) + (tab ? strlen(tab) : 4) + (pub ? strlen(pub) : 0) + 64);
	if (slot == NULL || (tables && tab == NULL) || (s->cfg->pgoutput && pub == NULL) || sql == NULL)
	{
		log_msg(LOG_WARNING, "could not %s slot \"%s\": out of memory",
				add ? "register" : "unregister", s->cfg->slot);
		PQfreemem(slot);
		PQfreemem(tab);
		PQfreemem(pub);
		free(sql);
		return;
	}
	if (add)
		sprintf(sql, "SELECT wal2queue.register_slot(%s, %s%s%s)", slot, tab ? tab : "NULL",
				pub ? ", " : "", pub ? pub : "");
	else
		sprintf(sql, "SELECT wal2queue.unregister_slot(%s)", slot);
	PQfreemem(slot);
	PQfreemem(tab);
	PQfreemem(pub);
	res = PQexec(s->conn, sql);
	free(sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		char		buf[400];

		log_msg(LOG_WARNING, "could not %s slot \"%s\" %s the wal2queue extension's registry: %s",
				add ? "register" : "unregister", s->cfg->slot, add ? "in" : "from",
				result_message(res, buf, sizeof(buf)));
	}
	else
		log_msg(LOG_INFO, "%s slot \"%s\" %s the wal2queue extension's registry",
				add ? "registered" : "unregistered", s->cfg->slot, add ? "in" : "from");
	PQclear(res);
}

static int
create_slot(Stream *s)
{
	char		sql[512];
	char	   *ident = PQescapeIdentifier(s->conn, s->cfg->slot, strlen(s->cfg->slot));
	int			rc;

	snprintf(sql, sizeof(sql),
			 "CREATE_REPLICATION_SLOT %s LOGICAL %s NOEXPORT_SNAPSHOT", ident, SLOT_PLUGIN(s));
	PQfreemem(ident);
	rc = run_command(s, sql, PGRES_TUPLES_OK, NULL);
	if (rc == STREAM_OK)
	{
		log_msg(LOG_INFO, "created replication slot \"%s\"", s->cfg->slot);
		s->slot_created = true;
		registry_call(s, true);
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
#define CREATE_LOCK_CLASS 0x77327100

static int
lock_slot_name(Stream *s)
{
	char		sql[512];
	char	   *lit = PQescapeLiteral(s->conn, s->cfg->slot, strlen(s->cfg->slot));
	PGresult   *res;
	int			rc;
	bool		got;

	if (lit == NULL)
		return fail(s, STREAM_FATAL, "out of memory");
	snprintf(sql, sizeof(sql), "SELECT pg_catalog.pg_try_advisory_lock(%d, pg_catalog.hashtext(%s))",
			 CREATE_LOCK_CLASS, lit);
	PQfreemem(lit);
	if ((rc = run_command(s, sql, PGRES_TUPLES_OK, &res)) != STREAM_OK)
		return rc;
	got = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (got)
		return STREAM_OK;
	s->slot_busy = true;
	return fail(s, STREAM_RETRY, "replication slot \"%s\" is being created or streamed by another "
				"bridge started with --create-slot", s->cfg->slot);
}

/*
 * The slot this open created was refused before it streamed (a plugin
 * option the plugin rejects, ...): it never delivered anything, so drop it
 * again rather than leave an unregistered slot holding WAL behind.  Not a
 * slot another walsender holds.  s->err keeps the refusal.
 */
static void
drop_created_slot(Stream *s)
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
	res = PQexec(s->conn, sql);
	if (PQresultStatus(res) == PGRES_COMMAND_OK)
	{
		log_msg(LOG_WARNING, "dropped replication slot \"%s\" again: this run created it and the "
				"server refused to stream from it, so it delivered nothing; correct the command "
				"line and start again with --create-slot", s->cfg->slot);
		s->slot_created = false;
		registry_call(s, false);
	}
	else
	{
		char		buf[400];

		log_msg(LOG_WARNING, "could not drop replication slot \"%s\", which this run created and "
				"which delivered nothing: %s; drop it with --drop-slot", s->cfg->slot,
				result_message(res, buf, sizeof(buf)));
	}
	PQclear(res);
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
		(rc = identify_system(s)) != STREAM_OK ||
		(rc = lock_slot_name(s)) != STREAM_OK ||
		(rc = check_publication(s)) != STREAM_OK)
		return rc;
	ident = PQescapeIdentifier(s->conn, s->cfg->slot, strlen(s->cfg->slot));
	snprintf(sql, sizeof(sql), "CREATE_REPLICATION_SLOT %s LOGICAL %s (SNAPSHOT 'export')",
			 ident, SLOT_PLUGIN(s));
	PQfreemem(ident);
	if ((rc = run_command(s, sql, PGRES_TUPLES_OK, &res)) != STREAM_OK)
	{
		explain_plugin_refusal(s);
		return rc;
	}
	cp = PQnfields(res) >= 3 ? PQgetvalue(res, 0, 1) : "";
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 2) ||
		!lsn_parse(cp, strlen(cp), &s->start_lsn))
	{
		PQclear(res);
		return fail(s, STREAM_FATAL, "unexpected CREATE_REPLICATION_SLOT result");
	}
	snprintf(snapshot, snaplen, "%s", PQgetvalue(res, 0, 2));
	PQclear(res);
	log_msg(LOG_INFO, "created replication slot \"%s\" with snapshot %s at %s",
			s->cfg->slot, snapshot, lsn_format(s->start_lsn, at, sizeof(at)));
	s->slot_created = true;
	/* not registry_call() yet: any command ends the exported snapshot */
	return STREAM_OK;
}

void
stream_register_slot(Stream *s)
{
	if (s->conn)
		registry_call(s, true);
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
		(rc = identify_system(s)) != STREAM_OK)
	{
		stream_close(s);
		return rc;
	}
	lit = PQescapeLiteral(s->conn, s->cfg->slot, strlen(s->cfg->slot));
	snprintf(sql, sizeof(sql),
			 "SELECT coalesce(wal_status, ''), coalesce(confirmed_flush_lsn::text, '') "
			 "FROM pg_catalog.pg_replication_slots WHERE slot_name = %s", lit);
	PQfreemem(lit);
	if ((rc = run_command(s, sql, PGRES_TUPLES_OK, &res)) == STREAM_OK)
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

/* does the slot exist, use our plugin, and is it free? */
static int
check_slot(Stream *s, bool may_create)
{
	char		sql[512];
	char	   *lit = PQescapeLiteral(s->conn, s->cfg->slot, strlen(s->cfg->slot));
	PGresult   *res;
	int			rc;

	snprintf(sql, sizeof(sql),
			 "SELECT plugin, active_pid, confirmed_flush_lsn, database = current_database() "
			 "FROM pg_catalog.pg_replication_slots WHERE slot_name = %s", lit);
	PQfreemem(lit);
	if ((rc = run_command(s, sql, PGRES_TUPLES_OK, &res)) != STREAM_OK)
		return rc;
	if (PQntuples(res) == 0)
	{
		PQclear(res);
		if (may_create && !s->never_create)
			return create_slot(s) == STREAM_OK ? check_slot(s, false) : STREAM_FATAL;
		if (may_create)
			return fail(s, STREAM_FATAL, "replication slot \"%s\" does not exist any more: it was "
						"dropped, or the connection reaches another server; --create-slot creates a "
						"slot only in the bridge's first session (or with --backfill, in the backfill), "
						"so that no row is skipped silently: find out what happened, then restart the bridge",
						s->cfg->slot);
		return fail(s, STREAM_FATAL, "replication slot \"%s\" does not exist (create it with --create-slot)",
					s->cfg->slot);
	}
	rc = STREAM_OK;
	if (strcmp(PQgetvalue(res, 0, 0), SLOT_PLUGIN(s)) != 0)
		rc = fail(s, STREAM_FATAL, "replication slot \"%s\" uses plugin \"%s\", not %s",
				  s->cfg->slot, PQgetvalue(res, 0, 0), SLOT_PLUGIN(s));
	else if (strcmp(PQgetvalue(res, 0, 3), "t") != 0)
		rc = fail(s, STREAM_FATAL, "replication slot \"%s\" belongs to another database",
				  s->cfg->slot);
	else if (!PQgetisnull(res, 0, 1))
		rc = fail(s, STREAM_RETRY, "replication slot \"%s\" is active for PID %s",
				  s->cfg->slot, PQgetvalue(res, 0, 1));
	else
	{
		unsigned	hi = 0,
					lo = 0;

		if (sscanf(PQgetvalue(res, 0, 2), "%X/%X", &hi, &lo) == 2)
			s->start_lsn = ((uint64_t) hi << 32) | lo;
	}
	PQclear(res);
	return rc;
}

/*
 * pgoutput: the publication exists (before the slot) and covers --tables;
 * and whether PUBLIC may emit logical messages (message_access.h)
 */
static int
check_publication(Stream *s)
{
	PGresult   *res;
	int			rc;

	s->messages_public = -1;
	if (s->cfg->pgoutput == NULL)
		return STREAM_OK;
	if (precheck_encoding(s->conn, s->err, sizeof(s->err)) != 0)
		return STREAM_FATAL;
	if (publication_prepare(s->conn, s->cfg->pgoutput, s->cfg->slot, s->cfg->create_slot,
							s->err, sizeof(s->err)) != 0)
		return PQstatus(s->conn) == CONNECTION_OK ? STREAM_FATAL : STREAM_RETRY;
	/* may anyone emit a message?  Judged before the session decodes one */
	if ((rc = run_command(s, MESSAGE_ACCESS_SQL, PGRES_TUPLES_OK, &res)) != STREAM_OK)
		return rc;
	s->messages_public = message_access_public(res);
	PQclear(res);
	return STREAM_OK;
}

/*
 * A slot whose WAL is gone (max_slot_wal_keep_size) can never deliver what
 * it skipped: stop and say how to recover.  One at risk is a warning.
 */
static int
check_wal_status(Stream *s)
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
	if ((rc = run_command(s, sql, PGRES_TUPLES_OK, &res)) != STREAM_OK)
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
		rc = fail(s, STREAM_FATAL, "replication slot \"%s\" is lost: the server removed WAL it still "
				  "needed (max_slot_wal_keep_size), so jobs committed while it fell behind can never "
				  "come from it; hint: %s re-creates it and re-delivers the rows the tables still hold "
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

/* START_REPLICATION … LOGICAL 0/0 ("name" 'value', …) */
static int
start_replication(Stream *s)
{
	char		sql[8192];
	char	   *ident = PQescapeIdentifier(s->conn, s->cfg->slot, strlen(s->cfg->slot));
	const char *const *o;
	size_t		n;

	n = snprintf(sql, sizeof(sql), "START_REPLICATION SLOT %s LOGICAL 0/0 (", ident);
	PQfreemem(ident);
	for (o = s->cfg->plugin_options; o && o[0] && n < sizeof(sql); o += 2)
	{
		char	   *lit = PQescapeLiteral(s->conn, o[1], strlen(o[1]));

		n += snprintf(sql + n, sizeof(sql) - n, "%s\"%s\" %s",
					  o == s->cfg->plugin_options ? "" : ", ", o[0], lit);
		PQfreemem(lit);
	}
	if (n + 2 >= sizeof(sql))
		return fail(s, STREAM_FATAL, "plugin options too long");
	strcat(sql, ")");
	return run_command(s, sql, PGRES_COPY_BOTH, NULL);
}

/* turn the server's refusal to load our plugin into a hint */
static void
explain_plugin_refusal(Stream *s)
{
	if (strstr(s->err, "may not be used as an output plugin"))
	{
		char		orig[sizeof(s->err)];

		memcpy(orig, s->err, sizeof(orig));
		snprintf(s->err, sizeof(s->err),
				 "%.200s; hint: add wal2queue to output_plugin_libraries in postgresql.conf, "
				 "for example output_plugin_libraries = 'pgoutput, test_decoding, wal2queue', "
				 "then reload the server; or, where the server loads no custom plugin (a managed "
				 "service), use --plugin=pgoutput --publication=NAME", orig);
	}
}

int
stream_open(Stream *s)
{
	int			rc;

	stream_close(s);
	/* every position and identity is the new connection's, never memory */
	s->sysid[0] = '\0';
	s->timeline = 0;
	s->dbname[0] = '\0';
	s->server_lsn = 0;
	s->start_lsn = 0;
	s->wal_status[0] = '\0';
	s->safe_wal_size = -1;
	s->received_lsn = 0;
	s->slot_created = false;
	s->slot_busy = false;
	if ((rc = stream_connect(s)) == STREAM_OK &&
		(rc = identify_system(s)) == STREAM_OK &&
		(!s->cfg->create_slot || (rc = lock_slot_name(s)) == STREAM_OK) &&
		(rc = check_publication(s)) == STREAM_OK &&
		(rc = check_slot(s, s->cfg->create_slot)) == STREAM_OK &&
		(rc = check_wal_status(s)) == STREAM_OK)
		rc = start_replication(s);
	if (rc != STREAM_OK)
	{
		explain_plugin_refusal(s);
		if (strstr(s->err, "is active for PID"))
		{
			rc = STREAM_RETRY;
			s->slot_busy = true;
		}
		drop_created_slot(s);
		stream_close(s);
	}
	return rc;
}

int
stream_socket(const Stream *s)
{
	return s->conn ? PQsocket(s->conn) : -1;
}

/* the server ended the copy: say why */
static int
copy_ended(Stream *s)
{
	PGresult   *res = PQgetResult(s->conn);
	int			code = STREAM_RETRY;

	char		buf[400];

	const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	/*
	 * pgoutput reads the publication as of each decoded transaction: one
	 * missing there (dropped, perhaps created again, since the slot was) can
	 * never be decoded by this slot, at any retry.
	 */
	if (s->cfg->pgoutput && sqlstate && strcmp(sqlstate, PGERR_UNDEFINED_OBJECT) == 0)
		fail(s, code = STREAM_FATAL, "replication stream ended: %s: the publication was "
			 "dropped (and perhaps created again) after slot \"%s\" was created, and pgoutput "
			 "reads it as of each transaction it decodes, so this slot can never decode the "
			 "WAL written while it was missing, and the jobs committed then are lost; hint: "
			 "drop the slot and create it again (--drop-slot, then --create-slot, with "
			 "--backfill for the rows still pending; docs/operations.md), and never drop a "
			 "publication a slot streams (docs/managed.md)",
			 result_message(res, buf, sizeof(buf)), s->cfg->slot);
	else if (res && PQresultStatus(res) == PGRES_FATAL_ERROR)
		fail(s, code, "replication stream ended: %s", result_message(res, buf, sizeof(buf)));
	else
		fail(s, code, "replication stream ended by the server");
	PQclear(res);
	return code;
}

static int
parse_message(Stream *s, const char *buf, int len, StreamEvent *ev)
{
	if (buf[0] == 'w' && len >= 25)
	{
		ev->kind = STREAM_DATA;
		ev->wal_start = get_u64(buf + 1);
		ev->wal_end = get_u64(buf + 9);
		ev->data = buf + 25;
		ev->len = (size_t) len - 25;
	}
	else if (buf[0] == 'k' && len >= 18)
	{
		ev->kind = STREAM_KEEPALIVE;
		ev->wal_end = get_u64(buf + 1);
		ev->reply_requested = buf[17] != 0;
	}
	else
	{
		char		what[64];

		snprintf(what, sizeof(what), "0x%02x, %d bytes", (unsigned char) buf[0], len);
		return fail(s, STREAM_RETRY, "unexpected replication message (%s)", what);
	}
	if (ev->wal_end > s->received_lsn)
		s->received_lsn = ev->wal_end;
	return STREAM_OK;
}

int
stream_read(Stream *s, int timeout_ms, StreamEvent *ev)
{
	int			len;

	memset(ev, 0, sizeof(*ev));
	if (s->copybuf)
	{
		PQfreemem(s->copybuf);
		s->copybuf = NULL;
	}
	len = PQgetCopyData(s->conn, &s->copybuf, 1);
	if (len == 0 && timeout_ms > 0)
	{
		struct pollfd pfd = {.fd = PQsocket(s->conn),.events = POLLIN};

		if (poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR)
			return fail(s, STREAM_RETRY, "poll failed: %s", strerror(errno));
	}
	if (len == 0)
	{
		if (!PQconsumeInput(s->conn))
			return fail(s, STREAM_RETRY, "lost connection to PostgreSQL: %s",
						PQerrorMessage(s->conn));
		len = PQgetCopyData(s->conn, &s->copybuf, 1);
	}
	if (len == 0)
		return STREAM_OK;
	if (len == -1)
		return copy_ended(s);
	if (len < 0)
		return fail(s, STREAM_RETRY, "lost connection to PostgreSQL: %s",
					PQerrorMessage(s->conn));
	return parse_message(s, s->copybuf, len, ev);
}

int
stream_send_status(Stream *s, uint64_t flushed, bool reply_requested)
{
	char		msg[1 + 8 + 8 + 8 + 8 + 1];
	struct timespec ts;
	int64_t		now;
	uint64_t	written = s->received_lsn > flushed ? s->received_lsn : flushed;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - PG_EPOCH_OFFSET_US;
	msg[0] = 'r';
	put_u64(msg + 1, written);
	put_u64(msg + 9, flushed);
	put_u64(msg + 17, flushed);
	put_u64(msg + 25, (uint64_t) now);
	msg[33] = reply_requested ? 1 : 0;
	if (PQputCopyData(s->conn, msg, sizeof(msg)) <= 0 || PQflush(s->conn) != 0)
		return fail(s, STREAM_RETRY, "could not send status update to PostgreSQL: %s",
					PQerrorMessage(s->conn));
	return STREAM_OK;
}

void
stream_close(Stream *s)
{
	if (s->copybuf)
	{
		PQfreemem(s->copybuf);
		s->copybuf = NULL;
	}
	if (s->conn)
	{
		PQfinish(s->conn);
		s->conn = NULL;
	}
}

/*
 * End the copy politely: CopyDone, then read (and drop) what the walsender
 * still sends until it ends the copy too.  Only then do we know it read the
 * status update sent before; closing a socket with unread data would reset
 * the connection and could lose that update.
 */
void
stream_finish(Stream *s, int timeout_ms)
{
	int64_t		deadline = now_us() + (int64_t) timeout_ms * 1000;

	if (s->copybuf)
	{
		PQfreemem(s->copybuf);
		s->copybuf = NULL;
	}
	if (s->conn == NULL || PQstatus(s->conn) != CONNECTION_OK)
	{
		stream_close(s);
		return;
	}
	if (PQputCopyEnd(s->conn, NULL) == 1 && PQflush(s->conn) == 0)
	{
		while (now_us() < deadline)
		{
			char	   *buf = NULL;
			int			len = PQgetCopyData(s->conn, &buf, 1);

			if (buf)
				PQfreemem(buf);
			if (len == -1 || len == -2)
				break;
			if (len == 0)
			{
				struct pollfd pfd = {.fd = PQsocket(s->conn),.events = POLLIN};

				if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
					break;
				if (!PQconsumeInput(s->conn))
					break;
			}
		}
		PQclear(PQgetResult(s->conn));
	}
	PQfinish(s->conn);
	s->conn = NULL;
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
	if ((rc = run_command(s, sql, PGRES_TUPLES_OK, &res)) != STREAM_OK)
		return rc;
	if (PQntuples(res) == 0)
		rc = fail(s, STREAM_FATAL, "replication slot \"%s\" does not exist", s->cfg->slot);
	else if (PQgetvalue(res, 0, 0)[0] == '\0')
		rc = fail(s, STREAM_FATAL, "replication slot \"%s\" is a physical slot; not dropping it",
				  s->cfg->slot);
	else if (strcmp(PQgetvalue(res, 0, 0), SLOT_PLUGIN(s)) != 0)
		rc = fail(s, STREAM_FATAL, "replication slot \"%s\" uses plugin \"%s\", not %s"
				  "; not dropping it (pg_drop_replication_slot() drops any slot)",
				  s->cfg->slot, PQgetvalue(res, 0, 0), SLOT_PLUGIN(s));
	else if (strcmp(PQgetvalue(res, 0, 3), "t") != 0)
		rc = fail(s, STREAM_FATAL, "replication slot \"%s\" belongs to database \"%s\"; "
				  "not dropping it (connect to that database)",
				  s->cfg->slot, PQgetvalue(res, 0, 2));
	else if (!PQgetisnull(res, 0, 1))
		rc = fail(s, STREAM_FATAL, "replication slot \"%s\" is active for PID %s; "
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

	if ((rc = stream_connect(s)) != STREAM_OK)
		return rc;
	if ((rc = check_slot_to_drop(s, what, sizeof(what))) == STREAM_OK)
	{
		ident = PQescapeIdentifier(s->conn, s->cfg->slot, strlen(s->cfg->slot));
		snprintf(sql, sizeof(sql), "DROP_REPLICATION_SLOT %s", ident);
		PQfreemem(ident);
		rc = run_command(s, sql, PGRES_COMMAND_OK, NULL);
	}
	if (rc == STREAM_OK)
	{
		log_msg(LOG_INFO, "dropped replication slot \"%s\" (%s)", s->cfg->slot, what);
		registry_call(s, false);
	}
	stream_close(s);
	return rc == STREAM_OK ? STREAM_OK : STREAM_FATAL;
}
