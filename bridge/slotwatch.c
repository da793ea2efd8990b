/*-------------------------------------------------------------------------
 *
 * slotwatch.c
 *		The slot's wal_status and safe_wal_size, and its attestation to the
 *		wal2queue extension, asked on a connection of its own without ever
 *		blocking the bridge's loop (see slotwatch.h).
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "log.h"
#include "lsn.h"
#include "message_access.h"
#include "pgerror.h"
#include "slotwatch.h"

#define WATCH_KEYS_GAP_MS 100	/* between two reads of the keys */

/*
 * The watch's connection never holds the bridge's loop, but a query that
 * does not end holds the watch: the health, the keys a held message waits
 * for, the publication's poll (the stream is dropped after
 * PUBWATCH_STALE_MS without it).  So its session waits for a lock at most
 * WATCH_LOCK_TIMEOUT_MS (attest_slot() locks the slot's registry row FOR
 * UPDATE: an operator's transaction may hold it; test/t/624) and runs a
 * statement at most WATCH_ANSWER_TIMEOUT_MS; and a connect or a query
 * without an answer that long (a silent path) is given up, to be tried
 * again at the next interval.
 */
#define WATCH_LOCK_TIMEOUT_MS 1000
#define WATCH_ANSWER_TIMEOUT_MS 3000
#define FINAL_MARGIN_MS 250		/* slotwatch_attest_final()'s, for the
									 * answer to come back */
#define WATCH_STR_(x) #x
#define WATCH_STR(x) WATCH_STR_(x)

void
slotwatch_init(SlotWatch *w, const char *conninfo, const char *slot)
{
	memset(w, 0, sizeof(*w));
	w->conninfo = conninfo;
	w->slot = slot;
	w->safe_wal_size = -1;
	w->attest_fn = -1;
	w->messages_public = -1;
}

/*
 * A stream session began on stream_conn: the watch asks that server, the
 * one that holds the slot, whichever of --dbname's hosts it is (attack 680:
 * a silent host before it in the list held the watch's every connect), and
 * by the address libpq reached, so a name whose resolution hangs does not
 * hold the loop or the stop (attack 681).  A change of server closes the
 * watch's connection.
 */
void
slotwatch_server(SlotWatch *w, PGconn *stream_conn)
{
	char	   *pinned = pgerror_conninfo_same_server(w->conninfo, stream_conn);

	if (pinned == NULL)
		return;					/* out of memory: keep what it had */
	if (w->pinned && strcmp(w->pinned, pinned) == 0)
	{
		free(pinned);
		return;
	}
	slotwatch_close(w);
	free(w->pinned);
	w->pinned = pinned;
	w->retry_us = 0;			/* another server: no wait for this one's */
	w->backoff_ms = 0;
}

/* slotwatch_close(), and what slotwatch_server() kept */
void
slotwatch_free(SlotWatch *w)
{
	slotwatch_close(w);
	free(w->pinned);
	w->pinned = NULL;
}

/* the conninfo the watch connects with */
static const char *
watch_conninfo(const SlotWatch *w)
{
	return w->pinned ? w->pinned : w->conninfo;
}

void
slotwatch_close(SlotWatch *w)
{
	if (w->conn)
		PQfinish(w->conn);
	w->conn = NULL;
	w->connecting = false;
	w->querying = WATCH_IDLE;
	w->attest_fn = -1;			/* the extension may be there next time */
}

void
slotwatch_attest(SlotWatch *w, int walsender_pid, uint64_t unrecorded_from)
{
	if (walsender_pid != w->attest_pid)
		w->next_attest_us = 0;	/* a new session: attest at once */
	w->attest_pid = walsender_pid;
	w->unrecorded_from = unrecorded_from;
}

static void
watch_failed(SlotWatch *w, const char *what)
{
	log_msg(LOG_DEBUG, "slot watch: %s: %s", what,
			w->conn ? PQerrorMessage(w->conn) : "out of memory");
	slotwatch_close(w);
}

/* the server's notices (attest_slot()'s WARNING) go to the debug log */
static void
on_notice(void *arg, const char *message)
{
	(void) arg;
	log_msg(LOG_DEBUG, "slot watch: %.*s", (int) strcspn(message, "\n"), message);
}

/*
 * A connect failed: the next waits, whatever is due (an attestation, the
 * publication's poll, the keys), 1 s and then twice as long each time up to
 * the interval, so that a server that refuses logins is not asked again at
 * every turn of the loop (attack 702)
 */
