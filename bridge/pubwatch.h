/*-------------------------------------------------------------------------
 *
 * pubwatch.h
 *		--plugin=pgoutput: watching the publication while the bridge
 *		streams, and capping what it confirms at the WAL position up to
 *		which the publication is proven unchanged.
 *
 * pgoutput reads the publication as of each decoded transaction: a table
 * out of it for a while (ALTER PUBLICATION ... DROP TABLE, then ADD), the
 * publication's options changed and back (publish, via the root), a table
 * --tables selects added only after rows were inserted into it -- the rows
 * in between are never sent.  The slot watch's connection (slotwatch.c)
 * reads the publication's rows (pg_publication, pg_publication_rel,
 * pg_publication_namespace: oid and xmin, so a row dropped and added again
 * differs) at session start and every PUBWATCH_POLL_MS, with the WAL insert
 * position read just before and the reading snapshot's xmin and xmax.
 *
 * The cap: a poll that reads W, then (in a later statement) the snapshot
 * S1 with xmax X1, proves nothing about commits in flight; the next poll
 * whose snapshot has xmin >= X1 has seen every transaction that could have
 * written a commit record before W.  If it still finds the session's
 * rows, nothing changed the publication before W, and W may be confirmed.
 * So nothing is confirmed past a change; when one is seen, the bridge
 * stops (pubwatch.changed).  When the publication cannot be read for
 * PUBWATCH_STALE_MS (the slot watch's connection is gone, e.g. while the
 * server shuts down: its walsender waits for the bridge to confirm every
 * position it sent), the bridge closes the stream and reconnects later.  Adding a table that --tables does not select,
 * or one created in the same transaction that adds it, is no change.
 *
 * Renamed schemas: pgoutput describes a table again when it is renamed or
 * moved, but not when its schema is renamed (no relation is invalidated).
 * The event trigger wal2queue_schema_rename (sql/src/60_schema_rename.sql)
 * makes it; while the trigger is not installed and enabled, the poll also
 * reads the name of every schema of a published table, and a schema
 * renamed stops the bridge as a change does (so does the trigger dropped,
 * disabled or created while streaming).  The rows delivered between the
 * rename and the poll that sees it carry the old name.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_PUBWATCH_H
#define W2Q_PUBWATCH_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "pgerror.h"
#include "pgoutput.h"

#define PUBWATCH_POLL_MS 250
#define PUBWATCH_TRIGGER "wal2queue_schema_rename"	/* sql/src/60_schema_rename.sql */
#define PUBWATCH_STALE_MS 5000	/* no proof this long: drop the stream */

typedef struct PubWatch
{
	const PgoConfig *cfg;		/* NULL: not watched (the plugin mode) */
	char	   *first;			/* the session's rows, '\n'-separated; NULL:
								 * not read yet */
	uint64_t	start_lsn;		/* the session's start */
	uint64_t	cap;			/* proven up to here (0: nothing yet) */
	bool		have_cand;		/* a W waiting for its proof */
	uint64_t	cand_lsn;
	uint64_t	cand_xmax;
	uint64_t	poll_lsn;		/* W of the poll in flight */
	int			nresult;		/* results of the poll in flight read */
	int64_t		next_us;		/* when to poll next */
	int64_t		proved_us;		/* the last poll read (or the session start) */
	bool		changed;		/* the publication changed: stop */
	char		why[800];		/* ... what changed and the gap */
	char		hint[400];		/* ... and what to do */
} PubWatch;

extern void pubwatch_init(PubWatch *p, const PgoConfig *cfg);

/* a new session from start_lsn: read the publication afresh */
extern void pubwatch_session(PubWatch *p, uint64_t start_lsn);

/*
 * The first session's rows, read on the replication connection before
 * START_REPLICATION (Stream.before_start, through the open's executor x),
 * so that a change made between the start and the first poll is seen too;
 * a failure leaves it to the poll
 */
extern void pubwatch_read_first(void *pubwatch, const PgExec *x);

/* the poll's SQL (two statements; malloc'd), or NULL when out of memory */
extern char *pubwatch_sql(PubWatch *p, PGconn *conn);

/* one result of the poll, in order; false if it failed (poll again) */
extern bool pubwatch_take(PubWatch *p, PGresult *res);

/* the highest LSN the bridge may confirm, given what the ledger allows */
extern uint64_t pubwatch_cap(const PubWatch *p, uint64_t lsn);

extern void pubwatch_free(PubWatch *p);

#endif							/* W2Q_PUBWATCH_H */
