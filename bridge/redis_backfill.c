/*-------------------------------------------------------------------------
 *
 * redis_backfill.c
 *		The Redis side of --backfill: the wal2queue_backfill4 function (in
 *		the same library as deliver, loaded with it) and the sink's two
 *		synchronous backfill calls.
 *
 * The backfill state lives in the slot's progress record, beside what
 * deliver keeps there: backfill_lsn (the consistent point), backfill_seq
 * (pages recorded), backfill_snapshot, backfill_condition, backfill_table,
 * backfill_key, backfill_done ("0"/"1"), backfill_rows, backfill_storage,
 * backfill_label, backfill_keydef, backfill_table_oid, backfill_tables_done.
 * One call of
 * wal2queue_backfill4 writes one page: it checks the record's source and
 * that the record is still at the page's predecessor (same backfill_lsn,
 * backfill_seq = prev), type-checks every key, XADDs the entries and writes
 * the state, all in one atomic call.  A page written already (a replay
 * after a lost reply) is refused as STALE, never written twice.
 *
 * Arguments: KEYS[1] the progress record; ARGV: mode ("new", "accept" or
 * ""), sysid, timeline, db, slot, maxlen, group, prev seq, seq, lsn
 * ("%X/%X"), snapshot, condition, table, key, done, rows, storage, label,
 * keydef, table oid, tables done, the options that choose transactions
 * (progress_options(), written as lsn_options with lsn), the number of
 * entries, then each entry as key, seq, number of fields,
 * field, value, ...
 * Reply: {verdict, detail...}: OK; NORECORD; SOURCE sysid timeline db slot;
 * STALE backfill_lsn backfill_seq; WRONGTYPE key type.
 * (wal2queue_backfill3 had no options argument.)
 *
 * A new backfill that writes the record's lsn (no record, another source's
 * taken over with --accept-new-source, or one of this source behind the
 * consistent point) writes lsn_options with it, and drops the record's last
 * transaction (txn_*) unless it is this source's: another source's
 * transaction proves nothing about this one, and a record without one is
 * judged by the options its lsn was written with (redis_history.c
 * record_no_txn(), test/t/600), in the same call.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backfill.h"
#include "errbuf.h"
#include "log.h"
#include "lsn.h"
#include "redis_sink.h"

#define BACKFILL_CALL_TIMEOUT_MS 60000

/*
 * The backfill function.  It is appended to redis_progress.c's library, so
 * bf_types() runs deliver's room check (noroom(), bound: the page's entry
 * count): functions do not roll back, a full stream is refused (FULL) before
 * the page's first write, as a wrong key type is (WRONGTYPE).
 */
