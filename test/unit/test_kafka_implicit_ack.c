/*-------------------------------------------------------------------------
 *
 * test_kafka_implicit_ack.c
 *		A later batch's success is no evidence for an earlier one: the loss
 *		of the "kafka leader change" cell (test/attack/README.md).
 *
 * The interleaving, injected exactly: two Produce requests of one
 * partition are in flight at once (the broker answers 300 ms late); the
 * broker refuses the first (NOT_LEADER_FOR_PARTITION, as while a leader
 * moves) and appends the second.  A real broker would refuse the second
 * too (OUT_OF_ORDER_SEQUENCE_NUMBER); librdkafka's mock checks idempotent
 * sequence numbers only for transactional producers and appends it.
 * librdkafka then reports the first request's messages as delivered,
 * "implicitly acked by subsequent batch success", without an offset.
 * Before the fix the sink acknowledged them and they were lost.
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

	set_rtt(300);
	rd_kafka_mock_push_request_errors(mock, API_PRODUCE, 1,
									  RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
	run_txn(s, make_txn(930, lsn), a, 1, ta);
	poll_for(s, 100, &rc);		/* linger.ms 5: the first request leaves */
	run_txn(s, make_txn(931, lsn + 0x100), b, 1, tb);
	poll_for(s, 100, &rc);
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

int
main(void)
{
	if (!unit_check(harness_start(), "mock cluster of 3 brokers started"))
		return unit_done();
	case_refused_then_later_appended();
	harness_stop();
	return unit_done();
}
