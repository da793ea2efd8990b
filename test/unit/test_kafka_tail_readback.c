/*-------------------------------------------------------------------------
 *
 * test_kafka_tail_readback.c
 *		A new process trusts no mark as a prefix past the slot's start: it
 *		reads each partition's tail back and skips only the jobs there
 *		(test/t/392_kafka_suspect_survives_restart.pl end to end).
 *
 * A process that had a suspect (a delivery no offset proves, see
 * bridge/kafka_suspects.c) and died before it re-sent past it leaves a
 * partition whose last job is past a job that is not there.  Here that
 * partition is made directly: one sink writes jobs 1 and 3 and is
 * destroyed (a process gone, its suspects with it); a new sink replays
 * from below job 2.  Each case fails without its part of the read back:
 * the read back itself, the suspect it leaves for the next session of the
 * same process, the bound.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kafka_sink.h"
#include "log.h"
#include "sink.h"
#include "kafka_harness.h"
#include "unit.h"

/* connect and begin a session of source src_a from lsn */
static int
start_from(Sink *s, uint64_t lsn)
{
	int			rc = s->ops->connect(s);

	return rc != SINK_OK ? rc : s->ops->replay_begin(s, &src_a, lsn, 0);
}

/*
 * Hand n one-job transactions over (lsn0, lsn0 + 0x100, ...), then wait
 * for them all: a job skipped below a mark is acknowledged only once the
 * replay showed the mark's transaction (kafka_history.c)
 */
static int
replay(Sink *s, TJob *j, uint32_t xid0, uint64_t lsn0, int n)
{
	LedgerTicket t[128];
	int			rc = SINK_OK;
	int			i;

	for (i = 0; i < n && rc == SINK_OK; i++)
		rc = run_txn(s, make_txn(xid0 + i, lsn0 + i * 0x100), j, 1, &t[i]);
	for (i = 0; i < n && rc == SINK_OK; i++)
		rc = wait_acks(s, t[i], 1, ACK_TIMEOUT_MS);
	for (i = 0; i < n && rc == SINK_OK; i++)
		if (acked[t[i]] != 1)
			rc = SINK_RETRY;
	return rc;
}

/* a process that wrote jobs at lsn1 and lsn3 of one key, not the one between */
static void
gone_process(const char *topic, const char *key, uint64_t lsn1, uint64_t lsn3)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	TJob		j[1] = {{.target = topic, .key = key}};
	LedgerTicket t;
	int			rc;

	rc = start_from(s, lsn1 - 0x50);
	rc = rc == SINK_OK ? run_wait(s, make_txn(960, lsn1), j, 1, &t) : rc;
	rc = rc == SINK_OK ? run_wait(s, make_txn(962, lsn3), j, 1, &t) : rc;
	unit_check(rc == SINK_OK && acked[t] == 1,
			   "%s: a process wrote jobs 1 and 3, not 2, and is gone", topic);
	s->ops->destroy(s);
}

/* the new process replays job 2 and 3: job 2 is sent, job 3 is not */
static void
case_new_process_reads_back(void)
{
	TSink		ts;
	Sink	   *s;
	TJob		j[1] = {{.target = "tail1", .key = "a"}};
	LedgerTicket t2,
				t3;
	Recs	   *rs = calloc(1, sizeof(Recs));
	int			rc;

	rd_kafka_mock_topic_create(mock, "tail1", 1, 1);
	gone_process("tail1", "a", 0xA000100, 0xA000300);
	s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	unit_check(start_from(s, 0xA000150) == SINK_OK, "a new process from below job 2");
	rc = run_wait(s, make_txn(961, 0xA000200), j, 1, &t2);
	rc = rc == SINK_OK ? run_wait(s, make_txn(962, 0xA000300), j, 1, &t3) : rc;
	unit_check(rc == SINK_OK && acked[t2] == 1 && acked[t3] == 1, "the replay is acknowledged");
	read_topic("tail1", rs);
	unit_check(count_job(rs, "0/A000200", "0") == 1,
			   "job 2, below the mark but not in the partition, is sent (no loss)");
	unit_check(count_job(rs, "0/A000300", "0") == 1 && count_job(rs, "0/A000100", "0") == 1,
			   "job 3, read back, is not sent again; job 1 once (%d messages)", rs->n);
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
 * The new process's first session reads the topic (for a job of another
 * partition) and ends before its replay reached job 2: the next session of
 * the same process reads the marks as usual, and must still not take the
 * mark for a prefix.
 */
