/*-------------------------------------------------------------------------
 *
 * redis_conn.c
 *		Connecting to Redis: the connection (bounded by a timeout), AUTH,
 *		SELECT, PING, loading the function library (FUNCTION LOAD REPLACE,
 *		every time: a restarted or flushed server gets it back), then
 *		non-blocking mode.  Also what an error reply means: a pause that
 *		goes away by itself, or a refusal; the eviction watch, which
 *		holds every ack until Redis shows it evicted nothing (INFO); and
 *		the sweep of the staging lists a stopped bridge left.
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
#include "log.h"
#include "redis_sink.h"

/*
 * Errors that go away by themselves: the server is busy running a script,
 * loading, out of memory, has no master, is a read-only replica, lacks
 * replicas (min-replicas-to-write), cannot persist, lost our function,
 * killed our function (FUNCTION KILL), or has maxclients clients already (it answers a new connection so, then
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
		"NOSCRIPT", "NOREPLICAS", "MISCONF", "CLUSTERDOWN",
		"UNBLOCKED"			/* WAIT (--redis-wait) ended by a failover: attack 494 */
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
	/*
	 * FUNCTION KILL (or SCRIPT KILL), what Redis tells clients to run when
	 * it answers BUSY: Redis kills only a function that wrote nothing, and
	 * the chained call after it is refused, so the replay sends it again
	 * (test/t/427)
	 */
	if (strstr(msg, "killed by user") != NULL)
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

/* ---------------------------------------------------------------------
 * the eviction watch
 *
 * A Redis that evicts keys under memory pressure (maxmemory-policy
 * allkeys-*) deletes streams of jobs already confirmed to PostgreSQL, and
 * the progress record, without a word.  The policy can change at any time
 * (CONFIG SET: an operator's fix for a full noeviction Redis), so it is not
 * enough to look at connect.  Every ack of the sink is held (redis_hold_ack)
 * until an INFO sent after the call it answers shows that the policy does
 * not evict our keys and that evicted_keys did not move since the last look:
 * nothing is confirmed to PostgreSQL without that evidence.  One INFO is in
 * flight at a time, pipelined behind the calls (it never blocks the loop);
 * with nothing to ack, one a second, so a change is noticed while idle.
 *
 * noeviction refuses writes instead (a pause); volatile-* evicts only keys
 * with a TTL, and wal2queue sets one only on staging lists, whose loss the
 * deliver call detects (STAGEGAP).  Neither can evict a key without a TTL,
 * so evictions seen when both looks said noeviction or volatile-*, at least
 * one volatile-* (an operator switching a full noeviction Redis to
 * volatile-lru), are someone else's keys; noeviction at both looks evicts
 * nothing, so a rise then proves an evicting policy in between.  Any other
 * eviction stops the bridge (exit 1).  A Redis that does not answer INFO at
 * connect (renamed, an ACL) is not watched; the bridge says so.
 * ---------------------------------------------------------------------
 */

#define EVICT_IDLE_MS 1000

/* what INFO says: the policy, evicted_keys, the server's run_id */
typedef struct RedisInfo
{
	char		policy[32];
	char		run_id[48];
	long long	evicted;
	bool		has_evicted;
	char		role[16];		/* replication: master, slave; "" unknown */
	char		master[300];	/* a replica's primary, host:port */
} RedisInfo;

static void
info_parse(const char *text, RedisInfo *info)
{
	const char *p;

	memset(info, 0, sizeof(*info));
	if ((p = strstr(text, "maxmemory_policy:")) != NULL)
		sscanf(p + 17, "%31[a-z-]", info->policy);
	if ((p = strstr(text, "\nevicted_keys:")) != NULL)
		info->has_evicted = sscanf(p + 14, "%lld", &info->evicted) == 1;
	if ((p = strstr(text, "run_id:")) != NULL)
		sscanf(p + 7, "%47[0-9a-f]", info->run_id);
	if ((p = strstr(text, "\nrole:")) != NULL)
		sscanf(p + 6, "%15[a-z]", info->role);
	if ((p = strstr(text, "\nmaster_host:")) != NULL)
	{
		char		host[256] = "";
		int			port = 0;
		const char *q = strstr(text, "\nmaster_port:");

		sscanf(p + 13, "%255[^\r\n]", host);
		if (q != NULL)
			sscanf(q + 13, "%d", &port);
		snprintf(info->master, sizeof(info->master), "%s:%d", host, port);
	}
}

