/*-------------------------------------------------------------------------
 *
 * test_kafka_record.c
 *		The Kafka sink's position record (kafka_record.c), against
 *		librdkafka's mock cluster: progress() is acknowledged only once the
 *		record holds it, recorded() caps what the bridge confirms, a new
 *		session at or below the record is vouched for and one past it is
 *		refused (a slot this run created too, to be dropped) unless
 *		--accept-new-source or a backfill re-delivers from there, another slot's record is not read, another system's record is
 *		none (the key is <sysid>/<dbname>/<slot>), the record of this slot
 *		on another timeline is fatal unless --accept-new-source (then it
 *		vouches for nothing), no record of a slot that delivered before
 *		(SINK_REPLAY_DELIVERED) is fatal unless the bridge created the slot
 *		or --accept-new-source; a start below the record under options that
 *		select more transactions than the recorded ones is refused; a
 *		session under such options keeps the recorded ones in the record up
 *		to the server's WAL end at its start, and a reconnect of the same
 *		process below that record goes on (its marks are its own).
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_harness.h"
#include "kafka_record.h"
#include "kafka_sink.h"
#include "log.h"
#include "unit.h"

#define POS "pos"

static const SinkSource src_b = {"7311000000000000002", 1, "postgres", "sa", 0};
static const SinkSource src_a_sb = {"7311000000000000001", 1, "postgres", "sb", 0};
static const SinkSource src_a_tl2 = {"7311000000000000001", 2, "postgres", "sa", 0};
static const SinkSource src_a_sc = {"7311000000000000001", 1, "postgres", "sc", 0};
static const SinkSource src_a_so = {"7311000000000000001", 1, "postgres", "so", 0};
static const SinkSource src_a_sp = {"7311000000000000001", 1, "postgres", "sp", 0};
static const SinkSource src_a_sr = {"7311000000000000001", 1, "postgres", "sr", 0};
/* so, the server's WAL at 0/2800 when the session began */
static const SinkSource src_a_so_w = {"7311000000000000001", 1, "postgres", "so", 0x2800};
static const SinkSource src_a_so_x = {"7311000000000000001", 1, "postgres", "so", 0x3800};

#define KEY_A "7311000000000000001/postgres/sa"
#define KEY_B "7311000000000000002/postgres/sa"
#define KEY_C "7311000000000000001/postgres/sc"

/* a session of src from lsn (flags); the sink, or NULL with err set */
static Sink *
session(TSink *ts, const SinkSource *src, uint64_t from, unsigned flags, int *rc)
{
	Sink	   *s = tsink_new(ts, NULL, NULL, NULL, NULL);

	ts->cfg.kafka_positions_topic = POS;
	*rc = s->ops->connect(s);
	if (*rc == SINK_OK)
		*rc = s->ops->replay_begin(s, src, from, flags);
	return s;
}

/* session() with --tables TABLES (NULL: none) */
static Sink *
session_tables(TSink *ts, const SinkSource *src, uint64_t from, unsigned flags,
			   const char *tables, int *rc)
{
	Sink	   *s = tsink_new(ts, NULL, NULL, NULL, NULL);

	ts->cfg.kafka_positions_topic = POS;
	ts->cfg.tables = tables;
	*rc = s->ops->connect(s);
	if (*rc == SINK_OK)
		*rc = s->ops->replay_begin(s, src, from, flags);
	return s;
}

/*
 * session_tables() of a replay under the recorded options OLD up to UNTIL,
 * as the bridge runs it after the sink's verdict (sink->replay_options)
 */
static Sink *
session_old(TSink *ts, const SinkSource *src, uint64_t from, const char *tables,
			const char *old, uint64_t until, int *rc)
{
	Sink	   *s = tsink_new(ts, NULL, NULL, NULL, NULL);

	ts->cfg.kafka_positions_topic = POS;
	ts->cfg.tables = tables;
	s->session_options = old;
	s->session_until = until;
	*rc = s->ops->connect(s);
	if (*rc == SINK_OK)
		*rc = s->ops->replay_begin(s, src, from, 0);
	return s;
}

