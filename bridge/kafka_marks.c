/*-------------------------------------------------------------------------
 *
 * kafka_marks.c
 *		Per-partition marks: how far each partition of a topic got, and
 *		for which source; the look-up that reads them (run by the worker
 *		thread, kafka_worker.c), and a new process's read back of each
 *		partition's tail past what the slot or its record proves.
 *
 * The mark of a partition is its last message's (source, lsn, seq)
 * headers.  It is read when a session first uses the topic (after the
 * previous session's messages all got their delivery reports, see
 * sink_kafka.c), at the high watermark with isolation.level=read_committed,
 * and advanced by every delivery report (kafka_produce.c) or, with
 * transactions, every commit (kafka_txn.c).  A job at or below its
 * partition's mark is already there and is acknowledged without being sent.
 *
 * A last message without lsn and seq headers means another producer writes
 * the topic; one of another source (another server, timeline, database or
 * slot) means another bridge writes it, or the server behind the conninfo
 * changed: both are fatal, never skipped by (case 5 of issue 10).  With
 * --accept-new-source another source's mark is ignored and the partition
 * starts fresh.
 *
 * Reading a topic's metadata and last messages takes round trips that can
 * block for seconds when a broker is slow or down.  They run on the worker
 * thread (kafka_worker.c), one topic at a time, each librdkafka call bounded by
 * KAFKA_STEP_MS and the whole look-up by METADATA_TIMEOUT_MS and
 * MARKS_TIMEOUT_MS (then SINK_RETRY).  The main thread only starts a
 * look-up and picks up its result; jobs of the topic wait in the hold
 * queue meanwhile.  The worker touches nothing but the librdkafka handles
 * (thread-safe) and its own request, and wakes the bridge through the
 * pipe when done; stopping it waits at most one step.
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

/* what a look-up found in one partition */
typedef struct MarkRead
{
	int64_t		lo;				/* first offset */
	int64_t		hi;				/* high watermark: next offset */
	int64_t		start;			/* where this round reads from */
	bool		done;
	bool		eof;			/* this round reached the end */
	bool		got;			/* this round read a message */
	bool		ours;			/* ... with lsn and seq headers */
	bool		record;			/* ... a position record (lsn, source, no seq) */
	int64_t		offset;			/* ... at this offset */
	uint64_t	lsn;
	uint32_t	seq;
	char		source[KAFKA_SOURCE_LEN];	/* "" when it has none */
	char		xid[12];		/* its transaction (kafka_history.c); "": none */
	char		time[TIME_STR_LEN];
	/* read back from verify (kafka_suspects.c): our jobs there */
	int64_t		verify;			/* -1: not read back */
	bool		tail;			/* a new process reads the tail back (tail_read) */
	bool		floor;			/* ... this round read a job of ours below its start */
	bool		cut;			/* ... stopped at kafka_tail_max messages or bytes */
	int64_t		bytes;			/* ... keys and values this round read */
	KafkaPos   *present;
	size_t		npresent;
	size_t		present_cap;
} MarkRead;

struct MarksReq
{
	KafkaWork	work;			/* first: the worker's queue entry */
	KafkaSink  *ks;				/* only its handles and worker are used */
	char	   *topic;
	uint64_t	session;
	bool		done;			/* under the worker's lock */
	int			rc;
	char		err[SINK_ERRLEN];
	int32_t		npartitions;
	MarkRead   *r;
	char		source[KAFKA_SOURCE_LEN];	/* ours, when it was started */
	KafkaVerify *verify;		/* partitions to read back */
	int			nverify;
	bool		tail;			/* the first look-up of this topic in the process */
	uint64_t	tail_from;		/* ... its floor (tail_floor) */
};

/* the bounds of a tail's read back (tests lower them) */
int64_t		kafka_tail_max = KAFKA_TAIL_MAX;
int64_t		kafka_tail_max_bytes = KAFKA_TAIL_MAX_BYTES;

/* ---- marks ---- */

