/*-------------------------------------------------------------------------
 *
 * test_redis_faults.c
 *		The Redis sink's verdicts under faults, against real redis-servers
 *		started here: BUSY and OOM are pauses that end in an exactly-once
 *		replay; a refused call makes the calls pipelined after it refuse
 *		(the chain); another source, no record and a record behind the
 *		slot (Redis lost acknowledged writes) are fatal unless
 *		--accept-new-source; two slots share one stream; WAIT with too few
 *		replicas is a retry, and with a real replica an ack.
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis_harness.h"
#include "redis_sink.h"
#include "unit.h"

static SinkSource src;

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* poll until the sink fails or timeout_ms passes; returns the last rc */
static int
poll_until_failure(Sink *s, int timeout_ms)
{
	int			rc = SINK_OK;

	for (int waited = 0; waited < timeout_ms && rc == SINK_OK; waited += 50)
		rc = s->ops->poll(s, 50, on_ack, NULL);
	return rc;
}

/* a new session of src from `from`, send the n transactions again, drain */
static int
replay(Sink *s, const SinkSource *source, uint64_t from, unsigned flags,
	   const char *target, uint64_t lsn0, int n)
{
	int			rc;

	s->ops->disconnect(s);
	reset_acks();
	rc = start_session(s, source, from, flags);
	if (rc == SINK_OK)
		rc = send_many(s, target, lsn0, 1, n, 1);
	if (rc == SINK_OK)
		rc = drain(s);
	return rc;
}

/* BUSY (a long script on another connection): retry, then exactly once */
static void
test_busy(void)
{
	const char *script =
		"local t = redis.call('TIME') "
		"local t0 = t[1] * 1000000 + t[2] "
		"repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] - t0 > 1500000 "
		"return 1";
	struct timeval tv = {5, 0};
	redisContext *busy;
	redisReply *r = NULL;
	SinkConfig	cfg;
	Sink	   *s;
	int			rc;
	int			done = 0;

	init_cfg(&cfg, "busy:");
	s = sink_redis_create(&cfg);
	reset_acks();
	unit_check(start_session(s, &src, 1000, SINK_REPLAY_NEW_SLOT) == SINK_OK &&
			   send_many(s, "q", 1100, 1, 50, 1) == SINK_OK && drain(s) == SINK_OK &&
			   acked_all(1, 50, 1), "50 transactions are delivered");
	rdo("CONFIG SET busy-reply-threshold 100");
	busy = redisConnectWithTimeout("127.0.0.1", srv.port, tv);
	redisAppendCommand(busy, "EVAL %s 0", script);
	while (!done && redisBufferWrite(busy, &done) == REDIS_OK)
		;
	sleep_ms(300);
	rc = send_many(s, "q", 1100 + 50 * 100, 51, 50, 1);
	if (rc == SINK_OK)
		rc = poll_until_failure(s, 3000);
	unit_check(rc == SINK_RETRY, "a call answered BUSY is SINK_RETRY, never fatal");
	unit_check(strstr(s->err, "BUSY") != NULL, "  with \"%s\"", s->err);
	unit_check(ack_total == 50, "  and nothing after it is acked");
	redisGetReply(busy, (void **) &r);
	if (r)
		freeReplyObject(r);
	redisFree(busy);
	rdo("CONFIG SET busy-reply-threshold 5000");
	rc = replay(s, &src, 1000, 0, "q", 1100, 100);
	unit_check(rc == SINK_OK && acked_all(1, 100, 1),
			   "after the script, a replay of the session from the slot is acked whole");
	unit_check(rint_cmd("XLEN %s", "busy:q") == 100,
			   "  and every transaction is in the stream exactly once");
	check_record("busy:", "jobs", "lsn", "0/2B20", "  the record is at the end of the last");
	s->ops->destroy(s);
}