static const char *const backfill_lua =
"local function bf_lsnhex(t)\n"
"  local hi, lo = string.match(t or '', '^(%x+)/(%x+)$')\n"
"  if not hi or #hi > 8 or #lo > 8 then return nil end\n"
"  return string.format('%08X%08X', tonumber(hi, 16), tonumber(lo, 16))\n"
"end\n"
"local function bf_types(pkey, argv)\n"
"  local types, starts, i, n = {}, {}, 24, tonumber(argv[23])\n"
"  for e = 1, n do\n"
"    local k = argv[i]\n"
"    if k == pkey then return nil, k, 'progress record' end\n"
"    if types[k] == nil then\n"
"      local t = redis.call('TYPE', k)['ok']\n"
"      if t ~= 'stream' and t ~= 'none' then return nil, k, t end\n"
"      if t == 'stream' and noroom(k, n) then return nil, k, 'full', argv[i + 1] end\n"
"      types[k] = t\n"
"    end\n"
"    starts[e] = i\n"
"    i = i + 3 + 2 * tonumber(argv[i + 2])\n"
"  end\n"
"  return types, starts\n"
"end\n"
"local function bf_xadd(argv, i, types)\n"
"  local k = argv[i]\n"
"  if types[k] == 'none' and argv[7] ~= '' then\n"
"    redis.call('XGROUP', 'CREATE', k, argv[7], '0', 'MKSTREAM')\n"
"  end\n"
"  types[k] = 'stream'\n"
"  local a = {k}\n"
"  if argv[6] ~= '' then a[2] = 'MAXLEN'; a[3] = '~'; a[4] = argv[6] end\n"
"  local n = #a\n"
"  a[n + 1] = '*'; a[n + 2] = '_lsn'; a[n + 3] = argv[10]; a[n + 4] = '_seq'\n"
"  a[n + 5] = argv[i + 1]; a[n + 6] = '_backfill'; a[n + 7] = '1'\n"
"  n = n + 7\n"
"  for j = 1, 2 * tonumber(argv[i + 2]) do a[n + j] = argv[i + 2 + j] end\n"
"  redis.call('XADD', unpack(a))\n"
"end\n"
"local function backfill(keys, argv)\n"
"  local pkey, mode = keys[1], argv[1]\n"
"  local fresh = mode == 'new' or mode == 'accept'\n"
"  local t = redis.call('TYPE', pkey)['ok']\n"
"  if t ~= 'hash' and t ~= 'none' then return {'WRONGTYPE', pkey, t} end\n"
"  local r = redis.call('HMGET', pkey, 'sysid', 'timeline', 'db', 'slot', 'lsn',\n"
"                       'backfill_lsn', 'backfill_seq', 'txn_end', 'txn_source')\n"
"  local other = r[5] and (r[1] ~= argv[2] or r[2] ~= argv[3] or r[3] ~= argv[4] or r[4] ~= argv[5])\n"
"  if not r[5] and not fresh then return {'NORECORD'} end\n"
"  if other and mode ~= 'accept' then\n"
"    return {'SOURCE', r[1] or '', r[2] or '', r[3] or '', r[4] or ''}\n"
"  end\n"
"  if not fresh and (r[6] ~= argv[10] or r[7] ~= argv[8]) then\n"
"    return {'STALE', r[6] or '', r[7] or ''}\n"
"  end\n"
"  local types, starts, bad, seq = bf_types(pkey, argv)\n"
"  if not types and bad == 'full' then return {'FULL', starts, seq} end\n"
"  if not types then return {'WRONGTYPE', starts, bad} end\n"
"  for _, i in ipairs(starts) do bf_xadd(argv, i, types) end\n"
"  local now = redis.call('TIME')\n"
"  local h = {'backfill_lsn', argv[10], 'backfill_seq', argv[9], 'backfill_snapshot', argv[11],\n"
"             'backfill_condition', argv[12], 'backfill_table', argv[13], 'backfill_key', argv[14],\n"
"             'backfill_done', argv[15], 'backfill_rows', argv[16],\n"
"             'backfill_storage', argv[17], 'backfill_label', argv[18],\n"
"             'backfill_keydef', argv[19], 'backfill_table_oid', argv[20],\n"
"             'backfill_tables_done', argv[21],\n"
"             'updated_at', now[1] .. '.' .. string.format('%06d', tonumber(now[2]))}\n"
"  if fresh and (not r[5] or other or (bf_lsnhex(r[5]) or '') < bf_lsnhex(argv[10])) then\n"
"    local n = #h\n"
"    h[n + 1] = 'sysid'; h[n + 2] = argv[2]; h[n + 3] = 'timeline'; h[n + 4] = argv[3]\n"
"    h[n + 5] = 'db'; h[n + 6] = argv[4]; h[n + 7] = 'slot'; h[n + 8] = argv[5]\n"
"    h[n + 9] = 'lsn'; h[n + 10] = argv[10]; h[n + 11] = 'lsn_options'; h[n + 12] = argv[22]\n"
"    if r[8] and r[9] ~= argv[2] .. '/' .. argv[3] then\n"
"      redis.call('HDEL', pkey, 'txn_end', 'txn_xid', 'txn_commit_time', 'txn_source', 'txn_options')\n"
"    end\n"
"  end\n"
"  redis.call('HSET', pkey, unpack(h))\n"
"  return {'OK'}\n"
"end\n"
"redis.register_function{function_name = '" REDIS_FN_BACKFILL "', callback = backfill, flags = {'no-cluster'}}\n";