static void
case_read_back_outlives_a_session(void)
{
	TSink		ts;
	Sink	   *s;
	TJob		b[1] = {{.target = "tail2", .key = key_of(0, 2)}};
	TJob		z[1] = {{.target = "tail2", .key = key_of(1, 2)}};
	LedgerTicket t2,
				t3,
				tz;
	Recs	   *rs = calloc(1, sizeof(Recs));
	int			rc;

	rd_kafka_mock_topic_create(mock, "tail2", 2, 1);
	gone_process("tail2", key_of(0, 2), 0xB000100, 0xB000300);
	s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	start_from(s, 0xB000050);
	rc = run_wait(s, make_txn(970, 0xB000060), z, 1, &tz);
	unit_check(rc == SINK_OK && acked[tz] == 1,
			   "a first session reads the topic back and ends before job 2");
	s->ops->disconnect(s);
	unit_check(start_from(s, 0xB000050) == SINK_OK, "the next session of the same process");
	rc = run_wait(s, make_txn(970, 0xB000060), z, 1, &tz);
	rc = rc == SINK_OK ? run_wait(s, make_txn(961, 0xB000200), b, 1, &t2) : rc;
	rc = rc == SINK_OK ? run_wait(s, make_txn(962, 0xB000300), b, 1, &t3) : rc;
	unit_check(rc == SINK_OK && acked[t2] == 1 && acked[t3] == 1, "the replay is acknowledged: %s",
			   s->err);
	read_topic("tail2", rs);
	unit_check(count_job(rs, "0/B000200", "0") == 1,
			   "job 2 is sent though a session passed in between (no loss)");
	unit_check(count_job(rs, "0/B000300", "0") == 1 && count_job(rs, "0/B000060", "0") == 1,
			   "the others once (%d messages)", rs->n);
	s->ops->destroy(s);
	recs_free(rs);
	free(rs);
}

/*
 * The read back is bounded (kafka_tail_max messages): what lies before it
 * is sent again, never skipped.  A read back that reaches a job below the
 * slot's start stops there and skips everything it read.
 */
static void
case_bound(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	TJob		j[1] = {{.target = "tail3", .key = "a"}};
	Recs	   *rs = calloc(1, sizeof(Recs));
	char		lsn[LSN_STRLEN];
	int			once = 0,
				twice = 0;
	int			rc = SINK_OK;
	int			i;

	rd_kafka_mock_topic_create(mock, "tail3", 1, 1);
	start_from(s, 0xC000050);
	rc = replay(s, j, 980, 0xC000100, 20);
	unit_check(rc == SINK_OK, "a process wrote 20 jobs and is gone");
	s->ops->destroy(s);

	s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	start_from(s, 0xC000D00);
	rc = replay(s, j, 980 + 12, 0xC000D00, 8);
	read_topic("tail3", rs);
	unit_check(rc == SINK_OK && rs->n == 20,
			   "a read back that reaches a job below the slot's start skips all it read (%d messages)",
			   rs->n);
	s->ops->destroy(s);

	kafka_tail_max = 8;
	s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	start_from(s, 0xC000050);
	rc = replay(s, j, 980, 0xC000100, 20);
	unit_check(rc == SINK_OK, "a new process reads back 8 messages at most");
	read_topic("tail3", rs);
	for (i = 0; i < 20; i++)
	{
		int			n = count_job(rs, lsn_format(0xC000100 + i * 0x100, lsn, sizeof(lsn)), "0");

		once += i >= 12 && n == 1;
		twice += i < 12 && n == 2;
	}
	unit_check(once == 8 && twice == 12,
			   "the 8 jobs read back are skipped, the 12 before them sent again, none lost (%d, %d)",
			   once, twice);
	kafka_tail_max = KAFKA_TAIL_MAX;
	s->ops->destroy(s);
	recs_free(rs);
	free(rs);
}

/*
 * The bytes bound: a window is not widened past kafka_tail_max_bytes of
 * keys and values; the jobs before it are sent again.
 */
static void
case_bytes_bound(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	TJob		j[1] = {{.target = "tail4", .key = "a"}};
	Recs	   *rs = calloc(1, sizeof(Recs));
	char		lsn[LSN_STRLEN];
	int			once = 0,
				twice = 0;
	int			rc = SINK_OK;
	int			i;

	rd_kafka_mock_topic_create(mock, "tail4", 1, 1);
	start_from(s, 0xD000050);
	rc = replay(s, j, 1000, 0xD000100, 100);
	unit_check(rc == SINK_OK, "a process wrote 100 jobs and is gone");
	s->ops->destroy(s);

	kafka_tail_max_bytes = 2000;	/* less than the first window of 64 */
	s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	start_from(s, 0xD000050);
	rc = replay(s, j, 1000, 0xD000100, 100);
	unit_check(rc == SINK_OK, "a new process reads back one window");
	read_topic("tail4", rs);
	for (i = 0; i < 100; i++)
	{
		int			n = count_job(rs, lsn_format(0xD000100 + i * 0x100, lsn, sizeof(lsn)), "0");

		once += i >= 36 && n == 1;
		twice += i < 36 && n == 2;
	}
	unit_check(once == 64 && twice == 36,
			   "the 64 jobs of the first window are skipped, the 36 before it sent again (%d, %d)",
			   once, twice);
	kafka_tail_max_bytes = KAFKA_TAIL_MAX_BYTES;
	s->ops->destroy(s);
	recs_free(rs);
	free(rs);
}

int
main(void)
{
	if (!unit_check(harness_start(), "mock cluster of 3 brokers started"))
		return unit_done();
	case_new_process_reads_back();
	case_read_back_outlives_a_session();
	case_bound();
	case_bytes_bound();
	harness_stop();
	return unit_done();
}
