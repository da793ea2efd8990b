/*-------------------------------------------------------------------------
 *
 * sink_kafka.c
 *		The Kafka sink: one message per job, delivered exactly once.
 *
 * Every job becomes one Kafka message on topic target_prefix + target, keyed
 * by the job key, valued by the row as JSON (or --value-column's text, or a
 * logical message's payload), with headers lsn, seq, xid, table and
 * commit_time.  A delivery report without error acknowledges the job.
 *
 * Exactly once without Kafka transactions rests on three things:
 *	- The sink picks every partition itself: murmur2(key) like the Java
 *	  client, and for keyless jobs murmur2 of the lsn header (the commit LSN
 *	  as %X/%X), so all keyless jobs of a transaction share a partition.  The
 *	  partition count is read from the metadata when a producer instance
 *	  first uses a topic.
 *	- The idempotent producer (enable.idempotence=true,
 *	  enable.gapless.guarantee=true, message.timeout.ms=0) writes each
 *	  partition in produce order with no gap and no duplicate for the life
 *	  of one producer instance.  Jobs arrive in (commit lsn, seq) order, so
 *	  every partition holds them in that order.
 *	- When a producer instance first uses a topic it reads the last message
 *	  of every partition (the mark); every job at or below its partition's
 *	  mark is already there and is acknowledged without being sent again.
 *	  A last message without lsn and seq headers means somebody else writes
 *	  the topic: that is fatal, since the marks would be meaningless.
 *
 * Failures drop the producer instance (SINK_RETRY, the bridge replays from
 * the slot): the next instance reads the marks again.  A message that
 * failed delivery while later ones of its partition may have been written
 * (only possible when -X message.timeout.ms makes messages expire) is
 * remembered; the next instance re-sends its partition from that message
 * on, accepting duplicates rather than a gap.  That memory does not
 * survive the process.
 *
 * With --kafka-transactions every PostgreSQL transaction is one Kafka
 * transaction (begin_transaction at its begin, commit_transaction at its
 * commit, which blocks until the commit is done), and its jobs are
 * acknowledged only after the commit, so read_committed consumers never see
 * half a transaction.  transactional.id defaults to "wal2queue-<slot>" (plus
 * "-" and the target prefix); see txn_id_conf.  The marks still decide what
 * a replay skips.  The mock cluster neither fences on its own nor hides
 * aborted messages from consumers, so the tests inject the broker errors
 * and cannot show that an aborted transaction stays invisible.
 *
 * librdkafka calls dr_msg_cb and error_cb only from rd_kafka_poll() (and
 * flush) in this thread; acknowledgements reached outside poll/drain (and
 * jobs skipped by the marks) wait in a small queue until the next poll.
 * librdkafka has no socket to wait on, so the sink hands the bridge a pipe
 * that librdkafka writes to when delivery reports are ready.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "json_row.h"
#include "log.h"
#include "murmur2.h"
#include "sink.h"

/* measured against the mock cluster, see the notes at kafka_defaults */
#define KAFKA_DEFAULT_COMPRESSION "lz4"

#define CONNECT_TIMEOUT_MS 5000		/* brokers reachable at connect */
#define METADATA_TIMEOUT_MS 5000	/* partition count of a topic */
#define MARKS_TIMEOUT_MS 10000		/* reading the last messages */
#define QUEUE_FULL_TRIES 100		/* polls of 100 ms while the queue is full */
#define TXN_TIMEOUT_MS 30000		/* init/commit/abort of a kafka transaction */
#define LSN_STR_LEN 24
#define TIME_STR_LEN 40

/* how far a partition got, from its last message */
typedef struct KafkaMark
{
	bool		has_mark;		/* the partition ends with a job of ours */
	uint64_t	lsn;			/* that job's commit lsn and seq */
	uint32_t	seq;
	bool		has_limit;		/* re-send from here even below the mark */
	uint64_t	limit_lsn;
	uint32_t	limit_seq;
} KafkaMark;

/* a topic as this producer instance knows it */
typedef struct KafkaTopic
{
	char	   *name;
	rd_kafka_topic_t *rkt;
	int32_t		npartitions;
	KafkaMark  *marks;			/* npartitions of them */
} KafkaTopic;

/* a produced message waiting for its delivery report (the opaque) */
typedef struct KafkaMsg
{
	struct KafkaMsg *prev;
	struct KafkaMsg *next;
	LedgerTicket ticket;
	size_t		bytes;
	uint64_t	lsn;
	uint32_t	seq;
} KafkaMsg;

/* a delivery failure that may hide a gap: see the file header */
typedef struct KafkaSuspect
{
	char	   *topic;
	int32_t		partition;
	uint64_t	lsn;
	uint32_t	seq;
} KafkaSuspect;

typedef struct KafkaAck
{
	LedgerTicket ticket;
	uint32_t	n;
} KafkaAck;

typedef struct AckQueue
{
	KafkaAck   *a;
	size_t		n;
	size_t		cap;
} AckQueue;

typedef struct KafkaSink
{
	Sink		sink;
	rd_kafka_t *rk;				/* the producer, NULL when disconnected */
	rd_kafka_t *rkc;			/* a consumer that reads the marks */
	rd_kafka_queue_t *mainq;	/* rk's main queue, signalling wake_fd */
	int			wake_fd[2];		/* pipe: librdkafka writes, the bridge polls */
	int64_t		max_message_bytes;
	/* topics used by this producer instance: open addressing */
	KafkaTopic **topics;
	size_t		ntopics;
	size_t		topics_cap;
	/* messages in flight: a list with a sentinel, and recycled records */
	KafkaMsg	inflight;
	KafkaMsg   *free_msgs;
	size_t		pending;
	AckQueue	acks;			/* acknowledgements waiting for the next poll */
	AckQueue	held;			/* transactions: delivered, not yet committed */
	bool		txn_mode;		/* --kafka-transactions */
	bool		txn_open;
	SinkAckFn	ack;			/* set while poll or drain runs */
	void	   *ack_arg;
	bool		discarding;		/* disconnecting: delivery reports mean nothing */
	int			failed;			/* SINK_RETRY/FATAL seen in a callback */
	KafkaSuspect *suspects;
	size_t		nsuspects;
	JsonBuf		value;			/* scratch: the value of one job */
	JsonBuf		topic;			/* scratch: the topic name of one job */
} KafkaSink;

static const SinkOps kafka_ops;

/* ---- small helpers ---- */

static KafkaSink *
ks_of(Sink *s)
{
	return (KafkaSink *) s;
}

static int
sink_error(Sink *s, int rc, const char *fmt,...)
	__attribute__((format(printf, 3, 4)));

static int
sink_error(Sink *s, int rc, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	return rc;
}

/* remember the first failure seen in a callback; FATAL outranks RETRY */
static void
set_failed(KafkaSink *ks, int rc, const char *fmt,...)
	__attribute__((format(printf, 3, 4)));