const char *
redis_library_text(void)
{
	static char *full = NULL;

	if (full == NULL)
	{
		size_t		a = strlen(redis_library);
		size_t		b = strlen(backfill_lua);

		if ((full = malloc(a + b + 1)) == NULL)
			return redis_library;
		memcpy(full, redis_library, a);
		memcpy(full + a, backfill_lua, b + 1);
	}
	return full;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* one command on the (non-blocking) connection, waiting for its reply */
static int
sync_call(Sink *s, int argc, const char **argv, const size_t *lens,
		  redisReply **out)
{
	RedisSink  *rs = s->priv;
	int64_t		deadline = mono_ms() + BACKFILL_CALL_TIMEOUT_MS;
	void	   *reply = NULL;
	int			done = 0;

	*out = NULL;
	if (rs->ctx == NULL)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_RETRY, "not connected to Redis");
	if (rs->head != NULL)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						  "the Redis sink has calls in flight during the backfill");
	if (redisAppendCommandArgv(rs->ctx, argc, argv, lens) != REDIS_OK)
		return redis_lost(s);
	while (reply == NULL)
	{
		struct pollfd pfd = {.fd = rs->ctx->fd,.events = POLLIN};
		int64_t		left = deadline - mono_ms();

		if (!done && redisBufferWrite(rs->ctx, &done) != REDIS_OK)
			return redis_lost(s);
		if (redisGetReplyFromReader(rs->ctx, &reply) != REDIS_OK)
			return redis_lost(s);
		if (reply != NULL)
			break;
		if (left <= 0)
			return errbuf_set(s->err, SINK_ERRLEN, SINK_RETRY,
							  "Redis did not answer %s within %d ms", argv[0],
							  BACKFILL_CALL_TIMEOUT_MS);
		if (!done)
			pfd.events |= POLLOUT;
		if (poll(&pfd, 1, left > 1000 ? 1000 : (int) left) < 0 && errno != EINTR)
			return errbuf_set(s->err, SINK_ERRLEN, SINK_RETRY, "poll failed: %s",
							  strerror(errno));
		if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) &&
			redisBufferRead(rs->ctx) != REDIS_OK)
			return redis_lost(s);
	}
	*out = reply;
	if ((*out)->type == REDIS_REPLY_ERROR)
	{
		int			rc = errbuf_set(s->err, SINK_ERRLEN, redis_error_rc((*out)->str),
									"Redis %s failed: %s", argv[0], (*out)->str);

		freeReplyObject(*out);
		*out = NULL;
		return rc;
	}
	return SINK_OK;
}

static char *
field_dup(const redisReply *r, size_t i)
{
	const redisReply *e = r->element[i];

	return strdup(e->type == REDIS_REPLY_STRING ? e->str : "");
}

