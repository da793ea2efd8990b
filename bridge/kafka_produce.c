/*-------------------------------------------------------------------------
 *
 * kafka_produce.c
 *		Jobs as Kafka messages: topic, partition, key, value, headers;
 *		producing them, their delivery reports and the acknowledgements.
 *
 * Every job becomes one message on topic target_prefix + target, keyed by
 * the job key, valued by the row as JSON (or --value-column's text, or a
 * logical message's payload), with headers lsn (the commit LSN, %X/%X),
 * seq, xid, table (rows only), commit_time and source
 * (<sysid>/<timeline>/<dbname>/<slot>).
 *
 * The sink picks every partition itself: murmur2(key) like the Java client,
 * and for keyless jobs murmur2 of the lsn header, so all keyless jobs of a
 * transaction share a partition.  The idempotent producer writes each
 * partition in produce order without gap or duplicate for the life of one
 * producer; jobs arrive in (commit lsn, seq) order, so every partition
 * holds them in that order and its last message is its mark.
 *
 * librdkafka calls the delivery report only from rd_kafka_poll() in this
 * thread; acknowledgements reached outside poll/drain (and jobs skipped by
 * the marks) wait in a small queue until the next poll.  A delivery report
 * of a previous session's message advances its partition's mark but
 * acknowledges nothing: the ledger it belonged to is gone.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errbuf.h"
#include "kafka_sink.h"
#include "log.h"
#include "murmur2.h"

#define TOPIC_NAME_MAX 249		/* Kafka's limit */

/* ---- acknowledgements ---- */

void
kafka_ack_push(KafkaSink *ks, AckQueue *q, LedgerTicket t, uint32_t n)
{
	if (q->n > 0 && q->a[q->n - 1].ticket == t)
	{
		q->a[q->n - 1].n += n;
		return;
	}
	if (q->n == q->cap)
	{
		size_t		cap = q->cap ? q->cap * 2 : 64;
		KafkaAck   *p = realloc(q->a, cap * sizeof(KafkaAck));

		if (p == NULL)
		{
			kafka_fail(ks, SINK_RETRY, "out of memory");
			return;
		}
		q->a = p;
		q->cap = cap;
	}
	q->a[q->n].ticket = t;
	q->a[q->n].n = n;
	q->n++;
}

/* a job is safely stored: acknowledge it now if poll runs, else later */
static void
give_ack(KafkaSink *ks, LedgerTicket t, uint32_t n)
{
	if (ks->ack != NULL && ks->acks.n == 0)
		ks->ack(ks->ack_arg, t, n);
	else
		kafka_ack_push(ks, &ks->acks, t, n);
}

void
kafka_acks_flush(KafkaSink *ks)
{
	size_t		i;

	for (i = 0; i < ks->acks.n; i++)
		ks->ack(ks->ack_arg, ks->acks.a[i].ticket, ks->acks.a[i].n);
	ks->acks.n = 0;
}

/* ---- messages in flight ---- */

static KafkaMsg *
msg_new(KafkaSink *ks)
{
	KafkaMsg   *m = ks->free_msgs;

	if (m != NULL)
		ks->free_msgs = m->next;
	else if ((m = malloc(sizeof(KafkaMsg))) == NULL)
		return NULL;
	m->prev = &ks->inflight;
	m->next = ks->inflight.next;
	ks->inflight.next->prev = m;
	ks->inflight.next = m;
	return m;
}

static void
msg_done(KafkaSink *ks, KafkaMsg *m)
{
	m->prev->next = m->next;
	m->next->prev = m->prev;
	ks->pending -= m->bytes;
	m->next = ks->free_msgs;
	ks->free_msgs = m;
}

void
kafka_msgs_free(KafkaSink *ks)
{
	KafkaMsg   *m;

	while (ks->inflight.next != &ks->inflight)
		msg_done(ks, ks->inflight.next);
	while ((m = ks->free_msgs) != NULL)
	{
		ks->free_msgs = m->next;
		free(m);
	}
}

/* ---- delivery reports ---- */