bool
kafka_mark_covers(const KafkaMark *m, uint64_t lsn, uint32_t seq)
{
	if (!m->has_mark)
		return false;
	if (lsn > m->lsn || (lsn == m->lsn && seq > m->seq))
		return false;
	/* from a suspect on (kafka_suspects.c): only what was read back */
	if (m->has_limit &&
		(lsn > m->limit_lsn || (lsn == m->limit_lsn && seq >= m->limit_seq)))
		return kafka_present_has(m, lsn, seq);
	return true;
}

void
kafka_mark_advance(KafkaTopic *t, int32_t partition, uint64_t lsn, uint32_t seq)
{
	KafkaMark  *m;

	if (t == NULL || t->marks == NULL || partition < 0 || partition >= t->npartitions)
		return;
	m = &t->marks[partition];
	if (!m->has_mark || lsn > m->lsn || (lsn == m->lsn && seq > m->seq))
	{
		m->has_mark = true;
		m->lsn = lsn;
		m->seq = seq;
	}
}

void
kafka_source_format(const SinkSource *src, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%u/%s/%s", src->sysid, (unsigned) src->timeline,
			 src->dbname, src->slot);
}

bool
kafka_sink_mark(Sink *s, const char *topic, int32_t partition, uint64_t *lsn,
				uint32_t *seq)
{
	KafkaSink  *ks = (KafkaSink *) s;
	size_t		i;

	for (i = 0; i < ks->ntopics; i++)
	{
		KafkaTopic *t = ks->topics[i];

		if (strcmp(t->name, topic) != 0 || t->marks == NULL ||
			partition < 0 || partition >= t->npartitions ||
			!t->marks[partition].has_mark)
			continue;
		*lsn = t->marks[partition].lsn;
		*seq = t->marks[partition].seq;
		return true;
	}
	return false;
}

/* ---- the look-up: reading metadata and last messages (run by the worker) ---- */

