/*-------------------------------------------------------------------------
 *
 * test_ledger.c
 *		Unit tests of the ledger: what may be confirmed, and when.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "unit.h"

/* open, submit n, close, ack n */
static LedgerTicket
whole_txn(Ledger *l, uint64_t end_lsn, uint32_t n)
{
	LedgerTicket t = ledger_open(l, end_lsn - 1, end_lsn);

	ledger_submitted(l, t, n);
	ledger_close(l, t);
	ledger_acked(l, t, n);
	return t;
}

/* a position without jobs, recorded by the sink (what a keepalive becomes) */
static LedgerTicket
progress(Ledger *l, uint64_t lsn)
{
	return whole_txn(l, lsn, 1);
}

static void
test_basics(void)
{
	Ledger	   *l = ledger_create(100);
	LedgerTicket t;

	unit_check(l != NULL, "create");
	unit_check(ledger_confirmable(l) == 100, "starts at the confirmed lsn");
	unit_check(ledger_inflight_txns(l) == 0 && ledger_inflight_jobs(l) == 0,
			   "nothing in flight at the start");
	progress(l, 200);
	unit_check(ledger_confirmable(l) == 200, "a recorded position moves it when idle");
	progress(l, 150);
	unit_check(ledger_confirmable(l) == 200, "an older position does not move it back");

	t = ledger_open(l, 290, 300);
	unit_check(t != LEDGER_NO_TICKET, "a ticket");
	{
		LedgerTicket p = ledger_open(l, 1000, 1000);

		ledger_submitted(l, p, 1);
		ledger_close(l, p);
		ledger_acked(l, p, 1);
		unit_check(ledger_confirmable(l) == 200,
				   "a recorded position waits behind an open transaction");
		unit_check(ledger_inflight_txns(l) == 2, "both in flight");
		ledger_submitted(l, t, 2);
		ledger_acked(l, t, 1);
		ledger_acked(l, t, 1);
		ledger_close(l, t);
		unit_check(ledger_confirmable(l) == 1000, "released with it");
	}
	l = (ledger_destroy(l), ledger_create(200));
	t = ledger_open(l, 290, 300);
	ledger_submitted(l, t, 2);
	unit_check(ledger_inflight_txns(l) == 1 && ledger_inflight_jobs(l) == 2,
			   "one transaction and two jobs in flight");
	ledger_acked(l, t, 1);
	ledger_acked(l, t, 1);
	unit_check(ledger_confirmable(l) == 200, "acked but not closed: not confirmable");
	ledger_close(l, t);
	unit_check(ledger_confirmable(l) == 300, "closed and acked: confirmable");
	unit_check(ledger_inflight_txns(l) == 0 && ledger_inflight_jobs(l) == 0,
			   "nothing in flight after it");

	t = ledger_open(l, 390, 400);
	ledger_submitted(l, t, 3);
	ledger_close(l, t);
	ledger_acked(l, t, 2);
	unit_check(ledger_confirmable(l) == 300, "closed, one job unacknowledged");
	unit_check(ledger_inflight_jobs(l) == 1, "one job in flight");
	ledger_acked(l, t, 1);
	unit_check(ledger_confirmable(l) == 400, "the last ack confirms it");

	t = ledger_open(l, 490, 500);
	ledger_close(l, t);
	unit_check(ledger_confirmable(l) == 500, "a transaction without jobs confirms at its close");
	progress(l, 1000);
	unit_check(ledger_confirmable(l) == 1000, "a recorded position when idle again");
	ledger_destroy(l);
	ledger_destroy(NULL);
}

static void
test_order(void)
{
	Ledger	   *l = ledger_create(0);
	LedgerTicket t1 = ledger_open(l, 0, 10);
	LedgerTicket t2 = ledger_open(l, 10, 20);
	LedgerTicket t3 = ledger_open(l, 20, 30);

	unit_check(t2 == t1 + 1 && t3 == t2 + 1, "tickets are consecutive");
	ledger_submitted(l, t1, 1);
	ledger_submitted(l, t2, 1);
	ledger_submitted(l, t3, 1);
	ledger_close(l, t1);
	ledger_close(l, t2);
	ledger_close(l, t3);
	ledger_acked(l, t3, 1);
	ledger_acked(l, t2, 1);
	unit_check(ledger_confirmable(l) == 0, "later transactions wait for the first");
	unit_check(ledger_inflight_txns(l) == 3, "three in flight");
	ledger_acked(l, t1, 1);
	unit_check(ledger_confirmable(l) == 30, "the first ack releases all three");
	unit_check(ledger_inflight_txns(l) == 0, "none in flight");

	t1 = ledger_open(l, 30, 40);
	t2 = ledger_open(l, 40, 50);
	ledger_close(l, t2);
	unit_check(ledger_confirmable(l) == 30, "a closed empty transaction waits for an open one");
	ledger_close(l, t1);
	unit_check(ledger_confirmable(l) == 50, "closing the open one releases both");
	ledger_destroy(l);
}

