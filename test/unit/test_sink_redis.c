/*-------------------------------------------------------------------------
 *
 * test_sink_redis.c
 *		The Redis Streams sink against a real redis-server started here:
 *		entry fields (_lsn, _seq, columns), messages, prefix, the progress
 *		record, many transactions per call, exactly-once replay, MAXLEN,
 *		consumer groups, staged transactions in bounded memory, a key of
 *		the wrong type, a server that dies, passwords, database numbers
 *		and unix sockets.  Faults (pauses, refusals, sources, WAIT) are in
 *		test_redis_faults.c.
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis_harness.h"
#include "unit.h"

/* AddressSanitizer's quarantine keeps freed memory: RSS says nothing then */
#ifdef __SANITIZE_ADDRESS__
#define MEASURE_RSS false
#else
#define MEASURE_RSS true
#endif

static SinkSource src;

static bool
check_stream(const char *key, const char *want, const char *desc)
{
	char	   *got = dump_stream(chk, key);
	bool		ok = unit_check_str(got, want, desc);

	free(got);
	return ok;
}

static bool
has_group(const char *key, const char *group)
{
	redisReply *r = rcmd("XINFO GROUPS %s", key);
	bool		found = false;

	for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
	{
		redisReply *g = r->element[i];

		if (g->type == REDIS_REPLY_ARRAY && g->elements >= 2 &&
			strcmp(g->element[1]->str, group) == 0)
			found = true;
	}
	if (r)
		freeReplyObject(r);
	return found;
}

static void
test_rows(void)
{
	SinkConfig	cfg;
	Sink	   *s;
	TestJob		jobs[4] = {
		{"public.jobs", NULL, NULL, {"42", "emails", "{\"to\": \"a@b.c\"}", "t"}},
		{"public.jobs", NULL, NULL, {"43", NULL, NULL, "f"}},
		{"public.jobs", NULL, NULL, {"44", "sms", "[1, 2]", NULL}},
		{"nulls", NULL, NULL, {NULL, NULL, NULL, NULL}},
	};
	bool		want_write = false;
	char	   *at;

	init_cfg(&cfg, "");
	s = sink_redis_create(&cfg);
	reset_acks();
	unit_check(start_session(s, &src, 1000, SINK_REPLAY_NEW_SLOT) == SINK_OK,
			   "connect and begin a session of a new slot");
	unit_check(send_txn(s, 0x16B3848, 1, jobs, 3) == SINK_OK,
			   "begin, 3 row jobs, commit");
	unit_check(s->ops->pending_bytes(s) > 0, "pending_bytes counts what was handed over");
	unit_check(s->ops->socket(s, &want_write) >= 0 && want_write,
			   "socket() wants to write before the flush");
	unit_check(drain(s) == SINK_OK, "drain");
	unit_check(ack_calls[1] == 1 && ack_jobs[1] == 3 && ack_total == 1,
			   "the transaction is acked once with its 3 jobs");
	unit_check(s->ops->pending_bytes(s) == 0, "pending_bytes is 0 after the ack");
	check_stream("public.jobs",
				 "_lsn=0/16B3848 _seq=0 id=42 queue=emails payload={\"to\": \"a@b.c\"} done=t\n"
				 "_lsn=0/16B3848 _seq=1 id=43 done=f\n"
				 "_lsn=0/16B3848 _seq=2 id=44 queue=sms payload=[1, 2]\n",
				 "entries carry _lsn (commit LSN), _seq, then the non-NULL columns");
	check_record("", "jobs", "lsn", "0/16B3870", "the progress record holds the end LSN");
	check_record("", "jobs", "sysid", "7300000000000000001", "  and the system identifier");
	check_record("", "jobs", "timeline", "1", "  the timeline");
	check_record("", "jobs", "db", "postgres", "  the database");
	check_record("", "jobs", "slot", "jobs", "  and the slot");
	at = record_field("", "jobs", "updated_at");
	unit_check(strtoll(at, NULL, 10) > 1700000000, "  and updated_at, the server's time (%s)", at);
	free(at);
	unit_check(send_txn(s, 0x16B3900, 2, &jobs[3], 1) == SINK_OK && drain(s) == SINK_OK &&
			   ack_jobs[2] == 1, "a row of NULLs is delivered");
	check_stream("nulls", "_lsn=0/16B3900 _seq=0\n", "a row of NULLs has only _lsn and _seq");
	s->ops->destroy(s);
}