/* progress(lsn) as the bridge calls it; SINK_OK once acknowledged */
static int
progress_wait(Sink *s, uint64_t lsn)
{
	LedgerTicket t = next_ticket++;
	int			rc = s->ops->progress(s, lsn, t);

	if (rc == SINK_OK)
		rc = wait_acks(s, t, 1, ACK_TIMEOUT_MS);
	return rc == SINK_OK && acked[t] == 1 ? SINK_OK : (rc != SINK_OK ? rc : SINK_RETRY);
}

/* the last record of key in the topic: its lsn header, or NULL */
static const char *
last_record(Recs *rs, const char *key)
{
	const char *lsn = NULL;

	read_topic(POS, rs);
	for (int i = 0; i < rs->n; i++)
		if (str_eq(rs->r[i].key, key))
			lsn = rs->r[i].lsn;
	return lsn;
}

/* sa's record behind its slot: refused, unless accepted or backfilled */
static void
case_record_behind(Recs *rs)
{
	TSink		ts;
	Sink	   *s;
	int			rc;

	/* moved past its record without the sink (test/t/551, 552) */
	s = session(&ts, &src_a, 0x3000, 0, &rc);
	if (rc == SINK_OK)
		rc = progress_wait(s, 0x3000);
	unit_check(rc == SINK_FATAL && strstr(s->err, "is at 0/2000, behind the position 0/3000") &&
			   strstr(s->err, "--accept-new-source") && strstr(s->err, "--backfill") &&
			   !s->new_slot_refused,
			   "a session starting past sa's record is refused (sb's does not count): %s", s->err);
	s->ops->destroy(s);
	s = session(&ts, &src_a, 0x3000, SINK_REPLAY_NEW_SLOT, &rc);
	if (rc == SINK_OK)
		rc = progress_wait(s, 0x3000);
	unit_check(rc == SINK_FATAL && strstr(s->err, "at 0/2000") &&
			   strstr(s->err, "this run created it at 0/3000") && s->new_slot_refused,
			   "a slot this run created past sa's record is refused, and is to be dropped: %s", s->err);
	s->ops->destroy(s);
	s = session(&ts, &src_a, 0x3000, SINK_REPLAY_NEW_SLOT | SINK_REPLAY_RECLAIMED, &rc);
	if (rc == SINK_OK)
		rc = progress_wait(s, 0x3000);
	unit_check(rc == SINK_FATAL && strstr(s->err, "an earlier run with --create-slot"),
			   "a reclaimed new slot says an earlier run created it: %s", s->err);
	s->ops->destroy(s);
	unit_check(str_eq(last_record(rs, KEY_A), "0/2000"), "nothing was recorded by the refused sessions");
	s = session(&ts, &src_a, 0x3000, SINK_REPLAY_ACCEPT_NEW, &rc);
	unit_check(rc == SINK_OK && progress_wait(s, 0x3000) == SINK_OK && !s->ops->vouches(s),
			   "--accept-new-source accepts the gap, vouching for nothing: %s", s->err);
	unit_check(str_eq(last_record(rs, KEY_A), "0/3000"), "it records its start");
	s->ops->destroy(s);

	/* a backfill re-delivers what the tables hold where the slot begins */
	s = session(&ts, &src_a, 0x5000, 0, &rc);
	if (rc == SINK_OK)
		kafka_record_backfill((KafkaSink *) s, 0x5000);
	poll_for(s, 600, &rc);
	unit_check(rc == SINK_OK && kafka_record_ready((KafkaSink *) s) && !s->ops->vouches(s) &&
			   str_eq(last_record(rs, KEY_A), "0/3000"),
			   "a backfill's session past the record goes on, vouching for nothing: %s", s->err);
	rc = s->ops->replay_begin(s, &src_a, 0x5000, SINK_REPLAY_NEW_SLOT);
	unit_check(rc == SINK_OK && progress_wait(s, 0x5000) == SINK_OK && !s->ops->vouches(s),
			   "and so does the stream session from the backfill's position: %s", s->err);
	s->ops->destroy(s);
}

