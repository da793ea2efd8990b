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
 * older bridge's) is judged as another history, as before.
 *
 * The same holds before the replay gets there: a session that starts
 * below txn_end under other options would take what it decodes up to
 * there for delivered (under a wider --tables the newly selected tables'
 * transactions: a silent hole in their streams, test/t/550), so at every
 * session's start the record is read (progress_check_record(), one HMGET)
 * and such a start stops at once with the same verdict.  The options are
 * compared as a selection (txn_options_same(): --tables as a set of trimmed
 * patterns), so the recorded options in another spelling are no change.
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
#include "txn_options.h"

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
	return txn_options_text(cfg);
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

/* the length of OPTS at its shortest in txn_options_brief(): its first item */
static size_t
options_brief_len(const char *opts)
{
	char		buf[SINK_ERRLEN];

	txn_options_brief(opts, buf, sizeof(buf), 0);
	return strlen(buf);
}

/*
 * OPTS with its --tables as a count: "--plugin=wal2queue --tables=(2
 * tables)" (OPTS itself without --tables).
 */
static void
options_count(const char *opts, char *buf, size_t size)
{
	const char *t = strstr(opts, " --tables=");
	int			n = 1;

	if (t == NULL)
	{
		snprintf(buf, size, "%s", opts);
		return;
	}
	for (const char *c = t; *c; c++)
		n += *c == ',';
	snprintf(buf, size, "%.*s --tables=(%d table%s)", (int) (t - opts), opts, n,
			 n == 1 ? "" : "s");
}

/* TEXT in at most ROOM characters, its end cut to "..." if it must be */
static void
text_cut(const char *text, char *buf, size_t size, size_t room)
{
	if (strlen(text) <= room)
		snprintf(buf, size, "%s", text);
	else if (room >= 3)
		snprintf(buf, size, "%.*s...", (int) (room - 3), text);
	else
		snprintf(buf, size, "%.*s", (int) room, "...");
}

/* the room a message of BASE characters without its lists leaves them */
static size_t
room_left(int base)
{
	return base > 0 && (size_t) base < SINK_ERRLEN - 1 ? SINK_ERRLEN - 1 - (size_t) base : 0;
}

/*
 * The two option lists A (the record's) and B (this bridge's) of an
 * options-changed message in at most AVAIL characters together, into BA and
 * BB (of SIZE bytes each): whole if they fit; else each its first items and
 * "... (N more)", half the room each, at least its first item, what one
 * leaves going to the other (test/t/533, 553); else, when even the first
 * items do not fit (names of 63 characters: test/t/604), --tables as a count
 * ("(2 tables)"), cut at the end if even that does not fit.  Never more than
 * AVAIL: the message's way out is never cut.  Returns true if a list was
 * shortened (the caller logs both whole).
 */
static bool
fit_lists(const char *a, const char *b, size_t avail, char *ba, char *bb, size_t size)
{
	size_t		sa = options_brief_len(a),
				sb = options_brief_len(b),
				ra;
	char		ca[SINK_ERRLEN],
				cb[SINK_ERRLEN];
	bool		cut;

	if (sa + sb <= avail)
	{
		ra = avail / 2;
		ra = ra < sa ? sa : ra > avail - sb ? avail - sb : ra;
		if (strlen(b) < avail - ra)
			ra = avail - strlen(b);
		cut = txn_options_brief(a, ba, size, ra);
		cut |= txn_options_brief(b, bb, size, avail - (strlen(a) < ra ? strlen(a) : ra));
		if (strlen(ba) + strlen(bb) <= avail)
			return cut;
	}
	options_count(a, ca, sizeof(ca));
	options_count(b, cb, sizeof(cb));
	ra = avail / 2;
	if (strlen(cb) < avail - ra)
		ra = avail - strlen(cb);
	text_cut(ca, ba, size, ra);
	text_cut(cb, bb, size, avail - strlen(ba));
	return true;
}

/*
 * The progress key for a message of BASE characters without its lists,
 * with KEY in it: when they would leave the two lists fewer than LISTS_MIN
 * characters (room for both as counts; a --target-prefix of hundreds), the
 * key's start is cut to "...", keeping the slot's name at its end.
 */
#define LISTS_MIN	80

static void
key_fit(const char *key, char *buf, size_t size, int base)
{
	size_t		n = strlen(key);
	long		need = (long) base + LISTS_MIN - (long) (SINK_ERRLEN - 1);

	if (need <= 0 || n <= 3)
		snprintf(buf, size, "%s", key);
	else
		snprintf(buf, size, "...%s", key + ((size_t) need + 3 < n ? (size_t) need + 3 : n));
}