static void
test_messages_and_prefix(void)
{
	SinkConfig	cfg;
	Sink	   *s;
	TestJob		jobs[3] = {
		{"emails", "hello", "k1", {NULL}},
		{"emails", "", NULL, {NULL}},
		{"public.jobs", NULL, NULL, {"7", "x", NULL, "t"}},
	};

	init_cfg(&cfg, "w2q:");
	s = sink_redis_create(&cfg);
	reset_acks();
	unit_check(start_session(s, &src, 1000, SINK_REPLAY_NEW_SLOT) == SINK_OK &&
			   send_txn(s, UINT64_C(0x100000000), 3, jobs, 3) == SINK_OK &&
			   drain(s) == SINK_OK && ack_jobs[3] == 3,
			   "a transaction with messages and a row, two streams");
	check_stream("w2q:emails",
				 "_lsn=1/0 _seq=0 payload=hello key=k1\n_lsn=1/0 _seq=1 payload=\n",
				 "message jobs carry payload, and key when there is one");
	check_stream("w2q:public.jobs", "_lsn=1/0 _seq=2 id=7 queue=x done=t\n",
				 "target_prefix prefixes the stream key");
	check_record("w2q:", "jobs", "lsn", "1/28", "the progress record is under the prefix too");
	unit_check(rint_cmd("EXISTS %s", "emails") == 0,
			   "nothing is written without the prefix");
	s->ops->destroy(s);
}

/* many transactions per call; a replay of the session writes nothing twice */
static void
test_batches_and_replay(void)
{
	SinkConfig	cfg;
	Sink	   *s;
	char	   *before;
	char	   *after;
	long		calls;

	init_cfg(&cfg, "b:");
	s = sink_redis_create(&cfg);
	reset_acks();
	rdo("CONFIG RESETSTAT");
	unit_check(start_session(s, &src, 5000000, SINK_REPLAY_NEW_SLOT) == SINK_OK &&
			   send_many(s, "pipe", 5000100, 1000, 1000, 2) == SINK_OK,
			   "1000 transactions are handed over without waiting");
	unit_check(s->ops->pending_bytes(s) > 1000 * 100, "pending_bytes holds them all (%zu)",
			   s->ops->pending_bytes(s));
	unit_check(drain(s) == SINK_OK && acked_all(1000, 1000, 2) && ack_total == 1000,
			   "all 1000 are acked, each once with 2 jobs");
	calls = command_calls("fcall");
	unit_check(calls >= 4 && calls <= 6, "in %ld calls (256 transactions a call)", calls);
	unit_check(rint_cmd("XLEN %s", "b:pipe") == 2000, "the stream holds 2000 entries");
	before = dump_stream(chk, "b:pipe");
	for (int round = 0; round < 2; round++)
	{
		s->ops->disconnect(s);
		reset_acks();
		unit_check(start_session(s, &src, 5000000, 0) == SINK_OK &&
				   send_many(s, "pipe", 5000100, 1000, 1000, 2) == SINK_OK &&
				   drain(s) == SINK_OK && acked_all(1000, 1000, 2),
				   "a replay of the session is acked again (round %d)", round);
		after = dump_stream(chk, "b:pipe");
		unit_check(strcmp(before, after) == 0, "  and leaves the stream unchanged");
		free(after);
	}
	/* a replay that goes on past the record: only the new ones are written */
	s->ops->disconnect(s);
	reset_acks();
	unit_check(start_session(s, &src, 5000000, 0) == SINK_OK &&
			   send_many(s, "pipe", 5000100, 1000, 1010, 1) == SINK_OK &&
			   drain(s) == SINK_OK && acked_all(1000, 1000, 1) && acked_all(2000, 10, 1),
			   "a replay running past the record is acked whole");
	unit_check(rint_cmd("XLEN %s", "b:pipe") == 2010, "  and adds only the 10 new transactions");
	free(before);
	/* a session from a later slot position skips what lies before it */
	s->ops->disconnect(s);
	reset_acks();
	unit_check(start_session(s, &src, 5000100 + 1009 * 100 + 40, 0) == SINK_OK &&
			   s->ops->progress(s, 5000100 + 1020 * 100, 7) == SINK_OK &&
			   drain(s) == SINK_OK && ack_calls[7] == 1 && ack_jobs[7] == 1,
			   "progress() with nothing in flight is acked with one job");
	check_record("b:", "jobs", "lsn", "0/4DDA14", "  and moves the record to its position");
	s->ops->destroy(s);
}