static void
case_write_and_vouch(void)
{
	TSink		ts;
	Recs	   *rs = calloc(1, sizeof(Recs));
	Sink	   *s;
	int			rc;
	LedgerTicket t = next_ticket++;

	rd_kafka_mock_topic_create(mock, POS, 2, 1);
	s = session(&ts, &src_a, 0x1000, SINK_REPLAY_NEW_SLOT, &rc);
	unit_check(rc == SINK_OK, "a session of a new slot begins");
	unit_check(s->ops->progress(s, 0x1000, t) == SINK_OK && acked[t] == 0,
			   "progress() is not acknowledged before the record is read and written");
	unit_check(wait_acks(s, t, 1, ACK_TIMEOUT_MS) == SINK_OK && acked[t] == 1,
			   "then it is");
	unit_check(!s->ops->vouches(s), "no record vouched for the new slot");
	unit_check(s->ops->recorded(s) == 0x1000, "recorded() is its start");
	unit_check(str_eq(last_record(rs, KEY_A), "0/1000"), "the record of sa is at 0/1000");
	unit_check(s->ops->record(s, 0x2000) == SINK_OK, "record(0/2000) asked");
	poll_for(s, 400, &rc);
	unit_check(rc == SINK_OK && s->ops->recorded(s) == 0x2000,
			   "recorded() reaches it once Kafka acknowledged the record");
	unit_check(str_eq(last_record(rs, KEY_A), "0/2000") && str_eq(rs->r[rs->n - 1].source, SRC_A),
			   "the record names its source");
	s->ops->destroy(s);

	s = session(&ts, &src_a, 0x1800, 0, &rc);
	unit_check(rc == SINK_OK && progress_wait(s, 0x1800) == SINK_OK && s->ops->vouches(s),
			   "a later session starting below the record is vouched for");
	unit_check(s->ops->recorded(s) == 0x2000, "and recorded() is the record's position");
	s->ops->destroy(s);

	/* another slot's record, far ahead, written after sa's */
	s = session(&ts, &src_a_sb, 0x1000, SINK_REPLAY_NEW_SLOT, &rc);
	unit_check(rc == SINK_OK && progress_wait(s, 0x1000) == SINK_OK &&
			   s->ops->record(s, 0xFF000000) == SINK_OK, "slot sb records 0/FF000000");
	poll_for(s, 400, &rc);
	unit_check(s->ops->recorded(s) == 0xFF000000, "and has it recorded");
	s->ops->destroy(s);

	case_record_behind(rs);
	recs_free(rs);
	free(rs);
}

static void
case_other_source(void)
{
	TSink		ts;
	Sink	   *s;
	int			rc;
	LedgerTicket t = next_ticket++;

	s = session(&ts, &src_b, 0x1000, 0, &rc);
	if (rc == SINK_OK)
		rc = s->ops->progress(s, 0x1000, t);
	if (rc == SINK_OK)
		rc = wait_acks(s, t, 1, ACK_TIMEOUT_MS);
	unit_check(rc == SINK_OK && acked[t] == 1 && !s->ops->vouches(s),
			   "another system's slot of the same name has no record here: %s", s->err);
	s->ops->destroy(s);

	t = next_ticket++;
	s = session(&ts, &src_a_tl2, 0x3000, 0, &rc);
	if (rc == SINK_OK)
		rc = s->ops->progress(s, 0x3000, t);
	if (rc == SINK_OK)
		rc = wait_acks(s, t, 1, ACK_TIMEOUT_MS);
	unit_check(rc == SINK_FATAL && acked[t] == 0 && strstr(s->err, SRC_A) &&
			   strstr(s->err, "7311000000000000001/2/postgres/sa") &&
			   strstr(s->err, "another timeline") && strstr(s->err, "--accept-new-source"),
			   "this slot's record on another timeline is fatal, naming both: %s", s->err);
	s->ops->destroy(s);
	t = next_ticket++;
	s = session(&ts, &src_a_tl2, 0x3000, SINK_REPLAY_ACCEPT_NEW | SINK_REPLAY_NEW_SLOT, &rc);
	if (rc == SINK_OK)
		rc = s->ops->progress(s, 0x3000, t);
	if (rc == SINK_OK)
		rc = wait_acks(s, t, 1, ACK_TIMEOUT_MS);
	unit_check(rc == SINK_FATAL && acked[t] == 0 && s->new_slot_refused &&
			   strstr(s->err, "without --backfill would lose them") &&
			   strstr(s->err, "--create-slot --backfill[=CONDITION] --accept-new-source"),
			   "--accept-new-source with a slot this run created on another timeline is fatal, "
			   "naming the recovery: %s", s->err);
	s->ops->destroy(s);
	s = session(&ts, &src_a_tl2, 0x3000, SINK_REPLAY_ACCEPT_NEW, &rc);
	unit_check(rc == SINK_OK && progress_wait(s, 0x3000) == SINK_OK && !s->ops->vouches(s) &&
			   s->ops->recorded(s) == 0x3000,
			   "--accept-new-source takes it over, vouching for nothing");
	s->ops->destroy(s);
}

