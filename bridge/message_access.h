/*-------------------------------------------------------------------------
 *
 * message_access.h
 *		May anyone emit a logical message in the database the bridge
 *		streams from?  (--plugin=pgoutput; the plugin asks the same on the
 *		server, plugin/message_access.c.)
 *
 * pg_logical_emit_message() is executable by PUBLIC in PostgreSQL and
 * checks nothing.  While PUBLIC may execute either variant, a wal2queue
 * message may have been written by any role that can log in, so the
 * pgoutput decoder makes no job of it (pgoutput.c, decode_message).  The
 * answer is read from pg_proc.proacl (aclexplode, the default ACL when it
 * is NULL): at every stream open on the replication connection
 * (stream.c), and at every slot watch poll (slotwatch.c).  The bridge
 * judges a message by the last answer it had when it decoded it, not by
 * the privilege when it was written (docs/managed.md).
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_MESSAGE_ACCESS_H
#define W2Q_MESSAGE_ACCESS_H

#include <libpq-fe.h>

#include "message_sign.h"

/* one row, one boolean: does PUBLIC hold EXECUTE on either variant? */
#define MESSAGE_ACCESS_SQL \
	"SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p, " \
	"pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) a " \
	"WHERE p.oid IN ('pg_catalog.pg_logical_emit_message(boolean,text,text)'::pg_catalog.regprocedure, " \
	"'pg_catalog.pg_logical_emit_message(boolean,text,bytea)'::pg_catalog.regprocedure) " \
	"AND a.grantee = 0 AND a.privilege_type = 'EXECUTE')"

/* MESSAGE_ACCESS_SQL's answer: 1 PUBLIC may execute, 0 it may not, -1 no answer */
extern int	message_access_public(const PGresult *res);

/*
 * The keys that sign send()'s messages (message_sign.h): whether the
 * bridge's role may read them, then the keys themselves.
 */
/*
 * one row, one text (never an error): "absent", "denied" (the bridge's role
 * may not read the table), "untrusted" (readable, but the table or the
 * schema wal2queue belongs to a role that is neither a superuser nor a
 * member of the database's owner: a role given CREATE on the database could
 * plant a key of its own there; or the database changed owner) or
 * "readable"
 */
#define MESSAGE_KEY_STATE_SQL \
	"SELECT CASE WHEN c.oid IS NULL THEN 'absent' " \
	"WHEN NOT (pg_catalog.has_schema_privilege(c.relnamespace, 'USAGE') " \
	"AND pg_catalog.has_table_privilege(c.oid, 'SELECT')) THEN 'denied' " \
	"WHEN NOT pg_catalog.pg_has_role(c.relowner, d.datdba, 'MEMBER') " \
	"OR NOT pg_catalog.pg_has_role(n.nspowner, d.datdba, 'MEMBER') THEN 'untrusted' " \
	"ELSE 'readable' END FROM pg_catalog.pg_database d LEFT JOIN (pg_catalog.pg_class c " \
	"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'wal2queue') " \
	"ON c.relname = 'message_key' WHERE d.datname = pg_catalog.current_database()"

/*
 * every key, with the snapshot of the read (the same statement: its
 * snapshot); one row with NULL keys when there is none.  Run only when
 * MESSAGE_KEY_STATE_SQL said "readable" or "untrusted".
 */
#define MESSAGE_KEYS_SQL \
	"SELECT pg_catalog.pg_current_snapshot()::text, k.id, pg_catalog.encode(k.key, 'hex'), " \
	"k.revoked FROM (SELECT) s LEFT JOIN wal2queue.message_key k ON true ORDER BY k.id"

/* MESSAGE_KEYS_SQL's answer into keys (its state untouched); false with err */
extern bool message_keys_from_result(const PGresult *res, MessageKeys *keys,
									 char *err, size_t errlen);

/* MESSAGE_KEY_STATE_SQL's answer; MESSAGE_KEY_UNKNOWN for no answer */
extern MessageKeyState message_key_state(const PGresult *res);

/* the one warning of a session that ignored a message, naming the fix */
extern void message_access_warn(const char *dbname, MessageKeyState key);

/*
 * The error that stops a session at a message signed with a key the bridge
 * does not trust (MESSAGE_KEY_UNTRUSTED): its cause and fix, one line
 */
extern void message_access_untrusted(char *err, size_t errlen, const char *dbname,
									 int64_t key_id);

/*
 * The error that stops a session at a signed message while the bridge's
 * role may not read wal2queue.message_key (MESSAGE_KEY_DENIED): it cannot
 * be judged, so it is not skipped; one line naming the GRANT
 */
extern void message_access_denied(char *err, size_t errlen, const char *dbname,
								  int64_t key_id);

#endif							/* W2Q_MESSAGE_ACCESS_H */
