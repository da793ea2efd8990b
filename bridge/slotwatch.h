/*-------------------------------------------------------------------------
 *
 * slotwatch.h
 *		Watching the slot's health from a connection of its own: wal_status
 *		and safe_wal_size from pg_replication_slots, every few seconds, so
 *		that an alert fires before max_slot_wal_keep_size loses the slot;
 *		and, on the same connection, attesting the slot to the wal2queue
 *		extension (wal2queue.attest_slot()) while the bridge's session is
 *		one its sink has validated, so that prune() may trust the slot's
 *		catalog_xmin that far (docs/extension.md, "The prune rule"); and,
 *		with --plugin=pgoutput, whether PUBLIC may emit logical messages
 *		(message_access.h), so that a GRANT or REVOKE made mid-session is
 *		seen within one interval; and, when the decoder asks, the keys of
 *		send()'s signatures in a fresh snapshot (message_sign.h).
 *
 * The replication connection is busy copying, so the watcher keeps a plain
 * SQL connection, driven without blocking from the bridge's loop: connect
 * (PQconnectStartParams/PQconnectPoll), send a query, read the answer
 * when it has come; one query at a time.  A failure only drops that
 * connection; it is tried again at the next interval and never stops the
 * bridge.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_SLOTWATCH_H
#define W2Q_SLOTWATCH_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "message_sign.h"
#include "pubwatch.h"

typedef enum SlotWatchQuery
{
	WATCH_IDLE,
	WATCH_SETUP,				/* the session's lock and statement timeouts */
	WATCH_HEALTH,				/* wal_status, safe_wal_size */
	WATCH_PROBE,				/* is wal2queue.attest_slot() there for us? */
	WATCH_ATTEST,				/* wal2queue.attest_slot() */
	WATCH_MESSAGES,				/* may PUBLIC emit logical messages? */
	WATCH_KEYS,					/* send()'s keys, in a fresh snapshot */
	WATCH_PUBLICATION			/* pubwatch.h's poll */
} SlotWatchQuery;

typedef struct SlotWatch
{
	const char *conninfo;
	char	   *pinned;			/* conninfo pinned to the stream's server
								 * (slotwatch_server()), or NULL */
	const char *slot;
	PGconn	   *conn;
	bool		connecting;
	SlotWatchQuery querying;	/* the query in flight */
	int64_t		next_us;		/* when to ask next */
	int64_t		retry_us;		/* no connect before, after a failed one */
	int			backoff_ms;		/* the wait after the last failed connect,
								 * 0 after a connect that succeeded */
	bool		known;			/* the fields below hold an answer */
	char		wal_status[16]; /* reserved, extended, unreserved, lost */
	long long	safe_wal_size;	/* bytes; -1 when NULL */
	/* attestation, for the session slotwatch_attest() names */
	int			attest_pid;		/* its walsender's PID; 0: do not attest */
	uint64_t	unrecorded_from;	/* 0, or its start when no sink record
									 * vouched for it */
	int			attest_fn;		/* on this connection: -1 not probed yet,
								 * 0 absent (or no USAGE), 1 present */
	int64_t		next_attest_us;
	int			attested_pid;	/* the session last attested (0: none) */
	int			refused_pid;	/* the session last refused (0: none) */
	unsigned long attestations; /* successful attest_slot() calls */
	int			connect_ms;		/* the connect's bound (pgerror_connect_bound_s()) */
	int64_t		sent_us;		/* when the query in flight was sent, or
								 * the connect begun */
	/* messages: asked only when watch_messages is set */
	bool		watch_messages;
	int			messages_public;	/* the last answer: 1 yes, 0 no, -1 none */
	int64_t		messages_asked_us;	/* when its query was sent */
	int64_t		next_messages_us;
	PubWatch   *pub;			/* pgoutput: the publication to watch, or NULL */
	/* send()'s keys: asked (first of all) while keys_wanted is set */
	bool		keys_wanted;
	bool		keys_ready;		/* keys holds an answer, asked at keys_asked_us */
	MessageKeys keys;			/* state MESSAGE_KEY_UNKNOWN: not judged here */
	int64_t		keys_asked_us;
	int64_t		next_keys_us;
} SlotWatch;

extern void slotwatch_init(SlotWatch *w, const char *conninfo, const char *slot);
extern void slotwatch_server(SlotWatch *w, PGconn *stream_conn);
extern void slotwatch_free(SlotWatch *w);

/*
 * The session to attest: walsender_pid is PQbackendPID() of the replication
 * connection of a session that the sink has validated (0: none, stop
 * attesting); unrecorded_from is 0 when the sink's record of this source
 * vouched that nothing moved the slot past it, else the session's start.
 */
extern void slotwatch_attest(SlotWatch *w, int walsender_pid, uint64_t unrecorded_from);

/* do what can be done now without waiting; interval_ms between queries */
extern void slotwatch_turn(SlotWatch *w, int interval_ms);

/*
 * At a clean stop, once the last confirmation (confirmed) was sent and
 * while the walsender still holds the slot: wait for the slot to show it,
 * then attest the session once more, so that a restart that begins there
 * without a sink record (Kafka) is attested.  All of it (the connect
 * included) within timeout_ms, whatever the server or the path do (a lock
 * on the registry row, silence): given up with a WARNING.
 */
extern void slotwatch_attest_final(SlotWatch *w, uint64_t confirmed, int timeout_ms);

extern void slotwatch_close(SlotWatch *w);

#endif							/* W2Q_SLOTWATCH_H */
