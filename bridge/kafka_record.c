/*-------------------------------------------------------------------------
 *
 * kafka_record.c
 *		The Kafka sink's position record: per source, how far the slot's
 *		stream is durably delivered, in a control topic
 *		(--kafka-positions-topic, default wal2queue.positions).
 *
 * The marks (kafka_marks.c) say how far each partition got, not how far
 * the slot did: the slot confirms past the last mark whenever the stream
 * is idle.  So without a record no Kafka session could be vouched for
 * (docs/extension.md, "Attestation").  The record is one message per
 * write, keyed by the source without its timeline
 * (<sysid>/<dbname>/<slot>: deployments sharing a cluster, even with slots
 * named alike, keep records apart, and a promotion finds its record), with
 * headers source (<sysid>/<timeline>/<dbname>/<slot>) and lsn; the record
 * of a source is the last message with its key (the topic is created compacted when the
 * bridge creates it).  As the Redis record:
 *	- a record is written only at a position every job below which Kafka
 *	  acknowledged (the ledger's confirmable position, or a position
 *	  without jobs with nothing in flight: progress()); with
 *	  --kafka-transactions inside a Kafka transaction, and it counts once
 *	  that committed;
 *	- the bridge confirms nothing past the record (sink.h, recorded), so
 *	  the slot never starts past it unless it was moved without the bridge;
 *	- a session whose slot starts at or below the record of its own source
 *	  is vouched for (the bridge attests it without unrecorded_from); one
 *	  that finds no record is not (attest_slot() decides from the
 *	  registry, as before);
 *	- one whose slot starts past the record of its own source stops the
 *	  bridge: the slot moved without the sink (advanced, consumed, dropped
 *	  and re-created; by this run's --create-slot: the slot is dropped
 *	  again), as Redis's GAP and NEWSLOT; unless --accept-new-source (the
 *	  gap accepted, vouching for nothing) or a backfill of this process
 *	  re-delivers what the tables hold from there (kafka_record_backfill);
 *	- no record of a slot that delivered before (SINK_REPLAY_DELIVERED)
 *	  stops the bridge, unless it created the slot or --accept-new-source:
 *	  the cluster lost the record and the jobs (as Redis's NORECORD);
 *	- a record of another system has another key: it is none here (the
 *	  job topics' marks still catch a real change of source);
 *	- a record of this key for another source (another timeline) stops
 *	  the bridge, unless
 *	  --accept-new-source (then it is taken over, vouching for nothing);
 *	  one of this source past the server's WAL end (a restored copy)
 *	  vouches for nothing either;
 *	- the record keeps what decides a job's topic and partition (header
 *	  shape) and what chooses the transactions (header options: the plugin,
 *	  --publication, --tables): a replay from below it under another shape
 *	  stops the bridge (record_shape()); under other options (a job's seq
 *	  depends on them) the session replays under the recorded ones up to
 *	  the old horizon, then switches (record_options(); the bridge reopens
 *	  the stream: bridge.c old_options_switch()), and the record keeps the
 *	  old options below the switch (headers options_below,
 *	  options_below_until); the verdicts are kafka_record_verdict.c's.
 * The record dedupes nothing (the marks do), so taking one over can lose
 * or double no job.
 *
 * Reading the record (at every session start, once the previous session's
 * messages are all reported) runs on the worker thread of kafka_marks.c
 * (kafka_record_read.c).  Nothing is produced or acknowledged in the
 * session before the verdict.  Writes: at most one in flight and one per
 * RECORD_GAP_MS, of the newest position asked for.
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "kafka_record.h"
#include "kafka_record_internal.h"
#include "kafka_sink.h"
#include "log.h"
#include "txn_options.h"

#define RECORD_GAP_MS 20		/* at most one record write per this */
#define RECORD_STALL_MS 10000	/* a write in flight this long: reconnect */

/* the record's state: kafka_record_internal.h */

