/*-------------------------------------------------------------------------
 *
 * test_sink_redis.c
 *		The Redis Streams sink against a real redis-server started here:
 *		entry IDs and fields, messages, prefix, MAXLEN, consumer groups,
 *		pipelining, exactly-once replay, foreign writers, a server that dies,
 *		passwords, database numbers and unix sockets; EXEC replies of a
 *		million elements read in bounded memory, and odd ones from a fake
 *		server.
 *
 *-------------------------------------------------------------------------
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "sink.h"
#include "unit.h"

#define MAX_TICKETS 8192
#define DRAIN_MS	30000

/* AddressSanitizer's quarantine keeps freed memory: RSS says nothing then */
#ifdef __SANITIZE_ADDRESS__
#define MEASURE_RSS false
#else
#define MEASURE_RSS true
#endif

/* the server under test */
static pid_t server_pid = -1;
static int	server_port;
static char server_dir[64];
static char server_sock[128];
static char server_log[128];
static const char *server_password;
static redisContext *chk;		/* a plain blocking client for the checks */

/* acks seen */
static uint32_t ack_jobs[MAX_TICKETS];
static int	ack_calls[MAX_TICKETS];
static int	ack_total;

static FrameColumn job_cols[] = {
	{{"id", 2}, W2Q_KIND_NUMBER},
	{{"queue", 5}, W2Q_KIND_TEXT},
	{{"payload", 7}, W2Q_KIND_JSON},
	{{"done", 4}, W2Q_KIND_BOOL},
};
static FrameRelation job_rel = {16384, {"public.jobs", 11}, 4, job_cols};

/* a job to send: a message when payload is set, else a row of job_rel */
typedef struct TestJob
{
	const char *target;
	const char *payload;
	const char *key;			/* message key, or NULL */
	const char *vals[4];		/* row values; NULL is SQL NULL */
} TestJob;

static void
on_ack(void *arg, LedgerTicket t, uint32_t n)
{
	(void) arg;
	if (t < MAX_TICKETS)
	{
		ack_jobs[t] += n;
		ack_calls[t]++;
	}
	ack_total++;
}

static void
reset_acks(void)
{
	memset(ack_jobs, 0, sizeof(ack_jobs));
	memset(ack_calls, 0, sizeof(ack_calls));
	ack_total = 0;
}

/* ---------------------------------------------------------------------
 * the server
 * ---------------------------------------------------------------------
 */

static int
free_port(void)
{
	struct sockaddr_in a;
	socklen_t	len = sizeof(a);
	int			fd = socket(AF_INET, SOCK_STREAM, 0);
	int			port = 0;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *) &a, sizeof(a)) == 0 &&
		getsockname(fd, (struct sockaddr *) &a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static void
stop_server(void)
{
	if (chk != NULL)
		redisFree(chk);
	chk = NULL;
	if (server_pid > 0)
	{
		kill(server_pid, SIGKILL);
		waitpid(server_pid, NULL, 0);
	}
	server_pid = -1;
}

static void
cleanup(void)
{
	stop_server();
	if (server_dir[0] != '\0')
	{
		unlink(server_sock);
		unlink(server_log);
		rmdir(server_dir);
	}
}

static void
spawn_server(int port, const char *password)
{
	char		portstr[16];
	const char *argv[20];
	int			n = 0;

	snprintf(portstr, sizeof(portstr), "%d", port);
	argv[n++] = "redis-server";
	argv[n++] = "--port";
	argv[n++] = portstr;
	argv[n++] = "--bind";
	argv[n++] = "127.0.0.1";
	argv[n++] = "--save";
	argv[n++] = "";
	argv[n++] = "--appendonly";
	argv[n++] = "no";
	argv[n++] = "--daemonize";
	argv[n++] = "no";
	argv[n++] = "--unixsocket";
	argv[n++] = server_sock;
	argv[n++] = "--unixsocketperm";
	argv[n++] = "700";
	if (password != NULL)
	{
		argv[n++] = "--requirepass";
		argv[n++] = password;
	}
	argv[n] = NULL;
	server_pid = fork();
	if (server_pid == 0)
	{
		int			fd = open(server_log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0)
		{
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], (char *const *) argv);
		_exit(127);
	}
}

