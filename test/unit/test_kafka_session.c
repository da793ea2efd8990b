/*-------------------------------------------------------------------------
 *
 * test_kafka_session.c
 *		The Kafka sink's sessions, sources and time bounds, against
 *		librdkafka's mock cluster: a replay from the slot in a new session
 *		skips exactly what was delivered (case 1 of issue 10), marks of
 *		another source are refused (case 5), an unusable topic is fatal, and
 *		no call blocks longer than about a second (case 7).
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_harness.h"
#include "kafka_sink.h"
#include "log.h"
#include "unit.h"

static const SinkSource src_b = {"7311000000000000002", 1, "postgres", "sa", 0};
static const SinkSource src_a_tl2 = {"7311000000000000001", 2, "postgres", "sa", 0};
static const SinkSource src_a_sb = {"7311000000000000001", 1, "postgres", "sb", 0};

/* transaction i of the session tests: 3 jobs, keys repeating */
static FrameTxn
sess_txn(int i, TJob *j, char keys[3][8], const char *topic)
{
	int			k;

	for (k = 0; k < 3; k++)
	{
		snprintf(keys[k], 8, "k%d", (i * 3 + k) % 7);
		j[k] = (TJob) {.target = topic, .key = keys[k]};
	}
	return make_txn(1000 + i, 0x10000000 + (uint64_t) i * 0x100);
}

/* transactions from..to-1 handed over; their tickets in t[from..] */
static void
sess_run(Sink *s, int from, int to, LedgerTicket *t, const char *topic)
{
	int			i;

	for (i = from; i < to; i++)
	{
		TJob		j[3];
		char		keys[3][8];

		run_txn(s, sess_txn(i, j, keys, topic), j, 3, &t[i]);
	}
}

static bool
sess_acked(Sink *s, int from, int to, const LedgerTicket *t)
{
	int			i;

	for (i = from; i < to; i++)
		if (wait_acks(s, t[i], 3, ACK_TIMEOUT_MS) != SINK_OK || acked[t[i]] != 3)
			return false;
	return true;
}

/* every partition's mark is the last job delivered to it */
static bool
marks_current(Sink *s, int ntxns, const char *topic)
{
	int			i,
				k,
				p;

	for (p = 0; p < 4; p++)
	{
		uint64_t	want_lsn = 0,
					lsn;
		uint32_t	want_seq = 0,
					seq;
		bool		want = false;

		for (i = 0; i < ntxns; i++)
			for (k = 0; k < 3; k++)
			{
				char		key[8];

				snprintf(key, sizeof(key), "k%d", (i * 3 + k) % 7);
				if (part_of(key, 4) == p)
				{
					want = true;
					want_lsn = 0x10000000 + (uint64_t) i * 0x100;
					want_seq = (uint32_t) k;
				}
			}
		if (kafka_sink_mark(s, topic, p, &lsn, &seq) != want ||
			(want && (lsn != want_lsn || seq != want_seq)))
			return false;
	}
	return true;
}

/*
 * Case 1 of issue 10 in miniature: the stream reconnects (a new session from
 * the slot, the same producer) and replays what was delivered, and what is
 * still in flight: no duplicate, no step backwards.
 */
static void
case_session(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	LedgerTicket t[50];
	Recs	   *rs = calloc(1, sizeof(Recs));
	bool		ok;

	rd_kafka_mock_topic_create(mock, "sess", 4, 1);
	tstart(s);
	sess_run(s, 0, 20, t, "sess");
	unit_check(sess_acked(s, 0, 20, t), "session 1: 20 transactions acknowledged");
	unit_check(marks_current(s, 20, "sess"),
			   "marks advanced with the delivery reports: each partition's is its last job");
	unit_check(s->ops->replay_begin(s, &src_a, 0x10000000, 0) == SINK_OK,
			   "session 2 begins from the first transaction");
	sess_run(s, 0, 25, t, "sess");
	ok = sess_acked(s, 0, 25, t);
	unit_check(ok, "session 2: the 20 replayed and 5 new transactions acknowledged");
	ok = read_topic("sess", rs) == 4 && exactly_once(rs, 75) && in_order(rs);
	unit_check(ok, "each of the 75 jobs exactly once, every partition in order (%d messages)", rs->n);

	set_rtt(400);
	sess_run(s, 25, 35, t, "sess");
	unit_check(s->ops->pending_bytes(s) > 0 && acked[t[25]] == 0, "10 transactions in flight");
	unit_check(s->ops->replay_begin(s, &src_a, 0x10000000 + 25 * 0x100, 0) == SINK_OK,
			   "session 3 begins while they are in flight");
	sess_run(s, 25, 40, t, "sess");
	set_rtt(0);
	ok = sess_acked(s, 25, 40, t);
	unit_check(ok, "session 3: the replayed and new transactions acknowledged");
	ok = read_topic("sess", rs) == 4 && exactly_once(rs, 120) && in_order(rs);
	unit_check(ok, "each of the 120 jobs exactly once, every partition in order (%d messages)", rs->n);
	unit_check(marks_current(s, 40, "sess"), "the marks are current");

	/* the bridge drops the sink mid-stream (drop_stream with half a transaction) */
	set_rtt(400);
	sess_run(s, 40, 46, t, "sess");
	s->ops->disconnect(s);
	unit_check(tstart(s) == SINK_OK, "session 4 after a disconnect with 6 transactions in flight");
	sess_run(s, 40, 50, t, "sess");
	set_rtt(0);
	ok = sess_acked(s, 40, 50, t);
	unit_check(ok, "session 4: the replayed and new transactions acknowledged");
	ok = read_topic("sess", rs) == 4 && exactly_once(rs, 150) && in_order(rs);
	unit_check(ok, "each of the 150 jobs exactly once, every partition in order (%d messages)", rs->n);
	s->ops->destroy(s);
	recs_free(rs);
	free(rs);
}