int
redis_backfill_read(Sink *s, const SinkSource *src, unsigned flags, BackfillState *st)
{
	char		key[256];
	const char *argv[] = {"HMGET", key, "sysid", "timeline", "db", "slot",
		"backfill_lsn", "backfill_seq", "backfill_rows", "backfill_done",
		"backfill_snapshot", "backfill_condition", "backfill_table", "backfill_key", "lsn",
		"backfill_storage", "backfill_label", "backfill_keydef", "backfill_table_oid",
		"backfill_tables_done"};
	size_t		lens[20];
	redisReply *r;
	int			rc;
	char		tl[16];

	snprintf(key, sizeof(key), "%swal2queue:progress:%s",
			 s->cfg->target_prefix ? s->cfg->target_prefix : "", src->slot);
	for (int i = 0; i < 20; i++)
		lens[i] = strlen(argv[i]);
	backfill_state_free(st);
	if ((rc = sync_call(s, 20, argv, lens, &r)) != SINK_OK)
		return rc;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 18)
	{
		freeReplyObject(r);
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL, "unexpected reply from Redis to HMGET");
	}
	snprintf(tl, sizeof(tl), "%" PRIu32, src->timeline);
	if (r->element[0]->type == REDIS_REPLY_STRING &&
		(strcmp(r->element[0]->str, src->sysid) != 0 ||
		 r->element[1]->type != REDIS_REPLY_STRING || strcmp(r->element[1]->str, tl) != 0 ||
		 r->element[2]->type != REDIS_REPLY_STRING || strcmp(r->element[2]->str, src->dbname) != 0))
	{
		if (flags & SINK_BACKFILL_ACCEPT)
		{
			/* --accept-new-source: the record is taken over by the first page */
			st->other_source = true;
			freeReplyObject(r);
			return SINK_OK;
		}
		rc = errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						"Redis progress record \"%s\" belongs to another source (system identifier %s, timeline %s, database \"%s\"), this bridge streams system identifier %s, timeline %" PRIu32 ", database \"%s\"; after a deliberate failover or restore start with --accept-new-source (or --recreate-lost-slot)",
						key, r->element[0]->str,
						r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str : "",
						r->element[2]->type == REDIS_REPLY_STRING ? r->element[2]->str : "",
						src->sysid, src->timeline, src->dbname);
		freeReplyObject(r);
		return rc;
	}
	if (r->element[0]->type == REDIS_REPLY_STRING)
	{
		st->record = true;
		if (r->element[12]->type == REDIS_REPLY_STRING &&
			!lsn_parse(r->element[12]->str, strlen(r->element[12]->str), &st->record_lsn))
			st->record_lsn = 0;
	}
	if (r->element[4]->type == REDIS_REPLY_STRING)
	{
		st->present = true;
		if (!lsn_parse(r->element[4]->str, strlen(r->element[4]->str), &st->lsn))
			rc = errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
							"Redis progress record \"%s\" has a bad backfill_lsn \"%s\"",
							key, r->element[4]->str);
		st->seq = r->element[5]->type == REDIS_REPLY_STRING ? strtoull(r->element[5]->str, NULL, 10) : 0;
		st->rows = r->element[6]->type == REDIS_REPLY_STRING ? strtoull(r->element[6]->str, NULL, 10) : 0;
		st->done = r->element[7]->type == REDIS_REPLY_STRING && strcmp(r->element[7]->str, "1") == 0;
		st->snapshot = field_dup(r, 8);
		st->condition = field_dup(r, 9);
		st->table = field_dup(r, 10);
		st->key = field_dup(r, 11);
		st->storage = field_dup(r, 13);
		st->label = field_dup(r, 14);
		st->keydef = field_dup(r, 15);
		/* the tables by oid: absent in an older bridge's record */
		st->by_oid = r->element[16]->type == REDIS_REPLY_STRING;
		st->table_oid = st->by_oid ? (uint32_t) strtoul(r->element[16]->str, NULL, 10) : 0;
		st->tables_done = field_dup(r, 17);
		if (!st->snapshot || !st->condition || !st->table || !st->key || !st->storage ||
			!st->label || !st->keydef || !st->tables_done)
			rc = errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL, "out of memory");
	}
	freeReplyObject(r);
	return rc;
}