static bool
enabled(const KafkaSink *ks)
{
	const char *t = ks->sink.cfg->kafka_positions_topic;

	return t != NULL && t[0] != '\0';
}

static const char *
topic_name(const KafkaSink *ks)
{
	return ks->sink.cfg->kafka_positions_topic;
}

void
kafka_record_req_free(RecordReq *q)
{
	if (q == NULL)
		return;
	free(q->topic);
	free(q->key);
	free(q->options);
	free(q->below);
	free(q);
}

static int
rreq_start(KafkaSink *ks, KafkaRecord *rec)
{
	RecordReq  *q = calloc(1, sizeof(RecordReq));

	if (q == NULL || (q->topic = strdup(topic_name(ks))) == NULL ||
		(q->key = strdup(rec->key)) == NULL)
	{
		kafka_record_req_free(q);
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
	}
	q->ks = ks;
	q->session = ks->session;
	q->create = !rec->create_tried;
	rec->create_tried = true;
	q->work.run = kafka_record_read;
	kafka_worker_submit(ks, &q->work);
	rec->req = q;
	rec->state = REC_READING;
	return SINK_OK;
}

/* pick up the worker's answer */
static int
record_collect(KafkaSink *ks, KafkaRecord *rec)
{
	RecordReq  *q = rec->req;
	int			rc;

	if (!kafka_work_done(ks, &q->work))
		return SINK_OK;
	rec->req = NULL;
	rec->state = REC_UNREAD;
	if (q->session != ks->session)
	{
		kafka_record_req_free(q);			/* read for an earlier session: read again */
		return SINK_OK;
	}
	rc = q->rc != SINK_OK ? errbuf_set(ks->sink.err, sizeof(ks->sink.err), q->rc, "%s", q->err)
		: kafka_record_apply(ks, rec, q);
	kafka_record_req_free(q);
	/* nothing was produced before the verdict: a slot made for it goes */
	if (rc == SINK_FATAL && (ks->flags & SINK_REPLAY_NEW_SLOT))
		ks->sink.new_slot_refused = true;
	if (rc == SINK_OK)
		rec->state = REC_READY;
	return rc;
}

/* ---- writing ---- */

static int
record_produce(KafkaSink *ks, KafkaRecord *rec, uint64_t lsn)
{
	char		lsn_s[LSN_STRLEN];
	char		value[KAFKA_SOURCE_LEN + LSN_STRLEN + 32];
	char		shape[KAFKA_SHAPE_LEN];
	char		below_s[LSN_STRLEN];
	rd_kafka_headers_t *h = rd_kafka_headers_new(6);
	rd_kafka_resp_err_t err;
	const char *options = rec->options;

	lsn_format(lsn, lsn_s, sizeof(lsn_s));
	/* under wider options: the recorded ones until past the old marks */
	if (rec->was_options != NULL && lsn <= rec->was_until)
		options = rec->was_options;
	else if (rec->was_options != NULL && !rec->was_passed)
	{
		char		u[LSN_STRLEN];

		rec->was_passed = true;
		log_msg(LOG_INFO, "slot \"%s\": the position record takes the options \"%s\" at %s, "
				"past %s (the server's WAL end at the session's start: every mark written "
				"under \"%s\" is at or below it)", ks->src.slot, rec->options, lsn_s,
				lsn_format(rec->was_until, u, sizeof(u)), rec->was_options);
	}
	kafka_record_shape_format(ks, shape, sizeof(shape));
	snprintf(value, sizeof(value), "{\"source\":\"%s\",\"lsn\":\"%s\"}", ks->source, lsn_s);
	if (h == NULL || rd_kafka_header_add(h, "source", -1, ks->source, -1) ||
		rd_kafka_header_add(h, "lsn", -1, lsn_s, -1) ||
		rd_kafka_header_add(h, "shape", -1, shape, -1) ||
		rd_kafka_header_add(h, "options", -1, options, -1) ||
		(rec->below != NULL && options == rec->options &&
		 (rd_kafka_header_add(h, "options_below", -1, rec->below, -1) ||
		  rd_kafka_header_add(h, "options_below_until", -1,
							  lsn_format(rec->below_until, below_s, sizeof(below_s)), -1))))
	{
		if (h)
			rd_kafka_headers_destroy(h);
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
	}
	err = rd_kafka_producev(ks->rk, RD_KAFKA_V_RKT(rec->rkt), RD_KAFKA_V_PARTITION(rec->partition),
							RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
							RD_KAFKA_V_VALUE(value, strlen(value)),
							RD_KAFKA_V_KEY(rec->key, strlen(rec->key)),
							RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(&rec->opaque),
							RD_KAFKA_V_END);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		rd_kafka_headers_destroy(h);
		if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			return SINK_OK;		/* tried again at the next poll */
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY,
						  "could not write the position record to kafka topic \"%s\": %s",
						  topic_name(ks), rd_kafka_err2str(err));
	}
	rec->inflight = true;
	rec->delivered = false;
	rec->inflight_lsn = lsn;
	rec->inflight_kept = options != rec->options;
	rec->inflight_txn = ks->txn_no;
	rec->last_write_us = now_us();
	return SINK_OK;
}

