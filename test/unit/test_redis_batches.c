/*-------------------------------------------------------------------------
 *
 * test_redis_batches.c
 *		How the Redis sink groups transactions into deliver calls, against
 *		a real redis-server started here: while calls wait for a busy
 *		Redis the transactions that come in go out together in the next
 *		call, and a call's entries travel as one argument.  (Many
 *		transactions per call and their replay: test_sink_redis.c.)
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "redis_harness.h"
#include "unit.h"

static SinkSource src;

/*
 * While REDIS_DELIVER_INFLIGHT calls wait for Redis, the transactions that
 * come in meanwhile go out together in the next call, not one call each,
 * and the sink asks for no write while its batch waits (no busy loop).
 */
static void
test_busy_batches(void)
{
	SinkConfig	cfg;
	Sink	   *s;
	bool		want_write = true;
	long		calls;
	int			rc = SINK_OK;

	init_cfg(&cfg, "busy:");
	s = sink_redis_create(&cfg);
	reset_acks();
	unit_check(start_session(s, &src, 6000000, SINK_REPLAY_NEW_SLOT) == SINK_OK,
			   "a session begins");
	rdo("CONFIG RESETSTAT");
	/* Redis takes no FCALL for a while: the calls sent stay in flight */
	rdo("CLIENT PAUSE 500 WRITE");
	for (int i = 0; i < 100 && rc == SINK_OK; i++)
	{
		rc = send_many(s, "busy", 6000100 + (uint64_t) i * 100, 3000 + i, 1, 1);
		if (rc == SINK_OK)
			rc = s->ops->poll(s, 0, on_ack, NULL);
	}
	unit_check(rc == SINK_OK, "100 single-job transactions, a poll after each");
	s->ops->socket(s, &want_write);
	unit_check(!want_write, "the sink asks for no write while its batch waits");
	unit_check(drain(s) == SINK_OK && acked_all(3000, 100, 1) && ack_total == 100,
			   "all 100 are acked, each once");
	calls = command_calls("fcall");
	unit_check(calls >= 2 && calls <= 4,
			   "in %ld calls: those that waited went out together", calls);
	unit_check(rint_cmd("XLEN %s", "busy:busy") == 100, "the stream holds 100 entries");
	check_record("busy:", "jobs", "lsn", "0/5BB4B8", "the record is at the last one's end");
	s->ops->destroy(s);
}

/* the arguments of the newest FCALL in the slow log (which logs all) */
static long
last_fcall_argc(void)
{
	redisReply *r = rcmd("SLOWLOG GET 8");
	long		argc = -1;

	for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements && argc < 0; i++)
	{
		redisReply *args = r->element[i]->element[3];
		const char *last = args->element[args->elements - 1]->str;
		long		more = 0;

		if (strcasecmp(args->element[0]->str, "FCALL") != 0)
			continue;
		argc = (long) args->elements;
		if (sscanf(last, "... (%ld more arguments)", &more) == 1)
			argc += more - 1;
	}
	if (r)
		freeReplyObject(r);
	return argc;
}

/* the length of the entries argument (the third from the end: then the shapes, the options) of the newest FCALL */
static long
last_fcall_entries_len(void)
{
	redisReply *r = rcmd("SLOWLOG GET 8");
	long		len = -1;

	for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements && len < 0; i++)
	{
		redisReply *args = r->element[i]->element[3];
		const redisReply *e;
		const char *more;

		if (strcasecmp(args->element[0]->str, "FCALL") != 0 || args->elements < 4)
			continue;
		/* the slow log keeps 128 bytes of a long argument and counts the rest */
		e = args->element[args->elements - 3];
		more = memmem(e->str, e->len, "... (", 5);	/* msgpack holds NUL bytes */
		len = (long) e->len;
		if (more != NULL)
			len = (long) (more - e->str) + strtol(more + 5, NULL, 10);
	}
	if (r)
		freeReplyObject(r);
	return len;
}