/* the record's last transaction, as text */
typedef struct RecordTxn
{
	const char *lsn;			/* the record's position */
	const char *txn_end;
	const char *xid;
	const char *commit_us;		/* microseconds since the Unix epoch */
	const char *options;		/* txn_options */
} RecordTxn;

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
#define OPTIONS_CHANGED \
	"Redis progress record \"%s\" (at %s) last delivered xid %s committed %s, ending at %s, " \
	"chosen with the options \"%s\", but this bridge runs with \"%s\" and %s: the options " \
	"that choose transactions changed since the record (not another history), nothing of " \
	"it confirmed; restart once with the recorded options%s until %s has confirmed past %s " \
	"(its confirmed_flush_lsn, then a CHECKPOINT so that a crash cannot move it back), then " \
	"with the new options; --accept-new-source would write every job between the slot and " \
	"the record again"

/* the message's parts other than the two lists, at one level of brevity */
typedef struct VerdictParts
{
	char		clause[384];	/* what the replay presents (or would) */
	char		where[160];		/* where the recorded options are */
	char		slot[80];		/* 'slot "name"' or "the slot" */
} VerdictParts;

/*
 * Level 0 names everything; 1 says only that the recorded options were
 * logged; 2 leaves the slot's name out too (the progress key holds it).
 */
static void
verdict_parts(const RedisSink *rs, int level, const char *clause_fmt,
			  const char *here, VerdictParts *p)
{
	if (level < 2)
		snprintf(p->slot, sizeof(p->slot), "slot \"%s\"", rs->src.slot);
	else
		snprintf(p->slot, sizeof(p->slot), "the slot");
	snprintf(p->clause, sizeof(p->clause), clause_fmt, p->slot, here);
	if (level == 0)
		snprintf(p->where, sizeof(p->where),
				 " (logged above in full, and kept: HGET %s txn_options)", rs->progress_key);
	else
		snprintf(p->where, sizeof(p->where), " (logged above in full)");
}

/* the length of the message without the lists */
static int
verdict_base(const char *key, const RecordTxn *rec, const char *tbuf,
			 const VerdictParts *p)
{
	return snprintf(NULL, 0, OPTIONS_CHANGED, key, rec->lsn, rec->xid, tbuf,
					rec->txn_end, "", "", p->clause, p->where, p->slot, rec->txn_end);
}

/*
 * The options changed: both lists are named once and the way out refers to
 * "the recorded options", so that the cause and the way out always fit in
 * SINK_ERRLEN.  Lists too long for it (a --tables of many tables) are
 * shortened there ("... (N more)"), never below their first item; when
 * even that does not fit (a slot name of 63 characters: test/t/553) the
 * other parts are shortened first (where the options are kept, then the
 * slot's name, which the progress key holds), and when the first items
 * still do not fit (a schema and tables of 63 characters: test/t/604) the
 * lists become counts (fit_lists()).  The recorded options are then logged
 * whole on a line of their own (test/t/533).  CLAUSE_FMT (with %s for the
 * slot, then HERE) says what the replay presents.
 */
static int
verdict_options(Sink *s, const RecordTxn *rec, const char *clause_fmt,
				const char *here)
{
	RedisSink  *rs = s->priv;
	char		tbuf[64],
				was[SINK_ERRLEN],
				now[SINK_ERRLEN],
				key[SINK_ERRLEN];
	VerdictParts p;
	size_t		avail = 0;
	bool		cut;

	time_text(rec->commit_us, tbuf, sizeof(tbuf));
	for (int level = 0; level <= 2; level++)
	{
		verdict_parts(rs, level, clause_fmt, here, &p);
		avail = room_left(verdict_base(rs->progress_key, rec, tbuf, &p));
		if (options_brief_len(rec->options) + options_brief_len(rs->options) <= avail)
			break;
	}
	key_fit(rs->progress_key, key, sizeof(key), verdict_base(rs->progress_key, rec, tbuf, &p));
	avail = room_left(verdict_base(key, rec, tbuf, &p));
	cut = fit_lists(rec->options, rs->options, avail, was, now, sizeof(was));
	if (cut)
		log_msg(LOG_WARNING, "Redis progress record \"%s\": the recorded options are \"%s\", this "
				"bridge's \"%s\"", rs->progress_key, rec->options, rs->options);
	return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL, OPTIONS_CHANGED,
					  key, rec->lsn, rec->xid, tbuf, rec->txn_end, was, now,
					  p.clause, cut ? p.where : "", p.slot, rec->txn_end);
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
	if (*recorded != '\0' && !txn_options_same(recorded, rs->options))
	{
		RecordTxn	rec = {redis_reply_str(r, 2), redis_reply_str(r, 7), redis_reply_str(r, 8),
		redis_reply_str(r, 10), recorded};

		return verdict_options(s, &rec, "the replay of %s presents %s", here);
	}
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