static void
set_failed(KafkaSink *ks, int rc, const char *fmt,...)
{
	va_list		ap;

	if (ks->failed >= rc)
		return;
	ks->failed = rc;
	va_start(ap, fmt);
	vsnprintf(ks->sink.err, sizeof(ks->sink.err), fmt, ap);
	va_end(ap);
}

static const char *
lsn_str(uint64_t lsn, char *buf, size_t len)
{
	snprintf(buf, len, "%X/%X", (unsigned) (lsn >> 32), (unsigned) lsn);
	return buf;
}

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

static bool
mark_covers(const KafkaMark *m, uint64_t lsn, uint32_t seq)
{
	if (!m->has_mark)
		return false;
	if (lsn > m->lsn || (lsn == m->lsn && seq > m->seq))
		return false;
	if (m->has_limit &&
		(lsn > m->limit_lsn || (lsn == m->limit_lsn && seq >= m->limit_seq)))
		return false;
	return true;
}

/* ---- acknowledgements ---- */

static void
ack_push(KafkaSink *ks, AckQueue *q, LedgerTicket t, uint32_t n)
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
			set_failed(ks, SINK_RETRY, "out of memory");
			return;
		}
		q->a = p;
		q->cap = cap;
	}
	q->a[q->n].ticket = t;
	q->a[q->n].n = n;
	q->n++;
}

static void
queue_ack(KafkaSink *ks, LedgerTicket t, uint32_t n)
{
	ack_push(ks, &ks->acks, t, n);
}

/*
 * A job is safely stored: acknowledge it now if poll or drain runs, else at
 * the next one.  With transactions, only once its transaction committed.
 */
static void
give_ack(KafkaSink *ks, LedgerTicket t, uint32_t n)
{
	if (ks->txn_mode)
		ack_push(ks, &ks->held, t, n);
	else if (ks->ack != NULL && ks->acks.n == 0)
		ks->ack(ks->ack_arg, t, n);
	else
		queue_ack(ks, t, n);
}

/* the transaction committed: its acknowledgements may go */
static void
release_held(KafkaSink *ks)
{
	size_t		i;

	for (i = 0; i < ks->held.n; i++)
		queue_ack(ks, ks->held.a[i].ticket, ks->held.a[i].n);
	ks->held.n = 0;
}

static void
flush_acks(KafkaSink *ks)
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

static void
msgs_free_all(KafkaSink *ks)
{
	KafkaMsg   *m;

	while (ks->inflight.next != &ks->inflight)
		msg_done(ks, ks->inflight.next);
	while ((m = ks->free_msgs) != NULL)
	{
		ks->free_msgs = m->next;
		free(m);
	}
	ks->pending = 0;
}

/* ---- suspects: failed deliveries that may hide a gap ---- */

static void
suspect_add(KafkaSink *ks, const char *topic, int32_t partition,
			uint64_t lsn, uint32_t seq)
{
	KafkaSuspect *p;
	size_t		i;

	for (i = 0; i < ks->nsuspects; i++)
	{
		p = &ks->suspects[i];
		if (p->partition != partition || strcmp(p->topic, topic) != 0)
			continue;
		if (lsn < p->lsn || (lsn == p->lsn && seq < p->seq))
		{
			p->lsn = lsn;
			p->seq = seq;
		}
		return;
	}
	p = realloc(ks->suspects, (ks->nsuspects + 1) * sizeof(KafkaSuspect));
	if (p == NULL)
	{
		set_failed(ks, SINK_FATAL, "out of memory remembering a failed delivery");
		return;
	}
	ks->suspects = p;
	p = &ks->suspects[ks->nsuspects];
	if ((p->topic = strdup(topic)) == NULL)
	{
		set_failed(ks, SINK_FATAL, "out of memory remembering a failed delivery");
		return;
	}
	p->partition = partition;
	p->lsn = lsn;
	p->seq = seq;
	ks->nsuspects++;
}

/* fold a suspect of this partition into its mark, and forget it */
static void
suspect_apply(KafkaSink *ks, const KafkaTopic *t, int32_t partition)
{
	KafkaMark  *m = &t->marks[partition];
	size_t		i;
	char		a[LSN_STR_LEN];

	for (i = 0; i < ks->nsuspects; i++)
	{
		KafkaSuspect *p = &ks->suspects[i];

		if (p->partition != partition || strcmp(p->topic, t->name) != 0)
			continue;
		if (m->has_mark &&
			(m->lsn > p->lsn || (m->lsn == p->lsn && m->seq >= p->seq)))
		{
			log_msg(LOG_WARNING, "topic \"%s\" partition %d: delivery failed at lsn %s seq %u "
					"but the partition got further; re-sending from there (may duplicate)",
					t->name, (int) partition, lsn_str(p->lsn, a, sizeof(a)), p->seq);
			m->has_limit = true;
			m->limit_lsn = p->lsn;
			m->limit_seq = p->seq;
		}
		free(p->topic);
		ks->suspects[i] = ks->suspects[--ks->nsuspects];
		return;
	}
}

/* ---- librdkafka callbacks ---- */

/* the value of header name, as a NUL-terminated copy into buf, or "" */
static const char *
header_str(rd_kafka_headers_t *hdrs, const char *name, char *buf, size_t len)
{
	const void *v;
	size_t		n;

	buf[0] = '\0';
	if (hdrs != NULL &&
		rd_kafka_header_get_last(hdrs, name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR &&
		v != NULL)
	{
		if (n >= len)
			n = len - 1;
		memcpy(buf, v, n);
		buf[n] = '\0';
	}
	return buf;
}

static void
delivery_failed(KafkaSink *ks, const rd_kafka_message_t *rm, const KafkaMsg *m)
{
	const char *topic = rd_kafka_topic_name(rm->rkt);
	rd_kafka_headers_t *hdrs = NULL;
	char		table[256];
	char		lsn[LSN_STR_LEN];

	if (rm->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
		rm->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
		return;
	suspect_add(ks, topic, rm->partition, m->lsn, m->seq);
	if (rm->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
	{
		rd_kafka_message_headers(rm, &hdrs);
		header_str(hdrs, "table", table, sizeof(table));
		set_failed(ks, SINK_FATAL,
				   "job too large for Kafka: %s %s key %.*s lsn %s is %zu bytes (rejected by the broker)",
				   table[0] ? "table" : "message to topic", table[0] ? table : topic,
				   rm->key ? (int) rm->key_len : 6, rm->key ? (const char *) rm->key : "(none)",
				   lsn_str(m->lsn, lsn, sizeof(lsn)), m->bytes);
		return;
	}
	set_failed(ks, SINK_RETRY, "kafka delivery failed on topic \"%s\" partition %d: %s",
			   topic, (int) rm->partition, rd_kafka_err2str(rm->err));
}

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rm, void *opaque)
{
	KafkaSink  *ks = opaque;
	KafkaMsg   *m = rm->_private;

	(void) rk;
	if (m == NULL)
		return;
	if (!ks->discarding)
	{
		if (rm->err == RD_KAFKA_RESP_ERR_NO_ERROR)
			give_ack(ks, m->ticket, 1);
		else
			delivery_failed(ks, rm, m);
	}
	msg_done(ks, m);
}

static void
on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	KafkaSink  *ks = opaque;
	char		buf[256];

	if (err == RD_KAFKA_RESP_ERR__FATAL)
	{
		rd_kafka_resp_err_t real = rd_kafka_fatal_error(rk, buf, sizeof(buf));

		log_msg(LOG_WARNING, "kafka producer failed: %s: %s",
				rd_kafka_err2name(real), buf);
		set_failed(ks, SINK_RETRY, "kafka producer failed: %s: %s",
				   rd_kafka_err2name(real), buf);
		return;
	}
	/* brokers come and go; librdkafka reconnects, and says when all are down */
	log_msg(err == RD_KAFKA_RESP_ERR__TRANSPORT ? LOG_DEBUG : LOG_WARNING,
			"kafka: %s", reason);
}

static void
on_consumer_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	(void) rk;
	(void) err;
	(void) opaque;
	log_msg(LOG_DEBUG, "kafka (reading marks): %s", reason);
}

