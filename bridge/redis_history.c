/*-------------------------------------------------------------------------
 *
 * redis_history.c
 *		The Redis sink's HISTORY verdict: a replay that reached or passed
 *		the progress record's last transaction (txn_end) without showing
 *		that transaction, and the options that chose it (txn_options).
 *
 * The record keeps, with its last transaction, the options that chose it
 * (progress_options(): the plugin, --publication, --tables; the columns,
 * the target prefix and the Redis options choose no transaction).  Under
 * those options a replay that passes txn_end without that transaction is
 * another history of the same system and timeline (a server rolled back
 * to a file-level copy).  Under other options it is no evidence of
 * anything (the issue 10 reproduction 492: a crash moved the slot back,
 * the bridge came back with a narrower --tables).  Decided: the bridge
 * stops there too, but naming the real cause, both option lists and a way
 * out that writes nothing twice (the record's options until the slot has
 * confirmed past txn_end); it does not go on by itself.  Going on needs
 * positive evidence that the record's transaction is in this server's
 * history, and none is sound short of decoding it again: pg_xact_status()
 * of the xid says "committed" in a history rolled back to a copy too (it
 * commits the same xids again), no SQL function gives a transaction's
 * commit LSN, and commit timestamps need track_commit_timestamp.
 * Absence is never taken for evidence.  A record without txn_options (an
 * older bridge's) is judged as another history, as before.  The options
 * are compared as text ("public.a,public.b" differs from "public.b,public.a"):
 * at worst a real other history is first reported as changed options, and
 * the way out (the recorded options) then gets the verdict "another
 * history"; nothing is ever accepted on the strength of the text.
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errbuf.h"
#include "log.h"
#include "lsn.h"
#include "redis_sink.h"

/* microseconds since the Unix epoch as UTC text ("" for none) */
static const char *
time_text(const char *us_text, char *buf, size_t len)
{
	char	   *endp;
	long long	us = strtoll(us_text, &endp, 10);
	time_t		t;
	struct tm	tm;

	if (*us_text == '\0' || *endp != '\0')
		return us_text;
	t = (time_t) (us / 1000000);
	if (us < 0 || gmtime_r(&t, &tm) == NULL)
		return us_text;
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us % 1000000);
	return buf;
}

/*
 * The options that choose which transactions become jobs, as the record
 * keeps them with its last transaction (txn_options): the plugin, and
 * --tables and --publication.  The columns, the target prefix and the
 * Redis options do not choose transactions: a replay under other ones
 * still presents every transaction it presented before.  malloc'd; NULL
 * when out of memory.
 */
char *
progress_options(const SinkConfig *cfg)
{
	const char *plugin = cfg->plugin ? cfg->plugin : "wal2queue";
	const char *pub = cfg->publication;
	const char *tables = cfg->tables;
	size_t		len = strlen(plugin) + (pub ? strlen(pub) : 0) +
		(tables ? strlen(tables) : 0) + 64;
	char	   *buf = malloc(len);

	if (buf == NULL)
		return NULL;
	snprintf(buf, len, "--plugin=%s%s%s%s%s", plugin, pub ? " --publication=" : "",
			 pub ? pub : "", tables ? " --tables=" : ", no --tables", tables ? tables : "");
	return buf;
}

/* what the replay presents where the record's last transaction ends */
static void
history_here(const RItem *it, char *here, size_t len)
{
	char		end[LSN_STRLEN];
	char		ibuf[64];
	char		us[24];

	lsn_format(it->end, end, sizeof(end));
	if (it->kind != RITEM_TXN)
	{
		snprintf(here, len, "no transaction there (it reached %s without one)", end);
		return;
	}
	snprintf(us, sizeof(us), "%" PRId64, it->commit_time_us);
	snprintf(here, len, "xid %" PRIu32 " committed %s, ending at %s",
			 it->xid, time_text(us, ibuf, sizeof(ibuf)), end);
}

/*
 * The replay reached the record's last transaction's end LSN (or passed it)
 * with another transaction, or with none.  Under the options the record's
 * last transaction was chosen with, that is another history of the same
 * system and timeline (a server rolled back to a file-level copy).  Under
 * other options (txn_options differs: a narrower --tables, another
 * publication) it is no evidence of anything: the new options may leave
 * that transaction out.  Nothing tells which without decoding it again
 * (an xid's pg_xact_status() is "committed" in another history too, which
 * reuses the xids after a rollback, and no SQL function gives a commit
 * LSN), so the bridge stops naming both options, and the way out writes
 * nothing twice: the record's options, until the slot has passed the
 * record's last transaction, show that transaction again, or a real other
 * history.  --accept-new-source (the way out of another history) would
 * write again every job between the slot and the record.
 */
/*
 * OPTS for a message, in at most LEN - 1 characters: whole if it fits,
 * else its first comma-separated items and "... (N more)".  Returns true
 * if it was shortened.
 */