static void
delivery_failed(KafkaSink *ks, const rd_kafka_message_t *rm, const KafkaMsg *m)
{
	const char *topic = rd_kafka_topic_name(rm->rkt);
	char		lsn[LSN_STRLEN];

	/* purged: kafka_close made every unresolved message a suspect before */
	if (rm->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
		rm->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
		return;
	kafka_suspect_add(ks, topic, rm->partition, m->lsn, m->seq,
					  kafka_next_offset(m->topic, rm->partition));
	if (rm->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
	{
		kafka_fail(ks, SINK_FATAL,
				   "job too large for Kafka: message to topic %s key %.*s lsn %s is %zu bytes (rejected by the broker)",
				   topic, rm->key ? (int) rm->key_len : 6, rm->key ? (const char *) rm->key : "(none)",
				   lsn_format(m->lsn, lsn, sizeof(lsn)), m->bytes);
		return;
	}
	{
		/* name the job: its table header (none for a message), key, LSN */
		rd_kafka_headers_t *h = NULL;
		const void *tv = NULL;
		size_t		tlen = 0;

		if (rd_kafka_message_headers(rm, &h) != RD_KAFKA_RESP_ERR_NO_ERROR ||
			rd_kafka_header_get_last(h, "table", &tv, &tlen) != RD_KAFKA_RESP_ERR_NO_ERROR)
			tv = NULL;
		kafka_fail(ks, SINK_RETRY, "kafka delivery failed on topic \"%s\" partition %d "
				   "(%s %.*s key %.*s lsn %s): %s", topic, (int) rm->partition,
				   tv ? "table" : "a message", tv ? (int) tlen : 0, tv ? (const char *) tv : "",
				   rm->key ? (int) rm->key_len : 6, rm->key ? (const char *) rm->key : "(none)",
				   lsn_format(m->lsn, lsn, sizeof(lsn)), rd_kafka_err2str(rm->err));
	}
}

/*
 * Reported delivered without an offset: librdkafka inferred it from a later
 * request's success (kafka_suspects.c).  No evidence: not acknowledged, no
 * mark; the next session reads the partition back.
 */
static void
delivery_unproven(KafkaSink *ks, const rd_kafka_message_t *rm, const KafkaMsg *m)
{
	const char *topic = rd_kafka_topic_name(rm->rkt);
	char		lsn[LSN_STRLEN];

	kafka_suspect_add(ks, topic, rm->partition, m->lsn, m->seq,
					  kafka_next_offset(m->topic, rm->partition));
	kafka_fail(ks, SINK_RETRY, "kafka reported the job at lsn %s seq %u on topic \"%s\" "
			   "partition %d delivered without an offset (inferred from a later message's "
			   "success): not taken as delivered; the partition is read back and what is "
			   "missing sent again", lsn_format(m->lsn, lsn, sizeof(lsn)), m->seq, topic,
			   (int) rm->partition);
}

/* a delivered message of the open transaction: a mark once committed */
static void
txn_mark_push(KafkaSink *ks, const KafkaMsg *m, int32_t partition)
{
	if (ks->ntxn_marks == ks->txn_marks_cap)
	{
		size_t		cap = ks->txn_marks_cap ? ks->txn_marks_cap * 2 : 64;
		TxnMark    *p = realloc(ks->txn_marks, cap * sizeof(TxnMark));

		if (p == NULL)
		{
			kafka_fail(ks, SINK_RETRY, "out of memory");
			return;
		}
		ks->txn_marks = p;
		ks->txn_marks_cap = cap;
	}
	ks->txn_marks[ks->ntxn_marks++] = (TxnMark) {m->topic, partition, m->lsn, m->seq};
}

void
kafka_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rm, void *opaque)
{
	KafkaSink  *ks = opaque;
	KafkaMsg   *m = rm->_private;
	bool		current;

	(void) rk;
	if (m == NULL || kafka_record_report(ks, rm))
		return;
	current = m->session == ks->session;
	if (!ks->discarding && rm->err == RD_KAFKA_RESP_ERR_NO_ERROR)
		kafka_offset_seen(ks, m->topic, rm->partition, rm->offset);
	if (ks->discarding)
		;
	else if (rm->err != RD_KAFKA_RESP_ERR_NO_ERROR)
		delivery_failed(ks, rm, m);
	else if (!ks->txn_mode && ks->idempotent && rm->offset < 0)
		delivery_unproven(ks, rm, m);
	else if (ks->txn_mode)
	{
		txn_mark_push(ks, m, rm->partition);
		if (current)
			kafka_ack_push(ks, &ks->txn_acks, m->ticket, 1);
	}
	else
	{
		kafka_mark_advance(m->topic, rm->partition, m->lsn, m->seq);
		if (ks->nsuspects > 0)
			kafka_suspect_delivered(ks, m->topic, rm->partition, m->lsn, m->seq);
		if (current)
			give_ack(ks, m->ticket, 1);
	}
	msg_done(ks, m);
}

/* ---- building a job's message ---- */

/* ISO 8601 UTC with microseconds: 2026-11-23T21:07:32.123456Z */
static const char *
time_str(int64_t us, char *buf, size_t len)
{
	int64_t		secs = us / 1000000;
	int64_t		frac = us % 1000000;
	time_t		t;
	struct tm	tm;
	size_t		n;

	if (frac < 0)
	{
		frac += 1000000;
		secs--;
	}
	t = (time_t) secs;
	if (gmtime_r(&t, &tm) == NULL)
	{
		snprintf(buf, len, "%" PRId64, us);
		return buf;
	}
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%06dZ", (int) frac);
	return buf;
}

/* why name is not a usable Kafka topic, or NULL (also kafka_conf.c) */
const char *
kafka_topic_unusable(const char *name, size_t len)
{
	size_t		i;

	if (len == 0)
		return "an empty topic name (the route target is empty)";
	if (len > TOPIC_NAME_MAX)
		return "longer than Kafka's 249 characters";
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return "\".\" and \"..\" are not topic names";
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char) name[i]) && name[i] != '.' && name[i] != '_' &&
			name[i] != '-')
			return "a kafka topic name has only letters, digits, '.', '_' and '-'";
	return NULL;
}