/*
 * librdkafka's own log, from its threads.  Errors and configuration
 * warnings show; the rest, and the connection failures (FAIL) the error
 * callback reports anyway, only with -v.  The warning that
 * enable.gapless.guarantee is experimental is about our own default and is
 * left out.
 */
static void
on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	bool		show = (level <= 3 && strcmp(fac, "FAIL") != 0) ||
		(strcmp(fac, "CONFWARN") == 0 && strstr(buf, "enable.gapless.guarantee") == NULL);

	(void) rk;
	log_msg(show ? LOG_WARNING : LOG_DEBUG, "kafka %s: %s", fac, buf);
}

/* ---- configuration ---- */

/*
 * The producer's defaults, before the -X properties (which may override
 * them).  message.timeout.ms=0 retries forever: a message that expired
 * could leave a gap in its partition, which the marks cannot see.  With
 * transactions librdkafka ties message.timeout.ms to transaction.timeout.ms
 * and a gap cannot be committed, so the last two do not apply there.
 *
 * Compression: lz4, measured with 200,000 job rows of ~250 bytes of JSON
 * (key and the five headers on top) against the mock cluster, 8
 * partitions, linger.ms 5, medians of 5 runs on 2 CPUs:
 *
 *	codec	bytes/message on the wire	messages/s	CPU/message
 *	none	347							270,000		4.0 us
 *	snappy	 71							350,000		3.8 us
 *	lz4		 72							377,000		3.7 us
 *	zstd	 47							256,000		3.9 us
 *
 * and at 5,000 messages/s (small batches): 371, 168, 170 and 134 bytes.
 * lz4 is as small as snappy, the fastest, and every broker and client
 * since Kafka 0.10 reads it; zstd saves another third of the bytes for
 * about a third less throughput and needs Kafka 2.1 on both sides
 * (-X compression.codec=zstd).
 */
static const struct
{
	const char *key;
	const char *value;
	bool		not_with_txns;
}			kafka_defaults[] = {
	{"acks", "all", false},
	{"enable.idempotence", "true", false},
	{"compression.codec", KAFKA_DEFAULT_COMPRESSION, false},
	{"linger.ms", "5", false},
	{"enable.gapless.guarantee", "true", true},
	{"message.timeout.ms", "0", true},
	{NULL, NULL, false}
};

/* -X properties that also apply to the consumer reading the marks */
static const char *const consumer_prefixes[] = {
	"bootstrap.servers", "metadata.broker.list", "security.", "ssl.", "ssl_",
	"sasl.", "client.", "socket.", "broker.", "api.version", "reconnect.",
	"connections.", "resolve.", "enable.ssl", "enable.sasl", "debug",
	"log_level", "topic.metadata", "metadata.", "plugin.library.paths",
	"retry.backoff", NULL
};

static bool
applies_to_consumer(const char *key)
{
	int			i;

	for (i = 0; consumer_prefixes[i]; i++)
		if (strncmp(key, consumer_prefixes[i], strlen(consumer_prefixes[i])) == 0)
			return true;
	return false;
}

static int
conf_set(Sink *s, rd_kafka_conf_t *conf, const char *key, const char *value)
{
	char		errstr[256];

	if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
		return sink_error(s, SINK_FATAL, "invalid kafka property \"%s\": %s", key, errstr);
	return SINK_OK;
}

/* apply the -X properties (all, or those for the consumer) */
static int
conf_set_user(Sink *s, rd_kafka_conf_t *conf, bool consumer)
{
	char	  **p;

	for (p = s->cfg->kafka_props; p != NULL && *p != NULL; p++)
	{
		const char *eq = strchr(*p, '=');
		char		key[256];
		size_t		n;

		if (eq == NULL || eq == *p || (size_t) (eq - *p) >= sizeof(key))
			return sink_error(s, SINK_FATAL,
							  "invalid kafka property \"%s\" (use key=value)", *p);
		n = (size_t) (eq - *p);
		memcpy(key, *p, n);
		key[n] = '\0';
		if (consumer && !applies_to_consumer(key))
			continue;
		if (conf_set(s, conf, key, eq + 1) != SINK_OK)
			return SINK_FATAL;
	}
	return SINK_OK;
}

/*
 * The default transactional.id: "wal2queue-" and the slot name, plus "-" and
 * the target prefix when there is one.  It stays the same across restarts
 * and for a --standby bridge of the same slot (the new producer fences the
 * old one and aborts what it left open), and differs between slots.
 * Bridges of equally named slots on two PostgreSQL clusters writing one
 * Kafka cluster need -X transactional.id=... of their own.
 */
static int
txn_id_conf(KafkaSink *ks, rd_kafka_conf_t *conf)
{
	const char *prefix = ks->sink.cfg->target_prefix ? ks->sink.cfg->target_prefix : "";
	const char *slot = ks->sink.cfg->slot ? ks->sink.cfg->slot : "bridge";
	char		id[256];

	snprintf(id, sizeof(id), "wal2queue-%s%s%s", slot, prefix[0] ? "-" : "", prefix);
	return conf_set(&ks->sink, conf, "transactional.id", id);
}

static int
producer_conf(KafkaSink *ks, rd_kafka_conf_t **out)
{
	Sink	   *s = &ks->sink;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char		buf[64];
	size_t		len = sizeof(buf);
	int			i;

	*out = conf;
	if (conf_set(s, conf, "bootstrap.servers", s->cfg->url.brokers) != SINK_OK)
		return SINK_FATAL;
	for (i = 0; kafka_defaults[i].key; i++)
		if (!(ks->txn_mode && kafka_defaults[i].not_with_txns) &&
			conf_set(s, conf, kafka_defaults[i].key, kafka_defaults[i].value) != SINK_OK)
			return SINK_FATAL;
	if (ks->txn_mode && txn_id_conf(ks, conf) != SINK_OK)
		return SINK_FATAL;
	if (conf_set_user(s, conf, false) != SINK_OK)
		return SINK_FATAL;
	if (rd_kafka_conf_get(conf, "message.max.bytes", buf, &len) == RD_KAFKA_CONF_OK)
		ks->max_message_bytes = strtoll(buf, NULL, 10);
	len = sizeof(buf);
	if (rd_kafka_conf_get(conf, "enable.idempotence", buf, &len) == RD_KAFKA_CONF_OK &&
		strcmp(buf, "true") != 0)
		log_msg(LOG_WARNING, "enable.idempotence is off: Kafka may get duplicates or gaps");
	rd_kafka_conf_set_opaque(conf, ks);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_error_cb(conf, on_error);
	rd_kafka_conf_set_log_cb(conf, on_log);
	return SINK_OK;
}

