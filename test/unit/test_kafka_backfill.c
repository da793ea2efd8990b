/*-------------------------------------------------------------------------
 *
 * test_kafka_backfill.c
 *		The Kafka sink's backfill hooks (bridge/kafka_backfill.c) against
 *		librdkafka's mock cluster: the state record read back as written,
 *		a cut page resumed without doubling a row, another source's state
 *		refused, a backfilled row as a stream mark that covers nothing
 *		at or after the consistent point, and the creation marker; a cut
 *		page resumed after its rows moved to another topic (test/t/435).
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backfill.h"
#include "kafka_harness.h"
#include "kafka_sink.h"
#include "unit.h"

#define CP 0x40000000ULL

static const SinkSource src_b = {"7311000000000000002", 1, "postgres", "sa", 0};

static Sink *
bf_sink(TSink *ts, const char *prefix)
{
	Sink	   *s = tsink_new(ts, prefix, NULL, NULL, NULL);

	unit_check(s->ops->connect(s) == SINK_OK, "the sink connects");
	return s;
}

/* a page of n rows of target keyed keys[i] (ids the same), position ["<key>"] */
static int
page_to(Sink *s, const char *target, uint64_t prev, BackfillState *next, const char **keys,
		int n, uint32_t first)
{
	TJob		tj[8];
	FrameJob	jobs[8] = {0};
	char	   *pos[8];
	int			rc;

	for (int i = 0; i < n; i++)
	{
		const char *v[1] = {keys[i]};

		tj[i] = (TJob) {.target = target, .key = keys[i], .id = keys[i]};
		tjob_frame(&tj[i], first + i, &jobs[i]);
		pos[i] = backfill_key_format(v, 1);
	}
	next->job_keys = pos;
	rc = s->ops->backfill_batch(s, &src_a, prev == 0 ? SINK_BACKFILL_NEW : 0, prev, next, jobs,
								(uint32_t) n);
	next->job_keys = NULL;
	for (int i = 0; i < n; i++)
		free(pos[i]);
	return rc;
}

static int
page(Sink *s, uint64_t prev, BackfillState *next, const char **keys, int n, uint32_t first)
{
	return page_to(s, "bf", prev, next, keys, n, first);
}

/* produce one row of page pg to topic as a killed bridge left it */
static void
cut_row_to(const char *topic, const char *key, const char *pg)
{
	rd_kafka_t *rk = new_client(RD_KAFKA_PRODUCER, NULL);
	char		pos[32];

	snprintf(pos, sizeof(pos), "[\"%s\"]", key);
	rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part_of(key, 2)),
					  RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE("{}", 2),
					  RD_KAFKA_V_HEADER("lsn", "0/40000000", -1), RD_KAFKA_V_HEADER("seq", "9", -1),
					  RD_KAFKA_V_HEADER("source", SRC_A, -1), RD_KAFKA_V_HEADER("backfill", pos, -1),
					  RD_KAFKA_V_HEADER("backfill_page", pg, -1), RD_KAFKA_V_END);
	rd_kafka_flush(rk, 5000);
	rd_kafka_destroy(rk);
}

static void
cut_row(const char *key, const char *pg)
{
	cut_row_to("bf", key, pg);
}

static int
key_count(const Recs *rs, const char *key)
{
	int			n = 0;

	for (int i = 0; i < rs->n; i++)
		n += str_eq(rs->r[i].key, key);
	return n;
}

