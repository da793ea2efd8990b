/*-------------------------------------------------------------------------
 *
 * test_sink_kafka.c
 *		The Kafka sink against librdkafka's mock cluster, in process.
 *
 * Jobs go in through the sink's operations as the bridge would call them;
 * what reached the topics is read back with a plain consumer (and once with
 * kcat, an independent client, when it is installed).
 *
 *-------------------------------------------------------------------------
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kafka_sink.h"
#include "log.h"
#include "lsn.h"
#include "murmur2.h"
#include "sink.h"
#include "unit.h"

#define MAX_TICKETS 1024
#define MAX_JOBS 64
#define ACK_TIMEOUT_MS 15000

/* Kafka protocol ApiKeys, for injecting broker errors into the mock */
#define API_PRODUCE 0
#define API_END_TXN 26

static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mock;
static const char *bootstrap;
static uint32_t acked[MAX_TICKETS];
static LedgerTicket next_ticket = 1;

/* ---- building jobs ---- */

/* the relation public.jobs(id int, queue text, payload jsonb, note text) */
static FrameColumn job_cols[] = {
	{{"id", 2}, W2Q_KIND_NUMBER},
	{{"queue", 5}, W2Q_KIND_TEXT},
	{{"payload", 7}, W2Q_KIND_JSON},
	{{"note", 4}, W2Q_KIND_TEXT},
};
static FrameRelation job_rel = {16384, {"public.jobs", 11}, 4, job_cols};

typedef struct TJob
{
	const char *key;			/* NULL: no key */
	const char *target;			/* NULL: public.jobs */
	const char *id;
	const char *note;			/* NULL: SQL NULL */
	const char *payload;		/* a message's payload when is_message */
	bool		is_message;
	FrameValue	values[4];
} TJob;

static FrameBytes
fbytes(const char *s)
{
	FrameBytes	b = {s, s ? (uint32_t) strlen(s) : 0};

	return b;
}

static void
tjob_frame(TJob *tj, uint32_t seq, FrameJob *job)
{
	memset(job, 0, sizeof(*job));
	job->seq = seq;
	job->is_message = tj->is_message;
	job->has_key = tj->key != NULL;
	job->key = fbytes(tj->key);
	job->target = fbytes(tj->target ? tj->target : (tj->is_message ? "wal2queue" : "public.jobs"));
	if (tj->is_message)
	{
		job->payload = fbytes(tj->payload);
		return;
	}
	tj->values[0] = (FrameValue) {false, fbytes(tj->id ? tj->id : "1")};
	tj->values[1] = (FrameValue) {false, fbytes("emails")};
	tj->values[2] = (FrameValue) {false, fbytes("{\"to\": \"a@b.c\"}")};
	tj->values[3] = (FrameValue) {tj->note == NULL, fbytes(tj->note)};
	job->rel = &job_rel;
	job->values = tj->values;
}

static FrameTxn
make_txn(uint32_t xid, uint64_t lsn)
{
	FrameTxn	t = {xid, lsn, lsn + 0x30, 1795468052123456LL, 0};

	return t;
}

/* begin, jobs, commit as the bridge calls them; the ticket in *t */
static int
run_txn(Sink *s, FrameTxn txn, TJob *jobs, int n, LedgerTicket *t)
{
	int			rc;
	int			i;

	*t = next_ticket++;
	if ((rc = s->ops->begin(s, &txn, *t)) != SINK_OK)
		return rc;
	for (i = 0; i < n; i++)
	{
		FrameJob	job;

		tjob_frame(&jobs[i], (uint32_t) i, &job);
		txn.njobs = (uint32_t) i + 1;
		if ((rc = s->ops->job(s, &txn, &job, *t)) != SINK_OK)
			return rc;
	}
	return s->ops->commit(s, &txn, *t);
}

static void
on_ack(void *arg, LedgerTicket t, uint32_t n)
{
	(void) arg;
	if (t < MAX_TICKETS)
		acked[t] += n;
}

/* poll until ticket t has want acks; returns the last poll's answer */
static int
wait_acks(Sink *s, LedgerTicket t, uint32_t want, int timeout_ms)
{
	int64_t		deadline = now_us() + (int64_t) timeout_ms * 1000;
	int			rc = SINK_OK;

	while (acked[t] < want && now_us() < deadline)
		if ((rc = s->ops->poll(s, 50, on_ack, NULL)) != SINK_OK)
			return rc;
	return rc;
}

/* ---- sinks and sources ---- */

#define SRC_A "7311000000000000001/1/postgres/sa"
static const SinkSource src_a = {"7311000000000000001", 1, "postgres", "sa"};

/* connect and begin a session of source src_a from LSN 0 */
static int
tstart(Sink *s)
{
	int			rc = s->ops->connect(s);

	return rc != SINK_OK ? rc : s->ops->replay_begin(s, &src_a, 0, 0);
}

/* hand a transaction over and poll until it is acknowledged or fails */
static int
run_wait(Sink *s, FrameTxn txn, TJob *jobs, int n, LedgerTicket *t)
{
	int			rc = run_txn(s, txn, jobs, n, t);

	return rc != SINK_OK ? rc : wait_acks(s, *t, (uint32_t) n, ACK_TIMEOUT_MS);
}


typedef struct TSink
{
	SinkConfig	cfg;
	char	   *props[8];
	Sink	   *s;
} TSink;

static Sink *
tsink_new(TSink *ts, const char *prefix, const char *value_column, const char *prop1,
		  const char *prop2)
{
	memset(ts, 0, sizeof(*ts));
	ts->cfg.url.kind = SINK_KAFKA;
	ts->cfg.url.brokers = (char *) bootstrap;
	ts->cfg.target_prefix = prefix ? prefix : "";
	ts->cfg.value_column = value_column;
	ts->props[0] = (char *) prop1;
	ts->props[prop1 ? 1 : 0] = (char *) prop2;
	ts->cfg.kafka_props = ts->props;
	ts->s = sink_kafka_create(&ts->cfg);
	return ts->s;
}

/* ---- reading topics back ---- */

typedef struct Rec
{
	int32_t		partition;
	int64_t		offset;
	char	   *key;			/* NULL: null key */
	char	   *value;			/* NULL: null value */
	char	   *lsn,
			   *seq,
			   *xid,
			   *table,
			   *time,
			   *source;			/* headers, NULL when absent */
	int			nheaders;
} Rec;

typedef struct Recs
{
	Rec			r[512];
	int			n;
} Recs;

static char *
dup_or_null(const void *p, size_t n)
{
	char	   *s;

	if (p == NULL)
		return NULL;
	s = malloc(n + 1);
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static char *
header(rd_kafka_headers_t *h, const char *name)
{
	const void *v;
	size_t		n;

	if (h == NULL || rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return NULL;
	return dup_or_null(v ? v : "", n);
}

static void
rec_take(Recs *rs, rd_kafka_message_t *m)
{
	Rec		   *r = &rs->r[rs->n++];
	rd_kafka_headers_t *h = NULL;

	rd_kafka_message_headers(m, &h);
	r->partition = m->partition;
	r->offset = m->offset;
	r->key = dup_or_null(m->key, m->key_len);
	r->value = dup_or_null(m->payload, m->len);
	r->lsn = header(h, "lsn");
	r->seq = header(h, "seq");
	r->xid = header(h, "xid");
	r->table = header(h, "table");
	r->time = header(h, "commit_time");
	r->source = header(h, "source");
	r->nheaders = h ? (int) rd_kafka_header_cnt(h) : 0;
}

static void
recs_free(Recs *rs)
{
	int			i;

	for (i = 0; i < rs->n; i++)
	{
		Rec		   *r = &rs->r[i];

		free(r->key);
		free(r->value);
		free(r->lsn);
		free(r->seq);
		free(r->xid);
		free(r->table);
		free(r->time);
		free(r->source);
	}
	rs->n = 0;
}

static rd_kafka_t *
new_client(rd_kafka_type_t type, const char *txn_id)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char		err[256];

	rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err));
	rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
	if (type == RD_KAFKA_CONSUMER)
		rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof(err));
	if (txn_id)
		rd_kafka_conf_set(conf, "transactional.id", txn_id, err, sizeof(err));
	return rd_kafka_new(type, conf, err, sizeof(err));
}