static void
test_maxlen(void)
{
	SinkConfig	cfg;
	Sink	   *s;
	long long	len;

	init_cfg(&cfg, "m:");
	cfg.redis_maxlen = 10;
	s = sink_redis_create(&cfg);
	reset_acks();
	unit_check(start_session(s, &src, 900, SINK_REPLAY_NEW_SLOT) == SINK_OK &&
			   send_many(s, "trimmed", 1000, 1, 300, 1) == SINK_OK &&
			   drain(s) == SINK_OK && acked_all(1, 300, 1),
			   "300 transactions with MAXLEN ~ 10 are acked");
	len = rint_cmd("XLEN %s", "m:trimmed");
	unit_check(len >= 10 && len < 300, "MAXLEN ~ 10 trims the stream (XLEN %lld)", len);
	s->ops->disconnect(s);
	reset_acks();
	rdo("CONFIG RESETSTAT");
	unit_check(start_session(s, &src, 900, 0) == SINK_OK &&
			   send_many(s, "trimmed", 1000, 1, 300, 1) == SINK_OK &&
			   drain(s) == SINK_OK && acked_all(1, 300, 1),
			   "a replay of trimmed entries is acked (the record, not the stream, says so)");
	unit_check(command_calls("xadd") == 0, "  and adds nothing");
	s->ops->destroy(s);
}

static void
test_group(void)
{
	SinkConfig	cfg;
	Sink	   *s;
	TestJob		jobs[3] = {
		{"grp.a", NULL, NULL, {"1", "a", NULL, "t"}},
		{"grp.b", NULL, NULL, {"2", "b", NULL, "t"}},
		{"grp.a", NULL, NULL, {"3", "a", NULL, "t"}},
	};

	rdo("XGROUP CREATE g:grp.b workers $ MKSTREAM");
	rdo("CONFIG RESETSTAT");
	init_cfg(&cfg, "g:");
	cfg.redis_group = "workers";
	s = sink_redis_create(&cfg);
	reset_acks();
	unit_check(start_session(s, &src, 4000, SINK_REPLAY_NEW_SLOT) == SINK_OK &&
			   send_txn(s, 5000, 1, jobs, 3) == SINK_OK &&
			   send_txn(s, 5100, 2, jobs, 2) == SINK_OK &&
			   drain(s) == SINK_OK && ack_jobs[1] == 3 && ack_jobs[2] == 2,
			   "transactions with redis_group are acked, also where the group exists");
	unit_check(has_group("g:grp.a", "workers"), "the group is created on a new stream");
	unit_check(has_group("g:grp.b", "workers") && rint_cmd("XLEN %s", "g:grp.b") == 2,
			   "an existing stream keeps its group");
	unit_check(command_calls("xgroup|create") == 1,
			   "XGROUP CREATE is called once, for the new stream only");
	{
		redisReply *r = rcmd("XREADGROUP GROUP workers c1 COUNT 10 STREAMS g:grp.a >");

		unit_check(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
				   r->element[0]->element[1]->elements == 3,
				   "the group created at 0 delivers every entry of the new stream");
		if (r)
			freeReplyObject(r);
	}
	s->ops->disconnect(s);
	reset_acks();
	unit_check(start_session(s, &src, 4000, 0) == SINK_OK &&
			   send_txn(s, 5000, 1, jobs, 3) == SINK_OK &&
			   send_txn(s, 5100, 2, jobs, 2) == SINK_OK &&
			   drain(s) == SINK_OK && ack_jobs[1] == 3 && ack_jobs[2] == 2,
			   "the replay after a reconnect is acked");
	check_stream("g:grp.a",
				 "_lsn=0/1388 _seq=0 id=1 queue=a done=t\n_lsn=0/1388 _seq=2 id=3 queue=a done=t\n"
				 "_lsn=0/13EC _seq=0 id=1 queue=a done=t\n", "the group stream holds each entry once");
	s->ops->destroy(s);
}