static void
connect_failed(SlotWatch *w, int interval_ms)
{
	w->backoff_ms = w->backoff_ms == 0 ? 1000 : w->backoff_ms * 2;
	if (w->backoff_ms > interval_ms)
		w->backoff_ms = interval_ms < 1000 ? 1000 : interval_ms;
	w->retry_us = now_us() + (int64_t) w->backoff_ms * 1000;
	watch_failed(w, "could not connect");
}

static void
start_connect(SlotWatch *w, int interval_ms)
{
	const char *keys[] = {"dbname", "fallback_application_name", "client_encoding", NULL};
	const char *vals[] = {watch_conninfo(w), "wal2queue-bridge slot watch", PGERROR_CLIENT_ENCODING, NULL};

	w->conn = PQconnectStartParams(keys, vals, 1);
	if (w->conn == NULL || PQstatus(w->conn) == CONNECTION_BAD)
	{
		connect_failed(w, interval_ms);
		return;
	}
	PQsetNoticeProcessor(w->conn, on_notice, NULL);
	w->connecting = true;
	/*
	 * the stream's bound, as libpq resolved connect_timeout for this
	 * connection (the environment, a service file too), else --recv-timeout,
	 * so that a login the stream waits for is waited for here (attacks 683,
	 * 700)
	 */
	w->connect_ms = pgerror_connect_bound_s(w->conn) * 1000;
	w->sent_us = now_us();
}

static const char *const watch_sql[] = {
	[WATCH_SETUP] = "SELECT pg_catalog.set_config('lock_timeout', '" WATCH_STR(WATCH_LOCK_TIMEOUT_MS) "', false), "
	"pg_catalog.set_config('statement_timeout', '" WATCH_STR(WATCH_ANSWER_TIMEOUT_MS) "', false)",
	[WATCH_HEALTH] = "SELECT coalesce(wal_status, ''), coalesce(safe_wal_size::text, '') "
	"FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
	/* to_regprocedure() raises an error for a schema without USAGE */
	[WATCH_PROBE] = "SELECT CASE WHEN pg_catalog.to_regnamespace('wal2queue') IS NULL THEN false "
	"WHEN NOT pg_catalog.has_schema_privilege('wal2queue', 'USAGE') THEN false "
	"ELSE pg_catalog.to_regprocedure('wal2queue.attest_slot(name,integer,pg_lsn)') IS NOT NULL END",
	[WATCH_ATTEST] = "SELECT wal2queue.attest_slot($1, $2::integer, $3::pg_lsn)",
	[WATCH_MESSAGES] = MESSAGE_ACCESS_SQL,
	[WATCH_KEYS] = MESSAGE_KEYS_SQL,
};

static void
send_query(SlotWatch *w, SlotWatchQuery q)
{
	const char *const *sql = watch_sql;
	char		pid[16];
	char		from[LSN_STRLEN];
	const char *params[3] = {w->slot, pid, NULL};
	int			nparams = q == WATCH_ATTEST ? 3 : q == WATCH_HEALTH ? 1 : 0;

	snprintf(pid, sizeof(pid), "%d", w->attest_pid);
	if (w->unrecorded_from)
		params[2] = lsn_format(w->unrecorded_from, from, sizeof(from));
	if (!PQsendQueryParams(w->conn, sql[q], nparams, NULL, params, NULL, NULL, 0))
	{
		watch_failed(w, "could not send the query");
		return;
	}
	w->querying = q;
	w->sent_us = now_us();
}

static void
take_health(SlotWatch *w, PGresult *res)
{
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
	{
		snprintf(w->wal_status, sizeof(w->wal_status), "%s", PQgetvalue(res, 0, 0));
		w->safe_wal_size = PQgetvalue(res, 0, 1)[0]
			? strtoll(PQgetvalue(res, 0, 1), NULL, 10) : -1;
		w->known = true;
	}
	else if (PQresultStatus(res) == PGRES_TUPLES_OK)
		w->known = false;		/* no such slot (yet) */
}

static void
take_attest(SlotWatch *w, PGresult *res, int pid)
{
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		/* e.g. the session ended meanwhile: the next one is attested */
		log_msg(LOG_DEBUG, "slot watch: could not attest slot \"%s\": %s", w->slot,
				PQresultErrorMessage(res));
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
	{
		if (w->attested_pid != pid)
			log_msg(LOG_INFO, "attesting slot \"%s\" to the wal2queue extension for prune()", w->slot);
		w->attested_pid = pid;
		w->attestations++;
	}
	else if (w->refused_pid != pid)
	{
		log_msg(LOG_WARNING, "the wal2queue extension refused to trust slot \"%s\": it was consumed or "
				"re-created without a bridge, so prune() deletes none of its jobs; see "
				"wal2queue.slots.attest_refused", w->slot);
		w->refused_pid = pid;
	}
}

