/*-------------------------------------------------------------------------
 *
 * message_access.c
 *		Whether PUBLIC may emit logical messages, for --plugin=pgoutput
 *		(see message_access.h).
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "log.h"
#include "message_access.h"

int
message_access_public(const PGresult *res)
{
	const char *v;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
		PQnfields(res) != 1 || PQgetisnull(res, 0, 0))
		return -1;
	v = PQgetvalue(res, 0, 0);
	return strcmp(v, "t") == 0 ? 1 : strcmp(v, "f") == 0 ? 0 : -1;
}

void
message_access_warn(const char *dbname)
{
	log_msg(LOG_WARNING, "ignoring wal2queue logical messages: pg_logical_emit_message() is "
			"executable by PUBLIC in database \"%s\", so any role that can log in could forge "
			"a job (counted in wal2queue_messages_ignored_total); hint: CREATE EXTENSION "
			"wal2queue, or as a superuser run: REVOKE EXECUTE ON FUNCTION "
			"pg_catalog.pg_logical_emit_message(boolean, text, text), "
			"pg_catalog.pg_logical_emit_message(boolean, text, bytea) FROM PUBLIC; and GRANT "
			"it to the roles that send jobs (wal2queue_sender)", dbname);
}
