/*-------------------------------------------------------------------------
 *
 * kafka_harness.c
 *		What the Kafka sink's unit tests share; see kafka_harness.h.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_harness.h"
#include "log.h"
#include "lsn.h"
#include "murmur2.h"

static rd_kafka_t *mock_rk;
rd_kafka_mock_cluster_t *mock;
const char *bootstrap;
uint32_t	acked[MAX_TICKETS];
LedgerTicket next_ticket = 1;
const SinkSource src_a = {"7311000000000000001", 1, "postgres", "sa", 0};

/* the relation public.jobs(id int, queue text, payload jsonb, note text) */
static FrameColumn job_cols[] = {
	{{"id", 2}, W2Q_KIND_NUMBER},
	{{"queue", 5}, W2Q_KIND_TEXT},
	{{"payload", 7}, W2Q_KIND_JSON},
	{{"note", 4}, W2Q_KIND_TEXT},
};
static FrameRelation job_rel = {16384, {"public.jobs", 11}, 4, job_cols};

bool
harness_start(void)
{
	char		err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	log_verbosity = -1;
	rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
	mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	mock = mock_rk ? rd_kafka_mock_cluster_new(mock_rk, 3) : NULL;
	if (mock == NULL)
		return false;
	bootstrap = rd_kafka_mock_cluster_bootstraps(mock);
	return true;
}

void
harness_stop(void)
{
	rd_kafka_mock_cluster_destroy(mock);
	rd_kafka_destroy(mock_rk);
}

static FrameBytes
fbytes(const char *s)
{
	FrameBytes	b = {s, s ? (uint32_t) strlen(s) : 0};

	return b;
}

void
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

FrameTxn
make_txn(uint32_t xid, uint64_t lsn)
{
	FrameTxn	t = {xid, lsn, lsn + 0x30, 1795468052123456LL, 0};

	return t;
}

/* begin, jobs, commit as the bridge calls them; the ticket in *t */
int
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

void
on_ack(void *arg, LedgerTicket t, uint32_t n)
{
	(void) arg;
	if (t < MAX_TICKETS)
		acked[t] += n;
}

/* poll until ticket t has want acks; returns the last poll's answer */
int
wait_acks(Sink *s, LedgerTicket t, uint32_t want, int timeout_ms)
{
	int64_t		deadline = now_us() + (int64_t) timeout_ms * 1000;
	int			rc = SINK_OK;

	while (acked[t] < want && now_us() < deadline)
		if ((rc = s->ops->poll(s, 50, on_ack, NULL)) != SINK_OK)
			return rc;
	return rc;
}

/* connect and begin a session of source src_a from LSN 0 */
int
tstart(Sink *s)
{
	int			rc = s->ops->connect(s);

	return rc != SINK_OK ? rc : s->ops->replay_begin(s, &src_a, 0, 0);
}

/* hand a transaction over and poll until it is acknowledged or fails */
int
run_wait(Sink *s, FrameTxn txn, TJob *jobs, int n, LedgerTicket *t)
{
	int			rc = run_txn(s, txn, jobs, n, t);

	return rc != SINK_OK ? rc : wait_acks(s, *t, (uint32_t) n, ACK_TIMEOUT_MS);
}

Sink *
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
	r->options = header(h, "options");
	r->nheaders = h ? (int) rd_kafka_header_cnt(h) : 0;
}

void
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
		free(r->options);
	}
	rs->n = 0;
}

rd_kafka_t *
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
int
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
int
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
bool
exactly_once(const Recs *rs, int want)
{
	int			i;

	for (i = 0; i < rs->n; i++)
		if (count_job(rs, rs->r[i].lsn ? rs->r[i].lsn : "", rs->r[i].seq ? rs->r[i].seq : "") != 1)
			return false;
	return rs->n == want;
}

/* produce one message with a plain client (no headers unless asked: then source A's) */
void
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

int32_t
part_of(const char *key, int n)
{
	return murmur2_partition(key, strlen(key), n);
}

bool
str_eq(const char *a, const char *b)
{
	return a && b ? strcmp(a, b) == 0 : a == b;
}

void
set_brokers(bool up)
{
	int			id;

	for (id = 1; id <= 3; id++)
		if (up)
			rd_kafka_mock_broker_set_up(mock, id);
		else
			rd_kafka_mock_broker_set_down(mock, id);
}

/* the longest single call of poll over ms milliseconds; its last answer in *rc */
double
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

/* begin and jobs, no commit yet */
int
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

/* every partition holds its jobs in (lsn, seq) order */
bool
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

void
set_rtt(int ms)
{
	int			id;

	for (id = 1; id <= 3; id++)
		rd_kafka_mock_broker_set_rtt(mock, id, ms);
}