static int
consumer_conf(KafkaSink *ks, rd_kafka_conf_t **out)
{
	Sink	   *s = &ks->sink;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	*out = conf;
	if (conf_set(s, conf, "bootstrap.servers", s->cfg->url.brokers) != SINK_OK ||
		conf_set(s, conf, "enable.partition.eof", "true") != SINK_OK ||
		conf_set(s, conf, "isolation.level", "read_committed") != SINK_OK ||
		conf_set(s, conf, "fetch.wait.max.ms", "10") != SINK_OK ||
		conf_set(s, conf, "fetch.error.backoff.ms", "50") != SINK_OK ||
		conf_set_user(s, conf, true) != SINK_OK)
		return SINK_FATAL;
	rd_kafka_conf_set_opaque(conf, ks);
	rd_kafka_conf_set_error_cb(conf, on_consumer_error);
	rd_kafka_conf_set_log_cb(conf, on_log);
	return SINK_OK;
}

/* ---- topics ---- */

static uint32_t
name_hash(const char *s, size_t len)
{
	uint32_t	h = 2166136261U;
	size_t		i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char) s[i]) * 16777619U;
	return h;
}

static KafkaTopic **
topic_slot(KafkaSink *ks, const char *name, size_t len)
{
	size_t		mask = ks->topics_cap - 1;
	size_t		i = name_hash(name, len) & mask;

	while (ks->topics[i] != NULL &&
		   (strlen(ks->topics[i]->name) != len ||
			memcmp(ks->topics[i]->name, name, len) != 0))
		i = (i + 1) & mask;
	return &ks->topics[i];
}

static int
topics_grow(KafkaSink *ks)
{
	size_t		cap = ks->topics_cap ? ks->topics_cap * 2 : 16;
	KafkaTopic **old = ks->topics;
	size_t		oldcap = ks->topics_cap;
	size_t		i;

	ks->topics = calloc(cap, sizeof(KafkaTopic *));
	if (ks->topics == NULL)
	{
		ks->topics = old;
		return -1;
	}
	ks->topics_cap = cap;
	for (i = 0; i < oldcap; i++)
		if (old[i] != NULL)
			*topic_slot(ks, old[i]->name, strlen(old[i]->name)) = old[i];
	free(old);
	return 0;
}

static void
topic_free(KafkaTopic *t)
{
	if (t->rkt)
		rd_kafka_topic_destroy(t->rkt);
	free(t->marks);
	free(t->name);
	free(t);
}

static void
topics_free_all(KafkaSink *ks)
{
	size_t		i;

	for (i = 0; i < ks->topics_cap; i++)
		if (ks->topics[i] != NULL)
			topic_free(ks->topics[i]);
	free(ks->topics);
	ks->topics = NULL;
	ks->topics_cap = 0;
	ks->ntopics = 0;
}

