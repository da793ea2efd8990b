/*-------------------------------------------------------------------------
 *
 * stream.c
 *		The replication connection (libpq, replication=database).
 *
 * Opening checks the slot first (slot.c), so that a missing slot, a slot of
 * another plugin or a server that does not allow wal2queue as an output
 * plugin each get an error that names the cause; a slot still held by a
 * dying walsender is a reason to retry, not to stop.  The message loop
 * follows pg_recvlogical: 'w' XLogData and 'k' keepalives in, 'r' status
 * updates out.  The bridge's own walsenders (one lingering after a lost
 * connection, one whose command was given up) are stream_own.c's.
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
#include "encoding.h"
#include "pgerror.h"
#include "stream.h"
#include "backfill_sql.h"
#include "stream_internal.h"

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

/* set s->err (one line, no trailing period) and return code */
int
stream_fail(Stream *s, int code, const char *fmt,...)
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
const char *
stream_result_message(PGresult *res, char *buf, size_t buflen)
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

int
stream_connect(Stream *s)
{
	const char *keys[] = {"dbname", "replication", "fallback_application_name", NULL};
	const char *vals[] = {s->cfg->conninfo, "database", "wal2queue-bridge", NULL};

	PgConnectFailure f;
	PGresult   *res;

	s->gave_up = false;
	s->conn_epoch[0] = '\0';
	s->conn_pid = 0;
	s->conn_start[0] = '\0';
	s->conn_locked = false;
	if ((s->conn = pgerror_connect(keys, vals, &f)) == NULL)
		return stream_fail(s, connect_error_code(&f), "could not connect to PostgreSQL: %s%s%s",
					f.message, f.hint ? "; hint: " : "", f.hint ? f.hint : "");

	/*
	 * The server's TCP keepalives on this session, as on the backfill
	 * lock's (backfill_lock.c lock_connect()): a walsender left behind by a
	 * connection lost without the server noticing (a network cut, then a
	 * restart of the bridge) keeps the --create-slot lock, an exported
	 * snapshot or the slot; a walsender in command mode has no
	 * wal_sender_timeout, and the server's default keepalive is 2 h 11 min.
	 * With these it ends about 25 s after the server can reach the bridge's
	 * host again (attack 652).  A refusal is no reason not to stream: only
	 * a command given up fails the connection.
	 */
	if ((res = stream_exec(s, "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; "
						   "SET tcp_keepalives_count = 3")) == NULL)
		return STREAM_RETRY;
	PQclear(res);
	return STREAM_OK;
}

/*
 * PQexec bounded by --recv-timeout and the stop flag (pgerror_exec()): a
 * blocking PQexec on a path gone silent, or a command waiting on a lock,
 * would hear neither.  NULL when given up: s->err says why, and every later
 * command of this connection fails at once (STREAM_RETRY).
 * CREATE_REPLICATION_SLOT, which waits for the transactions running, and
 * the registry's register_slot()/unregister_slot(), which may wait on a
 * lock of wal2queue.slots (a slot created and left unregistered would be
 * taken for one that delivered before: test/t/570), wait as long as the
 * server runs them (pgerror_exec_watched(): a path gone silent is told from
 * a lock wait, test/t/602) or until the stop flag.
 */
PGresult *
stream_exec(Stream *s, const char *sql)
{
	const char *why;
	bool		waits = strncmp(sql, "CREATE_REPLICATION_SLOT", 23) == 0 ||
		strncmp(sql, "SELECT wal2queue.register_slot(", 31) == 0 ||
		strncmp(sql, "SELECT wal2queue.unregister_slot(", 33) == 0;
	PGresult   *res;
	OwnCheck	check = {s, sql, 0, ""};

	if (s->gave_up)
		return NULL;
	res = waits ? pgerror_exec_watched(s->conn, sql, own_command_running, &check, &why) :
		pgerror_exec(s->conn, sql, true, &why);
	if (res == NULL)
	{
		s->gave_up = true;
		remember_gone(s);
		stream_fail(s, STREAM_RETRY, "could not run %.*s on the replication connection: %s",
					(int) strcspn(sql, " ;"), sql, why);
	}
	return res;
}

static PGresult *
pgexec_stream(void *arg, const char *sql)
{
	return stream_exec(arg, sql);
}

void
stream_pgexec(Stream *s, PgExec *x)
{
	x->conn = s->conn;
	x->run = pgexec_stream;
	x->arg = s;
}