static int
partition_count(rd_kafka_t *rk, rd_kafka_topic_t *rkt)
{
	const struct rd_kafka_metadata *md;
	int			n = 0;

	if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		if (md->topic_cnt == 1 && !md->topics[0].err)
			n = md->topics[0].partition_cnt;
		rd_kafka_metadata_destroy(md);
	}
	return n;
}

/* every message of a topic, partition by partition in offset order */
static int
read_topic(const char *topic, Recs *rs)
{
	rd_kafka_t *rk = new_client(RD_KAFKA_CONSUMER, NULL);
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	int			n = partition_count(rk, rkt);
	int			left = n;
	int64_t		deadline = now_us() + 10000000;
	int			p;

	recs_free(rs);
	for (p = 0; p < n; p++)
		rd_kafka_consume_start_queue(rkt, p, RD_KAFKA_OFFSET_BEGINNING, q);
	while (left > 0 && now_us() < deadline)
	{
		rd_kafka_message_t *m = rd_kafka_consume_queue(q, 100);

		if (m == NULL)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			left--;
		else if (!m->err && rs->n < (int) (sizeof(rs->r) / sizeof(rs->r[0])))
			rec_take(rs, m);
		rd_kafka_message_destroy(m);
	}
	for (p = 0; p < n; p++)
		rd_kafka_consume_stop(rkt, p);
	rd_kafka_queue_destroy(q);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	return left == 0 ? n : -1;
}

/* how many records carry this lsn and seq */
static int
count_job(const Recs *rs, const char *lsn, const char *seq)
{
	int			i,
				n = 0;

	for (i = 0; i < rs->n; i++)
		if (rs->r[i].lsn && rs->r[i].seq && strcmp(rs->r[i].lsn, lsn) == 0 &&
			strcmp(rs->r[i].seq, seq) == 0)
			n++;
	return n;
}

/* every (lsn, seq) of the topic exactly once, and want of them */
static bool
exactly_once(const Recs *rs, int want)
{
	int			i;

	for (i = 0; i < rs->n; i++)
		if (count_job(rs, rs->r[i].lsn ? rs->r[i].lsn : "", rs->r[i].seq ? rs->r[i].seq : "") != 1)
			return false;
	return rs->n == want;
}

/* produce one message with a plain client (no headers unless asked: then source A's) */
static void
produce_plain(const char *topic, int32_t partition, const char *lsn, const char *seq)
{
	rd_kafka_t *rk = new_client(RD_KAFKA_PRODUCER, NULL);

	if (lsn)
		rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
						  RD_KAFKA_V_VALUE("foreign", 7),
						  RD_KAFKA_V_HEADER("lsn", lsn, -1), RD_KAFKA_V_HEADER("seq", seq, -1),
						  RD_KAFKA_V_HEADER("source", SRC_A, -1), RD_KAFKA_V_END);
	else
		rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
						  RD_KAFKA_V_VALUE("foreign", 7), RD_KAFKA_V_END);
	rd_kafka_flush(rk, 5000);
	rd_kafka_destroy(rk);
}

static int32_t
part_of(const char *key, int n)
{
	return murmur2_partition(key, strlen(key), n);
}

static bool
str_eq(const char *a, const char *b)
{
	return a && b ? strcmp(a, b) == 0 : a == b;
}

/* ---- the cases ---- */

static const char *const want_values[] = {
	"{\"id\":42,\"queue\":\"emails\",\"payload\":{\"to\": \"a@b.c\"},\"note\":null}",
	"{\"id\":43,\"queue\":\"emails\",\"payload\":{\"to\": \"a@b.c\"},\"note\":\"hi\\n\\\"there\\\"\"}",
	"{\"id\":44,\"queue\":\"emails\",\"payload\":{\"to\": \"a@b.c\"},\"note\":\"\"}",
};

static void
check_basic_records(const Recs *rs)
{
	static const char *const keys[] = {"42", "43", "44"};
	int			i,
				j;

	for (j = 0; j < 3; j++)
	{
		const Rec  *r = NULL;
		char		seq[8];

		snprintf(seq, sizeof(seq), "%d", j);
		for (i = 0; i < rs->n; i++)
			if (str_eq(rs->r[i].key, keys[j]))
				r = &rs->r[i];
		if (!unit_check(r != NULL, "job with key %s is in the topic", keys[j]))
			continue;
		unit_check(r->partition == part_of(keys[j], 3),
				   "key %s in partition murmur2(key) %% 3 = %d (got %d)",
				   keys[j], (int) part_of(keys[j], 3), (int) r->partition);
		unit_check_str(r->value, want_values[j], "value is the row as typed JSON");
		unit_check(str_eq(r->lsn, "0/16B3748") && str_eq(r->seq, seq) &&
				   str_eq(r->xid, "750") && str_eq(r->table, "public.jobs") &&
				   str_eq(r->source, "7311000000000000001/1/postgres/sa") && r->nheaders == 6,
				   "headers lsn 0/16B3748, seq %s, xid 750, table public.jobs, source (6 headers)", seq);
		unit_check_str(r->time, "2026-11-23T21:07:32.123456Z", "commit_time header in ISO 8601 UTC");
	}
}

/* the same topic through kcat, an independent client */
static void
check_with_kcat(void)
{
	char		cmd[512];
	char		line[4096];
	FILE	   *f;
	int			n = 0,
				good = 0;

	if (system("command -v kcat >/dev/null 2>&1") != 0)
	{
		unit_check(true, "kcat reads the same (skipped: kcat not installed)");
		return;
	}
	snprintf(cmd, sizeof(cmd), "kcat -b %s -C -t public.jobs -e -J -q 2>/dev/null", bootstrap);
	if ((f = popen(cmd, "r")) == NULL)
	{
		unit_check(false, "kcat runs");
		return;
	}
	while (fgets(line, sizeof(line), f))
	{
		n++;
		if (strstr(line, "\"headers\":[\"lsn\",\"0/16B3748\",\"seq\"") &&
			strstr(line, "\"xid\",\"750\",\"table\",\"public.jobs\",\"commit_time\",\"2026-11-23T21:07:32.123456Z\",\"source\",\"7311000000000000001/1/postgres/sa\"]") &&
			strstr(line, "\"payload\":\"{\\\"id\\\":4"))
			good++;
	}
	pclose(f);
	unit_check(n == 3 && good == 3, "kcat reads 3 messages with the headers and JSON values (%d, %d good)", n, good);
}

