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
 * write, keyed by the slot name, with headers source
 * (<sysid>/<timeline>/<dbname>/<slot>) and lsn; the record of a slot is
 * the last message with its key (the topic is created compacted when the
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
 *	  that starts past it, or finds no record, is not (attest_slot()
 *	  decides from the registry, as before);
 *	- a record of another source stops the bridge, unless
 *	  --accept-new-source (then it is taken over, vouching for nothing);
 *	  one of this source past the server's WAL end (a restored copy)
 *	  vouches for nothing either.
 * The record dedupes nothing (the marks do), so taking one over can lose
 * or double no job.
 *
 * Reading the record (at every session start, once the previous session's
 * messages are all reported) runs on the worker thread of kafka_marks.c:
 * the topic's partition count (creating the topic if missing), the
 * partition's watermarks, then windows read back from its end until a
 * message with the slot's key is found, each librdkafka call bounded by
 * KAFKA_STEP_MS, the whole by MARKS_TIMEOUT_MS.  Nothing is produced or
 * acknowledged in the session before the verdict.  Writes: at most one in
 * flight and one per RECORD_GAP_MS, of the newest position asked for.
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errbuf.h"
#include "kafka_sink.h"
#include "log.h"
#include "murmur2.h"

#define RECORD_GAP_MS 100		/* at most one record write per this */
#define RECORD_WINDOW 64		/* the first window read back */
#define CREATE_TIMEOUT_MS 2000	/* creating the topic (CreateTopics) */

typedef enum RecState
{
	REC_UNREAD,					/* not read in this session */
	REC_READING,				/* the worker reads it */
	REC_READY					/* the verdict is known */
} RecState;

/* a look-up of the record, for the worker */
typedef struct RecordReq
{
	KafkaWork	work;			/* first: the worker's queue entry */
	KafkaSink  *ks;				/* only its handles and worker are used */
	char	   *topic;
	char	   *key;
	uint64_t	session;
	bool		create;			/* try to create the topic first */
	int			rc;
	char		err[SINK_ERRLEN];
	int32_t		partition;
	bool		found;
	int64_t		offset;
	bool		has_lsn;
	uint64_t	lsn;
	char		source[KAFKA_SOURCE_LEN];
} RecordReq;

/* a progress() waiting for the record to reach its position */
typedef struct RecWaiter
{
	uint64_t	lsn;
	LedgerTicket ticket;
} RecWaiter;

struct KafkaRecord
{
	RecState	state;
	RecordReq  *req;
	bool		create_tried;	/* by this process */
	rd_kafka_topic_t *rkt;		/* on the producer */
	int32_t		partition;
	uint64_t	session;
	bool		vouched;
	uint64_t	recorded;		/* durably recorded in this session */
	uint64_t	want;			/* the newest position asked for */
	bool		inflight;
	bool		delivered;
	uint64_t	inflight_lsn;
	uint64_t	inflight_txn;	/* the Kafka transaction holding it */
	uint64_t	committed_txn;	/* transactions up to this one committed */
	int64_t		last_write_us;
	RecWaiter  *waiters;
	size_t		nwaiters;
	size_t		cap;
	char		opaque;			/* &opaque marks its delivery reports */
};

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

/* ---- the worker: reading the record ---- */

static bool
stopping(KafkaSink *ks)
{
	bool		stop;

	pthread_mutex_lock(&ks->worker.lock);
	stop = ks->worker.stop;
	pthread_mutex_unlock(&ks->worker.lock);
	return stop;
}

/* does the cluster know the topic? (listing all topics creates none) */
static bool
rreq_topic_listed(RecordReq *q)
{
	const struct rd_kafka_metadata *md = NULL;
	bool		listed = true;	/* unknown: do not try to create it */

	if (rd_kafka_metadata(q->ks->rk, 1, NULL, &md, KAFKA_STEP_MS) == RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		listed = false;
		for (int i = 0; i < md->topic_cnt && !listed; i++)
			listed = strcmp(md->topics[i].topic, q->topic) == 0;
		rd_kafka_metadata_destroy(md);
	}
	return listed;
}

/*
 * Create the topic compacted, one partition, if it is missing; a failure
 * (not allowed, not supported) is left to the metadata request, which
 * creates it as the cluster's defaults say, or says it is missing.
 */
static void
rreq_create(RecordReq *q)
{
	rd_kafka_t *rk = q->ks->rk;
	char		errstr[256];
	rd_kafka_NewTopic_t *nt;
	rd_kafka_queue_t *rq;
	rd_kafka_AdminOptions_t *opt;
	rd_kafka_event_t *ev = NULL;
	int64_t		deadline = now_us() + (int64_t) CREATE_TIMEOUT_MS * 1000;

	if (rreq_topic_listed(q))
		return;
	nt = rd_kafka_NewTopic_new(q->topic, 1, -1, errstr, sizeof(errstr));
	rq = rd_kafka_queue_new(rk);
	opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	if (nt == NULL || rq == NULL || opt == NULL ||
		rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact") != RD_KAFKA_RESP_ERR_NO_ERROR)
		goto done;
	rd_kafka_AdminOptions_set_request_timeout(opt, CREATE_TIMEOUT_MS, errstr, sizeof(errstr));
	rd_kafka_CreateTopics(rk, &nt, 1, opt, rq);
	while (ev == NULL && now_us() < deadline && !stopping(q->ks))
		ev = rd_kafka_queue_poll(rq, KAFKA_STEP_MS);
	if (ev != NULL)
	{
		const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
		const rd_kafka_topic_result_t **tr;
		size_t		n = 0;
		rd_kafka_resp_err_t err = rd_kafka_event_error(ev);

		tr = res ? rd_kafka_CreateTopics_result_topics(res, &n) : NULL;
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR && n == 1)
			err = rd_kafka_topic_result_error(tr[0]);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
			log_msg(LOG_INFO, "created kafka topic \"%s\" (compacted) for the position records",
					q->topic);
		else if (err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
			log_msg(LOG_DEBUG, "could not create kafka topic \"%s\": %s", q->topic,
					rd_kafka_err2str(err));
		rd_kafka_event_destroy(ev);
	}
	else
		log_msg(LOG_DEBUG, "could not create kafka topic \"%s\": no answer within %d ms",
				q->topic, CREATE_TIMEOUT_MS);
done:
	if (opt)
		rd_kafka_AdminOptions_destroy(opt);
	if (rq)
		rd_kafka_queue_destroy(rq);
	if (nt)
		rd_kafka_NewTopic_destroy(nt);
}

/* the partition of the slot's key: the topic's partition count first */
static int
rreq_partition(RecordReq *q, int64_t deadline)
{
	KafkaSink  *ks = q->ks;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(ks->rk, q->topic, NULL);
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
	int32_t		n = 0;

	while (rkt != NULL && !stopping(ks))
	{
		const struct rd_kafka_metadata *md = NULL;

		err = rd_kafka_metadata(ks->rk, 0, rkt, &md, KAFKA_STEP_MS);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
		{
			err = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
			if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
				n = md->topics[0].partition_cnt;
			rd_kafka_metadata_destroy(md);
			if (err == RD_KAFKA_RESP_ERR_NO_ERROR && n > 0)
				break;
		}
		if (now_us() >= deadline || err == RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION ||
			err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
			break;
		usleep(100 * 1000);
	}
	if (rkt)
		rd_kafka_topic_destroy(rkt);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR && n > 0)
	{
		q->partition = murmur2_partition(q->key, strlen(q->key), n);
		return SINK_OK;
	}
	if (err == RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION ||
		err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
		err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
		return errbuf_set(q->err, sizeof(q->err), SINK_FATAL,
						  "cannot use kafka topic \"%s\" for the position records: %s; create it "
						  "(compacted: cleanup.policy=compact) or name another with "
						  "--kafka-positions-topic", q->topic, rd_kafka_err2str(err));
	return errbuf_set(q->err, sizeof(q->err), SINK_RETRY,
					  "could not read the metadata of kafka topic \"%s\": %s", q->topic,
					  rd_kafka_err2str(err));
}

/* a message of the slot's key: its source and lsn headers */
static void
rreq_take(RecordReq *q, const rd_kafka_message_t *msg)
{
	rd_kafka_headers_t *h = NULL;
	const void *v;
	size_t		n;

	if (msg->key == NULL || msg->key_len != strlen(q->key) ||
		memcmp(msg->key, q->key, msg->key_len) != 0)
		return;
	q->found = true;
	q->offset = msg->offset;
	q->source[0] = '\0';
	q->has_lsn = false;
	if (rd_kafka_message_headers(msg, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return;
	if (rd_kafka_header_get_last(h, "source", &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR &&
		v != NULL && n < sizeof(q->source))
	{
		memcpy(q->source, v, n);
		q->source[n] = '\0';
	}
	q->has_lsn = rd_kafka_header_get_last(h, "lsn", &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR &&
		v != NULL && lsn_parse(v, n, &q->lsn);
}

/* read offsets start .. end - 1 of the partition; the last match wins */
static int
rreq_window(RecordReq *q, rd_kafka_topic_t *rkt, int64_t start, int64_t end,
			int64_t deadline)
{
	rd_kafka_queue_t *cq = rd_kafka_queue_new(q->ks->rkc);
	int			rc = SINK_OK;
	bool		done = false;

	if (rd_kafka_consume_start_queue(rkt, q->partition, start, cq) == -1)
	{
		rd_kafka_queue_destroy(cq);
		return errbuf_set(q->err, sizeof(q->err), SINK_RETRY,
						  "could not read kafka topic \"%s\" partition %d: %s", q->topic,
						  (int) q->partition, rd_kafka_err2str(rd_kafka_last_error()));
	}
	while (!done && rc == SINK_OK)
	{
		rd_kafka_message_t *msg = rd_kafka_consume_queue(cq, 100);

		if (msg == NULL)
		{
			if (now_us() > deadline || stopping(q->ks))
				rc = errbuf_set(q->err, sizeof(q->err), SINK_RETRY,
								"timed out reading the position record of slot \"%s\" in kafka topic \"%s\"",
								q->key, q->topic);
			continue;
		}
		if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			done = true;
		else if (msg->err)
			rc = errbuf_set(q->err, sizeof(q->err), SINK_RETRY,
							"could not read kafka topic \"%s\" partition %d: %s", q->topic,
							(int) q->partition, rd_kafka_message_errstr(msg));
		else if (msg->offset < end)
		{
			rreq_take(q, msg);
			done = msg->offset >= end - 1;
		}
		rd_kafka_message_destroy(msg);
	}
	rd_kafka_consume_stop(rkt, q->partition);
	rd_kafka_queue_destroy(cq);
	return rc;
}

/* read back from the partition's end, in growing windows, until found */
static int
rreq_read_back(RecordReq *q, int64_t deadline)
{
	rd_kafka_topic_t *rkt;
	int64_t		lo = 0,
				hi = 0,
				window = RECORD_WINDOW;
	rd_kafka_resp_err_t err;
	int			rc = SINK_OK;

	while ((err = rd_kafka_query_watermark_offsets(q->ks->rkc, q->topic, q->partition, &lo, &hi,
												   KAFKA_STEP_MS)) != RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		if (now_us() >= deadline || stopping(q->ks))
			return errbuf_set(q->err, sizeof(q->err), SINK_RETRY,
							  "could not read the offsets of kafka topic \"%s\": %s", q->topic,
							  rd_kafka_err2str(err));
		usleep(100 * 1000);
	}
	if ((rkt = rd_kafka_topic_new(q->ks->rkc, q->topic, NULL)) == NULL)
		return errbuf_set(q->err, sizeof(q->err), SINK_RETRY, "could not open kafka topic \"%s\": %s",
						  q->topic, rd_kafka_err2str(rd_kafka_last_error()));
	while (hi > lo && !q->found && rc == SINK_OK)
	{
		int64_t		start = hi - window > lo ? hi - window : lo;

		rc = rreq_window(q, rkt, start, hi, deadline);
		hi = start;
		window *= 8;
	}
	rd_kafka_topic_destroy(rkt);
	return rc;
}

static void
rreq_run(KafkaWork *w)
{
	RecordReq  *q = (RecordReq *) w;
	int64_t		deadline = now_us() + (int64_t) MARKS_TIMEOUT_MS * 1000;

	if (q->create)
		rreq_create(q);
	if ((q->rc = rreq_partition(q, deadline)) == SINK_OK)
		q->rc = rreq_read_back(q, deadline);
}

static void
rreq_free(RecordReq *q)
{
	if (q == NULL)
		return;
	free(q->topic);
	free(q->key);
	free(q);
}

static int
rreq_start(KafkaSink *ks, KafkaRecord *rec)
{
	RecordReq  *q = calloc(1, sizeof(RecordReq));

	if (q == NULL || (q->topic = strdup(topic_name(ks))) == NULL ||
		(q->key = strdup(ks->src.slot)) == NULL)
	{
		rreq_free(q);
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
	}
	q->ks = ks;
	q->session = ks->session;
	q->create = !rec->create_tried;
	rec->create_tried = true;
	q->work.run = rreq_run;
	kafka_worker_submit(ks, &q->work);
	rec->req = q;
	rec->state = REC_READING;
	return SINK_OK;
}

/* ---- the verdict ---- */

/* "<sysid>/<timeline>/<db>/<slot>": the sysid, and what follows the timeline */
static bool
source_parts(const char *s, char *sysid, size_t len, const char **rest)
{
	const char *a = strchr(s, '/');

	if (a == NULL || (size_t) (a - s) >= len || (*rest = strchr(a + 1, '/')) == NULL)
		return false;
	memcpy(sysid, s, a - s);
	sysid[a - s] = '\0';
	return true;
}

/* a record of another source: fatal, or taken over with --accept-new-source */
static int
record_foreign(KafkaSink *ks, const RecordReq *q)
{
	char		a[LSN_STRLEN] = "?",
				what[96] = "",
				sysid[32],
				other[32];
	const char *r1,
			   *r2;

	if (q->has_lsn)
		lsn_format(q->lsn, a, sizeof(a));
	if (ks->flags & SINK_REPLAY_ACCEPT_NEW)
	{
		log_msg(LOG_WARNING, "kafka topic \"%s\" holds the position record of slot \"%s\" for "
				"source %s (at %s), not %s: taking it over (--accept-new-source); it vouches "
				"for nothing in this session", q->topic, q->key,
				q->source[0] ? q->source : "(none)", a, ks->source);
		return SINK_OK;
	}
	if (source_parts(q->source, other, sizeof(other), &r1) &&
		source_parts(ks->source, sysid, sizeof(sysid), &r2) && strcmp(sysid, other) == 0 &&
		strcmp(r1, r2) == 0)
		snprintf(what, sizeof(what), " (the same system, database and slot on another timeline)");
	return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_FATAL,
					  "kafka topic \"%s\" holds the position record of slot \"%s\" for another source: "
					  "%s%s (at %s, offset %" PRId64 "), this bridge streams %s; another bridge of "
					  "that slot name writes it or the server changed; if the change is deliberate "
					  "(a failover, a restore) restart with --accept-new-source",
					  q->topic, q->key, q->source[0] ? q->source : "none recorded", what, a,
					  q->offset, ks->source);
}

/* a finished look-up: does the record vouch for this session? */
static int
record_apply(KafkaSink *ks, KafkaRecord *rec, const RecordReq *q)
{
	char		a[LSN_STRLEN],
				b[LSN_STRLEN];

	rec->partition = q->partition;
	if (!q->found)
	{
		log_msg(LOG_DEBUG, "kafka topic \"%s\" holds no position record of slot \"%s\"",
				q->topic, q->key);
		return SINK_OK;
	}
	if (!q->has_lsn || strcmp(q->source, ks->source) != 0)
		return record_foreign(ks, q);
	lsn_format(q->lsn, a, sizeof(a));
	if (ks->src.wal_end && q->lsn > ks->src.wal_end)
	{
		log_msg(LOG_WARNING, "the kafka position record of slot \"%s\" is at %s, past the server's "
				"WAL end %s (a restored copy?): it vouches for nothing in this session", q->key, a,
				lsn_format(ks->src.wal_end, b, sizeof(b)));
		return SINK_OK;
	}
	rec->recorded = q->lsn;
	rec->vouched = q->lsn >= ks->from;
	if (rec->vouched)
		log_msg(LOG_DEBUG, "the kafka position record of slot \"%s\" (%s) vouches for its start %s",
				q->key, a, lsn_format(ks->from, b, sizeof(b)));
	else
		log_msg(LOG_WARNING, "the kafka position record of slot \"%s\" is at %s, behind where the "
				"slot begins (%s): the slot was moved without the bridge (advanced or consumed by "
				"hand) or the record was lost; it vouches for nothing in this session", q->key, a,
				lsn_format(ks->from, b, sizeof(b)));
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
		rreq_free(q);			/* read for an earlier session: read again */
		return SINK_OK;
	}
	rc = q->rc != SINK_OK ? errbuf_set(ks->sink.err, sizeof(ks->sink.err), q->rc, "%s", q->err)
		: record_apply(ks, rec, q);
	rreq_free(q);
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
	rd_kafka_headers_t *h = rd_kafka_headers_new(2);
	rd_kafka_resp_err_t err;

	lsn_format(lsn, lsn_s, sizeof(lsn_s));
	snprintf(value, sizeof(value), "{\"source\":\"%s\",\"lsn\":\"%s\"}", ks->source, lsn_s);
	if (h == NULL || rd_kafka_header_add(h, "source", -1, ks->source, -1) ||
		rd_kafka_header_add(h, "lsn", -1, lsn_s, -1))
	{
		if (h)
			rd_kafka_headers_destroy(h);
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
	}
	err = rd_kafka_producev(ks->rk, RD_KAFKA_V_RKT(rec->rkt), RD_KAFKA_V_PARTITION(rec->partition),
							RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
							RD_KAFKA_V_VALUE(value, strlen(value)),
							RD_KAFKA_V_KEY(ks->src.slot, strlen(ks->src.slot)),
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

	if (rec->inflight || rec->want <= rec->recorded ||
		now_us() - rec->last_write_us < (int64_t) RECORD_GAP_MS * 1000)
		return SINK_OK;
	if (ks->txn_mode && ks->txn != TXN_IDLE && ks->txn != TXN_OPEN)
		return SINK_OK;			/* a transactional call is under way */
	own_txn = ks->txn == TXN_IDLE;
	if (own_txn && (rc = kafka_txn_begin(ks, 0)) != SINK_OK)
		return rc;
	if ((rc = record_produce(ks, rec, rec->want)) != SINK_OK)
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
	rec->state = rec->req ? REC_READING : REC_UNREAD;
	rec->session = ks->session;
	rec->vouched = false;
	rec->recorded = 0;
	rec->want = 0;
	rec->nwaiters = 0;
	rec->last_write_us = 0;
	return SINK_OK;
}

/* may this session produce: is the record's verdict known? */
bool
kafka_record_ready(const KafkaSink *ks)
{
	return !enabled(ks) || (ks->rec != NULL && ks->rec->state == REC_READY);
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
	rreq_free(rec->req);
	rec->req = NULL;
	if (rec->rkt)
		rd_kafka_topic_destroy(rec->rkt);
	rec->rkt = NULL;
	rec->state = REC_UNREAD;
	rec->inflight = false;
	rec->nwaiters = 0;
}

void
kafka_record_free(KafkaSink *ks)
{
	if (ks->rec == NULL)
		return;
	kafka_record_close(ks);
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
