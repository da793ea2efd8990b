/*-------------------------------------------------------------------------
 *
 * kafka_backfill_evidence.c
 *		Reading a Kafka partition's tail back (kafka_backfill.c: the state
 *		topic's last message, the uncertain page's evidence), and that
 *		evidence: the position keys of the page's rows a topic holds in
 *		any of its partitions (messages with this bridge's source and the
 *		page's backfill_page header), read once per topic.
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errbuf.h"
#include "kafka_sink.h"
#include "log.h"

#define TAIL_WINDOW		256		/* first look-back of a tail read */

#define ev_fail(ks, rc, ...) errbuf_set((ks)->sink.err, sizeof((ks)->sink.err), (rc), __VA_ARGS__)

/* ---- reading a partition's tail (the consumer handle, this thread) ---- */

/*
 * Does the topic have that partition?  Only a topic the cluster does not
 * have reads as absent; other answers (authorization) are errors.
 */
static int
partition_exists(KafkaSink *ks, rd_kafka_topic_t *rkt, const char *topic,
				 int32_t partition, int64_t deadline, bool *exists)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t err;

	*exists = false;
	while ((err = rd_kafka_metadata(ks->rkc, 0, rkt, &md, KAFKA_STEP_MS)) != RD_KAFKA_RESP_ERR_NO_ERROR &&
		   now_us() < deadline)
		usleep(100 * 1000);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		return ev_fail(ks, SINK_RETRY, "could not read the metadata of kafka topic \"%s\": %s",
					   topic, rd_kafka_err2str(err));
	err = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
	*exists = err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topics[0].partition_cnt > partition;
	rd_kafka_metadata_destroy(md);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
		return SINK_OK;
	return ev_fail(ks, err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ? SINK_FATAL : SINK_RETRY,
				   "could not read kafka topic \"%s\": %s", topic, rd_kafka_err2str(err));
}

/*
 * Read topic's partition from `back` messages before its end to its end,
 * calling fn for every data message; *exists false if the topic does not
 * exist, *lo_reached whether the read began at the partition's start.
 */
int
kafka_tail_read(KafkaSink *ks, const char *topic, int32_t partition, int64_t back,
				KafkaTailFn fn, void *arg, bool *exists, bool *lo_reached)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(ks->rkc, topic, NULL);
	rd_kafka_resp_err_t err;
	int64_t		lo,
				hi,
				deadline = now_us() + (int64_t) KAFKA_BF_WAIT_MS * 1000;
	int			rc;

	*exists = false;
	*lo_reached = true;
	if (rkt == NULL)
		return ev_fail(ks, SINK_RETRY, "could not open kafka topic \"%s\": %s", topic,
					   rd_kafka_err2str(rd_kafka_last_error()));
	if ((rc = partition_exists(ks, rkt, topic, partition, deadline, exists)) != SINK_OK || !*exists)
	{
		rd_kafka_topic_destroy(rkt);
		return rc;
	}
	while ((err = rd_kafka_query_watermark_offsets(ks->rkc, topic, partition, &lo, &hi,
												   KAFKA_STEP_MS)) != RD_KAFKA_RESP_ERR_NO_ERROR &&
		   now_us() < deadline)
		usleep(100 * 1000);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		rc = ev_fail(ks, SINK_RETRY, "could not read the offsets of kafka topic \"%s\" partition %d: %s",
					 topic, (int) partition, rd_kafka_err2str(err));
	else if (hi > lo)
	{
		int64_t		start = hi - back > lo ? hi - back : lo;

		*lo_reached = start == lo;
		if (rd_kafka_consume_start(rkt, partition, start) == -1)
			rc = ev_fail(ks, SINK_RETRY, "could not read kafka topic \"%s\" partition %d: %s",
						 topic, (int) partition, rd_kafka_err2str(rd_kafka_last_error()));
		while (rc == SINK_OK)
		{
			rd_kafka_message_t *m = rd_kafka_consume(rkt, partition, 100);

			if (m == NULL)
			{
				if (now_us() > deadline)
					rc = ev_fail(ks, SINK_RETRY, "timed out reading kafka topic \"%s\" partition %d",
								 topic, (int) partition);
				continue;
			}
			if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			{
				rd_kafka_message_destroy(m);
				break;
			}
			if (m->err)
				rc = ev_fail(ks, SINK_RETRY, "could not read kafka topic \"%s\" partition %d: %s",
							 topic, (int) partition, rd_kafka_message_errstr(m));
			else if (!fn(arg, m))
				rc = ev_fail(ks, SINK_RETRY, "out of memory");
			else if (m->offset >= hi - 1)
			{
				/* the end known: no need to wait for the end-of-partition event */
				rd_kafka_message_destroy(m);
				break;
			}
			rd_kafka_message_destroy(m);
		}
		rd_kafka_consume_stop(rkt, partition);
	}
	rd_kafka_topic_destroy(rkt);
	return rc;
}

/* a header's value as a NUL-terminated copy into buf, or false */
static bool
header(const rd_kafka_message_t *m, const char *name, char *buf, size_t len)
{
	rd_kafka_headers_t *h = NULL;
	const void *v;
	size_t		n;

	if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR ||
		rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR ||
		v == NULL || n >= len)
		return false;
	memcpy(buf, v, n);
	buf[n] = '\0';
	return true;
}