/* connect the check client; true when the server answers */
static bool
connect_chk(void)
{
	struct timeval tv = {0, 200000};
	redisReply *r;

	if (chk != NULL)
		redisFree(chk);
	chk = redisConnectWithTimeout("127.0.0.1", server_port, tv);
	if (chk == NULL || chk->err)
		return false;
	if (server_password != NULL)
	{
		r = redisCommand(chk, "AUTH %s", server_password);
		if (r == NULL)
			return false;
		freeReplyObject(r);
	}
	r = redisCommand(chk, "PING");
	if (r == NULL)
		return false;
	freeReplyObject(r);
	return true;
}

/* start redis-server on port (0: a free one) and wait until it answers */
static bool
start_server(int port, const char *password)
{
	server_password = password;
	for (int attempt = 0; attempt < 5; attempt++)
	{
		server_port = port ? port : free_port();
		spawn_server(server_port, password);
		for (int i = 0; i < 200; i++)
		{
			struct timespec ts = {0, 50000000};

			if (waitpid(server_pid, NULL, WNOHANG) == server_pid)
			{
				server_pid = -1;	/* port taken? try another */
				break;
			}
			if (connect_chk())
				return true;
			nanosleep(&ts, NULL);
		}
		stop_server();
		if (port)
			break;
	}
	return false;
}

/* ---------------------------------------------------------------------
 * helpers
 * ---------------------------------------------------------------------
 */

static redisReply *
rcmd(const char *fmt,...)
{
	va_list		ap;
	redisReply *r;

	va_start(ap, fmt);
	r = redisvCommand(chk, fmt, ap);
	va_end(ap);
	return r;
}

static long long
rint_cmd(const char *fmt, const char *arg)
{
	redisReply *r = rcmd(fmt, arg);
	long long	v = (r && r->type == REDIS_REPLY_INTEGER) ? r->integer : -1;

	if (r)
		freeReplyObject(r);
	return v;
}

static FrameBytes
bytes(const char *s)
{
	FrameBytes	b = {s, s ? (uint32_t) strlen(s) : 0};

	return b;
}

static void
init_cfg(SinkConfig *cfg, const char *prefix)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->url.kind = SINK_REDIS_TCP;
	cfg->url.host = "127.0.0.1";
	cfg->url.port = server_port;
	cfg->target_prefix = prefix;
}

/* a job of tj, numbered seq */
static void
fill_job(FrameJob *job, FrameValue *vals, const TestJob *tj, uint32_t seq)
{
	memset(job, 0, sizeof(*job));
	job->seq = seq;
	job->target = bytes(tj->target);
	if (tj->payload != NULL)
	{
		job->is_message = true;
		job->payload = bytes(tj->payload);
		job->has_key = tj->key != NULL;
		job->key = bytes(tj->key);
		return;
	}
	for (int c = 0; c < 4; c++)
	{
		vals[c].isnull = tj->vals[c] == NULL;
		vals[c].data = bytes(tj->vals[c]);
	}
	job->rel = &job_rel;
	job->values = vals;
}

static int
send_txn(Sink *s, uint64_t lsn, LedgerTicket t, const TestJob *jobs, int n)
{
	FrameTxn	txn = {700, lsn, lsn + 40, INT64_C(1700000000000000), 0};
	int			rc = s->ops->begin(s, &txn, t);

	for (int i = 0; i < n && rc == SINK_OK; i++)
	{
		FrameValue	vals[4];
		FrameJob	job;

		fill_job(&job, vals, &jobs[i], (uint32_t) i);
		txn.njobs = (uint32_t) i + 1;
		rc = s->ops->job(s, &txn, &job, t);
	}
	if (rc == SINK_OK)
		rc = s->ops->commit(s, &txn, t);
	return rc;
}

/* one row job per transaction: lsn0 + i * 100, tickets t0 + i */
static int
send_many(Sink *s, const char *target, uint64_t lsn0, LedgerTicket t0,
		  int ntxns, int jobs_per_txn)
{
	for (int i = 0; i < ntxns; i++)
	{
		char		id[32];
		TestJob		tj[2] = {
			{target, NULL, NULL, {id, "q", "{}", "t"}},
			{target, NULL, NULL, {id, "r", NULL, "f"}}
		};
		int			rc;

		snprintf(id, sizeof(id), "%d", i);
		rc = send_txn(s, lsn0 + (uint64_t) i * 100, t0 + (LedgerTicket) i,
					  tj, jobs_per_txn);
		if (rc != SINK_OK)
			return rc;
	}
	return SINK_OK;
}

