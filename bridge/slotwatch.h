/*-------------------------------------------------------------------------
 *
 * slotwatch.h
 *		Watching the slot's health from a connection of its own: wal_status
 *		and safe_wal_size from pg_replication_slots, every few seconds, so
 *		that an alert fires before max_slot_wal_keep_size loses the slot.
 *
 * The replication connection is busy copying, so the watcher keeps a plain
 * SQL connection, driven without blocking from the bridge's loop: connect
 * (PQconnectStartParams/PQconnectPoll), send the query, read the answer
 * when it has come.  A failure only drops that connection; it is tried
 * again at the next interval and never stops the bridge.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_SLOTWATCH_H
#define W2Q_SLOTWATCH_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

typedef struct SlotWatch
{
	const char *conninfo;
	const char *slot;
	PGconn	   *conn;
	bool		connecting;
	bool		querying;
	int64_t		next_us;		/* when to ask next */
	bool		known;			/* the fields below hold an answer */
	char		wal_status[16]; /* reserved, extended, unreserved, lost */
	long long	safe_wal_size;	/* bytes; -1 when NULL */
} SlotWatch;

extern void slotwatch_init(SlotWatch *w, const char *conninfo, const char *slot);

/* do what can be done now without waiting; interval_ms between queries */
extern void slotwatch_turn(SlotWatch *w, int interval_ms);

extern void slotwatch_close(SlotWatch *w);

#endif							/* W2Q_SLOTWATCH_H */