/* no record: a slot that delivered before was written into a cluster that lost it */
static void
case_none_delivered(void)
{
	static const SinkSource src_d = {"7311000000000000001", 1, "postgres", "sd", 0};
	static const SinkSource src_e = {"7311000000000000001", 1, "postgres", "se", 0};
	TSink		ts;
	Sink	   *s;
	int			rc;
	LedgerTicket t = next_ticket++;

	s = session(&ts, &src_d, 0x4000, SINK_REPLAY_DELIVERED, &rc);
	if (rc == SINK_OK)
		rc = s->ops->progress(s, 0x4000, t);
	if (rc == SINK_OK)
		rc = wait_acks(s, t, 1, ACK_TIMEOUT_MS);
	unit_check(rc == SINK_FATAL && acked[t] == 0 && strstr(s->err, "no position record of slot \"sd\"") &&
			   strstr(s->err, "0/4000") && strstr(s->err, "lost its data") &&
			   strstr(s->err, "--accept-new-source"),
			   "no record of a slot that delivered before is fatal, naming the slot, its position and the cause: %s",
			   s->err);
	s->ops->destroy(s);
	s = session(&ts, &src_d, 0x4000, SINK_REPLAY_DELIVERED | SINK_REPLAY_NEW_SLOT, &rc);
	unit_check(rc == SINK_OK && progress_wait(s, 0x4000) == SINK_OK,
			   "a slot the bridge created is new: %s", s->err);
	s->ops->destroy(s);
	s = session(&ts, &src_e, 0x4000, SINK_REPLAY_DELIVERED | SINK_REPLAY_ACCEPT_NEW, &rc);
	unit_check(rc == SINK_OK && progress_wait(s, 0x4000) == SINK_OK && !s->ops->vouches(s),
			   "--accept-new-source continues from the slot's position, vouching for nothing: %s", s->err);
	s->ops->destroy(s);
	s = session(&ts, &src_e, 0x4000, SINK_REPLAY_DELIVERED, &rc);
	unit_check(rc == SINK_OK && progress_wait(s, 0x4000) == SINK_OK,
			   "then the record is there and the next session is not refused: %s", s->err);
	s->ops->destroy(s);
}

/* --kafka-transactions: the record counts once its transaction committed */
static void
case_txn(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	Recs	   *rs = calloc(1, sizeof(Recs));
	int			rc;

	ts.cfg.kafka_positions_topic = POS;
	ts.cfg.kafka_transactions = true;
	ts.cfg.slot = "sa";
	rc = s->ops->connect(s);
	if (rc == SINK_OK)
		rc = s->ops->replay_begin(s, &src_b, 0x800, 0);
	unit_check(rc == SINK_OK && progress_wait(s, 0x800) == SINK_OK && s->ops->vouches(s),
			   "transactions: the session is vouched for");
	unit_check(s->ops->record(s, 0x6000) == SINK_OK, "record(0/6000) asked");
	poll_for(s, 1500, &rc);
	unit_check(rc == SINK_OK && s->ops->recorded(s) == 0x6000, "recorded once committed");
	unit_check(str_eq(last_record(rs, KEY_B), "0/6000"), "and read back");
	s->ops->destroy(s);
	recs_free(rs);
	free(rs);
}

