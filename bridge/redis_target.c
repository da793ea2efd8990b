/*-------------------------------------------------------------------------
 *
 * redis_target.c
 *		The stream a job is written to: --target-prefix and the job's
 *		target make its key, and what row data may not name.  A target
 *		among the keys wal2queue keeps for itself (progress records,
 *		staging lists) or a column that could forge an entry's own fields
 *		never reaches Redis as such: a row goes to its table's stream
 *		instead, or the bridge stops naming table, key and LSN.
 *
 * The stream path (sink_redis.c) and the backfill (redis_backfill.c)
 * share these rules.
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "log.h"
#include "lsn.h"
#include "redis_sink.h"

/* prefix + target into keybuf */
bool
redis_build_key(RedisSink *rs, const SinkConfig *cfg, const FrameJob *job,
		  size_t *keylen)
{
	size_t		plen = cfg->target_prefix ? strlen(cfg->target_prefix) : 0;
	size_t		need = plen + job->target.len + 1;

	if (need > rs->keybuf_cap)
	{
		char	   *buf = realloc(rs->keybuf, need);

		if (buf == NULL)
			return false;
		rs->keybuf = buf;
		rs->keybuf_cap = need;
	}
	if (plen > 0)
		memcpy(rs->keybuf, cfg->target_prefix, plen);
	if (job->target.len > 0)
		memcpy(rs->keybuf + plen, job->target.data, job->target.len);
	rs->keybuf[plen + job->target.len] = '\0';
	*keylen = plen + job->target.len;
	return true;
}

/*
 * Is this key one a wal2queue bridge keeps for itself?  Its own namespace
 * (prefix + "wal2queue:"), and the progress records and staging lists of
 * any bridge on this Redis, whatever its --target-prefix: a key containing
 * "wal2queue:progress:" or "wal2queue:stage:" anywhere.  plen is the length
 * of the --target-prefix the key starts with.  The stream path and the
 * backfill (redis_backfill.c) both divert such keys.
 */
bool
redis_reserved_key(const char *key, size_t len, size_t plen)
{
	static const char *const reserved[] = {"wal2queue:progress:", "wal2queue:stage:"};

	if (len >= plen + 10 && memcmp(key + plen, "wal2queue:", 10) == 0)
		return true;
	for (size_t r = 0; r < sizeof(reserved) / sizeof(reserved[0]); r++)
	{
		size_t		rlen = strlen(reserved[r]);

		for (size_t i = 0; i + rlen <= len; i++)
			if (key[i] == 'w' && memcmp(key + i, reserved[r], rlen) == 0)
				return true;
	}
	return false;
}

static bool
bytes_eq(const FrameBytes *b, const char *s)
{
	return b->len == strlen(s) && memcmp(b->data, s, b->len) == 0;
}

/*
 * Would a column of this name let row data forge what consumers read from
 * an entry's fields?  _lsn and _seq are the entry's identity, _backfill
 * marks a row delivered by --backfill (redis_backfill.c), and an entry with
 * wal2queue_claim_check is read as a claim check (plugin/FORMAT.md: a worker
 * fetches the row its "table" and "key" name), which only the plugin's own
 * relation wal2queue.claim_check (relid 0) may be.  "table" and "key" alone
 * are ordinary columns.  Returns why, or NULL.  The stream path and the
 * backfill both refuse such columns.
 */
const char *
redis_reserved_column(const FrameRelation *rel, const FrameBytes *name)
{
	if (bytes_eq(name, "_lsn") || bytes_eq(name, "_seq"))
		return "a column named _lsn or _seq would shadow the entry's own field of that name";
	if (bytes_eq(name, "_backfill"))
		return "a column named _backfill would give the entry the shape of a row delivered "
			"by --backfill (docs/redis.md)";
	if (bytes_eq(name, "wal2queue_claim_check") &&
		!(rel->relid == 0 && bytes_eq(&rel->name, "wal2queue.claim_check")))
		return "a column named wal2queue_claim_check would give the entry the shape of a "
			"claim check, which sends a worker to read the row its \"table\" and \"key\" name";
	return NULL;
}

/*
 * Jobs the sink will not write as they come.  A row whose route value names
 * a key any bridge keeps for itself (redis_reserved_key: progress records, staging
 * lists) goes to its table's stream instead, with a warning: row
 * data must not be able to stop the pipeline or touch the bookkeeping.  A
 * logical message with such a target, an empty target, or a column whose
 * name row data could forge an entry's meaning with (redis_reserved_column)
 * stops the bridge naming table, key, column and LSN: nothing past it is
 * confirmed, and the operator decides.
 */
int
redis_check_target(Sink *s, const FrameTxn *txn, FrameJob *job, size_t *keylen)
{
	RedisSink  *rs = s->priv;
	size_t		plen = s->cfg->target_prefix ? strlen(s->cfg->target_prefix) : 0;
	const char *why = NULL;
	char		lsn[LSN_STRLEN];
	const FrameBytes *column = NULL;

	if (redis_reserved_key(rs->keybuf, *keylen, plen))
	{
		if (job->is_message)
			why = "its stream would be among the keys wal2queue keeps for itself (wal2queue:…)";
		else
		{
			lsn_format(txn->commit_lsn, lsn, sizeof(lsn));
			log_msg(LOG_WARNING, "job %" PRIu32 " of table %.*s committed at %s routes to \"%s\", "
					"among the keys wal2queue keeps for itself: written to the table's stream instead",
					job->seq, (int) job->rel->name.len, job->rel->name.data, lsn, rs->keybuf);
			job->target = job->rel->name;
			if (!redis_build_key(rs, s->cfg, job, keylen))
				return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL, "out of memory");
			if (redis_reserved_key(rs->keybuf, *keylen, plen))
				why = "its table's stream too would be among the keys wal2queue keeps for itself";
		}
	}
	if (why == NULL && job->target.len == 0)
		why = "its target is empty and a stream needs a name";
	for (uint32_t i = 0; why == NULL && !job->is_message && i < job->rel->ncols; i++)
	{
		column = &job->rel->cols[i].name;
		why = redis_reserved_column(job->rel, column);
	}
	if (why == NULL)
		return SINK_OK;
	lsn_format(txn->commit_lsn, lsn, sizeof(lsn));
	return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
					  "cannot write job %" PRIu32 " of %s%.*s (key %s%.*s%s) committed at %s to "
					  "Redis: %s%s%.*s%s; exclude the table (--tables) or %s",
					  job->seq, job->is_message ? "a logical message" : "table ",
					  job->is_message ? 0 : (int) job->rel->name.len,
					  job->is_message ? "" : job->rel->name.data,
					  job->has_key ? "\"" : "", job->has_key ? (int) job->key.len : 4,
					  job->has_key ? job->key.data : "null", job->has_key ? "\"" : "",
					  lsn, why, column ? " (column \"" : "", column ? (int) column->len : 0,
					  column ? column->data : "", column ? "\")" : "",
					  column ? "rename the column" : "change the target");
}
