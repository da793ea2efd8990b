/*-------------------------------------------------------------------------
 *
 * test_kafka_txn_suspect.c
 *		--kafka-transactions: a failed delivery's suspect ends once the
 *		re-sent jobs are committed; committed jobs are never re-sent by a
 *		later session (the duplicate of the "kafka produce errors" cell).
 *
 * A produce error (TOPIC_AUTHORIZATION_FAILED) fails a job: its partition
 * gets a suspect, the transaction aborts, the session fails.  The next
 * session re-sends the partition from the suspect on and commits.  Before
 * the fix the suspect was never resolved with transactions (only a
 * delivery report resolved one, and with transactions reports do not), so
 * every later session re-sent every replayed job of that partition from
 * the suspect on: jobs already committed were committed again.
 *
 * Case 2: the partition got further than the failed job (a later job of
 * ours is there), so the suspect lasts until that job; a commit short of
 * it moves the suspect past what it committed.  Each case fails without
 * kafka_suspect_committed (bridge/kafka_suspects.c).
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "log.h"
#include "sink.h"
#include "kafka_harness.h"
#include "unit.h"

/* a session of a transactional sink (a new producer: the last one failed) */
static int
txn_session(Sink *s)
{
	s->ops->disconnect(s);
	return tstart(s);
}

/*
 * Fail transaction (xid, lsn) with a produce error, then replay it and the
 * next one in a new session: both committed, each job once.
 */
static void
fail_then_commit(Sink *s, TJob *j, const char *topic, uint32_t xid, uint64_t lsn,
				 Recs *rs, int want)
{
	LedgerTicket t1 = 0,
				t2 = 0;
	int			rc;
	bool		ok;

	rd_kafka_mock_push_request_errors(mock, API_PRODUCE, 1,
									  RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
	rc = run_wait(s, make_txn(xid, lsn), j, 1, &t1);
	unit_check(rc == SINK_RETRY && acked[t1] == 0, "%s: produce error: retry (%s)", topic, s->err);
	unit_check(txn_session(s) == SINK_OK, "%s: a new session", topic);
	rc = run_wait(s, make_txn(xid, lsn), j, 1, &t1);
	if (rc == SINK_OK)
		rc = run_wait(s, make_txn(xid + 1, lsn + 0x100), j, 1, &t2);
	unit_check(rc == SINK_OK && acked[t1] == 1 && acked[t2] == 1,
			   "%s: the failed transaction and the next committed (%s)", topic,
			   rc == SINK_OK ? "ok" : s->err);
	ok = read_topic(topic, rs) == 1 && exactly_once(rs, want);
	unit_check(ok, "%s: each job once after the re-send (%d messages)", topic, rs->n);
}

/* a later session replays the committed transactions: all skipped */
static void
replay_committed(Sink *s, TJob *j, const char *topic, uint32_t xid, uint64_t lsn,
				 Recs *rs, int want)
{
	LedgerTicket t1 = 0,
				t2 = 0;
	int			rc;
	bool		ok;

	unit_check(txn_session(s) == SINK_OK, "%s: another session", topic);
	/* a skipped job is acknowledged once the replay reached the mark's transaction */
	rc = run_txn(s, make_txn(xid, lsn), j, 1, &t1);
	if (rc == SINK_OK)
		rc = run_txn(s, make_txn(xid + 1, lsn + 0x100), j, 1, &t2);
	if (rc == SINK_OK)
		rc = wait_acks(s, t1, 1, ACK_TIMEOUT_MS);
	if (rc == SINK_OK)
		rc = wait_acks(s, t2, 1, ACK_TIMEOUT_MS);
	unit_check(rc == SINK_OK && acked[t1] == 1 && acked[t2] == 1,
			   "%s: the replay is acknowledged (%s)", topic, rc == SINK_OK ? "ok" : s->err);
	ok = read_topic(topic, rs) == 1 && exactly_once(rs, want);
	unit_check(ok, "%s: committed jobs not sent again by a later session (%d messages, want %d)",
			   topic, rs->n, want);
}

/* the failed job was the partition's last: a commit at it resolves the suspect */
static void
case_resolved(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, "ts1.", NULL, NULL, NULL);
	TJob		j[1] = {{.target = "t", .key = "k"}};
	LedgerTicket t;
	Recs	   *rs = calloc(1, sizeof(Recs));

	rd_kafka_mock_topic_create(mock, "ts1.t", 1, 1);
	ts.cfg.kafka_transactions = true;
	unit_check(tstart(s) == SINK_OK, "resolved: connect");
	unit_check(run_wait(s, make_txn(940, 0xE000000), j, 1, &t) == SINK_OK, "resolved: a first job");
	fail_then_commit(s, j, "ts1.t", 941, 0xE000100, rs, 3);
	replay_committed(s, j, "ts1.t", 941, 0xE000100, rs, 3);
	/* and once more: the suspect must not come back */
	replay_committed(s, j, "ts1.t", 941, 0xE000100, rs, 3);
	s->ops->destroy(s);
	recs_free(rs);
	free(rs);
}

/*
 * A later job of ours is there (0/F000400, as a job of a session that
 * failed may be): the suspect lasts until it; the commit of 0/F000100 and
 * 0/F000200 moves it past them
 */
static void
case_narrowed(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, "ts2.", NULL, NULL, NULL);
	TJob		j[1] = {{.target = "t", .key = "k"}};
	LedgerTicket t;
	Recs	   *rs = calloc(1, sizeof(Recs));
	bool		ok;

	rd_kafka_mock_topic_create(mock, "ts2.t", 1, 1);
	ts.cfg.kafka_transactions = true;
	unit_check(tstart(s) == SINK_OK, "narrowed: connect");
	unit_check(run_wait(s, make_txn(950, 0xF000000), j, 1, &t) == SINK_OK, "narrowed: a first job");
	rd_kafka_mock_push_request_errors(mock, API_PRODUCE, 1,
									  RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
	unit_check(run_wait(s, make_txn(951, 0xF000100), j, 1, &t) == SINK_RETRY,
			   "narrowed: produce error: retry: %s", s->err);
	produce_plain("ts2.t", 0, "0/F000400", "0");
	unit_check(txn_session(s) == SINK_OK, "narrowed: a new session");
	ok = run_wait(s, make_txn(951, 0xF000100), j, 1, &t) == SINK_OK &&
		run_wait(s, make_txn(952, 0xF000200), j, 1, &t) == SINK_OK;
	unit_check(ok, "narrowed: the failed transaction and the next committed (%s)",
			   ok ? "ok" : s->err);
	ok = read_topic("ts2.t", rs) == 1 && exactly_once(rs, 4);
	unit_check(ok, "narrowed: each job once after the re-send (%d messages)", rs->n);
	replay_committed(s, j, "ts2.t", 951, 0xF000100, rs, 4);
	s->ops->destroy(s);
	recs_free(rs);
	free(rs);
}

int
main(void)
{
	if (!unit_check(harness_start(), "mock cluster of 3 brokers started"))
		return unit_done();
	case_resolved();
	case_narrowed();
	harness_stop();
	return unit_done();
}