/* the value: payload, --value-column's text or the row as JSON */
static int
job_value(KafkaSink *ks, const FrameJob *job, KafkaOut *o)
{
	const char *col = ks->sink.cfg->value_column;
	uint32_t	i;

	if (job->is_message)
	{
		o->value = job->payload.data ? job->payload.data : "";
		o->value_len = job->payload.len;
		return SINK_OK;
	}
	if (col == NULL)
	{
		if (json_row(&ks->value, job->rel, job->values) != 0)
			return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
		o->value = ks->value.data;
		o->value_len = ks->value.len;
		return SINK_OK;
	}
	for (i = 0; i < job->rel->ncols; i++)
	{
		const FrameBytes *name = &job->rel->cols[i].name;

		if (name->len == strlen(col) && memcmp(name->data, col, name->len) == 0)
		{
			o->value = job->values[i].isnull ? NULL :
				(job->values[i].data.data ? job->values[i].data.data : "");
			o->value_len = job->values[i].isnull ? 0 : job->values[i].data.len;
			return SINK_OK;
		}
	}
	return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_FATAL,
					  "table %.*s has no column \"%s\" (--value-column)",
					  (int) job->rel->name.len, job->rel->name.data, col);
}

/* the topic of a job; an unusable name is fatal, naming the job */
static int
job_topic(KafkaSink *ks, const FrameJob *job, KafkaOut *o)
{
	const char *prefix = ks->sink.cfg->target_prefix ? ks->sink.cfg->target_prefix : "";
	const char *why;

	json_buf_reset(&ks->topic);
	if (json_append_raw(&ks->topic, prefix, strlen(prefix)) != 0 ||
		json_append_raw(&ks->topic, job->target.data ? job->target.data : "", job->target.len) != 0)
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
	if ((why = kafka_topic_unusable(ks->topic.data ? ks->topic.data : "", ks->topic.len)) != NULL)
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_FATAL,
						  "%s%.*s key %.*s lsn %s has no usable kafka topic \"%.*s\": %s",
						  o->table ? "table " : "logical message",
						  (int) o->table_len, o->table ? o->table : "",
						  o->has_key ? (int) o->key_len : 6, o->has_key ? o->key : "(none)",
						  o->lsn_s, (int) (ks->topic.len > 300 ? 300 : ks->topic.len),
						  ks->topic.data ? ks->topic.data : "", why);
	if ((o->topic = kafka_topic_get(ks, ks->topic.data, ks->topic.len)) == NULL)
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY,
						  "could not open kafka topic \"%s\": %s", ks->topic.data,
						  rd_kafka_err2str(rd_kafka_last_error()));
	return SINK_OK;
}

/*
 * The headers every job of a transaction shares (lsn, xid, commit_time),
 * formatted once per transaction, not per job: strftime and printf were a
 * good part of the cost of a message.  Keyed by all they are made of.
 */
static struct
{
	bool		valid;
	uint64_t	lsn;
	uint32_t	xid;
	int64_t		time_us;
	char		lsn_s[LSN_STRLEN];
	char		xid_s[12];
	char		time_s[TIME_STR_LEN];
}			txn_strs;