/* a backfilled row's stream key, or an error naming what stops it */
static char *
entry_key(Sink *s, const FrameJob *job)
{
	const char *prefix = s->cfg->target_prefix ? s->cfg->target_prefix : "";
	FrameBytes	target = job->target;
	char	   *key;

	for (uint32_t i = 0; i < job->rel->ncols; i++)
	{
		const FrameBytes *n = &job->rel->cols[i].name;
		const char *why = redis_reserved_column(job->rel, n);

		if (why != NULL)
		{
			errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
					   "cannot backfill table %.*s to Redis (column %.*s): %s; exclude the table or rename the column",
					   (int) job->rel->name.len, job->rel->name.data, (int) n->len, n->data, why);
			return NULL;
		}
	}
	if (target.len == 0)
		target = job->rel->name;
	if ((key = malloc(strlen(prefix) + target.len + job->rel->name.len + 1)) == NULL)
	{
		errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL, "out of memory");
		return NULL;
	}
	sprintf(key, "%s%.*s", prefix, (int) target.len, target.data);
	/* a route value among the keys any bridge keeps for itself: the table's stream */
	if (redis_reserved_key(key, strlen(key), strlen(prefix)))
	{
		log_msg(LOG_WARNING, "backfilled job %" PRIu32 " of table %.*s routes to \"%s\", "
				"among the keys wal2queue keeps for itself: written to the table's stream instead",
				job->seq, (int) job->rel->name.len, job->rel->name.data, key);
		sprintf(key, "%s%.*s", prefix, (int) job->rel->name.len, job->rel->name.data);
		if (redis_reserved_key(key, strlen(key), strlen(prefix)))
		{
			errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
					   "cannot backfill table %.*s to Redis: its stream \"%s\" would be among the keys wal2queue keeps for itself",
					   (int) job->rel->name.len, job->rel->name.data, key);
			free(key);
			return NULL;
		}
	}
	return key;
}

static const char *
verdict_text(const redisReply *r, size_t i)
{
	return i < r->elements && r->element[i]->type == REDIS_REPLY_STRING ? r->element[i]->str : "";
}

static int
backfill_verdict(Sink *s, const redisReply *r, const char *pkey, uint64_t prev_seq)
{
	const char *v;

	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						  "unexpected reply from Redis function %s", REDIS_FN_BACKFILL);
	v = verdict_text(r, 0);
	if (strcmp(v, "OK") == 0)
		return SINK_OK;
	if (strcmp(v, "NORECORD") == 0)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						  "Redis lost the progress record \"%s\" during the backfill", pkey);
	if (strcmp(v, "SOURCE") == 0)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						  "Redis progress record \"%s\" belongs to another source (system identifier %s, timeline %s, database \"%s\", slot \"%s\"); after a deliberate failover or restore use --recreate-lost-slot or --accept-new-source",
						  pkey, verdict_text(r, 1), verdict_text(r, 2), verdict_text(r, 3),
						  verdict_text(r, 4));
	if (strcmp(v, "STALE") == 0)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						  "Redis progress record \"%s\" holds backfill page %s of the backfill at %s, this bridge wrote page %" PRIu64 " next: another bridge backfills the same slot",
						  pkey, verdict_text(r, 2), verdict_text(r, 1), prev_seq + 1);
	if (strcmp(v, "FULL") == 0)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						  "cannot write backfilled job %s to Redis stream \"%s\": its last entry ID is at the largest possible one and no further entry can be added (nothing of the backfill page was written); trim or delete the stream, or change the job's target, and restart the same command line",
						  verdict_text(r, 2), verdict_text(r, 1));
	if (strcmp(v, "WRONGTYPE") == 0)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						  "Redis key \"%s\" holds a %s, not a stream; wal2queue writes only to streams (and a hash for its progress record)",
						  verdict_text(r, 1), verdict_text(r, 2));
	return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
					  "unexpected verdict from Redis function %s: %s", REDIS_FN_BACKFILL, v);
}