/* "id f=v f=v\n" per entry of key */
static char *
dump_stream(const char *key)
{
	redisReply *r = rcmd("XRANGE %s - +", key);
	size_t		cap = 256;
	size_t		len = 0;
	char	   *out = malloc(cap);

	out[0] = '\0';
	for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
	{
		redisReply *e = r->element[i];
		redisReply *f = e->element[1];
		size_t		need = strlen(e->element[0]->str) + 2;

		for (size_t j = 0; j < f->elements; j++)
			need += f->element[j]->len + 2;
		while (len + need + 1 > cap)
			out = realloc(out, cap *= 2);
		len += sprintf(out + len, "%s", e->element[0]->str);
		for (size_t j = 0; j + 1 < f->elements; j += 2)
			len += sprintf(out + len, " %s=%s", f->element[j]->str,
						   f->element[j + 1]->str);
		len += sprintf(out + len, "\n");
	}
	if (r)
		freeReplyObject(r);
	return out;
}

static bool
check_stream(const char *key, const char *want, const char *desc)
{
	char	   *got = dump_stream(key);
	bool		ok = unit_check_str(got, want, desc);

	free(got);
	return ok;
}

/* calls of XGROUP CREATE since CONFIG RESETSTAT */
static long
xgroup_create_calls(void)
{
	redisReply *r = rcmd("INFO commandstats");
	const char *p = r && r->str ? strstr(r->str, "cmdstat_xgroup|create:calls=") : NULL;
	long		n = p ? strtol(p + strlen("cmdstat_xgroup|create:calls="), NULL, 10) : 0;

	if (r)
		freeReplyObject(r);
	return n;
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

static bool
acked_all(LedgerTicket t0, int n, uint32_t jobs)
{
	for (int i = 0; i < n; i++)
		if (ack_calls[t0 + i] != 1 || ack_jobs[t0 + i] != jobs)
			return false;
	return true;
}

static int
drain(Sink *s)
{
	int			rc = s->ops->drain(s, DRAIN_MS, on_ack, NULL);

	if (rc != SINK_OK)
		printf("# %s\n", s->err);
	return rc;
}

/* ---------------------------------------------------------------------
 * the tests
 * ---------------------------------------------------------------------
 */

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

	init_cfg(&cfg, "");
	s = sink_redis_create(&cfg);
	reset_acks();
	unit_check(s->ops->connect(s) == SINK_OK, "connect over tcp");
	unit_check(send_txn(s, 23803720, 1, jobs, 3) == SINK_OK,
			   "begin, 3 row jobs, commit");
	unit_check(s->ops->pending_bytes(s) > 0, "pending_bytes counts what was appended");
	unit_check(s->ops->socket(s, &want_write) >= 0 && want_write,
			   "socket() wants to write before the flush");
	unit_check(drain(s) == SINK_OK, "drain");
	unit_check(ack_calls[1] == 1 && ack_jobs[1] == 3 && ack_total == 1,
			   "the transaction is acked once with its 3 jobs");
	unit_check(s->ops->pending_bytes(s) == 0, "pending_bytes is 0 after the ack");
	check_stream("public.jobs",
				 "23803720-0 id=42 queue=emails payload={\"to\": \"a@b.c\"} done=t\n"
				 "23803720-1 id=43 done=f\n"
				 "23803720-2 id=44 queue=sms payload=[1, 2]\n",
				 "entries have <commit_lsn>-<seq> IDs and the non-NULL columns");
	unit_check(send_txn(s, 23803800, 2, &jobs[3], 1) == SINK_OK && drain(s) == SINK_OK &&
			   ack_jobs[2] == 1, "a row of NULLs is delivered");
	check_stream("nulls", "23803800-0 =\n", "a row of NULLs gets one empty field");
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
	unit_check(s->ops->connect(s) == SINK_OK &&
			   send_txn(s, UINT64_C(0x100000000), 3, jobs, 3) == SINK_OK &&
			   drain(s) == SINK_OK && ack_jobs[3] == 3,
			   "a transaction with messages and a row, two streams");
	check_stream("w2q:emails",
				 "4294967296-0 payload=hello key=k1\n4294967296-1 payload=\n",
				 "message jobs carry payload, and key when there is one");
	check_stream("w2q:public.jobs", "4294967296-2 id=7 queue=x done=t\n",
				 "target_prefix prefixes the stream key");
	unit_check(rint_cmd("EXISTS %s", "emails") == 0,
			   "nothing is written without the prefix");
	s->ops->destroy(s);
}

