/*-------------------------------------------------------------------------
 *
 * test_kafka_implicit_ack.c
 *		A later batch's success is no evidence for an earlier one: the loss
 *		of the "kafka leader change" cell (test/attack/README.md).
 *
 * The interleaving, injected exactly: two Produce requests of one
 * partition are in flight at once (the broker answers 1.5 s late); the
 * broker refuses the first (NOT_LEADER_FOR_PARTITION, as while a leader
 * moves) and appends the second.  A real broker would refuse the second
 * too (OUT_OF_ORDER_SEQUENCE_NUMBER); librdkafka's mock checks idempotent
 * sequence numbers only for transactional producers and appends it.
 * librdkafka then reports the first request's messages as delivered,
 * "implicitly acked by subsequent batch success", without an offset.
 * Before the fix the sink acknowledged them and they were lost.
 *
 * Also: a session that ends before the replay re-sent the job (the suspect
 * outlives it), and the producer dropped with both requests on the wire
 * (unresolved messages are suspects).  Each case fails without its part
 * of bridge/kafka_suspects.c.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "log.h"
#include "sink.h"
#include "kafka_harness.h"
#include "unit.h"

/* two requests in flight, the first refused, the second appended */
static void
refuse_first_of_two(Sink *s, TJob *a, TJob *b, LedgerTicket *ta, LedgerTicket *tb,
					uint64_t lsn)
{
	int			rc;

	set_rtt(1500);
	rd_kafka_mock_push_request_errors(mock, API_PRODUCE, 1,
									  RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
	run_txn(s, make_txn(930, lsn), a, 1, ta);
	poll_for(s, 300, &rc);		/* linger.ms 5: the first request leaves */
	run_txn(s, make_txn(931, lsn + 0x100), b, 1, tb);
	poll_for(s, 300, &rc);
	set_rtt(0);
}

/*
 * Within one session: the refused job is never acknowledged, the session
 * fails, and the replay delivers it; the later job, which is there, is
 * not sent again.
 */
static void
case_refused_then_later_appended(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	TJob		a[1] = {{.target = "implicit", .key = "a"}};
	TJob		b[1] = {{.target = "implicit", .key = "b"}};
	LedgerTicket t0,
				ta,
				tb;
	Recs	   *rs = calloc(1, sizeof(Recs));
	int			rc;

	rd_kafka_mock_topic_create(mock, "implicit", 1, 1);
	unit_check(tstart(s) == SINK_OK, "session started");
	rc = run_wait(s, make_txn(929, 0xD000000), a, 1, &t0);
	unit_check(rc == SINK_OK && acked[t0] == 1, "a first job delivered (marks read)");
	refuse_first_of_two(s, a, b, &ta, &tb, 0xD000100);
	rc = wait_acks(s, tb, 1, ACK_TIMEOUT_MS);
	read_topic("implicit", rs);
	unit_check(count_job(rs, "0/D000100", "0") == 0 && count_job(rs, "0/D000200", "0") == 1,
			   "the broker refused the first request and appended the second (%d messages)", rs->n);
	unit_check(acked[ta] == 0,
			   "the refused job is not acknowledged (a later success is no evidence for it)");
	poll_for(s, 200, &rc);
	unit_check(rc == SINK_RETRY && strstr(s->err, "without an offset"),
			   "the session fails naming the unproven delivery: %s", s->err);
	s->ops->disconnect(s);
	unit_check(tstart(s) == SINK_OK, "a new session");
	rc = run_wait(s, make_txn(930, 0xD000100), a, 1, &ta);
	rc = rc == SINK_OK ? run_wait(s, make_txn(931, 0xD000200), b, 1, &tb) : rc;
	unit_check(rc == SINK_OK && acked[ta] == 1 && acked[tb] == 1, "the replay is acknowledged");
	read_topic("implicit", rs);
	unit_check(count_job(rs, "0/D000100", "0") == 1,
			   "the refused job is delivered by the replay (no loss)");
	unit_check(count_job(rs, "0/D000200", "0") == 1,
			   "the job that was there is not sent again (read back, not re-sent)");
	s->ops->destroy(s);
	recs_free(rs);
	free(rs);
}

/* a key of partition p of n */
static const char *
key_of(int32_t p, int n)
{
	static char keys[2][8];
	int			i;

	for (i = 0; i < 1000; i++)
	{
		snprintf(keys[p], sizeof(keys[p]), "k%d", i);
		if (part_of(keys[p], n) == p)
			break;
	}
	return keys[p];
}

/*
 * The session that reads the partition back ends before the replay reached
 * the missing job (the walsender lost, the producer kept): the next session
 * must still not take the mark for a prefix.  The suspect lives until a
 * delivery past what it allowed to skip.
 */
static void
case_suspect_outlives_a_session(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	TJob		a[1] = {{.target = "implicit2", .key = key_of(0, 2)}};
	TJob		b[1] = {{.target = "implicit2", .key = key_of(0, 2)}};
	TJob		z[1] = {{.target = "implicit2", .key = key_of(1, 2)}};
	LedgerTicket t0,
				ta,
				tb,
				tz;
	Recs	   *rs = calloc(1, sizeof(Recs));
	int			rc;

	rd_kafka_mock_topic_create(mock, "implicit2", 2, 1);
	tstart(s);
	rc = run_wait(s, make_txn(940, 0xE000000), a, 1, &t0);
	refuse_first_of_two(s, a, b, &ta, &tb, 0xE000100);
	poll_for(s, 1000, &rc);
	unit_check(rc == SINK_RETRY && acked[ta] == 0, "partition 0: the refused job is not acknowledged");
	s->ops->disconnect(s);
	/* a session that reads the marks (by a job of partition 1) and ends */
	tstart(s);
	rc = run_wait(s, make_txn(941, 0xE000050), z, 1, &tz);
	unit_check(rc == SINK_OK && acked[tz] == 1, "a session reads the marks and ends before the replay reaches the job");
	s->ops->disconnect(s);
	unit_check(tstart(s) == SINK_OK, "the next session");
	rc = run_wait(s, make_txn(941, 0xE000050), z, 1, &tz);
	rc = rc == SINK_OK ? run_wait(s, make_txn(930, 0xE000100), a, 1, &ta) : rc;
	rc = rc == SINK_OK ? run_wait(s, make_txn(931, 0xE000200), b, 1, &tb) : rc;
	unit_check(rc == SINK_OK && acked[ta] == 1 && acked[tb] == 1, "the replay is acknowledged (rc %d, %u %u): %s", rc, acked[ta], acked[tb], s->err);
	read_topic("implicit2", rs);
	unit_check(count_job(rs, "0/E000100", "0") == 1,
			   "the refused job is delivered though a session passed in between (no loss)");
	unit_check(count_job(rs, "0/E000200", "0") == 1 && count_job(rs, "0/E000050", "0") == 1,
			   "the others once (%d messages)", rs->n);
	s->ops->destroy(s);
	recs_free(rs);
	free(rs);
}

/*
 * The same two requests on the wire, the producer dropped before their
 * answers came (another topic's delivery failed for good): the next
 * session must not take the later job for a prefix.
 */
static void
case_dropped_with_requests_on_the_wire(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	TJob		a[1] = {{.target = "wire", .key = "a"}};
	TJob		b[1] = {{.target = "wire", .key = "b"}};
	TJob		c[1] = {{.target = "wire.other", .key = "c"}};
	rd_kafka_resp_err_t errs[2] = {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
	RD_KAFKA_RESP_ERR_NO_ERROR};
	LedgerTicket t0,
				ta,
				tb,
				tc;
	Recs	   *rs = calloc(1, sizeof(Recs));
	int			rc;

	rd_kafka_mock_topic_create(mock, "wire", 1, 1);
	rd_kafka_mock_topic_create(mock, "wire.other", 1, 1);
	rd_kafka_mock_partition_set_leader(mock, "wire", 0, 1);
	rd_kafka_mock_partition_set_leader(mock, "wire.other", 0, 2);
	tstart(s);
	rc = run_wait(s, make_txn(950, 0xF000000), a, 1, &t0);
	rc = rc == SINK_OK ? run_wait(s, make_txn(950, 0xF000000), c, 1, &t0) : rc;
	unit_check(rc == SINK_OK, "both topics written (marks read)");
	rd_kafka_mock_broker_set_rtt(mock, 1, 3000);
	rd_kafka_mock_push_request_errors_array(mock, API_PRODUCE, 2, errs);
	run_txn(s, make_txn(951, 0xF000100), a, 1, &ta);
	poll_for(s, 300, &rc);
	run_txn(s, make_txn(952, 0xF000200), b, 1, &tb);
	poll_for(s, 300, &rc);
	rd_kafka_mock_push_request_errors(mock, API_PRODUCE, 1,
									  RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
	run_txn(s, make_txn(953, 0xF000300), c, 1, &tc);
	poll_for(s, 1000, &rc);
	unit_check(rc == SINK_RETRY && acked[ta] == 0 && acked[tb] == 0,
			   "another topic's delivery fails before the two answers come: %s", s->err);
	s->ops->disconnect(s);
	rd_kafka_mock_broker_set_rtt(mock, 1, 0);
	read_topic("wire", rs);
	unit_check(count_job(rs, "0/F000100", "0") == 0 && count_job(rs, "0/F000200", "0") == 1,
			   "the broker refused the first request and appended the second (%d messages)", rs->n);
	unit_check(tstart(s) == SINK_OK, "a new producer");
	rc = run_wait(s, make_txn(951, 0xF000100), a, 1, &ta);
	rc = rc == SINK_OK ? run_wait(s, make_txn(952, 0xF000200), b, 1, &tb) : rc;
	rc = rc == SINK_OK ? run_wait(s, make_txn(953, 0xF000300), c, 1, &tc) : rc;
	unit_check(rc == SINK_OK && acked[ta] == 1 && acked[tb] == 1 && acked[tc] == 1,
			   "the replay is acknowledged");
	read_topic("wire", rs);
	unit_check(count_job(rs, "0/F000100", "0") == 1,
			   "the job of the refused request is delivered (no loss)");
	unit_check(count_job(rs, "0/F000200", "0") == 1, "the appended one is not sent again");
	s->ops->destroy(s);
	recs_free(rs);
	free(rs);
}

int
main(void)
{
	if (!unit_check(harness_start(), "mock cluster of 3 brokers started"))
		return unit_done();
	case_refused_then_later_appended();
	case_suspect_outlives_a_session();
	case_dropped_with_requests_on_the_wire();
	harness_stop();
	return unit_done();
}