static void
take_keys(SlotWatch *w, PGresult *res)
{
	char		err[256];

	if (!message_keys_from_result(res, &w->keys, err, sizeof(err)))
	{
		log_msg(LOG_WARNING, "slot watch: %s; asking again", err);
		return;
	}
	w->keys_ready = true;
	w->keys_wanted = false;
	w->keys_asked_us = w->sent_us;
}

static void
read_answer(SlotWatch *w)
{
	PGresult   *res;
	SlotWatchQuery q = w->querying;

	if (!PQconsumeInput(w->conn))
	{
		watch_failed(w, "lost the connection");
		return;
	}
	while (!PQisBusy(w->conn) && (res = PQgetResult(w->conn)) != NULL)
	{
		if (q == WATCH_HEALTH)
			take_health(w, res);
		else if (q == WATCH_PROBE)
			w->attest_fn = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
				strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		else if (q == WATCH_ATTEST)
			take_attest(w, res, w->attest_pid);
		else if (q == WATCH_MESSAGES && message_access_public(res) >= 0)
		{
			w->messages_public = message_access_public(res);
			w->messages_asked_us = w->sent_us;
		}
		else if (q == WATCH_KEYS)
			take_keys(w, res);
		else if (q == WATCH_PUBLICATION && !pubwatch_take(w->pub, res))
			log_msg(LOG_DEBUG, "slot watch: could not read the publication: %s",
					PQresultErrorMessage(res));
		else if (q == WATCH_SETUP && PQresultStatus(res) != PGRES_TUPLES_OK)
			log_msg(LOG_DEBUG, "slot watch: could not set the session's limits: %s",
					PQresultErrorMessage(res));
		PQclear(res);
	}
	if (!PQisBusy(w->conn))
		w->querying = WATCH_IDLE;
}

/* the publication's poll (pubwatch.h): two statements, simple protocol */
static void
send_publication(SlotWatch *w, int64_t now)
{
	char	   *sql = pubwatch_sql(w->pub, w->conn);

	w->pub->next_us = now + PUBWATCH_POLL_MS * INT64_C(1000);
	if (sql == NULL || !PQsendQuery(w->conn, sql))
		watch_failed(w, "could not send the query");
	else
	{
		w->querying = WATCH_PUBLICATION;
		w->sent_us = now;
	}
	free(sql);
}

/* connected and idle: the next query that is due, if any */
static void
next_query(SlotWatch *w, int interval_ms)
{
	int64_t		now = now_us();

	if (w->keys_wanted && now >= w->next_keys_us)
	{
		w->next_keys_us = now + WATCH_KEYS_GAP_MS * INT64_C(1000);
		send_query(w, WATCH_KEYS);
	}
	else if (now >= w->next_us)
	{
		w->next_us = now + (int64_t) interval_ms * 1000;
		send_query(w, WATCH_HEALTH);
	}
	else if (w->watch_messages && now >= w->next_messages_us)
	{
		w->next_messages_us = now + (int64_t) interval_ms * 1000;
		send_query(w, WATCH_MESSAGES);
	}
	else if (w->pub && w->pub->cfg && now >= w->pub->next_us)
		send_publication(w, now);
	else if (w->attest_pid != 0 && w->attest_fn != 0 && now >= w->next_attest_us)
	{
		if (w->attest_fn < 0)
			send_query(w, WATCH_PROBE);
		else
		{
			w->next_attest_us = now + (int64_t) interval_ms * 1000;
			send_query(w, WATCH_ATTEST);
		}
	}
}

/* a connect or a query in flight that long without an answer: give it up */
static bool
watch_overdue(SlotWatch *w, int limit_ms)
{
	if (now_us() - w->sent_us < limit_ms * INT64_C(1000))
		return false;
	log_msg(LOG_DEBUG, "slot watch: no answer from the server within %d ms: closing its connection",
			limit_ms);
	slotwatch_close(w);
	return true;
}

