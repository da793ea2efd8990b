/*-------------------------------------------------------------------------
 *
 * message_access.c
 *		May anyone emit a logical message in this database?
 *
 * pg_logical_emit_message() is executable by PUBLIC in PostgreSQL and
 * checks nothing: where that is so, any role that can log in could put a
 * job of its choosing on the stream.  CREATE EXTENSION wal2queue revokes it
 * from PUBLIC (and grants it to wal2queue_sender); the extension is
 * optional, so the plugin hands messages on by default only where that was
 * done (options.c, the "messages" option).
 *
 * The answer is PUBLIC's EXECUTE privilege on either variant of the
 * function (as has_function_privilege('public', ...)), read under the
 * decoding's historic snapshot: it is the privilege as it was when the
 * message was written.  It is cached, and forgotten whenever a function's
 * catalog row changes (GRANT, REVOKE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/syscache.h"

#include "message_access.h"

static bool cache_valid = false;
static bool cached_public = true;
static bool callback_registered = false;

static void
proc_changed(Datum arg, int cacheid, uint32 hashvalue)
{
	cache_valid = false;
}

/* does function funcid grant EXECUTE to PUBLIC (as has_function_privilege)? */
static bool
public_can_execute(Oid funcid)
{
	return pg_proc_aclcheck(funcid, ACL_ID_PUBLIC, ACL_EXECUTE) == ACLCHECK_OK;
}

/* a new decoding session may start before what the last one saw */
void
w2q_messages_reset(void)
{
	cache_valid = false;
}

bool
w2q_messages_public(void)
{
	if (!callback_registered)
	{
		CacheRegisterSyscacheCallback(PROCOID, proc_changed, (Datum) 0);
		callback_registered = true;
	}
	if (!cache_valid)
	{
		cached_public =
			public_can_execute(F_PG_LOGICAL_EMIT_MESSAGE_BOOL_TEXT_TEXT) ||
			public_can_execute(F_PG_LOGICAL_EMIT_MESSAGE_BOOL_TEXT_BYTEA);
		cache_valid = true;
	}
	return cached_public;
}
