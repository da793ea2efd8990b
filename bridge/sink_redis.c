/*-------------------------------------------------------------------------
 *
 * sink_redis.c
 *		Redis Streams sink: the sink interface.  Transactions are collected
 *		into batches, each batch one call of the wal2queue function, which
 *		decides per transaction from the slot's progress record whether it
 *		was delivered already, is next (written, record advanced, in the
 *		same atomic call) or follows a hole (refused): see redis_progress.c
 *		and docs/redis.md.
 *
 * A session begins with replay_begin: it queues a check of the record
 * against the slot's position (an item that follows and reaches `from`),
 * which goes out with the first batch; its verdict comes back in poll().
 * Every item states the position it follows (the end of the item before
 * it in this session), so calls chain: one refused makes the rest refuse.
 *
 * A transaction larger than REDIS_STAGE_BYTES is sent in pieces to a
 * staging list as it streams in, and moved into its streams by the batch
 * call that carries its commit: memory stays bounded whatever its size.
 * Each session first deletes the staging lists of its slot that a stopped
 * bridge left (the sweep, redis_conn.c).
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "errbuf.h"
#include "log.h"
#include "lsn.h"
#include "redis_sink.h"

static void redis_disconnect(Sink *s);

static int
out_of_memory(Sink *s)
{
	return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL, "out of memory");
}

/*
 * A staging list that may be left in Redis: deleted at the next connect
 * (it expires after a day all the same).  Takes the key over.
 */
void
redis_orphan(RedisSink *rs, char *key)
{
	if (key == NULL)
		return;
	if (rs->norphans == rs->orphans_cap)
	{
		uint32_t	ncap = rs->orphans_cap ? rs->orphans_cap * 2 : 8;
		char	  **o = realloc(rs->orphans, ncap * sizeof(char *));

		if (o == NULL)
		{
			free(key);			/* left to its expiry */
			return;
		}
		rs->orphans = o;
		rs->orphans_cap = ncap;
	}
	rs->orphans[rs->norphans++] = key;
}

/*
 * A deliver call is answered or dropped: the function deleted the staging
 * lists of the items it did (call->settled); the others' lists (a refused
 * call, a verdict that stopped it, a lost connection) are orphans.
 */
void
redis_stage_release(RedisSink *rs, RCall *call)
{
	for (uint32_t i = 0; call->kind == RCALL_DELIVER && i < call->nitems; i++)
	{
		if (i < call->settled)
			free(call->items[i].stage);
		else
			redis_orphan(rs, call->items[i].stage);
		call->items[i].stage = NULL;
	}
}

/* forget what this session built and has not sent */
static void
drop_unsent(RedisSink *rs)
{
	for (uint32_t i = 0; i < rs->nitems; i++)
	{
		redis_orphan(rs, rs->items[i].stage);
		rs->items[i].stage = NULL;
	}
	resp_reset(&rs->batch);
	resp_reset(&rs->blob);
	strtab_clear(&rs->shapes);
	rs->nitems = 0;
	rs->build.open = false;
	resp_reset(&rs->build.entries);
	strtab_clear(&rs->build.keys);
}

static int
redis_connect(Sink *s)
{
	redis_disconnect(s);
	return redis_conn_open(s);
}

static void
redis_disconnect(Sink *s)
{
	RedisSink  *rs = s->priv;

	if (rs->ctx != NULL)
		redisFree(rs->ctx);
	rs->ctx = NULL;
	/* a transaction being staged will be staged anew: drop its list later */
	redis_orphan(rs, rs->build.stage_key);
	rs->build.stage_key = NULL;
	pipe_clear(rs);
	drop_unsent(rs);
	redis_evict_forget(rs);
	rs->ndeferred = 0;			/* never acknowledged */
	rs->session = false;
}