static void
txn_strings(const FrameTxn *txn, KafkaOut *o)
{
	if (!txn_strs.valid || txn_strs.lsn != txn->commit_lsn ||
		txn_strs.xid != txn->xid || txn_strs.time_us != txn->commit_time_us)
	{
		txn_strs.lsn = txn->commit_lsn;
		txn_strs.xid = txn->xid;
		txn_strs.time_us = txn->commit_time_us;
		lsn_format(txn->commit_lsn, txn_strs.lsn_s, sizeof(txn_strs.lsn_s));
		snprintf(txn_strs.xid_s, sizeof(txn_strs.xid_s), "%u", txn->xid);
		time_str(txn->commit_time_us, txn_strs.time_s, sizeof(txn_strs.time_s));
		txn_strs.valid = true;
	}
	memcpy(o->lsn_s, txn_strs.lsn_s, sizeof(o->lsn_s));
	memcpy(o->xid_s, txn_strs.xid_s, sizeof(o->xid_s));
	memcpy(o->time_s, txn_strs.time_s, sizeof(o->time_s));
}

/* v in decimal into buf (at least 11 bytes) */
static void
u32_str(uint32_t v, char *buf)
{
	char		tmp[10];
	int			n = 0;

	do
	{
		tmp[n++] = (char) ('0' + v % 10);
		v /= 10;
	} while (v > 0);
	for (int i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
}

/* o := the message of job (pointing into job and scratch buffers) */
int
kafka_out_build(KafkaSink *ks, const FrameTxn *txn, const FrameJob *job,
				LedgerTicket t, KafkaOut *o)
{
	int			rc;

	memset(o, 0, sizeof(*o));
	o->kind = OUT_JOB;
	o->ticket = t;
	o->lsn = txn->commit_lsn;
	o->seq = job->seq;
	o->has_key = job->has_key;
	o->key = job->has_key ? (job->key.data ? job->key.data : "") : NULL;
	o->key_len = job->has_key ? job->key.len : 0;
	if (!job->is_message)
	{
		o->table = job->rel->name.data ? job->rel->name.data : "";
		o->table_len = job->rel->name.len;
	}
	txn_strings(txn, o);
	if ((rc = job_topic(ks, job, o)) != SINK_OK ||
		(rc = job_value(ks, job, o)) != SINK_OK)
		return rc;
	u32_str(job->seq, o->seq_s);
	o->bytes = o->value_len + o->key_len + o->table_len + strlen(ks->source) +
		strlen(o->lsn_s) + strlen(o->seq_s) + strlen(o->xid_s) + strlen(o->time_s) +
		sizeof("lsn") + sizeof("seq") + sizeof("xid") + sizeof("commit_time") +
		sizeof("source") + (o->table ? sizeof("table") : 0);
	return SINK_OK;
}

/* a copy of o that owns its key, value and table (to hold it) */
KafkaOut *
kafka_out_copy(const KafkaOut *o)
{
	size_t		n = sizeof(KafkaOut) + o->key_len + o->value_len + o->table_len + 3;
	KafkaOut   *c = malloc(n);
	char	   *p;

	if (c == NULL)
		return NULL;
	*c = *o;
	c->next = NULL;
	p = (char *) (c + 1);
	if (o->key)
	{
		memcpy(p, o->key, o->key_len);
		c->key = p;
		p += o->key_len + 1;
	}
	if (o->value)
	{
		memcpy(p, o->value, o->value_len);
		c->value = p;
		p += o->value_len + 1;
	}
	if (o->table)
	{
		memcpy(p, o->table, o->table_len);
		c->table = p;
	}
	return c;
}

/* ---- producing ---- */

static rd_kafka_headers_t *
out_headers(KafkaSink *ks, const KafkaOut *o)
{
	rd_kafka_headers_t *h = rd_kafka_headers_new(6);

	if (h == NULL)
		return NULL;
	if (rd_kafka_header_add(h, "lsn", -1, o->lsn_s, -1) ||
		rd_kafka_header_add(h, "seq", -1, o->seq_s, -1) ||
		rd_kafka_header_add(h, "xid", -1, o->xid_s, -1) ||
		(o->table && rd_kafka_header_add(h, "table", -1, o->table, (ssize_t) o->table_len)) ||
		rd_kafka_header_add(h, "commit_time", -1, o->time_s, -1) ||
		rd_kafka_header_add(h, "source", -1, ks->source, -1) ||
		(o->bf_key && (rd_kafka_header_add(h, "backfill", -1, o->bf_key, -1) ||
					   rd_kafka_header_add(h, "backfill_page", -1, o->bf_page, -1))))
	{
		rd_kafka_headers_destroy(h);
		return NULL;
	}
	return h;
}

/* the produce call failed for good */
static int
produce_error(KafkaSink *ks, const KafkaOut *o, int32_t partition, rd_kafka_resp_err_t err)
{
	char		buf[256];

	if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_FATAL,
						  "job too large for Kafka: %s %.*s key %.*s lsn %s is %zu bytes (message.max.bytes %" PRId64 ")",
						  o->table ? "table" : "message to topic",
						  o->table ? (int) o->table_len : (int) strlen(o->topic->name),
						  o->table ? o->table : o->topic->name,
						  o->has_key ? (int) o->key_len : 6, o->has_key ? o->key : "(none)",
						  o->lsn_s, o->bytes, ks->max_message_bytes);
	if (err == RD_KAFKA_RESP_ERR__FATAL)
	{
		err = rd_kafka_fatal_error(ks->rk, buf, sizeof(buf));
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY,
						  "kafka producer failed: %s: %s", rd_kafka_err2name(err), buf);
	}
	return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY,
					  "could not produce to kafka topic \"%s\" partition %d: %s",
					  o->topic->name, (int) partition, rd_kafka_err2str(err));
}