/*
 * A replica takes no writes of ours, even a writable one (replica-read-only
 * no): its own writes never reach its primary, and its next full resync
 * drops them.  Checked at every connect and by every INFO of the eviction
 * watch, which vouches for the acks of the calls sent before it: Redis
 * turned into a replica meanwhile (REPLICAOF, an old primary rejoining)
 * confirms nothing.  A pause, as READONLY is: it may be promoted again.
 */
static int
role_judge(Sink *s, const RedisInfo *info, bool at_connect)
{
	if (info->role[0] == '\0' || strcmp(info->role, "master") == 0)
		return SINK_OK;
	return errbuf_set(s->err, SINK_ERRLEN, SINK_RETRY,
					  "Redis is a replica (role:%s) of %s: writes there never reach its primary and a "
					  "resync drops them, so wal2queue delivers only to a primary; waiting for it to be "
					  "promoted (point --sink at the primary)%s",
					  info->role, info->master[0] ? info->master : "an unknown primary",
					  at_connect ? "" : "; it became one since the last check: nothing delivered since is confirmed");
}

/*
 * Judge INFO against what it said last time on the same server (at connect
 * run_id is new; the periodic INFO leaves out the server section, so the
 * server is the connection's).
 */
static int
evict_judge(Sink *s, const RedisInfo *info, bool at_connect)
{
	RedisSink  *rs = s->priv;
	bool		volatile_now = strncmp(info->policy, "volatile-", 9) == 0;
	bool		ttl_only_now = volatile_now || strcmp(info->policy, "noeviction") == 0;
	bool		same = rs->evict_known &&
		(!at_connect || strcmp(rs->run_id, info->run_id) == 0);

	if (strncmp(info->policy, "allkeys-", 8) == 0)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						  "Redis evicts keys when it reaches maxmemory (maxmemory-policy %s%s): "
						  "it could delete streams of jobs already confirmed to PostgreSQL, and "
						  "wal2queue's progress record%s; set maxmemory-policy noeviction (or a "
						  "volatile-* policy: wal2queue sets no TTL) on the Redis the jobs go to%s",
						  info->policy, at_connect ? "" : ", set while the bridge ran",
						  at_connect ? "" : "; nothing delivered since is confirmed",
						  at_connect ? "" : ", check that its streams still hold the jobs "
						  "confirmed before (INFO stats evicted_keys), then restart the bridge");
	if (same && info->has_evicted && info->evicted > rs->evicted_keys &&
		!(rs->evict_ttl_only && ttl_only_now &&
		  (rs->evict_volatile || volatile_now)))
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						  "Redis evicted %lld keys since wal2queue last checked it (INFO stats "
						  "evicted_keys %lld, was %lld; maxmemory-policy now %s): a policy that "
						  "evicts any key was in force meanwhile, so streams of jobs already "
						  "confirmed to PostgreSQL may be gone, and nothing delivered since is "
						  "confirmed; set maxmemory-policy noeviction, check the streams against "
						  "the jobs committed (send again what is missing), then restart the bridge",
						  info->evicted - rs->evicted_keys, info->evicted, rs->evicted_keys,
						  info->policy[0] ? info->policy : "unknown");
	if (at_connect)
		snprintf(rs->run_id, sizeof(rs->run_id), "%s", info->run_id);
	rs->evict_known = info->has_evicted && rs->run_id[0] != '\0';
	rs->evict_ttl_only = ttl_only_now;
	rs->evict_volatile = volatile_now;
	rs->evicted_keys = info->evicted;
	return SINK_OK;
}