/* a field of /proc/self/status ("VmHWM", "VmRSS"), in kB, or -1 */
static long
status_kb(const char *field)
{
	FILE	   *f = fopen("/proc/self/status", "r");
	size_t		n = strlen(field);
	char		line[256];
	long		kb = -1;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, n) == 0 && line[n] == ':')
			kb = strtol(line + n + 1, NULL, 10);
	if (f != NULL)
		fclose(f);
	return kb;
}

/* start a new peak RSS (VmHWM) at the current RSS (Linux 4.0+) */
static bool
reset_peak_rss(void)
{
	FILE	   *f = fopen("/proc/self/clear_refs", "w");
	bool		ok = f != NULL && fputs("5", f) >= 0;

	if (f != NULL && fclose(f) != 0)
		ok = false;
	return ok;
}

/*
 * begin, n row jobs to one stream, commit; polled as the bridge does, which
 * stops reading while more than 8 MiB are pending (its backpressure)
 */
static int
send_big_jobs(Sink *s, const FrameTxn *txn, uint32_t n, size_t *max_pending)
{
	static FrameColumn cols[] = {{{"id", 2}, W2Q_KIND_NUMBER}};
	static FrameRelation rel = {1, {"big", 3}, 1, cols};
	int			rc = s->ops->begin(s, txn, 1);

	for (uint32_t i = 0; i < n && rc == SINK_OK; i++)
	{
		char		id[16];
		FrameValue	val = {false, {id, 0}};
		FrameJob	job = {0};

		val.data.len = (uint32_t) snprintf(id, sizeof(id), "%" PRIu32, i);
		job.seq = i;
		job.target = (FrameBytes) {"big", 3};
		job.rel = &rel;
		job.values = &val;
		rc = s->ops->job(s, txn, &job, 1);
		if (s->ops->pending_bytes(s) > *max_pending)
			*max_pending = s->ops->pending_bytes(s);
		while (rc == SINK_OK && s->ops->pending_bytes(s) >= 8 * 1024 * 1024)
			rc = s->ops->poll(s, 100, on_ack, NULL);
		if (i % 1000 == 999 && rc == SINK_OK)
			rc = s->ops->poll(s, 0, on_ack, NULL);
	}
	return rc;
}

static int
send_big_txn(Sink *s, const FrameTxn *txn, uint32_t n, size_t *max_pending)
{
	int			rc = send_big_jobs(s, txn, n, max_pending);

	if (rc == SINK_OK)
		rc = s->ops->commit(s, txn, 1);
	return rc;
}

/*
 * A transaction of W2Q_TEST_BIG_TXN jobs (default 1M; lower under
 * valgrind) is staged in pieces: pending_bytes and the peak RSS stay
 * bounded, it is acked once, its replay writes nothing, and no staging list
 * is left.  The peak is not measured under AddressSanitizer.
 */
static void
test_big_txn(void)
{
	const char *env = getenv("W2Q_TEST_BIG_TXN");
	uint32_t	n = env ? (uint32_t) strtoul(env, NULL, 10) : 1000000;
	FrameTxn	txn = {11, 8000000000, 8000000040, 0, n};
	SinkConfig	cfg;
	Sink	   *s;

	init_cfg(&cfg, "");
	s = sink_redis_create(&cfg);
	for (int round = 0; round < 2; round++)
	{
		size_t		max_pending = 0;
		long		base;
		long		growth;
		int			rc;

		reset_acks();
		rdo("CONFIG RESETSTAT");
		base = reset_peak_rss() ? status_kb("VmRSS") : status_kb("VmHWM");
		rc = start_session(s, &src, 7999999000, round == 0 ? SINK_REPLAY_ACCEPT_NEW : 0);
		if (rc == SINK_OK)
			rc = send_big_txn(s, &txn, n, &max_pending);
		if (rc == SINK_OK)
			rc = drain(s);
		growth = status_kb("VmHWM") - base;
		unit_check(rc == SINK_OK && ack_calls[1] == 1 && ack_jobs[1] == n,
				   "a transaction of %" PRIu32 " jobs is acked once%s", n,
				   round ? " when replayed" : "");
		unit_check(max_pending < 10 * 1024 * 1024,
				   "  pending_bytes stays below 10 MiB (at most %zu)", max_pending);
		if (n >= 200000)		/* more than REDIS_STAGE_BYTES of entries */
			unit_check(command_calls("rpush") > 2, "  it was staged in %ld pieces",
					   command_calls("rpush"));
		if (MEASURE_RSS)
			unit_check(base > 0 && growth < 32 * 1024,
					   "  sending it raised the peak RSS by %ld kB (< 32 MB)", growth);
		s->ops->disconnect(s);
	}
	unit_check(rint_cmd("XLEN %s", "big") == (long long) n,
			   "the stream holds its %" PRIu32 " entries once", n);
	{
		redisReply *r = rcmd("KEYS *wal2queue:stage:*");

		unit_check(r && r->type == REDIS_REPLY_ARRAY && r->elements == 0,
				   "no staging list is left");
		if (r)
			freeReplyObject(r);
	}
	rdo("DEL big");
	s->ops->destroy(s);
}