/*
 * The producer fails (the record's write refused: gap-less guarantee) and
 * the bridge connects again, but cannot begin the next session yet (the
 * slot is busy for a moment): polls in between must not touch the old
 * session's record.  They wrote its position through the topic handle the
 * failed producer took with it, a NULL: a crash (test/t/258 under load).
 */
static void
case_reconnect_before_session(void)
{
	TSink		ts;
	Recs	   *rs = calloc(1, sizeof(Recs));
	Sink	   *s;
	int			rc;
	LedgerTicket t = next_ticket++;
	double		waited = 0;

	s = session(&ts, &src_a_sc, 0x5000, SINK_REPLAY_NEW_SLOT, &rc);
	unit_check(rc == SINK_OK, "a session of slot sc begins");
	rd_kafka_mock_push_request_errors(mock, API_PRODUCE, 1,
									  RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
	rc = s->ops->progress(s, 0x5000, t);
	while (rc == SINK_OK && waited < ACK_TIMEOUT_MS)
		waited += poll_for(s, 100, &rc);
	unit_check(rc != SINK_OK && acked[t] == 0, "the refused record write fails the sink: %s", s->err);
	s->ops->disconnect(s);
	rc = s->ops->connect(s);
	unit_check(rc == SINK_OK, "the sink connects again");
	poll_for(s, 500, &rc);
	unit_check(rc == SINK_OK, "polls before the next session begins do nothing (and do not crash)");
	unit_check(last_record(rs, KEY_C) == NULL, "and write no record");
	rc = s->ops->replay_begin(s, &src_a_sc, 0x5000, SINK_REPLAY_NEW_SLOT);
	unit_check(rc == SINK_OK && progress_wait(s, 0x5000) == SINK_OK,
			   "the next session records its start");
	unit_check(str_eq(last_record(rs, KEY_C), "0/5000"), "the record of sc is at 0/5000");
	s->ops->destroy(s);
	recs_free(rs);
	free(rs);
}

/* a record as a bridge before the options header wrote it: source, lsn, shape */
static void
produce_old_record(const char *key, const char *source, const char *lsn)
{
	rd_kafka_t *rk = new_client(RD_KAFKA_PRODUCER, NULL);
	rd_kafka_headers_t *h = rd_kafka_headers_new(3);

	rd_kafka_header_add(h, "source", -1, source, -1);
	rd_kafka_header_add(h, "lsn", -1, lsn, -1);
	rd_kafka_header_add(h, "shape", -1, "plugin=wal2queue key-column= route-column= target-prefix=", -1);
	rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(POS), RD_KAFKA_V_PARTITION(part_of(key, 2)),
					  RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE("{}", 2),
					  RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
	rd_kafka_flush(rk, 5000);
	rd_kafka_destroy(rk);
}

/* is the last record of key at lsn, with the options header options? */
static bool
record_is(const char *key, const char *lsn, const char *options)
{
	Recs	   *rs = calloc(1, sizeof(Recs));
	const Rec  *r = NULL;
	bool		ok;

	read_topic(POS, rs);
	for (int i = 0; i < rs->n; i++)
		if (str_eq(rs->r[i].key, key))
			r = &rs->r[i];
	ok = r != NULL && str_eq(r->lsn, lsn) && str_eq(r->options, options);
	if (!ok)
		printf("# last record of %s: lsn %s, options %s\n", key, r && r->lsn ? r->lsn : "none",
			   r && r->options ? r->options : "none");
	recs_free(rs);
	free(rs);
	return ok;
}

/*
 * The options that chose transactions (header options, test/t/601): a
 * start below the record under options that select more is refused; the
 * same set in another spelling, a start at the record, and narrower
 * options below it go on; a wider session keeps the recorded options in
 * the record up to the server's WAL end at its start (test/t/631)
 */
static void
case_options(void)
{
	TSink		ts;
	Sink	   *s;
	int			rc;

	s = session_tables(&ts, &src_a_so, 0x1000, SINK_REPLAY_NEW_SLOT, "public.a", &rc);
	unit_check(rc == SINK_OK && progress_wait(s, 0x1000) == SINK_OK &&
			   s->ops->record(s, 0x2000) == SINK_OK, "slot so records 0/2000 under public.a");
	poll_for(s, 400, &rc);
	unit_check(s->ops->recorded(s) == 0x2000, "and has it recorded");
	s->ops->destroy(s);

	s = session_tables(&ts, &src_a_so, 0x1800, 0, "public.a,public.b", &rc);
	if (rc == SINK_OK)
		rc = progress_wait(s, 0x1800);
	unit_check(rc == SINK_FATAL &&
			   strstr(s->err, "written with the options \"--plugin=wal2queue --tables=public.a\", "
					  "but this bridge runs with \"--plugin=wal2queue --tables=public.a,public.b\", "
					  "which select transactions those did not, and the slot restarts at 0/1800") &&
			   strstr(s->err, "restart once with the recorded options until slot \"so\" has "
					  "confirmed past 0/2000"),
			   "a wider --tables below the record is refused: %s", s->err);
	s->ops->destroy(s);
	s = session_tables(&ts, &src_a_so, 0x1800, 0, NULL, &rc);
	if (rc == SINK_OK)
		rc = progress_wait(s, 0x1800);
	unit_check(rc == SINK_FATAL && strstr(s->err, "\"--plugin=wal2queue, no --tables\""),
			   "so is no --tables: %s", s->err);
	s->ops->destroy(s);
	{
		char		many[2048] = "public.a";
		size_t		n;

		for (int i = 0; i < 40; i++)
			snprintf(many + strlen(many), sizeof(many) - strlen(many),
					 ",public.a_rather_long_table_name_%02d", i);
		s = session_tables(&ts, &src_a_so, 0x1800, 0, many, &rc);
		if (rc == SINK_OK)
			rc = progress_wait(s, 0x1800);
		n = strlen(s->err);
		unit_check(rc == SINK_FATAL && n < SINK_ERRLEN - 1 &&
				   strstr(s->err, "\"--plugin=wal2queue --tables=public.a\"") &&
				   strstr(s->err, "\"--plugin=wal2queue --tables=public.a,public.a_rather_long_table_name_00") &&
				   strstr(s->err, "more)\"") &&
				   n > 20 && str_eq(s->err + n - strlen("--accept-new-source)"), "--accept-new-source)"),
				   "a long --tables is shortened, the way out whole (%zu characters): %s", n, s->err);
		s->ops->destroy(s);
	}
	s = session_tables(&ts, &src_a_so, 0x1800, 0, " public.a,public.a ", &rc);
	unit_check(rc == SINK_OK && progress_wait(s, 0x1800) == SINK_OK && s->ops->vouches(s),
			   "the recorded set in another spelling goes on: %s", s->err);
	s->ops->destroy(s);
	/* with the server's WAL end known: a replay under the recorded options first (660) */
	s = session_tables(&ts, &src_a_so_w, 0x2000, 0, "public.b, public.a", &rc);
	if (rc == SINK_OK)
		rc = progress_wait(s, 0x2000);
	unit_check(rc == SINK_RETRY && s->replay_options &&
			   str_eq(s->replay_options, "--plugin=wal2queue --tables=public.a") &&
			   s->replay_until == 0x2800 &&
			   strstr(s->err, "and the slot restarts at 0/2000, below 0/2800 (the server's WAL end") &&
			   strstr(s->err, "replaying under them until the slot has passed it"),
			   "a wider --tables at the record replays under the recorded options up to the "
			   "server's WAL end: %s", s->err);
	free(s->replay_options);
	s->replay_options = NULL;
	s->ops->destroy(s);
	s = session_old(&ts, &src_a_so_w, 0x2000, "public.b, public.a",
					"--plugin=wal2queue --tables=public.a", 0x2800, &rc);
	unit_check(rc == SINK_OK && progress_wait(s, 0x2000) == SINK_OK &&
			   s->ops->record(s, 0x2800) == SINK_OK,
			   "the replay under them goes on: %s", s->err);
	poll_for(s, 400, &rc);
	unit_check(s->ops->recorded(s) == 0x2800, "and records 0/2800");
	unit_check(record_is("7311000000000000001/postgres/so", "0/2800",
						 "--plugin=wal2queue --tables=public.a"),
			   "with the recorded options");
	s->session_options = NULL;	/* the bridge switches */
	rc = s->ops->replay_begin(s, &src_a_so_w, 0x2800, 0);
	unit_check(rc == SINK_OK && progress_wait(s, 0x2800) == SINK_OK && s->ops->vouches(s),
			   "the next session of the process streams with its own from there: %s", s->err);
	poll_for(s, 400, &rc);
	unit_check(record_is("7311000000000000001/postgres/so", "0/2800",
						 "--plugin=wal2queue --tables=public.b, public.a"),
			   "its record names them at once (its jobs wait for it)");
	unit_check(s->ops->record(s, 0x3000) == SINK_OK, "record(0/3000) asked");
	poll_for(s, 400, &rc);
	unit_check(s->ops->recorded(s) == 0x3000, "and records 0/3000");
	unit_check(record_is("7311000000000000001/postgres/so", "0/3000",
						 "--plugin=wal2queue --tables=public.b, public.a"),
			   "past it with its own");
	s->ops->destroy(s);
	s = session_tables(&ts, &src_a_so_x, 0x2400, 0, "public.a,public.b", &rc);
	if (rc == SINK_OK)
		rc = progress_wait(s, 0x2400);
	unit_check(rc == SINK_RETRY && s->replay_options &&
			   str_eq(s->replay_options, "--plugin=wal2queue --tables=public.a") &&
			   s->replay_until == 0x2800,
			   "a crash that takes the slot back below the switch replays under the old options "
			   "again (options_below): %s", s->err);
	free(s->replay_options);
	s->replay_options = NULL;
	s->ops->destroy(s);
	s = session_tables(&ts, &src_a_so_x, 0x2800, 0, "public.a,public.b", &rc);
	unit_check(rc == SINK_OK && progress_wait(s, 0x2800) == SINK_OK && s->ops->vouches(s),
			   "at the switch it goes on: %s", s->err);
	s->ops->destroy(s);
	s = session_tables(&ts, &src_a_so_x, 0x2800, 0, "public.a", &rc);
	if (rc == SINK_OK)
		rc = progress_wait(s, 0x2800);
	unit_check(rc == SINK_RETRY && s->replay_options &&
			   str_eq(s->replay_options, "--plugin=wal2queue --tables=public.b, public.a") &&
			   s->replay_until == 0x3800,
			   "a narrower --tables below the WAL end replays under the recorded (wider) ones: %s",
			   s->err);
	free(s->replay_options);
	s->replay_options = NULL;
	s->ops->destroy(s);
	s = session_tables(&ts, &src_a_so, 0x2800, 0, "public.b", &rc);
	unit_check(rc == SINK_OK && progress_wait(s, 0x2800) == SINK_OK && s->ops->vouches(s),
			   "a narrower --tables below the record goes on: %s", s->err);
	s->ops->destroy(s);
	s = session_tables(&ts, &src_a_so, 0x2800, SINK_REPLAY_ACCEPT_NEW, "public.c", &rc);
	unit_check(rc == SINK_OK && progress_wait(s, 0x2800) == SINK_OK,
			   "another table below the record with --accept-new-source starts (a skip stops it): %s",
			   s->err);
	s->ops->destroy(s);

	/* a record of an older bridge (no options header) is not judged: an upgrade */
	produce_old_record("7311000000000000001/postgres/sp", "7311000000000000001/1/postgres/sp", "0/2000");
	s = session_tables(&ts, &src_a_sp, 0x1800, SINK_REPLAY_DELIVERED, "public.a,public.b", &rc);
	unit_check(rc == SINK_OK && progress_wait(s, 0x1800) == SINK_OK && s->ops->vouches(s),
			   "a record without options below the slot's start is not judged: %s", s->err);
	unit_check(s->ops->record(s, 0x2800) == SINK_OK, "record(0/2800) asked");
	poll_for(s, 400, &rc);
	unit_check(s->ops->recorded(s) == 0x2800, "and recorded");
	s->ops->destroy(s);
	s = session_tables(&ts, &src_a_sp, 0x1800, 0, "public.c", &rc);
	if (rc == SINK_OK)
		rc = progress_wait(s, 0x1800);
	unit_check(rc == SINK_FATAL && strstr(s->err, "written with the options \"--plugin=wal2queue "
											"--tables=public.a,public.b\""),
			   "the next session reads the options the upgraded bridge recorded: %s", s->err);
	s->ops->destroy(s);
}

/*
 * One job for topic "own" in each transaction, committed at lsn and every
 * 0x100 after it, n of them; all acknowledged? (a skipped one is once the
 * replay showed the mark's transaction)
 */
static bool
own_txns(Sink *s, uint64_t lsn, int n)
{
	TJob		j = {.target = "own", .key = "k1"};
	LedgerTicket t[8];
	int			rc = SINK_OK;

	for (int i = 0; i < n && rc == SINK_OK; i++)
		rc = run_txn(s, make_txn((uint32_t) (lsn >> 8) + i, lsn + (uint64_t) i * 0x100), &j, 1, &t[i]);
	for (int i = 0; i < n && rc == SINK_OK; i++)
		if ((rc = wait_acks(s, t[i], 1, ACK_TIMEOUT_MS)) == SINK_OK && acked[t[i]] != 1)
			rc = SINK_RETRY;
	return rc == SINK_OK;
}

/*
 * With no WAL end known (else the session replays under the recorded
 * options first: case_options), a wider --tables keeps the recorded
 * options in the record all session (test/t/631); a reconnect of the same
 * process below that record (the slot confirmed less than the record)
 * takes the marks of the jobs its earlier session wrote for its own: it
 * goes on, each job once, where a record of another process would stop it
 */
static void
case_options_reconnect(void)
{
	TSink		ts;
	Sink	   *s;
	Recs	   *rs = calloc(1, sizeof(Recs));
	int			rc;

	rd_kafka_mock_topic_create(mock, "own", 1, 1);
	s = session_tables(&ts, &src_a_sr, 0x1000, SINK_REPLAY_NEW_SLOT, "public.a", &rc);
	unit_check(rc == SINK_OK && progress_wait(s, 0x1000) == SINK_OK &&
			   s->ops->record(s, 0x2000) == SINK_OK, "slot sr records 0/2000 under public.a");
	poll_for(s, 400, &rc);
	s->ops->destroy(s);

	s = session_tables(&ts, &src_a_sr, 0x2000, 0, "public.a,public.b", &rc);
	unit_check(rc == SINK_OK && progress_wait(s, 0x2000) == SINK_OK &&
			   own_txns(s, 0x3000, 2) && s->ops->record(s, 0x3050) == SINK_OK,
			   "a wider --tables at the record writes two jobs: %s", s->err);
	poll_for(s, 400, &rc);
	unit_check(record_is("7311000000000000001/postgres/sr", "0/3050",
						 "--plugin=wal2queue --tables=public.a"),
			   "and records 0/3050 with the recorded options");
	rc = s->ops->replay_begin(s, &src_a_sr, 0x2800, 0);
	unit_check(rc == SINK_OK && own_txns(s, 0x3000, 3),
			   "a reconnect of the same process below that record replays the two jobs and "
			   "writes a third: %s", s->err);
	rc = read_topic("own", rs);
	unit_check(rc == 1 && rs->n == 3, "each job once (%d messages)", rs->n);
	s->ops->destroy(s);

	s = session_tables(&ts, &src_a_sr, 0x2800, 0, "public.a,public.b", &rc);
	if (rc == SINK_OK)
		rc = progress_wait(s, 0x2800);
	unit_check(rc == SINK_FATAL && strstr(s->err, "was written with the options \"--plugin=wal2queue "
											"--tables=public.a\""),
			   "another process below it stops: %s", s->err);
	s->ops->destroy(s);
	recs_free(rs);
	free(rs);
}

int
main(void)
{
	if (!unit_check(harness_start(), "mock cluster of 3 brokers started"))
		return unit_done();
	case_write_and_vouch();
	case_other_source();
	case_txn();
	case_reconnect_before_session();
	case_none_delivered();
	case_options();
	case_options_reconnect();
	harness_stop();
	return unit_done();
}