/* the partition count of a topic, creating it if the cluster does that */
static int
topic_partitions(KafkaSink *ks, KafkaTopic *t)
{
	int64_t		deadline = now_us() + (int64_t) METADATA_TIMEOUT_MS * 1000;
	rd_kafka_resp_err_t err;

	for (;;)
	{
		const struct rd_kafka_metadata *md = NULL;
		int			left = (int) ((deadline - now_us()) / 1000);

		err = rd_kafka_metadata(ks->rk, 0, t->rkt, &md, left > 0 ? left : 1);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
		{
			err = md->topic_cnt == 1 ? md->topics[0].err
				: RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
			if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
				t->npartitions = md->topics[0].partition_cnt;
			rd_kafka_metadata_destroy(md);
			if (err == RD_KAFKA_RESP_ERR_NO_ERROR && t->npartitions > 0)
				return SINK_OK;
		}
		if (now_us() >= deadline || err == RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION ||
			err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
			break;
		usleep(100 * 1000);
	}
	if (err == RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION ||
		err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
		return sink_error(&ks->sink, SINK_FATAL, "cannot write kafka topic \"%s\": %s",
						  t->name, rd_kafka_err2str(err));
	if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
		return sink_error(&ks->sink, SINK_FATAL,
						  "kafka topic \"%s\" does not exist and was not created", t->name);
	return sink_error(&ks->sink, SINK_RETRY, "could not read the metadata of kafka topic \"%s\": %s",
					  t->name, rd_kafka_err2str(err));
}

static int	read_marks(KafkaSink *ks, KafkaTopic *t);

static int
topic_open(KafkaSink *ks, const char *name, size_t len, KafkaTopic **out)
{
	KafkaTopic *t;
	int			rc;

	if (((ks->ntopics + 1) * 2 > ks->topics_cap && topics_grow(ks) != 0) ||
		(t = calloc(1, sizeof(KafkaTopic))) == NULL)
		return sink_error(&ks->sink, SINK_RETRY, "out of memory");
	if ((t->name = strndup(name, len)) == NULL ||
		(t->rkt = rd_kafka_topic_new(ks->rk, t->name, NULL)) == NULL)
	{
		topic_free(t);
		return sink_error(&ks->sink, SINK_RETRY, "could not open kafka topic \"%.*s\": %s",
						  (int) len, name, rd_kafka_err2str(rd_kafka_last_error()));
	}
	if ((rc = topic_partitions(ks, t)) != SINK_OK)
	{
		topic_free(t);
		return rc;
	}
	if ((t->marks = calloc(t->npartitions, sizeof(KafkaMark))) == NULL)
	{
		topic_free(t);
		return sink_error(&ks->sink, SINK_RETRY, "out of memory");
	}
	if ((rc = read_marks(ks, t)) != SINK_OK)
	{
		topic_free(t);
		return rc;
	}
	*topic_slot(ks, name, len) = t;
	ks->ntopics++;
	*out = t;
	return SINK_OK;
}

/* ---- marks: the last message of every partition ---- */

typedef struct MarkRead
{
	int64_t		lo;				/* first offset */
	int64_t		hi;				/* high watermark: next offset */
	int64_t		start;			/* where this round reads from */
	bool		done;
	bool		eof;			/* this round reached the end */
	bool		got;			/* this round read a message */
	bool		ours;			/* ... with lsn and seq headers */
	int64_t		offset;			/* ... at this offset */
	uint64_t	lsn;
	uint32_t	seq;
} MarkRead;

static bool
parse_hex32(const char *s, size_t n, uint32_t *out)
{
	uint64_t	v = 0;
	size_t		i;

	if (n == 0 || n > 8)
		return false;
	for (i = 0; i < n; i++)
	{
		char		c = s[i];
		int			d = (c >= '0' && c <= '9') ? c - '0' :
			(c >= 'A' && c <= 'F') ? c - 'A' + 10 :
			(c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;

		if (d < 0)
			return false;
		v = v * 16 + (uint64_t) d;
	}
	*out = (uint32_t) v;
	return true;
}

/* "%X/%X" */
static bool
parse_lsn(const char *s, size_t n, uint64_t *out)
{
	const char *slash = memchr(s, '/', n);
	uint32_t	hi,
				lo;

	if (slash == NULL ||
		!parse_hex32(s, (size_t) (slash - s), &hi) ||
		!parse_hex32(slash + 1, n - (size_t) (slash - s) - 1, &lo))
		return false;
	*out = (uint64_t) hi << 32 | lo;
	return true;
}

static bool
parse_u32(const char *s, size_t n, uint32_t *out)
{
	uint64_t	v = 0;
	size_t		i;

	if (n == 0 || n > 10)
		return false;
	for (i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t) (s[i] - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*out = (uint32_t) v;
	return true;
}

/* a message read back: remember whether it is ours and how far it says */
static void
mark_take(MarkRead *r, rd_kafka_message_t *msg)
{
	rd_kafka_headers_t *hdrs = NULL;
	const void *lv,
			   *sv;
	size_t		ln,
				sn;

	r->got = true;
	r->offset = msg->offset;
	r->ours = rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
		rd_kafka_header_get_last(hdrs, "lsn", &lv, &ln) == RD_KAFKA_RESP_ERR_NO_ERROR &&
		rd_kafka_header_get_last(hdrs, "seq", &sv, &sn) == RD_KAFKA_RESP_ERR_NO_ERROR &&
		lv != NULL && sv != NULL &&
		parse_lsn(lv, ln, &r->lsn) && parse_u32(sv, sn, &r->seq);
}

/* the low and high watermarks of every partition, in one request each */
static int
marks_offsets(KafkaSink *ks, const KafkaTopic *t, MarkRead *r)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(t->npartitions);
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
	int			pass,
				i;

	for (i = 0; i < t->npartitions; i++)
		rd_kafka_topic_partition_list_add(l, t->name, i);
	for (pass = 0; pass < 2 && !err; pass++)
	{
		for (i = 0; i < l->cnt; i++)
			l->elems[i].offset = pass == 0 ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
		err = rd_kafka_offsets_for_times(ks->rkc, l, MARKS_TIMEOUT_MS);
		for (i = 0; i < l->cnt && !err; i++)
		{
			int32_t		p = l->elems[i].partition;

			if ((err = l->elems[i].err) != RD_KAFKA_RESP_ERR_NO_ERROR)
				break;
			if (pass == 0)
				r[p].lo = l->elems[i].offset;
			else
				r[p].hi = l->elems[i].offset;
		}
	}
	rd_kafka_topic_partition_list_destroy(l);
	if (err)
		return sink_error(&ks->sink, SINK_RETRY, "could not read the offsets of kafka topic \"%s\": %s",
						  t->name, rd_kafka_err2str(err));
	for (i = 0; i < t->npartitions; i++)
	{
		r[i].done = r[i].hi <= r[i].lo;
		r[i].start = r[i].hi - 1;
	}
	return SINK_OK;
}

/* read from every partition not done until its end; returns SINK_* */
static int
marks_consume(KafkaSink *ks, const KafkaTopic *t, rd_kafka_queue_t *q,
			  MarkRead *r, int left)
{
	int64_t		deadline = now_us() + (int64_t) MARKS_TIMEOUT_MS * 1000;

	while (left > 0)
	{
		rd_kafka_message_t *msg = rd_kafka_consume_queue(q, 100);
		MarkRead   *mr;

		if (msg == NULL)
		{
			if (now_us() > deadline)
				return sink_error(&ks->sink, SINK_RETRY,
								  "timed out reading the last messages of kafka topic \"%s\"", t->name);
			continue;
		}
		mr = (msg->partition >= 0 && msg->partition < t->npartitions) ?
			&r[msg->partition] : NULL;
		if (mr != NULL && !mr->done && !mr->eof)
		{
			if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			{
				mr->eof = true;
				left--;
			}
			else if (msg->err)
			{
				sink_error(&ks->sink, SINK_RETRY,
						   "could not read the last message of kafka topic \"%s\" partition %d: %s",
						   t->name, (int) msg->partition, rd_kafka_message_errstr(msg));
				rd_kafka_message_destroy(msg);
				return SINK_RETRY;
			}
			else if (msg->offset >= mr->start)
				mark_take(mr, msg);
		}
		rd_kafka_message_destroy(msg);
	}
	return SINK_OK;
}

/* one round: read every partition not done from its start to its end */
static int
marks_round(KafkaSink *ks, const KafkaTopic *t, rd_kafka_topic_t *rkt, MarkRead *r)
{
	rd_kafka_queue_t *q = rd_kafka_queue_new(ks->rkc);
	int			started = 0;	/* partitions below this one were started */
	int			count = 0;
	int			rc = SINK_OK;
	int			i;

	for (i = 0; i < t->npartitions && rc == SINK_OK; i++)
	{
		if (r[i].done)
			continue;
		r[i].eof = r[i].got = false;
		if (rd_kafka_consume_start_queue(rkt, i, r[i].start, q) == -1)
			rc = sink_error(&ks->sink, SINK_RETRY, "could not read kafka topic \"%s\" partition %d: %s",
							t->name, i, rd_kafka_err2str(rd_kafka_last_error()));
		else
		{
			started = i + 1;
			count++;
		}
	}
	if (rc == SINK_OK)
		rc = marks_consume(ks, t, q, r, count);
	for (i = 0; i < started; i++)
		if (!r[i].done)
			rd_kafka_consume_stop(rkt, i);
	rd_kafka_queue_destroy(q);
	return rc;
}

/* after a round: set the marks of the partitions that got to the end */
static int
marks_settle(KafkaSink *ks, KafkaTopic *t, MarkRead *r)
{
	int			i;

	for (i = 0; i < t->npartitions; i++)
	{
		if (r[i].done)
			continue;
		if (!r[i].got && r[i].start > r[i].lo)
		{
			/* only control records (or aborted ones) there: look further back */
			int64_t		back = 2 * (r[i].hi - r[i].start);

			r[i].start = r[i].hi - back > r[i].lo ? r[i].hi - back : r[i].lo;
			continue;
		}
		r[i].done = true;
		if (r[i].got && !r[i].ours)
			return sink_error(&ks->sink, SINK_FATAL,
							  "kafka topic \"%s\" partition %d ends with a message wal2queue did not write "
							  "(offset %" PRId64 " has no lsn and seq headers): another producer writes this topic",
							  t->name, i, r[i].offset);
		if (r[i].got)
		{
			t->marks[i].has_mark = true;
			t->marks[i].lsn = r[i].lsn;
			t->marks[i].seq = r[i].seq;
		}
		suspect_apply(ks, t, i);
	}
	return SINK_OK;
}

static int
read_marks(KafkaSink *ks, KafkaTopic *t)
{
	MarkRead   *r = calloc(t->npartitions, sizeof(MarkRead));
	rd_kafka_topic_t *rkt = NULL;
	int64_t		t0 = now_us();
	int			rc;
	int			i;

	if (r == NULL)
		return sink_error(&ks->sink, SINK_RETRY, "out of memory");
	rc = marks_offsets(ks, t, r);
	if (rc == SINK_OK && (rkt = rd_kafka_topic_new(ks->rkc, t->name, NULL)) == NULL)
		rc = sink_error(&ks->sink, SINK_RETRY, "could not open kafka topic \"%s\": %s",
						t->name, rd_kafka_err2str(rd_kafka_last_error()));
	for (;;)
	{
		bool		more = false;

		for (i = 0; i < t->npartitions && rc == SINK_OK; i++)
			more |= !r[i].done;
		if (rc != SINK_OK || !more)
			break;
		rc = marks_round(ks, t, rkt, r);
		if (rc == SINK_OK)
			rc = marks_settle(ks, t, r);
	}
	if (rkt)
		rd_kafka_topic_destroy(rkt);
	free(r);
	if (rc == SINK_OK)
		log_msg(LOG_DEBUG, "read the marks of kafka topic \"%s\" (%d partitions) in %.1f ms",
				t->name, (int) t->npartitions, (now_us() - t0) / 1000.0);
	return rc;
}

/* ---- producing ---- */

/* the topic of a job, opened (and its marks read) on first use */
static int
job_topic(KafkaSink *ks, const FrameJob *job, KafkaTopic **out)
{
	const char *prefix = ks->sink.cfg->target_prefix ? ks->sink.cfg->target_prefix : "";
	KafkaTopic **slot;

	json_buf_reset(&ks->topic);
	if (json_append_raw(&ks->topic, prefix, strlen(prefix)) != 0 ||
		json_append_raw(&ks->topic, job->target.data, job->target.len) != 0)
		return sink_error(&ks->sink, SINK_RETRY, "out of memory");
	if (ks->topics_cap > 0)
	{
		slot = topic_slot(ks, ks->topic.data, ks->topic.len);
		if (*slot != NULL)
		{
			*out = *slot;
			return SINK_OK;
		}
	}
	return topic_open(ks, ks->topic.data, ks->topic.len, out);
}

/* the value: payload, --value-column's text or the row as JSON */
static int
job_value(KafkaSink *ks, const FrameJob *job, const char **val, size_t *len)
{
	const char *col = ks->sink.cfg->value_column;
	uint32_t	i;

	if (job->is_message)
	{
		*val = job->payload.data ? job->payload.data : "";
		*len = job->payload.len;
		return SINK_OK;
	}
	if (col == NULL)
	{
		if (json_row(&ks->value, job->rel, job->values) != 0)
			return sink_error(&ks->sink, SINK_RETRY, "out of memory");
		*val = ks->value.data;
		*len = ks->value.len;
		return SINK_OK;
	}
	for (i = 0; i < job->rel->ncols; i++)
	{
		const FrameBytes *name = &job->rel->cols[i].name;

		if (name->len == strlen(col) && memcmp(name->data, col, name->len) == 0)
		{
			*val = job->values[i].isnull ? NULL :
				(job->values[i].data.data ? job->values[i].data.data : "");
			*len = job->values[i].isnull ? 0 : job->values[i].data.len;
			return SINK_OK;
		}
	}
	return sink_error(&ks->sink, SINK_FATAL, "table %.*s has no column \"%s\" (--value-column)",
					  (int) job->rel->name.len, job->rel->name.data, col);
}

/* everything one produce call needs */
typedef struct JobMsg
{
	KafkaTopic *topic;
	int32_t		partition;
	const char *value;
	size_t		value_len;
	char		lsn[LSN_STR_LEN];
	char		seq[16];
	char		xid[16];
	char		time[TIME_STR_LEN];
} JobMsg;

static size_t
job_msg_bytes(const FrameJob *job, const JobMsg *jm)
{
	size_t		n = jm->value_len + (job->has_key ? job->key.len : 0);

	n += strlen(jm->lsn) + strlen(jm->seq) + strlen(jm->xid) + strlen(jm->time);
	n += sizeof("lsn") + sizeof("seq") + sizeof("xid") + sizeof("commit_time");
	if (!job->is_message)
		n += sizeof("table") + job->rel->name.len;
	return n;
}

static int
job_too_large(KafkaSink *ks, const FrameJob *job, const JobMsg *jm)
{
	return sink_error(&ks->sink, SINK_FATAL,
					  "job too large for Kafka: %s %.*s key %.*s lsn %s is %zu bytes (message.max.bytes %" PRId64 ")",
					  job->is_message ? "message to topic" : "table",
					  job->is_message ? (int) strlen(jm->topic->name) : (int) job->rel->name.len,
					  job->is_message ? jm->topic->name : job->rel->name.data,
					  job->has_key ? (int) job->key.len : 6,
					  job->has_key ? job->key.data : "(none)",
					  jm->lsn, job_msg_bytes(job, jm), ks->max_message_bytes);
}

/* the headers of a job's message; NULL when out of memory */
static rd_kafka_headers_t *
job_headers(const FrameJob *job, const JobMsg *jm)
{
	rd_kafka_headers_t *h = rd_kafka_headers_new(5);

	if (h == NULL)
		return NULL;
	if (rd_kafka_header_add(h, "lsn", -1, jm->lsn, -1) ||
		rd_kafka_header_add(h, "seq", -1, jm->seq, -1) ||
		rd_kafka_header_add(h, "xid", -1, jm->xid, -1) ||
		(!job->is_message &&
		 rd_kafka_header_add(h, "table", -1, job->rel->name.data,
							 (ssize_t) job->rel->name.len)) ||
		rd_kafka_header_add(h, "commit_time", -1, jm->time, -1))
	{
		rd_kafka_headers_destroy(h);
		return NULL;
	}
	return h;
}

/* one attempt; the headers belong to librdkafka only if it succeeds */
static rd_kafka_resp_err_t
job_produce_once(KafkaSink *ks, const FrameJob *job, const JobMsg *jm,
				 rd_kafka_headers_t *hdrs, KafkaMsg *m)
{
	const void *key = job->has_key ? (job->key.data ? job->key.data : "") : NULL;

	return rd_kafka_producev(ks->rk,
							 RD_KAFKA_V_RKT(jm->topic->rkt),
							 RD_KAFKA_V_PARTITION(jm->partition),
							 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
							 RD_KAFKA_V_VALUE((void *) jm->value, jm->value_len),
							 RD_KAFKA_V_KEY(key, job->has_key ? job->key.len : 0),
							 RD_KAFKA_V_HEADERS(hdrs),
							 RD_KAFKA_V_OPAQUE(m),
							 RD_KAFKA_V_END);
}

/* the produce call failed for good */
static int
job_produce_error(KafkaSink *ks, const FrameJob *job, const JobMsg *jm,
				  rd_kafka_resp_err_t err)
{
	char		buf[256];

	if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
		return job_too_large(ks, job, jm);
	if (err == RD_KAFKA_RESP_ERR__FATAL)
	{
		err = rd_kafka_fatal_error(ks->rk, buf, sizeof(buf));
		return sink_error(&ks->sink, SINK_RETRY, "kafka producer failed: %s: %s",
						  rd_kafka_err2name(err), buf);
	}
	return sink_error(&ks->sink, SINK_RETRY, "could not produce to kafka topic \"%s\" partition %d: %s",
					  jm->topic->name, (int) jm->partition, rd_kafka_err2str(err));
}

/* produce, polling while librdkafka's queue is full (bounded) */
static int
job_produce(KafkaSink *ks, const FrameTxn *txn, const FrameJob *job,
			const JobMsg *jm, LedgerTicket t)
{
	rd_kafka_headers_t *hdrs = job_headers(job, jm);
	KafkaMsg   *m = hdrs ? msg_new(ks) : NULL;
	rd_kafka_resp_err_t err;
	int			tries = 0;

	if (m == NULL)
	{
		if (hdrs)
			rd_kafka_headers_destroy(hdrs);
		return sink_error(&ks->sink, SINK_RETRY, "out of memory");
	}
	m->ticket = t;
	m->bytes = job_msg_bytes(job, jm);
	m->lsn = txn->commit_lsn;
	m->seq = job->seq;
	ks->pending += m->bytes;
	while ((err = job_produce_once(ks, job, jm, hdrs, m)) == RD_KAFKA_RESP_ERR__QUEUE_FULL &&
		   ++tries < QUEUE_FULL_TRIES)
		rd_kafka_poll(ks->rk, 100);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
		return SINK_OK;
	rd_kafka_headers_destroy(hdrs);
	msg_done(ks, m);
	return job_produce_error(ks, job, jm, err);
}

/* ---- the operations ---- */

static void
kafka_close(KafkaSink *ks)
{
	ks->discarding = true;
	if (ks->rk)
		rd_kafka_purge(ks->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	if (ks->mainq)
	{
		rd_kafka_queue_io_event_enable(ks->mainq, -1, NULL, 0);
		rd_kafka_queue_destroy(ks->mainq);
		ks->mainq = NULL;
	}
	topics_free_all(ks);
	if (ks->rkc)
		rd_kafka_destroy_flags(ks->rkc, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	if (ks->rk)
		rd_kafka_destroy(ks->rk);
	ks->rk = ks->rkc = NULL;
	if (ks->wake_fd[0] >= 0)
	{
		close(ks->wake_fd[0]);
		close(ks->wake_fd[1]);
		ks->wake_fd[0] = ks->wake_fd[1] = -1;
	}
	msgs_free_all(ks);
	ks->acks.n = 0;
	ks->held.n = 0;
	ks->txn_open = false;
	ks->failed = SINK_OK;
	ks->discarding = false;
}

static int
kafka_create_handles(KafkaSink *ks)
{
	rd_kafka_conf_t *conf;
	char		errstr[512];

	if (producer_conf(ks, &conf) != SINK_OK)
	{
		rd_kafka_conf_destroy(conf);
		return SINK_FATAL;
	}
	if ((ks->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr))) == NULL)
	{
		rd_kafka_conf_destroy(conf);
		return sink_error(&ks->sink, SINK_FATAL, "could not create the kafka producer: %s", errstr);
	}
	if (consumer_conf(ks, &conf) != SINK_OK)
	{
		rd_kafka_conf_destroy(conf);
		return SINK_FATAL;
	}
	if ((ks->rkc = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr))) == NULL)
	{
		rd_kafka_conf_destroy(conf);
		return sink_error(&ks->sink, SINK_FATAL, "could not create the kafka consumer: %s", errstr);
	}
	if (pipe(ks->wake_fd) != 0)
		return sink_error(&ks->sink, SINK_RETRY, "could not create a pipe: %s", strerror(errno));
	fcntl(ks->wake_fd[0], F_SETFL, O_NONBLOCK);
	fcntl(ks->wake_fd[1], F_SETFL, O_NONBLOCK);
	fcntl(ks->wake_fd[0], F_SETFD, FD_CLOEXEC);
	fcntl(ks->wake_fd[1], F_SETFD, FD_CLOEXEC);
	ks->mainq = rd_kafka_queue_get_main(ks->rk);
	rd_kafka_queue_io_event_enable(ks->mainq, ks->wake_fd[1], "k", 1);
	return SINK_OK;
}

/* ---- transactions (--kafka-transactions) ---- */

/* a transactional call failed: log and return rc with the message */
static int
txn_error(KafkaSink *ks, rd_kafka_error_t *e, const char *what, int rc)
{
	sink_error(&ks->sink, rc, "kafka %s failed: %s", what, rd_kafka_error_string(e));
	if (rd_kafka_error_is_fatal(e))
		log_msg(LOG_WARNING, "%s (fatal for the producer, recreating it)", ks->sink.err);
	rd_kafka_error_destroy(e);
	return rc;
}

static int
txn_init(KafkaSink *ks)
{
	rd_kafka_error_t *e = rd_kafka_init_transactions(ks->rk, TXN_TIMEOUT_MS);

	if (e == NULL)
		return SINK_OK;
	/* fatal here means configuration or authorization: retrying cannot help */
	return txn_error(ks, e, "init_transactions",
					 rd_kafka_error_is_fatal(e) ? SINK_FATAL : SINK_RETRY);
}

static int
txn_begin(KafkaSink *ks)
{
	rd_kafka_error_t *e = rd_kafka_begin_transaction(ks->rk);

	if (e != NULL)
		return txn_error(ks, e, "begin_transaction", SINK_RETRY);
	ks->txn_open = true;
	return SINK_OK;
}

/*
 * Commit (flushing the transaction's messages first); only then may their
 * acknowledgements go.  On failure abort what can be aborted and let the
 * bridge replay: the next producer's init_transactions aborts the rest.
 */
static int
txn_commit(KafkaSink *ks)
{
	rd_kafka_error_t *e;
	int			rc;

	ks->txn_open = false;
	if (ks->failed == SINK_OK)
	{
		if ((e = rd_kafka_commit_transaction(ks->rk, TXN_TIMEOUT_MS)) == NULL)
		{
			release_held(ks);
			return ks->failed;
		}
		rc = rd_kafka_error_txn_requires_abort(e);
		txn_error(ks, e, "commit_transaction", SINK_RETRY);
	}
	else
		rc = 1;
	ks->held.n = 0;
	if (rc && (e = rd_kafka_abort_transaction(ks->rk, TXN_TIMEOUT_MS)) != NULL)
	{
		log_msg(LOG_WARNING, "kafka abort_transaction failed: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	}
	return ks->failed != SINK_OK ? ks->failed : SINK_RETRY;
}

static int
kafka_connect(Sink *s)
{
	KafkaSink  *ks = ks_of(s);
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t err;
	int			rc;

	if (ks->rk)
		kafka_close(ks);
	ks->txn_mode = s->cfg->kafka_transactions;
	if (s->cfg->url.brokers == NULL || s->cfg->url.brokers[0] == '\0')
		return sink_error(s, SINK_FATAL, "no kafka brokers given");
	if ((rc = kafka_create_handles(ks)) != SINK_OK)
	{
		kafka_close(ks);
		return rc;
	}
	err = rd_kafka_metadata(ks->rk, 0, NULL, &md, CONNECT_TIMEOUT_MS);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		kafka_close(ks);
		return sink_error(s, SINK_RETRY, "could not reach kafka brokers %s: %s",
						  s->cfg->url.brokers, rd_kafka_err2str(err));
	}
	rd_kafka_metadata_destroy(md);
	if (ks->txn_mode && (rc = txn_init(ks)) != SINK_OK)
	{
		kafka_close(ks);
		return rc;
	}
	return SINK_OK;
}

static int
kafka_begin(Sink *s, const FrameTxn *txn, LedgerTicket t)
{
	KafkaSink  *ks = ks_of(s);

	(void) txn;
	(void) t;
	if (ks->failed != SINK_OK)
		return ks->failed;
	if (ks->rk == NULL)
		return sink_error(s, SINK_RETRY, "not connected to kafka");
	return ks->txn_mode ? txn_begin(ks) : SINK_OK;
}

static int
kafka_job(Sink *s, const FrameTxn *txn, const FrameJob *job, LedgerTicket t)
{
	KafkaSink  *ks = ks_of(s);
	JobMsg		jm;
	int			rc;

	if (ks->failed != SINK_OK)
		return ks->failed;
	if (ks->rk == NULL)
		return sink_error(s, SINK_RETRY, "not connected to kafka");
	memset(&jm, 0, sizeof(jm));
	lsn_str(txn->commit_lsn, jm.lsn, sizeof(jm.lsn));
	if ((rc = job_topic(ks, job, &jm.topic)) != SINK_OK)
		return rc;
	if (job->has_key)
		jm.partition = murmur2_partition(job->key.data ? job->key.data : "", job->key.len,
										 jm.topic->npartitions);
	else
		jm.partition = murmur2_partition(jm.lsn, strlen(jm.lsn), jm.topic->npartitions);
	if (mark_covers(&jm.topic->marks[jm.partition], txn->commit_lsn, job->seq))
	{
		queue_ack(ks, t, 1);
		return SINK_OK;
	}
	if ((rc = job_value(ks, job, &jm.value, &jm.value_len)) != SINK_OK)
		return rc;
	snprintf(jm.seq, sizeof(jm.seq), "%u", job->seq);
	snprintf(jm.xid, sizeof(jm.xid), "%u", txn->xid);
	time_str(txn->commit_time_us, jm.time, sizeof(jm.time));
	return job_produce(ks, txn, job, &jm, t);
}

static int
kafka_commit(Sink *s, const FrameTxn *txn, LedgerTicket t)
{
	KafkaSink  *ks = ks_of(s);

	(void) txn;
	(void) t;
	if (ks->txn_mode && ks->txn_open)
		return txn_commit(ks);
	return ks->failed;
}

static void
drain_wake_pipe(KafkaSink *ks)
{
	char		buf[64];

	if (ks->wake_fd[0] >= 0)
		while (read(ks->wake_fd[0], buf, sizeof(buf)) > 0)
			;
}

static int
kafka_poll(Sink *s, int timeout_ms, SinkAckFn ack, void *arg)
{
	KafkaSink  *ks = ks_of(s);

	if (ks->rk == NULL)
		return sink_error(s, SINK_RETRY, "not connected to kafka");
	ks->ack = ack;
	ks->ack_arg = arg;
	flush_acks(ks);
	drain_wake_pipe(ks);
	rd_kafka_poll(ks->rkc, 0);	/* the consumer's error events */
	rd_kafka_poll(ks->rk, timeout_ms);
	flush_acks(ks);
	ks->ack = NULL;
	ks->ack_arg = NULL;
	return ks->failed;
}

static int
kafka_socket(Sink *s, bool *want_write)
{
	*want_write = false;
	return ks_of(s)->wake_fd[0];
}

static size_t
kafka_pending_bytes(Sink *s)
{
	return ks_of(s)->pending;
}

static void
kafka_disconnect(Sink *s)
{
	kafka_close(ks_of(s));
}

static int
kafka_drain(Sink *s, int timeout_ms, SinkAckFn ack, void *arg)
{
	KafkaSink  *ks = ks_of(s);
	int			left;

	if (ks->rk == NULL)
		return SINK_OK;
	ks->ack = ack;
	ks->ack_arg = arg;
	flush_acks(ks);
	rd_kafka_flush(ks->rk, timeout_ms);
	rd_kafka_poll(ks->rk, 0);
	flush_acks(ks);
	ks->ack = NULL;
	ks->ack_arg = NULL;
	if (ks->failed != SINK_OK)
		return ks->failed;
	left = rd_kafka_outq_len(ks->rk);
	if (left > 0)
		return sink_error(s, SINK_RETRY, "%d kafka messages not delivered within %d ms",
						  left, timeout_ms);
	return SINK_OK;
}

static void
kafka_destroy(Sink *s)
{
	KafkaSink  *ks = ks_of(s);
	size_t		i;

	kafka_close(ks);
	for (i = 0; i < ks->nsuspects; i++)
		free(ks->suspects[i].topic);
	free(ks->suspects);
	free(ks->acks.a);
	free(ks->held.a);
	json_buf_free(&ks->value);
	json_buf_free(&ks->topic);
	free(ks);
}

static const SinkOps kafka_ops = {
	.name = "kafka",
	.connect = kafka_connect,
	.begin = kafka_begin,
	.job = kafka_job,
	.commit = kafka_commit,
	.poll = kafka_poll,
	.socket = kafka_socket,
	.pending_bytes = kafka_pending_bytes,
	.disconnect = kafka_disconnect,
	.drain = kafka_drain,
	.destroy = kafka_destroy,
};

Sink *
sink_kafka_create(const SinkConfig *cfg)
{
	KafkaSink  *ks = calloc(1, sizeof(KafkaSink));

	if (ks == NULL)
		return NULL;
	ks->sink.ops = &kafka_ops;
	ks->sink.cfg = cfg;
	ks->sink.priv = ks;
	ks->wake_fd[0] = ks->wake_fd[1] = -1;
	ks->inflight.next = ks->inflight.prev = &ks->inflight;
	json_buf_init(&ks->value);
	json_buf_init(&ks->topic);
	return &ks->sink;
}