/* write the newest position asked for, if one is due */
static int
record_write(KafkaSink *ks, KafkaRecord *rec)
{
	bool		own_txn;
	int			rc;

	/* a hold writes the record with this session's options even where it is */
	if (rec->inflight || (rec->want <= rec->recorded && !rec->hold) ||
		now_us() - rec->last_write_us < (int64_t) RECORD_GAP_MS * 1000)
		return SINK_OK;
	if (ks->txn_mode && ks->txn != TXN_IDLE && ks->txn != TXN_OPEN)
		return SINK_OK;			/* a transactional call is under way */
	own_txn = ks->txn == TXN_IDLE;
	if (own_txn && (rc = kafka_txn_begin(ks, 0)) != SINK_OK)
		return rc;
	if ((rc = record_produce(ks, rec, rec->want > rec->recorded ? rec->want : rec->recorded)) != SINK_OK)
		return rc;
	/* a transaction of its own commits at once, step by step from poll */
	return own_txn ? kafka_txn_commit(ks, false) : SINK_OK;
}

/* a record delivered (and with transactions committed) counts */
static void
record_settle(KafkaSink *ks, KafkaRecord *rec)
{
	if (!rec->inflight || !rec->delivered ||
		(ks->txn_mode && rec->committed_txn < rec->inflight_txn))
		return;
	rec->inflight = false;
	if (rec->session == ks->session && rec->inflight_lsn > rec->recorded)
		rec->recorded = rec->inflight_lsn;
	if (rec->session == ks->session && rec->inflight_kept && rec->inflight_lsn > rec->own_rec)
		rec->own_rec = rec->inflight_lsn;
	if (rec->session == ks->session && !rec->inflight_kept)
		rec->hold = false;		/* the record names this session's options */
	if (rec->session == ks->session && ks->sink.session_options != NULL &&
		rec->inflight_lsn >= ks->sink.session_until)
	{
		free(rec->switch_options);
		rec->switch_options = strdup(ks->sink.session_options);
		rec->switch_lsn = rec->inflight_lsn;
	}
	kafka_wake(ks);
}

/* acknowledge the progress() calls the record reached */
static void
record_release(KafkaSink *ks, KafkaRecord *rec)
{
	size_t		i,
				j = 0;

	for (i = 0; i < rec->nwaiters; i++)
	{
		if (rec->waiters[i].lsn <= rec->recorded)
			kafka_ack_push(ks, &ks->acks, rec->waiters[i].ticket, 1);
		else
			rec->waiters[j++] = rec->waiters[i];
	}
	rec->nwaiters = j;
}