/* the partition count, creating the topic if the cluster does that */
static int
req_partitions(MarksReq *q)
{
	KafkaSink  *ks = q->ks;
	int64_t		deadline = now_us() + (int64_t) METADATA_TIMEOUT_MS * 1000;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(ks->rk, q->topic, NULL);
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;

	while (rkt != NULL && !kafka_worker_stopping(ks))
	{
		const struct rd_kafka_metadata *md = NULL;

		err = rd_kafka_metadata(ks->rk, 0, rkt, &md, KAFKA_STEP_MS);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
		{
			err = md->topic_cnt == 1 ? md->topics[0].err
				: RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
			if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
				q->npartitions = md->topics[0].partition_cnt;
			rd_kafka_metadata_destroy(md);
			if (err == RD_KAFKA_RESP_ERR_NO_ERROR && q->npartitions > 0)
				break;
		}
		if (now_us() >= deadline || err == RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION ||
			err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
			break;
		usleep(100 * 1000);
	}
	if (rkt)
		rd_kafka_topic_destroy(rkt);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR && q->npartitions > 0)
		return SINK_OK;
	if (err == RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION ||
		err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
		return errbuf_set(q->err, sizeof(q->err), SINK_FATAL,
						  "cannot write kafka topic \"%s\": %s", q->topic, rd_kafka_err2str(err));
	if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
		return errbuf_set(q->err, sizeof(q->err), SINK_FATAL,
						  "kafka topic \"%s\" does not exist and was not created", q->topic);
	return errbuf_set(q->err, sizeof(q->err), SINK_RETRY,
					  "could not read the metadata of kafka topic \"%s\" from brokers %s: %s",
					  q->topic, ks->sink.cfg->url.brokers, rd_kafka_err2str(err));
}

/*
 * A backfilled row (header backfill, kafka_backfill.c) carries the
 * backfill's consistent point as lsn and its row number as seq: it stands
 * for the rows as they were before that point, so as a mark it covers
 * everything before the point and no job committed at or after it.
 */
static void
mark_backfill(MarkRead *r, rd_kafka_headers_t *hdrs)
{
	const void *bv;
	size_t		bn;

	if (r->ours && r->lsn > 0 &&
		rd_kafka_header_get_last(hdrs, "backfill", &bv, &bn) == RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		r->lsn--;
		r->seq = UINT32_MAX;
		r->xid[0] = r->time[0] = '\0';	/* no transaction of its own */
	}
}

/* a header's text into buf ("" when missing or too long) */
static void
header_text(rd_kafka_headers_t *hdrs, const char *name, char *buf, size_t len)
{
	const void *v;
	size_t		n;

	buf[0] = '\0';
	if (rd_kafka_header_get_last(hdrs, name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR &&
		v != NULL && n < len)
	{
		memcpy(buf, v, n);
		buf[n] = '\0';
	}
}

/* a message read back: whether it is ours, how far it says, whose it is */
static void
mark_take(MarkRead *r, rd_kafka_message_t *msg)
{
	rd_kafka_headers_t *hdrs = NULL;
	const void *lv,
			   *sv,
			   *cv;
	size_t		ln,
				sn,
				cn;
	const char *seq_end;

	r->got = true;
	r->offset = msg->offset;
	r->source[0] = r->xid[0] = r->time[0] = '\0';
	r->ours = rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
		rd_kafka_header_get_last(hdrs, "lsn", &lv, &ln) == RD_KAFKA_RESP_ERR_NO_ERROR &&
		rd_kafka_header_get_last(hdrs, "seq", &sv, &sn) == RD_KAFKA_RESP_ERR_NO_ERROR &&
		lv != NULL && sv != NULL && sn > 0 && sn <= 10 &&
		lsn_parse(lv, ln, &r->lsn);
	if (r->ours)
	{
		char		buf[12];
		unsigned long v;

		memcpy(buf, sv, sn);
		buf[sn] = '\0';
		v = strtoul(buf, (char **) &seq_end, 10);
		r->ours = *seq_end == '\0' && buf[0] >= '0' && buf[0] <= '9' && v <= UINT32_MAX;
		r->seq = (uint32_t) v;
	}
	r->record = !r->ours && hdrs != NULL &&
		rd_kafka_header_get_last(hdrs, "lsn", &lv, &ln) == RD_KAFKA_RESP_ERR_NO_ERROR &&
		rd_kafka_header_get_last(hdrs, "source", &cv, &cn) == RD_KAFKA_RESP_ERR_NO_ERROR &&
		rd_kafka_header_get_last(hdrs, "seq", &sv, &sn) != RD_KAFKA_RESP_ERR_NO_ERROR;
	if (r->ours &&
		rd_kafka_header_get_last(hdrs, "source", &cv, &cn) == RD_KAFKA_RESP_ERR_NO_ERROR &&
		cv != NULL && cn < sizeof(r->source))
	{
		memcpy(r->source, cv, cn);
		r->source[cn] = '\0';
	}
	if (r->ours)
	{
		header_text(hdrs, "xid", r->xid, sizeof(r->xid));
		header_text(hdrs, "commit_time", r->time, sizeof(r->time));
	}
	mark_backfill(r, hdrs);
}

/* one ListOffsets round (pass 0: low watermarks, 1: high); 0 or the error */
static rd_kafka_resp_err_t
offsets_pass(MarksReq *q, rd_kafka_topic_partition_list_t *l, int pass)
{
	rd_kafka_resp_err_t err;
	int			i;

	for (i = 0; i < l->cnt; i++)
		l->elems[i].offset = pass == 0 ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
	err = rd_kafka_offsets_for_times(q->ks->rkc, l, KAFKA_STEP_MS);
	for (i = 0; i < l->cnt && !err; i++)
	{
		if ((err = l->elems[i].err) != RD_KAFKA_RESP_ERR_NO_ERROR)
			break;
		if (pass == 0)
			q->r[l->elems[i].partition].lo = l->elems[i].offset;
		else
			q->r[l->elems[i].partition].hi = l->elems[i].offset;
	}
	return err;
}

/*
 * Partitions with a suspect are read from its offset (or the first one
 * still there) to the end: every job of ours there is remembered.
 */
static void
verify_from(MarksReq *q)
{
	int			i;

	for (i = 0; i < q->nverify; i++)
	{
		int32_t		p = q->verify[i].partition;
		MarkRead   *r;

		if (p < 0 || p >= q->npartitions)
			continue;
		r = &q->r[p];
		r->verify = q->verify[i].from > r->lo ? q->verify[i].from : r->lo;
		if (!r->done && r->verify < r->start)
			r->start = r->verify;
	}
	for (i = 0; q->tail && i < q->npartitions; i++)
	{
		MarkRead   *r = &q->r[i];
		int64_t		n = kafka_tail_max < KAFKA_TAIL_WINDOW ? kafka_tail_max : KAFKA_TAIL_WINDOW;
		int64_t		from = r->hi - n > r->lo ? r->hi - n : r->lo;

		if (r->done)
			continue;
		r->tail = true;
		if (from < r->start)
			r->start = from;
		r->verify = r->start;
	}
}

/* a job of ours read back in a partition being verified */
static int
present_push(MarksReq *q, MarkRead *r)
{
	if (!r->ours || strcmp(r->source, q->source) != 0)
		return SINK_OK;
	if (r->npresent == r->present_cap)
	{
		size_t		cap = r->present_cap ? r->present_cap * 2 : 64;
		KafkaPos   *p = realloc(r->present, cap * sizeof(KafkaPos));

		if (p == NULL)
			return errbuf_set(q->err, sizeof(q->err), SINK_RETRY, "out of memory");
		r->present = p;
		r->present_cap = cap;
	}
	r->present[r->npresent++] = (KafkaPos) {r->lsn, r->seq};
	return SINK_OK;
}

/*
 * The low and high watermarks of every partition, in steps; errors (brokers
 * still reconnecting, a leader moving) are tried again until the deadline.
 */
static int
req_offsets(MarksReq *q)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(q->npartitions);
	int64_t		deadline = now_us() + (int64_t) MARKS_TIMEOUT_MS * 1000;
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
	int			pass,
				i;

	for (i = 0; i < q->npartitions; i++)
		rd_kafka_topic_partition_list_add(l, q->topic, i);
	for (pass = 0; pass < 2 && !err; pass++)
	{
		while ((err = offsets_pass(q, l, pass)) != RD_KAFKA_RESP_ERR_NO_ERROR &&
			   now_us() < deadline && !kafka_worker_stopping(q->ks))
			usleep(100 * 1000);
	}
	rd_kafka_topic_partition_list_destroy(l);
	if (err)
		return errbuf_set(q->err, sizeof(q->err), SINK_RETRY,
						  "could not read the offsets of kafka topic \"%s\": %s",
						  q->topic, rd_kafka_err2str(err));
	for (i = 0; i < q->npartitions; i++)
	{
		q->r[i].done = q->r[i].hi <= q->r[i].lo;
		q->r[i].start = q->r[i].hi - 1;
		q->r[i].verify = -1;
	}
	verify_from(q);
	return SINK_OK;
}

/* read from every partition not done until its end; returns SINK_* */
static int
req_consume(MarksReq *q, rd_kafka_queue_t *cq, int left)
{
	int64_t		deadline = now_us() + (int64_t) MARKS_TIMEOUT_MS * 1000;

	while (left > 0)
	{
		rd_kafka_message_t *msg = rd_kafka_consume_queue(cq, 100);
		MarkRead   *mr;

		if (msg == NULL)
		{
			if (now_us() > deadline || kafka_worker_stopping(q->ks))
				return errbuf_set(q->err, sizeof(q->err), SINK_RETRY,
								  "timed out reading the last messages of kafka topic \"%s\"", q->topic);
			continue;
		}
		mr = (msg->partition >= 0 && msg->partition < q->npartitions) ?
			&q->r[msg->partition] : NULL;
		if (mr != NULL && !mr->done && !mr->eof)
		{
			if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			{
				mr->eof = true;
				left--;
			}
			else if (msg->err)
			{
				errbuf_set(q->err, sizeof(q->err), SINK_RETRY,
						   "could not read the last message of kafka topic \"%s\" partition %d: %s",
						   q->topic, (int) msg->partition, rd_kafka_message_errstr(msg));
				rd_kafka_message_destroy(msg);
				return SINK_RETRY;
			}
			else if (msg->offset >= mr->start)
			{
				mark_take(mr, msg);
				mr->bytes += (int64_t) (msg->len + msg->key_len);
				if (mr->tail && mr->ours && mr->lsn < q->tail_from &&
					strcmp(mr->source, q->source) == 0)
					mr->floor = true;
				if (mr->verify >= 0 && msg->offset >= mr->verify &&
					present_push(q, mr) != SINK_OK)
				{
					rd_kafka_message_destroy(msg);
					return SINK_RETRY;
				}
			}
		}
		rd_kafka_message_destroy(msg);
	}
	return SINK_OK;
}

/* one round: read every partition not done from its start to its end */
static int
req_round(MarksReq *q, rd_kafka_topic_t *rkt)
{
	rd_kafka_queue_t *cq = rd_kafka_queue_new(q->ks->rkc);
	int			started = 0;	/* partitions below this one were started */
	int			count = 0;
	int			rc = SINK_OK;
	int			i;

	for (i = 0; i < q->npartitions && rc == SINK_OK; i++)
	{
		if (q->r[i].done)
			continue;
		q->r[i].eof = q->r[i].got = q->r[i].floor = false;
		q->r[i].bytes = 0;
		q->r[i].npresent = 0;	/* a round reads from its start again */
		if (rd_kafka_consume_start_queue(rkt, i, q->r[i].start, cq) == -1)
			rc = errbuf_set(q->err, sizeof(q->err), SINK_RETRY,
							"could not read kafka topic \"%s\" partition %d: %s",
							q->topic, i, rd_kafka_err2str(rd_kafka_last_error()));
		else
		{
			started = i + 1;
			count++;
		}
	}
	if (rc == SINK_OK)
		rc = req_consume(q, cq, count);
	for (i = 0; i < started; i++)
		if (!q->r[i].done)
			rd_kafka_consume_stop(rkt, i);
	rd_kafka_queue_destroy(cq);
	return rc;
}

/*
 * A tail read back goes on, in windows 8 times larger, while the partition
 * ends with a job of ours at or after the floor and no job of ours below
 * it was read; it is cut at kafka_tail_max messages, or where
 * the next window would read more than kafka_tail_max_bytes of keys and
 * values at this round's average.
 */
static bool
tail_more(MarksReq *q, MarkRead *r)
{
	int64_t		n = r->hi - r->start;
	int64_t		next;

	if (!r->tail || !r->got || !r->ours || r->floor || r->start <= r->lo ||
		r->lsn < q->tail_from || strcmp(r->source, q->source) != 0)
		return false;
	next = n > kafka_tail_max / 8 ? kafka_tail_max : n * 8;
	if (r->bytes > 0 && r->bytes / n * next > kafka_tail_max_bytes)
		next = kafka_tail_max_bytes / (r->bytes / n + 1);
	if (next <= n)
	{
		r->cut = true;
		return false;
	}
	n = next;
	r->start = r->hi - n > r->lo ? r->hi - n : r->lo;
	r->verify = r->start;
	return true;
}

/* after a round: partitions ending with control records look further back */
static bool
req_settle(MarksReq *q)
{
	bool		more = false;
	int			i;

	for (i = 0; i < q->npartitions; i++)
	{
		MarkRead   *r = &q->r[i];

		if (r->done)
			continue;
		if (!r->got && r->start > r->lo)
		{
			int64_t		back = 2 * (r->hi - r->start);

			r->start = r->hi - back > r->lo ? r->hi - back : r->lo;
			if (r->tail)
				r->verify = r->start;
			more = true;
			continue;
		}
		if (tail_more(q, r))
		{
			more = true;
			continue;
		}
		r->done = true;
	}
	return more;
}

/* the whole look-up of one topic, in the worker */
static void
req_run(KafkaWork *w)
{
	MarksReq   *q = (MarksReq *) w;
	rd_kafka_topic_t *rkt = NULL;
	int64_t		t0 = now_us();

	if ((q->rc = req_partitions(q)) != SINK_OK)
		return;
	if ((q->r = calloc(q->npartitions, sizeof(MarkRead))) == NULL)
	{
		q->rc = errbuf_set(q->err, sizeof(q->err), SINK_RETRY, "out of memory");
		return;
	}
	if ((q->rc = req_offsets(q)) != SINK_OK)
		return;
	if ((rkt = rd_kafka_topic_new(q->ks->rkc, q->topic, NULL)) == NULL)
	{
		q->rc = errbuf_set(q->err, sizeof(q->err), SINK_RETRY,
						   "could not open kafka topic \"%s\": %s", q->topic,
						   rd_kafka_err2str(rd_kafka_last_error()));
		return;
	}
	do
		q->rc = req_round(q, rkt);
	while (q->rc == SINK_OK && req_settle(q));
	rd_kafka_topic_destroy(rkt);
	if (q->rc == SINK_OK)
		log_msg(LOG_DEBUG, "read the marks of kafka topic \"%s\" (%d partitions) in %.1f ms",
				q->topic, (int) q->npartitions, (now_us() - t0) / 1000.0);
}


void
kafka_req_free(MarksReq *q)
{
	int32_t		i;

	if (q == NULL)
		return;
	free(q->topic);
	for (i = 0; q->r != NULL && i < q->npartitions; i++)
		free(q->r[i].present);
	free(q->r);
	free(q->verify);
	free(q);
}

/*
 * Where a new process's read back may stop: below the slot's start every
 * job was acknowledged (the slot is never confirmed past one that was
 * not), and so below this source's position record (written only at a
 * position every job below which Kafka acknowledged, kafka_record.c).  A
 * mark is a proven prefix there, and the history check (kafka_history.c)
 * sees a replay below it as before; at and past it only what is read back
 * is skipped.
 */
static uint64_t
tail_floor(KafkaSink *ks)
{
	uint64_t	rec = kafka_record_recorded(&ks->sink);

	return rec != UINT64_MAX && rec > ks->from ? rec : ks->from;
}

static int
req_start(KafkaSink *ks, KafkaTopic *t)
{
	MarksReq   *q = calloc(1, sizeof(MarksReq));

	if (q == NULL || (q->topic = strdup(t->name)) == NULL)
	{
		free(q);
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
	}
	q->ks = ks;
	q->session = ks->session;
	memcpy(q->source, ks->source, sizeof(q->source));
	q->verify = kafka_suspects_verify(ks, t->name, &q->nverify);
	q->tail = !ks->txn_mode &&
		strtab_find(&ks->tail_read, t->name, strlen(t->name)) < 0;
	q->tail_from = tail_floor(ks);
	q->work.run = req_run;
	kafka_worker_submit(ks, &q->work);
	t->req = q;
	t->state = TOPIC_LOOKUP;
	return SINK_OK;
}

/* a finished look-up becomes the topic's marks; SINK_FATAL for a bad one */
static int
req_apply(KafkaSink *ks, KafkaTopic *t, MarksReq *q)
{
	char		a[LSN_STRLEN];
	int32_t		i;
	int			rc;

	kafka_marks_clear(t);
	if (q->npartitions != t->npartitions || t->marks == NULL)
	{
		free(t->marks);
		if ((t->marks = calloc(q->npartitions, sizeof(KafkaMark))) == NULL)
			return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
		t->npartitions = q->npartitions;
	}
	for (i = 0; i < t->npartitions; i++)
	{
		MarkRead   *r = &q->r[i];

		memset(&t->marks[i], 0, sizeof(KafkaMark));
		/*
		 * Our next message should land here, in the open Kafka transaction
		 * or the next one: no control record of ours comes first (kafka_gaps.c)
		 */
		t->marks[i].next_offset = r->hi;
		t->marks[i].last_txn = ks->txn_no + (ks->txn == TXN_OPEN ? 0 : 1);
		if (r->got && r->record)
			return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_FATAL,
							  "kafka topic \"%s\" partition %d ends with a wal2queue position record, "
							  "not a job (offset %" PRId64 "): a bridge's --kafka-positions-topic names "
							  "this job topic; give it a topic of its own", t->name, (int) i, r->offset);
		if (r->got && !r->ours)
			return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_FATAL,
							  "kafka topic \"%s\" partition %d ends with a message wal2queue did not write "
							  "(offset %" PRId64 " has no lsn and seq headers): another producer writes this topic",
							  t->name, (int) i, r->offset);
		if (r->got && strcmp(r->source, ks->source) != 0)
		{
			if ((rc = kafka_source_refuse(ks, t, i, r->source, r->lsn, r->seq,
										   r->offset)) != SINK_OK)
				return rc;
		}
		else if (r->got && ks->src.wal_end && r->lsn > ks->src.wal_end)
		{
			char		w[LSN_STRLEN];

			return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_FATAL,
							  "kafka topic \"%s\" partition %d holds a job of this source at %s, past the "
							  "server's WAL end %s: the server was rolled back (restored from a copy "
							  "without a new timeline?), so jobs it commits now would be taken for "
							  "delivered ones; once you decided what to re-send, write to new topics "
							  "(another --target-prefix)", t->name, (int) i, lsn_format(r->lsn, a, sizeof(a)),
							  lsn_format(ks->src.wal_end, w, sizeof(w)));
		}
		else if (r->got)
		{
			t->marks[i].has_mark = true;
			t->marks[i].lsn = r->lsn;
			t->marks[i].seq = r->seq;
			if (r->xid[0] && r->time[0])
			{
				t->marks[i].ident_lsn = r->lsn;
				memcpy(t->marks[i].ident_xid, r->xid, sizeof(r->xid));
				memcpy(t->marks[i].ident_time, r->time, sizeof(r->time));
			}
		}
		if (r->tail && t->marks[i].has_mark && t->marks[i].lsn >= q->tail_from)
			kafka_suspect_tail(ks, t->name, i, q->tail_from, r->verify, r->cut);
		kafka_suspect_apply(ks, t, i, r->verify, r->hi, r->present, r->npresent);
		r->present = NULL;
	}
	return SINK_OK;
}