/*
 * The session's start, before anything is sent: a replay from below the
 * record's last transaction takes the transactions it decodes up to
 * there for delivered (the deliver function skips them).  That holds only
 * under the options that transaction was chosen with: under a wider
 * --tables the newly selected tables' transactions below txn_end would be
 * skipped and those between txn_end and the record's lsn written, a hole
 * in their streams that nothing reports (test/t/550); under a narrower
 * one the replay stops at txn_end (492).  So a session that starts below
 * txn_end of a record of its own source, under options other than
 * txn_options, stops at once with the options-changed verdict.  The
 * record's fields, as the deliver function reads them.
 */
#define RECORD_FIELDS	11
static const char *const record_fields[RECORD_FIELDS] = {
	"sysid", "timeline", "db", "slot", "lsn",
	"txn_end", "txn_xid", "txn_commit_time", "txn_source", "txn_options", "lsn_options"
};

#define OPTIONS_CHANGED_NO_TXN \
	"Redis progress record \"%s\" (at %s, no transaction delivered since it was created or " \
	"taken over) was written with the options \"%s\", but this bridge runs with \"%s\" and " \
	"%s restarts at %s, below it, where the replay would skip what it decodes as " \
	"delivered: the options that choose transactions changed since the record, nothing of it " \
	"confirmed; restart once with the recorded options until the slot has confirmed past %s " \
	"(its confirmed_flush_lsn, then a CHECKPOINT so that a crash cannot move it back), then " \
	"with the new options; --accept-new-source would write every job between the slot and " \
	"the record again"

/*
 * A record without a last transaction of this source (none delivered since
 * it was made or taken over, or only another source's: deliver() skips
 * every item up to its lsn, unseen() needing a txn_end of this source)
 * whose lsn was written under other options than this session's, with the
 * slot below that lsn: the replay would skip the newly selected tables'
 * transactions (test/t/576, 600).  Records of bridges before lsn_options
 * are not judged (nothing says what chose them).
 */
static int
record_no_txn(Sink *s, const redisReply *r)
{
	RedisSink  *rs = s->priv;
	const char *lsn = redis_reply_str(r, 4);
	const char *opts = redis_reply_str(r, 10);
	uint64_t	at;
	char		was[SINK_ERRLEN],
				now[SINK_ERRLEN],
				key[SINK_ERRLEN],
				slot[96],
				from[LSN_STRLEN];
	size_t		avail = 0;
	bool		cut;

	if (*opts == '\0' ||
		!lsn_parse(lsn, strlen(lsn), &at) || rs->last_end >= at ||
		txn_options_same(opts, rs->options))
		return SINK_OK;
	lsn_format(rs->last_end, from, sizeof(from));
	/* as verdict_options(): the slot's name goes before the lists' first items */
	for (int level = 0; level <= 1; level++)
	{
		if (level == 0)
			snprintf(slot, sizeof(slot), "slot \"%s\"", rs->src.slot);
		else
			snprintf(slot, sizeof(slot), "the slot");
		avail = room_left(snprintf(NULL, 0, OPTIONS_CHANGED_NO_TXN, rs->progress_key, lsn, "", "",
								   slot, from, lsn));
		if (options_brief_len(opts) + options_brief_len(rs->options) <= avail)
			break;
	}
	key_fit(rs->progress_key, key, sizeof(key),
			snprintf(NULL, 0, OPTIONS_CHANGED_NO_TXN, rs->progress_key, lsn, "", "", slot, from, lsn));
	avail = room_left(snprintf(NULL, 0, OPTIONS_CHANGED_NO_TXN, key, lsn, "", "", slot, from, lsn));
	cut = fit_lists(opts, rs->options, avail, was, now, sizeof(was));
	if (cut)
		log_msg(LOG_WARNING, "Redis progress record \"%s\": the recorded options are \"%s\", this "
				"bridge's \"%s\"", rs->progress_key, opts, rs->options);
	return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL, OPTIONS_CHANGED_NO_TXN,
					  key, lsn, was, now, slot, from, lsn);
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* send HMGET of the record and wait for its answer (progress_on_record) */
int
progress_check_record(Sink *s)
{
	RedisSink  *rs = s->priv;
	RespBuf		head = {0};
	RCall	   *call = calloc(1, sizeof(RCall));
	int64_t		deadline = mono_ms() + SINK_MAX_WAIT_MS;
	bool		ok;
	int			rc;

	ok = call != NULL && resp_arg_str(&head, "HMGET") && resp_arg_str(&head, rs->progress_key);
	for (int i = 0; ok && i < RECORD_FIELDS; i++)
		ok = resp_arg_str(&head, record_fields[i]);
	if (!ok)
	{
		free(call);
		resp_free(&head);
		return errbuf_set(s->err, SINK_ERRLEN, SINK_FATAL, "out of memory");
	}
	call->kind = RCALL_RECORD;
	rs->record_pending = true;
	rc = pipe_send(s, call, &head, NULL, 0, NULL);
	resp_free(&head);
	/* the calls of an earlier session are answered first (stale: ignored) */
	while (rc == SINK_OK && rs->record_pending)
	{
		int64_t		left = deadline - mono_ms();

		if (left <= 0)
			rc = errbuf_set(s->err, SINK_ERRLEN, SINK_RETRY,
							"Redis did not answer HMGET %s within %d ms",
							rs->progress_key, SINK_MAX_WAIT_MS);
		else
			rc = pipe_poll(s, (int) left);
	}
	rs->record_pending = false;
	return rc;
}

