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

/* a call's entries travel as one argument, read by Redis in one go */
static void
test_entries_one_arg(void)
{
	SinkConfig	cfg;
	Sink	   *s;
	long		one, two;

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
	unit_check(rint_cmd("XLEN %s", "arg:a") == 4, "the stream holds the 4 entries");
	rdo("CONFIG SET slowlog-log-slower-than 10000");
	s->ops->destroy(s);
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
	return unit_done();
}