/* ---- the sink's side ---- */

/* a session begins (replay_begin): read the record again */
int
kafka_record_begin(KafkaSink *ks)
{
	KafkaRecord *rec = ks->rec;

	if (!enabled(ks))
		return SINK_OK;
	if (rec == NULL && (rec = ks->rec = calloc(1, sizeof(KafkaRecord))) == NULL)
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
	if (rec->rkt == NULL && (rec->rkt = rd_kafka_topic_new(ks->rk, topic_name(ks), NULL)) == NULL)
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY,
						  "could not open kafka topic \"%s\": %s", topic_name(ks),
						  rd_kafka_err2str(rd_kafka_last_error()));
	/* a replay under the recorded options records them (bridge.c) */
	free(rec->options);
	rec->options = ks->sink.session_options ? strdup(ks->sink.session_options) :
		txn_options_text(ks->sink.cfg);
	if (rec->options == NULL)
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
	rec->hold = false;
	free(rec->below);
	rec->below = NULL;
	free(rec->was_options);
	rec->was_options = NULL;
	kafka_record_key(ks, rec->key, sizeof(rec->key));
	ks->sink.new_slot_refused = false;
	rec->state = rec->req ? REC_READING : REC_UNREAD;
	rec->session = ks->session;
	rec->vouched = false;
	rec->recorded = 0;
	rec->want = 0;
	rec->nwaiters = 0;
	rec->last_write_us = 0;
	return SINK_OK;
}

/*
 * The session just begun writes a backfill of what the tables hold at lsn
 * (kafka_backfill.c): a record behind lsn is what the backfill re-delivers,
 * in this session and in the stream session that starts at lsn after it.
 */
void
kafka_record_backfill(KafkaSink *ks, uint64_t lsn)
{
	if (ks->rec == NULL)
		return;
	ks->rec->backfill_session = ks->session;
	ks->rec->backfilled_at = lsn;
}

/* may this session produce: is the record's verdict known? */
bool
kafka_record_ready(const KafkaSink *ks)
{
	return !enabled(ks) || (ks->rec != NULL && ks->rec->state == REC_READY);
}

/* may this session's jobs go out: does the record name its options yet? */
bool
kafka_record_holds(const KafkaSink *ks)
{
	return enabled(ks) && ks->rec != NULL && ks->rec->hold;
}

/* read, pick up, write, acknowledge: from pump */
int
kafka_record_pump(KafkaSink *ks)
{
	KafkaRecord *rec = ks->rec;
	int			rc = SINK_OK;

	if (!enabled(ks) || rec == NULL || ks->session == 0)
		return SINK_OK;
	if (rec->state == REC_READING && (rc = record_collect(ks, rec)) != SINK_OK)
		return rc;
	if (rec->state == REC_UNREAD && !ks->settling && !rec->inflight)
		return rreq_start(ks, rec);
	if (rec->state != REC_READY)
		return SINK_OK;
	if (rec->inflight && !rec->delivered &&
		now_us() - rec->last_write_us > (int64_t) RECORD_STALL_MS * 1000)
	{
		/* a retry: the bridge logs it as a WARNING and reconnects */
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY,
						  "the write of the position record of slot \"%s\" to kafka topic \"%s\" "
						  "is unanswered after %d s", ks->src.slot, topic_name(ks),
						  RECORD_STALL_MS / 1000);
	}
	rc = record_write(ks, rec);
	record_release(ks, rec);
	return rc;
}