/*
 * Is the topic ready (its marks of this session known)?  Starts or picks up
 * the look-up; o, the job waiting for it, is named in a fatal error.
 */
int
kafka_topic_resolve(KafkaSink *ks, KafkaTopic *t, const KafkaOut *o, bool *ready)
{
	MarksReq   *q = t->req;
	int			rc;
	char		a[LSN_STRLEN];

	*ready = t->state == TOPIC_READY;
	if (*ready)
		return SINK_OK;
	if (t->state == TOPIC_UNKNOWN)
		return req_start(ks, t);
	if (!kafka_work_done(ks, &q->work))
		return SINK_OK;
	t->req = NULL;
	t->state = TOPIC_UNKNOWN;
	if (q->session != ks->session)
	{
		kafka_req_free(q);			/* read before this session: read again */
		return req_start(ks, t);
	}
	rc = q->rc != SINK_OK ? errbuf_set(ks->sink.err, sizeof(ks->sink.err), q->rc, "%s", q->err)
		: req_apply(ks, t, q);
	kafka_req_free(q);
	if (rc == SINK_FATAL)
	{
		char		why[SINK_ERRLEN];

		memcpy(why, ks->sink.err, sizeof(why));
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), rc,
						  "%s (first needed by %s %.*s key %.*s lsn %s)", why,
						  o->table ? "table" : "a message to topic",
						  o->table ? (int) o->table_len : (int) strlen(t->name),
						  o->table ? o->table : t->name,
						  o->has_key ? (int) o->key_len : 6, o->has_key ? o->key : "(none)",
						  lsn_format(o->lsn, a, sizeof(a)));
	}
	if (rc == SINK_OK &&
		strtab_intern(&ks->tail_read, t->name, strlen(t->name)) < 0)
		rc = errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
	if (rc == SINK_OK)
		t->state = TOPIC_READY;
	*ready = rc == SINK_OK;
	return rc;
}