static void
case_basic(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	TJob		jobs[3] = {{.key = "42", .id = "42"},
	{.key = "43", .id = "43", .note = "hi\n\"there\""},
	{.key = "44", .id = "44", .note = ""}};
	LedgerTicket t;
	Recs	   *rs = calloc(1, sizeof(Recs));
	bool		want_write = true;
	bool		ok;
	struct pollfd pfd;

	rd_kafka_mock_topic_create(mock, "public.jobs", 3, 1);
	unit_check(tstart(s) == SINK_OK, "connect");
	unit_check(s->ops->socket(s, &want_write) >= 0 && !want_write,
			   "socket: a pipe to wait on for delivery reports, never for writing");
	unit_check(run_txn(s, make_txn(750, 0x16B3748), jobs, 3, &t) == SINK_OK, "3 jobs handed over");
	unit_check(s->ops->pending_bytes(s) > 0, "pending bytes before the delivery reports");
	pfd.fd = s->ops->socket(s, &want_write);
	pfd.events = POLLIN;
	unit_check(poll(&pfd, 1, 5000) == 1, "the socket becomes readable when delivery reports are ready");
	ok = wait_acks(s, t, 3, ACK_TIMEOUT_MS) == SINK_OK && acked[t] == 3;
	unit_check(ok, "3 jobs acknowledged (%u)", acked[t]);
	unit_check(s->ops->pending_bytes(s) == 0, "no pending bytes after the acks");
	unit_check(read_topic("public.jobs", rs) == 3 && rs->n == 3, "topic public.jobs holds 3 messages");
	check_basic_records(rs);
	check_with_kcat();
	s->ops->destroy(s);
	recs_free(rs);
	free(rs);
}

static void
case_keyless_autocreate(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	TJob		jobs[3] = {{.target = "keyless", .id = "1"}, {.target = "keyless", .id = "2"},
	{.target = "keyless", .id = "3"}};
	LedgerTicket t;
	Recs	   *rs = calloc(1, sizeof(Recs));
	int			i,
				same = 0;

	tstart(s);
	unit_check(run_txn(s, make_txn(751, 0x2000000), jobs, 3, &t) == SINK_OK &&
			   wait_acks(s, t, 3, ACK_TIMEOUT_MS) == SINK_OK && acked[t] == 3,
			   "keyless jobs to an unknown topic acknowledged");
	unit_check(read_topic("keyless", rs) == 4, "topic auto-created with the mock's 4 partitions");
	for (i = 0; i < rs->n; i++)
		same += rs->r[i].key == NULL && rs->r[i].partition == part_of("0/2000000", 4);
	unit_check(rs->n == 3 && same == 3,
			   "keyless jobs: null key, all in partition murmur2(\"0/2000000\") %% 4 = %d",
			   (int) part_of("0/2000000", 4));
	s->ops->destroy(s);
	recs_free(rs);
	free(rs);
}

static void
case_replay(void)
{
	TSink		ts,
				ts2;
	Sink	   *s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	Sink	   *s2;
	TJob		j1[4] = {{.target = "replay", .key = "k1"}, {.target = "replay", .key = "k2"},
	{.target = "replay", .key = "k3"}, {.target = "replay"}};
	TJob		j2[2] = {{.target = "replay", .key = "k1"}, {.target = "replay", .key = "k5"}};
	TJob		j3[2] = {{.target = "replay", .key = "k2"}, {.target = "replay", .key = "k6"}};
	LedgerTicket t1,
				t2,
				t3;
	Recs	   *rs = calloc(1, sizeof(Recs));
	bool		ok;

	rd_kafka_mock_topic_create(mock, "replay", 4, 1);
	tstart(s);
	run_txn(s, make_txn(800, 0x3000000), j1, 4, &t1);
	run_txn(s, make_txn(801, 0x3000100), j2, 2, &t2);
	unit_check(wait_acks(s, t1, 4, ACK_TIMEOUT_MS) == SINK_OK &&
			   wait_acks(s, t2, 2, ACK_TIMEOUT_MS) == SINK_OK,
			   "first pass: 6 jobs acknowledged");
	s->ops->disconnect(s);
	unit_check(tstart(s) == SINK_OK, "reconnect");
	run_txn(s, make_txn(800, 0x3000000), j1, 4, &t1);
	run_txn(s, make_txn(801, 0x3000100), j2, 2, &t2);
	run_txn(s, make_txn(802, 0x3000200), j3, 2, &t3);
	unit_check(wait_acks(s, t1, 4, ACK_TIMEOUT_MS) == SINK_OK && acked[t1] == 4 &&
			   wait_acks(s, t2, 2, ACK_TIMEOUT_MS) == SINK_OK && acked[t2] == 2 &&
			   wait_acks(s, t3, 2, ACK_TIMEOUT_MS) == SINK_OK && acked[t3] == 2,
			   "replay after reconnect: every job acknowledged again, and the new ones");
	ok = read_topic("replay", rs) == 4 && exactly_once(rs, 8);
	unit_check(ok, "topic holds each of the 8 jobs exactly once (%d messages)", rs->n);

	/* a new process (the old one was killed): replay with a fresh sink */
	s2 = tsink_new(&ts2, NULL, NULL, NULL, NULL);
	tstart(s2);
	run_txn(s2, make_txn(801, 0x3000100), j2, 2, &t2);
	run_txn(s2, make_txn(802, 0x3000200), j3, 2, &t3);
	unit_check(wait_acks(s2, t2, 2, ACK_TIMEOUT_MS) == SINK_OK && acked[t2] == 2 &&
			   wait_acks(s2, t3, 2, ACK_TIMEOUT_MS) == SINK_OK && acked[t3] == 2,
			   "replay by a new sink instance acknowledged");
	ok = read_topic("replay", rs) == 4 && exactly_once(rs, 8);
	unit_check(ok, "still each job exactly once (%d messages)", rs->n);

	/* dropped with messages in flight, then replayed */
	run_txn(s2, make_txn(803, 0x3000300), j3, 2, &t3);
	s2->ops->disconnect(s2);
	tstart(s2);
	run_txn(s2, make_txn(803, 0x3000300), j3, 2, &t3);
	unit_check(wait_acks(s2, t3, 2, ACK_TIMEOUT_MS) == SINK_OK && acked[t3] == 2,
			   "transaction dropped in flight and replayed is acknowledged");
	ok = read_topic("replay", rs) == 4 && exactly_once(rs, 10);
	unit_check(ok, "each of the 10 jobs exactly once (%d messages)", rs->n);
	s->ops->destroy(s);
	s2->ops->destroy(s2);
	recs_free(rs);
	free(rs);
}

static void
case_foreign(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	TJob		j[1] = {{.target = "foreign", .key = "x"}};
	LedgerTicket t;
	int			rc;

	rd_kafka_mock_topic_create(mock, "foreign", 2, 1);
	produce_plain("foreign", 1, NULL, NULL);
	tstart(s);
	rc = run_wait(s, make_txn(900, 0x4000000), j, 1, &t);
	unit_check(rc == SINK_FATAL, "a foreign message at the end of a partition is fatal");
	unit_check(strstr(s->err, "topic \"foreign\" partition 1") != NULL &&
			   strstr(s->err, "did not write") != NULL, "error names topic and partition: %s", s->err);
	s->ops->destroy(s);
}