/*
 * Produce o to partition now (its topic's marks are not consulted): *done
 * false when librdkafka's queue is full.
 */
int
kafka_out_send(KafkaSink *ks, const KafkaOut *o, int32_t partition, bool *done)
{
	rd_kafka_headers_t *hdrs = out_headers(ks, o);
	KafkaMsg   *m = hdrs ? msg_new(ks) : NULL;
	rd_kafka_resp_err_t err;

	if (m == NULL)
	{
		if (hdrs)
			rd_kafka_headers_destroy(hdrs);
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
	}
	*m = (KafkaMsg) {m->prev, m->next, o->ticket, ks->session, o->bytes, o->lsn, o->seq,
	o->topic, partition};
	ks->pending += m->bytes;
	err = rd_kafka_producev(ks->rk,
							RD_KAFKA_V_RKT(o->topic->rkt),
							RD_KAFKA_V_PARTITION(partition),
							RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
							RD_KAFKA_V_VALUE((void *) o->value, o->value_len),
							RD_KAFKA_V_KEY(o->key, o->key_len),
							RD_KAFKA_V_HEADERS(hdrs),
							RD_KAFKA_V_OPAQUE(m),
							RD_KAFKA_V_END);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		*done = true;
		return SINK_OK;
	}
	rd_kafka_headers_destroy(hdrs);
	msg_done(ks, m);
	if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
		return SINK_OK;			/* not done: held, tried again at the next poll */
	return produce_error(ks, o, partition, err);
}

/* the partition of o: murmur2 of its key, or of its lsn header if keyless */
int32_t
kafka_out_partition(const KafkaOut *o, int32_t npartitions)
{
	if (o->has_key)
		return murmur2_partition(o->key, o->key_len, npartitions);
	return murmur2_partition(o->lsn_s, strlen(o->lsn_s), npartitions);
}

/*
 * Hand one job to librdkafka if its topic's marks are known: skipped (and
 * acknowledged, kafka_history.c) if its partition's mark covers it, else
 * produced.  *done
 * is false when it must wait (marks being read, librdkafka's queue full).
 */
int
kafka_out_produce(KafkaSink *ks, const KafkaOut *o, bool *done)
{
	KafkaTopic *t = o->topic;
	int32_t		partition;
	bool		ready;
	int			rc;

	*done = false;
	if ((rc = kafka_topic_resolve(ks, t, o, &ready)) != SINK_OK || !ready)
		return rc;
	partition = kafka_out_partition(o, t->npartitions);
	if ((rc = kafka_history_job(ks, o)) != SINK_OK)
		return rc;
	if (kafka_mark_covers(&t->marks[partition], o->lsn, o->seq))
	{
		/* acknowledged once the replay showed the mark's transaction */
		if ((rc = kafka_record_skip_check(ks, t, partition, o)) != SINK_OK ||
			(rc = kafka_history_skip(ks, t, partition, o)) != SINK_OK)
			return rc;
		*done = true;
		return SINK_OK;
	}
	/* below a mark written before the session under other options (630) */
	if ((rc = kafka_record_below_check(ks, t, partition, o)) != SINK_OK)
		return rc;
	kafka_record_own_job(ks, o);
	if (ks->txn == TXN_IDLE && (rc = kafka_txn_begin(ks, o->lsn)) != SINK_OK)
		return rc;
	return kafka_out_send(ks, o, partition, done);
}