static long
stage_lists(const char *pattern)
{
	redisReply *r = rcmd("KEYS %s", pattern);
	long		n = r && r->type == REDIS_REPLY_ARRAY ? (long) r->elements : -1;

	if (r)
		freeReplyObject(r);
	return n;
}

/*
 * The sweep (redis_conn.c): a session deletes the staging lists of its slot
 * that no call of the process uses (a dead bridge's), not another slot's,
 * and not the list it stages into while the sweep runs: 20,000 other keys
 * and W2Q_TEST_SWEEP_COUNT=1 make the sweep outlast the staging.
 */
static void
test_sweep(void)
{
	uint32_t	n = 100000;
	FrameTxn	txn = {12, 8100000000, 8100000040, 0, n};
	size_t		max_pending = 0;
	SinkConfig	cfg;
	Sink	   *s;
	int			rc;

	init_cfg(&cfg, "");
	s = sink_redis_create(&cfg);
	rdo("EVAL %s 0", "for i = 1, 20000 do redis.call('SET', 'filler:' .. i, '1') end");
	rdo("RPUSH wal2queue:stage:jobs:1-1-1 x");
	rdo("RPUSH wal2queue:stage:jobs2:1-1-1 x");
	setenv("W2Q_TEST_SWEEP_COUNT", "1", 1);
	reset_acks();
	rc = start_session(s, &src, 8099999000, SINK_REPLAY_ACCEPT_NEW);
	if (rc == SINK_OK)
		rc = send_big_jobs(s, &txn, n, &max_pending);
	if (rc == SINK_OK)
		rc = drain(s);			/* the sweep runs to its end */
	unit_check(rc == SINK_OK && stage_lists("wal2queue:stage:jobs:*") == 1 &&
			   rint_cmd("EXISTS %s", "wal2queue:stage:jobs:1-1-1") == 0,
			   "the sweep deleted the slot's leftover list, not the one being staged");
	unit_check(stage_lists("wal2queue:stage:jobs2:*") == 1, "  nor another slot's");
	if (rc == SINK_OK)
		rc = s->ops->commit(s, &txn, 1);
	if (rc == SINK_OK)
		rc = drain(s);
	unit_check(rc == SINK_OK && ack_calls[1] == 1 && ack_jobs[1] == n &&
			   rint_cmd("XLEN %s", "big") == (long long) n &&
			   stage_lists("wal2queue:stage:jobs:*") == 0,
			   "  the transaction staged meanwhile is delivered once, whole");
	unsetenv("W2Q_TEST_SWEEP_COUNT");
	rdo("EVAL %s 0", "for i = 1, 20000 do redis.call('DEL', 'filler:' .. i) end");
	rdo("DEL big wal2queue:stage:jobs2:1-1-1");
	s->ops->destroy(s);
}

/* the value of field of the only entry of key, or NULL */
static char *
entry_field(const char *key, const char *field)
{
	redisReply *r = rcmd("XRANGE %s - +", key);
	char	   *v = NULL;

	if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1)
	{
		redisReply *f = r->element[0]->element[1];

		for (size_t j = 0; j + 1 < f->elements; j += 2)
			if (strcmp(f->element[j]->str, field) == 0)
			{
				v = malloc(f->element[j + 1]->len + 1);
				memcpy(v, f->element[j + 1]->str, f->element[j + 1]->len + 1);
			}
	}
	if (r)
		freeReplyObject(r);
	return v;
}