/* is field I of the HMGET's answer present (not nil)? */
static bool
field_present(const redisReply *r, size_t i)
{
	return i < r->elements && r->element[i]->type != REDIS_REPLY_NIL;
}

/*
 * The answer to progress_check_record()'s HMGET.  The record's last
 * transaction counts as the deliver function's lasttxn() counts it: only
 * with txn_end (an LSN), txn_xid and txn_commit_time, and txn_source this
 * source.
 * Another source's (a record taken over by a backfill of a bridge before
 * test/t/600's fix, with --accept-new-source) proves nothing about this
 * source: the deliver function skips every item up to lsn then, and the
 * record is judged as one without a transaction (record_no_txn()).
 */
int
progress_on_record(Sink *s, const redisReply *r)
{
	RedisSink  *rs = s->priv;
	char		tl[16],
				source[48];
	const char *txn_end;
	uint64_t	tend;
	RecordTxn	rec;
	char		here[LSN_STRLEN + 160],
				from[LSN_STRLEN];

	rs->record_pending = false;
	/*
	 * A pause (LOADING, BUSY) is retried; a refusal (WRONGTYPE, NOPERM) the
	 * deliver function meets too, and answers with its own verdict.
	 */
	if (r->type == REDIS_REPLY_ERROR && redis_error_rc(r->str) == SINK_RETRY)
		return errbuf_set(s->err, SINK_ERRLEN, SINK_RETRY,
						  "could not read the Redis progress record \"%s\": %s",
						  rs->progress_key, r->str);
	if (r->type != REDIS_REPLY_ARRAY || r->elements != RECORD_FIELDS)
		return SINK_OK;			/* the deliver function answers that */
	snprintf(tl, sizeof(tl), "%" PRIu32, rs->src.timeline);
	snprintf(source, sizeof(source), "%s/%s", rs->src.sysid, tl);
	txn_end = redis_reply_str(r, 5);
	/* only where the deliver function would skip: its own source's record */
	if (strcmp(redis_reply_str(r, 0), rs->src.sysid) != 0 ||
		strcmp(redis_reply_str(r, 1), tl) != 0 ||
		strcmp(redis_reply_str(r, 2), rs->src.dbname) != 0 ||
		strcmp(redis_reply_str(r, 3), rs->src.slot) != 0)
		return SINK_OK;
	if (!field_present(r, 5) || !field_present(r, 6) || !field_present(r, 7) ||
		strcmp(redis_reply_str(r, 8), source) != 0 ||
		!lsn_parse(txn_end, strlen(txn_end), &tend))
		return record_no_txn(s, r);
	if (*redis_reply_str(r, 9) == '\0' || rs->last_end >= tend ||
		txn_options_same(redis_reply_str(r, 9), rs->options))
		return SINK_OK;
	rec.lsn = redis_reply_str(r, 4);
	rec.txn_end = txn_end;
	rec.xid = redis_reply_str(r, 6);
	rec.commit_us = redis_reply_str(r, 7);
	rec.options = redis_reply_str(r, 9);
	snprintf(here, sizeof(here), "%s, below that transaction, where the replay would skip "
			 "what it decodes as delivered", lsn_format(rs->last_end, from, sizeof(from)));
	return verdict_options(s, &rec, "%s restarts at %s", here);
}