static void
test_maxlen(void)
{
	SinkConfig	cfg;
	Sink	   *s;
	char	   *before;
	char	   *after;
	long long	len;

	init_cfg(&cfg, "");
	cfg.redis_maxlen = 10;
	s = sink_redis_create(&cfg);
	reset_acks();
	unit_check(s->ops->connect(s) == SINK_OK &&
			   send_many(s, "trimmed", 1000, 1, 300, 1) == SINK_OK &&
			   drain(s) == SINK_OK && acked_all(1, 300, 1),
			   "300 transactions with MAXLEN ~ 10 are acked");
	len = rint_cmd("XLEN %s", "trimmed");
	unit_check(len >= 10 && len < 300, "MAXLEN ~ 10 trims the stream (XLEN %lld)", len);
	before = dump_stream("trimmed");
	s->ops->disconnect(s);
	reset_acks();
	unit_check(s->ops->connect(s) == SINK_OK &&
			   send_many(s, "trimmed", 1000, 1, 300, 1) == SINK_OK &&
			   drain(s) == SINK_OK && acked_all(1, 300, 1),
			   "a replay of trimmed entries is acked, not taken for a foreign writer");
	after = dump_stream("trimmed");
	unit_check_str(after, before, "the replay leaves the trimmed stream unchanged");
	free(before);
	free(after);
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
	redisReply *r;

	r = rcmd("XGROUP CREATE grp.b workers $ MKSTREAM");
	freeReplyObject(r);
	freeReplyObject(rcmd("CONFIG RESETSTAT"));
	init_cfg(&cfg, "");
	cfg.redis_group = "workers";
	s = sink_redis_create(&cfg);
	reset_acks();
	unit_check(s->ops->connect(s) == SINK_OK &&
			   send_txn(s, 5000, 1, jobs, 3) == SINK_OK &&
			   send_txn(s, 5100, 2, jobs, 2) == SINK_OK &&
			   drain(s) == SINK_OK && ack_jobs[1] == 3 && ack_jobs[2] == 2,
			   "transactions with redis_group are acked, also where the group exists");
	unit_check(has_group("grp.a", "workers"), "the group is created on a new stream");
	unit_check(has_group("grp.b", "workers") && rint_cmd("XLEN %s", "grp.b") == 2,
			   "an existing group (BUSYGROUP) does not fail the transaction");
	unit_check(xgroup_create_calls() == 2,
			   "XGROUP CREATE is sent once per stream and connection");
	s->ops->disconnect(s);
	reset_acks();
	unit_check(s->ops->connect(s) == SINK_OK &&
			   send_txn(s, 5000, 1, jobs, 3) == SINK_OK &&
			   drain(s) == SINK_OK && ack_jobs[1] == 3,
			   "after a reconnect the groups are created again and the replay is acked");
	check_stream("grp.a", "5000-0 id=1 queue=a done=t\n5000-2 id=3 queue=a done=t\n"
				 "5100-0 id=1 queue=a done=t\n", "the group stream holds each entry once");
	s->ops->destroy(s);
}