/* a command on the replication connection; code for errors */
int
stream_run_command(Stream *s, const char *sql, ExecStatusType want, PGresult **out)
{
	PGresult   *res = stream_exec(s, sql);

	if (res == NULL)
		return STREAM_RETRY;
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
		stream_result_message(res, buf, sizeof(buf));
		if (kind == PGERR_PERMANENT && pgerror_hint(sqlstate) &&
			PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) == NULL)
			stream_fail(s, code, "%s; hint: %s", buf, pgerror_hint(sqlstate));
		else
			stream_fail(s, code, "%s", buf);
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
int
stream_identify_system(Stream *s)
{
	PGresult   *res;
	int			rc;
	const char *pos;

	if ((rc = stream_run_command(s, "IDENTIFY_SYSTEM", PGRES_TUPLES_OK, &res)) != STREAM_OK)
		return rc;
	if (PQntuples(res) != 1 || PQnfields(res) < 4 || PQgetisnull(res, 0, 3))
	{
		PQclear(res);
		return stream_fail(s, STREAM_FATAL, "could not identify the server: unexpected IDENTIFY_SYSTEM result");
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
	const char *why;
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
	res = pgerror_exec(s->conn, sql, true, &why);
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
 * The output settings the walsender prints values with, the same as the
 * backfill's (backfill_sql.h BF_PINNED_SETTINGS): a streamed row and a
 * backfilled one print a date, an interval or a float alike, whatever the
 * database's or role's defaults.  (A slot created with an exported
 * snapshot, stream_create_exported(), never gets here.)
 */
static int
pin_settings(Stream *s)
{
	return stream_run_command(s, BF_PINNED_SETTINGS, PGRES_COMMAND_OK, NULL);
}

/*
 * pgoutput: stream in the database's encoding, which the server never
 * converts (a character UTF-8 lacks would end every session at the same
 * record: test/t/470); the decoder converts (encoding.h).  The SQL before
 * ran in UTF8.  The wal2queue plugin converts by itself.
 */
static int
stream_native_encoding(Stream *s)
{
	const char *server = PQparameterStatus(s->conn, "server_encoding");

	if (s->cfg->pgoutput == NULL || !encoding_converts(server))
		return STREAM_OK;
	if (PQsetClientEncoding(s->conn, server) != 0)
		return stream_fail(s, PQstatus(s->conn) == CONNECTION_OK ? STREAM_FATAL : STREAM_RETRY,
						   "could not set client_encoding to the database's %s: %s", server,
						   PQerrorMessage(s->conn));
	return STREAM_OK;
}

/* START_REPLICATION … LOGICAL 0/0 ("name" 'value', …) */
static int
start_replication(Stream *s)
{
	char		sql[8192];
	char	   *ident = PQescapeIdentifier(s->conn, s->cfg->slot, strlen(s->cfg->slot));
	const char *const *opts = s->options_now ? s->options_now : s->cfg->plugin_options;
	const char *const *o;
	size_t		n;

	n = snprintf(sql, sizeof(sql), "START_REPLICATION SLOT %s LOGICAL 0/0 (", ident);
	PQfreemem(ident);
	for (o = opts; o && o[0] && n < sizeof(sql); o += 2)
	{
		char	   *lit = PQescapeLiteral(s->conn, o[1], strlen(o[1]));

		n += snprintf(sql + n, sizeof(sql) - n, "%s\"%s\" %s",
					  o == opts ? "" : ", ", o[0], lit);
		PQfreemem(lit);
	}
	if (n + 2 >= sizeof(sql))
		return stream_fail(s, STREAM_FATAL, "plugin options too long");
	strcat(sql, ")");
	return stream_run_command(s, sql, PGRES_COPY_BOTH, NULL);
}

/* turn the server's refusal to load our plugin into a hint */
void
stream_explain_plugin_refusal(Stream *s)
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
	s->release_after = 0;
	s->release_bytes = 0;
	s->slot_created = false;
	s->slot_reclaimed = false;
	s->slot_busy = false;
	s->own_busy = false;
	if ((rc = stream_connect(s)) == STREAM_OK &&
		(rc = stream_identify_system(s)) == STREAM_OK &&
		(rc = stream_identify_backend(s)) == STREAM_OK &&
		(!s->cfg->create_slot || (rc = slot_lock_name(s)) == STREAM_OK) &&
		(rc = slot_check_publication(s)) == STREAM_OK &&
		(rc = slot_check(s, s->cfg->create_slot)) == STREAM_OK &&
		(rc = slot_check_wal_status(s)) == STREAM_OK)
	{
		/* (a slot created now is registered with it, after its snapshot) */
		if (!s->slot_created)
			stream_record_max_job_bytes(s);
		if (s->before_start)
		{
			PgExec		x;

			stream_pgexec(s, &x);
			s->before_start(s->before_start_arg, &x);
		}
		if ((rc = pin_settings(s)) == STREAM_OK &&
			(rc = stream_native_encoding(s)) == STREAM_OK)
			rc = start_replication(s);
	}
	if (rc != STREAM_OK)
	{
		stream_explain_plugin_refusal(s);
		if (strstr(s->err, "is active for PID"))
		{
			rc = STREAM_RETRY;
			s->slot_busy = true;
		}
		if (s->slot_busy)
			stream_end_own_walsender(s);
		slot_drop_created(s);
		stream_close(s);
	}
	else
	{
		remember_own(s);
		s->own_busy = false;
		s->created_at = 0;
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
		stream_fail(s, code = STREAM_FATAL, "replication stream ended: %s: the publication was "
			 "dropped (and perhaps created again) after slot \"%s\" was created, and pgoutput "
			 "reads it as of each transaction it decodes, so this slot can never decode the "
			 "WAL written while it was missing, and the jobs committed then are lost; hint: "
			 "drop the slot and create it again (--drop-slot, then --create-slot, with "
			 "--backfill for the rows still pending; docs/operations.md), and never drop a "
			 "publication a slot streams (docs/managed.md)",
			 stream_result_message(res, buf, sizeof(buf)), s->cfg->slot);
	else if (pgerror_classify_stream_end(sqlstate, res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL) ==
			 PGERR_PERMANENT)
		stream_fail(s, code = STREAM_FATAL, "replication stream ended: %s: slot \"%s\" needs WAL "
			 "the server no longer has (pg_resetwal, or a restore without pg_wal; wal_status \"%s\"), "
			 "so its jobs can never come from this slot, which holds back all WAL meanwhile; hint: "
			 "drop it (--drop-slot), then start once with --create-slot --backfill=<condition> "
			 "--backfill-again=<label> (at least once; docs/operations.md, \"A slot whose WAL was "
			 "removed\")", stream_result_message(res, buf, sizeof(buf)), s->cfg->slot,
			 s->wal_status[0] ? s->wal_status : "unknown");
	else if (res && PQresultStatus(res) == PGRES_FATAL_ERROR)
		stream_fail(s, code, "replication stream ended: %s", stream_result_message(res, buf, sizeof(buf)));
	else
		stream_fail(s, code, "replication stream ended by the server");
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
		return stream_fail(s, STREAM_RETRY, "unexpected replication message (%s)", what);
	}
	if (ev->wal_end > s->received_lsn)
		s->received_lsn = ev->wal_end;
	return STREAM_OK;
}

int
stream_read(Stream *s, int timeout_ms, StreamEvent *ev)
{
	int			len;
	int			rc;

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
			return stream_fail(s, STREAM_RETRY, "poll failed: %s", strerror(errno));
	}
	if (len == 0)
	{
		if (!PQconsumeInput(s->conn))
			return stream_fail(s, STREAM_RETRY, "lost connection to PostgreSQL: %s",
						PQerrorMessage(s->conn));
		len = PQgetCopyData(s->conn, &s->copybuf, 1);
	}
	if (len == 0)
		return STREAM_OK;
	if (len == -1)
		return copy_ended(s);
	if (len < 0)
		return stream_fail(s, STREAM_RETRY, "lost connection to PostgreSQL: %s",
					PQerrorMessage(s->conn));
	if ((rc = parse_message(s, s->copybuf, len, ev)) != STREAM_OK)
		return rc;
	if ((size_t) len > STREAM_RELEASE_BYTES && ev->kind == STREAM_DATA)
	{
		if (ev->wal_end > s->release_after)
			s->release_after = ev->wal_end;
		if ((size_t) len > s->release_bytes)
			s->release_bytes = len;
	}
	return STREAM_OK;
}

bool
stream_release_due(const Stream *s, uint64_t confirmed)
{
	return s->conn != NULL && s->release_after != 0 && confirmed >= s->release_after;
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
		return stream_fail(s, STREAM_RETRY, "could not send status update to PostgreSQL: %s",
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
