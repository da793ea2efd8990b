/*-------------------------------------------------------------------------
 *
 * redis_harness.c
 *		Real redis-server processes and sink drivers for the Redis sink's
 *		tests (see redis_harness.h).
 *
 *-------------------------------------------------------------------------
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "redis_harness.h"

RServer		srv = {.pid = -1};
redisContext *chk;
const char *srv_password;

uint32_t	ack_jobs[MAX_TICKETS];
int			ack_calls[MAX_TICKETS];
int			ack_total;

static char base_dir[64];

static FrameColumn job_cols[] = {
	{{"id", 2}, W2Q_KIND_NUMBER},
	{{"queue", 5}, W2Q_KIND_TEXT},
	{{"payload", 7}, W2Q_KIND_JSON},
	{{"done", 4}, W2Q_KIND_BOOL},
};
static FrameRelation job_rel = {16384, {"public.jobs", 11}, 4, job_cols};

/* ---------------------------------------------------------------------
 * servers
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
cleanup(void)
{
	char		cmd[128];

	server_stop(&srv);
	if (base_dir[0] != '\0')
	{
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", base_dir);
	}
}

bool
harness_init(void)
{
	signal(SIGPIPE, SIG_IGN);
	snprintf(base_dir, sizeof(base_dir), "/tmp/w2q-sink-redis-XXXXXX");
	if (mkdtemp(base_dir) == NULL)
	{
		perror("mkdtemp");
		return false;
	}
	atexit(cleanup);
	return true;
}

static void
spawn(RServer *rsv, const char *password, const char *const *extra)
{
	char		portstr[16];
	const char *argv[64];
	int			n = 0;

	snprintf(portstr, sizeof(portstr), "%d", rsv->port);
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
	argv[n++] = "--dir";
	argv[n++] = rsv->dir;
	argv[n++] = "--unixsocket";
	argv[n++] = rsv->sock;
	argv[n++] = "--unixsocketperm";
	argv[n++] = "700";
	if (password != NULL)
	{
		argv[n++] = "--requirepass";
		argv[n++] = password;
	}
	for (int i = 0; extra && extra[i] && n < 62; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	fflush(stdout);
	rsv->pid = fork();
	if (rsv->pid == 0)
	{
		int			fd = open(rsv->log, O_WRONLY | O_CREAT | O_APPEND, 0600);

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

static bool
answers(const RServer *rsv, const char *password)
{
	struct timeval tv = {0, 200000};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", rsv->port, tv);
	redisReply *r = NULL;
	bool		ok = false;

	if (c != NULL && !c->err)
	{
		if (password != NULL)
			freeReplyObject(redisCommand(c, "AUTH %s", password));
		r = redisCommand(c, "PING");
		ok = r != NULL && r->type == REDIS_REPLY_STATUS;
	}
	if (r)
		freeReplyObject(r);
	if (c)
		redisFree(c);
	return ok;
}

bool
server_start(RServer *rsv, const char *name, int port, const char *password,
			 const char *const *extra)
{
	snprintf(rsv->name, sizeof(rsv->name), "%s", name);
	snprintf(rsv->dir, sizeof(rsv->dir), "%s/%s", base_dir, name);
	snprintf(rsv->sock, sizeof(rsv->sock), "%s/%s.sock", base_dir, name);
	snprintf(rsv->log, sizeof(rsv->log), "%s/%s.log", base_dir, name);
	(void) mkdir(rsv->dir, 0700);
	if (rsv == &srv)
		srv_password = password;
	for (int attempt = 0; attempt < 5; attempt++)
	{
		rsv->port = port ? port : free_port();
		spawn(rsv, password, extra);
		for (int i = 0; i < 200; i++)
		{
			struct timespec ts = {0, 50000000};

			if (waitpid(rsv->pid, NULL, WNOHANG) == rsv->pid)
			{
				rsv->pid = -1;	/* port taken? try another */
				break;
			}
			if (answers(rsv, password))
				return rsv == &srv ? chk_connect() : true;
			nanosleep(&ts, NULL);
		}
		server_stop(rsv);
		if (port)
			break;
	}
	return false;
}

void
server_stop(RServer *rsv)
{
	if (rsv == &srv && chk != NULL)
	{
		redisFree(chk);
		chk = NULL;
	}
	if (rsv->pid > 0)
	{
		kill(rsv->pid, SIGKILL);
		waitpid(rsv->pid, NULL, 0);
	}
	rsv->pid = -1;
}

bool
chk_connect(void)
{
	struct timeval tv = {5, 0};
	redisReply *r;

	if (chk != NULL)
		redisFree(chk);
	chk = redisConnectWithTimeout("127.0.0.1", srv.port, tv);
	if (chk == NULL || chk->err)
		return false;
	if (srv_password != NULL)
		freeReplyObject(redisCommand(chk, "AUTH %s", srv_password));
	r = redisCommand(chk, "PING");
	if (r == NULL)
		return false;
	freeReplyObject(r);
	return true;
}