/* add an item to the batch being built */
static bool
add_item(RedisSink *rs, RItemKind kind, LedgerTicket t, uint32_t njobs,
		 uint64_t end)
{
	RItem	   *it;

	if (rs->nitems == rs->items_cap)
	{
		uint32_t	ncap = rs->items_cap ? rs->items_cap * 2 : 64;
		RItem	   *items = realloc(rs->items, ncap * sizeof(RItem));

		if (items == NULL)
			return false;
		rs->items = items;
		rs->items_cap = ncap;
	}
	it = &rs->items[rs->nitems++];
	it->kind = kind;
	it->ticket = t;
	it->njobs = njobs;
	it->prev = rs->last_end;
	it->end = end;
	it->xid = 0;
	it->commit_time_us = 0;
	it->stage = NULL;
	if (end > rs->last_end)
		rs->last_end = end;
	return true;
}

/*
 * An item's header, msgpack elements appended to b: prev, end, commit
 * LSN, xid and commit time (microseconds since the Unix epoch; both "" for
 * an item that is no transaction), keys, what is staged (the list's
 * length, its key, the number of pieces and the arguments in each) and the
 * number of its elements in the entries argument; bd is NULL for an item
 * without jobs.
 */
static bool
item_args(RespBuf *b, const RItem *it, uint64_t commit_lsn, const RBuild *bd,
		  uint64_t nentries)
{
	const StrTab *keys = bd ? &bd->keys : NULL;
	char		lsn[LSN_STRLEN];
	char		prev[24];
	char		end[24];
	bool		ok;

	lsn_format(commit_lsn, lsn, sizeof(lsn));
	snprintf(prev, sizeof(prev), "%08X%08X", (unsigned) (it->prev >> 32), (unsigned) it->prev);
	snprintf(end, sizeof(end), "%08X%08X", (unsigned) (it->end >> 32), (unsigned) it->end);
	ok = mp_arg_str(b, prev, 16) && mp_arg_str(b, end, 16) &&
		mp_arg_str(b, lsn, strlen(lsn));
	if (it->kind == RITEM_TXN)
	{
		char		xid[16];
		char		ts[24];

		snprintf(xid, sizeof(xid), "%" PRIu32, it->xid);
		snprintf(ts, sizeof(ts), "%" PRId64, it->commit_time_us);
		ok = ok && mp_arg_str(b, xid, strlen(xid)) && mp_arg_str(b, ts, strlen(ts));
	}
	else
		ok = ok && mp_arg_str(b, "", 0) && mp_arg_str(b, "", 0);
	ok = ok && mp_arg_uint(b, keys ? keys->n : 0);
	for (uint32_t k = 0; ok && keys && k < keys->n; k++)
	{
		size_t		len;
		const char *key = strtab_get(keys, k, &len);

		ok = mp_arg_str(b, key, len);
	}
	ok = ok && mp_arg_uint(b, bd ? bd->nstaged : 0) &&
		mp_arg_str(b, bd && bd->stage_key ? bd->stage_key : "",
				   bd && bd->stage_key ? strlen(bd->stage_key) : 0) &&
		mp_arg_uint(b, bd ? bd->nchunks : 0);
	for (uint32_t c = 0; ok && bd && c < bd->nchunks; c++)
		ok = mp_arg_uint(b, bd->chunks[c]);
	return ok && mp_arg_uint(b, nentries);
}

/* the size of the batch being built */
static size_t
batch_bytes(const RedisSink *rs)
{
	return rs->batch.len + rs->blob.len;
}