/* test_encoding: the message streams enc:m<size> hold the payloads whole */
static bool
encoding_payloads_intact(const size_t *sizes, int n, const char *big)
{
	bool		ok = true;

	for (int i = 0; i < n; i++)
	{
		char		key[32];
		redisReply *r;
		bool		one;

		snprintf(key, sizeof(key), "enc:m%zu", sizes[i]);
		r = rcmd("XRANGE %s - +", key);
		one = r && r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
			r->element[0]->element[1]->elements == 6 &&
			r->element[0]->element[1]->element[5]->len == sizes[i] &&
			memcmp(r->element[0]->element[1]->element[5]->str, big, sizes[i]) == 0;
		unit_check(one, "a payload of %zu bytes arrives intact", sizes[i]);
		ok = ok && one;
		if (r)
			freeReplyObject(r);
	}
	return ok;
}

/* test_encoding: each row stream enc:k<N> holds its one row of 12 columns */
static bool
encoding_rows_intact(int nkeys)
{
	for (int k = 4; k < nkeys; k++)
	{
		char		key[32];
		char	   *v;
		bool		ok;

		snprintf(key, sizeof(key), "enc:k%d", k);
		v = entry_field(key, "c11");
		ok = v != NULL && strcmp(v, "c11") == 0 && rint_cmd("XLEN %s", key) == 1;
		free(v);
		if (!ok)
			return false;
	}
	return true;
}

/*
 * Every MessagePack form an entry can take: payloads of 31, 200, 1000 and
 * 70000 bytes (fixstr, str8, str16, str32, binary zeros included), a row
 * of 12 columns (array16), 200 streams in one transaction (key index 128
 * and up).
 */
static void
test_encoding(void)
{
	static const size_t sizes[] = {31, 200, 1000, 70000};
	enum
	{
		NKEYS = 200, NCOLS = 12
	};
	FrameColumn cols[NCOLS];
	FrameValue	vals[NCOLS];
	FrameRelation rel = {7, {"wide", 4}, NCOLS, cols};
	char		names[NCOLS][8];
	char		targets[NKEYS][16];
	FrameTxn	txn = {5, 900000, 900040, 0, 0};
	SinkConfig	cfg;
	Sink	   *s;
	char	   *big = malloc(70001);
	int			rc;
	bool		ok = true;
	uint32_t	seq = 0;

	for (size_t i = 0; i < 70000; i++)
		big[i] = (char) ('a' + i % 26);
	big[10] = '\0';
	init_cfg(&cfg, "enc:");
	s = sink_redis_create(&cfg);
	reset_acks();
	rc = start_session(s, &src, 800000, SINK_REPLAY_ACCEPT_NEW);
	rc = rc ? rc : s->ops->begin(s, &txn, 1);
	for (int i = 0; i < 4 && rc == SINK_OK; i++)
	{
		FrameJob	job = {0};

		snprintf(targets[i], sizeof(targets[i]), "m%zu", sizes[i]);
		job.seq = seq++;
		job.is_message = true;
		job.target = (FrameBytes) {targets[i], (uint32_t) strlen(targets[i])};
		job.payload = (FrameBytes) {big, (uint32_t) sizes[i]};
		rc = s->ops->job(s, &txn, &job, 1);
	}
	for (int c = 0; c < NCOLS; c++)
	{
		snprintf(names[c], sizeof(names[c]), "c%d", c);
		cols[c] = (FrameColumn) {{names[c], (uint32_t) strlen(names[c])}, W2Q_KIND_TEXT};
		vals[c] = (FrameValue) {false, {names[c], (uint32_t) strlen(names[c])}};
	}
	for (int k = 4; k < NKEYS && rc == SINK_OK; k++)
	{
		FrameJob	job = {0};

		snprintf(targets[k], sizeof(targets[k]), "k%d", k);
		job.seq = seq++;
		job.target = (FrameBytes) {targets[k], (uint32_t) strlen(targets[k])};
		job.rel = &rel;
		job.values = vals;
		rc = s->ops->job(s, &txn, &job, 1);
	}
	rc = rc ? rc : s->ops->commit(s, &txn, 1);
	rc = rc ? rc : drain(s);
	unit_check(rc == SINK_OK && ack_jobs[1] == NKEYS, "a transaction of every encoding is acked");
	ok = encoding_payloads_intact(sizes, 4, big);
	ok = ok && encoding_rows_intact(NKEYS);
	unit_check(ok, "200 streams in one transaction, rows of 12 columns, each entry in its stream");
	free(big);
	s->ops->destroy(s);
}