/* a new session while the brokers are down, the replay once they are up */
static void
case_session_down(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	LedgerTicket t[40];
	Recs	   *rs = calloc(1, sizeof(Recs));
	int64_t		t0;
	double		worst;
	int			rc;
	bool		ok;

	rd_kafka_mock_topic_create(mock, "sessdown", 4, 1);
	tstart(s);
	sess_run(s, 0, 5, t, "sessdown");
	unit_check(sess_acked(s, 0, 5, t), "5 transactions acknowledged");
	set_brokers(false);
	sess_run(s, 5, 10, t, "sessdown");
	t0 = now_us();
	rc = s->ops->replay_begin(s, &src_a, 0x10000000 + 5 * 0x100, 0);
	sess_run(s, 5, 13, t, "sessdown");
	unit_check(rc == SINK_OK && now_us() - t0 < 1200000,
			   "brokers down: a new session begins and takes 8 transactions in %.2f s",
			   (now_us() - t0) / 1e6);
	worst = poll_for(s, 2000, &rc);
	unit_check(rc == SINK_OK && worst < 1.2 && acked[t[5]] == 0,
			   "it waits without blocking (longest poll %.2f s): %s", worst, rc ? s->err : "ok");
	set_brokers(true);
	ok = sess_acked(s, 5, 13, t);
	unit_check(ok, "brokers up: the replayed and new transactions acknowledged");
	ok = read_topic("sessdown", rs) == 4 && exactly_once(rs, 39) && in_order(rs);
	unit_check(ok, "each of the 39 jobs exactly once, in order (%d messages)", rs->n);
	s->ops->destroy(s);
	recs_free(rs);
	free(rs);
}

/* a session of source src (flags) delivering one job at lsn to topic */
static int
source_job(const SinkSource *src, unsigned flags, const char *topic, uint64_t lsn,
		   char *err, LedgerTicket *t)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	TJob		j[1] = {{.target = topic, .key = "s"}};
	int			rc = s->ops->connect(s);

	if (rc == SINK_OK)
		rc = s->ops->replay_begin(s, src, lsn - 0x100, flags);
	if (rc == SINK_OK)
		rc = run_wait(s, make_txn(2000, lsn), j, 1, t);
	snprintf(err, SINK_ERRLEN, "%s", s->err);
	s->ops->destroy(s);
	return rc;
}

/* marks of another source: refused, loudly; accepted only when asked */
static void
case_sources(void)
{
	char		err[SINK_ERRLEN];
	LedgerTicket t;
	Recs	   *rs = calloc(1, sizeof(Recs));
	int			rc;

	rd_kafka_mock_topic_create(mock, "src", 1, 1);
	unit_check(source_job(&src_a, 0, "src", 0x20000000, err, &t) == SINK_OK && acked[t] == 1,
			   "source A delivers a job");
	rc = source_job(&src_b, 0, "src", 0x20000100, err, &t);
	unit_check(rc == SINK_FATAL && acked[t] == 0 && strstr(err, SRC_A) &&
			   strstr(err, "7311000000000000002/1/postgres/sa") && strstr(err, "--accept-new-source"),
			   "another system's mark is fatal, naming both sources: %s", err);
	rc = source_job(&src_a_tl2, 0, "src", 0x20000100, err, &t);
	unit_check(rc == SINK_FATAL && strstr(err, "timeline 1, now timeline 2"),
			   "a new timeline of the same system is another source: %s", err);
	rc = source_job(&src_b, SINK_REPLAY_ACCEPT_NEW, "src", 0x20000100, err, &t);
	unit_check(rc == SINK_OK && acked[t] == 1, "--accept-new-source: the partition starts afresh");
	unit_check(read_topic("src", rs) == 1 && rs->n == 2 &&
			   str_eq(rs->r[1].source, "7311000000000000002/1/postgres/sa"),
			   "its job is written with its source header");
	rc = source_job(&src_b, 0, "src", 0x20000100, err, &t);
	unit_check(rc == SINK_OK && acked[t] == 1 && read_topic("src", rs) == 1 && rs->n == 2,
			   "the new source's replay then skips by its own mark");
	recs_free(rs);
	free(rs);
}

