/*-------------------------------------------------------------------------
 *
 * kafka_record_read.c
 *		Reading a slot's position record back (kafka_record.c), on the
 *		worker thread of kafka_marks.c.
 *
 * Once per process, when the cluster does not list the topic, it is
 * created compacted with one partition (CreateTopics, at most
 * CREATE_TIMEOUT_MS; a cluster that refuses or does not support it creates
 * the topic on the metadata request below, with its defaults, or says it
 * is missing: fatal, naming the topic).  Then the topic's partition count
 * gives the slot key's partition (murmur2, as for jobs), its watermarks
 * where to read, and windows read back from its end (64 messages, then 8
 * times more each round) until a message with the slot's key is found:
 * the last one is the record.  Each librdkafka call is bounded by
 * KAFKA_STEP_MS, the whole look-up by MARKS_TIMEOUT_MS (then SINK_RETRY).
 * The worker touches nothing but the librdkafka handles and its request.
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errbuf.h"
#include "kafka_record.h"
#include "log.h"
#include "murmur2.h"

#define RECORD_WINDOW 64		/* the first window read back */
#define CREATE_TIMEOUT_MS 2000	/* creating the topic (CreateTopics) */

/* does the cluster know the topic? (listing all topics creates none) */
static bool
topic_listed(KafkaSink *ks, const char *topic)
{
	const struct rd_kafka_metadata *md = NULL;
	bool		listed = true;	/* unknown: do not try to create it */

	if (rd_kafka_metadata(ks->rk, 1, NULL, &md, KAFKA_STEP_MS) == RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		listed = false;
		for (int i = 0; i < md->topic_cnt && !listed; i++)
			listed = strcmp(md->topics[i].topic, topic) == 0;
		rd_kafka_metadata_destroy(md);
	}
	return listed;
}

/*
 * Create the topic compacted (and retention.ms=-1), one partition, if it is
 * missing; a failure (not allowed, not supported) is left to the metadata
 * request, which creates it as the cluster's defaults say, or says it is
 * missing.  what: "the position records", "the backfill state".
 */
void
kafka_topic_create_compacted(KafkaSink *ks, const char *topic, const char *what)
{
	rd_kafka_t *rk = ks->rk;
	char		errstr[256];
	rd_kafka_NewTopic_t *nt;
	rd_kafka_queue_t *rq;
	rd_kafka_AdminOptions_t *opt;
	rd_kafka_event_t *ev = NULL;
	int64_t		deadline = now_us() + (int64_t) CREATE_TIMEOUT_MS * 1000;

	if (rk == NULL || topic_listed(ks, topic))
		return;
	nt = rd_kafka_NewTopic_new(topic, 1, -1, errstr, sizeof(errstr));
	rq = rd_kafka_queue_new(rk);
	opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	if (nt == NULL || rq == NULL || opt == NULL ||
		rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact") != RD_KAFKA_RESP_ERR_NO_ERROR ||
		rd_kafka_NewTopic_set_config(nt, "retention.ms", "-1") != RD_KAFKA_RESP_ERR_NO_ERROR)
		goto done;
	rd_kafka_AdminOptions_set_request_timeout(opt, CREATE_TIMEOUT_MS, errstr, sizeof(errstr));
	rd_kafka_CreateTopics(rk, &nt, 1, opt, rq);
	while (ev == NULL && now_us() < deadline && !kafka_worker_stopping(ks))
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
			log_msg(LOG_INFO, "created kafka topic \"%s\" (compacted) for %s", topic, what);
		else if (err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
			log_msg(LOG_DEBUG, "could not create kafka topic \"%s\": %s", topic,
					rd_kafka_err2str(err));
		rd_kafka_event_destroy(ev);
	}
	else
		log_msg(LOG_DEBUG, "could not create kafka topic \"%s\": no answer within %d ms",
				topic, CREATE_TIMEOUT_MS);
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

	while (rkt != NULL && !kafka_worker_stopping(ks))
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

/* a message of the slot's key: its source, lsn, shape and options headers */
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
	q->source[0] = q->shape[0] = '\0';
	free(q->options);
	q->options = NULL;
	q->options_lost = false;
	free(q->below);
	q->below = NULL;
	q->below_until = 0;
	q->has_lsn = false;
	if (rd_kafka_message_headers(msg, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return;
	if (rd_kafka_header_get_last(h, "source", &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR &&
		v != NULL && n < sizeof(q->source))
	{
		memcpy(q->source, v, n);
		q->source[n] = '\0';
	}
	if (rd_kafka_header_get_last(h, "shape", &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR &&
		v != NULL && n < sizeof(q->shape))
	{
		memcpy(q->shape, v, n);
		q->shape[n] = '\0';
	}
	if (rd_kafka_header_get_last(h, "options", &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR &&
		v != NULL)
	{
		if ((q->options = malloc(n + 1)) == NULL)
			q->options_lost = true;
		else
		{
			memcpy(q->options, v, n);
			q->options[n] = '\0';
		}
	}
	if (rd_kafka_header_get_last(h, "options_below", &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR &&
		v != NULL)
	{
		const void *u;
		size_t		un;

		if ((q->below = malloc(n + 1)) == NULL)
			q->options_lost = true;
		else
		{
			memcpy(q->below, v, n);
			q->below[n] = '\0';
		}
		/* without a readable position it cannot be honoured: all of it */
		if (rd_kafka_header_get_last(h, "options_below_until", &u, &un) != RD_KAFKA_RESP_ERR_NO_ERROR ||
			u == NULL || !lsn_parse(u, un, &q->below_until))
			q->below_until = UINT64_MAX;
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
			if (now_us() > deadline || kafka_worker_stopping(q->ks))
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
		if (now_us() >= deadline || kafka_worker_stopping(q->ks))
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

/* the whole look-up, in the worker */
void
kafka_record_read(KafkaWork *w)
{
	RecordReq  *q = (RecordReq *) w;
	int64_t		deadline = now_us() + (int64_t) MARKS_TIMEOUT_MS * 1000;

	if (q->create)
		kafka_topic_create_compacted(q->ks, q->topic, "the position records");
	if ((q->rc = rreq_partition(q, deadline)) == SINK_OK)
		q->rc = rreq_read_back(q, deadline);
	if (q->rc == SINK_OK && q->options_lost)
		q->rc = errbuf_set(q->err, sizeof(q->err), SINK_RETRY, "out of memory");
}

