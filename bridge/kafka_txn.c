/*-------------------------------------------------------------------------
 *
 * kafka_txn.c
 *		--kafka-transactions: every PostgreSQL transaction is one Kafka
 *		transaction, and its jobs are acknowledged only once it committed,
 *		so read_committed consumers never see half of one.
 *
 * transactional.id is "wal2queue-<slot>" (plus "-" and the target prefix;
 * see kafka_txn_conf in kafka_conf.c): the same across restarts and for a
 * --standby bridge of the same slot, so the producer that calls
 * init_transactions fences the one before it and aborts what that one left
 * open.  init_transactions runs only after replay_begin, that is after the
 * bridge holds the slot: a standby waiting for the slot fences nobody.  The
 * one exception is a backfill's creation marker (kafka_backfill.c), written
 * before the bridge creates the slot: no bridge can hold a slot that does
 * not exist yet, and a --standby bridge with --backfill waits for the
 * backfill's lock (backfill_lock.c) before it writes anything.
 *
 * No call blocks longer than KAFKA_STEP_MS: init_transactions and
 * commit_transaction are called with that timeout and, while they answer
 * with a retriable timeout, resumed from poll() (librdkafka resumes the
 * operation under way) until TXN_TIMEOUT_MS have passed, then SINK_RETRY.
 * Jobs handed over meanwhile wait in the hold queue (sink_kafka.c).  The
 * Kafka transaction begins with the first message produced, so a
 * transaction whose jobs were all skipped by the marks commits nothing.
 * A failed commit is SINK_RETRY: the bridge disconnects, and the next
 * producer's init_transactions aborts what is left open.
 *
 *-------------------------------------------------------------------------
 */
#include "errbuf.h"
#include "kafka_sink.h"
#include "log.h"

/* a transactional call failed: return rc with the message */
static int
txn_error(KafkaSink *ks, rd_kafka_error_t *e, const char *what, int rc)
{
	errbuf_set(ks->sink.err, sizeof(ks->sink.err), rc, "kafka %s failed: %s", what,
			   rd_kafka_error_string(e));
	if (rd_kafka_error_is_fatal(e))
		log_msg(LOG_WARNING, "%s (fatal for the producer, recreating it)", ks->sink.err);
	rd_kafka_error_destroy(e);
	return rc;
}

/*
 * Begin the Kafka transaction of the PostgreSQL transaction with that commit
 * lsn.  "begins" and "committed" are logged at debug level: a transaction
 * begun and never committed by a process was aborted (by the next
 * producer's init_transactions), and the fault matrix's verifier excuses
 * copies of its jobs that librdkafka's mock cluster does not hide from
 * consumers (test/faults/README.md, W2Q_KAFKA_TXN).
 */
int
kafka_txn_begin(KafkaSink *ks, uint64_t lsn)
{
	rd_kafka_error_t *e = rd_kafka_begin_transaction(ks->rk);
	char		a[LSN_STRLEN];

	if (e != NULL)
		return txn_error(ks, e, "begin_transaction", SINK_RETRY);
	ks->txn = TXN_OPEN;
	ks->txn_lsn = lsn;
	if (log_verbosity >= LOG_DEBUG)
		log_msg(LOG_DEBUG, "kafka transaction begins: commit lsn %s", lsn_format(lsn, a, sizeof(a)));
	ks->txn_no++;				/* kafka_gaps.c tells transactions apart */
	return SINK_OK;
}

/* forget the open transaction's acknowledgements and marks */
void
kafka_txn_reset(KafkaSink *ks)
{
	ks->txn_acks.n = 0;
	ks->ntxn_marks = 0;
}

/* committed: the marks advance and the acknowledgements may go */
static void
txn_committed(KafkaSink *ks)
{
	size_t		i;
	char		a[LSN_STRLEN];

	if (ks->txn == TXN_COMMIT && log_verbosity >= LOG_DEBUG)
		log_msg(LOG_DEBUG, "kafka transaction committed: commit lsn %s",
				lsn_format(ks->txn_lsn, a, sizeof(a)));
	for (i = 0; i < ks->ntxn_marks; i++)
	{
		kafka_mark_advance(ks->txn_marks[i].topic, ks->txn_marks[i].partition,
						   ks->txn_marks[i].lsn, ks->txn_marks[i].seq);
		if (ks->nsuspects > 0)
			kafka_suspect_committed(ks, ks->txn_marks[i].topic, ks->txn_marks[i].partition,
									ks->txn_marks[i].lsn, ks->txn_marks[i].seq);
	}
	for (i = 0; i < ks->txn_acks.n; i++)
		kafka_ack_push(ks, &ks->acks, ks->txn_acks.a[i].ticket, ks->txn_acks.a[i].n);
	kafka_txn_reset(ks);
	ks->txn = TXN_IDLE;
	kafka_record_committed(ks);
}

/*
 * The end of a PostgreSQL transaction: commit the Kafka transaction if one
 * is open, taking its first step if step (the rest: kafka_txn_step).
 */
int
kafka_txn_commit(KafkaSink *ks, bool step)
{
	if (ks->failed != SINK_OK)
		return ks->failed;
	if (ks->txn != TXN_OPEN)
	{
		txn_committed(ks);		/* nothing produced: acks of skipped jobs */
		return SINK_OK;
	}
	ks->txn = TXN_COMMIT;
	ks->txn_deadline = now_us() + (int64_t) TXN_TIMEOUT_MS * 1000;
	if (step)
		return kafka_txn_step(ks);
	kafka_wake(ks);				/* the bridge polls again at once */
	return SINK_OK;
}

/* one step of init_transactions or commit_transaction (KAFKA_STEP_MS) */
int
kafka_txn_step(KafkaSink *ks)
{
	rd_kafka_error_t *e;
	bool		init = ks->txn == TXN_INIT;

	if (ks->txn == TXN_NEW)
	{
		ks->txn = TXN_INIT;
		ks->txn_deadline = now_us() + (int64_t) TXN_TIMEOUT_MS * 1000;
		init = true;
	}
	else if (ks->txn != TXN_INIT && ks->txn != TXN_COMMIT)
		return SINK_OK;
	if (!init && ks->failed != SINK_OK)
		return ks->failed;
	e = init ? rd_kafka_init_transactions(ks->rk, KAFKA_STEP_MS)
		: rd_kafka_commit_transaction(ks->rk, KAFKA_STEP_MS);
	if (e == NULL)
	{
		if (init)
			ks->txn = TXN_IDLE;
		else
			txn_committed(ks);
		return ks->failed;
	}
	if (rd_kafka_error_is_retriable(e) && !rd_kafka_error_is_fatal(e) &&
		!rd_kafka_error_txn_requires_abort(e) && now_us() < ks->txn_deadline)
	{
		log_msg(LOG_DEBUG, "kafka %s goes on: %s", init ? "init_transactions" : "commit_transaction",
				rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
		return SINK_OK;
	}
	kafka_txn_reset(ks);
	/* fatal at init means configuration or authorization: retrying cannot help */
	if (init)
		return txn_error(ks, e, "init_transactions",
						 rd_kafka_error_is_fatal(e) ? SINK_FATAL : SINK_RETRY);
	return txn_error(ks, e, "commit_transaction", SINK_RETRY);
}