static bool
options_brief(const char *opts, char *buf, size_t len)
{
	size_t		n = strlen(opts),
				keep = 0;
	int			more = 0;
	char		tail[32];

	if (n < len)
	{
		memcpy(buf, opts, n + 1);
		return false;
	}
	for (size_t i = 0; i < n; i++)
		more += opts[i] == ',';
	more++;						/* the items after the last kept comma */
	for (size_t i = 0; i < n; i++)
	{
		if (opts[i] != ',')
			continue;
		snprintf(tail, sizeof(tail), ",... (%d more)", more - 1);
		if (i + strlen(tail) >= len)
			break;
		keep = i;
		more--;
	}
	snprintf(tail, sizeof(tail), "%s... (%d more)", keep ? "," : "", more);
	if (keep + strlen(tail) >= len)
		keep = 0;				/* no room even for one item */
	snprintf(buf, len, "%.*s%s", (int) keep, opts, tail);
	return true;
}

#define OPTIONS_CHANGED \
	"Redis progress record \"%s\" (at %s) last delivered xid %s committed %s, ending at %s, " \
	"chosen with the options \"%s\", but this bridge runs with \"%s\" and the replay " \
	"of slot \"%s\" presents %s: the options that choose transactions changed since " \
	"the record (not another history), nothing of it confirmed; restart once with the " \
	"recorded options%s until slot \"%s\" has confirmed past %s (its confirmed_flush_lsn, " \
	"then a CHECKPOINT so that a crash cannot move it back), then with the new options; " \
	"--accept-new-source would write every job between the slot and the record again"

/*
 * The options changed: both lists are named once and the way out refers to
 * "the recorded options", so that the cause and the way out always fit in
 * SINK_ERRLEN.  Lists too long for it (a --tables of many tables) are
 * shortened there ("... (N more)"); the recorded options are then logged
 * whole on a line of their own, and the way out names where they are kept
 * (test/t/533).
 */
static int
verdict_options(Sink *s, const redisReply *r, const char *here)
{
	RedisSink  *rs = s->priv;
	const char *recorded = redis_reply_str(r, 11);
	char		tbuf[64],
				was[SINK_ERRLEN],
				now[SINK_ERRLEN],
				where[160];
	int			base;
	size_t		room;
	bool		cut;

	time_text(redis_reply_str(r, 10), tbuf, sizeof(tbuf));
	snprintf(where, sizeof(where), " (logged above in full, and kept: HGET %s txn_options)",
			 rs->progress_key);
	base = snprintf(NULL, 0, OPTIONS_CHANGED, rs->progress_key, redis_reply_str(r, 2),
					redis_reply_str(r, 8), tbuf, redis_reply_str(r, 7), "", "", rs->src.slot,
					here, where, rs->src.slot, redis_reply_str(r, 7));
	room = base > 0 && (size_t) base + 2 * 40 < SINK_ERRLEN ? (SINK_ERRLEN - 1 - base) / 2 : 40;
	cut = options_brief(recorded, was, room + 1);
	cut |= options_brief(rs->options, now, room + 1);
	if (cut)
		log_msg(LOG_WARNING, "Redis progress record \"%s\": the recorded options are \"%s\", this "
				"bridge's \"%s\"", rs->progress_key, recorded, rs->options);
	return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL, OPTIONS_CHANGED,
					  rs->progress_key, redis_reply_str(r, 2), redis_reply_str(r, 8), tbuf,
					  redis_reply_str(r, 7), was, now, rs->src.slot, here,
					  cut ? where : "",
					  rs->src.slot, redis_reply_str(r, 7));
}

int
progress_verdict_history(Sink *s, const RCall *call, const redisReply *r)
{
	RedisSink  *rs = s->priv;
	const RItem *it = &call->items[call->done < call->nitems ? call->done : 0];
	const char *recorded = redis_reply_str(r, 11);
	char		tbuf[64];
	char		here[256];

	history_here(it, here, sizeof(here));
	if (*recorded != '\0' && strcmp(recorded, rs->options) != 0)
		return verdict_options(s, r, here);
	return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL,
					  "Redis progress record \"%s\" (at %s) last delivered xid %s committed %s, ending at %s, "
					  "but this server (system %s, timeline %s) presents %s: another history of the same "
					  "system and timeline (rolled back to a file-level copy?), nothing of it confirmed; "
					  "after a deliberate restore delete the record (DEL) and start with --accept-new-source "
					  "(that writes the jobs between the slot and the record again: if instead what the "
					  "options select changed, a publication's tables or a send() key, restore that until "
					  "slot \"%s\" has confirmed past %s)",
					  rs->progress_key, redis_reply_str(r, 2), redis_reply_str(r, 8),
					  time_text(redis_reply_str(r, 10), tbuf, sizeof(tbuf)), redis_reply_str(r, 7),
					  redis_reply_str(r, 3), redis_reply_str(r, 4), here, rs->src.slot, redis_reply_str(r, 7));
}
