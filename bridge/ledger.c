/*-------------------------------------------------------------------------
 *
 * ledger.c
 *		In-flight transactions in commit order, and the one LSN that is safe
 *		to confirm to the replication slot.
 *
 * The transactions sit in a ring, oldest first.  Tickets are consecutive,
 * so the ticket of the oldest one (head_ticket) locates any other by
 * offset; tickets below it belong to transactions already confirmed or
 * dropped by a reset, and are ignored.  Whenever the oldest transaction is
 * closed and fully acknowledged it leaves the ring and its end LSN becomes
 * confirmable, so every call costs O(1) amortized.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "ledger.h"

#define LEDGER_INITIAL_CAP 64	/* a power of two */

typedef struct LedgerTxn
{
	uint64_t	end_lsn;
	int64_t		commit_time_us;
	uint64_t	submitted;		/* jobs handed to the sink */
	uint64_t	acked;			/* of those, jobs acknowledged */
	bool		closed;			/* commit read: no more jobs */
} LedgerTxn;

struct Ledger
{
	LedgerTxn  *ring;
	size_t		cap;			/* a power of two */
	size_t		head;			/* index of the oldest transaction */
	size_t		count;
	LedgerTicket head_ticket;	/* ticket of ring[head] */
	uint64_t	confirmable;
	uint64_t	inflight_jobs;	/* submitted and not acknowledged */
	uint64_t	txns_done;		/* transactions confirmed, ever */
	int64_t		last_done_time_us;	/* commit time of the last of them */
	bool		broken;			/* a transaction went unrecorded */
};

Ledger *
ledger_create(uint64_t confirmed)
{
	Ledger	   *l = calloc(1, sizeof(Ledger));

	if (l == NULL)
		return NULL;
	l->ring = calloc(LEDGER_INITIAL_CAP, sizeof(LedgerTxn));
	if (l->ring == NULL)
	{
		free(l);
		return NULL;
	}
	l->cap = LEDGER_INITIAL_CAP;
	l->head_ticket = LEDGER_NO_TICKET + 1;
	l->confirmable = confirmed;
	return l;
}

void
ledger_destroy(Ledger *l)
{
	if (l == NULL)
		return;
	free(l->ring);
	free(l);
}

/* the transaction of ticket t, or NULL if it is not in flight */
static LedgerTxn *
lookup(Ledger *l, LedgerTicket t)
{
	uint64_t	off;

	if (t < l->head_ticket)
		return NULL;
	off = t - l->head_ticket;
	if (off >= l->count)
		return NULL;
	return &l->ring[(l->head + off) & (l->cap - 1)];
}

/* double the ring, unwrapping it so that the oldest is first */
static bool
grow(Ledger *l)
{
	LedgerTxn  *ring;
	size_t		first;

	if (l->cap > SIZE_MAX / 2 / sizeof(LedgerTxn))
		return false;
	ring = malloc(l->cap * 2 * sizeof(LedgerTxn));
	if (ring == NULL)
		return false;
	first = l->cap - l->head;
	if (first > l->count)
		first = l->count;
	memcpy(ring, l->ring + l->head, first * sizeof(LedgerTxn));
	memcpy(ring + first, l->ring, (l->count - first) * sizeof(LedgerTxn));
	free(l->ring);
	l->ring = ring;
	l->cap *= 2;
	l->head = 0;
	return true;
}

/* confirm and drop the oldest transactions while they are complete */
static void
advance(Ledger *l)
{
	while (l->count > 0)
	{
		LedgerTxn  *x = &l->ring[l->head];

		if (!x->closed || x->acked < x->submitted)
			break;
		if (!l->broken && x->end_lsn > l->confirmable)
			l->confirmable = x->end_lsn;
		l->txns_done++;
		l->last_done_time_us = x->commit_time_us;
		l->head = (l->head + 1) & (l->cap - 1);
		l->head_ticket++;
		l->count--;
	}
}

LedgerTicket
ledger_open(Ledger *l, uint64_t commit_lsn, uint64_t end_lsn)
{
	return ledger_open_at(l, commit_lsn, end_lsn, 0);
}

LedgerTicket
ledger_open_at(Ledger *l, uint64_t commit_lsn, uint64_t end_lsn,
			   int64_t commit_time_us)
{
	LedgerTxn  *x;

	(void) commit_lsn;
	if (l->count == l->cap && !grow(l))
	{
		l->broken = true;
		return LEDGER_NO_TICKET;
	}
	x = &l->ring[(l->head + l->count) & (l->cap - 1)];
	x->end_lsn = end_lsn;
	x->commit_time_us = commit_time_us;
	x->submitted = 0;
	x->acked = 0;
	x->closed = false;
	l->count++;
	return l->head_ticket + l->count - 1;
}

void
ledger_submitted(Ledger *l, LedgerTicket t, uint32_t n)
{
	LedgerTxn  *x = lookup(l, t);

	if (x == NULL)
		return;
	x->submitted += n;
	l->inflight_jobs += n;
}

void
ledger_close(Ledger *l, LedgerTicket t)
{
	ledger_close_at(l, t, 0);
}

void
ledger_close_at(Ledger *l, LedgerTicket t, uint64_t end_lsn)
{
	LedgerTxn  *x = lookup(l, t);

	if (x == NULL)
		return;
	if (end_lsn != 0)
		x->end_lsn = end_lsn;
	x->closed = true;
	advance(l);
}

void
ledger_acked(Ledger *l, LedgerTicket t, uint32_t n)
{
	LedgerTxn  *x = lookup(l, t);
	uint64_t	left;

	if (x == NULL)
		return;
	/* acknowledgements beyond what was submitted are ignored */
	left = x->submitted - x->acked;
	if (n > left)
		n = (uint32_t) left;
	x->acked += n;
	l->inflight_jobs -= n;
	if (x == &l->ring[l->head])
		advance(l);
}

uint64_t
ledger_confirmable(const Ledger *l)
{
	return l->confirmable;
}

size_t
ledger_inflight_txns(const Ledger *l)
{
	return l->count;
}

uint64_t
ledger_inflight_jobs(const Ledger *l)
{
	return l->inflight_jobs;
}

void
ledger_reset(Ledger *l, uint64_t confirmed)
{
	l->confirmable = confirmed;
	l->head_ticket += l->count;
	l->head = 0;
	l->count = 0;
	l->inflight_jobs = 0;
	l->broken = false;
}

uint64_t
ledger_txns_done(const Ledger *l)
{
	return l->txns_done;
}

int64_t
ledger_last_done_time(const Ledger *l)
{
	return l->last_done_time_us;
}

int64_t
ledger_oldest_inflight_time(const Ledger *l)
{
	return l->count > 0 ? l->ring[l->head].commit_time_us : 0;
}