static void
test_pipeline_and_replay(void)
{
	SinkConfig	cfg;
	Sink	   *s;
	char	   *before;
	char	   *after;
	size_t		pending;

	init_cfg(&cfg, "");
	s = sink_redis_create(&cfg);
	reset_acks();
	unit_check(s->ops->connect(s) == SINK_OK &&
			   send_many(s, "pipe", 5000000, 1000, 1000, 2) == SINK_OK,
			   "1000 transactions are sent without waiting");
	pending = s->ops->pending_bytes(s);
	unit_check(pending > 1000 * 100, "pending_bytes holds them all (%zu)", pending);
	unit_check(drain(s) == SINK_OK && acked_all(1000, 1000, 2) && ack_total == 1000,
			   "all 1000 are acked, each once with 2 jobs");
	unit_check(rint_cmd("XLEN %s", "pipe") == 2000, "the stream holds 2000 entries");
	before = dump_stream("pipe");
	s->ops->disconnect(s);
	reset_acks();
	unit_check(s->ops->connect(s) == SINK_OK &&
			   send_many(s, "pipe", 5000000, 1000, 1000, 2) == SINK_OK &&
			   drain(s) == SINK_OK && acked_all(1000, 1000, 2),
			   "a replay of the 1000 after a reconnect is acked again");
	after = dump_stream("pipe");
	unit_check(strcmp(before, after) == 0, "the replay leaves the stream unchanged");
	free(after);
	free(before);
	freeReplyObject(rcmd("XDEL pipe 5050000-1"));
	reset_acks();
	unit_check(send_many(s, "pipe", 5000000, 1000, 100, 2) == SINK_OK &&
			   drain(s) == SINK_OK && acked_all(1000, 100, 2),
			   "a replay over an entry deleted with XDEL is acked");
	unit_check(rint_cmd("XLEN %s", "pipe") == 1999, "and does not bring it back");
	s->ops->destroy(s);
}

/* a transaction of n jobs, polled as the bridge would */
static void
test_huge_txn(void)
{
	enum
	{
		NJOBS = 20000
	};
	SinkConfig	cfg;
	Sink	   *s;
	FrameTxn	txn = {9, 7000000000, 7000000040, 0, 0};
	size_t		max_pending = 0;
	int			rc;

	init_cfg(&cfg, "");
	s = sink_redis_create(&cfg);
	reset_acks();
	for (int round = 0; round < 2; round++)
	{
		rc = s->ops->connect(s);
		rc = rc ? rc : s->ops->begin(s, &txn, 1);
		for (int i = 0; i < NJOBS && rc == SINK_OK; i++)
		{
			char		id[16];
			TestJob		tj = {"huge", NULL, NULL, {id, "q", "{\"n\": 1}", "t"}};
			FrameValue	vals[4];
			FrameJob	job;

			snprintf(id, sizeof(id), "%d", i);
			fill_job(&job, vals, &tj, (uint32_t) i);
			rc = s->ops->job(s, &txn, &job, 1);
			if (i % 1000 == 999 && rc == SINK_OK)
				rc = s->ops->poll(s, 50, on_ack, NULL);
			if (s->ops->pending_bytes(s) > max_pending)
				max_pending = s->ops->pending_bytes(s);
		}
		unit_check(rc == SINK_OK && s->ops->pending_bytes(s) < max_pending,
				   "inside a huge transaction pending_bytes drops as XADDs are queued (round %d)", round);
		unit_check(s->ops->commit(s, &txn, 1) == SINK_OK && drain(s) == SINK_OK &&
				   ack_calls[1] == round + 1 && ack_jobs[1] == (uint32_t) NJOBS * (round + 1),
				   "a transaction of %d jobs is acked (round %d)", NJOBS, round);
		s->ops->disconnect(s);
	}
	unit_check(rint_cmd("XLEN %s", "huge") == NJOBS, "its replay adds nothing");
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

/* begin, n small row jobs to one stream, commit; polled as the bridge would */
static int
send_big_txn(Sink *s, const FrameTxn *txn, uint32_t n)
{
	int			rc = s->ops->begin(s, txn, 1);

	for (uint32_t i = 0; i < n && rc == SINK_OK; i++)
	{
		char		id[16];
		TestJob		tj = {"big", NULL, NULL, {id, NULL, NULL, NULL}};
		FrameValue	vals[4];
		FrameJob	job;

		snprintf(id, sizeof(id), "%" PRIu32, i);
		fill_job(&job, vals, &tj, i);
		rc = s->ops->job(s, txn, &job, 1);
		if (i % 1000 == 999 && rc == SINK_OK)
			rc = s->ops->poll(s, 0, on_ack, NULL);
	}
	if (rc == SINK_OK)
		rc = s->ops->commit(s, txn, 1);
	if (rc == SINK_OK)
		rc = s->ops->poll(s, 0, on_ack, NULL);
	return rc;
}

/*
 * The EXEC reply of a transaction of W2Q_TEST_BIG_TXN jobs (default 1M; set
 * it lower under valgrind) is read without building it: the peak RSS grows
 * by less than 32 MB while it is read, where a full reply tree is ~100 MB.
 * The same for its replay, whose every element is an error to verify.  The
 * peak is not measured under AddressSanitizer.
 */
static void
test_big_exec_reply(void)
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
		long		base;
		long		peak;
		long		growth;
		int			rc;

		reset_acks();
		rc = s->ops->connect(s);
		if (rc == SINK_OK)
			rc = send_big_txn(s, &txn, n);
		base = reset_peak_rss() ? status_kb("VmRSS") : status_kb("VmHWM");
		if (rc == SINK_OK)
			rc = drain(s);
		peak = status_kb("VmHWM");
		growth = peak > base ? peak - base : 0;
		unit_check(rc == SINK_OK && ack_calls[1] == 1 && ack_jobs[1] == n,
				   "a transaction of %" PRIu32 " jobs is acked%s", n,
				   round ? " when replayed" : "");
		if (MEASURE_RSS)
			unit_check(base > 0 && growth < 32 * 1024,
					   "reading its EXEC reply raises the peak RSS by %ld kB (< 32 MB)",
					   growth);
		s->ops->disconnect(s);
	}
	unit_check(rint_cmd("XLEN %s", "big") == (long long) n,
			   "the stream holds its %" PRIu32 " entries once", n);
	freeReplyObject(rcmd("DEL big"));
	s->ops->destroy(s);
}