/* a key that is not a stream: the call refuses whole, naming the key */
static void
test_wrongtype(void)
{
	SinkConfig	cfg;
	Sink	   *s;
	TestJob		good = {"fine", NULL, NULL, {"1", "x", NULL, "t"}};
	TestJob		bad = {"wrongtype", NULL, NULL, {"2", "x", NULL, "t"}};
	int			rc;

	rdo("SET w:wrongtype x");
	init_cfg(&cfg, "w:");
	s = sink_redis_create(&cfg);
	reset_acks();
	rc = start_session(s, &src, 100, SINK_REPLAY_NEW_SLOT);
	if (rc == SINK_OK)
		rc = send_txn(s, 200, 1, &good, 1);
	if (rc == SINK_OK)
		rc = send_txn(s, 300, 2, &bad, 1);
	if (rc == SINK_OK)
		rc = s->ops->drain(s, DRAIN_MS, on_ack, NULL);
	unit_check(rc == SINK_FATAL && ack_total == 0, "a string where a stream goes is SINK_FATAL");
	unit_check_str(s->err, "Redis key \"w:wrongtype\" holds a string, not a stream; wal2queue writes only to streams (and a hash for its progress record)",
				   "  naming the key and its type");
	unit_check(rint_cmd("EXISTS %s", "w:fine") == 0,
			   "  and nothing of the call was written (the check precedes every write)");
	s->ops->destroy(s);
}

static void
test_server_dies(void)
{
	SinkConfig	cfg;
	Sink	   *s;
	int			rc = SINK_OK;
	int			port = srv.port;
	char		want[128];
	TestJob		tj = {"dies", NULL, NULL, {"1", "x", NULL, "t"}};

	init_cfg(&cfg, "d:");
	s = sink_redis_create(&cfg);
	reset_acks();
	unit_check(start_session(s, &src, 50, SINK_REPLAY_NEW_SLOT) == SINK_OK &&
			   send_many(s, "dies", 100, 1, 50, 1) == SINK_OK && drain(s) == SINK_OK,
			   "50 transactions delivered before the server dies");
	server_stop(&srv);
	for (int i = 0; i < 100 && rc == SINK_OK; i++)
	{
		rc = send_many(s, "dies", 1000000 + (uint64_t) i * 10000, 100, 1, 1);
		if (rc == SINK_OK)
			rc = s->ops->poll(s, 50, on_ack, NULL);
	}
	unit_check(rc == SINK_RETRY, "a dead server is SINK_RETRY");
	unit_check(strncmp(s->err, "lost connection to Redis: ", 26) == 0,
			   "  with \"%s\"", s->err);
	s->ops->disconnect(s);
	snprintf(want, sizeof(want), "could not connect to Redis at 127.0.0.1:%d: Connection refused", port);
	unit_check(s->ops->connect(s) == SINK_RETRY, "connecting to no server is SINK_RETRY");
	unit_check_str(s->err, want, "  with the address and the reason");
	unit_check(server_start(&srv, "main", port, NULL, NULL), "the server is back on port %d", port);
	reset_acks();
	unit_check(start_session(s, &src, 5040, SINK_REPLAY_NEW_SLOT) == SINK_OK &&
			   send_txn(s, 6000, 7, &tj, 1) == SINK_OK &&
			   drain(s) == SINK_OK && ack_jobs[7] == 1,
			   "connect works again and delivers");
	s->ops->destroy(s);
}

static void
test_unix_and_db(void)
{
	SinkConfig	cfg;
	Sink	   *s;
	TestJob		tj = {"viaunix", NULL, NULL, {"1", "x", NULL, "t"}};

	init_cfg(&cfg, "");
	cfg.url.kind = SINK_REDIS_UNIX;
	cfg.url.path = srv.sock;
	cfg.url.db = 2;
	s = sink_redis_create(&cfg);
	reset_acks();
	unit_check(start_session(s, &src, 40, SINK_REPLAY_NEW_SLOT) == SINK_OK &&
			   send_txn(s, 42, 1, &tj, 1) == SINK_OK &&
			   drain(s) == SINK_OK && ack_jobs[1] == 1,
			   "a unix socket URL with db=2 delivers");
	unit_check(rint_cmd("EXISTS %s", "viaunix") == 0, "nothing lands in database 0");
	rdo("SELECT 2");
	check_stream("viaunix", "_lsn=0/2A _seq=0 id=1 queue=x done=t\n", "the entry is in database 2");
	rdo("SELECT 0");
	s->ops->destroy(s);

	cfg.url.path = "/nonexistent/redis.sock";
	s = sink_redis_create(&cfg);
	unit_check(s->ops->connect(s) == SINK_RETRY, "a missing socket is SINK_RETRY");
	unit_check_str(s->err, "could not connect to Redis at /nonexistent/redis.sock: No such file or directory",
				   "  with the path and the reason");
	s->ops->destroy(s);
}