/* at connect: the policy, the baseline of evicted_keys */
static int
check_eviction(Sink *s, int64_t deadline)
{
	RedisSink  *rs = s->priv;
	int64_t		left = deadline - now_ms();
	redisReply *r;
	RedisInfo	info;
	int			rc = SINK_OK;

	if (redisSetTimeout(rs->ctx, ms_timeval(left > MIN_STEP_MS ? left : MIN_STEP_MS)) != REDIS_OK)
		return redis_lost(s);
	if ((r = redisCommand(rs->ctx, "INFO server memory stats replication")) == NULL)
		return redis_lost(s);
	rs->evict_watch = false;
	if (r->type == REDIS_REPLY_STRING)
	{
		info_parse(r->str, &info);
		if ((rc = role_judge(s, &info, true)) == SINK_OK &&
			(rc = evict_judge(s, &info, true)) == SINK_OK)
			rs->evict_watch = info.has_evicted && info.policy[0] != '\0' &&
				info.role[0] != '\0';
	}
	if (rc == SINK_OK && !rs->evict_watch)
		log_msg(LOG_WARNING, "Redis did not tell its maxmemory-policy and evicted_keys (INFO: %s): "
				"wal2queue cannot notice if it evicts streams of jobs already confirmed, nor if it "
				"becomes a replica (its replication role); allow INFO to the bridge's Redis user",
				r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
	freeReplyObject(r);
	return rc;
}

/* an ack of the sink: held until the next INFO vouches for it */
void
redis_hold_ack(void *arg, LedgerTicket t, uint32_t n)
{
	Sink	   *s = arg;
	RedisSink  *rs = s->priv;

	if (!rs->evict_watch)
	{
		rs->up_ack(rs->up_arg, t, n);
		return;
	}
	if (rs->nheld == rs->held_cap)
	{
		uint32_t	ncap = rs->held_cap ? rs->held_cap * 2 : 64;
		RHeldAck   *held = realloc(rs->held, ncap * sizeof(RHeldAck));

		if (held == NULL)
		{
			rs->hold_oom = true;	/* poll fails: nothing more confirmed */
			return;
		}
		rs->held = held;
		rs->held_cap = ncap;
	}
	rs->held[rs->nheld++] = (RHeldAck) {t, n};
}

/* forget the held acks (a session ends) and the INFO in flight */
void
redis_evict_forget(RedisSink *rs)
{
	rs->nheld = 0;
	if (rs->ctx == NULL)
		rs->evict_inflight = false;
}

/*
 * Send an INFO behind the calls in flight if acks wait for it, or (force)
 * if the last one is a second old; at most one at a time.
 */
int
redis_evict_send(Sink *s, bool force)
{
	RedisSink  *rs = s->priv;
	RespBuf		head = {0};
	RCall	   *call;
	int64_t		now = now_ms();
	int			rc;

	if (!rs->evict_watch || rs->evict_inflight || rs->ctx == NULL ||
		(rs->nheld == 0 && !(force && now - rs->evict_sent_ms >= EVICT_IDLE_MS)))
		return SINK_OK;
	if ((call = calloc(1, sizeof(RCall))) == NULL || !resp_arg_str(&head, "INFO") ||
		!resp_arg_str(&head, "memory") || !resp_arg_str(&head, "stats") ||
		!resp_arg_str(&head, "replication"))
	{
		free(call);
		resp_free(&head);
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL, "out of memory");
	}
	call->kind = RCALL_EVICT;
	rc = pipe_send(s, call, &head, NULL, 0, NULL);
	resp_free(&head);
	if (rc == SINK_OK)
	{
		rs->evict_inflight = true;
		rs->evict_sent_ms = now;
	}
	return rc;
}