/* ---------------------------------------------------------------------
 * a fake server, for EXEC replies Redis does not give
 * ---------------------------------------------------------------------
 */

/*
 * The name of the first command in buf (RESP: *N, then N times $len and the
 * bytes) into name; returns the bytes it takes, 0 if it is not all there.
 */
static size_t
parse_command(const char *buf, size_t len, char *name, size_t namesz)
{
	const char *p = buf;
	const char *end = buf + len;
	char	   *q;
	long		argc;

	if (p == end || *p != '*' || memchr(p, '\n', end - p) == NULL)
		return 0;
	argc = strtol(p + 1, &q, 10);
	p = q + 2;
	name[0] = '\0';
	for (long i = 0; i < argc; i++)
	{
		long		alen;

		if (p >= end || *p != '$' || memchr(p, '\n', end - p) == NULL)
			return 0;
		alen = strtol(p + 1, &q, 10);
		p = q + 2;
		if (end - p < alen + 2)
			return 0;
		if (i == 0)
			snprintf(name, namesz, "%.*s", (int) alen, p);
		p += alen + 2;
	}
	return (size_t) (p - buf);
}

/* serve one client: PING, MULTI and queued commands, EXEC from replies */
static void
fake_serve(int fd, const char *const *exec_replies)
{
	char		buf[65536];
	size_t		len = 0;
	ssize_t		got;

	while ((got = read(fd, buf + len, sizeof(buf) - len)) > 0)
	{
		size_t		used;
		char		name[32];

		len += (size_t) got;
		while ((used = parse_command(buf, len, name, sizeof(name))) > 0)
		{
			const char *out = "+QUEUED\r\n";

			if (strcmp(name, "PING") == 0)
				out = "+PONG\r\n";
			else if (strcmp(name, "MULTI") == 0)
				out = "+OK\r\n";
			else if (strcmp(name, "EXEC") == 0)
				out = *exec_replies ? *exec_replies++ : "*-1\r\n";
			if (write(fd, out, strlen(out)) < 0)
				return;
			memmove(buf, buf + used, len - used);
			len -= used;
		}
	}
}

