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

#include "log.h"
#include "murmur2.h"
#include "sink.h"
#include "kafka_harness.h"
#include "unit.h"

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
	t0 = now_us();
	s->ops->disconnect(s);
	unit_check(now_us() - t0 < 1200000, "disconnect with the brokers down takes %.2f s",
			   (now_us() - t0) / 1e6);
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
 * expired message can leave): the partition is read back from where the
 * failed job would have landed; the failed job is sent again, which must
 * not be lost, and the later one, which is there, is not
 * (kafka_suspects.c).
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
	unit_check(count_job(rs, "0/9000200", "0") == 1,
			   "the later job read back is not sent again (no duplicate)");
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
}


int
main(void)
{
	if (!unit_check(harness_start(), "mock cluster of 3 brokers started"))
		return unit_done();
	run_cases();
	harness_stop();
	return unit_done();
}