/* INFO's reply: judge it; if all is well, pass on the acks it vouches for */
int
redis_evict_on_reply(Sink *s, RCall *call, const redisReply *r)
{
	RedisSink  *rs = s->priv;
	RedisInfo	info;
	uint32_t	n = rs->nheld;
	int			rc;

	(void) call;
	rs->evict_inflight = false;
	if (r->type == REDIS_REPLY_ERROR)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_RETRY,
						  "could not check Redis for evicted keys: %s", r->str);
	if (r->type != REDIS_REPLY_STRING)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						  "unexpected reply from Redis to INFO");
	info_parse(r->str, &info);
	if (!info.has_evicted || info.policy[0] == '\0' || info.role[0] == '\0')
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						  "Redis INFO no longer tells maxmemory_policy, evicted_keys and role");
	if ((rc = role_judge(s, &info, false)) != SINK_OK ||
		(rc = evict_judge(s, &info, false)) != SINK_OK)
		return rc;
	/* every ack held now answers a call sent before this INFO */
	rs->nheld = 0;
	for (uint32_t i = 0; i < n && rs->up_ack != NULL; i++)
		rs->up_ack(rs->up_arg, rs->held[i].ticket, rs->held[i].n);
	return SINK_OK;
}

/* ---------------------------------------------------------------------
 * the sweep
 *
 * A bridge killed while it staged a transaction (kill -9, the OOM killer,
 * a crash) leaves its staging list behind, and the restarted bridge stages
 * the transaction again under a new key: a crash loop piled up a copy per
 * restart (test/t/426).  So every session, once the bridge holds the slot
 * (replay_begin: only the bridge that holds it stages for it), walks the
 * keyspace with SCAN MATCH <prefix>wal2queue:stage:<slot>:* TYPE list, a
 * step of SWEEP_COUNT keys per reply, pipelined like every other call (the
 * loop never waits), and UNLINKs every list found that no call of this
 * process may still use (own_list).  Such a list is a dead process's, or a
 * zombie's still running elsewhere, whose deliver call the record refuses
 * anyway (and to which a lost list is STAGEGAP).  A refused SCAN or UNLINK
 * (an ACL) is a warning: those lists expire after a day.
 * W2Q_TEST_SWEEP_COUNT sets the COUNT of a step, so that a test can make a
 * sweep outlast the staging of a transaction.
 * ---------------------------------------------------------------------
 */

#define SWEEP_COUNT "1000"

static bool
key_is(const char *k, const char *key, size_t len)
{
	return k != NULL && strlen(k) == len && memcmp(k, key, len) == 0;
}

/* is key a staging list of this process that a call may still use? */
static bool
own_list(const RedisSink *rs, const char *key, size_t len)
{
	if (key_is(rs->build.stage_key, key, len))
		return true;
	for (uint32_t i = 0; i < rs->nitems; i++)
		if (key_is(rs->items[i].stage, key, len))
			return true;
	for (const RCall *c = rs->head; c != NULL; c = c->next)
		for (uint32_t i = 0; c->kind == RCALL_DELIVER && i < c->nitems; i++)
			if (key_is(c->items[i].stage, key, len))
				return true;
	return false;
}

static int
sweep_scan(Sink *s, const char *cursor)
{
	RedisSink  *rs = s->priv;
	const char *count = getenv("W2Q_TEST_SWEEP_COUNT");
	RespBuf		head = {0};
	RCall	   *call;
	int			rc;

	if (count == NULL || *count == '\0')
		count = SWEEP_COUNT;
	if ((call = calloc(1, sizeof(RCall))) == NULL ||
		!resp_arg_str(&head, "SCAN") || !resp_arg_str(&head, cursor) ||
		!resp_arg_str(&head, "MATCH") || !resp_arg_str(&head, rs->sweep_match) ||
		!resp_arg_str(&head, "COUNT") || !resp_arg_str(&head, count) ||
		!resp_arg_str(&head, "TYPE") || !resp_arg_str(&head, "list"))
	{
		free(call);
		resp_free(&head);
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL, "out of memory");
	}
	call->kind = RCALL_SWEEP;
	rc = pipe_send(s, call, &head, NULL, 0, NULL);
	resp_free(&head);
	return rc;
}