static void
case_too_large(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, "message.max.bytes=1000", NULL);
	char	   *big = malloc(2001);
	TJob		j[1] = {{.key = "42", .id = "42", .target = "big"}};
	LedgerTicket t;
	int			rc;

	memset(big, 'x', 2000);
	big[2000] = '\0';
	j[0].note = big;
	tstart(s);
	rc = run_wait(s, make_txn(901, 0x16B3748), j, 1, &t);
	unit_check(rc == SINK_FATAL, "a job over message.max.bytes is fatal");
	unit_check(strncmp(s->err, "job too large for Kafka: table public.jobs key 42 lsn 0/16B3748 is ", 67) == 0 &&
			   strstr(s->err, "bytes (message.max.bytes 1000)") != NULL,
			   "error names table, key and lsn: %s", s->err);
	s->ops->destroy(s);
	free(big);
}

static void
case_bad_config(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, "no.such.property=1", NULL);

	unit_check(s->ops->connect(s) == SINK_FATAL && strstr(s->err, "\"no.such.property\""),
			   "unknown property is fatal and named: %s", s->err);
	s->ops->destroy(s);
	s = tsink_new(&ts, NULL, NULL, "linger.ms=5", "acks=banana");
	unit_check(s->ops->connect(s) == SINK_FATAL && strstr(s->err, "\"acks\""),
			   "invalid value is fatal and names the property: %s", s->err);
	s->ops->destroy(s);
}

static void
case_value_column(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, "vc.", "note", NULL, NULL);
	TJob		j[3] = {{.target = "t", .key = "a", .note = "plain text"},
	{.target = "t", .key = "b"},
	{.target = "t", .key = "c", .is_message = true, .payload = "the payload"}};
	LedgerTicket t;
	Recs	   *rs = calloc(1, sizeof(Recs));
	int			i,
				good = 0;

	rd_kafka_mock_topic_create(mock, "vc.t", 1, 1);
	tstart(s);
	unit_check(run_txn(s, make_txn(902, 0x5000000), j, 3, &t) == SINK_OK &&
			   wait_acks(s, t, 3, ACK_TIMEOUT_MS) == SINK_OK && acked[t] == 3,
			   "value-column jobs acknowledged");
	unit_check(read_topic("vc.t", rs) == 1 && rs->n == 3, "3 messages on vc.t (prefix + target)");
	for (i = 0; i < rs->n; i++)
		good += (str_eq(rs->r[i].key, "a") && str_eq(rs->r[i].value, "plain text")) ||
			(str_eq(rs->r[i].key, "b") && rs->r[i].value == NULL) ||
			(str_eq(rs->r[i].key, "c") && str_eq(rs->r[i].value, "the payload"));
	unit_check(good == 3, "value is the column's text, NULL is a null value, a message's is its payload");
	s->ops->destroy(s);

	s = tsink_new(&ts, "vc.", "nope", NULL, NULL);
	tstart(s);
	unit_check(run_wait(s, make_txn(903, 0x5000100), j, 1, &t) == SINK_FATAL &&
			   strstr(s->err, "public.jobs has no column \"nope\""),
			   "a table without the value column is fatal: %s", s->err);
	s->ops->destroy(s);
	recs_free(rs);
	free(rs);
}

static void
case_prefix_message(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, "app1.", NULL, NULL, NULL);
	TJob		j[2] = {{.target = "emails", .key = "k7", .is_message = true, .payload = "hello"},
	{.target = "emails", .key = "k8", .id = "8"}};
	LedgerTicket t;
	Recs	   *rs = calloc(1, sizeof(Recs));
	const Rec  *m = NULL,
			   *r = NULL;
	int			i;

	rd_kafka_mock_topic_create(mock, "app1.emails", 2, 1);
	tstart(s);
	unit_check(run_txn(s, make_txn(904, 0x6000000), j, 2, &t) == SINK_OK &&
			   wait_acks(s, t, 2, ACK_TIMEOUT_MS) == SINK_OK && acked[t] == 2,
			   "message job and row job acknowledged");
	unit_check(read_topic("app1.emails", rs) == 2 && rs->n == 2, "topic is target prefix + target");
	for (i = 0; i < rs->n; i++)
		if (str_eq(rs->r[i].key, "k7"))
			m = &rs->r[i];
		else
			r = &rs->r[i];
	unit_check(m && str_eq(m->value, "hello") && m->table == NULL && m->nheaders == 5 &&
			   str_eq(m->seq, "0") && m->partition == part_of("k7", 2),
			   "logical message: value is the payload, no table header, keyed partition");
	unit_check(r && str_eq(r->table, "public.jobs") && str_eq(r->seq, "1"),
			   "row job of the same transaction: seq 1, table header");
	s->ops->destroy(s);
	recs_free(rs);
	free(rs);
}

static void
set_brokers(bool up)
{
	int			id;

	for (id = 1; id <= 3; id++)
		if (up)
			rd_kafka_mock_broker_set_up(mock, id);
		else
			rd_kafka_mock_broker_set_down(mock, id);
}

static void
case_broker_down(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	TJob		j[6] = {{.target = "down", .key = "1"}, {.target = "down", .key = "2"},
	{.target = "down", .key = "3"}, {.target = "down", .key = "4"},
	{.target = "down", .key = "5"}, {.target = "down"}};
	LedgerTicket t,
				t0;
	Recs	   *rs = calloc(1, sizeof(Recs));
	bool		ok;

	rd_kafka_mock_topic_create(mock, "down", 3, 1);
	tstart(s);
	run_txn(s, make_txn(905, 0x7000000), j, 2, &t0);
	wait_acks(s, t0, 2, ACK_TIMEOUT_MS);
	set_brokers(false);
	unit_check(run_txn(s, make_txn(906, 0x7000100), j, 6, &t) == SINK_OK,
			   "jobs handed over while the brokers are down");
	wait_acks(s, t, 6, 2000);
	unit_check(acked[t] == 0 && s->ops->pending_bytes(s) > 0,
			   "nothing acknowledged while down; %zu bytes pending (backpressure)",
			   s->ops->pending_bytes(s));
	set_brokers(true);
	ok = wait_acks(s, t, 6, 30000) == SINK_OK && acked[t] == 6;
	unit_check(ok, "all acknowledged once the brokers are back (%u)", acked[t]);
	ok = read_topic("down", rs) == 3 && exactly_once(rs, 8);
	unit_check(ok, "no loss, no duplicates (%d messages)", rs->n);
	s->ops->destroy(s);
	recs_free(rs);
	free(rs);
}

/* the longest single call of poll over ms milliseconds; its last answer in *rc */
static double
poll_for(Sink *s, int ms, int *rc)
{
	int64_t		end = now_us() + (int64_t) ms * 1000;
	double		worst = 0;

	*rc = SINK_OK;
	while (now_us() < end && *rc == SINK_OK)
	{
		int64_t		t0 = now_us();

		*rc = s->ops->poll(s, 50, on_ack, NULL);
		if ((now_us() - t0) / 1e6 > worst)
			worst = (now_us() - t0) / 1e6;
	}
	return worst;
}

/*
 * Brokers down when the session begins: no call blocks (connect asks no
 * broker; the metadata look-up runs on the worker), the job waits, and
 * after METADATA_TIMEOUT_MS the sink asks for a retry.
 */