static void
case_state_and_resume(void)
{
	TSink		ts;
	Sink	   *s = bf_sink(&ts, NULL);
	BackfillState st = {0};
	BackfillState next = {0};
	const char *p1[] = {"a", "b", "c"};
	const char *p2[] = {"d", "e", "f", "g"};
	Recs	   *rs = calloc(1, sizeof(Recs));
	int			rc;

	rd_kafka_mock_topic_create(mock, "bf", 2, 1);
	rc = s->ops->backfill_read(s, &src_a, 0, &st);
	unit_check(rc == SINK_OK && !st.present, "no state topic: no backfill (%s)", s->err);
	next = (BackfillState) {.lsn = CP, .seq = 1, .snapshot = "100:105:101,103",
		.condition = "status = 'pending'\nAND note <> 'x'", .table = "public.\"odd name\"", .key = ""};
	unit_check(page(s, 0, &next, NULL, 0, 1) == SINK_OK, "the first state is written (%s)", s->err);
	next.seq = 2;
	next.rows = 3;
	next.key = "[\"c\"]";
	unit_check(page(s, 1, &next, p1, 3, 1) == SINK_OK, "page 2 with 3 rows (%s)", s->err);
	s->ops->destroy(s);

	/* a new process: the state as written; page 3 cut after e and g */
	s = bf_sink(&ts, NULL);
	rc = s->ops->backfill_read(s, &src_a, 0, &st);
	unit_check(rc == SINK_OK && st.present && !st.done && st.seq == 2 && st.rows == 3 &&
			   st.lsn == CP && strcmp(st.snapshot, "100:105:101,103") == 0 &&
			   strcmp(st.condition, "status = 'pending'\nAND note <> 'x'") == 0 &&
			   strcmp(st.table, "public.\"odd name\"") == 0 && strcmp(st.key, "[\"c\"]") == 0,
			   "the state is read back as written (%s)", s->err);
	cut_row("e", "3");
	cut_row("g", "3");
	cut_row("d", "2");			/* an older page's message: no evidence */
	next.seq = 3;
	next.rows = 7;
	next.key = "[\"g\"]";
	unit_check(page(s, 2, &next, p2, 4, 4) == SINK_OK, "page 3 resumed (%s)", s->err);
	read_topic("bf", rs);
	unit_check(key_count(rs, "e") == 1 && key_count(rs, "g") == 1 && key_count(rs, "f") == 1 &&
			   key_count(rs, "d") == 2 && key_count(rs, "a") == 1,
			   "rows of the cut page in kafka are skipped, the others sent (e %d g %d f %d d %d)",
			   key_count(rs, "e"), key_count(rs, "g"), key_count(rs, "f"), key_count(rs, "d"));
	next.done = true;
	next.seq = 4;
	unit_check(page(s, 3, &next, NULL, 0, 0) == SINK_OK, "done is written");
	s->ops->destroy(s);
	s = bf_sink(&ts, NULL);
	rc = s->ops->backfill_read(s, &src_a, 0, &st);
	unit_check(rc == SINK_OK && st.present && st.done && st.rows == 7, "done is read back");
	rc = s->ops->backfill_read(s, &src_b, 0, &st);
	unit_check(rc == SINK_FATAL && strstr(s->err, SRC_A) && strstr(s->err, "--accept-new-source"),
			   "another source's state is refused: %s", s->err);
	s->ops->destroy(s);
	s = bf_sink(&ts, NULL);
	rc = s->ops->backfill_read(s, &src_b, SINK_BACKFILL_ACCEPT, &st);
	unit_check(rc == SINK_OK && !st.present && st.other_source,
			   "with SINK_BACKFILL_ACCEPT it reads as none, other_source set");
	s->ops->destroy(s);
	backfill_state_free(&st);
	recs_free(rs);
	free(rs);
}

/* a stream job committed at the consistent point after a backfilled row */
static void
case_mark(void)
{
	TSink		ts;
	Sink	   *s = bf_sink(&ts, "m.");
	BackfillState st = {0};
	BackfillState next = {.lsn = CP, .seq = 1, .snapshot = "1:1:", .condition = "", .table = "",
	.key = ""};
	const char *p1[] = {"a"};
	TJob		j[1] = {{.target = "bf", .key = "a", .id = "2"}};
	Recs	   *rs = calloc(1, sizeof(Recs));
	LedgerTicket t;

	rd_kafka_mock_topic_create(mock, "m.bf", 1, 1);
	s->ops->backfill_read(s, &src_a, 0, &st);
	unit_check(page(s, 0, &next, p1, 1, 7) == SINK_OK, "a backfilled row at seq 7 (%s)", s->err);
	s->ops->destroy(s);
	s = bf_sink(&ts, "m.");
	unit_check(s->ops->replay_begin(s, &src_a, CP, 0) == SINK_OK &&
			   run_wait(s, make_txn(3000, CP), j, 1, &t) == SINK_OK && acked[t] == 1,
			   "a stream job at the consistent point, seq 0 (%s)", s->err);
	read_topic("m.bf", rs);
	unit_check(rs->n == 2 && key_count(rs, "a") == 2,
			   "is written, not taken for delivered by the backfilled row's mark (%d messages)", rs->n);
	s->ops->destroy(s);
	backfill_state_free(&st);
	recs_free(rs);
	free(rs);
}

/*
 * The creation marker (lsn 0, no row, before the slot exists) is written
 * and read back as BACKFILL_CREATING; the first state follows it; a marker
 * with rows is refused
 */