/* pgoutput: the end LSN comes with the commit, the begin had commit + 1 */
static void
test_end_at_close(void)
{
	Ledger	   *l = ledger_create(0);
	LedgerTicket t1 = ledger_open(l, 100, 101);
	LedgerTicket t2;

	ledger_submitted(l, t1, 1);
	ledger_close_at(l, t1, 148);
	ledger_acked(l, t1, 1);
	unit_check(ledger_confirmable(l) == 148, "the end LSN given at close is confirmed (%llu)",
			   (unsigned long long) ledger_confirmable(l));
	t2 = ledger_open(l, 200, 248);
	ledger_submitted(l, t2, 1);
	ledger_close_at(l, t2, 0);
	ledger_acked(l, t2, 1);
	unit_check(ledger_confirmable(l) == 248, "an end LSN of 0 keeps the one given at open");
	ledger_destroy(l);
}

static void
test_monotone(void)
{
	Ledger	   *l = ledger_create(1000);

	whole_txn(l, 500, 2);
	unit_check(ledger_confirmable(l) == 1000,
			   "a replayed transaction below the start does not move it back");
	whole_txn(l, 1500, 1);
	whole_txn(l, 1200, 1);
	unit_check(ledger_confirmable(l) == 1500, "never below an earlier value");
	progress(l, 1400);
	unit_check(ledger_confirmable(l) == 1500, "nor by a recorded position");
	ledger_destroy(l);
}

static void
test_reset(void)
{
	Ledger	   *l = ledger_create(10);
	LedgerTicket old1 = ledger_open(l, 10, 20);
	LedgerTicket old2 = ledger_open(l, 20, 30);
	LedgerTicket t;

	ledger_submitted(l, old1, 5);
	ledger_submitted(l, old2, 5);
	ledger_close(l, old1);
	ledger_reset(l, 10);
	unit_check(ledger_inflight_txns(l) == 0 && ledger_inflight_jobs(l) == 0,
			   "reset drops everything in flight");
	unit_check(ledger_confirmable(l) == 10, "reset starts at the slot's position");
	ledger_acked(l, old1, 5);
	unit_check(ledger_confirmable(l) == 10, "an ack for a dropped ticket is ignored");

	t = ledger_open(l, 10, 20);
	unit_check(t != old1 && t != old2, "tickets are not reused after a reset");
	ledger_acked(l, old1, 5);
	ledger_close(l, old2);
	ledger_submitted(l, t, 1);
	ledger_close(l, t);
	unit_check(ledger_confirmable(l) == 10 && ledger_inflight_jobs(l) == 1,
			   "old tickets do not touch the new transaction");
	ledger_acked(l, t, 1);
	unit_check(ledger_confirmable(l) == 20, "the replayed transaction confirms");
	progress(l, 40);
	unit_check(ledger_confirmable(l) == 40, "a recorded position after a reset");

	/* a new session starts from the slot, never from memory */
	ledger_reset(l, 7);
	unit_check(ledger_confirmable(l) == 7,
			   "a session whose slot is behind (another server) starts there");
	whole_txn(l, 9, 1);
	unit_check(ledger_confirmable(l) == 9, "and confirms only what it delivers");
	ledger_reset(l, 500);
	unit_check(ledger_confirmable(l) == 500, "a slot ahead of memory is taken as it is");
	ledger_destroy(l);
}

static void
test_unknown_tickets(void)
{
	Ledger	   *l = ledger_create(5);
	LedgerTicket t = ledger_open(l, 5, 6);

	ledger_acked(l, t + 1, 3);
	ledger_close(l, t + 1);
	ledger_submitted(l, t + 7, 3);
	ledger_acked(l, LEDGER_NO_TICKET, 1);
	ledger_close(l, LEDGER_NO_TICKET);
	unit_check(ledger_inflight_txns(l) == 1 && ledger_inflight_jobs(l) == 0 &&
			   ledger_confirmable(l) == 5,
			   "tickets not handed out are ignored");
	ledger_submitted(l, t, 2);
	ledger_acked(l, t, 5);
	unit_check(ledger_inflight_jobs(l) == 0,
			   "acks beyond the submitted jobs are ignored");
	ledger_submitted(l, t, 1);
	ledger_close(l, t);
	unit_check(ledger_confirmable(l) == 5, "so a later job still has to be acked");
	ledger_acked(l, t, 1);
	unit_check(ledger_confirmable(l) == 6, "and then confirms");
	ledger_acked(l, t, 1);
	unit_check(ledger_confirmable(l) == 6 && ledger_inflight_txns(l) == 0,
			   "an ack for a confirmed transaction is ignored");
	ledger_destroy(l);
}

