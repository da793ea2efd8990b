/*-------------------------------------------------------------------------
 *
 * slotwatch.c
 *		The slot's wal_status and safe_wal_size, asked on a connection of
 *		its own without ever blocking the bridge's loop (see slotwatch.h).
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "slotwatch.h"

void
slotwatch_init(SlotWatch *w, const char *conninfo, const char *slot)
{
	memset(w, 0, sizeof(*w));
	w->conninfo = conninfo;
	w->slot = slot;
	w->safe_wal_size = -1;
}

void
slotwatch_close(SlotWatch *w)
{
	if (w->conn)
		PQfinish(w->conn);
	w->conn = NULL;
	w->connecting = false;
	w->querying = false;
}

static void
watch_failed(SlotWatch *w, const char *what)
{
	log_msg(LOG_DEBUG, "slot watch: %s: %s", what,
			w->conn ? PQerrorMessage(w->conn) : "out of memory");
	slotwatch_close(w);
}

static void
start_connect(SlotWatch *w)
{
	const char *keys[] = {"dbname", "fallback_application_name", NULL};
	const char *vals[] = {w->conninfo, "wal2queue-bridge slot watch", NULL};

	w->conn = PQconnectStartParams(keys, vals, 1);
	if (w->conn == NULL || PQstatus(w->conn) == CONNECTION_BAD)
	{
		watch_failed(w, "could not connect");
		return;
	}
	w->connecting = true;
}

static void
send_query(SlotWatch *w)
{
	const char *params[1] = {w->slot};

	if (!PQsendQueryParams(w->conn,
						   "SELECT coalesce(wal_status, ''), coalesce(safe_wal_size::text, '') "
						   "FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
						   1, NULL, params, NULL, NULL, 0))
	{
		watch_failed(w, "could not send the query");
		return;
	}
	w->querying = true;
}

static void
read_answer(SlotWatch *w)
{
	PGresult   *res;

	if (!PQconsumeInput(w->conn))
	{
		watch_failed(w, "lost the connection");
		return;
	}
	while (!PQisBusy(w->conn) && (res = PQgetResult(w->conn)) != NULL)
	{
		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		{
			snprintf(w->wal_status, sizeof(w->wal_status), "%s", PQgetvalue(res, 0, 0));
			w->safe_wal_size = PQgetvalue(res, 0, 1)[0]
				? strtoll(PQgetvalue(res, 0, 1), NULL, 10) : -1;
			w->known = true;
		}
		else if (PQresultStatus(res) == PGRES_TUPLES_OK)
			w->known = false;	/* no such slot (yet) */
		PQclear(res);
	}
	if (!PQisBusy(w->conn))
		w->querying = false;
}

void
slotwatch_turn(SlotWatch *w, int interval_ms)
{
	int64_t		now = now_us();

	if (w->conn == NULL)
	{
		if (now < w->next_us)
			return;
		w->next_us = now + (int64_t) interval_ms * 1000;
		start_connect(w);
		return;
	}
	if (w->connecting)
	{
		PostgresPollingStatusType st = PQconnectPoll(w->conn);

		if (st == PGRES_POLLING_FAILED)
			watch_failed(w, "could not connect");
		else if (st == PGRES_POLLING_OK)
		{
			w->connecting = false;
			send_query(w);
		}
		return;
	}
	if (w->querying)
	{
		read_answer(w);
		return;
	}
	if (now >= w->next_us)
	{
		w->next_us = now + (int64_t) interval_ms * 1000;
		send_query(w);
	}
}