static void
case_down_at_start(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	TJob		j[1] = {{.target = "downstart", .key = "1"}};
	LedgerTicket t;
	int64_t		t0 = now_us();
	double		worst;
	int			rc;

	set_brokers(false);
	t0 = now_us();
	rc = tstart(s);
	unit_check(rc == SINK_OK && now_us() - t0 < 1200000,
			   "brokers down: connect and replay_begin return at once (%.2f s)", (now_us() - t0) / 1e6);
	t0 = now_us();
	rc = run_txn(s, make_txn(760, 0x7600000), j, 1, &t);
	unit_check(rc == SINK_OK && now_us() - t0 < 1200000 && s->ops->pending_bytes(s) > 0,
			   "a job of an unknown topic is held (%.2f s, %zu bytes pending)",
			   (now_us() - t0) / 1e6, s->ops->pending_bytes(s));
	worst = poll_for(s, 8000, &rc);
	unit_check(rc == SINK_RETRY && strstr(s->err, "could not read the metadata of kafka topic \"downstart\""),
			   "the metadata look-up gives up with a retry: %s", s->err);
	unit_check(worst < 1.2, "no poll blocked longer than 1.2 s (longest %.2f s)", worst);
	s->ops->disconnect(s);
	set_brokers(true);
	unit_check(tstart(s) == SINK_OK &&
			   run_wait(s, make_txn(760, 0x7600000), j, 1, &t) == SINK_OK && acked[t] == 1,
			   "the next session delivers it once the brokers are up");
	s->ops->destroy(s);
}

/* messages expire while the brokers are down: retry, replay, exactly once */
static void
case_timeout(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, "message.timeout.ms=1500", NULL);
	TJob		j[3] = {{.target = "expire", .key = "1"}, {.target = "expire", .key = "2"},
	{.target = "expire", .key = "3"}};
	LedgerTicket t;
	Recs	   *rs = calloc(1, sizeof(Recs));
	int			rc;
	bool		ok;

	rd_kafka_mock_topic_create(mock, "expire", 2, 1);
	tstart(s);
	run_txn(s, make_txn(907, 0x8000000), j, 1, &t);
	wait_acks(s, t, 1, ACK_TIMEOUT_MS);
	set_brokers(false);
	run_txn(s, make_txn(908, 0x8000100), j, 3, &t);
	rc = wait_acks(s, t, 3, 10000);
	unit_check(rc == SINK_RETRY && strstr(s->err, "delivery failed"),
			   "expired messages: retry: %s", s->err);
	s->ops->disconnect(s);
	set_brokers(true);
	unit_check(tstart(s) == SINK_OK, "reconnect");
	run_txn(s, make_txn(907, 0x8000000), j, 1, &t);
	run_txn(s, make_txn(908, 0x8000100), j, 3, &t);
	unit_check(wait_acks(s, t, 3, ACK_TIMEOUT_MS) == SINK_OK && acked[t] == 3, "replayed jobs acknowledged");
	ok = read_topic("expire", rs) == 2 && exactly_once(rs, 4);
	unit_check(ok, "each job exactly once (%d messages)", rs->n);
	s->ops->destroy(s);
	recs_free(rs);
	free(rs);
}

/*
 * A delivery failed, yet a later job of its partition got in (the gap an
 * expired message can leave): the partition is re-sent from the failed job,
 * which must not be lost.
 */
static void
case_gap(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, "message.timeout.ms=1000", NULL);
	TJob		j[1] = {{.target = "gap", .key = "g"}};
	LedgerTicket t1,
				t2;
	Recs	   *rs = calloc(1, sizeof(Recs));

	rd_kafka_mock_topic_create(mock, "gap", 1, 1);
	tstart(s);
	run_txn(s, make_txn(909, 0x9000000), j, 1, &t1);
	wait_acks(s, t1, 1, ACK_TIMEOUT_MS);
	set_brokers(false);
	run_txn(s, make_txn(910, 0x9000100), j, 1, &t1);
	unit_check(wait_acks(s, t1, 1, 10000) == SINK_RETRY, "delivery failed while down");
	s->ops->disconnect(s);
	set_brokers(true);
	produce_plain("gap", 0, "0/9000200", "0");
	tstart(s);
	run_txn(s, make_txn(910, 0x9000100), j, 1, &t1);
	run_txn(s, make_txn(911, 0x9000200), j, 1, &t2);
	unit_check(wait_acks(s, t1, 1, ACK_TIMEOUT_MS) == SINK_OK && acked[t1] == 1 &&
			   wait_acks(s, t2, 1, ACK_TIMEOUT_MS) == SINK_OK && acked[t2] == 1,
			   "both jobs acknowledged");
	read_topic("gap", rs);
	unit_check(count_job(rs, "0/9000100", "0") == 1,
			   "the failed job is re-sent though the partition got further (no loss)");
	unit_check(count_job(rs, "0/9000200", "0") == 2,
			   "the partition is re-sent from the failed job on (duplicates rather than a gap)");
	s->ops->destroy(s);
	recs_free(rs);
	free(rs);
}

/* the last offset is a transaction marker: the mark is found further back */
static void
case_txn_marker(void)
{
	rd_kafka_t *p = new_client(RD_KAFKA_PRODUCER, "w2q-test");
	rd_kafka_t *c = new_client(RD_KAFKA_CONSUMER, NULL);
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	TJob		j[2] = {{.target = "marker"}, {.target = "marker"}};
	LedgerTicket t1,
				t2;
	Recs	   *rs = calloc(1, sizeof(Recs));
	int64_t		lo = 0,
				hi = 0;
	bool		ok;

	rd_kafka_mock_topic_create(mock, "marker", 1, 1);
	ok = !rd_kafka_init_transactions(p, 10000) && !rd_kafka_begin_transaction(p);
	ok = ok && !rd_kafka_producev(p, RD_KAFKA_V_TOPIC("marker"), RD_KAFKA_V_PARTITION(0),
								  RD_KAFKA_V_VALUE("v", 1), RD_KAFKA_V_HEADER("lsn", "0/A000000", -1),
								  RD_KAFKA_V_HEADER("seq", "0", -1),
								  RD_KAFKA_V_HEADER("source", SRC_A, -1), RD_KAFKA_V_END);
	ok = ok && !rd_kafka_producev(p, RD_KAFKA_V_TOPIC("marker"), RD_KAFKA_V_PARTITION(0),
								  RD_KAFKA_V_VALUE("v", 1), RD_KAFKA_V_HEADER("lsn", "0/A000000", -1),
								  RD_KAFKA_V_HEADER("seq", "1", -1),
								  RD_KAFKA_V_HEADER("source", SRC_A, -1), RD_KAFKA_V_END);
	ok = ok && !rd_kafka_commit_transaction(p, 10000);
	rd_kafka_query_watermark_offsets(c, "marker", 0, &lo, &hi, 5000);
	/* Kafka would put a commit marker at offset 2; the mock writes none */
	unit_check(ok && (hi == 2 || hi == 3),
			   "transactional producer wrote 2 messages (high watermark %lld)", (long long) hi);
	tstart(s);
	run_txn(s, make_txn(912, 0xA000000), j, 2, &t1);
	run_txn(s, make_txn(913, 0xA000100), j, 1, &t2);
	unit_check(wait_acks(s, t1, 2, ACK_TIMEOUT_MS) == SINK_OK && acked[t1] == 2 &&
			   wait_acks(s, t2, 1, ACK_TIMEOUT_MS) == SINK_OK && acked[t2] == 1,
			   "jobs acknowledged");
	read_topic("marker", rs);
	unit_check(rs->n == 3 && count_job(rs, "0/A000000", "1") == 1 && count_job(rs, "0/A000100", "0") == 1,
			   "jobs behind the marker skipped, the new one written (%d messages)", rs->n);
	s->ops->destroy(s);
	rd_kafka_destroy(p);
	rd_kafka_destroy(c);
	recs_free(rs);
	free(rs);
}

