/*-------------------------------------------------------------------------
 *
 * redis_conn.c
 *		Connecting to Redis: the connection (bounded by a timeout), AUTH,
 *		SELECT, PING, loading the function library (FUNCTION LOAD REPLACE,
 *		every time: a restarted or flushed server gets it back), then
 *		non-blocking mode.  Also what an error reply means: a pause that
 *		goes away by itself, or a refusal.
 *
 * Each step is synchronous; together they are bounded by about
 * SINK_MAX_WAIT_MS (each step gets what is left of it, at least
 * MIN_STEP_MS), so connect() never holds the bridge's loop for long.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errbuf.h"
#include "redis_sink.h"

/*
 * Errors that go away by themselves: the server is busy running a script,
 * loading, out of memory, has no master, is a read-only replica, lacks
 * replicas (min-replicas-to-write), cannot persist, lost our function, or
 * has maxclients clients already (it answers a new connection so, then
 * closes it: like "too many connections" for PostgreSQL).
 */
static bool
is_maxclients(const char *msg)
{
	return strncmp(msg, "ERR max number of clients reached", 33) == 0;
}

int
redis_error_rc(const char *msg)
{
	static const char *const pauses[] = {
		"LOADING", "BUSY", "OOM", "MASTERDOWN", "TRYAGAIN", "READONLY",
		"NOSCRIPT", "NOREPLICAS", "MISCONF", "CLUSTERDOWN"
	};

	if (msg == NULL)
		return SINK_FATAL;
	for (size_t i = 0; i < sizeof(pauses) / sizeof(pauses[0]); i++)
	{
		size_t		n = strlen(pauses[i]);

		if (strncmp(msg, pauses[i], n) == 0 && (msg[n] == ' ' || msg[n] == '\0'))
			return SINK_RETRY;
	}
	/* FUNCTION FLUSH (or a restart) removed the library: load it again */
	if (strstr(msg, "Function not found") != NULL)
		return SINK_RETRY;
	if (is_maxclients(msg))
		return SINK_RETRY;
	return SINK_FATAL;
}

#define MIN_STEP_MS 100

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval
ms_timeval(int64_t ms)
{
	struct timeval tv = {(time_t) (ms / 1000), (suseconds_t) ((ms % 1000) * 1000)};

	return tv;
}

int
redis_lost(Sink *s)
{
	RedisSink  *rs = s->priv;

	return errbuf_set(s->err, SINK_ERRLEN, SINK_RETRY, "lost connection to Redis: %s",
					  rs->ctx->errstr[0] ? rs->ctx->errstr : "unknown error");
}

static bool
is_auth_error(const char *msg)
{
	return strncmp(msg, "NOAUTH", 6) == 0 || strncmp(msg, "WRONGPASS", 9) == 0;
}

/* run one command synchronously; a reply error fails with what */
static int
sync_step(Sink *s, int64_t deadline, int argc, const char **argv,
		  const char *what)
{
	RedisSink  *rs = s->priv;
	size_t		argvlen[5];
	int64_t		left = deadline - now_ms();
	redisReply *r;
	int			rc = SINK_OK;

	if (redisSetTimeout(rs->ctx, ms_timeval(left > MIN_STEP_MS ? left : MIN_STEP_MS)) != REDIS_OK)
		return redis_lost(s);
	for (int i = 0; i < argc; i++)
		argvlen[i] = strlen(argv[i]);
	if ((r = redisCommandArgv(rs->ctx, argc, argv, argvlen)) == NULL)
	{
		if (rs->ctx->err == REDIS_ERR_IO &&
			(errno == EAGAIN || errno == EWOULDBLOCK))
			return errbuf_set(s->err, SINK_ERRLEN, SINK_RETRY,
							  "Redis did not answer %s within %d ms",
							  argv[0], SINK_MAX_WAIT_MS);
		return redis_lost(s);
	}
	if (r->type == REDIS_REPLY_ERROR)
	{
		size_t		n = strlen(r->str);

		if (n > 0 && r->str[n - 1] == '.')
			r->str[n - 1] = '\0';	/* "...disabled." */
		if (is_maxclients(r->str))	/* the first command, AUTH too */
			rc = errbuf_set(s->err, SINK_ERRLEN, SINK_RETRY,
							"Redis refuses new connections: %s (it has maxclients clients already)", r->str);
		else if (strcmp(argv[0], "AUTH") == 0 || is_auth_error(r->str))
			rc = errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
							"authentication to Redis failed: %s; give the password in the --sink URL (redis://[user]:password@host) or in WAL2QUEUE_REDIS_PASSWORD",
							r->str);
		else if (strncmp(r->str, "ERR unknown command", 19) == 0)
			rc = errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
							"%s: %s (wal2queue needs Redis 7.0 or later)", what, r->str);
		else
			rc = errbuf_set(s->err, SINK_ERRLEN, redis_error_rc(r->str),
							"%s: %s", what, r->str);
	}
	freeReplyObject(r);
	return rc;
}

/*
 * A Redis that evicts keys under memory pressure (maxmemory-policy allkeys-*)
 * would delete streams of jobs already confirmed to PostgreSQL, and the
 * progress record, without a word: refuse it.  noeviction refuses writes
 * instead (a pause), volatile-* evicts only keys with a TTL (wal2queue sets
 * none).  A Redis that does not answer INFO (renamed, an ACL) is not judged.
 */