/* start a fake server on a free port in a child process; returns its pid */
static pid_t
start_fake_server(int *port, const char *const *exec_replies)
{
	struct sockaddr_in a;
	socklen_t	alen = sizeof(a);
	int			lfd = socket(AF_INET, SOCK_STREAM, 0);
	pid_t		pid;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *) &a, sizeof(a)) != 0 ||
		listen(lfd, 1) != 0 ||
		getsockname(lfd, (struct sockaddr *) &a, &alen) != 0)
	{
		if (lfd >= 0)
			close(lfd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	fflush(stdout);
	pid = fork();
	if (pid == 0)
	{
		int			fd;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if ((fd = accept(lfd, NULL, NULL)) >= 0)
			fake_serve(fd, exec_replies);
		_exit(0);
	}
	close(lfd);
	return pid;
}

/* elements of an EXEC reply that are arrays, nested ones too */
static void
test_nested_exec_elements(void)
{
	static const char *const replies[] = {
		/* XGROUP CREATE answered by nested arrays (accepted), XADD by an ID */
		"*2\r\n*3\r\n*1\r\n*2\r\n:1\r\n+deep\r\n$-1\r\n*0\r\n$5\r\n300-0\r\n",
		/* XADD answered by an array */
		"*1\r\n*2\r\n*1\r\n:2\r\n$1\r\nx\r\n",
		NULL
	};
	TestJob		tj = {"nested", NULL, NULL, {"1", "x", NULL, "t"}};
	SinkConfig	cfg;
	Sink	   *s;
	int			port = 0;
	pid_t		pid = start_fake_server(&port, replies);
	int			rc;

	if (!unit_check(pid > 0, "a fake server starts"))
		return;
	init_cfg(&cfg, "");
	cfg.url.port = port;
	cfg.redis_group = "g";
	s = sink_redis_create(&cfg);
	reset_acks();
	unit_check(s->ops->connect(s) == SINK_OK && send_txn(s, 300, 1, &tj, 1) == SINK_OK &&
			   drain(s) == SINK_OK && ack_calls[1] == 1 && ack_jobs[1] == 1,
			   "nested arrays in an element of an EXEC reply are read past");
	rc = send_txn(s, 400, 2, &tj, 1);
	if (rc == SINK_OK)
		rc = s->ops->drain(s, DRAIN_MS, on_ack, NULL);
	unit_check(rc == SINK_FATAL && ack_calls[2] == 0,
			   "an array answering an XADD is SINK_FATAL");
	unit_check_str(s->err, "could not add entry 400-0 to stream \"nested\": an array",
				   "  with the error naming the stream and the entry");
	s->ops->destroy(s);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void
expect_fatal(Sink *s, uint64_t lsn, const char *target, const char *want)
{
	TestJob		tj = {target, NULL, NULL, {"1", "x", NULL, "t"}};
	int			rc;

	reset_acks();
	rc = send_txn(s, lsn, 1, &tj, 1);
	if (rc == SINK_OK)
		rc = s->ops->drain(s, DRAIN_MS, on_ack, NULL);
	unit_check(rc == SINK_FATAL && ack_total == 0,
			   "stream \"%s\": SINK_FATAL and no ack", target);
	unit_check_str(s->err, want, "  with the error naming the stream and the entry");
}

static void
test_foreign_writer(void)
{
	SinkConfig	cfg;
	Sink	   *s;
	TestJob		tj = {"foreign2", NULL, NULL, {"1", "x", NULL, "t"}};
	char		want[512];

	freeReplyObject(rcmd("XADD foreign1 1700000000000-0 f v"));
	init_cfg(&cfg, "");
	s = sink_redis_create(&cfg);
	s->ops->connect(s);
	expect_fatal(s, 23803720, "foreign1",
				 "stream \"foreign1\" already holds entries up to 1700000000000-0 that wal2queue did not write (entry 23803720-0); another writer uses this stream");

	s->ops->connect(s);
	reset_acks();
	unit_check(send_txn(s, 100, 1, &tj, 1) == SINK_OK && drain(s) == SINK_OK &&
			   ack_total == 1, "our entry 100-0 lands in foreign2");
	freeReplyObject(rcmd("XADD foreign2 * f v"));
	{
		redisReply *r = rcmd("XINFO STREAM foreign2");
		const char *last = "?";

		for (size_t i = 0; r && i + 1 < r->elements; i += 2)
			if (strcmp(r->element[i]->str, "last-generated-id") == 0)
				last = r->element[i + 1]->str;
		snprintf(want, sizeof(want), "stream \"foreign2\" already holds entries up to %s that wal2queue did not write (entry 200-0); another writer uses this stream",
				 last);
		freeReplyObject(r);
	}
	expect_fatal(s, 200, "foreign2", want);

	freeReplyObject(rcmd("SET wrongtype x"));
	s->ops->connect(s);
	expect_fatal(s, 777, "wrongtype",
				 "could not add entry 777-0 to stream \"wrongtype\": WRONGTYPE Operation against a key holding the wrong kind of value");
	s->ops->destroy(s);
}

static void
test_server_dies(void)
{
	SinkConfig	cfg;
	Sink	   *s;
	int			rc = SINK_OK;
	int			port = server_port;
	char		want[128];
	TestJob		tj = {"dies", NULL, NULL, {"1", "x", NULL, "t"}};

	init_cfg(&cfg, "");
	s = sink_redis_create(&cfg);
	reset_acks();
	unit_check(s->ops->connect(s) == SINK_OK &&
			   send_many(s, "dies", 100, 1, 50, 1) == SINK_OK && drain(s) == SINK_OK,
			   "50 transactions delivered before the server dies");
	stop_server();
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
	unit_check(start_server(port, NULL), "the server is back on port %d", port);
	reset_acks();
	unit_check(s->ops->connect(s) == SINK_OK && send_txn(s, 100, 7, &tj, 1) == SINK_OK &&
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
	cfg.url.path = server_sock;
	cfg.url.db = 2;
	s = sink_redis_create(&cfg);
	reset_acks();
	unit_check(s->ops->connect(s) == SINK_OK && send_txn(s, 42, 1, &tj, 1) == SINK_OK &&
			   drain(s) == SINK_OK && ack_jobs[1] == 1,
			   "a unix socket URL with db=2 delivers");
	unit_check(rint_cmd("EXISTS %s", "viaunix") == 0, "nothing lands in database 0");
	freeReplyObject(rcmd("SELECT 2"));
	check_stream("viaunix", "42-0 id=1 queue=x done=t\n", "the entry is in database 2");
	freeReplyObject(rcmd("SELECT 0"));
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
	if (rc == SINK_OK && send_txn(s, 10, 1, &tj, 1) == SINK_OK && drain(s) == SINK_OK &&
		ack_total != 1)
		rc = -1;
	unit_check(rc == want_rc, "%s", desc);
	if (want_rc != SINK_OK)
	{
		unit_check(strncmp(s->err, "authentication to Redis failed: ", 32) == 0,
				   "  with \"%s\"", s->err);
		unit_check(password == NULL || strstr(s->err, password) == NULL,
				   "  without the password in it");
	}
	s->ops->destroy(s);
}

static void
test_auth(void)
{
	stop_server();
	if (!unit_check(start_server(0, "s3cret"), "a server with requirepass"))
		return;
	freeReplyObject(rcmd("ACL SETUSER w2q on >userpw ~* &* +@all"));
	try_auth(NULL, "s3cret", SINK_OK, "the URL's password is used");
	try_auth(NULL, "wrong-pw", SINK_FATAL, "a wrong password is SINK_FATAL");
	try_auth(NULL, NULL, SINK_FATAL, "no password where one is needed is SINK_FATAL");
	setenv("WAL2QUEUE_REDIS_PASSWORD", "s3cret", 1);
	try_auth(NULL, NULL, SINK_OK, "WAL2QUEUE_REDIS_PASSWORD is used when the URL has none");
	try_auth(NULL, "wrong-pw", SINK_FATAL, "the URL's password wins over the environment");
	unsetenv("WAL2QUEUE_REDIS_PASSWORD");
	try_auth("w2q", "userpw", SINK_OK, "an ACL user and password (AUTH user pass)");
	try_auth("w2q", "s3cret", SINK_FATAL, "an ACL user with a wrong password is SINK_FATAL");
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	snprintf(server_dir, sizeof(server_dir), "/tmp/w2q-sink-redis-XXXXXX");
	if (mkdtemp(server_dir) == NULL)
	{
		perror("mkdtemp");
		return 1;
	}
	snprintf(server_sock, sizeof(server_sock), "%s/redis.sock", server_dir);
	snprintf(server_log, sizeof(server_log), "%s/redis.log", server_dir);
	atexit(cleanup);
	if (!unit_check(start_server(0, NULL), "redis-server starts"))
		return unit_done();
	test_rows();
	test_messages_and_prefix();
	test_maxlen();
	test_group();
	test_pipeline_and_replay();
	test_huge_txn();
	test_big_exec_reply();
	test_nested_exec_elements();
	test_foreign_writer();
	test_unix_and_db();
	test_server_dies();
	test_auth();
	return unit_done();
}