/* the session's slot is known (replay_begin): start its sweep */
int
redis_sweep_start(Sink *s)
{
	RedisSink  *rs = s->priv;
	const char *prefix = s->cfg->target_prefix ? s->cfg->target_prefix : "";
	size_t		len = strlen(prefix) + strlen("wal2queue:stage:") + strlen(rs->src.slot) + 2;
	char	   *m;

	free(rs->sweep_prefix);
	free(rs->sweep_match);
	rs->sweep_prefix = malloc(len);
	rs->sweep_match = m = malloc(2 * len + 1);
	if (rs->sweep_prefix == NULL || m == NULL)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL, "out of memory");
	snprintf(rs->sweep_prefix, len, "%swal2queue:stage:%s:", prefix, rs->src.slot);
	/* the pattern matches the prefix literally: its glob characters escaped */
	for (const char *p = rs->sweep_prefix; *p; p++)
	{
		if (strchr("*?[]\\", *p) != NULL)
			*m++ = '\\';
		*m++ = *p;
	}
	*m++ = '*';
	*m = '\0';
	return sweep_scan(s, "0");
}

/* UNLINK what a SCAN reply found that this process does not use */
static int
sweep_unlink(Sink *s, const redisReply *keys)
{
	RedisSink  *rs = s->priv;
	size_t		plen = strlen(rs->sweep_prefix);
	RespBuf		head = {0};
	RCall	   *call;
	int			rc;

	for (size_t i = 0; i < keys->elements; i++)
	{
		const redisReply *k = keys->element[i];

		if (k->type != REDIS_REPLY_STRING || k->len < plen ||
			memcmp(k->str, rs->sweep_prefix, plen) != 0 ||
			own_list(rs, k->str, k->len))
			continue;
		if ((head.nargs == 0 && !resp_arg_str(&head, "UNLINK")) ||
			!resp_arg(&head, k->str, k->len))
		{
			resp_free(&head);
			return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL, "out of memory");
		}
	}
	if (head.nargs == 0)
		return SINK_OK;
	if ((call = calloc(1, sizeof(RCall))) == NULL)
	{
		resp_free(&head);
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL, "out of memory");
	}
	call->kind = RCALL_UNLINK;
	rc = pipe_send(s, call, &head, NULL, 0, NULL);
	resp_free(&head);
	return rc;
}

/* a reply of the sweep: UNLINK what SCAN found, then SCAN on */
int
redis_sweep_on_reply(Sink *s, RCall *call, const redisReply *r)
{
	RedisSink  *rs = s->priv;
	int			rc;

	if (r->type == REDIS_REPLY_ERROR)
	{
		log_msg(LOG_WARNING, "could not delete the staging lists left in Redis for slot \"%s\" "
				"(%s: %s): they expire after a day; allow SCAN and UNLINK to the bridge's Redis user",
				rs->src.slot, call->kind == RCALL_SWEEP ? "SCAN" : "UNLINK", r->str);
		return SINK_OK;
	}
	if (call->kind == RCALL_UNLINK)
	{
		if (r->type == REDIS_REPLY_INTEGER && r->integer > 0)
			log_msg(LOG_INFO, "deleted %lld staging list%s left in Redis for slot \"%s\" "
					"by a bridge that stopped while it staged", r->integer,
					r->integer == 1 ? "" : "s", rs->src.slot);
		return SINK_OK;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		r->element[0]->type != REDIS_REPLY_STRING ||
		r->element[1]->type != REDIS_REPLY_ARRAY)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL, "unexpected reply from Redis to SCAN");
	if ((rc = sweep_unlink(s, r->element[1])) != SINK_OK)
		return rc;
	if (strcmp(r->element[0]->str, "0") == 0)
		return SINK_OK;
	return sweep_scan(s, r->element[0]->str);
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
	while (rs->norphans > 0)
	{
		const char *del[2] = {"DEL", rs->orphans[rs->norphans - 1]};

		if ((rc = sync_step(s, deadline, 2, del, "could not delete an abandoned staging list")) != SINK_OK)
			return rc;
		free(rs->orphans[--rs->norphans]);
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
