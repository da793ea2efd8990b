/*-------------------------------------------------------------------------
 *
 * kafka_gaps.c
 *		Another writer in a partition, seen while both write: a gap between
 *		two of our messages.
 *
 * The marks (kafka_marks.c) catch another source only when a session
 * reads a topic: a bridge of another slot that writes the same topic at
 * the same time goes unseen until the next session (test/t/202).  This
 * file looks for positive evidence meanwhile.  The idempotent producer
 * appends our messages to a partition at consecutive offsets; every
 * delivery report gives the offset.  So our next message in a partition
 * should land where the last one ended (after the marks were read: at the
 * high watermark then).  When it lands further on, something else was
 * appended in between: the worker thread fetches those offsets
 * (read_committed, each call bounded by KAFKA_STEP_MS) and a message of
 * another source, or one without lsn and seq headers, stops the bridge
 * with exit 1 naming both sources, as the marks do.  Messages of our own
 * source in a gap (a dead producer's, docs/kafka.md) are no error.
 * --accept-new-source changes nothing here: it accepts what a topic ended
 * with when the session began (a deliberate failover or restore), never a
 * source writing at the same time.
 *
 * With --kafka-transactions every commit writes a control record into
 * each partition the transaction wrote: a gap of exactly one offset
 * between messages of two of our transactions is that record and is not
 * fetched; any other gap is (a fetch returns data messages only, so a gap
 * of control records and aborted messages reads as empty or as ours).
 *
 * At most one fetch per partition waits for the worker: a gap found
 * meanwhile widens it.  Results are picked up by kafka_gaps_collect from
 * poll; the main thread never waits for the worker.
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "kafka_sink.h"
#include "log.h"

#define GAP_TIMEOUT_MS 10000	/* fetching one gap */

struct GapReq
{
	KafkaWork	work;			/* first: the worker's queue entry */
	GapReq	   *next;			/* the sink's list */
	KafkaSink  *ks;				/* only its handles and worker are used */
	char	   *topic;
	int32_t		partition;
	int64_t		lo;				/* the gap: offsets lo .. hi - 1 */
	int64_t		hi;
	char		source[KAFKA_SOURCE_LEN];	/* ours, when it was found */
	/* the result, written by the worker */
	int			rc;
	char		err[SINK_ERRLEN];
	int64_t		nread;			/* data messages read in the gap */
};

static void
gap_free(GapReq *g)
{
	free(g->topic);
	free(g);
}