void
slotwatch_turn(SlotWatch *w, int interval_ms)
{
	if (w->conn == NULL)
	{
		int64_t		now = now_us();

		if (now < w->retry_us)
			return;
		if (!w->keys_wanted && now < w->next_us && (w->attest_pid == 0 || now < w->next_attest_us) &&
			(w->pub == NULL || w->pub->cfg == NULL || now < w->pub->next_us))
			return;
		w->next_us = now + (int64_t) interval_ms * 1000;
		start_connect(w, interval_ms);
		return;
	}
	if (w->connecting)
	{
		PostgresPollingStatusType st = PQconnectPoll(w->conn);

		if (st == PGRES_POLLING_FAILED)
			connect_failed(w, interval_ms);
		else if (st == PGRES_POLLING_OK)
		{
			w->connecting = false;
			w->backoff_ms = 0;
			w->next_us = 0;		/* the health first, after the limits */
			if (PQsetnonblocking(w->conn, 1) != 0)
				watch_failed(w, "could not make the connection non-blocking");
			else
				send_query(w, WATCH_SETUP);
		}
		else
			watch_overdue(w, w->connect_ms);
		return;
	}
	if (w->querying != WATCH_IDLE)
	{
		if (PQflush(w->conn) < 0)
			watch_failed(w, "could not send the query");
		else
		{
			read_answer(w);
			if (w->conn && w->querying != WATCH_IDLE)
				watch_overdue(w, WATCH_ANSWER_TIMEOUT_MS);
		}
		return;
	}
	next_query(w, interval_ms);
}

/*
 * The final attestation, under one deadline (now_us()) for its connect and
 * its queries: the stop flag is already set, so pgerror_connect() and
 * pgerror_exec() would give up at once; this waits for the socket in
 * poll() until the deadline, which a silent path cannot stretch.
 */

/* false: the deadline came first (or poll failed), *why says so */
static bool
final_wait(PGconn *c, short events, int64_t deadline, const char **why)
{
	struct pollfd pfd = {.fd = PQsocket(c),.events = events};
	int64_t		left = deadline - now_us();
	int			rc;

	if (left <= 0)
	{
		*why = "no answer from the server in time";
		return false;
	}
	rc = poll(&pfd, 1, (int) ((left + 999) / 1000));
	if (rc < 0 && errno != EINTR)
	{
		*why = strerror(errno);
		return false;
	}
	return true;
}

/* connected (non-blocking), or NULL and *why */
static PGconn *
final_connect(SlotWatch *w, int64_t deadline, const char **why, char *whybuf, size_t whylen)
{
	const char *keys[] = {"dbname", "fallback_application_name", "client_encoding", NULL};
	const char *vals[] = {watch_conninfo(w), "wal2queue-bridge slot watch", PGERROR_CLIENT_ENCODING, NULL};
	PGconn	   *c = PQconnectStartParams(keys, vals, 1);
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	if (c == NULL)
	{
		*why = "out of memory";
		return NULL;
	}
	while (st != PGRES_POLLING_OK && PQstatus(c) != CONNECTION_BAD)
	{
		if (!final_wait(c, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline, why))
			break;
		if ((st = PQconnectPoll(c)) == PGRES_POLLING_FAILED)
			break;
	}
	if (st != PGRES_POLLING_OK || PQsetnonblocking(c, 1) != 0)
	{
		/* the reason outlives the connection (attack 682) */
		if (*why == NULL)
		{
			snprintf(whybuf, whylen, "%s", PQerrorMessage(c));
			*why = whybuf;
		}
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, on_notice, NULL);
	return c;
}

/*
 * PQexecParams before the deadline: its result (the first error, else the
 * last), or NULL and *why; a connection given up is shut down
 */
static PGresult *
final_exec(PGconn *c, const char *sql, int nparams, const char *const *params,
		   int64_t deadline, const char **why)
{
	PGresult   *keep = NULL;
	PGresult   *res;
	int			rc;

	if (*why != NULL)
		return NULL;			/* given up before */
	if (!PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, 0))
	{
		*why = PQerrorMessage(c);
		return NULL;
	}
	while ((rc = PQflush(c)) == 1)
		if (!final_wait(c, POLLIN | POLLOUT, deadline, why) || !PQconsumeInput(c))
			break;
	for (; rc == 0 && *why == NULL;)
	{
		while (PQisBusy(c) && final_wait(c, POLLIN, deadline, why))
			if (!PQconsumeInput(c))
				break;			/* PQgetResult reports it */
		if (*why != NULL || (res = PQgetResult(c)) == NULL)
			break;
		if (keep == NULL || PQresultStatus(keep) != PGRES_FATAL_ERROR)
		{
			PQclear(keep);
			keep = res;
		}
		else
			PQclear(res);
	}
	if (rc != 0 && *why == NULL)
		*why = PQerrorMessage(c);
	if (*why == NULL)
		return keep;
	PQclear(keep);
	if (PQsocket(c) >= 0)
		shutdown(PQsocket(c), SHUT_RDWR);
	return NULL;
}

