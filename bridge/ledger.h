/*-------------------------------------------------------------------------
 *
 * ledger.h
 *		In-flight transactions in commit order, and the one LSN that is safe
 *		to confirm to the replication slot.
 *
 * The rule (bottledwater-pg's): the flush LSN moves to a transaction's end
 * LSN only when that transaction, and every one before it, is closed (its
 * commit was read) and every job of it was acknowledged by the sink.  A
 * position without jobs (a keepalive's walEnd) is confirmed the same way:
 * the bridge opens it as a transaction of one job, the sink's record of it.
 *
 * A ledger serves one stream session: ledger_reset starts the next one at
 * the slot's confirmed_flush_lsn, as pg_recvlogical resets its positions at
 * every connection.  Within a session the confirmable LSN never moves
 * backwards.  The ledger never blocks and does no I/O.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_LEDGER_H
#define W2Q_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Ledger Ledger;

/* ticket for one transaction: unique for the life of the ledger */
typedef uint64_t LedgerTicket;

/*
 * Never a real ticket: ledger_open's answer when out of memory.  The ledger
 * then confirms nothing more (the transaction it could not record may be
 * lost) until ledger_reset.
 */
#define LEDGER_NO_TICKET 0

/* start at the slot's confirmed_flush_lsn */
extern Ledger *ledger_create(uint64_t confirmed);
extern void ledger_destroy(Ledger *l);

/* a transaction began (B record); returns its ticket */
extern LedgerTicket ledger_open(Ledger *l, uint64_t commit_lsn, uint64_t end_lsn);

/* the same, remembering the commit time (microseconds since the Unix epoch) */
extern LedgerTicket ledger_open_at(Ledger *l, uint64_t commit_lsn, uint64_t end_lsn,
								   int64_t commit_time_us);

/* n more jobs of this transaction were handed to the sink */
extern void ledger_submitted(Ledger *l, LedgerTicket t, uint32_t n);

/* the transaction's commit was read: no more jobs will be submitted */
extern void ledger_close(Ledger *l, LedgerTicket t);

/*
 * The same, with the transaction's end LSN as its commit gives it (pgoutput
 * sends it only with the commit: the begin had commit LSN + 1); 0 keeps
 * the one given at open.
 */
extern void ledger_close_at(Ledger *l, LedgerTicket t, uint64_t end_lsn);

/* the sink acknowledged n jobs of this transaction */
extern void ledger_acked(Ledger *l, LedgerTicket t, uint32_t n);

/* highest LSN safe to confirm; never decreases */
extern uint64_t ledger_confirmable(const Ledger *l);

/* transactions open or not fully acknowledged, and their unacknowledged jobs */
extern size_t ledger_inflight_txns(const Ledger *l);
extern uint64_t ledger_inflight_jobs(const Ledger *l);

/* for metrics: transactions confirmed so far, the commit time of the last
 * of them, and of the oldest transaction in flight (0 when none) */
extern uint64_t ledger_txns_done(const Ledger *l);
extern int64_t ledger_last_done_time(const Ledger *l);
extern int64_t ledger_oldest_inflight_time(const Ledger *l);

/*
 * A new session: forget everything in flight and start at the slot's
 * confirmed_flush_lsn (which may be below or above the old position: it is
 * the slot's, never our memory).  Tickets are never reused, so an ack of
 * the old session is ignored.
 */
extern void ledger_reset(Ledger *l, uint64_t confirmed);

#endif							/* W2Q_LEDGER_H */