/* progress(): acknowledge t once the record holds lsn */
int
kafka_record_progress(KafkaSink *ks, uint64_t lsn, LedgerTicket t)
{
	KafkaRecord *rec = ks->rec;

	if (!enabled(ks))
	{
		kafka_ack_push(ks, &ks->acks, t, 1);
		return SINK_OK;
	}
	if (rec == NULL)
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_FATAL,
						  "kafka sink: progress before the session's record was set up");
	if (rec->nwaiters == rec->cap)
	{
		size_t		cap = rec->cap ? rec->cap * 2 : 8;
		RecWaiter  *p = realloc(rec->waiters, cap * sizeof(RecWaiter));

		if (p == NULL)
			return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
		rec->waiters = p;
		rec->cap = cap;
	}
	rec->waiters[rec->nwaiters++] = (RecWaiter) {lsn, t};
	if (lsn > rec->want)
		rec->want = lsn;
	kafka_wake(ks);
	return SINK_OK;
}

/* the record's delivery report? (then handled here) */
bool
kafka_record_report(KafkaSink *ks, const rd_kafka_message_t *rm)
{
	KafkaRecord *rec = ks->rec;

	if (rec == NULL || rm->_private != &rec->opaque)
		return false;
	if (ks->discarding || !rec->inflight)
		return true;
	if (rm->err != RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		rec->inflight = false;
		if (rm->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE && rm->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
			kafka_fail(ks, SINK_RETRY, "could not write the position record of slot \"%s\" to "
					   "kafka topic \"%s\": %s", ks->src.slot, topic_name(ks),
					   rd_kafka_err2str(rm->err));
		return true;
	}
	rec->delivered = true;
	record_settle(ks, rec);
	return true;
}

/* --kafka-transactions: every transaction begun so far committed */
void
kafka_record_committed(KafkaSink *ks)
{
	if (ks->rec == NULL)
		return;
	ks->rec->committed_txn = ks->txn_no;
	record_settle(ks, ks->rec);
}

/* is a record write still to come or in flight (drain waits for it)? */
bool
kafka_record_busy(const KafkaSink *ks)
{
	const KafkaRecord *rec = ks->rec;

	return enabled(ks) && rec != NULL && rec->state == REC_READY &&
		(rec->inflight || rec->want > rec->recorded);
}

/* the producer goes (the worker is stopped): forget the look-up and writes */
void
kafka_record_close(KafkaSink *ks)
{
	KafkaRecord *rec = ks->rec;

	if (rec == NULL)
		return;
	kafka_record_req_free(rec->req);
	rec->req = NULL;
	if (rec->rkt)
		rd_kafka_topic_destroy(rec->rkt);
	rec->rkt = NULL;
	/*
	 * Nothing of this session is read or written again: a reconnected
	 * producer pumped a session that replay_begin had not started yet, and
	 * wrote the old session's position through the destroyed topic handle
	 * (a crash in CI, test 258); kafka_record_begin opens the next one.
	 */
	rec->state = REC_CLOSED;
	rec->inflight = false;
	rec->nwaiters = 0;
	rec->want = 0;
}

void
kafka_record_free(KafkaSink *ks)
{
	if (ks->rec == NULL)
		return;
	kafka_record_close(ks);
	free(ks->rec->options);
	free(ks->rec->was_options);
	free(ks->rec->own_was);
	free(ks->rec->switch_options);
	free(ks->rec->below);
	free(ks->rec->waiters);
	free(ks->rec);
	ks->rec = NULL;
}

/* ---- SinkOps ---- */

int
kafka_record_want(Sink *s, uint64_t lsn)
{
	KafkaSink  *ks = (KafkaSink *) s;

	if (enabled(ks) && ks->rec != NULL && lsn > ks->rec->want)
		ks->rec->want = lsn;
	return ks->failed;
}

uint64_t
kafka_record_recorded(Sink *s)
{
	KafkaSink  *ks = (KafkaSink *) s;

	if (!enabled(ks))
		return UINT64_MAX;
	return ks->rec ? ks->rec->recorded : 0;
}

bool
kafka_record_vouches(Sink *s)
{
	KafkaSink  *ks = (KafkaSink *) s;

	return enabled(ks) && ks->rec != NULL && ks->rec->vouched;
}