static void
case_drain(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	TJob		j[4] = {{.target = "drain", .key = "1"}, {.target = "drain", .key = "2"},
	{.target = "drain", .key = "3"}, {.target = "drain", .key = "4"}};
	LedgerTicket t;
	bool		ok;

	tstart(s);
	run_txn(s, make_txn(914, 0xB000000), j, 4, &t);
	ok = s->ops->drain(s, 10000, on_ack, NULL) == SINK_OK && acked[t] == 4;
	unit_check(ok, "drain delivers and acknowledges everything (%u)", acked[t]);
	s->ops->destroy(s);
}

/*
 * A permanent produce error: with enable.gapless.guarantee the idempotent
 * producer stops rather than skip the batch; the sink asks for a retry, and
 * the replay writes each job once.
 */
static void
case_fatal(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	TJob		j[3] = {{.target = "fatal", .key = "1"}, {.target = "fatal", .key = "2"},
	{.target = "fatal", .key = "3"}};
	LedgerTicket t;
	Recs	   *rs = calloc(1, sizeof(Recs));
	int			rc;
	bool		ok;

	rd_kafka_mock_topic_create(mock, "fatal", 1, 1);
	tstart(s);
	run_txn(s, make_txn(930, 0xD000000), j, 1, &t);
	wait_acks(s, t, 1, ACK_TIMEOUT_MS);
	rd_kafka_mock_push_request_errors(mock, API_PRODUCE, 1,
									  RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
	run_txn(s, make_txn(931, 0xD000100), j, 3, &t);
	rc = wait_acks(s, t, 3, ACK_TIMEOUT_MS);
	unit_check(rc == SINK_RETRY && acked[t] < 3,
			   "permanent produce error: retry, not acknowledged: %s", s->err);
	s->ops->disconnect(s);
	tstart(s);
	run_txn(s, make_txn(930, 0xD000000), j, 1, &t);
	run_txn(s, make_txn(931, 0xD000100), j, 3, &t);
	ok = wait_acks(s, t, 3, ACK_TIMEOUT_MS) == SINK_OK && acked[t] == 3 &&
		read_topic("fatal", rs) == 1 && exactly_once(rs, 4);
	unit_check(ok, "replayed after the failure: each job exactly once (%d messages)", rs->n);
	s->ops->destroy(s);
	recs_free(rs);
	free(rs);
}

/* begin and jobs, no commit yet */
static int
start_txn(Sink *s, FrameTxn txn, TJob *jobs, int n, LedgerTicket t)
{
	int			rc = s->ops->begin(s, &txn, t);
	int			i;

	for (i = 0; i < n && rc == SINK_OK; i++)
	{
		FrameJob	job;

		tjob_frame(&jobs[i], (uint32_t) i, &job);
		txn.njobs = (uint32_t) i + 1;
		rc = s->ops->job(s, &txn, &job, t);
	}
	return rc;
}

/* --kafka-transactions: acks only after the commit; replay; fencing */
static void
case_transactions(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, "tx.", NULL, NULL, NULL);
	TJob		j[3] = {{.target = "t", .key = "1"}, {.target = "t", .key = "2"}, {.target = "t"}};
	FrameTxn	txn = make_txn(920, 0xC000000);
	LedgerTicket t = next_ticket++;
	Recs	   *rs = calloc(1, sizeof(Recs));
	int			rc;
	bool		ok;

	rd_kafka_mock_topic_create(mock, "tx.t", 2, 1);
	ts.cfg.kafka_transactions = true;
	unit_check(tstart(s) == SINK_OK, "transactions: connect (init_transactions)");
	unit_check(start_txn(s, txn, j, 3, t) == SINK_OK, "transactions: begin and 3 jobs");
	wait_acks(s, t, 1, 1000);
	unit_check(acked[t] == 0, "no ack before the commit, though delivered");
	txn.njobs = 3;
	ok = s->ops->commit(s, &txn, t) == SINK_OK && wait_acks(s, t, 3, ACK_TIMEOUT_MS) == SINK_OK &&
		acked[t] == 3;
	unit_check(ok, "3 acks after the commit (%u)", acked[t]);
	s->ops->disconnect(s);
	tstart(s);
	run_txn(s, make_txn(920, 0xC000000), j, 3, &t);
	unit_check(wait_acks(s, t, 3, ACK_TIMEOUT_MS) == SINK_OK && acked[t] == 3,
			   "transactions: replay acknowledged");
	ok = read_topic("tx.t", rs) == 2 && exactly_once(rs, 3);
	unit_check(ok, "transactions: each job exactly once (%d messages)", rs->n);

	/* a produce error: the transaction is aborted, and replayed */
	rd_kafka_mock_push_request_errors(mock, API_PRODUCE, 1,
									  RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
	rc = run_wait(s, make_txn(921, 0xC000100), j, 2, &t);
	unit_check(rc == SINK_RETRY && acked[t] == 0,
			   "failed delivery: commit aborts, retry, nothing acknowledged: %s", s->err);
	s->ops->disconnect(s);
	tstart(s);
	run_txn(s, make_txn(921, 0xC000100), j, 2, &t);
	ok = wait_acks(s, t, 2, ACK_TIMEOUT_MS) == SINK_OK && acked[t] == 2 &&
		read_topic("tx.t", rs) == 2 && exactly_once(rs, 5);
	unit_check(ok, "aborted transaction replayed: each job exactly once (%d messages)", rs->n);

	/*
	 * Fenced by a newer producer with the same transactional.id.  The mock
	 * does not fence on its own: the broker's answer is injected.
	 */
	rd_kafka_mock_push_request_errors(mock, API_END_TXN, 1, RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
	rc = run_wait(s, make_txn(922, 0xC000200), j, 1, &t);
	unit_check(rc == SINK_RETRY && strstr(s->err, "fenced"),
			   "fenced producer: retry (the bridge recreates it): %s", s->err);
	s->ops->disconnect(s);
	unit_check(tstart(s) == SINK_OK, "a new producer after the fencing");
	s->ops->destroy(s);
	recs_free(rs);
	free(rs);
}


/* ---- sessions, sources, not blocking ---- */

static const SinkSource src_b = {"7311000000000000002", 1, "postgres", "sa"};
static const SinkSource src_a_tl2 = {"7311000000000000001", 2, "postgres", "sa"};
static const SinkSource src_a_sb = {"7311000000000000001", 1, "postgres", "sb"};

/* every partition holds its jobs in (lsn, seq) order */
static bool
in_order(const Recs *rs)
{
	uint64_t	last_lsn[16] = {0};
	uint32_t	last_seq[16] = {0};
	bool		seen[16] = {0};
	int			i;

	for (i = 0; i < rs->n; i++)
	{
		const Rec  *r = &rs->r[i];
		uint64_t	lsn;
		uint32_t	seq = (uint32_t) atoi(r->seq ? r->seq : "0");

		if (r->partition >= 16 || !r->lsn || !lsn_parse(r->lsn, strlen(r->lsn), &lsn))
			return false;
		if (seen[r->partition] && (lsn < last_lsn[r->partition] ||
								   (lsn == last_lsn[r->partition] && seq <= last_seq[r->partition])))
			return false;
		seen[r->partition] = true;
		last_lsn[r->partition] = lsn;
		last_seq[r->partition] = seq;
	}
	return true;
}

static void
set_rtt(int ms)
{
	int			id;

	for (id = 1; id <= 3; id++)
		rd_kafka_mock_broker_set_rtt(mock, id, ms);
}

/* transaction i of the session tests: 3 jobs, keys repeating */
static FrameTxn
sess_txn(int i, TJob *j, char keys[3][8], const char *topic)
{
	int			k;

	for (k = 0; k < 3; k++)
	{
		snprintf(keys[k], 8, "k%d", (i * 3 + k) % 7);
		j[k] = (TJob) {.target = topic, .key = keys[k]};
	}
	return make_txn(1000 + i, 0x10000000 + (uint64_t) i * 0x100);
}

/* transactions from..to-1 handed over; their tickets in t[from..] */
static void
sess_run(Sink *s, int from, int to, LedgerTicket *t, const char *topic)
{
	int			i;

	for (i = from; i < to; i++)
	{
		TJob		j[3];
		char		keys[3][8];

		run_txn(s, sess_txn(i, j, keys, topic), j, 3, &t[i]);
	}
}

static bool
sess_acked(Sink *s, int from, int to, const LedgerTicket *t)
{
	int			i;

	for (i = from; i < to; i++)
		if (wait_acks(s, t[i], 3, ACK_TIMEOUT_MS) != SINK_OK || acked[t[i]] != 3)
			return false;
	return true;
}

/* every partition's mark is the last job delivered to it */
static bool
marks_current(Sink *s, int ntxns, const char *topic)
{
	int			i,
				k,
				p;

	for (p = 0; p < 4; p++)
	{
		uint64_t	want_lsn = 0,
					lsn;
		uint32_t	want_seq = 0,
					seq;
		bool		want = false;

		for (i = 0; i < ntxns; i++)
			for (k = 0; k < 3; k++)
			{
				char		key[8];

				snprintf(key, sizeof(key), "k%d", (i * 3 + k) % 7);
				if (part_of(key, 4) == p)
				{
					want = true;
					want_lsn = 0x10000000 + (uint64_t) i * 0x100;
					want_seq = (uint32_t) k;
				}
			}
		if (kafka_sink_mark(s, topic, p, &lsn, &seq) != want ||
			(want && (lsn != want_lsn || seq != want_seq)))
			return false;
	}
	return true;
}

/*
 * Case 1 of issue 10 in miniature: the stream reconnects (a new session from
 * the slot, the same producer) and replays what was delivered, and what is
 * still in flight: no duplicate, no step backwards.
 */
static void
case_session(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	LedgerTicket t[50];
	Recs	   *rs = calloc(1, sizeof(Recs));
	bool		ok;

	rd_kafka_mock_topic_create(mock, "sess", 4, 1);
	tstart(s);
	sess_run(s, 0, 20, t, "sess");
	unit_check(sess_acked(s, 0, 20, t), "session 1: 20 transactions acknowledged");
	unit_check(marks_current(s, 20, "sess"),
			   "marks advanced with the delivery reports: each partition's is its last job");
	unit_check(s->ops->replay_begin(s, &src_a, 0x10000000, 0) == SINK_OK,
			   "session 2 begins from the first transaction");
	sess_run(s, 0, 25, t, "sess");
	ok = sess_acked(s, 0, 25, t);
	unit_check(ok, "session 2: the 20 replayed and 5 new transactions acknowledged");
	ok = read_topic("sess", rs) == 4 && exactly_once(rs, 75) && in_order(rs);
	unit_check(ok, "each of the 75 jobs exactly once, every partition in order (%d messages)", rs->n);

	set_rtt(400);
	sess_run(s, 25, 35, t, "sess");
	unit_check(s->ops->pending_bytes(s) > 0 && acked[t[25]] == 0, "10 transactions in flight");
	unit_check(s->ops->replay_begin(s, &src_a, 0x10000000 + 25 * 0x100, 0) == SINK_OK,
			   "session 3 begins while they are in flight");
	sess_run(s, 25, 40, t, "sess");
	set_rtt(0);
	ok = sess_acked(s, 25, 40, t);
	unit_check(ok, "session 3: the replayed and new transactions acknowledged");
	ok = read_topic("sess", rs) == 4 && exactly_once(rs, 120) && in_order(rs);
	unit_check(ok, "each of the 120 jobs exactly once, every partition in order (%d messages)", rs->n);
	unit_check(marks_current(s, 40, "sess"), "the marks are current");

	/* the bridge drops the sink mid-stream (drop_stream with half a transaction) */
	set_rtt(400);
	sess_run(s, 40, 46, t, "sess");
	s->ops->disconnect(s);
	unit_check(tstart(s) == SINK_OK, "session 4 after a disconnect with 6 transactions in flight");
	sess_run(s, 40, 50, t, "sess");
	set_rtt(0);
	ok = sess_acked(s, 40, 50, t);
	unit_check(ok, "session 4: the replayed and new transactions acknowledged");
	ok = read_topic("sess", rs) == 4 && exactly_once(rs, 150) && in_order(rs);
	unit_check(ok, "each of the 150 jobs exactly once, every partition in order (%d messages)", rs->n);
	s->ops->destroy(s);
	recs_free(rs);
	free(rs);
}

/* a new session while the brokers are down, the replay once they are up */
static void
case_session_down(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	LedgerTicket t[40];
	Recs	   *rs = calloc(1, sizeof(Recs));
	int64_t		t0;
	double		worst;
	int			rc;
	bool		ok;

	rd_kafka_mock_topic_create(mock, "sessdown", 4, 1);
	tstart(s);
	sess_run(s, 0, 5, t, "sessdown");
	unit_check(sess_acked(s, 0, 5, t), "5 transactions acknowledged");
	set_brokers(false);
	sess_run(s, 5, 10, t, "sessdown");
	t0 = now_us();
	rc = s->ops->replay_begin(s, &src_a, 0x10000000 + 5 * 0x100, 0);
	sess_run(s, 5, 13, t, "sessdown");
	unit_check(rc == SINK_OK && now_us() - t0 < 1200000,
			   "brokers down: a new session begins and takes 8 transactions in %.2f s",
			   (now_us() - t0) / 1e6);
	worst = poll_for(s, 2000, &rc);
	unit_check(rc == SINK_OK && worst < 1.2 && acked[t[5]] == 0,
			   "it waits without blocking (longest poll %.2f s): %s", worst, rc ? s->err : "ok");
	set_brokers(true);
	ok = sess_acked(s, 5, 13, t);
	unit_check(ok, "brokers up: the replayed and new transactions acknowledged");
	ok = read_topic("sessdown", rs) == 4 && exactly_once(rs, 39) && in_order(rs);
	unit_check(ok, "each of the 39 jobs exactly once, in order (%d messages)", rs->n);
	s->ops->destroy(s);
	recs_free(rs);
	free(rs);
}

/* a session of source src (flags) delivering one job at lsn to topic */
static int
source_job(const SinkSource *src, unsigned flags, const char *topic, uint64_t lsn,
		   char *err, LedgerTicket *t)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	TJob		j[1] = {{.target = topic, .key = "s"}};
	int			rc = s->ops->connect(s);

	if (rc == SINK_OK)
		rc = s->ops->replay_begin(s, src, lsn - 0x100, flags);
	if (rc == SINK_OK)
		rc = run_wait(s, make_txn(2000, lsn), j, 1, t);
	snprintf(err, SINK_ERRLEN, "%s", s->err);
	s->ops->destroy(s);
	return rc;
}

/* marks of another source: refused, loudly; accepted only when asked */
static void
case_sources(void)
{
	char		err[SINK_ERRLEN];
	LedgerTicket t;
	Recs	   *rs = calloc(1, sizeof(Recs));
	int			rc;

	rd_kafka_mock_topic_create(mock, "src", 1, 1);
	unit_check(source_job(&src_a, 0, "src", 0x20000000, err, &t) == SINK_OK && acked[t] == 1,
			   "source A delivers a job");
	rc = source_job(&src_b, 0, "src", 0x20000100, err, &t);
	unit_check(rc == SINK_FATAL && acked[t] == 0 && strstr(err, SRC_A) &&
			   strstr(err, "7311000000000000002/1/postgres/sa") && strstr(err, "--accept-new-source"),
			   "another system's mark is fatal, naming both sources: %s", err);
	rc = source_job(&src_a_tl2, 0, "src", 0x20000100, err, &t);
	unit_check(rc == SINK_FATAL && strstr(err, "timeline 1, now timeline 2"),
			   "a new timeline of the same system is another source: %s", err);
	rc = source_job(&src_b, SINK_REPLAY_ACCEPT_NEW, "src", 0x20000100, err, &t);
	unit_check(rc == SINK_OK && acked[t] == 1, "--accept-new-source: the partition starts afresh");
	unit_check(read_topic("src", rs) == 1 && rs->n == 2 &&
			   str_eq(rs->r[1].source, "7311000000000000002/1/postgres/sa"),
			   "its job is written with its source header");
	rc = source_job(&src_b, 0, "src", 0x20000100, err, &t);
	unit_check(rc == SINK_OK && acked[t] == 1 && read_topic("src", rs) == 1 && rs->n == 2,
			   "the new source's replay then skips by its own mark");
	recs_free(rs);
	free(rs);
}

/*
 * Case 5 of issue 10: slots sa and sb write one topic; sb lags behind sa's
 * last message.  It must not skip its own job by sa's mark.
 */
static void
case_two_slots(void)
{
	char		err[SINK_ERRLEN];
	LedgerTicket t;
	Recs	   *rs = calloc(1, sizeof(Recs));
	int			rc;

	rd_kafka_mock_topic_create(mock, "shared", 1, 1);
	unit_check(source_job(&src_a, 0, "shared", 0x30000200, err, &t) == SINK_OK,
			   "slot sa delivers a job at 0/30000200");
	rc = source_job(&src_a_sb, 0, "shared", 0x30000100, err, &t);
	unit_check(rc == SINK_FATAL && acked[t] == 0 &&
			   strstr(err, "7311000000000000001/1/postgres/sb") && strstr(err, SRC_A),
			   "slot sb's job at 0/30000100 is refused, not skipped: %s", err);
	unit_check(read_topic("shared", rs) == 1 && rs->n == 1, "nothing of sb written");
	recs_free(rs);
	free(rs);
}

/* an empty or unusable topic is fatal, naming the job (no reconnect loop) */
static void
case_bad_topic(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	TJob		j1[1] = {{.target = "", .key = "42"}};
	TJob		j2[1] = {{.target = "a b", .key = "43"}};
	LedgerTicket t;
	int			rc;

	tstart(s);
	rc = run_txn(s, make_txn(3000, 0x5100000), j1, 1, &t);
	unit_check(rc == SINK_FATAL &&
			   strstr(s->err, "table public.jobs key 42 lsn 0/5100000 has no usable kafka topic \"\""),
			   "an empty route target is fatal, naming table, key and lsn: %s", s->err);
	s->ops->destroy(s);
	s = tsink_new(&ts, NULL, NULL, NULL, NULL);
	tstart(s);
	rc = run_txn(s, make_txn(3001, 0x5100100), j2, 1, &t);
	unit_check(rc == SINK_FATAL && strstr(s->err, "key 43") && strstr(s->err, "\"a b\""),
			   "a topic name Kafka refuses is fatal: %s", s->err);
	s->ops->destroy(s);
}

/*
 * --kafka-transactions never blocks: connect asks no broker (no
 * init_transactions before replay_begin), and a commit with the brokers
 * down is resumed from poll until they are back.
 */
static void
case_txn_no_block(void)
{
	TSink		ts;
	Sink	   *s = tsink_new(&ts, "nb.", NULL, NULL, NULL);
	TJob		j[2] = {{.target = "t", .key = "1"}, {.target = "t", .key = "2"}};
	FrameTxn	txn = make_txn(3100, 0x5200000);
	LedgerTicket t = next_ticket++;
	int64_t		t0;
	double		worst;
	int			rc;

	rd_kafka_mock_topic_create(mock, "nb.t", 2, 1);
	ts.cfg.kafka_transactions = true;
	set_brokers(false);
	t0 = now_us();
	rc = s->ops->connect(s);
	unit_check(rc == SINK_OK && now_us() - t0 < 200000,
			   "transactions, brokers down: connect returns at once (%.2f s)", (now_us() - t0) / 1e6);
	t0 = now_us();
	rc = s->ops->replay_begin(s, &src_a, 0, 0);
	unit_check(rc == SINK_OK && now_us() - t0 < 1200000,
			   "replay_begin: one step of init_transactions (%.2f s)", (now_us() - t0) / 1e6);
	worst = poll_for(s, 1500, &rc);
	unit_check(rc == SINK_OK && worst < 1.2, "init_transactions resumed by poll (longest %.2f s)", worst);
	set_brokers(true);
	unit_check(run_wait(s, make_txn(3099, 0x51FFF00), j, 1, &t) == SINK_OK,
			   "brokers up: a transaction committed");
	set_brokers(false);
	t = next_ticket++;
	rc = start_txn(s, txn, j, 2, t);
	txn.njobs = 2;
	t0 = now_us();
	if (rc == SINK_OK)
		rc = s->ops->commit(s, &txn, t);
	unit_check(rc == SINK_OK && now_us() - t0 < 1200000,
			   "brokers down: commit returns in %.2f s", (now_us() - t0) / 1e6);
	worst = poll_for(s, 3000, &rc);
	unit_check(rc == SINK_OK && worst < 1.2 && acked[t] == 0,
			   "commit_transaction resumed by poll, never blocking (longest %.2f s): %s",
			   worst, rc ? s->err : "ok");
	set_brokers(true);
	unit_check(wait_acks(s, t, 2, 30000) == SINK_OK && acked[t] == 2,
			   "brokers up: the commit completes and both jobs are acknowledged");
	s->ops->destroy(s);
}

static void
run_cases(void)
{
	case_basic();
	case_keyless_autocreate();
	case_replay();
	case_foreign();
	case_too_large();
	case_bad_config();
	case_value_column();
	case_prefix_message();
	case_broker_down();
	case_down_at_start();
	case_timeout();
	case_gap();
	case_txn_marker();
	case_drain();
	case_fatal();
	case_transactions();
	case_session();
	case_session_down();
	case_sources();
	case_two_slots();
	case_bad_topic();
	case_txn_no_block();
}


int
main(void)
{
	char		err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	log_verbosity = -1;
	rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
	mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	mock = mock_rk ? rd_kafka_mock_cluster_new(mock_rk, 3) : NULL;
	if (!unit_check(mock != NULL, "mock cluster of 3 brokers started"))
		return unit_done();
	bootstrap = rd_kafka_mock_cluster_bootstraps(mock);
	run_cases();
	rd_kafka_mock_cluster_destroy(mock);
	rd_kafka_destroy(mock_rk);
	return unit_done();
}