static int
check_eviction(Sink *s, int64_t deadline)
{
	RedisSink  *rs = s->priv;
	int64_t		left = deadline - now_ms();
	redisReply *r;
	const char *p;
	char		policy[32] = "";
	int			rc = SINK_OK;

	if (redisSetTimeout(rs->ctx, ms_timeval(left > MIN_STEP_MS ? left : MIN_STEP_MS)) != REDIS_OK)
		return redis_lost(s);
	if ((r = redisCommand(rs->ctx, "INFO memory")) == NULL)
		return redis_lost(s);
	if (r->type == REDIS_REPLY_STRING &&
		(p = strstr(r->str, "maxmemory_policy:")) != NULL)
		sscanf(p + 17, "%31[a-z-]", policy);
	if (strncmp(policy, "allkeys-", 8) == 0)
		rc = errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						"Redis evicts keys when it reaches maxmemory (maxmemory-policy %s): "
						"it could delete streams of jobs already confirmed to PostgreSQL, and "
						"wal2queue's progress record; set maxmemory-policy noeviction (or a "
						"volatile-* policy: wal2queue sets no TTL) on the Redis the jobs go to",
						policy);
	freeReplyObject(r);
	return rc;
}

static int
handshake(Sink *s, int64_t deadline)
{
	RedisSink  *rs = s->priv;
	const SinkUrl *u = &s->cfg->url;
	const char *password = u->password;
	char		db[16];
	char		what[64];
	const char *argv[5];
	int			rc;

	if (password == NULL)
		password = getenv("WAL2QUEUE_REDIS_PASSWORD");
	if (password != NULL && password[0] != '\0')
	{
		int			argc = 0;

		argv[argc++] = "AUTH";
		if (u->user != NULL && u->user[0] != '\0')
			argv[argc++] = u->user;
		argv[argc++] = password;
		if ((rc = sync_step(s, deadline, argc, argv, "")) != SINK_OK)
			return rc;
	}
	if (u->db != 0)
	{
		snprintf(db, sizeof(db), "%d", u->db);
		snprintf(what, sizeof(what), "could not select Redis database %d", u->db);
		argv[0] = "SELECT";
		argv[1] = db;
		if ((rc = sync_step(s, deadline, 2, argv, what)) != SINK_OK)
			return rc;
	}
	argv[0] = "PING";
	if ((rc = sync_step(s, deadline, 1, argv, "Redis is not ready")) != SINK_OK)
		return rc;
	if ((rc = check_eviction(s, deadline)) != SINK_OK)
		return rc;
	argv[0] = "FUNCTION";
	argv[1] = "LOAD";
	argv[2] = "REPLACE";
	argv[3] = redis_library_text();
	if ((rc = sync_step(s, deadline, 4, argv, "could not load the wal2queue function library into Redis")) != SINK_OK)
		return rc;
	if (rs->orphan_key != NULL)
	{
		const char *del[2] = {"DEL", rs->orphan_key};

		if ((rc = sync_step(s, deadline, 2, del, "could not delete an abandoned staging list")) != SINK_OK)
			return rc;
		free(rs->orphan_key);
		rs->orphan_key = NULL;
	}
	return SINK_OK;
}

static int
set_nonblocking(Sink *s)
{
	RedisSink  *rs = s->priv;
	int			flags = fcntl(rs->ctx->fd, F_GETFL);

	if (flags < 0 || fcntl(rs->ctx->fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_RETRY,
						  "could not set the Redis socket to non-blocking mode: %s",
						  strerror(errno));
	rs->ctx->flags &= ~REDIS_BLOCK;
	if (rs->ctx->connection_type == REDIS_CONN_TCP)
		(void) redisEnableKeepAlive(rs->ctx);
	return SINK_OK;
}

/* connect, authenticate, load the library; rs->ctx is NULL on failure */
int
redis_conn_open(Sink *s)
{
	RedisSink  *rs = s->priv;
	const SinkUrl *u = &s->cfg->url;
	int64_t		deadline = now_ms() + SINK_MAX_WAIT_MS;
	struct timeval tv = ms_timeval(SINK_MAX_WAIT_MS);
	char		where[512];
	int			rc;

	if (u->kind == SINK_REDIS_UNIX)
	{
		snprintf(where, sizeof(where), "%s", u->path ? u->path : "");
		rs->ctx = redisConnectUnixWithTimeout(where, tv);
	}
	else if (u->kind == SINK_REDIS_TCP)
	{
		const char *host = u->host ? u->host : "localhost";
		int			port = u->port ? u->port : 6379;

		snprintf(where, sizeof(where), "%s:%d", host, port);
		rs->ctx = redisConnectWithTimeout(host, port, tv);
	}
	else
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						  "the Redis sink needs a redis:// or unix:// URL");
	if (rs->ctx == NULL || rs->ctx->err)
		rc = errbuf_set(s->err, SINK_ERRLEN, SINK_RETRY,
						"could not connect to Redis at %s: %s",
						where, rs->ctx ? rs->ctx->errstr : "out of memory");
	else if ((rc = handshake(s, deadline)) == SINK_OK)
		rc = set_nonblocking(s);
	if (rc != SINK_OK && rs->ctx != NULL)
	{
		redisFree(rs->ctx);
		rs->ctx = NULL;
	}
	return rc;
}