/* send the batch as one deliver call (and WAIT) */
static int
flush_batch(Sink *s)
{
	RedisSink  *rs = s->priv;
	const SinkConfig *cfg = s->cfg;
	RespBuf		head = {0};
	RespBuf		body = {0};
	RCall	   *call;
	char		tl[16];
	const char *mode = "";
	int			rc;

	if (rs->nitems == 0)
		return SINK_OK;
	/* "renew": a slot this run created may not take over another timeline's record */
	if (rs->first_pending)
		mode = (rs->flags & SINK_REPLAY_ACCEPT_NEW) ?
			((rs->flags & SINK_REPLAY_NEW_SLOT) ? "renew" : "replace") :
			(rs->flags & SINK_REPLAY_NEW_SLOT) ? "create" : "";
	snprintf(tl, sizeof(tl), "%" PRIu32, rs->src.timeline);
	if ((call = calloc(1, sizeof(RCall))) == NULL ||
		!resp_arg_str(&head, "FCALL") || !resp_arg_str(&head, REDIS_FN_DELIVER) ||
		!resp_arg_str(&head, "1") || !resp_arg_str(&head, rs->progress_key) ||
		!resp_arg_str(&head, mode) || !resp_arg_str(&head, rs->src.sysid) ||
		!resp_arg_str(&head, tl) || !resp_arg_str(&head, rs->src.dbname) ||
		!resp_arg_str(&head, rs->src.slot) || !resp_arg_str(&head, rs->maxlen) ||
		!resp_arg_str(&head, cfg->redis_group ? cfg->redis_group : "") ||
		!resp_arg_u64(&head, rs->nitems) ||
		!resp_arg_msgpack_array(&body, &rs->batch) ||
		!resp_arg_msgpack_array(&body, &rs->blob) ||
		!resp_arg_shapes(&body, &rs->shapes) ||
		!resp_arg_str(&body, rs->options))
	{
		free(call);
		resp_free(&head);
		resp_free(&body);
		return out_of_memory(s);
	}
	call->kind = RCALL_DELIVER;
	call->first = rs->first_pending;
	call->wait = cfg->redis_wait_replicas > 0;
	call->items = rs->items;
	call->nitems = rs->nitems;
	rs->items = NULL;
	rs->items_cap = rs->nitems = 0;
	rs->first_pending = false;
	{
		const char *wait[3] = {"WAIT", rs->wait_replicas, rs->wait_ms};

		rc = pipe_send(s, call, &head, &body, call->wait ? 3 : 0, wait);
	}
	resp_free(&head);
	resp_free(&body);
	resp_reset(&rs->batch);
	resp_reset(&rs->blob);
	strtab_clear(&rs->shapes);
	return rc;
}

/*
 * May the batch being built go out now?  A full one always (commit sends
 * it), and one of REDIS_DUE_BYTES (large transactions go one or two to a
 * call, as they come); otherwise only while fewer than
 * REDIS_DELIVER_INFLIGHT deliver calls wait for replies: the reply of one
 * lets the next go, so a busy Redis gets fewer, larger calls and an idle
 * one each transaction at once.
 */
static bool
batch_due(const RedisSink *rs)
{
	return rs->nitems > 0 &&
		(rs->ndeliver < REDIS_DELIVER_INFLIGHT ||
		 rs->nitems >= REDIS_BATCH_TXNS || batch_bytes(rs) >= REDIS_DUE_BYTES);
}

/* a check, or a position without jobs: an item with no entries */
static int
add_empty_item(Sink *s, RItemKind kind, LedgerTicket t, uint64_t lsn)
{
	RedisSink  *rs = s->priv;
	RItem	   *it;

	if (!add_item(rs, kind, t, 0, lsn))
		return out_of_memory(s);
	it = &rs->items[rs->nitems - 1];
	if (!item_args(&rs->batch, it, lsn, NULL, 0))
		return out_of_memory(s);
	return SINK_OK;
}

static int
redis_replay_begin(Sink *s, const SinkSource *src, uint64_t from,
				   unsigned flags)
{
	RedisSink  *rs = s->priv;
	int			rc;

	if (rs->ctx == NULL)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_RETRY, "not connected to Redis");
	/* what an earlier session left in flight is no longer acknowledged */
	for (RCall *c = rs->head; c != NULL; c = c->next)
		c->stale = true;
	drop_unsent(rs);
	redis_evict_forget(rs);
	rs->session = true;
	rs->src = *src;
	rs->flags = flags;
	rs->first_pending = true;
	rs->refused = false;
	rs->wal_end_checked = false;
	rs->ndeferred = 0;
	s->new_slot_refused = false;
	rs->last_end = from;
	free(rs->progress_key);
	rs->progress_key = NULL;
	{
		const char *prefix = s->cfg->target_prefix ? s->cfg->target_prefix : "";
		size_t		len = strlen(prefix) + strlen("wal2queue:progress:") +
			strlen(src->slot) + 1;

		if ((rs->progress_key = malloc(len)) == NULL)
			return out_of_memory(s);
		snprintf(rs->progress_key, len, "%swal2queue:progress:%s", prefix, src->slot);
	}
	/* the slot is ours now: delete the staging lists it was left (redis_conn.c) */
	if ((rc = redis_sweep_start(s)) != SINK_OK)
		return rc;
	/* a start below the record's last transaction: under its options only */
	if ((rc = progress_check_record(s)) != SINK_OK)
		return rc;
	return add_empty_item(s, RITEM_CHECK, 0, from);
}