/* many in flight: the ring grows, and wraps around */
static void
test_growth(void)
{
	Ledger	   *l = ledger_create(0);
	LedgerTicket first = 0;
	LedgerTicket t = 0;
	bool		ok = true;
	uint64_t	i;

	for (i = 1; i <= 10000; i++)
	{
		t = ledger_open(l, i * 10 - 1, i * 10);
		if (i == 1)
			first = t;
		ledger_submitted(l, t, 1);
		ledger_close(l, t);
	}
	unit_check(ledger_inflight_txns(l) == 10000 && ledger_inflight_jobs(l) == 10000,
			   "10000 transactions in flight");
	for (t = first + 9999; t > first; t--)
		ledger_acked(l, t, 1);
	unit_check(ledger_confirmable(l) == 0, "all but the first acked: nothing confirmable");
	ledger_acked(l, first, 1);
	unit_check(ledger_confirmable(l) == 100000 && ledger_inflight_txns(l) == 0,
			   "the first ack confirms all 10000");

	/* a sliding window of 50 over a million transactions */
	for (i = 1; i <= 1000000; i++)
	{
		t = ledger_open(l, 0, 100000 + i);
		ledger_submitted(l, t, 2);
		ledger_close(l, t);
		if (i > 50)
		{
			ledger_acked(l, t - 50, 2);
			if (ledger_confirmable(l) != 100000 + i - 50)
				ok = false;
		}
	}
	unit_check(ok && ledger_inflight_txns(l) == 50,
			   "a sliding window over a million transactions");
	ledger_destroy(l);
}

/* random operations against a plain model, fixed seed */
typedef struct ModelTxn
{
	uint64_t	end_lsn;
	uint64_t	submitted;
	uint64_t	acked;
	bool		closed;
	bool		done;
} ModelTxn;

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint32_t
next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t) (rng >> 16);
}

static uint64_t
model_confirmable(ModelTxn *m, int n, int *first, uint64_t conf)
{
	while (*first < n && m[*first].closed && m[*first].acked >= m[*first].submitted)
	{
		if (m[*first].end_lsn > conf)
			conf = m[*first].end_lsn;
		m[*first].done = true;
		(*first)++;
	}
	return conf;
}

static void
test_model(void)
{
	enum
	{
		NT = 20000
	};
	static ModelTxn m[NT];
	LedgerTicket tickets[NT];
	Ledger	   *l = ledger_create(0);
	uint64_t	conf = 0;
	uint64_t	lsn = 0;
	int			n = 0;
	int			first = 0;
	int			step;
	bool		ok = true;

	for (step = 0; step < 200000 && ok; step++)
	{
		uint32_t	op = next_rand() % 10;
		int			i = (n > first) ? first + (int) (next_rand() % (uint32_t) (n - first)) : -1;

		if ((op == 0 || i < 0) && n < NT)
		{
			lsn += 1 + next_rand() % 100;
			tickets[n] = ledger_open(l, lsn, lsn + 5);
			m[n].end_lsn = lsn + 5;
			n++;
		}
		else if (i >= 0 && op <= 3 && !m[i].closed)
		{
			uint32_t	k = next_rand() % 3;

			ledger_submitted(l, tickets[i], k);
			m[i].submitted += k;
		}
		else if (i >= 0 && op <= 5)
		{
			ledger_close(l, tickets[i]);
			m[i].closed = true;
		}
		else if (i >= 0 && op <= 8 && m[i].acked < m[i].submitted)
		{
			ledger_acked(l, tickets[i], 1);
			m[i].acked++;
		}
		conf = model_confirmable(m, n, &first, conf);
		if (ledger_confirmable(l) != conf ||
			ledger_inflight_txns(l) != (size_t) (n - first))
			ok = false;
	}
	unit_check(ok, "200000 random operations agree with a model (%d transactions)", n);
	ledger_destroy(l);
}

int
main(void)
{
	test_basics();
	test_order();
	test_end_at_close();
	test_monotone();
	test_reset();
	test_unknown_tickets();
	test_growth();
	test_model();
	return unit_done();
}