/* the WAIT of --redis-wait after a page */
static int
backfill_wait(Sink *s)
{
	RedisSink  *rs = s->priv;
	const char *argv[3] = {"WAIT", rs->wait_replicas, rs->wait_ms};
	size_t		lens[3] = {4, strlen(rs->wait_replicas), strlen(rs->wait_ms)};
	redisReply *r;
	int			rc;

	if (s->cfg->redis_wait_replicas <= 0)
		return SINK_OK;
	if ((rc = sync_call(s, 3, argv, lens, &r)) != SINK_OK)
		return rc;
	if (r->type != REDIS_REPLY_INTEGER || r->integer < s->cfg->redis_wait_replicas)
		rc = errbuf_set(s->err, SINK_ERRLEN, SINK_RETRY,
						"fewer than the %d Redis replicas asked for by --redis-wait acknowledged a backfill page",
						s->cfg->redis_wait_replicas);
	freeReplyObject(r);
	return rc;
}

/*
 * The entries' arguments from argv[*a] on: key, seq, field count, fields;
 * keys[] and nums[] (48 bytes a job) hold the texts they point to.
 */
static int
entry_args(Sink *s, const FrameJob *jobs, uint32_t njobs, const char **argv,
		   size_t *lens, char **keys, char *nums, size_t *a)
{
	for (uint32_t j = 0; j < njobs; j++)
	{
		const FrameJob *job = &jobs[j];
		char	   *num = nums + 48 * (size_t) j;
		uint32_t	nf = 0;
		size_t		at;

		if ((keys[j] = entry_key(s, job)) == NULL)
			return SINK_FATAL;
		argv[(*a)++] = keys[j];
		snprintf(num, 24, "%" PRIu32, job->seq);
		argv[(*a)++] = num;
		at = (*a)++;
		for (uint32_t c = 0; c < job->rel->ncols; c++)
		{
			if (job->values[c].isnull)
				continue;
			argv[*a] = job->rel->cols[c].name.data;
			lens[(*a)++] = job->rel->cols[c].name.len;
			argv[*a] = job->values[c].data.data;
			lens[(*a)++] = job->values[c].data.len;
			nf++;
		}
		snprintf(num + 24, 24, "%" PRIu32, nf);
		argv[at] = num + 24;
	}
	return SINK_OK;
}

#define BF_HEAD_ARGS 27			/* FCALL name 1 key + 23 ARGV */

