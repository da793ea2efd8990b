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

MessageKeyState
message_key_state(const PGresult *res)
{
	const char *v;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
		PQnfields(res) != 1 || PQgetisnull(res, 0, 0))
		return MESSAGE_KEY_UNKNOWN;
	v = PQgetvalue(res, 0, 0);
	if (strcmp(v, "absent") == 0)
		return MESSAGE_KEY_ABSENT;
	if (strcmp(v, "denied") == 0)
		return MESSAGE_KEY_DENIED;
	if (strcmp(v, "untrusted") == 0)
		return MESSAGE_KEY_UNTRUSTED;
	if (strcmp(v, "readable") == 0)
		return MESSAGE_KEY_READ;
	return MESSAGE_KEY_UNKNOWN;
}

void
message_access_warn(const char *dbname, MessageKeyState key)
{
	const char *why = key == MESSAGE_KEY_READ ?
		"and none of them was signed with the key of wal2queue.message_key" :
		key == MESSAGE_KEY_DENIED ?
		"and the bridge's role may not read wal2queue.message_key to verify send()'s signed messages" :
		key == MESSAGE_KEY_UNTRUSTED ?
		"and the bridge does not trust wal2queue.message_key: it or schema wal2queue belongs to a "
		"role that is neither a superuser nor a member of the database's owner" :
		"and the bridge found no wal2queue.message_key to verify send()'s signed messages";

	log_msg(LOG_WARNING, "ignoring wal2queue logical messages: pg_logical_emit_message() is "
			"executable by PUBLIC in database \"%s\", so any role that can log in could forge "
			"a job (counted in wal2queue_messages_ignored_total), %s; hint: %s"
			"CREATE EXTENSION wal2queue, or as a superuser run: REVOKE EXECUTE ON FUNCTION "
			"pg_catalog.pg_logical_emit_message(boolean, text, text), "
			"pg_catalog.pg_logical_emit_message(boolean, text, bytea) FROM PUBLIC; and GRANT "
			"it to the roles that send jobs (wal2queue_sender)", dbname, why,
			key == MESSAGE_KEY_DENIED ?
			"send jobs with wal2queue.send() and GRANT SELECT ON wal2queue.message_key TO the "
			"bridge's role (as the role that installed wal2queue), or " :
			key == MESSAGE_KEY_ABSENT ? "install wal2queue's SQL side and send jobs with "
			"wal2queue.send(), or " : "");
}