/*
 * A row's field names travel once per call (its shape), not with every
 * entry: ten more rows of one shape add their values, seq, shape and key
 * index (33 bytes each here), not the names and key too (91 in deliver4).
 */
static void
test_names_once(void)
{
	SinkConfig	cfg;
	Sink	   *s;
	TestJob		tj[11];
	long		one, eleven;

	for (int i = 0; i < 11; i++)
		tj[i] = (TestJob) {"a", NULL, NULL, {"1", "q", "{}", "t"}};
	init_cfg(&cfg, "names:");
	s = sink_redis_create(&cfg);
	reset_acks();
	rdo("CONFIG SET slowlog-log-slower-than 0");
	/* the session's first call carries its check too: measure the next ones */
	unit_check(start_session(s, &src, 9000000, SINK_REPLAY_NEW_SLOT) == SINK_OK &&
			   send_txn(s, 9000100, 6000, tj, 1) == SINK_OK && drain(s) == SINK_OK &&
			   send_txn(s, 9000200, 6001, tj, 1) == SINK_OK && drain(s) == SINK_OK,
			   "a transaction of one row is delivered");
	one = last_fcall_entries_len();
	unit_check(send_txn(s, 9000300, 6002, tj, 11) == SINK_OK && drain(s) == SINK_OK,
			   "a transaction of eleven rows is delivered");
	eleven = last_fcall_entries_len();
	/* (seq 10 has two digits) */
	unit_check(one > 0 && eleven - one == 10 * 33 + 1,
			   "  each row more adds 33 bytes to the call, no names (%ld, %ld)", one, eleven);
	unit_check(rint_cmd("XLEN %s", "names:a") == 13, "the stream holds the 13 entries");
	rdo("CONFIG SET slowlog-log-slower-than 10000");
	s->ops->destroy(s);
}

/* a call's entries travel as one argument, read by Redis in one go */
static void
test_entries_one_arg(void)
{
	SinkConfig	cfg;
	Sink	   *s;
	long		one, two, three;

	init_cfg(&cfg, "arg:");
	s = sink_redis_create(&cfg);
	reset_acks();
	rdo("CONFIG SET slowlog-log-slower-than 0");
	unit_check(start_session(s, &src, 7000000, SINK_REPLAY_NEW_SLOT) == SINK_OK &&
			   send_many(s, "a", 7000100, 4000, 1, 1) == SINK_OK && drain(s) == SINK_OK &&
			   send_many(s, "a", 7000200, 4001, 1, 1) == SINK_OK && drain(s) == SINK_OK,
			   "a transaction of one job is delivered");
	one = last_fcall_argc();
	unit_check(send_many(s, "a", 7000300, 4002, 1, 2) == SINK_OK && drain(s) == SINK_OK,
			   "a transaction of two jobs is delivered");
	two = last_fcall_argc();
	unit_check(one > 0 && one == two, "its call has as many arguments as one of one job (%ld, %ld)",
			   one, two);
	/* the items' headers travel as one argument too (deliver6) */
	rdo("CONFIG RESETSTAT");
	unit_check(send_many(s, "a", 7000400, 4003, 3, 1) == SINK_OK && drain(s) == SINK_OK &&
			   command_calls("fcall") == 1,
			   "three transactions in one call are delivered");
	three = last_fcall_argc();
	unit_check(three == one, "  its call has as many arguments as one of one transaction (%ld, %ld)",
			   one, three);
	unit_check(rint_cmd("XLEN %s", "arg:a") == 7, "the stream holds the 7 entries");
	rdo("CONFIG SET slowlog-log-slower-than 10000");
	s->ops->destroy(s);
}