int
redis_backfill_batch(Sink *s, const SinkSource *src, unsigned flags,
					 uint64_t prev_seq, const BackfillState *next,
					 const FrameJob *jobs, uint32_t njobs)
{
	RedisSink  *rs = s->priv;
	size_t		nargs = BF_HEAD_ARGS;
	const char **argv;
	size_t	   *lens;
	char	  **keys;
	char	   *nums;			/* per job: its seq and field count */
	char		pkey[256], tl[16], prev[24], seq[24], lsn[LSN_STRLEN], rows[24], nent[24], toid[16];
	size_t		a = 0;
	int			rc = SINK_OK;
	redisReply *r = NULL;

	for (uint32_t j = 0; j < njobs; j++)
		nargs += 3 + 2 * (size_t) jobs[j].rel->ncols;
	argv = calloc(nargs, sizeof(char *));
	lens = calloc(nargs, sizeof(size_t));
	keys = calloc(njobs + 1, sizeof(char *));
	nums = calloc((size_t) njobs + 1, 48);
	if (!argv || !lens || !keys || !nums)
		rc = errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL, "out of memory");
	snprintf(pkey, sizeof(pkey), "%swal2queue:progress:%s",
			 s->cfg->target_prefix ? s->cfg->target_prefix : "", src->slot);
	snprintf(tl, sizeof(tl), "%" PRIu32, src->timeline);
	snprintf(prev, sizeof(prev), "%" PRIu64, prev_seq);
	snprintf(seq, sizeof(seq), "%" PRIu64, next->seq);
	snprintf(rows, sizeof(rows), "%" PRIu64, next->rows);
	snprintf(nent, sizeof(nent), "%" PRIu32, njobs);
	snprintf(toid, sizeof(toid), "%" PRIu32, next->table_oid);
	lsn_format(next->lsn, lsn, sizeof(lsn));
	if (rc == SINK_OK)
	{
		const char *head[BF_HEAD_ARGS] = {"FCALL", REDIS_FN_BACKFILL, "1", pkey,
			(flags & SINK_BACKFILL_ACCEPT) ? "accept" : (flags & SINK_BACKFILL_NEW) ? "new" : "",
			src->sysid, tl, src->dbname, src->slot, rs->maxlen,
			s->cfg->redis_group ? s->cfg->redis_group : "", prev, seq, lsn,
			next->snapshot ? next->snapshot : "", next->condition ? next->condition : "",
			next->table ? next->table : "", next->key ? next->key : "",
			next->done ? "1" : "0", rows, next->storage ? next->storage : "",
			next->label ? next->label : "", next->keydef ? next->keydef : "", toid,
			next->tables_done ? next->tables_done : "", rs->options, nent};

		for (a = 0; a < BF_HEAD_ARGS; a++)
			argv[a] = head[a];
	}
	if (rc == SINK_OK)
		rc = entry_args(s, jobs, njobs, argv, lens, keys, nums, &a);
	for (size_t i = 0; rc == SINK_OK && i < a; i++)
		if (lens[i] == 0 && argv[i])
			lens[i] = strlen(argv[i]);
	if (rc == SINK_OK && (rc = sync_call(s, (int) a, argv, lens, &r)) == SINK_OK)
	{
		rc = backfill_verdict(s, r, pkey, prev_seq);
		freeReplyObject(r);
	}
	if (rc == SINK_OK)
		rc = backfill_wait(s);
	for (uint32_t j = 0; keys && j < njobs; j++)
		free(keys[j]);
	free(keys);
	free(nums);
	free(argv);
	free(lens);
	return rc;
}

/*
 * The creation marker removed again: the whole record, in one script, only
 * while it is this source's, still the marker of seq and holds no streamed
 * position (lsn 0/0: the marker created the record).
 */
static const char *const unmark_lua =
"local r = redis.call('HMGET', KEYS[1], 'sysid', 'timeline', 'db', 'slot', 'lsn', 'backfill_lsn', "
"'backfill_seq', 'backfill_rows')\n"
"if r[1] ~= ARGV[1] or r[2] ~= ARGV[2] or r[3] ~= ARGV[3] or r[4] ~= ARGV[4] then return 'another source' end\n"
"if r[6] ~= '0/0' or r[7] ~= ARGV[5] or r[8] ~= '0' then return 'no longer the marker' end\n"
"if r[5] ~= '0/0' then return 'a streamed position besides' end\n"
"redis.call('DEL', KEYS[1])\n"
"return 'OK'\n";

int
redis_backfill_unmark(Sink *s, const SinkSource *src, uint64_t seq)
{
	char		key[256];
	char		tl[16];
	char		sq[24];
	const char *argv[] = {"EVAL", unmark_lua, "1", key, src->sysid, tl, src->dbname, src->slot, sq};
	size_t		lens[9];
	redisReply *r;
	int			rc;

	snprintf(key, sizeof(key), "%swal2queue:progress:%s",
			 s->cfg->target_prefix ? s->cfg->target_prefix : "", src->slot);
	snprintf(tl, sizeof(tl), "%" PRIu32, src->timeline);
	snprintf(sq, sizeof(sq), "%" PRIu64, seq);
	for (int i = 0; i < 9; i++)
		lens[i] = strlen(argv[i]);
	if ((rc = sync_call(s, 9, argv, lens, &r)) != SINK_OK)
		return rc;
	if ((r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) && strcmp(r->str, "OK") == 0)
		rc = SINK_OK;
	else
		rc = errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL, "Redis progress record \"%s\" holds %s",
						key, r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ?
						r->str : "an unexpected reply");
	freeReplyObject(r);
	return rc;
}