/* connect with user/password; expect rc */
static void
try_auth(const char *user, char *password, int want_rc, const char *desc)
{
	SinkConfig	cfg;
	Sink	   *s;
	TestJob		tj = {"authed", NULL, NULL, {"1", "x", NULL, "t"}};
	int			rc;

	init_cfg(&cfg, "");
	cfg.url.user = (char *) user;
	cfg.url.password = password;
	s = sink_redis_create(&cfg);
	reset_acks();
	rc = s->ops->connect(s);
	if (rc == SINK_OK &&
		(s->ops->replay_begin(s, &src, 5, SINK_REPLAY_ACCEPT_NEW) != SINK_OK ||
		 send_txn(s, 10, 1, &tj, 1) != SINK_OK || drain(s) != SINK_OK ||
		 ack_total != 1))
		rc = -1;
	unit_check(rc == want_rc, "%s", desc);
	if (want_rc != SINK_OK)
	{
		unit_check(strncmp(s->err, "authentication to Redis failed: ", 32) == 0,
				   "  with \"%s\"", s->err);
		unit_check(strstr(s->err, "WAL2QUEUE_REDIS_PASSWORD") != NULL,
				   "  saying how to give a password");
		unit_check(password == NULL || strstr(s->err, password) == NULL,
				   "  without the password in it");
	}
	s->ops->destroy(s);
}

static void
test_auth(void)
{
	server_stop(&srv);
	if (!unit_check(server_start(&srv, "auth", 0, "s3cret", NULL), "a server with requirepass"))
		return;
	rdo("ACL SETUSER w2q on >userpw ~* &* +@all");
	try_auth(NULL, "s3cret", SINK_OK, "the URL's password is used");
	try_auth(NULL, "wrong-pw", SINK_FATAL, "a wrong password is SINK_FATAL");
	try_auth(NULL, NULL, SINK_FATAL, "no password where one is needed is SINK_FATAL");
	setenv("WAL2QUEUE_REDIS_PASSWORD", "s3cret", 1);
	try_auth(NULL, NULL, SINK_OK, "WAL2QUEUE_REDIS_PASSWORD is used when the URL has none");
	try_auth(NULL, "wrong-pw", SINK_FATAL, "the URL's password wins over the environment");
	unsetenv("WAL2QUEUE_REDIS_PASSWORD");
	try_auth("w2q", "userpw", SINK_OK, "an ACL user and password (AUTH user pass)");
	try_auth("w2q", "s3cret", SINK_FATAL, "an ACL user with a wrong password is SINK_FATAL");
	/* the sweep refused (redis_conn.c) is a warning, not a stop */
	rdo("ACL SETUSER nosweep on >sweeppw ~* &* +@all -scan -unlink");
	rdo("RPUSH wal2queue:stage:jobs:1-1-1 x");
	try_auth("nosweep", "sweeppw", SINK_OK, "a user not allowed SCAN and UNLINK delivers all the same");
	unit_check(rint_cmd("EXISTS %s", "wal2queue:stage:jobs:1-1-1") == 1,
			   "  (the list it could not sweep is left to its expiry)");
}

int
main(void)
{
	init_source(&src, "7300000000000000001", "jobs");
	if (!harness_init() ||
		!unit_check(server_start(&srv, "main", 0, NULL, NULL), "redis-server starts"))
		return unit_done();
	test_rows();
	test_messages_and_prefix();
	test_batches_and_replay();
	test_maxlen();
	test_group();
	test_big_txn();
	test_sweep();
	test_encoding();
	test_wrongtype();
	test_unix_and_db();
	test_server_dies();
	test_auth();
	return unit_done();
}