/* ---------------------------------------------------------------------
 * checks
 * ---------------------------------------------------------------------
 */

redisReply *
rcmd(const char *fmt,...)
{
	va_list		ap;
	redisReply *r;

	va_start(ap, fmt);
	r = redisvCommand(chk, fmt, ap);
	va_end(ap);
	return r;
}

void
rdo(const char *fmt,...)
{
	va_list		ap;
	redisReply *r;

	va_start(ap, fmt);
	r = redisvCommand(chk, fmt, ap);
	va_end(ap);
	if (r)
		freeReplyObject(r);
}

long long
rint_cmd(const char *fmt, const char *arg)
{
	redisReply *r = rcmd(fmt, arg);
	long long	v = (r && r->type == REDIS_REPLY_INTEGER) ? r->integer : -1;

	if (r)
		freeReplyObject(r);
	return v;
}

char *
record_field(const char *prefix, const char *slot, const char *field)
{
	redisReply *r = rcmd("HGET %swal2queue:progress:%s %s", prefix, slot, field);
	char	   *v = strdup(r && r->type == REDIS_REPLY_STRING ? r->str : "");

	if (r)
		freeReplyObject(r);
	return v;
}

long
command_calls(const char *name)
{
	redisReply *r = rcmd("INFO commandstats");
	char		pat[64];
	const char *p;
	long		n = 0;

	snprintf(pat, sizeof(pat), "cmdstat_%s:calls=", name);
	p = r && r->str ? strstr(r->str, pat) : NULL;
	if (p)
		n = strtol(p + strlen(pat), NULL, 10);
	if (r)
		freeReplyObject(r);
	return n;
}

char *
dump_stream(redisContext *c, const char *key)
{
	redisReply *r = redisCommand(c, "XRANGE %s - +", key);
	size_t		cap = 256;
	size_t		len = 0;
	char	   *out = malloc(cap);

	out[0] = '\0';
	for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
	{
		redisReply *f = r->element[i]->element[1];
		size_t		need = 2;

		for (size_t j = 0; j < f->elements; j++)
			need += f->element[j]->len + 2;
		while (len + need + 1 > cap)
			out = realloc(out, cap *= 2);
		for (size_t j = 0; j + 1 < f->elements; j += 2)
			len += sprintf(out + len, "%s%s=%s", j ? " " : "", f->element[j]->str,
						   f->element[j + 1]->str);
		len += sprintf(out + len, "\n");
	}
	if (r)
		freeReplyObject(r);
	return out;
}

/* ---------------------------------------------------------------------
 * driving a sink
 * ---------------------------------------------------------------------
 */

void
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

void
reset_acks(void)
{
	memset(ack_jobs, 0, sizeof(ack_jobs));
	memset(ack_calls, 0, sizeof(ack_calls));
	ack_total = 0;
}

bool
acked_all(LedgerTicket t0, int n, uint32_t jobs)
{
	for (int i = 0; i < n; i++)
		if (ack_calls[t0 + i] != 1 || ack_jobs[t0 + i] != jobs)
			return false;
	return true;
}

void
init_cfg(SinkConfig *cfg, const char *prefix)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->url.kind = SINK_REDIS_TCP;
	cfg->url.host = "127.0.0.1";
	cfg->url.port = srv.port;
	cfg->target_prefix = prefix;
	cfg->slot = "jobs";
	cfg->redis_wait_timeout_ms = 1000;
}

void
init_source(SinkSource *src, const char *sysid, const char *slot)
{
	memset(src, 0, sizeof(*src));
	snprintf(src->sysid, sizeof(src->sysid), "%s", sysid);
	src->timeline = 1;
	snprintf(src->dbname, sizeof(src->dbname), "postgres");
	snprintf(src->slot, sizeof(src->slot), "%s", slot);
}

int
start_session(Sink *s, const SinkSource *src, uint64_t from, unsigned flags)
{
	int			rc = s->ops->connect(s);

	if (rc == SINK_OK)
		rc = s->ops->replay_begin(s, src, from, flags);
	if (rc != SINK_OK)
		printf("# %s\n", s->err);
	return rc;
}

static FrameBytes
bytes(const char *s)
{
	FrameBytes	b = {s, s ? (uint32_t) strlen(s) : 0};

	return b;
}

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

int
send_txn(Sink *s, uint64_t lsn, LedgerTicket t, const TestJob *jobs, int n)
{
	return send_txn_id(s, lsn, t, 700, INT64_C(1700000000000000), jobs, n);
}

int
send_txn_id(Sink *s, uint64_t lsn, LedgerTicket t, uint32_t xid, int64_t commit_time_us,
			const TestJob *jobs, int n)
{
	FrameTxn	txn = {xid, lsn, lsn + 40, commit_time_us, 0};
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

int
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

int
drain(Sink *s)
{
	int			rc = s->ops->drain(s, DRAIN_MS, on_ack, NULL);

	if (rc != SINK_OK)
		printf("# %s\n", s->err);
	return rc;
}