/* a message of the gap: SINK_FATAL naming it if another source wrote it */
static int
gap_take(GapReq *g, const rd_kafka_message_t *msg)
{
	rd_kafka_headers_t *hdrs = NULL;
	const void *v;
	size_t		n;
	bool		has_lsn,
				has_src;
	char		src[KAFKA_SOURCE_LEN] = "";

	g->nread++;
	if (rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
		hdrs = NULL;
	has_lsn = hdrs != NULL &&
		rd_kafka_header_get_last(hdrs, "lsn", &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR &&
		rd_kafka_header_get_last(hdrs, "seq", &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR;
	has_src = hdrs != NULL &&
		rd_kafka_header_get_last(hdrs, "source", &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR &&
		v != NULL && n < sizeof(src);
	if (has_src)
	{
		memcpy(src, v, n);
		src[n] = '\0';
	}
	if (has_lsn && has_src && strcmp(src, g->source) == 0)
		return SINK_OK;
	if (!has_lsn)
		return errbuf_set(g->err, sizeof(g->err), SINK_FATAL,
						  "kafka topic \"%s\" partition %d: offset %" PRId64 ", between two messages "
						  "of this bridge (source %s), has no lsn and seq headers: another producer "
						  "writes this topic while the bridge runs",
						  g->topic, (int) g->partition, msg->offset, g->source);
	return errbuf_set(g->err, sizeof(g->err), SINK_FATAL,
					  "kafka topic \"%s\" partition %d: offset %" PRId64 ", between two messages of "
					  "this bridge, holds a message of another source: %s, this bridge streams %s; "
					  "another bridge writes this topic at the same time (one topic is written by "
					  "one source: give the bridges different --target-prefix es or routes)",
					  g->topic, (int) g->partition, msg->offset,
					  has_src ? src : "none recorded (written by an older wal2queue)", g->source);
}

/*
 * Read the gap's messages until hi or the deadline.  read_committed stops at
 * the last stable offset: a gap followed by an open transaction is read once
 * that commits.
 */
static int
gap_read(GapReq *g, rd_kafka_topic_t *rkt, rd_kafka_queue_t *cq)
{
	int64_t		deadline = now_us() + (int64_t) GAP_TIMEOUT_MS * 1000;
	int			rc = SINK_OK;

	for (;;)
	{
		rd_kafka_message_t *msg = rd_kafka_consume_queue(cq, 100);
		bool		end = false;

		if (msg == NULL)
		{
			if (now_us() > deadline)
				return errbuf_set(g->err, sizeof(g->err), SINK_RETRY,
								  "timed out reading offsets %" PRId64 " to %" PRId64
								  " of kafka topic \"%s\" partition %d",
								  g->lo, g->hi - 1, g->topic, (int) g->partition);
			continue;
		}
		if (msg->partition != g->partition || msg->rkt != rkt)
			;
		else if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			end = msg->offset >= g->hi;	/* else: the stable offset moves on */
		else if (msg->err)
		{
			rc = errbuf_set(g->err, sizeof(g->err), SINK_RETRY,
							"could not read kafka topic \"%s\" partition %d at offset %" PRId64 ": %s",
							g->topic, (int) g->partition, g->lo, rd_kafka_message_errstr(msg));
			end = true;
		}
		else if (msg->offset >= g->hi)
			end = true;
		else if (msg->offset >= g->lo)
			end = (rc = gap_take(g, msg)) != SINK_OK;
		rd_kafka_message_destroy(msg);
		if (end)
			return rc;
	}
}

/* in the worker: fetch the gap */
static void
gap_run(KafkaWork *w)
{
	GapReq	   *g = (GapReq *) w;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(g->ks->rkc, g->topic, NULL);
	rd_kafka_queue_t *cq;

	if (rkt == NULL)
	{
		g->rc = errbuf_set(g->err, sizeof(g->err), SINK_RETRY,
						   "could not open kafka topic \"%s\": %s", g->topic,
						   rd_kafka_err2str(rd_kafka_last_error()));
		return;
	}
	cq = rd_kafka_queue_new(g->ks->rkc);
	if (rd_kafka_consume_start_queue(rkt, g->partition, g->lo, cq) == -1)
		g->rc = errbuf_set(g->err, sizeof(g->err), SINK_RETRY,
						   "could not read kafka topic \"%s\" partition %d: %s",
						   g->topic, (int) g->partition, rd_kafka_err2str(rd_kafka_last_error()));
	else
	{
		g->rc = gap_read(g, rkt, cq);
		rd_kafka_consume_stop(rkt, g->partition);
	}
	rd_kafka_queue_destroy(cq);
	rd_kafka_topic_destroy(rkt);
}

/* a gap lo .. hi - 1: widen the fetch still waiting, or start one */
static void
gap_add(KafkaSink *ks, KafkaTopic *t, int32_t partition, int64_t lo, int64_t hi)
{
	GapReq	   *g;
	bool		widened = false;

	for (g = ks->gaps; g != NULL; g = g->next)
	{
		if (g->partition != partition || strcmp(g->topic, t->name) != 0)
			continue;
		pthread_mutex_lock(&ks->worker.lock);
		if (g->work.queued)
		{
			g->lo = lo < g->lo ? lo : g->lo;
			g->hi = hi > g->hi ? hi : g->hi;
			widened = true;
		}
		pthread_mutex_unlock(&ks->worker.lock);
		if (widened)
			return;
	}
	if ((g = calloc(1, sizeof(GapReq))) == NULL || (g->topic = strdup(t->name)) == NULL)
	{
		free(g);
		kafka_fail(ks, SINK_RETRY, "out of memory");
		return;
	}
	g->ks = ks;
	g->partition = partition;
	g->lo = lo;
	g->hi = hi;
	memcpy(g->source, ks->source, sizeof(g->source));
	g->work.run = gap_run;
	g->next = ks->gaps;
	ks->gaps = g;
	log_msg(LOG_DEBUG, "kafka topic \"%s\" partition %d: offsets %" PRId64 " to %" PRId64
			" were written by someone else between two of our messages; reading them",
			t->name, (int) partition, lo, hi - 1);
	kafka_worker_submit(ks, &g->work);
}

/*
 * A delivery report: our message landed at offset.  A gap since our last
 * one (beyond a transaction's control record) is fetched.
 */
void
kafka_offset_seen(KafkaSink *ks, KafkaTopic *t, int32_t partition, int64_t offset)
{
	KafkaMark  *m;
	int64_t		gap;

	if (t == NULL || t->marks == NULL || partition < 0 || partition >= t->npartitions ||
		offset < 0)
		return;
	m = &t->marks[partition];
	gap = offset - m->next_offset;
	if (m->next_offset >= 0 && gap > 0 &&
		!(ks->txn_mode && gap == 1 && m->last_txn != ks->txn_no))
		gap_add(ks, t, partition, m->next_offset, offset);
	if (offset >= m->next_offset)
	{
		m->next_offset = offset + 1;
		m->last_txn = ks->txn_no;
	}
}

/* from poll: finished fetches; SINK_FATAL if one found another source */
int
kafka_gaps_collect(KafkaSink *ks)
{
	GapReq	  **pp = &ks->gaps;
	int			rc = SINK_OK;

	while (*pp != NULL && rc == SINK_OK)
	{
		GapReq	   *g = *pp;

		if (!kafka_work_done(ks, &g->work))
		{
			pp = &g->next;
			continue;
		}
		*pp = g->next;
		if (g->rc != SINK_OK)
			rc = errbuf_set(ks->sink.err, sizeof(ks->sink.err), g->rc, "%s", g->err);
		else
			log_msg(LOG_DEBUG, "kafka topic \"%s\" partition %d: offsets %" PRId64 " to %" PRId64
					" hold %" PRId64 " data messages, all of this source", g->topic,
					(int) g->partition, g->lo, g->hi - 1, g->nread);
		gap_free(g);
	}
	return rc;
}

/* the worker must be stopped */
void
kafka_gaps_free(KafkaSink *ks)
{
	while (ks->gaps != NULL)
	{
		GapReq	   *g = ks->gaps;

		ks->gaps = g->next;
		gap_free(g);
	}
}