static void
case_marker(void)
{
	TSink		ts;
	Sink	   *s = bf_sink(&ts, "c.");
	BackfillState st = {0};
	BackfillState next = {.lsn = 0, .seq = 1, .snapshot = "", .condition = "", .table = "",
	.key = "", .storage = "", .label = "", .keydef = ""};
	const char *p1[] = {"a"};

	rd_kafka_mock_topic_create(mock, "c.bf", 1, 1);
	unit_check(s->ops->backfill_read(s, &src_a, 0, &st) == SINK_OK && !st.present, "no state yet");
	unit_check(page(s, 0, &next, NULL, 0, 0) == SINK_OK, "the marker is written (%s)", s->err);
	s->ops->destroy(s);
	s = bf_sink(&ts, "c.");
	unit_check(s->ops->backfill_read(s, &src_a, 0, &st) == SINK_OK && BACKFILL_CREATING(&st) &&
			   st.seq == 1 && st.rows == 0, "a new process reads the marker back (%s)", s->err);
	unit_check(page(s, 0, &next, p1, 1, 1) == SINK_FATAL && strstr(s->err, "consistent point"),
			   "a marker with rows is refused: %s", s->err);
	s->ops->destroy(s);
	s = bf_sink(&ts, "c.");
	s->ops->backfill_read(s, &src_a, 0, &st);
	next.lsn = CP;
	next.seq = 2;
	next.snapshot = "1:1:";
	unit_check(page(s, 0, &next, NULL, 0, 0) == SINK_OK, "the first state follows it (%s)", s->err);
	s->ops->destroy(s);
	s = bf_sink(&ts, "c.");
	unit_check(s->ops->backfill_read(s, &src_a, 0, &st) == SINK_OK && st.present &&
			   !BACKFILL_CREATING(&st) && st.lsn == CP && st.seq == 2,
			   "and is read back instead (%s)", s->err);
	s->ops->destroy(s);
	backfill_state_free(&st);
}

/*
 * Page 3 cut after e and g in r.bf; its rows go to r.bf2 now (the table
 * renamed): the state named r.bf (a start record before page 2), so e and
 * g are found there and skipped, d and f go to r.bf2; before page 3 a start
 * record names both topics.
 */
static void
case_topic_moved(void)
{
	TSink		ts;
	Sink	   *s = bf_sink(&ts, "r.");
	BackfillState st = {0};
	BackfillState next = {.lsn = CP, .seq = 1, .snapshot = "1:1:", .condition = "",
	.table = "public.bf", .key = ""};
	const char *p1[] = {"a", "b", "c"};
	const char *p2[] = {"d", "e", "f", "g"};
	Recs	   *rs = calloc(1, sizeof(Recs));
	int			starts = 0;

	rd_kafka_mock_topic_create(mock, "r.bf", 2, 1);
	rd_kafka_mock_topic_create(mock, "r.bf2", 2, 1);
	s->ops->backfill_read(s, &src_a, 0, &st);
	unit_check(page(s, 0, &next, NULL, 0, 1) == SINK_OK, "the first state (%s)", s->err);
	next.seq = 2;
	next.rows = 3;
	next.key = "[\"c\"]";
	unit_check(page(s, 1, &next, p1, 3, 1) == SINK_OK, "page 2 to r.bf (%s)", s->err);
	s->ops->destroy(s);
	s = bf_sink(&ts, "r.");
	unit_check(s->ops->backfill_read(s, &src_a, 0, &st) == SINK_OK && st.seq == 2,
			   "a new process reads page 2's state (%s)", s->err);
	cut_row_to("r.bf", "e", "3");
	cut_row_to("r.bf", "g", "3");
	next.seq = 3;
	next.rows = 7;
	next.key = "[\"g\"]";
	unit_check(page_to(s, "bf2", 2, &next, p2, 4, 4) == SINK_OK, "page 3 resumed to r.bf2 (%s)", s->err);
	read_topic("r.bf2", rs);
	unit_check(rs->n == 2 && key_count(rs, "d") == 1 && key_count(rs, "f") == 1,
			   "the rows of the cut page found in r.bf are not sent to r.bf2 (%d messages)", rs->n);
	recs_free(rs);
	read_topic("r.bf", rs);
	unit_check(rs->n == 5 && key_count(rs, "e") == 1 && key_count(rs, "g") == 1,
			   "nor again to r.bf (%d messages)", rs->n);
	recs_free(rs);
	read_topic("r.wal2queue-backfill.sa", rs);
	for (int i = 0; i < rs->n; i++)
		starts += rs->r[i].value && strstr(rs->r[i].value, "\npage=1\n") &&
			strstr(rs->r[i].value, "next_topics=[\"r.bf\"]\n");
	unit_check(rs->n == 5 && starts == 1 && rs->r[3].value &&
			   strstr(rs->r[3].value, "\npage=2\n") &&
			   strstr(rs->r[3].value, "next_topics=[\"r.bf2\",\"r.bf\"]\n") &&
			   rs->r[4].value && strstr(rs->r[4].value, "next_topics=[\"r.bf2\"]\n"),
			   "start records before pages 2 and 3 name their topics (%d records)", rs->n);
	s->ops->destroy(s);
	backfill_state_free(&st);
	recs_free(rs);
	free(rs);
}

int
main(void)
{
	if (!unit_check(harness_start(), "mock cluster of 3 brokers started"))
		return unit_done();
	case_state_and_resume();
	case_mark();
	case_marker();
	case_topic_moved();
	harness_stop();
	return unit_done();
}