/* ---- the uncertain page's evidence ---- */

/* the rows of the uncertain page a topic holds (sorted keys) */
typedef struct Evidence
{
	char	   *topic;
	char	  **keys;
	size_t		n;
} Evidence;

typedef struct EvRead
{
	const char *source;
	const char *page;
	char	  **keys;
	size_t		n;
	size_t		cap;
	bool		first_is_page;	/* the first data message read is of the page */
	bool		any;
} EvRead;

static bool
ev_take(void *arg, const rd_kafka_message_t *m)
{
	EvRead	   *e = arg;
	char		src[KAFKA_SOURCE_LEN],
				page[24];
	bool		of_page = header(m, "source", src, sizeof(src)) && strcmp(src, e->source) == 0 &&
		header(m, "backfill_page", page, sizeof(page)) && strcmp(page, e->page) == 0;
	rd_kafka_headers_t *h = NULL;
	const void *v;
	size_t		n;

	if (!e->any)
		e->first_is_page = of_page;
	e->any = true;
	if (!of_page || rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR ||
		rd_kafka_header_get_last(h, "backfill", &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR || v == NULL)
		return true;
	if (e->n == e->cap)
	{
		size_t		cap = e->cap ? e->cap * 2 : 64;
		char	  **p = realloc(e->keys, cap * sizeof(char *));

		if (p == NULL)
			return false;
		e->keys = p;
		e->cap = cap;
	}
	return (e->keys[e->n++] = strndup(v, n)) != NULL;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* forget the keys read after the first `base` (a read begun again) */
static void
ev_trim(EvRead *e, size_t base)
{
	while (e->n > base)
		free(e->keys[--e->n]);
	e->any = false;
	e->first_is_page = false;
}

/* the rows of page e->page one partition holds, added to e */
static int
evidence_partition(KafkaSink *ks, const char *topic, int32_t partition, EvRead *e,
				   bool *exists)
{
	size_t		base = e->n;
	int64_t		back = TAIL_WINDOW;
	int			rc;

	for (;;)
	{
		bool		lo_reached;

		ev_trim(e, base);
		rc = kafka_tail_read(ks, topic, partition, back, ev_take, e, exists, &lo_reached);
		if (rc != SINK_OK || !e->any || !e->first_is_page || lo_reached)
			break;
		/* the page may begin further back: read more */
		back *= 4;
	}
	if (rc == SINK_OK && e->n > base)
		log_msg(LOG_INFO, "backfill page %s: kafka topic \"%s\" partition %d already holds %zu of its rows",
				e->page, topic, (int) partition, e->n - base);
	return rc;
}

/*
 * The rows of page `page` that topic holds in any of its partitions (the
 * one a row maps to now need not be the one it was sent to: another
 * --key-column since, test/t/415), read once per topic; a topic that does
 * not exist holds none
 */
static int
evidence_get(KafkaSink *ks, KafkaBfEvidence *b, const char *topic, const char *page,
			 Evidence **out)
{
	EvRead		e = {.source = ks->source, .page = page};
	Evidence   *p;
	bool		exists = true;
	int			rc = SINK_OK;

	for (size_t i = 0; i < b->nev; i++)
		if (strcmp(b->ev[i].topic, topic) == 0)
			return (*out = &b->ev[i], SINK_OK);
	if ((p = realloc(b->ev, (b->nev + 1) * sizeof(Evidence))) == NULL)
		return ev_fail(ks, SINK_RETRY, "out of memory");
	b->ev = p;
	for (int32_t part = 0; rc == SINK_OK && exists; part++)
		rc = evidence_partition(ks, topic, part, &e, &exists);
	if (rc != SINK_OK || (p[b->nev].topic = strdup(topic)) == NULL)
	{
		ev_trim(&e, 0);
		free(e.keys);
		return rc != SINK_OK ? rc : ev_fail(ks, SINK_RETRY, "out of memory");
	}
	if (e.n > 1)
		qsort(e.keys, e.n, sizeof(char *), cmp_str);
	p[b->nev].keys = e.keys;
	p[b->nev].n = e.n;
	*out = &p[b->nev++];
	return SINK_OK;
}

static bool
evidence_has(const Evidence *ev, const char *key)
{
	return ev->n > 0 && bsearch(&key, ev->keys, ev->n, sizeof(char *), cmp_str) != NULL;
}

void
kafka_bf_evidence_clear(KafkaBfEvidence *b)
{
	for (size_t i = 0; i < b->nev; i++)
	{
		for (size_t k = 0; k < b->ev[i].n; k++)
			free(b->ev[i].keys[k]);
		free(b->ev[i].keys);
		free(b->ev[i].topic);
	}
	free(b->ev);
	b->ev = NULL;
	b->nev = 0;
}

/* does topic hold poskey's row of page `page` (its evidence read once)? */
int
kafka_bf_evidence_has(KafkaSink *ks, KafkaBfEvidence *b, const char *topic, const char *page,
					  const char *poskey, bool *has)
{
	Evidence   *ev = NULL;
	int			rc = evidence_get(ks, b, topic, page, &ev);

	*has = rc == SINK_OK && evidence_has(ev, poskey);
	return rc;
}
