/*-------------------------------------------------------------------------
 *
 * kafka_backfill.c
 *		The Kafka side of --backfill (backfill.h): pages of backfilled rows
 *		and the backfill state record (its text: kafka_backfill_state.c).
 *
 * Kafka has no atomic "write these messages and this record" without
 * transactions, so the evidence is positive and per partition:
 *	- Every backfilled row is one message, exactly as the stream would
 *	  write it (topic, partition, key, value, headers; lsn = the
 *	  consistent point, seq = its number in the backfill), plus the headers
 *	  backfill (its position key, the JSON array of backfill_key.c) and
 *	  backfill_page (the page that wrote it).
 *	- After every message of a page is acknowledged (acks=all), the state
 *	  (source, page, consistent point, saved snapshot, condition, table, last
 *	  key, rows, done) is written as one message to the state topic
 *	  <target prefix>wal2queue-backfill.<slot>, partition 0, and awaited.
 *	  With --kafka-transactions the page and its state are one transaction.
 *	- Page numbers only grow on a state topic (a new backfill continues
 *	  them), so a data message of page N is unambiguous.
 *	- The creation marker (BACKFILL_CREATING: lsn 0, no row, recorded
 *	  before the slot is created) is a state like any other, on a page of
 *	  its own, acknowledged (with transactions: committed) before the
 *	  slot exists; its session starts at the server's WAL end, and the
 *	  next state begins a session at the slot's consistent point.
 * backfill_read reads the state topic's last message.  The page after it
 * (the one a kill may have cut) is the only page with evidence to read:
 * rows are produced in key order and the idempotent producer keeps each
 * partition's order, so for each partition of a topic the page went to,
 * the page's messages at the partition's end (read back, read_committed)
 * name exactly the rows of that page it holds.  A row of the page is
 * skipped iff its position key is among them; every other row is sent.
 * Nothing is inferred from absence: no state means no backfill, no
 * message of the page in a partition means nothing of it there.
 *
 * Where the page went: every state names the topics of its page
 * (next_topics, kafka_backfill_topics.c): the page after it goes there
 * unless a record says otherwise.  Without transactions, a page with a
 * row for another topic first writes a start record (the same state,
 * next_topics: the page's topics) and waits for its acknowledgement.  A
 * resume reads the evidence in the recorded topics and in the row's topic
 * now (a table renamed since: the rows found under the old name are
 * skipped, the others go to the new one; test/t/435).  A state without
 * next_topics (an older bridge's) is read in the row's topic now.
 *
 * A state record must fit message.max.bytes with its next_topics (a start
 * record, on the uncertain page, with the recorded topics too): page_end()
 * cuts a sink call whose topics would not fit into several pages, each with
 * a state ending at its last row (test/t/483).
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backfill.h"
#include "errbuf.h"
#include "kafka_record.h"
#include "kafka_sink.h"
#include "log.h"

#define BF_WAIT_MS		KAFKA_BF_WAIT_MS
/* a state record's bytes besides its text: key, headers, record framing */
#define BF_STATE_OVERHEAD	2048

typedef struct KafkaBackfill
{
	bool		known;			/* page and seq below were read or written */
	bool		state_topic_seen;	/* the state topic exists (or creating it
									 * compacted was tried) */
	uint64_t	page;			/* the state topic's last page */
	uint64_t	seq;			/* its BackfillState seq */
	uint64_t	session;		/* the sink session the pages are written in */
	rd_kafka_t *rk;				/* ... and its producer */
	bool		accept;			/* another source's marks may be replaced
								 * (--accept-new-source, a taken-over state) */
	bool		check;			/* page + 1 may be partly in kafka: the first
								 * page written after a read */
	KafkaBfEvidence ev;			/* of page + 1, while it is being written */
	BackfillState last;			/* the state of page (has_last), for a start
								 * record */
	bool		has_last;
	KafkaBfTopics topics;		/* where page + 1 goes (or went): the last
								 * record's next_topics */
} KafkaBackfill;

