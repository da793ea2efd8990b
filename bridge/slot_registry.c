/*-------------------------------------------------------------------------
 *
 * slot_registry.c
 *		Telling the wal2queue extension's slot registry (when installed)
 *		about the slot: register_slot() after it is created or adopted, from
 *		where it delivers, with which tables, publication and claim-check
 *		size; unregister_slot() after it is dropped; lower_max_job_bytes()
 *		before each START_REPLICATION.  prune() deletes only what a
 *		registered slot delivered.  A registry this role may not use is a
 *		warning, never a stop.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "publication.h"
#include "stream.h"
#include "stream_internal.h"

/*
 * Is the extension's slot registry there for us?  1 yes, 0 not installed,
 * -1 installed but this role may not use its schema.
 */
int
slot_registry_state(Stream *s)
{
	PGresult   *res;
	const char *v;
	int			present;

	res = stream_exec(s,
				 "SELECT CASE WHEN pg_catalog.to_regnamespace('wal2queue') IS NULL THEN 'absent' "
				 "WHEN NOT pg_catalog.has_schema_privilege('wal2queue', 'USAGE') THEN 'no-usage' "
				 "WHEN pg_catalog.to_regprocedure('wal2queue.register_slot(name,text,name,bigint)') IS NULL "
				 "AND pg_catalog.to_regprocedure('wal2queue.register_slot(name,text,name)') IS NULL "
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
	return present;
}

/* slot_registry_state(), with a warning when this role may not use it */
int
slot_registry_present(Stream *s)
{
	int			present = slot_registry_state(s);

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
void
slot_registry_call(Stream *s, bool add)
{
	const char *tables = NULL;
	const char *max_job_bytes = NULL;
	const char *const *o;
	char	   *slot;
	char	   *tab = NULL;
	char	   *pub = NULL;
	char	   *mjb = NULL;
	char	   *sql;
	PGresult   *res;

	if (slot_registry_present(s) != 1)
		return;
	for (o = s->cfg->plugin_options; o && o[0]; o += 2)
		if (strcmp(o[0], "tables") == 0)
			tables = o[1];
		else if (strcmp(o[0], "max-job-bytes") == 0)
			max_job_bytes = o[1];
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
	/* the plugin's claim-check size: prune() keeps rows that large */
	if (max_job_bytes)
		mjb = PQescapeLiteral(s->conn, max_job_bytes, strlen(max_job_bytes));
	sql = malloc(strlen(slot) + (tab ? strlen(tab) : 4) + (pub ? strlen(pub) : 0) +
				 (mjb ? strlen(mjb) : 0) + 128);
	if (slot == NULL || (tables && tab == NULL) || (s->cfg->pgoutput && pub == NULL) ||
		(max_job_bytes && mjb == NULL) || sql == NULL)
	{
		log_msg(LOG_WARNING, "could not %s slot \"%s\": out of memory",
				add ? "register" : "unregister", s->cfg->slot);
		PQfreemem(slot);
		PQfreemem(tab);
		PQfreemem(pub);
		PQfreemem(mjb);
		free(sql);
		return;
	}
	if (add)
		sprintf(sql, "SELECT wal2queue.register_slot(%s, %s%s%s%s%s%s)", slot, tab ? tab : "NULL",
				pub ? ", " : "", pub ? pub : "",
				mjb ? ", max_job_bytes => pg_catalog.pg_size_bytes(" : "", mjb ? mjb : "", mjb ? ")" : "");
	else
		sprintf(sql, "SELECT wal2queue.unregister_slot(%s)", slot);
	PQfreemem(slot);
	PQfreemem(tab);
	PQfreemem(pub);
	PQfreemem(mjb);
	res = stream_exec(s, sql);
	free(sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		char		buf[400];

		log_msg(LOG_WARNING, "could not %s slot \"%s\" %s the wal2queue extension's registry: %s",
				add ? "register" : "unregister", s->cfg->slot, add ? "in" : "from",
				res ? stream_result_message(res, buf, sizeof(buf)) : s->err);
	}
	else
		log_msg(LOG_INFO, "%s slot \"%s\" %s the wal2queue extension's registry",
				add ? "registered" : "unregistered", s->cfg->slot, add ? "in" : "from");
	PQclear(res);
}

void
stream_register_slot(Stream *s)
{
	if (s->conn)
		slot_registry_call(s, true);
}

/*
 * Before every START_REPLICATION with --max-job-bytes: tell the registry
 * this session's claim-check size when it is smaller than the one
 * registered, so that prune() keeps the rows it may make claim checks of
 * (wal2queue.lower_max_job_bytes()).  A registry without the function (an
 * older extension) is left alone; a failed call is a warning.
 */
void
stream_record_max_job_bytes(Stream *s)
{
	const char *const *o;
	const char *mjb = NULL;
	char	   *slot;
	char	   *lit;
	char	   *sql;
	PGresult   *res;

	for (o = s->cfg->plugin_options; o && o[0]; o += 2)
		if (strcmp(o[0], "max-job-bytes") == 0)
			mjb = o[1];
	if (mjb == NULL || s->conn == NULL || slot_registry_present(s) != 1)
		return;
	slot = PQescapeLiteral(s->conn, s->cfg->slot, strlen(s->cfg->slot));
	lit = PQescapeLiteral(s->conn, mjb, strlen(mjb));
	sql = slot && lit ? malloc(strlen(slot) + strlen(lit) + 256) : NULL;
	if (sql == NULL)
	{
		log_msg(LOG_WARNING, "could not record --max-job-bytes of slot \"%s\": out of memory",
				s->cfg->slot);
		PQfreemem(slot);
		PQfreemem(lit);
		return;
	}
	sprintf(sql, "SELECT CASE WHEN pg_catalog.to_regprocedure('wal2queue.lower_max_job_bytes(name,bigint)') "
			"IS NOT NULL THEN wal2queue.lower_max_job_bytes(%s, pg_catalog.pg_size_bytes(%s)) END",
			slot, lit);
	PQfreemem(slot);
	PQfreemem(lit);
	res = stream_exec(s, sql);
	free(sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		char		buf[400];

		log_msg(LOG_WARNING, "could not record --max-job-bytes %s of slot \"%s\" in the wal2queue "
				"extension's registry: %s; prune() may delete rows this session makes claim checks of",
				mjb, s->cfg->slot, stream_result_message(res, buf, sizeof(buf)));
	}
	PQclear(res);
}