static int
need_session(Sink *s)
{
	RedisSink  *rs = s->priv;

	if (rs->ctx == NULL)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_RETRY, "not connected to Redis");
	if (!rs->session)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						  "the Redis sink got a transaction before replay_begin");
	return SINK_OK;
}

static int
redis_begin(Sink *s, const FrameTxn *txn, LedgerTicket t)
{
	RedisSink  *rs = s->priv;
	RBuild	   *b = &rs->build;
	char		lsn[LSN_STRLEN];
	int			rc;

	if ((rc = need_session(s)) != SINK_OK)
		return rc;
	if (b->open)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						  "transaction with commit LSN %s began before the previous one was committed",
						  lsn_format(txn->commit_lsn, lsn, sizeof(lsn)));
	b->open = true;
	b->ticket = t;
	b->commit_lsn = txn->commit_lsn;
	b->end_lsn = txn->end_lsn;
	b->njobs = 0;
	b->nstaged = 0;
	b->nchunks = 0;
	free(b->stage_key);
	b->stage_key = NULL;
	strtab_clear(&b->keys);
	resp_reset(&b->entries);
	return SINK_OK;
}

/* send the open transaction's entries so far to its staging list */
static int
stage_entries(Sink *s)
{
	RedisSink  *rs = s->priv;
	RBuild	   *b = &rs->build;
	RespBuf		head = {0};
	RCall	   *call;
	int			rc;

	if (b->stage_key == NULL)
	{
		const char *prefix = s->cfg->target_prefix ? s->cfg->target_prefix : "";
		size_t		len = strlen(prefix) + strlen(rs->src.slot) + 96;

		/* unique per process and transaction: a leftover never matches */
		if ((b->stage_key = malloc(len)) == NULL)
			return out_of_memory(s);
		snprintf(b->stage_key, len, "%swal2queue:stage:%s:%ld-%ld-%" PRIu64,
				 prefix, rs->src.slot, (long) getpid(), (long) time(NULL),
				 ++rs->stage_seq);
		if ((rc = flush_batch(s)) != SINK_OK)
			return rc;
	}
	if (b->nchunks == b->chunks_cap)
	{
		uint32_t	ncap = b->chunks_cap ? b->chunks_cap * 2 : 16;
		uint32_t   *chunks = realloc(b->chunks, ncap * sizeof(uint32_t));

		if (chunks == NULL)
			return out_of_memory(s);
		b->chunks = chunks;
		b->chunks_cap = ncap;
	}
	b->chunks[b->nchunks++] = b->entries.nargs;
	if ((call = calloc(1, sizeof(RCall))) == NULL ||
		!resp_arg_str(&head, "RPUSH") || !resp_arg_str(&head, b->stage_key))
	{
		free(call);
		resp_free(&head);
		return out_of_memory(s);
	}
	call->kind = RCALL_STAGE;
	call->expect = b->nstaged + b->entries.nargs;
	{
		const char *expire[3] = {"EXPIRE", b->stage_key, "86400"};

		rc = pipe_send(s, call, &head, &b->entries, 3, expire);
	}
	resp_free(&head);
	b->nstaged += b->entries.nargs;
	resp_reset(&b->entries);
	return rc != SINK_OK ? rc : pipe_flush(s);
}