/*
 * Case 5 of issue 10: slots sa and sb write one topic; sb lags behind sa's
 * last message.  It must not skip its own job by sa's mark.
 */
static void
case_two_slots(void)
{
	char		err[SINK_ERRLEN];
	LedgerTicket t;
	Recs	   *rs = calloc(1, sizeof(Recs));
	int			rc;

	rd_kafka_mock_topic_create(mock, "shared", 1, 1);
	unit_check(source_job(&src_a, 0, "shared", 0x30000200, err, &t) == SINK_OK,
			   "slot sa delivers a job at 0/30000200");
	rc = source_job(&src_a_sb, 0, "shared", 0x30000100, err, &t);
	unit_check(rc == SINK_FATAL && acked[t] == 0 &&
			   strstr(err, "7311000000000000001/1/postgres/sb") && strstr(err, SRC_A),
			   "slot sb's job at 0/30000100 is refused, not skipped: %s", err);
	unit_check(read_topic("shared", rs) == 1 && rs->n == 1, "nothing of sb written");
	recs_free(rs);
	free(rs);
}

/* an empty or unusable topic is fatal, naming the job (no reconnect loop) */
static void
case_bad_topic(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	TJob		j1[1] = {{.target = "", .key = "42"}};
	TJob		j2[1] = {{.target = "a b", .key = "43"}};
	LedgerTicket t;
	int			rc;

	tstart(s);
	rc = run_txn(s, make_txn(3000, 0x5100000), j1, 1, &t);
	unit_check(rc == SINK_FATAL &&
			   strstr(s->err, "table public.jobs key 42 lsn 0/5100000 has no usable kafka topic \"\""),
			   "an empty route target is fatal, naming table, key and lsn: %s", s->err);
	s->ops->destroy(s);
	s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	tstart(s);
	rc = run_txn(s, make_txn(3001, 0x5100100), j2, 1, &t);
	unit_check(rc == SINK_FATAL && strstr(s->err, "key 43") && strstr(s->err, "\"a b\""),
			   "a topic name Kafka refuses is fatal: %s", s->err);
	s->ops->destroy(s);
}

/*
 * A new session while a Kafka transaction is open (the stream dropped in
 * the middle of a PostgreSQL transaction): the producer is recreated, its
 * init_transactions aborts the open one, and the replay writes each job once.
 */
static void
txn_new_session(Sink *s)
{
	TJob		j[2] = {{.target = "t", .key = "3"}, {.target = "t", .key = "4"}};
	LedgerTicket t = next_ticket++;
	Recs	   *rs = calloc(1, sizeof(Recs));
	int64_t		t0;
	int			rc;

	rc = start_txn(s, make_txn(3101, 0x5200100), j, 2, t);
	wait_acks(s, t, 2, 500);
	t0 = now_us();
	if (rc == SINK_OK)
		rc = s->ops->replay_begin(s, &src_a, 0x5200000, 0);
	unit_check(rc == SINK_OK && now_us() - t0 < 1200000,
			   "transactions: a new session with a transaction open begins in %.2f s",
			   (now_us() - t0) / 1e6);
	rc = run_wait(s, make_txn(3100, 0x5200000), j, 2, &t);
	if (rc == SINK_OK)
		rc = run_wait(s, make_txn(3101, 0x5200100), j, 2, &t);
	unit_check(rc == SINK_OK && acked[t] == 2,
			   "the replay of both transactions is acknowledged (%u): %s", acked[t], rc ? s->err : "ok");
	rc = read_topic("nb.t", rs);
	unit_check(rc == 2 && count_job(rs, "0/5200100", "0") == 1 &&
			   count_job(rs, "0/5200100", "1") == 1 && count_job(rs, "0/5200000", "0") == 1,
			   "each job once as the mock shows it (%d messages; it neither hides aborted "
			   "messages from the marks nor from this consumer)", rs->n);
	recs_free(rs);
	free(rs);
}

/*
 * --kafka-transactions never blocks: connect asks no broker (no
 * init_transactions before replay_begin), and a commit with the brokers
 * down is resumed from poll until they are back.
 */