/* a query's single boolean answer; false on any error (*why when given up) */
static bool
final_ask(PGconn *c, const char *sql, int nparams, const char *const *params,
		  int64_t deadline, const char **why)
{
	PGresult   *res = final_exec(c, sql, nparams, params, deadline, why);
	bool		yes = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		strcmp(PQgetvalue(res, 0, 0), "t") == 0;

	PQclear(res);
	return yes;
}

/*
 * The whole of it within timeout_ms (FINAL_ATTEST_TIMEOUT_MS): the wait for
 * the walsender to take the last confirmation may use three quarters of
 * it; the attestation's own waits for the registry row's lock and for the
 * statement are set to what is left (less FINAL_MARGIN_MS) on the server
 * too, so that its session does not outlive the bridge's stop (test/t/624)
 */
void
slotwatch_attest_final(SlotWatch *w, uint64_t confirmed, int timeout_ms)
{
	char		pid[16];
	char		lsn[LSN_STRLEN];
	char		from[LSN_STRLEN];
	char		left_ms[16];
	int			left;
	const char *params[3] = {w->slot, lsn, NULL};
	int64_t		start = now_us();
	int64_t		deadline = start + (int64_t) timeout_ms * 1000;
	int64_t		confirm_by = start + (int64_t) timeout_ms * 750;
	const char *why = NULL;
	char		whybuf[512];
	PGconn	   *c;
	PGresult   *res = NULL;

	if (w->attest_pid == 0 || w->refused_pid == w->attest_pid)
		return;
	slotwatch_close(w);
	if ((c = final_connect(w, deadline, &why, whybuf, sizeof(whybuf))) != NULL)
	{
		/* wait for the walsender to take the last confirmation */
		lsn_format(confirmed, lsn, sizeof(lsn));
		while (!final_ask(c, "SELECT confirmed_flush_lsn >= $2::pg_lsn FROM pg_catalog.pg_replication_slots "
						  "WHERE slot_name = $1", 2, params, deadline, &why) &&
			   why == NULL && now_us() < confirm_by)
			usleep(50 * 1000);
		if (!final_ask(c, watch_sql[WATCH_PROBE], 0, NULL, deadline, &why))
		{
			if (why != NULL)
			{
				snprintf(whybuf, sizeof(whybuf), "%s", why);
				why = whybuf;
			}
			PQfinish(c);
			if (why == NULL)
				return;			/* no extension to attest to */
			c = NULL;
		}
	}
	if (c != NULL)
	{
		/*
		 * both end a little before the deadline, for the error (which says
		 * why) to come back in time: lock_timeout bounds each wait for a
		 * lock (the row's tuple lock, then its locker's transaction: one
		 * after the other behind an earlier waiter), statement_timeout
		 * their sum
		 */
		left = (int) ((deadline - now_us()) / 1000) - FINAL_MARGIN_MS;
		snprintf(left_ms, sizeof(left_ms), "%d", left);
		params[0] = left_ms;
		if (left <= 0)
			why = "no time left";
		else if (!final_ask(c, "SELECT pg_catalog.set_config('lock_timeout', $1, false) IS NOT NULL AND "
							"pg_catalog.set_config('statement_timeout', $1, false) IS NOT NULL",
							1, params, deadline, &why) && why == NULL)
			why = PQerrorMessage(c);
		params[0] = w->slot;
		snprintf(pid, sizeof(pid), "%d", w->attest_pid);
		params[1] = pid;
		params[2] = w->unrecorded_from ? lsn_format(w->unrecorded_from, from, sizeof(from)) : NULL;
		if ((res = final_exec(c, watch_sql[WATCH_ATTEST], 3, params, deadline, &why)) != NULL)
		{
			if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
				take_attest(w, res, w->attest_pid);
			else if ((why = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)) == NULL)
				why = PQresultErrorMessage(res);
		}
	}
	if (why != NULL)
		log_msg(LOG_WARNING, "could not attest slot \"%s\" at the stop: %.*s; prune() trusts it only "
				"as far as its last attestation, and a restart that no sink record vouches for "
				"may be refused (wal2queue.slots.attest_refused)", w->slot,
				(int) strcspn(why, "\n"), why);
	PQclear(res);
	PQfinish(c);
}