static int
redis_job(Sink *s, const FrameTxn *txn, const FrameJob *job, LedgerTicket t)
{
	RedisSink  *rs = s->priv;
	RBuild	   *b = &rs->build;
	size_t		keylen;
	int64_t		key;
	FrameJob	local;
	int			rc;

	(void) t;
	if (!b->open)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						  "job %" PRIu32 " outside a transaction", job->seq);
	if (!job->is_message &&
		(job->rel == NULL || (job->rel->ncols > 0 && job->values == NULL)))
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						  "row job %" PRIu32 " has no relation", job->seq);
	if (!redis_build_key(rs, s->cfg, job, &keylen))
		return out_of_memory(s);
	local = *job;
	if ((rc = redis_check_target(s, txn, &local, &keylen)) != SINK_OK)
		return rc;
	if ((key = strtab_intern(&b->keys, rs->keybuf, keylen)) < 0 ||
		!resp_arg_entry(&b->entries, rs->keybuf, keylen, &local))
		return out_of_memory(s);
	b->njobs++;
	if (b->entries.len >= REDIS_STAGE_BYTES)
		return stage_entries(s);
	return SINK_OK;
}

static int
redis_commit(Sink *s, const FrameTxn *txn, LedgerTicket t)
{
	RedisSink  *rs = s->priv;
	RBuild	   *b = &rs->build;
	char		lsn[LSN_STRLEN];
	uint32_t	first;
	int			rc;

	(void) t;
	if (!b->open)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						  "commit with commit LSN %s outside a transaction",
						  lsn_format(txn->commit_lsn, lsn, sizeof(lsn)));
	if (b->nstaged > 0 && b->entries.nargs > 0 && (rc = stage_entries(s)) != SINK_OK)
		return rc;
	b->open = false;
	/* the end as the commit gives it (pgoutput's begin had commit + 1) */
	b->end_lsn = txn->end_lsn;
	if (!add_item(rs, RITEM_TXN, b->ticket, b->njobs, b->end_lsn))
		return out_of_memory(s);
	rs->items[rs->nitems - 1].xid = txn->xid;
	rs->items[rs->nitems - 1].commit_time_us = txn->commit_time_us;
	first = rs->blob.nargs;
	if (!resp_to_shaped(&rs->blob, &b->entries, &b->keys, &rs->shapes, &rs->sig) ||
		!item_args(&rs->batch, &rs->items[rs->nitems - 1], b->commit_lsn, b,
				   rs->blob.nargs - first))
		return out_of_memory(s);
	/* the item (then its call) keeps the staging list's key */
	rs->items[rs->nitems - 1].stage = b->stage_key;
	b->stage_key = NULL;
	resp_reset(&b->entries);
	if (rs->nitems >= REDIS_BATCH_TXNS || batch_bytes(rs) >= REDIS_BATCH_BYTES)
		return flush_batch(s);
	return SINK_OK;
}

static int
redis_progress(Sink *s, uint64_t lsn, LedgerTicket t)
{
	RedisSink  *rs = s->priv;
	int			rc;

	if ((rc = need_session(s)) != SINK_OK)
		return rc;
	if (rs->build.open)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
						  "progress reported inside a transaction");
	/* a position the items handed over passed already: theirs */
	return add_empty_item(s, RITEM_PROGRESS, t, lsn > rs->last_end ? lsn : rs->last_end);
}

/*
 * Acks go to the bridge only once the eviction watch vouched for them
 * (redis_conn.c): an INFO goes out behind the calls whose acks wait, or
 * once a second when idle.
 */
static int
redis_poll(Sink *s, int timeout_ms, SinkAckFn ack, void *arg)
{
	RedisSink  *rs = s->priv;
	uint32_t	held;
	int			rc;

	if (rs->ctx == NULL)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_RETRY, "not connected to Redis");
	rs->up_ack = ack;
	rs->up_arg = arg;
	rs->ack = redis_hold_ack;
	rs->ack_arg = s;
	if (rs->hold_oom)
		return out_of_memory(s);
	if ((batch_due(rs) && (rc = flush_batch(s)) != SINK_OK) ||
		(rc = redis_evict_send(s, true)) != SINK_OK)
		return rc;
	held = rs->nheld;
	if ((rc = pipe_poll(s, timeout_ms)) != SINK_OK)
		return rc;
	/* a reply came in: what waited goes now, not at the next poll */
	if (batch_due(rs) && ((rc = flush_batch(s)) != SINK_OK || (rc = pipe_flush(s)) != SINK_OK))
		return rc;
	/* acks that came in now: ask at once, not at the next poll */
	if (rs->nheld > held && !rs->evict_inflight &&
		((rc = redis_evict_send(s, false)) != SINK_OK || (rc = pipe_flush(s)) != SINK_OK))
		return rc;
	return rs->hold_oom ? out_of_memory(s) : SINK_OK;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Wait until every call has its replies.  Running out of time is reported
 * as SINK_RETRY: what was not acknowledged gets replayed next time.
 */