/* OOM refuses the call before it runs: retry, then exactly once */
static void
test_oom(void)
{
	SinkConfig	cfg;
	Sink	   *s;
	int			rc;

	init_cfg(&cfg, "oom:");
	s = sink_redis_create(&cfg);
	reset_acks();
	unit_check(start_session(s, &src, 1000, SINK_REPLAY_NEW_SLOT) == SINK_OK &&
			   send_many(s, "q", 1100, 1, 10, 1) == SINK_OK && drain(s) == SINK_OK,
			   "10 transactions are delivered");
	rdo("CONFIG SET maxmemory 1");
	rc = send_many(s, "q", 1100 + 10 * 100, 11, 10, 1);
	if (rc == SINK_OK)
		rc = poll_until_failure(s, 3000);
	unit_check(rc == SINK_RETRY && strstr(s->err, "OOM") != NULL,
			   "a call refused for OOM is SINK_RETRY (\"%s\")", s->err);
	s->ops->disconnect(s);
	unit_check(s->ops->connect(s) == SINK_RETRY,
			   "connecting while Redis is out of memory is SINK_RETRY (\"%s\")", s->err);
	rdo("CONFIG SET maxmemory 0");
	rc = replay(s, &src, 1000, 0, "q", 1100, 20);
	unit_check(rc == SINK_OK && acked_all(1, 20, 1),
			   "with memory back, the replay is acked whole");
	unit_check(rint_cmd("XLEN %s", "oom:q") == 20, "  and every transaction is there once");
	s->ops->destroy(s);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* a frozen Redis (SIGSTOP): connect and poll return within about a second */
static void
test_frozen(void)
{
	SinkConfig	cfg;
	Sink	   *s;
	int64_t		t0;
	int64_t		took;
	int			rc;

	init_cfg(&cfg, "fz:");
	s = sink_redis_create(&cfg);
	reset_acks();
	unit_check(start_session(s, &src, 1000, SINK_REPLAY_NEW_SLOT) == SINK_OK &&
			   send_many(s, "q", 1100, 1, 5, 1) == SINK_OK, "a session with 5 transactions");
	kill(srv.pid, SIGSTOP);
	t0 = now_ms();
	rc = s->ops->poll(s, 5000, on_ack, NULL);
	took = now_ms() - t0;
	unit_check(rc == SINK_OK && ack_total == 0 && took <= SINK_MAX_WAIT_MS + 200,
			   "poll(5000) on a frozen Redis returns after %lld ms (at most about %d)",
			   (long long) took, SINK_MAX_WAIT_MS);
	s->ops->disconnect(s);
	t0 = now_ms();
	rc = s->ops->connect(s);
	took = now_ms() - t0;
	unit_check(rc == SINK_RETRY && took <= SINK_MAX_WAIT_MS + 300 &&
			   strncmp(s->err, "Redis did not answer ", 21) == 0,
			   "connect to a frozen Redis is SINK_RETRY after %lld ms (\"%s\")",
			   (long long) took, s->err);
	kill(srv.pid, SIGCONT);
	unit_check(replay(s, &src, 1000, 0, "q", 1100, 5) == SINK_OK && acked_all(1, 5, 1),
			   "thawed, the replay is acked");
	s->ops->destroy(s);
}

/* the function library flushed under a running sink: a pause, reloaded */
static void
test_function_flushed(void)
{
	SinkConfig	cfg;
	Sink	   *s;
	int			rc;

	init_cfg(&cfg, "ff:");
	s = sink_redis_create(&cfg);
	reset_acks();
	unit_check(start_session(s, &src, 1000, SINK_REPLAY_NEW_SLOT) == SINK_OK &&
			   send_many(s, "q", 1100, 1, 5, 1) == SINK_OK && drain(s) == SINK_OK,
			   "5 transactions are delivered");
	rdo("FUNCTION FLUSH");
	rc = send_many(s, "q", 1600, 6, 5, 1);
	if (rc == SINK_OK)
		rc = drain(s);
	unit_check(rc == SINK_RETRY && strstr(s->err, "Function not found") != NULL,
			   "FUNCTION FLUSH makes the next call SINK_RETRY (\"%s\")", s->err);
	rc = replay(s, &src, 1000, 0, "q", 1100, 10);
	unit_check(rc == SINK_OK && acked_all(1, 10, 1) && rint_cmd("XLEN %s", "ff:q") == 10,
			   "the reconnect loads the library again and the replay is exactly once");
	s->ops->destroy(s);
}

/*
 * The deliver call's last argument: a msgpack array (array 32) of the
 * strings (str 32) elems, into buf (room for 256 bytes); returns its length.
 */
static size_t
msgpack_strings(char *buf, const char *const *elems, uint32_t n)
{
	size_t		len = 5;

	buf[0] = (char) 0xdd;
	buf[1] = buf[2] = buf[3] = 0;
	buf[4] = (char) n;
	for (uint32_t i = 0; i < n; i++)
	{
		size_t		l = strlen(elems[i]);

		buf[len] = (char) 0xdb;
		buf[len + 1] = buf[len + 2] = buf[len + 3] = 0;
		buf[len + 4] = (char) l;
		memcpy(buf + len + 5, elems[i], l);
		len += 5 + l;
	}
	return len;
}

/*
 * One item's header as deliver7 takes it (redis_progress.c), as a msgpack
 * array (array 32) into out (room for 256 bytes); returns its length.
 */
static size_t
item_header(char *out, const char *prev, const char *end, const char *lsn,
			const char *key, uint64_t nstaged, const char *stage,
			int nchunks, const uint32_t *chunks, uint64_t nelems)
{
	RespBuf		b = {0};
	size_t		len;
	bool		ok = mp_arg_str(&b, prev, strlen(prev)) && mp_arg_str(&b, end, strlen(end)) &&
		mp_arg_str(&b, lsn, strlen(lsn)) && mp_arg_str(&b, "7", 1) &&
		mp_arg_str(&b, "1000", 4) && mp_arg_uint(&b, 1) &&
		mp_arg_str(&b, key, strlen(key)) && mp_arg_uint(&b, nstaged) &&
		mp_arg_str(&b, stage, strlen(stage)) && mp_arg_uint(&b, (uint64_t) nchunks);

	for (int c = 0; ok && c < nchunks; c++)
		ok = mp_arg_uint(&b, chunks[c]);
	ok = ok && mp_arg_uint(&b, nelems) && b.len + 5 <= 256;
	out[0] = (char) 0xdd;
	out[1] = out[2] = out[3] = 0;
	out[4] = (char) b.nargs;
	if (ok)
		memcpy(out + 5, b.data, b.len);
	len = ok ? 5 + b.len : 0;
	resp_free(&b);
	return len;
}

/* an FCALL of deliver with one staged transaction of nstaged entries */
static redisReply *
deliver_staged(const char *stage, int nstaged)
{
	static const uint32_t chunks[] = {5, 5};
	char		hdr[256];
	size_t		hdrlen = item_header(hdr, "0000000000000474", "0000000000000500", "0/4D8",
									 "chain:staged", (uint64_t) nstaged, stage, 2, chunks, 0);
	char		none[256];
	size_t		nonelen = msgpack_strings(none, NULL, 0);

	return rcmd("FCALL " REDIS_FN_DELIVER " 1 chain:wal2queue:progress:jobs %s %s 1 postgres jobs %s %s 1 "
				"%b %b %b %s", "", src.sysid, "", "", hdr, hdrlen, none, nonelen, none, nonelen, "");
}

/*
 * Staging chains too: a deliver call whose staged list is short (a piece
 * was refused) refuses with STAGEGAP and writes nothing; a complete list
 * is moved into the stream and deleted.
 */
static void
test_stage_chain(void)
{
	redisReply *r;

	rdo("RPUSH chain:st 4 chain:staged 0 x 1 4 chain:staged 1 x 2");
	r = deliver_staged("chain:st", 15);
	unit_check(r && r->type == REDIS_REPLY_ARRAY && strcmp(r->element[1]->str, "STAGEGAP") == 0 &&
			   r->element[0]->integer == 0 && rint_cmd("EXISTS %s", "chain:staged") == 0,
			   "a deliver call whose staged list is short refuses and writes nothing");
	if (r)
		freeReplyObject(r);
	r = deliver_staged("chain:st", 10);
	unit_check(r && r->type == REDIS_REPLY_ARRAY && strcmp(r->element[1]->str, "OK") == 0 &&
			   rint_cmd("XLEN %s", "chain:staged") == 2 && rint_cmd("EXISTS %s", "chain:st") == 0,
			   "a complete staged list is moved into the stream and deleted");
	if (r)
		freeReplyObject(r);
}

/*
 * The chain: call k refused (a key of the wrong type) while call k + 1 was
 * already sent: k + 1 finds the record behind its first transaction and
 * writes nothing.  Then the same directly: a call whose first transaction
 * follows a position the record has not reached is refused with GAP.
 */
static void
test_chain(void)
{
	SinkConfig	cfg;
	Sink	   *s;
	TestJob		bad = {"bad", NULL, NULL, {"1", "x", NULL, "t"}};
	redisReply *r;
	int			rc;

	rdo("SET chain:bad x");
	init_cfg(&cfg, "chain:");
	s = sink_redis_create(&cfg);
	reset_acks();
	unit_check(start_session(s, &src, 1000, SINK_REPLAY_NEW_SLOT) == SINK_OK &&
			   send_many(s, "good", 1100, 1, 1, 1) == SINK_OK && drain(s) == SINK_OK,
			   "a first call is delivered");
	rc = send_many(s, "good", 1200, 2, 255, 1);
	if (rc == SINK_OK)
		rc = send_txn(s, 1200 + 255 * 100, 300, &bad, 1);	/* call k is full */
	if (rc == SINK_OK)
		rc = send_many(s, "good2", 100000, 400, 10, 1); /* call k + 1 */
	if (rc == SINK_OK)
		rc = drain(s);
	unit_check(rc == SINK_FATAL && ack_total == 1, "call k is refused (WRONGTYPE)");
	unit_check(rint_cmd("XLEN %s", "chain:good") == 1 &&
			   rint_cmd("EXISTS %s", "chain:good2") == 0,
			   "  and call k + 1, sent before k's verdict was read, wrote nothing");
	check_record("chain:", "jobs", "lsn", "0/474", "  the record stays where call k - 1 left it");
	{
		/* one entry of shape 1 into key 1 (deliver7's layout): seq 0, x = y */
		static const char ents[] = "\xdd\0\0\0\x04\x01\x01\xdb\0\0\0\x01" "0" "\xdb\0\0\0\x01" "y";
		static const char shapes[] = "\xdd\0\0\0\x02\x01\xdb\0\0\0\x01" "x";

		char		hdr[256];
		size_t		hdrlen = item_header(hdr, "0000000000000500", "0000000000000600", "0/5D8",
										 "chain:good", 0, "", 0, NULL, 4);

		r = rcmd("FCALL " REDIS_FN_DELIVER " 1 chain:wal2queue:progress:jobs %s %s 1 postgres jobs %s %s 1 "
				 "%b %b %b %s", "", src.sysid, "", "", hdr, hdrlen, ents, sizeof(ents) - 1,
				 shapes, sizeof(shapes) - 1, "");
	}
	unit_check(r && r->type == REDIS_REPLY_ARRAY && r->elements >= 3 &&
			   strcmp(r->element[1]->str, "GAP") == 0 && r->element[0]->integer == 0 &&
			   strcmp(r->element[2]->str, "0/474") == 0,
			   "a call following a position past the record is refused with GAP and the record's position");
	if (r)
		freeReplyObject(r);
	unit_check(rint_cmd("XLEN %s", "chain:good") == 1, "  and writes nothing");
	s->ops->destroy(s);
	test_stage_chain();
}

/* another source's record: fatal, unless --accept-new-source */
static void
test_source(void)
{
	SinkConfig	cfg;
	Sink	   *s;
	SinkSource	other;
	int			rc;

	init_source(&other, "7399999999999999999", "jobs");
	other.timeline = 3;
	init_cfg(&cfg, "src:");
	s = sink_redis_create(&cfg);
	reset_acks();
	unit_check(start_session(s, &src, 1000, SINK_REPLAY_NEW_SLOT) == SINK_OK &&
			   send_many(s, "q", 1100, 1, 3, 1) == SINK_OK && drain(s) == SINK_OK,
			   "source A delivers 3 transactions");
	for (int flags = 0; flags <= SINK_REPLAY_NEW_SLOT; flags += SINK_REPLAY_NEW_SLOT)
	{
		rc = replay(s, &other, 1000, (unsigned) flags, "q", 50000, 2);
		unit_check(rc == SINK_FATAL && ack_total == 0,
				   "another server with the same slot name is SINK_FATAL (flags %d)", flags);
	}
	unit_check(strstr(s->err, "system identifier 7300000000000000001, timeline 1") != NULL &&
			   strstr(s->err, "system identifier 7399999999999999999, timeline 3") != NULL &&
			   strstr(s->err, "--accept-new-source") != NULL,
			   "  naming both sources and the way out: \"%s\"", s->err);
	unit_check(rint_cmd("XLEN %s", "src:q") == 3, "  and writing nothing");
	other.timeline = 1;
	snprintf(other.sysid, sizeof(other.sysid), "%s", src.sysid);
	other.dbname[0] = 'x';
	unit_check(replay(s, &other, 1000, 0, "q", 50000, 2) == SINK_FATAL,
			   "another database is another source");
	init_source(&other, "7399999999999999999", "jobs");
	other.timeline = 3;
	unit_check(replay(s, &other, 1000, SINK_REPLAY_NEW_SLOT, "q", 50000, 2) == SINK_FATAL &&
			   s->new_slot_refused,
			   "a slot this run created, refused as another source, is dropped again (557)");
	rc = replay(s, &other, 40000, SINK_REPLAY_ACCEPT_NEW | SINK_REPLAY_NEW_SLOT, "q", 50000, 2);
	unit_check(rc == SINK_FATAL && ack_total == 0 && s->new_slot_refused &&
			   strstr(s->err, "without --backfill would lose them") &&
			   strstr(s->err, "--create-slot --backfill[=CONDITION] --accept-new-source"),
			   "--accept-new-source with a slot this run created on another system is refused, "
			   "naming the recovery (556): \"%s\"", s->err);
	check_record("src:", "jobs", "timeline", "1", "  the record is not taken over");
	unit_check(rint_cmd("XLEN %s", "src:q") == 3, "  and nothing is written");
	rc = replay(s, &other, 40000, SINK_REPLAY_ACCEPT_NEW, "q", 50000, 2);
	unit_check(rc == SINK_OK && acked_all(1, 2, 1),
			   "--accept-new-source takes the record over and delivers");
	check_record("src:", "jobs", "sysid", "7399999999999999999", "  the record names the new source");
	check_record("src:", "jobs", "timeline", "3", "  and its timeline");
	check_record("src:", "jobs", "lsn", "0/C3DC", "  and its position");
	unit_check(rint_cmd("XLEN %s", "src:q") == 5, "  both sources' entries are in the stream");
	unit_check(replay(s, &src, 1000, 0, "q", 1100, 3) == SINK_FATAL,
			   "now the first source is the other one");
	s->ops->destroy(s);
}

/* no record where the slot has confirmed positions: fatal, also after a crash */
static void
test_norecord(void)
{
	SinkConfig	cfg;
	Sink	   *s;
	int			port = srv.port;
	int			rc;

	init_cfg(&cfg, "nr:");
	s = sink_redis_create(&cfg);
	reset_acks();
	rc = replay(s, &src, 1000, 0, "q", 1100, 1);
	unit_check(rc == SINK_FATAL && ack_total == 0, "no record and no new slot is SINK_FATAL");
	unit_check(strstr(s->err, "no progress record \"nr:wal2queue:progress:jobs\"") != NULL &&
			   strstr(s->err, "0/3E8") != NULL && strstr(s->err, "--accept-new-source") != NULL,
			   "  naming the record, the slot's position and the way out: \"%s\"", s->err);
	unit_check(rint_cmd("EXISTS %s", "nr:q") == 0, "  and writing nothing");
	unit_check(replay(s, &src, 1000, SINK_REPLAY_NEW_SLOT, "q", 1100, 5) == SINK_OK &&
			   acked_all(1, 5, 1), "a new slot creates its record");
	s->ops->disconnect(s);
	/* Redis without persistence crashes: what it acknowledged is gone */
	server_stop(&srv);
	unit_check(server_start(&srv, "main", port, NULL, NULL), "Redis restarts, empty");
	rc = replay(s, &src, 1100 + 4 * 100 + 40, 0, "q", 1100 + 5 * 100, 1);
	unit_check(rc == SINK_FATAL && ack_total == 0,
			   "after a crash without persistence the loss is detected (SINK_FATAL)");
	s->ops->destroy(s);
}

/* the record behind the slot (a restored backup): fatal, unless accepted */
static void
test_behind(void)
{
	SinkConfig	cfg;
	Sink	   *s;
	int			rc;

	init_cfg(&cfg, "bh:");
	s = sink_redis_create(&cfg);
	reset_acks();
	unit_check(replay(s, &src, 1000, SINK_REPLAY_NEW_SLOT, "q", 1100, 10) == SINK_OK,
			   "10 transactions are delivered");
	rdo("HSET bh:wal2queue:progress:jobs lsn 0/5DC");	/* as after txn 5 */
	rc = replay(s, &src, 2040, 0, "q", 1100, 11);
	unit_check(rc == SINK_FATAL && ack_total == 0,
			   "a record behind the slot's position is SINK_FATAL");
	unit_check(strstr(s->err, "is at 0/5DC, behind the position 0/7F8") != NULL &&
			   strstr(s->err, "appendfsync always") != NULL &&
			   strstr(s->err, "--redis-wait") != NULL &&
			   strstr(s->err, "--accept-new-source") != NULL,
			   "  naming both positions, the cause and the ways out: \"%s\"", s->err);
	rc = replay(s, &src, 2040, SINK_REPLAY_ACCEPT_NEW, "q", 1100, 11);
	unit_check(rc == SINK_OK && acked_all(1, 11, 1),
			   "--accept-new-source continues from the slot's position");
	unit_check(rint_cmd("XLEN %s", "bh:q") == 11, "  adding only what lies past it");
	s->ops->destroy(s);
}

/* two slots (two bridges) write one stream: both are delivered */
static void
test_two_slots(void)
{
	SinkConfig	cfg;
	Sink	   *a;
	Sink	   *b;
	SinkSource	sb;
	bool		ok;

	init_source(&sb, "7300000000000000002", "sb");
	init_cfg(&cfg, "two:");
	a = sink_redis_create(&cfg);
	b = sink_redis_create(&cfg);
	reset_acks();
	ok = start_session(a, &src, 1000, SINK_REPLAY_NEW_SLOT) == SINK_OK &&
		start_session(b, &sb, 1000, SINK_REPLAY_NEW_SLOT) == SINK_OK;
	for (int i = 0; ok && i < 20; i++)
		ok = send_many(a, "shared", 1100 + i * 100, 1 + i, 1, 2) == SINK_OK &&
			send_many(b, "shared", 1100 + i * 100, 101 + i, 1, 2) == SINK_OK &&
			a->ops->poll(a, 0, on_ack, NULL) == SINK_OK &&
			b->ops->poll(b, 0, on_ack, NULL) == SINK_OK;
	ok = ok && drain(a) == SINK_OK && drain(b) == SINK_OK;
	unit_check(ok && acked_all(1, 20, 2) && acked_all(101, 20, 2),
			   "two slots with the same LSNs write one stream, every transaction acked");
	unit_check(rint_cmd("XLEN %s", "two:shared") == 80, "  all 80 entries are there");
	check_record("two:", "jobs", "lsn", "0/BE0", "  each slot has its record");
	check_record("two:", "sb", "lsn", "0/BE0", "  (the other one too)");
	unit_check(replay(b, &sb, 1000, 0, "shared", 1100, 20) == SINK_OK &&
			   rint_cmd("XLEN %s", "two:shared") == 80,
			   "a replay of one slot adds nothing");
	a->ops->destroy(a);
	b->ops->destroy(b);
}

/* replay_begin with calls in flight: their acks no longer count */
static void
test_new_session_in_flight(void)
{
	SinkConfig	cfg;
	Sink	   *s;

	init_cfg(&cfg, "fl:");
	s = sink_redis_create(&cfg);
	reset_acks();
	unit_check(start_session(s, &src, 1000, SINK_REPLAY_NEW_SLOT) == SINK_OK &&
			   send_many(s, "q", 1100, 1, 300, 1) == SINK_OK &&
			   s->ops->replay_begin(s, &src, 1000, SINK_REPLAY_NEW_SLOT) == SINK_OK &&
			   send_many(s, "q", 1100, 1, 300, 1) == SINK_OK && drain(s) == SINK_OK,
			   "a new session begins while a call of the old one is in flight");
	unit_check(acked_all(1, 300, 1), "  each transaction is acked once, by the new session");
	unit_check(rint_cmd("XLEN %s", "fl:q") == 300, "  and is in the stream once");
	s->ops->destroy(s);
}

/* --redis-wait: too few replicas is a retry; a real replica acknowledges */
static void
test_wait(void)
{
	RServer		replica = {.pid = -1};
	char		portstr[16];
	const char *extra[] = {"--replicaof", "127.0.0.1", portstr, NULL};
	SinkConfig	cfg;
	Sink	   *s;
	int			rc;
	bool		online = false;

	init_cfg(&cfg, "wait:");
	cfg.redis_wait_replicas = 1;
	cfg.redis_wait_timeout_ms = 200;
	s = sink_redis_create(&cfg);
	rc = replay(s, &src, 1000, SINK_REPLAY_NEW_SLOT, "q", 1100, 3);
	unit_check(rc == SINK_RETRY && ack_total == 0,
			   "WAIT answered by 0 of 1 replicas is SINK_RETRY, nothing acked");
	unit_check_str(s->err, "only 0 of the 1 Redis replicas asked for by --redis-wait acknowledged the write within 200 ms; not acknowledging it, replaying",
				   "  with a message naming how many acknowledged");
	snprintf(portstr, sizeof(portstr), "%d", srv.port);
	if (!unit_check(server_start(&replica, "replica", 0, NULL, extra), "a replica starts"))
		return;
	for (int i = 0; i < 100 && !online; i++)
	{
		redisReply *r = rcmd("INFO replication");

		online = r && r->str && strstr(r->str, "state=online") != NULL;
		if (r)
			freeReplyObject(r);
		if (!online)
			sleep_ms(100);
	}
	unit_check(online, "  and is online");
	rc = replay(s, &src, 1000, 0, "q", 1100, 5);
	unit_check(rc == SINK_OK && acked_all(1, 5, 1),
			   "with the replica, WAIT succeeds and all is acked");
	{
		struct timeval tv = {5, 0};
		redisContext *rc2 = redisConnectWithTimeout("127.0.0.1", replica.port, tv);
		redisReply *r = rc2 ? redisCommand(rc2, "XLEN wait:q") : NULL;

		unit_check(r && r->type == REDIS_REPLY_INTEGER && r->integer == 5,
				   "  the replica holds the 5 entries once");
		if (r)
			freeReplyObject(r);
		if (rc2)
			redisFree(rc2);
	}
	server_stop(&replica);
	s->ops->destroy(s);
}

int
main(void)
{
	init_source(&src, "7300000000000000001", "jobs");
	if (!harness_init() ||
		!unit_check(server_start(&srv, "main", 0, NULL, NULL), "redis-server starts"))
		return unit_done();
	test_busy();
	test_oom();
	test_function_flushed();
	test_frozen();
	test_chain();
	test_source();
	test_norecord();
	test_behind();
	test_two_slots();
	test_new_session_in_flight();
	test_wait();
	return unit_done();
}