/*
 * deliver6's shaped entries: a call's field-name sets (shapes) travel once,
 * its entries as shape, key index, seq and values.  Two transactions in
 * one call, rows of three shapes (NULL columns left out), two streams in
 * an order that differs between them, messages with and without a key,
 * with and without MAXLEN: every entry has exactly its fields, in order.
 * With a maxlen the entries carry no MAXLEN: each stream is trimmed once at
 * the end of the call, never below what the call added (420), even with a
 * maxlen of 1 and stream nodes of 2 entries, which MAXLEN ~ 1 per XADD trims.
 */
static void
test_shapes_one(const char *prefix, long long maxlen)
{
	SinkConfig	cfg;
	Sink	   *s;
	TestJob		t1[] = {
		{"a", NULL, NULL, {"1", "q", "{}", "t"}},
		{"b", NULL, NULL, {"2", "r", NULL, "f"}},
		{"a", NULL, NULL, {"3", NULL, NULL, NULL}},
		{"b", "hello", "k1", {NULL}},
		{"a", NULL, NULL, {"4", "s", "[]", "t"}}
	};
	TestJob		t2[] = {
		{"b", NULL, NULL, {"5", "q", NULL, "t"}},
		{"b", "bye", NULL, {NULL}},
		{"a", NULL, NULL, {"6", "q", "{}", "f"}}
	};
	char		key[64];
	char	   *a;
	char	   *b;

	init_cfg(&cfg, prefix);
	cfg.redis_maxlen = maxlen;
	s = sink_redis_create(&cfg);
	reset_acks();
	unit_check(start_session(s, &src, 8000000, SINK_REPLAY_NEW_SLOT) == SINK_OK,
			   "a session begins (%s)", maxlen ? "MAXLEN" : "no MAXLEN");
	rdo("CONFIG RESETSTAT");
	unit_check(send_txn(s, 8000100, 5000, t1, 5) == SINK_OK &&
			   send_txn(s, 8000200, 5001, t2, 3) == SINK_OK && drain(s) == SINK_OK,
			   "  two transactions of three shapes into two streams are delivered");
	unit_check(command_calls("fcall") == 1, "  in one call (%ld)", command_calls("fcall"));
	unit_check(command_calls("xtrim") == (maxlen ? 2 : 0), "  %s (%ld XTRIM)",
			   maxlen ? "one XTRIM per stream" : "no XTRIM", command_calls("xtrim"));
	snprintf(key, sizeof(key), "%sa", prefix);
	a = dump_stream(chk, key);
	snprintf(key, sizeof(key), "%sb", prefix);
	b = dump_stream(chk, key);
	unit_check_str(a,
				   "_lsn=0/7A1264 _seq=0 id=1 queue=q payload={} done=t\n"
				   "_lsn=0/7A1264 _seq=2 id=3\n"
				   "_lsn=0/7A1264 _seq=4 id=4 queue=s payload=[] done=t\n"
				   "_lsn=0/7A12C8 _seq=2 id=6 queue=q payload={} done=f\n",
				   "  the first stream holds each row's non-NULL columns");
	unit_check_str(b,
				   "_lsn=0/7A1264 _seq=1 id=2 queue=r done=f\n"
				   "_lsn=0/7A1264 _seq=3 payload=hello key=k1\n"
				   "_lsn=0/7A12C8 _seq=0 id=5 queue=q done=t\n"
				   "_lsn=0/7A12C8 _seq=1 payload=bye\n",
				   "  the second its rows and messages");
	free(a);
	free(b);
	s->ops->destroy(s);
}

static void
test_shapes(void)
{
	test_shapes_one("shape:", 0);
	test_shapes_one("shapemax:", 1000);
	rdo("CONFIG SET stream-node-max-entries 2");
	test_shapes_one("shapetrim:", 1);
	rdo("CONFIG SET stream-node-max-entries 100");
}

int
main(void)
{
	init_source(&src, "7300000000000000001", "jobs");
	if (!harness_init() ||
		!unit_check(server_start(&srv, "batches", 0, NULL, NULL), "redis-server starts"))
		return unit_done();
	test_busy_batches();
	test_entries_one_arg();
	test_shapes();
	test_names_once();
	return unit_done();
}