static int
redis_drain(Sink *s, int timeout_ms, SinkAckFn ack, void *arg)
{
	RedisSink  *rs = s->priv;
	int64_t		deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);

	if (rs->ctx == NULL)
		return SINK_OK;
	for (;;)
	{
		int64_t		left = deadline - now_ms();
		int			rc;

		if (rs->head == NULL && rs->nitems == 0 && rs->nheld == 0 &&
			sdslen(rs->ctx->obuf) == 0)
			return SINK_OK;
		if (left <= 0)
			return errbuf_set(s->err, SINK_ERRLEN, SINK_RETRY,
							  "timed out after %d ms waiting for Redis (%zu bytes unacknowledged)",
							  timeout_ms, rs->pending);
		if ((rc = redis_poll(s, left > SINK_MAX_WAIT_MS ? SINK_MAX_WAIT_MS : (int) left,
							 ack, arg)) != SINK_OK)
			return rc;
	}
}

static int
redis_socket(Sink *s, bool *want_write)
{
	RedisSink  *rs = s->priv;

	*want_write = false;
	if (rs->ctx == NULL)
		return -1;
	*want_write = sdslen(rs->ctx->obuf) > 0 || batch_due(rs);
	return rs->ctx->fd;
}

static size_t
redis_pending_bytes(Sink *s)
{
	RedisSink  *rs = s->priv;

	return rs->pending + batch_bytes(rs) + rs->build.entries.len;
}

static void
redis_destroy(Sink *s)
{
	RedisSink  *rs;

	if (s == NULL)
		return;
	rs = s->priv;
	redis_disconnect(s);
	resp_free(&rs->batch);
	resp_free(&rs->blob);
	resp_free(&rs->sig);
	strtab_free(&rs->shapes);
	resp_free(&rs->build.entries);
	strtab_free(&rs->build.keys);
	free(rs->build.stage_key);
	while (rs->norphans > 0)
		free(rs->orphans[--rs->norphans]);
	free(rs->orphans);
	free(rs->build.chunks);
	free(rs->items);
	free(rs->held);
	free(rs->deferred);
	free(rs->progress_key);
	free(rs->options);
	free(rs->sweep_prefix);
	free(rs->sweep_match);
	free(rs->keybuf);
	free(rs);
	free(s);
}

static const SinkOps redis_ops = {
	.name = "redis",
	.connect = redis_connect,
	.replay_begin = redis_replay_begin,
	.begin = redis_begin,
	.job = redis_job,
	.commit = redis_commit,
	.progress = redis_progress,
	.poll = redis_poll,
	.socket = redis_socket,
	.pending_bytes = redis_pending_bytes,
	.disconnect = redis_disconnect,
	.drain = redis_drain,
	.destroy = redis_destroy,
	.backfill_read = redis_backfill_read,
	.backfill_batch = redis_backfill_batch,
	.backfill_unmark = redis_backfill_unmark
};

Sink *
sink_redis_create(const SinkConfig *cfg)
{
	Sink	   *s = calloc(1, sizeof(Sink));
	RedisSink  *rs = calloc(1, sizeof(RedisSink));

	if (s == NULL || rs == NULL || (rs->options = progress_options(cfg)) == NULL)
	{
		free(s);
		free(rs);
		return NULL;
	}
	s->ops = &redis_ops;
	s->cfg = cfg;
	s->priv = rs;
	if (cfg->redis_maxlen > 0)
		snprintf(rs->maxlen, sizeof(rs->maxlen), "%lld", cfg->redis_maxlen);
	snprintf(rs->wait_replicas, sizeof(rs->wait_replicas), "%d",
			 cfg->redis_wait_replicas);
	snprintf(rs->wait_ms, sizeof(rs->wait_ms), "%d",
			 cfg->redis_wait_timeout_ms > 0 ? cfg->redis_wait_timeout_ms : 1000);
	return s;
}