static void
case_txn_no_block(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, "nb.", NULL, NULL, NULL);
	TJob		j[2] = {{.target = "t", .key = "1"}, {.target = "t", .key = "2"}};
	FrameTxn	txn = make_txn(3100, 0x5200000);
	LedgerTicket t = next_ticket++;
	int64_t		t0;
	double		worst;
	int			rc;

	rd_kafka_mock_topic_create(mock, "nb.t", 2, 1);
	ts.cfg.kafka_transactions = true;
	set_brokers(false);
	t0 = now_us();
	rc = s->ops->connect(s);
	unit_check(rc == SINK_OK && now_us() - t0 < 200000,
			   "transactions, brokers down: connect returns at once (%.2f s)", (now_us() - t0) / 1e6);
	t0 = now_us();
	rc = s->ops->replay_begin(s, &src_a, 0, 0);
	unit_check(rc == SINK_OK && now_us() - t0 < 1200000,
			   "replay_begin: one step of init_transactions (%.2f s)", (now_us() - t0) / 1e6);
	worst = poll_for(s, 1500, &rc);
	unit_check(rc == SINK_OK && worst < 1.2, "init_transactions resumed by poll (longest %.2f s)", worst);
	set_brokers(true);
	unit_check(run_wait(s, make_txn(3099, 0x51FFF00), j, 1, &t) == SINK_OK,
			   "brokers up: a transaction committed");
	set_brokers(false);
	t = next_ticket++;
	rc = start_txn(s, txn, j, 2, t);
	txn.njobs = 2;
	t0 = now_us();
	if (rc == SINK_OK)
		rc = s->ops->commit(s, &txn, t);
	unit_check(rc == SINK_OK && now_us() - t0 < 1200000,
			   "brokers down: commit returns in %.2f s", (now_us() - t0) / 1e6);
	worst = poll_for(s, 3000, &rc);
	unit_check(rc == SINK_OK && worst < 1.2 && acked[t] == 0,
			   "commit_transaction resumed by poll, never blocking (longest %.2f s): %s",
			   worst, rc ? s->err : "ok");
	set_brokers(true);
	unit_check(wait_acks(s, t, 2, 30000) == SINK_OK && acked[t] == 2,
			   "brokers up: the commit completes and both jobs are acknowledged");
	txn_new_session(s);
	s->ops->destroy(s);
}

/*
 * A replay below a mark must show the mark's transaction (kafka_history.c,
 * TAP 251): another transaction at its lsn, or a position past it, is
 * another history; nothing skipped before is acknowledged.
 */
static void
case_other_history(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	LedgerTicket t[6];
	TJob		j[3];
	char		keys[3][8];
	FrameTxn	other;
	int			rc;

	rd_kafka_mock_topic_create(mock, "hist", 1, 1);
	tstart(s);
	sess_run(s, 0, 5, t, "hist");
	unit_check(sess_acked(s, 0, 5, t), "history: 5 transactions delivered (the mark: xid 1004)");
	unit_check(s->ops->replay_begin(s, &src_a, 0x10000000, 0) == SINK_OK, "a replay begins");
	sess_run(s, 0, 1, t, "hist");
	poll_for(s, 300, &rc);
	unit_check(rc == SINK_OK && acked[t[0]] == 0,
			   "a skipped transaction below the mark is not acknowledged before the mark's is shown");
	other = sess_txn(4, j, keys, "hist");
	other.xid = 2004;
	rc = run_txn(s, other, j, 3, &t[4]);
	if (rc == SINK_OK)
		poll_for(s, 300, &rc);
	unit_check(rc == SINK_FATAL && strstr(s->err, "holds transaction xid 1004") &&
			   strstr(s->err, "presents xid 2004") && acked[t[0]] == 0,
			   "another transaction at the mark's lsn is fatal, naming both: %s", s->err);
	s->ops->destroy(s);

	s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	tstart(s);
	unit_check(s->ops->replay_begin(s, &src_a, 0x10000000, 0) == SINK_OK, "another replay begins");
	sess_run(s, 0, 2, t, "hist");
	poll_for(s, 300, &rc);
	rc = s->ops->progress(s, 0x10000500, next_ticket++);
	if (rc == SINK_OK)
		poll_for(s, 300, &rc);
	unit_check(rc == SINK_FATAL && strstr(s->err, "passed that lsn (at 0/10000500) without it") &&
			   acked[t[0]] == 0 && acked[t[1]] == 0,
			   "a position past the mark without its transaction is fatal: %s", s->err);
	s->ops->destroy(s);
}

int
main(void)
{
	if (!unit_check(harness_start(), "mock cluster of 3 brokers started"))
		return unit_done();
	case_session();
	case_session_down();
	case_sources();
	case_two_slots();
	case_other_history();
	case_bad_topic();
	case_txn_no_block();
	harness_stop();
	return unit_done();
}