static int
bf_fail(KafkaSink *ks, int rc, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

static int
bf_fail(KafkaSink *ks, int rc, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	errbuf_vset(ks->sink.err, sizeof(ks->sink.err), rc, fmt, ap);
	va_end(ap);
	return rc;
}

/* the last state (read or written) and its next_topics forgotten */
static void
last_clear(KafkaBackfill *b)
{
	backfill_state_free(&b->last);
	memset(&b->last, 0, sizeof(b->last));
	b->has_last = false;
	kafka_bf_topics_free(&b->topics);
}

void
kafka_backfill_free(KafkaSink *ks)
{
	if (ks->backfill)
	{
		kafka_bf_evidence_clear(&ks->backfill->ev);
		last_clear(ks->backfill);
	}
	free(ks->backfill);
	ks->backfill = NULL;
}

static KafkaBackfill *
bf_of(KafkaSink *ks)
{
	if (ks->backfill == NULL)
		ks->backfill = calloc(1, sizeof(KafkaBackfill));
	return ks->backfill;
}

static void
state_topic(const KafkaSink *ks, const SinkSource *src, char *buf, size_t len)
{
	const char *prefix = ks->sink.cfg->target_prefix ? ks->sink.cfg->target_prefix : "";

	snprintf(buf, len, "%swal2queue-backfill.%s", prefix, src->slot);
}

/* the state topic's last data message */
typedef struct LastMsg
{
	char	   *value;
	size_t		len;
	int64_t		offset;
} LastMsg;

static bool
take_last(void *arg, const rd_kafka_message_t *m)
{
	LastMsg    *l = arg;

	free(l->value);
	l->len = m->len;
	l->offset = m->offset;
	if ((l->value = malloc(m->len + 1)) == NULL)
		return false;
	if (m->len)
		memcpy(l->value, m->payload, m->len);
	l->value[m->len] = '\0';
	return true;
}

/* the state's next_topics into b->topics (none in an older bridge's) */
static int
read_topics(KafkaSink *ks, KafkaBackfill *b, const LastMsg *l, const char *topic)
{
	char	   *json = kafka_backfill_state_next_topics(l->value, l->len);
	bool		ok = json == NULL || kafka_bf_topics_parse(json, &b->topics);

	free(json);
	if (!ok)
		return bf_fail(ks, SINK_FATAL, "kafka topic \"%s\" offset %" PRId64 ": the backfill state's "
					   "next_topics is no JSON array of topic names", topic, l->offset);
	return SINK_OK;
}

int
kafka_backfill_read(Sink *s, const SinkSource *src, unsigned flags, BackfillState *st)
{
	KafkaSink  *ks = (KafkaSink *) s;
	KafkaBackfill *b = bf_of(ks);
	char		topic[300],
				mine[KAFKA_SOURCE_LEN],
				theirs[KAFKA_SOURCE_LEN];
	LastMsg		l = {0};
	bool		exists,
				lo_reached;
	uint64_t	page = 0;
	int			rc;

	backfill_state_free(st);
	if (b == NULL)
		return bf_fail(ks, SINK_FATAL, "out of memory");
	if (ks->rkc == NULL)
		return bf_fail(ks, SINK_RETRY, "not connected to kafka");
	kafka_bf_evidence_clear(&b->ev);
	last_clear(b);
	b->known = false;
	b->accept = (flags & SINK_BACKFILL_ACCEPT) != 0;
	state_topic(ks, src, topic, sizeof(topic));
	kafka_source_format(src, mine, sizeof(mine));
	/* a transaction's commit marker may end the partition: look back a little */
	if ((rc = kafka_tail_read(ks, topic, 0, 8, take_last, &l, &exists, &lo_reached)) != SINK_OK)
	{
		free(l.value);
		return rc;
	}
	b->known = true;
	b->state_topic_seen = exists;
	b->check = true;
	b->page = 0;
	b->seq = 0;
	if (l.value == NULL)
		return SINK_OK;			/* no topic or no record: no backfill */
	if (!kafka_backfill_state_parse(l.value, l.len, st, &page, theirs))
	{
		backfill_state_free(st);
		rc = bf_fail(ks, SINK_FATAL, "kafka topic \"%s\" offset %" PRId64 " is no wal2queue backfill state: "
					 "another producer writes the topic this bridge keeps its backfill state in",
					 topic, l.offset);
		free(l.value);
		return rc;
	}
	if ((rc = read_topics(ks, b, &l, topic)) != SINK_OK)
	{
		backfill_state_free(st);
		free(l.value);
		return rc;
	}
	free(l.value);
	b->page = page;
	b->seq = st->seq;
	if (strcmp(theirs, mine) != 0)
	{
		backfill_state_free(st);
		if (!(flags & SINK_BACKFILL_ACCEPT))
			return bf_fail(ks, SINK_FATAL, "the backfill state in kafka topic \"%s\" is of another source: %s, "
						   "this bridge streams %s; if the change is deliberate (a failover, a restore) "
						   "restart with --accept-new-source", topic, theirs, mine);
		b->seq = 0;
		kafka_bf_topics_free(&b->topics);
		st->other_source = true;
		return SINK_OK;
	}
	st->present = true;
	if (!backfill_state_copy(&b->last, st))
		return bf_fail(ks, SINK_RETRY, "out of memory");
	b->has_last = true;
	st->record = true;
	st->record_lsn = 0;			/* Kafka keeps no streamed position record */
	/* without transactions part of the next page may be acknowledged */
	st->page_unsure = !ks->txn_mode;
	return SINK_OK;
}

/* ---- writing a page ---- */

static void
no_ack(void *arg, LedgerTicket t, uint32_t n)
{
	(void) arg;
	(void) t;
	(void) n;
}

/* one poll of the sink: delivery reports, a step of a transactional call */
static int
bf_poll(KafkaSink *ks, int timeout_ms)
{
	return ks->sink.ops->poll(&ks->sink, timeout_ms, no_ack, NULL);
}

static int
timed_out(KafkaSink *ks, int64_t deadline, const char *what)
{
	if (now_us() < deadline)
		return SINK_OK;
	return bf_fail(ks, SINK_RETRY, "timed out after %d s waiting for kafka: %s",
				   BF_WAIT_MS / 1000, what);
}

/*
 * A session of the sink for the pages: begun (marks are read as topics are
 * used), an earlier attempt's messages all reported, transactions ready.
 */
static int
session_ready(KafkaSink *ks, const SinkSource *src, uint64_t lsn, unsigned flags)
{
	KafkaBackfill *b = ks->backfill;
	int64_t		deadline = now_us() + (int64_t) BF_WAIT_MS * 1000;
	int			rc;

	/* a new session for each attempt (it began with backfill_read) */
	if (b->check || b->session == 0 || b->session != ks->session || b->rk != ks->rk)
	{
		b->accept = b->accept || (flags & SINK_BACKFILL_ACCEPT);
		rc = ks->sink.ops->replay_begin(&ks->sink, src, lsn,
										b->accept ? SINK_REPLAY_ACCEPT_NEW : 0);
		if (rc != SINK_OK)
			return rc;
		kafka_record_backfill(ks, lsn);
		b->session = ks->session;
		b->rk = ks->rk;
	}
	while (ks->settling || ks->txn == TXN_NEW || ks->txn == TXN_INIT)
	{
		if ((rc = bf_poll(ks, 100)) != SINK_OK ||
			(rc = timed_out(ks, deadline, ks->settling ? "an earlier attempt's messages" :
							"init_transactions")) != SINK_OK)
			return rc;
	}
	return SINK_OK;
}

/* the topic's marks read (and so its partitions known) */
static int
topic_ready(KafkaSink *ks, const KafkaOut *o)
{
	int64_t		deadline = now_us() + (int64_t) BF_WAIT_MS * 1000;
	bool		ready;
	int			rc;

	for (;;)
	{
		if ((rc = kafka_topic_resolve(ks, o->topic, o, &ready)) != SINK_OK || ready)
			return rc;
		if ((rc = bf_poll(ks, 10)) != SINK_OK ||
			(rc = timed_out(ks, deadline, "the partitions of a topic")) != SINK_OK)
			return rc;
	}
}

/* produce o to partition, in the page's transaction if there are any */
static int
send_one(KafkaSink *ks, const KafkaOut *o, int32_t partition)
{
	int64_t		deadline = now_us() + (int64_t) BF_WAIT_MS * 1000;
	bool		done = false;
	int			rc;

	if (ks->txn == TXN_IDLE && (rc = kafka_txn_begin(ks, o->lsn)) != SINK_OK)
		return rc;
	for (;;)
	{
		if ((rc = kafka_out_send(ks, o, partition, &done)) != SINK_OK || done)
			return rc;
		/* librdkafka's queue is full */
		if ((rc = bf_poll(ks, 10)) != SINK_OK ||
			(rc = timed_out(ks, deadline, "room in the producer's queue")) != SINK_OK)
			return rc;
	}
}

/* every message produced acknowledged (no transactions) */
static int
wait_delivered(KafkaSink *ks, uint64_t page)
{
	int64_t		deadline = now_us() + (int64_t) BF_WAIT_MS * 1000;
	char		what[80];
	int			rc;

	snprintf(what, sizeof(what), "the acknowledgements of backfill page %" PRIu64, page);
	while (ks->inflight.next != &ks->inflight)
	{
		if ((rc = bf_poll(ks, 100)) != SINK_OK || (rc = timed_out(ks, deadline, what)) != SINK_OK)
			return rc;
	}
	return ks->failed;
}

/* commit the page's transaction */
static int
commit_page(KafkaSink *ks, uint64_t page)
{
	int64_t		deadline = now_us() + (int64_t) BF_WAIT_MS * 1000;
	char		what[80];
	int			rc;

	snprintf(what, sizeof(what), "the commit of backfill page %" PRIu64, page);
	if ((rc = kafka_txn_commit(ks, true)) != SINK_OK)
		return rc;
	while (ks->txn == TXN_COMMIT)
	{
		if ((rc = bf_poll(ks, 100)) != SINK_OK || (rc = timed_out(ks, deadline, what)) != SINK_OK)
			return rc;
	}
	return ks->failed;
}

/* one backfilled row, unless the uncertain page's evidence has it */
static int
send_row(KafkaSink *ks, const FrameTxn *txn, const FrameJob *job, const char *poskey,
		 const char *page, bool check, const KafkaBfTopics *topics, uint32_t *skipped)
{
	KafkaOut	o;
	bool		has = false;
	int32_t		partition;
	int			rc;

	if (poskey == NULL)
		return bf_fail(ks, SINK_FATAL, "kafka sink: a backfilled row without its position key");
	if ((rc = kafka_out_build(ks, txn, job, 0, &o)) != SINK_OK ||
		(rc = topic_ready(ks, &o)) != SINK_OK)
		return rc;
	/* its mark, as kafka_marks.c reads a backfilled row back */
	o.lsn = txn->commit_lsn - 1;
	o.seq = UINT32_MAX;
	o.bf_key = poskey;
	snprintf(o.bf_page, sizeof(o.bf_page), "%s", page);
	o.bytes += strlen(poskey) + strlen(page) + sizeof("backfill") + sizeof("backfill_page");
	partition = kafka_out_partition(&o, o.topic->npartitions);
	/*
	 * the uncertain page's rows in the topics it was sent to (recorded) and
	 * in the row's topic now
	 */
	for (size_t i = 0; check && i <= topics->n; i++)
	{
		const char *t = i < topics->n ? topics->name[i] : o.topic->name;

		if (i == topics->n && kafka_bf_topics_has(topics, t, strlen(t)))
			break;
		if ((rc = kafka_bf_evidence_has(ks, &ks->backfill->ev, t, page, poskey, &has)) != SINK_OK)
			return rc;
		if (has)
		{
			(*skipped)++;
			return SINK_OK;
		}
	}
	return send_one(ks, &o, partition);
}

/*
 * the state record: a message to the state topic's partition 0; topics:
 * where the page after it goes
 */
static int
send_state(KafkaSink *ks, const SinkSource *src, const FrameTxn *txn, uint64_t page,
		   const BackfillState *next, const KafkaBfTopics *topics)
{
	char		target[300];
	char	   *json = kafka_bf_topics_format(topics);
	char	   *text = json ? kafka_backfill_state_format(ks->source, page, next, json) : NULL;
	FrameJob	job = {0};
	KafkaOut	o;
	int			rc;

	if (text == NULL)
		return bf_fail(ks, SINK_FATAL, "out of memory");
	if (!bf_of(ks)->state_topic_seen)
	{
		char		topic[400];

		/* never expire an unfinished backfill's state (docs/kafka.md) */
		state_topic(ks, src, topic, sizeof(topic));
		kafka_topic_create_compacted(ks, topic, "the backfill state");
		bf_of(ks)->state_topic_seen = true;
	}
	snprintf(target, sizeof(target), "wal2queue-backfill.%s", src->slot);
	job.is_message = true;
	job.target = (FrameBytes) {target, (uint32_t) strlen(target)};
	job.has_key = true;
	job.key = (FrameBytes) {src->slot, (uint32_t) strlen(src->slot)};
	job.payload = (FrameBytes) {text, (uint32_t) strlen(text)};
	if ((rc = kafka_out_build(ks, txn, &job, 0, &o)) == SINK_OK)
	{
		/* (the creation marker has no consistent point: 0) */
		o.lsn = txn->commit_lsn ? txn->commit_lsn - 1 : 0;
		o.seq = UINT32_MAX;
		rc = send_one(ks, &o, 0);
	}
	free(text);
	free(json);
	return rc;
}

/*
 * Without transactions, before a page with a row for a topic the last
 * record does not name: the last state again, naming the page's topics
 * (with the recorded ones while the page is uncertain: its rows may be
 * there), acknowledged before any row is sent
 */
static int
start_page(KafkaSink *ks, const SinkSource *src, const FrameTxn *txn, const KafkaBfTopics *now)
{
	KafkaBackfill *b = ks->backfill;
	KafkaBfTopics t = {0};
	int			rc;

	if (ks->txn_mode || !b->has_last || kafka_bf_topics_within(now, &b->topics))
		return SINK_OK;
	for (size_t i = 0; i < now->n; i++)
		if (!kafka_bf_topics_add(&t, now->name[i], strlen(now->name[i])))
			return (kafka_bf_topics_free(&t), bf_fail(ks, SINK_RETRY, "out of memory"));
	for (size_t i = 0; b->check && i < b->topics.n; i++)
		if (!kafka_bf_topics_add(&t, b->topics.name[i], strlen(b->topics.name[i])))
			return (kafka_bf_topics_free(&t), bf_fail(ks, SINK_RETRY, "out of memory"));
	if ((rc = send_state(ks, src, txn, b->page, &b->last, &t)) == SINK_OK)
		rc = wait_delivered(ks, b->page + 1);
	if (rc == SINK_OK)
	{
		kafka_bf_topics_free(&b->topics);
		b->topics = t;
	}
	else
		kafka_bf_topics_free(&t);
	return rc;
}

/* the page's rows (those of the uncertain page found in kafka skipped) */
static int
send_rows(KafkaSink *ks, const FrameTxn *txn, const BackfillState *next,
		  const FrameJob *jobs, uint32_t njobs, const char *page, uint32_t *skipped)
{
	KafkaBackfill *b = ks->backfill;
	int			rc = SINK_OK;

	for (uint32_t i = 0; rc == SINK_OK && i < njobs; i++)
	{
		if (njobs > 1 && i == njobs / 2 && backfill_test_at("page-half"))
		{
			if (!ks->txn_mode)
				rc = wait_delivered(ks, b->page + 1);
			backfill_test_pause("page-half");
		}
		if (rc == SINK_OK)
			rc = send_row(ks, txn, &jobs[i], next->job_keys ? next->job_keys[i] : NULL, page,
						  b->check, &b->topics, skipped);
	}
	return rc;
}

/* page + 1 and its state written: they are the last record now */
static int
page_written(KafkaSink *ks, const BackfillState *next, KafkaBfTopics *now)
{
	KafkaBackfill *b = ks->backfill;

	b->page++;
	b->seq = next->seq;
	b->check = false;
	kafka_bf_evidence_clear(&b->ev);
	last_clear(b);
	b->topics = *now;
	*now = (KafkaBfTopics) {0};
	/* without it no start record could be written: retry from a read */
	if (!backfill_state_copy(&b->last, next))
		return bf_fail(ks, SINK_RETRY, "out of memory");
	b->last.job_keys = NULL;
	b->has_last = true;
	return SINK_OK;
}

/*
 * The state that says done is about to be written: first the position
 * record at the backfill's consistent point, written and acknowledged
 * (with transactions: committed).  A bridge killed before the stream's
 * first session wrote one finds the record at the slot's start, not the
 * old slot's position behind it (test/t/575, 577); a kill before the done
 * state resumes the backfill, every row of which is acknowledged already.
 */
static int
record_at(KafkaSink *ks, uint64_t lsn)
{
	int64_t		deadline = now_us() + (int64_t) BF_WAIT_MS * 1000;
	int			rc;

	while (!kafka_record_ready(ks))
	{
		if ((rc = bf_poll(ks, 100)) != SINK_OK ||
			(rc = timed_out(ks, deadline, "the verdict of the position record")) != SINK_OK)
			return rc;
	}
	if ((rc = kafka_record_want(&ks->sink, lsn)) != SINK_OK)
		return rc;
	while (kafka_record_recorded(&ks->sink) < lsn)
	{
		if ((rc = bf_poll(ks, 100)) != SINK_OK ||
			(rc = timed_out(ks, deadline, "the position record at the backfill's consistent point")) != SINK_OK)
			return rc;
	}
	return SINK_OK;
}

/* one page: its start record, rows and state (next: of this page) */
static int
write_page(KafkaSink *ks, const SinkSource *src, unsigned flags, const BackfillState *next,
		   const FrameJob *jobs, uint32_t njobs)
{
	KafkaBackfill *b = ks->backfill;
	FrameTxn	txn = {0, next->lsn, next->lsn, now_us(), njobs};
	KafkaBfTopics now = {0};
	char		page[24];
	uint32_t	skipped = 0;
	bool		marker = next->lsn == 0;	/* BACKFILL_CREATING */
	int			rc = SINK_OK;

	if (!kafka_bf_topics_of_page(ks->sink.cfg->target_prefix, jobs, njobs, &now))
		return (kafka_bf_topics_free(&now), bf_fail(ks, SINK_RETRY, "out of memory"));
	snprintf(page, sizeof(page), "%" PRIu64, b->page + 1);
	/* the creation marker (lsn 0) is written before there is a slot */
	if ((rc = session_ready(ks, src, marker ? src->wal_end : next->lsn, flags)) == SINK_OK &&
		(rc = start_page(ks, src, &txn, &now)) == SINK_OK)
		rc = send_rows(ks, &txn, next, jobs, njobs, page, &skipped);
	if (rc == SINK_OK && !ks->txn_mode)
		rc = wait_delivered(ks, b->page + 1);
	if (rc == SINK_OK && next->done && !marker)
	{
		/* rows of the page in an open transaction commit first */
		if (ks->txn_mode && ks->txn == TXN_OPEN)
			rc = commit_page(ks, b->page + 1);
		if (rc == SINK_OK)
			rc = record_at(ks, next->lsn);
		if (rc == SINK_OK)
			backfill_test_pause("done-record");
	}
	if (rc == SINK_OK)
		rc = send_state(ks, src, &txn, b->page + 1, next, &now);
	if (rc == SINK_OK)
		rc = ks->txn_mode ? commit_page(ks, b->page + 1) : wait_delivered(ks, b->page + 1);
	if (rc == SINK_OK && skipped > 0)
		log_msg(LOG_INFO, "backfill page %s: %u of its %u rows were in kafka already (an earlier attempt)",
				page, skipped, njobs);
	if (rc == SINK_OK)
		rc = page_written(ks, next, &now);
	kafka_bf_topics_free(&now);
	if (rc == SINK_OK && marker)
		b->session = 0;			/* the slot's session begins at its start */
	return rc;
}

/* the bytes of a state record without next_topics, its key and headers */
static size_t
state_bytes(KafkaSink *ks, const BackfillState *st)
{
	char	   *text = kafka_backfill_state_format(ks->source, UINT64_MAX, st, "[]");
	size_t		len = text ? strlen(text) : 0;

	free(text);
	return len + BF_STATE_OVERHEAD;
}

/*
 * The bytes a state record has for next_topics: one of next's pages (its
 * key any row's of the call) or a start record (the last state's, or one
 * of those pages')
 */
static size_t
state_room(KafkaSink *ks, const BackfillState *next, uint32_t njobs, int64_t *max)
{
	KafkaBackfill *b = ks->backfill;
	BackfillState longest = *next;
	size_t		base;

	for (uint32_t i = 0; next->job_keys && i < njobs; i++)
		if (longest.key == NULL || strlen(next->job_keys[i]) > strlen(longest.key))
			longest.key = next->job_keys[i];
	base = state_bytes(ks, &longest);

	*max = ks->max_message_bytes > 0 ? ks->max_message_bytes : 1000000;
	if (b->has_last && state_bytes(ks, &b->last) > base)
		base = state_bytes(ks, &b->last);
	return (int64_t) base < *max ? (size_t) (*max - (int64_t) base) : 0;
}

/* row i's topic does not fit a state record (with: with the recorded ones) */
static int
refuse_row(KafkaSink *ks, const BackfillState *next, const FrameJob *jobs, uint32_t i,
		   bool with, int64_t max)
{
	const char *prefix = ks->sink.cfg->target_prefix ? ks->sink.cfg->target_prefix : "";
	uint32_t	len = jobs[i].target.len;

	return bf_fail(ks, SINK_FATAL, "backfill of table %s: the row with key %s goes to a topic "
				   "whose name does not fit a backfill state record%s within message.max.bytes "
				   "(%" PRId64 "): raise it (-X message.max.bytes=N); the topic: %s%.*s%s",
				   next->table, next->job_keys ? next->job_keys[i] : "(unknown)",
				   with ? " with the topics of the page an earlier attempt sent" : "", max,
				   prefix, (int) (len > 200 ? 200 : len), jobs[i].target.data, len > 200 ? "..." : "");
}

/*
 * Where the page of jobs[from..njobs) ends: its state record (and a start
 * record, naming the uncertain page's recorded topics too) must name its
 * topics within room bytes.  A page routed to more topics than one record
 * can name is cut there; the next page starts at the row left out.
 */
static int
page_end(KafkaSink *ks, const BackfillState *next, const FrameJob *jobs, uint32_t from,
		 uint32_t njobs, size_t room, int64_t max, uint32_t *end)
{
	KafkaBackfill *b = ks->backfill;
	bool		with = b->check && !ks->txn_mode && b->has_last;

	if (!kafka_bf_topics_cut(ks->sink.cfg->target_prefix, jobs, from, njobs,
							 with ? &b->topics : NULL, room, end))
		return bf_fail(ks, SINK_RETRY, "out of memory");
	if (*end == from && from < njobs)
		return refuse_row(ks, next, jobs, from, with, max);
	if (*end < njobs && next->job_keys == NULL)
		return bf_fail(ks, SINK_FATAL, "kafka sink: a backfill page to cut without its position keys");
	return SINK_OK;
}

/*
 * Every row's topic fits a state record alone: checked before any row is
 * sent, so that a refusal leaves no page of the call behind
 */
static int
rows_fit(KafkaSink *ks, const BackfillState *next, const FrameJob *jobs, uint32_t njobs,
		 size_t room, int64_t max)
{
	for (uint32_t i = 0, e; i < njobs; i++)
	{
		if (!kafka_bf_topics_cut(ks->sink.cfg->target_prefix, jobs, i, i + 1, NULL, room, &e))
			return bf_fail(ks, SINK_RETRY, "out of memory");
		if (e == i)
			return refuse_row(ks, next, jobs, i, false, max);
	}
	return SINK_OK;
}

int
kafka_backfill_batch(Sink *s, const SinkSource *src, unsigned flags, uint64_t prev_seq,
					 const BackfillState *next, const FrameJob *jobs, uint32_t njobs)
{
	KafkaSink  *ks = (KafkaSink *) s;
	KafkaBackfill *b = bf_of(ks);
	uint32_t	from = 0,
				end;
	size_t		room;
	int64_t		max;
	int			rc;

	if (b == NULL)
		return bf_fail(ks, SINK_FATAL, "out of memory");
	if (!b->known)
		return bf_fail(ks, SINK_FATAL, "kafka sink: a backfill page before the backfill state was read");
	if (!(flags & SINK_BACKFILL_NEW) && b->seq != prev_seq)
		return bf_fail(ks, SINK_FATAL, "the kafka backfill state is at page %" PRIu64 " of the backfill, "
					   "this bridge wrote page %" PRIu64 " next: another bridge backfills the same slot",
					   b->seq, next->seq);
	if (next->lsn == 0 && njobs > 0)
		return bf_fail(ks, SINK_FATAL, "kafka sink: a backfill without a consistent point");
	/* pages of the call cut where their topics would not fit a state record */
	room = state_room(ks, next, njobs, &max);
	if ((rc = rows_fit(ks, next, jobs, njobs, room, max)) != SINK_OK)
		return rc;
	do
	{
		BackfillState part = *next;

		if ((rc = page_end(ks, next, jobs, from, njobs, room, max, &end)) != SINK_OK)
			return rc;
		part.job_keys = next->job_keys ? next->job_keys + from : NULL;
		if (end < njobs)
		{
			/* a state like next's, ending at the page's last row */
			part.key = next->job_keys[end - 1];
			part.rows = next->rows - (njobs - end);
			part.done = false;
		}
		rc = write_page(ks, src, flags, &part, jobs + from, end - from);
		from = end;
	} while (rc == SINK_OK && from < njobs);
	return rc;
}
