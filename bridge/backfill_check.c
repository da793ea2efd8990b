/*-------------------------------------------------------------------------
 *
 * backfill_check.c
 *		Before anything is created: check that the backfill can read every
 *		selected table, and that its --backfill condition is one the server
 *		accepts on each, on a short normal connection of its own.
 *
 * A condition that is not valid SQL ("id >") or names a column a table
 * lacks used to be found at the first page, after CREATE_REPLICATION_SLOT
 * and register_slot(): the run stopped and left a registered slot holding
 * WAL and prune() back.  Each table is read with "SELECT 1 FROM t LIMIT 0",
 * then "SELECT 1 FROM t WHERE true AND (<condition>) LIMIT 0", as the pages
 * will be (backfill_sql.c bf_page): parsed, planned and permission-checked,
 * no row read, in a read-only session.  An error a row's values would
 * raise (a division by zero) is found only when the pages read that row.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backfill.h"
#include "backfill_sql.h"
#include "bridge.h"
#include "errbuf.h"
#include "log.h"
#include "pgerror.h"

/* the server's primary message, one line */
static const char *
primary(PGconn *conn, PGresult *res)
{
	const char *p = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	return p ? p : PQerrorMessage(conn);
}

/* a zero-row read of t, with the condition or without (NULL) */
static PGresult *
read_none(PGconn *conn, const BfTable *t, const char *condition)
{
	char	   *sql;
	PGresult   *res;

	if (asprintf(&sql, "SELECT 1 FROM %s%s WHERE true%s%s%s LIMIT 0",
				 t->partitioned ? "" : "ONLY ", t->qname, condition ? " AND (" : "",
				 condition ? condition : "", condition ? ")" : "") < 0)
		return NULL;
	res = PQexec(conn, sql);
	free(sql);
	return res;
}

static int
check_tables(PGconn *conn, const BridgeConfig *cfg, const BfTables *ts, char *err, size_t errlen)
{
	const char *cond = cfg->backfill.condition;

	for (int i = 0; i < ts->n; i++)
	{
		PGresult   *res = read_none(conn, &ts->t[i], NULL);
		int			rc = BACKFILL_CHECK_OK;

		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			rc = errbuf_set(err, errlen, BACKFILL_CHECK_FAILED, "could not read table %s for the "
							"backfill: %s%s", ts->t[i].name, primary(conn, res),
							bf_read_hint(primary(conn, res)));
		else if (cond && cond[0])
		{
			PQclear(res);
			res = read_none(conn, &ts->t[i], cond);
			if (PQresultStatus(res) != PGRES_TUPLES_OK)
				rc = errbuf_set(err, errlen, BACKFILL_CHECK_USAGE, "invalid --backfill condition "
								"\"%s\" for table %s: %s%s", cond, ts->t[i].name, primary(conn, res),
								bf_condition_hint(res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL));
		}
		PQclear(res);
		if (rc != BACKFILL_CHECK_OK)
			return PQstatus(conn) == CONNECTION_OK ? rc : BACKFILL_CHECK_OK;
	}
	return BACKFILL_CHECK_OK;
}

/*
 * pgoutput: the publication's tables, or while it does not exist yet
 * (--create-slot creates it from --tables) the tables --tables selects
 */
static const char *
publication_or_none(PGconn *conn, const char *publication)
{
	const char *params[1] = {publication};
	PGresult   *res;
	bool		exists;

	if (publication == NULL)
		return NULL;
	res = PQexecParams(conn, "SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $1",
					   1, NULL, params, NULL, NULL, 0);
	exists = PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) > 0;
	PQclear(res);
	return exists ? publication : NULL;
}

int
backfill_check(const BridgeConfig *cfg, char *err, size_t errlen)
{
	const char *keys[] = {"dbname", "replication", "fallback_application_name", NULL};
	const char *vals[] = {cfg->stream.conninfo, "false", "wal2queue-bridge backfill check", NULL};
	TablePatterns patterns = {0};
	BfSelect	sel = {NULL, cfg->backfill.publication, cfg->backfill.route_column,
	cfg->backfill.key_column};
	BfTables	ts = {0};
	PgConnectFailure f;
	PGconn	   *conn;
	PGresult   *res;
	int			rc = BACKFILL_CHECK_OK;

	if (cfg->backfill.condition && cfg->backfill.condition[0] &&
		backfill_condition_check(cfg->backfill.condition, err, errlen) != 0)
		return BACKFILL_CHECK_USAGE;
	if ((conn = pgerror_connect(keys, vals, &f)) == NULL)
	{
		/* the backfill connects again, and says why it cannot (or retries) */
		log_msg(LOG_DEBUG, "could not check the backfill's tables: %s", f.message);
		return BACKFILL_CHECK_OK;
	}
	res = PQexec(conn, BF_PINNED_SETTINGS "; " BF_NO_ROW_SECURITY "; " BF_CLIENT_ENCODING
				 "; SET default_transaction_read_only = on");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		log_msg(LOG_DEBUG, "could not check the backfill's tables: %s", primary(conn, res));
	else if (cfg->backfill.tables &&
			 !tablematch_parse(cfg->backfill.tables, &patterns, err, errlen))
		rc = BACKFILL_CHECK_USAGE;
	else
	{
		sel.patterns = patterns.n ? &patterns : NULL;
		sel.publication = publication_or_none(conn, cfg->backfill.publication);
		if (bf_tables_load(conn, &sel, &ts, err, errlen) != 0)
			rc = PQstatus(conn) == CONNECTION_OK ? BACKFILL_CHECK_FAILED : BACKFILL_CHECK_OK;
		else
			rc = check_tables(conn, cfg, &ts, err, errlen);
	}
	PQclear(res);
	bf_tables_free(&ts);
	tablematch_free(&patterns);
	PQfinish(conn);
	return rc;
}
