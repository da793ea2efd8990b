/*-------------------------------------------------------------------------
 *
 * message_access.c
 *		Whether PUBLIC may emit logical messages, for --plugin=pgoutput
 *		(see message_access.h).
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
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
		return MESSAGE_KEY_UNTRUSTED;	/* read, and judged message by message */
	if (strcmp(v, "readable") == 0)
		return MESSAGE_KEY_READ;
	return MESSAGE_KEY_UNKNOWN;
}

void
message_access_warn(const char *dbname, MessageKeyState key)
{
	const char *why = key == MESSAGE_KEY_READ ?
		"and none of them carried a MAC that verified: each was checked as send() signs it, "
		"HMAC-SHA256 with the key of wal2queue.message_key its prefix names (keys read in a "
		"snapshot that sees the message) over the transaction's 64-bit xid, the prefix in "
		"UTF-8 as the server's convert_to(prefix, 'UTF8') and the payload; so each was "
		"unsigned (pg_logical_emit_message()), named no key of the table, or its prefix, "
		"payload or MAC differ from what send() signed" :
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

bool
message_keys_from_result(const PGresult *res, MessageKeys *keys, char *err, size_t errlen)
{
	MessageKeyState state = keys->state;
	int			i;

	message_keys_free(keys);
	keys->state = state;
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 4 || PQntuples(res) < 1)
		return errbuf_set(err, errlen, false, "could not read wal2queue.message_key: %s",
						  PQresultStatus(res) == PGRES_TUPLES_OK ? "unexpected answer" :
						  PQresultErrorMessage(res));
	if (!message_keys_set_snapshot(keys, PQgetvalue(res, 0, 0), err, errlen))
		return false;
	for (i = 0; i < PQntuples(res); i++)
	{
		if (PQgetisnull(res, i, 1))
			continue;			/* no key at all */
		if (PQgetisnull(res, i, 2) ||
			!message_keys_add(keys, strtoll(PQgetvalue(res, i, 1), NULL, 10), PQgetvalue(res, i, 2),
							  strcmp(PQgetvalue(res, i, 3), "t") == 0, err, errlen))
		{
			message_keys_free(keys);
			keys->state = state;
			return false;
		}
	}
	return true;
}

void
message_access_untrusted(char *err, size_t errlen, const char *dbname, int64_t key_id)
{
	errbuf_set(err, errlen, 0, "a message signed by send() with key %lld of wal2queue.message_key in "
			   "database \"%s\" cannot be judged: the bridge does not trust wal2queue.message_key (it or "
			   "schema wal2queue belongs to a role that is neither a superuser nor a member of the "
			   "database's owner: after ALTER DATABASE ... OWNER TO, or a key planted by a role with "
			   "CREATE on the database); nothing past it is confirmed; hint: as the database's owner run "
			   "ALTER SCHEMA wal2queue OWNER TO CURRENT_USER; ALTER TABLE wal2queue.message_key OWNER TO "
			   "CURRENT_USER; and restart the bridge (or drop a schema wal2queue no administrator installed)",
			   (long long) key_id, dbname);
}

void
message_access_denied(char *err, size_t errlen, const char *dbname, int64_t key_id)
{
	errbuf_set(err, errlen, 0, "a message signed by send() with key %lld of wal2queue.message_key in "
			   "database \"%s\" cannot be judged: the bridge's role may not read wal2queue.message_key; "
			   "nothing past it is confirmed; hint: as the role that installed wal2queue run "
			   "GRANT USAGE ON SCHEMA wal2queue TO the bridge's role; GRANT SELECT ON "
			   "wal2queue.message_key TO the bridge's role; and restart the bridge",
			   (long long) key_id, dbname);
}
