/*-------------------------------------------------------------------------
 *
 * kafka_record_verdict.c
 *		The verdict on the Kafka position record read at a session's start
 *		(kafka_record.c's header says what the record is and what each
 *		verdict means): none, another source's, this source's behind the
 *		slot, or under another shape or options (record_shape(),
 *		record_options(), and kafka_record_skip_check() for a mark that
 *		would skip a job the record's options did not choose).
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "kafka_record.h"
#include "kafka_record_internal.h"
#include "kafka_sink.h"
#include "log.h"
#include "txn_options.h"

/* ---- the verdict ---- */

/* "<sysid>/<timeline>/<db>/<slot>": the sysid, and what follows the timeline */
static bool
source_parts(const char *s, char *sysid, size_t len, const char **rest)
{
	const char *a = strchr(s, '/');

	if (a == NULL || (size_t) (a - s) >= len || (*rest = strchr(a + 1, '/')) == NULL)
		return false;
	memcpy(sysid, s, a - s);
	sysid[a - s] = '\0';
	return true;
}

/*
 * The record's key: the source without its timeline, "<sysid>/<dbname>/<slot>".
 * Deployments sharing a cluster (and its positions topic) with slots named
 * alike have keys apart; a promotion (same system, next timeline) finds
 * its record and is told it is on another timeline.
 */
void
kafka_record_key(const KafkaSink *ks, char *key, size_t len)
{
	char		sysid[32];
	const char *rest;

	if (source_parts(ks->source, sysid, sizeof(sysid), &rest))
		snprintf(key, len, "%s%s", sysid, rest);
	else
		snprintf(key, len, "%s", ks->source);
}

/* a record of another source: fatal, or taken over with --accept-new-source */
static int
record_foreign(KafkaSink *ks, const RecordReq *q)
{
	char		a[LSN_STRLEN] = "?",
				what[96] = "",
				sysid[32],
				other[32];
	const char *r1,
			   *r2;

	if (q->has_lsn)
		lsn_format(q->lsn, a, sizeof(a));
	/* a slot this run created starts past what the old one had not delivered */
	if ((ks->flags & SINK_REPLAY_ACCEPT_NEW) && (ks->flags & SINK_REPLAY_NEW_SLOT) &&
		source_parts(q->source, other, sizeof(other), &r1) &&
		source_parts(ks->source, sysid, sizeof(sysid), &r2) &&
		(r1 - q->source != r2 - ks->source || memcmp(q->source, ks->source, r1 - q->source) != 0))
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_FATAL,
						  "kafka topic \"%s\" holds the position record of slot \"%s\" for %s (at %s), "
						  "and this run created the slot on %s: the new slot starts past every job the "
						  "old one had not delivered, and --accept-new-source without --backfill would "
						  "lose them silently; " SINK_FAILOVER_HINT, q->topic, ks->src.slot, q->source,
						  a, ks->source);
	if (ks->flags & SINK_REPLAY_ACCEPT_NEW)
	{
		log_msg(LOG_WARNING, "kafka topic \"%s\" holds the position record of slot \"%s\" for "
				"source %s (at %s), not %s: taking it over (--accept-new-source); it vouches "
				"for nothing in this session", q->topic, ks->src.slot,
				q->source[0] ? q->source : "(none)", a, ks->source);
		return SINK_OK;
	}
	if (source_parts(q->source, other, sizeof(other), &r1) &&
		source_parts(ks->source, sysid, sizeof(sysid), &r2) && strcmp(sysid, other) == 0 &&
		strcmp(r1, r2) == 0)
		snprintf(what, sizeof(what), " (the same system, database and slot on another timeline)");
	return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_FATAL,
					  "kafka topic \"%s\" holds the position record of slot \"%s\" for another source: "
					  "%s%s (at %s, offset %" PRId64 "), this bridge streams %s; another bridge of "
					  "that slot name writes it or the server changed; " SINK_FAILOVER_HINT,
					  q->topic, ks->src.slot, q->source[0] ? q->source : "none recorded", what, a,
					  q->offset, ks->source);
}

/* what decides a job's topic and partition, as recorded */
void
kafka_record_shape_format(const KafkaSink *ks, char *buf, size_t len)
{
	const SinkConfig *cfg = ks->sink.cfg;

	snprintf(buf, len, "plugin=%s key-column=%s route-column=%s target-prefix=%s",
			 cfg->plugin ? cfg->plugin : "wal2queue", cfg->key_column ? cfg->key_column : "",
			 cfg->route_column ? cfg->route_column : "",
			 cfg->target_prefix ? cfg->target_prefix : "");
}

/*
 * The record's shape differs from this bridge's: a replay of delivered
 * transactions (the slot begins below the record) would put their jobs
 * under other keys or topics, whose marks do not cover them: refused,
 * unless --accept-new-source (duplicates accepted).  Nothing replayed: the
 * new shape is recorded from now on.
 */
static int
record_shape(KafkaSink *ks, const RecordReq *q)
{
	char		shape[KAFKA_SHAPE_LEN],
				a[LSN_STRLEN],
				b[LSN_STRLEN];

	kafka_record_shape_format(ks, shape, sizeof(shape));
	if (q->shape[0] == '\0' || strcmp(q->shape, shape) == 0)
		return SINK_OK;
	lsn_format(q->lsn, a, sizeof(a));
	lsn_format(ks->from, b, sizeof(b));
	if (ks->from >= q->lsn)
	{
		log_msg(LOG_INFO, "slot \"%s\": jobs are keyed and routed as \"%s\" from %s on, "
				"recorded until then as \"%s\"", ks->src.slot, shape, b, q->shape);
		return SINK_OK;
	}
	if (ks->flags & SINK_REPLAY_ACCEPT_NEW)
	{
		log_msg(LOG_WARNING, "slot \"%s\" replays from %s transactions delivered up to %s as "
				"\"%s\", now \"%s\": their jobs are written again (--accept-new-source)",
				ks->src.slot, b, a, q->shape, shape);
		return SINK_OK;
	}
	return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_FATAL,
					  "slot \"%s\" replays from %s transactions delivered up to %s with \"%s\", "
					  "but this bridge runs with \"%s\": their jobs would go to other partitions "
					  "or topics, whose marks do not cover them, and be written twice; restart "
					  "with the old options until the slot has passed %s, or accept the "
					  "duplicates with --accept-new-source", ks->src.slot, b, a, q->shape, shape, a);
}

/*
 * (Since test/t/660 and 661 the judgement below applies only where the
 * session cannot replay under the recorded options: no WAL end known, or
 * another plugin or publication with --accept-new-source; otherwise
 * record_options() has the bridge replay under them up to the old horizon,
 * then switch: options_replay(), options_switch().)
 *
 * The options that chose the transactions before the record (its options
 * header: the plugin, --publication, --tables; txn_options.c), against
 * this bridge's.  A replay from below the record hands over again what
 * the slot confirmed, and a job at or below its partition's mark is taken
 * for delivered and skipped (kafka_marks.c).  Under options that select
 * transactions the recorded ones did not (a wider --tables, another
 * publication), a newly selected table's jobs below a mark were never
 * sent: skipping them is a silent hole in its stream (test/t/601, as
 * Redis's 550).  So a session that starts below such a record stops at
 * once, naming both lists and the way out that writes nothing twice (the
 * recorded options until the slot has passed the record).  One that starts
 * at or past it goes on, but marks written past the record (jobs Kafka
 * acknowledged after its last write) are no evidence either: the session
 * stops at the first job a mark would skip (kafka_record_skip_check).
 * Narrower options (the recorded ones select every transaction they do)
 * skip only what was delivered: they go on.  --accept-new-source does not
 * make a skip sound: it starts the session, and a skip still stops it (with
 * new topics, another --target-prefix, nothing is skipped).  A record of an
 * older bridge, without the header, is not judged.
 */
/*
 * Such a session also writes nothing below a mark written before it (a job
 * of a newly selected table the partition's read back did not find there,
 * kafka_record_below_check): the partition's last job would move below the
 * marked ones, and the way out (the recorded options) would write them
 * again (test/t/630).  And until it has passed every mark written before
 * it, its record keeps the recorded options (kafka_record.c
 * record_produce()): a retry of the same command after it stopped still
 * sees the change and judges the old marks (test/t/631).  Those marks are
 * all at or below the server's WAL end at the session's start (was_until):
 * a job is delivered only once its commit was flushed.
 */
/*
 * The recorded options WAS and this bridge's NOW for a message whose other
 * parts take BASE characters: shortened to their first items ("... (N
 * more)") so that the whole message fits SINK_ERRLEN, each list at least
 * half the room left (what one leaves goes to the other), or "(logged
 * above)" when not even that fits; then both are logged whole on a
 * WARNING line first.
 */
static void
fit_lists(const KafkaSink *ks, const char *was, const char *now, int base,
		  char *bwas, char *bnow, size_t size)
{
	size_t		avail = base >= 0 && base < SINK_ERRLEN - 1 ? SINK_ERRLEN - 1 - (size_t) base : 0,
				lw = strlen(was),
				ln = strlen(now),
				rw = avail / 2,
				rn = avail - rw;
	bool		cut;

	if (lw < rw)
		rn = avail - lw;
	else if (ln < rn)
		rw = avail - ln;
	cut = txn_options_brief(was, bwas, size, rw);
	cut |= txn_options_brief(now, bnow, size, rn);
	if (strlen(bwas) + strlen(bnow) > avail)
	{
		snprintf(bwas, size, "(logged above)");
		snprintf(bnow, size, "(logged above)");
		cut = true;
	}
	if (cut)
		log_msg(LOG_WARNING, "kafka position record of slot \"%s\": the recorded options are "
				"\"%s\", this bridge's \"%s\"", ks->src.slot, was, now);
}

#define OPTIONS_CHANGED_START \
	"kafka position record of slot \"%s\" (at %s) was written with the options \"%s\", " \
	"but this bridge runs with \"%s\", which select transactions those did not, and the " \
	"slot restarts at %s, below the record: the partitions' marks would take the newly " \
	"selected transactions' jobs below them for delivered and skip them; nothing of it " \
	"written or confirmed; restart once with the recorded options until slot \"%s\" has " \
	"confirmed past %s (its confirmed_flush_lsn, then a CHECKPOINT so that a crash cannot " \
	"move it back), then with the new options (or write everything from the slot again " \
	"into new topics: another --target-prefix with --accept-new-source)"

#define OPTIONS_NO_REPLAY \
	"kafka position record of slot \"%s\" (at %s) was written with the options \"%s\", " \
	"but this bridge runs with \"%s\", another plugin or publication, and the slot " \
	"restarts at %s, below %s (the server's WAL end: every job written under the recorded " \
	"options is at or below it): a job's seq counts the jobs the options select in its " \
	"transaction, so the partitions' marks would skip or repeat jobs numbered under other " \
	"options, and the bridge replays only another --tables; nothing of it written or " \
	"confirmed; restart once with the recorded options until slot \"%s\" has confirmed past " \
	"%s (its confirmed_flush_lsn, then a CHECKPOINT so that a crash cannot move it back), " \
	"then with the new options (or write everything from the slot again into new topics: " \
	"another --target-prefix with --accept-new-source)"

#define OPTIONS_REPLAY \
	"kafka position record of slot \"%s\" (at %s) was written with the options \"%s\", " \
	"this bridge runs with \"%s\", and the slot restarts at %s, below %s (the server's WAL " \
	"end: every job written under the recorded options is at or below it); a job's seq " \
	"counts the jobs the options select in its transaction, so the partitions' marks hold " \
	"only under the recorded ones: replaying under them until the slot has passed it, " \
	"then switching to this bridge's"

/*
 * The options differ, and the session starts at or past the old horizon
 * (every job written under the recorded ones is at or below it), or past
 * this process's replay under them (switch_lsn): no job of this session is
 * at or below a mark of theirs, so the marks judge nothing by seq across
 * the options.  Its jobs wait for a record with its own options (hold).
 */
static int
options_switch(KafkaSink *ks, KafkaRecord *rec, const RecordReq *q, uint64_t horizon,
			   bool replayed)
{
	char		a[LSN_STRLEN],
				b[LSN_STRLEN],
				h[LSN_STRLEN];

	lsn_format(q->lsn, a, sizeof(a));
	lsn_format(ks->from, b, sizeof(b));
	lsn_format(horizon, h, sizeof(h));
	log_msg(LOG_INFO, "slot \"%s\": transactions are chosen with \"%s\" from %s on, recorded "
			"until then (%s) with \"%s\"%s", ks->src.slot, rec->options, b, a, q->options,
			replayed ? ", which this process replayed up to there" :
			", the server's WAL end: nothing was written past it");
	rec->hold = true;
	free(rec->switch_options);
	rec->switch_options = NULL;
	/* the record keeps them below the switch: a crash may move the slot back */
	free(rec->below);
	if ((rec->below = strdup(q->options)) == NULL)
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
	rec->below_until = horizon;
	return SINK_OK;
}

/*
 * The session must replay under OPTS (the recorded ones, or those below a
 * switch the record kept) up to UNTIL: handed to the bridge with a
 * SINK_RETRY (sink->replay_options) when only --tables differs; another
 * plugin or publication the bridge cannot replay: fatal, naming the way
 * out (with --accept-new-source: SINK_OK, judged by the marks).
 */
static int
options_replay(KafkaSink *ks, KafkaRecord *rec, const RecordReq *q, const char *opts,
			   uint64_t until)
{
	char		a[LSN_STRLEN],
				b[LSN_STRLEN],
				h[LSN_STRLEN],
				was[SINK_ERRLEN],
				now[SINK_ERRLEN];
	char	   *tables;
	bool		nomem;

	lsn_format(q->lsn, a, sizeof(a));
	lsn_format(ks->from, b, sizeof(b));
	lsn_format(until, h, sizeof(h));
	if (txn_options_tables_of(opts, rec->options, &tables, &nomem))
	{
		free(tables);
		free(ks->sink.replay_options);
		if ((ks->sink.replay_options = strdup(opts)) == NULL)
			return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
		ks->sink.replay_until = until;
		fit_lists(ks, opts, rec->options,
				  snprintf(NULL, 0, OPTIONS_REPLAY, ks->src.slot, a, "", "", b, h), was, now,
				  sizeof(was));
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, OPTIONS_REPLAY,
						  ks->src.slot, a, was, now, b, h);
	}
	if (nomem)
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
	if (ks->flags & SINK_REPLAY_ACCEPT_NEW)
		return SINK_OK;
	fit_lists(ks, opts, rec->options,
			  snprintf(NULL, 0, OPTIONS_NO_REPLAY, ks->src.slot, a, "", "", b, h,
					   ks->src.slot, h), was, now, sizeof(was));
	return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_FATAL, OPTIONS_NO_REPLAY,
					  ks->src.slot, a, was, now, b, h, ks->src.slot, h);
}

/*
 * No WAL end known, or --accept-new-source: a session under other options
 * is judged by the marks (601, 630, 631); a and b are the record's and the
 * slot's positions as text
 */
static int
options_by_marks(KafkaSink *ks, KafkaRecord *rec, const RecordReq *q, const char *a,
				 const char *b)
{
	char		was[SINK_ERRLEN],
				now[SINK_ERRLEN];
	bool		own;

	if (txn_options_within(rec->options, q->options))
	{
		if (!txn_options_same(rec->options, q->options))
			log_msg(LOG_INFO, "slot \"%s\": transactions are chosen with \"%s\" from %s on, "
					"recorded until then (%s) with \"%s\", which select all of them",
					ks->src.slot, rec->options, b, a, q->options);
		return SINK_OK;
	}
	/*
	 * A record an earlier session of this process kept the recorded options
	 * in (a reconnect before it passed was_until): below it, the marks of
	 * the stretch it handed over are its own (own_mark())
	 */
	own = rec->own_was != NULL && txn_options_same(q->options, rec->own_was) &&
		q->lsn <= rec->own_rec && ks->from >= rec->own_from;
	if (ks->from < q->lsn && !own && !(ks->flags & SINK_REPLAY_ACCEPT_NEW))
	{
		fit_lists(ks, q->options, rec->options,
				  snprintf(NULL, 0, OPTIONS_CHANGED_START, ks->src.slot, a, "", "", b,
						   ks->src.slot, a), was, now, sizeof(was));
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_FATAL, OPTIONS_CHANGED_START,
						  ks->src.slot, a, was, now, b, ks->src.slot, a);
	}
	if ((rec->was_options = strdup(q->options)) == NULL)
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
	rec->was_lsn = q->lsn;
	/* no WAL end known: the old options stay in the record all session */
	rec->was_until = ks->src.wal_end == 0 ? UINT64_MAX :
		ks->src.wal_end > q->lsn ? ks->src.wal_end : q->lsn;
	rec->was_passed = false;
	if (rec->own_was == NULL || !txn_options_same(q->options, rec->own_was))
	{
		free(rec->own_was);
		if ((rec->own_was = strdup(q->options)) == NULL)
			return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
		rec->own_from = ks->from;
		rec->own_any = false;
		rec->own_rec = 0;
	}
	log_msg(ks->from < q->lsn && !own ? LOG_WARNING : LOG_INFO,
			"slot \"%s\": transactions are chosen with \"%s\" from %s on, recorded until "
			"then (%s) with \"%s\"%s; a job a partition's mark covers stops the bridge",
			ks->src.slot, rec->options, b, a, q->options,
			ks->from >= q->lsn ? "" : own ? ", the slot below the record an earlier session of "
			"this process kept them in (the marks of the jobs it wrote are its own)" :
			", the slot below the record (--accept-new-source)");
	return SINK_OK;
}

static int
record_options(KafkaSink *ks, KafkaRecord *rec, const RecordReq *q)
{
	char		a[LSN_STRLEN],
				b[LSN_STRLEN];
	uint64_t	horizon;
	int			rc;

	free(rec->was_options);
	rec->was_options = NULL;
	lsn_format(q->lsn, a, sizeof(a));
	lsn_format(ks->from, b, sizeof(b));
	if (q->options == NULL)
	{
		if (ks->from < q->lsn)
			log_msg(LOG_INFO, "the kafka position record of slot \"%s\" (at %s) does not say "
					"which options chose its transactions (an older wal2queue wrote it): not "
					"checked against this bridge's \"%s\"", ks->src.slot, a, rec->options);
		return SINK_OK;
	}
	if (txn_options_same(rec->options, q->options))
	{
		/* a crash moved the slot back below a switch the record kept */
		if (q->below != NULL && ks->from < q->below_until)
			return options_replay(ks, rec, q, q->below, q->below_until);
		if (q->below != NULL && (rec->below = strdup(q->below)) == NULL)
			return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
		rec->below_until = q->below_until;
		return SINK_OK;
	}
	/* the replay under the options below such a switch (bridge.c) */
	if (ks->sink.session_options != NULL && q->below != NULL &&
		txn_options_same(rec->options, q->below) && ks->from < q->below_until)
		return SINK_OK;
	/*
	 * Another selection numbers a transaction's jobs otherwise (a job's seq
	 * counts the jobs the options select in it: test/t/660, 661), so no
	 * mark written under the recorded options may judge a job of this
	 * session's.  Those marks are all at or below the old horizon, the
	 * server's WAL end at the session's start (a job is delivered only once
	 * its commit was flushed) or the record if higher.  A session that
	 * starts there switches at once; one below it replays under the
	 * recorded options up to there first (the bridge reopens the stream
	 * with them: bridge.c), unless the plugin or the publication differ,
	 * which the bridge cannot replay (below).
	 */
	horizon = ks->src.wal_end > q->lsn ? ks->src.wal_end : q->lsn;
	if (rec->switch_options != NULL && txn_options_same(q->options, rec->switch_options) &&
		q->lsn == rec->switch_lsn && ks->from >= q->lsn)
		return options_switch(ks, rec, q, q->lsn, true);
	if (ks->src.wal_end != 0 && ks->from >= horizon)
		return options_switch(ks, rec, q, horizon, false);
	if (ks->src.wal_end != 0)
	{
		rc = options_replay(ks, rec, q, q->options, horizon);
		if (rc != SINK_OK || !(ks->flags & SINK_REPLAY_ACCEPT_NEW))
			return rc;
	}
	return options_by_marks(ks, rec, q, a, b);
}

/*
 * Is mk, the mark of o's partition, one of this process's own sessions
 * under these options (the stretch they handed over in order from
 * own_from to own_high without meeting a mark written before them: an
 * older mark there would have stopped them), and o in that stretch?
 */
static bool
own_mark(const KafkaRecord *rec, const KafkaMark *mk, const KafkaOut *o)
{
	return rec->own_any && o->lsn >= rec->own_from &&
		(mk->lsn < rec->own_high.lsn ||
		 (mk->lsn == rec->own_high.lsn && mk->seq <= rec->own_high.seq));
}

/* o passed the checks and is written: the own stretch reaches it */
void
kafka_record_own_job(KafkaSink *ks, const KafkaOut *o)
{
	KafkaRecord *rec = ks->rec;

	if (rec == NULL || rec->was_options == NULL)
		return;
	if (!rec->own_any || o->lsn > rec->own_high.lsn ||
		(o->lsn == rec->own_high.lsn && o->seq > rec->own_high.seq))
		rec->own_high = (KafkaPos) {o->lsn, o->seq};
	rec->own_any = true;
}

#define OPTIONS_CHANGED_SKIP \
	"kafka topic \"%s\" partition %d holds jobs up to lsn %s written before this session, " \
	"when the position record of slot \"%s\" (at %s) had the options \"%s\", but this " \
	"bridge runs with \"%s\", which select transactions those did not: %s %.*s's job at lsn " \
	"%s would be skipped as delivered, and may never have been sent; nothing skipped was " \
	"confirmed; restart once with the recorded options until slot \"%s\" has confirmed past " \
	"%s (its confirmed_flush_lsn, then a CHECKPOINT so that a crash cannot move it back), " \
	"then with the new options"

/*
 * A job its partition's mark covers, in a session whose record was written
 * under options that select less than this bridge's: the mark is no
 * evidence that it was sent (record_options).  Fatal.
 */
int
kafka_record_skip_check(KafkaSink *ks, const KafkaTopic *t, int32_t partition,
						const KafkaOut *o)
{
	KafkaRecord *rec = ks->rec;
	char		m[LSN_STRLEN],
				a[LSN_STRLEN],
				l[LSN_STRLEN],
				was[SINK_ERRLEN],
				now[SINK_ERRLEN];
	const char *what = o->table ? "table" : "the message to topic";
	int			wlen = o->table ? (int) o->table_len : (int) strlen(t->name);
	const char *wname = o->table ? o->table : t->name;

	if (rec == NULL || rec->was_options == NULL || own_mark(rec, &t->marks[partition], o))
		return SINK_OK;
	lsn_format(t->marks[partition].lsn, m, sizeof(m));
	lsn_format(rec->was_lsn, a, sizeof(a));
	lsn_format(o->lsn, l, sizeof(l));
	fit_lists(ks, rec->was_options, rec->options,
			  snprintf(NULL, 0, OPTIONS_CHANGED_SKIP, t->name, (int) partition, m, ks->src.slot,
					   a, "", "", what, wlen, wname, l, ks->src.slot, m), was, now, sizeof(was));
	return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_FATAL, OPTIONS_CHANGED_SKIP,
					  t->name, (int) partition, m, ks->src.slot, a, was, now, what, wlen, wname,
					  l, ks->src.slot, m);
}

#define OPTIONS_CHANGED_BELOW \
	"kafka topic \"%s\" partition %d holds jobs up to lsn %s written before this session, " \
	"when the position record of slot \"%s\" (at %s) had the options \"%s\", but this " \
	"bridge runs with \"%s\", which select transactions those did not: %s %.*s's job at lsn " \
	"%s, not among the jobs read back there, would be written below them, and the " \
	"partition's last job would no longer cover them; nothing of it written; restart once " \
	"with the recorded options until slot \"%s\" has confirmed past %s (its " \
	"confirmed_flush_lsn, then a CHECKPOINT so that a crash cannot move it back), then with " \
	"the new options"

/*
 * A job below its partition's mark that the mark does not cover (not
 * among the jobs read back from a suspect or the tail's floor on,
 * kafka_marks.c), in a session whose record was written under options
 * that select less than this bridge's.  Under the same options such a job
 * is one Kafka lost, and is written again; here it may be a newly selected
 * table's job that was never owed to that partition before (record_options):
 * written, it would become the partition's last job, below the marked ones,
 * which a replay under the recorded options (the way out) then writes a
 * second time (test/t/630).  Fatal; SINK_OK when the job is past the mark
 * or no options changed.  The session's own jobs come in order, so a mark
 * past the job was written before the session.
 */
int
kafka_record_below_check(KafkaSink *ks, const KafkaTopic *t, int32_t partition,
						 const KafkaOut *o)
{
	KafkaRecord *rec = ks->rec;
	const KafkaMark *mk = &t->marks[partition];
	char		m[LSN_STRLEN],
				a[LSN_STRLEN],
				l[LSN_STRLEN],
				was[SINK_ERRLEN],
				now[SINK_ERRLEN];
	const char *what = o->table ? "table" : "the message to topic";
	int			wlen = o->table ? (int) o->table_len : (int) strlen(t->name);
	const char *wname = o->table ? o->table : t->name;

	if (rec == NULL || rec->was_options == NULL || !mk->has_mark ||
		o->lsn > mk->lsn || (o->lsn == mk->lsn && o->seq >= mk->seq) || own_mark(rec, mk, o))
		return SINK_OK;
	lsn_format(mk->lsn, m, sizeof(m));
	lsn_format(rec->was_lsn, a, sizeof(a));
	lsn_format(o->lsn, l, sizeof(l));
	fit_lists(ks, rec->was_options, rec->options,
			  snprintf(NULL, 0, OPTIONS_CHANGED_BELOW, t->name, (int) partition, m, ks->src.slot,
					   a, "", "", what, wlen, wname, l, ks->src.slot, m), was, now, sizeof(was));
	return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_FATAL, OPTIONS_CHANGED_BELOW,
					  t->name, (int) partition, m, ks->src.slot, a, was, now, what, wlen, wname,
					  l, ks->src.slot, m);
}

/*
 * No record of this slot.  A new slot has none yet; one that delivered
 * before (SINK_REPLAY_DELIVERED: the registry or the server's statistics
 * say so) had one written at its first session's start, before anything
 * was confirmed: the cluster lost it, and with it the jobs it held (rebuilt
 * or restored empty, topics re-created), or the positions topic changed:
 * fatal, unless the bridge created the slot or --accept-new-source.
 */
static int
record_none(KafkaSink *ks, const RecordReq *q)
{
	char		a[LSN_STRLEN];

	lsn_format(ks->from, a, sizeof(a));
	if (!(ks->flags & SINK_REPLAY_DELIVERED) || (ks->flags & SINK_REPLAY_NEW_SLOT))
	{
		log_msg(LOG_DEBUG, "kafka topic \"%s\" holds no position record of slot \"%s\"",
				q->topic, ks->src.slot);
		return SINK_OK;
	}
	if (ks->flags & SINK_REPLAY_ACCEPT_NEW)
	{
		log_msg(LOG_WARNING, "kafka topic \"%s\" holds no position record of slot \"%s\", which "
				"delivered before (confirmed up to %s): continuing from the slot's position "
				"(--accept-new-source); what the cluster lost is not sent again", q->topic,
				ks->src.slot, a);
		return SINK_OK;
	}
	return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_FATAL,
					  "kafka topic \"%s\" holds no position record of slot \"%s\", but the slot "
					  "delivered before and has confirmed positions up to %s: the Kafka cluster lost "
					  "its data (rebuilt or restored empty, topics deleted and re-created), the "
					  "positions topic changed (--kafka-positions-topic), or the slot was used by a "
					  "wal2queue that kept no record; start with --accept-new-source to continue "
					  "from the slot's position (what Kafka lost is not sent again)",
					  q->topic, ks->src.slot, a);
}

/*
 * A record of this source behind where the slot begins: the slot moved
 * without the sink.  The bridge confirms nothing past the record, so the
 * slot was advanced or consumed by hand, or dropped and created again
 * (by hand, or by this run's --create-slot): what was committed between
 * the record and the slot's start is in no slot, and lost (as Redis's GAP
 * and NEWSLOT).  Fatal, unless --accept-new-source accepts the gap.
 */
static int
record_behind(KafkaSink *ks, KafkaRecord *rec, const RecordReq *q)
{
	char		a[LSN_STRLEN],
				b[LSN_STRLEN];

	lsn_format(q->lsn, a, sizeof(a));
	lsn_format(ks->from, b, sizeof(b));
	if (rec->backfill_session == ks->session || rec->backfilled_at == ks->from)
	{
		log_msg(LOG_WARNING, "the kafka position record of slot \"%s\" is at %s, behind where the "
				"slot begins (%s): the backfill %s re-delivers what the tables hold there; jobs "
				"of rows deleted in between are not sent; the record vouches for nothing in this "
				"session", ks->src.slot, a, b,
				rec->backfill_session == ks->session ? "this session writes" : "this run wrote");
		return SINK_OK;
	}
	if (ks->flags & SINK_REPLAY_ACCEPT_NEW)
	{
		log_msg(LOG_WARNING, "the kafka position record of slot \"%s\" is at %s, behind where the "
				"slot begins (%s): continuing from the slot's position (--accept-new-source); "
				"what was committed in between is not sent; the record vouches for nothing in "
				"this session", ks->src.slot, a, b);
		return SINK_OK;
	}
	if (ks->flags & SINK_REPLAY_NEW_SLOT)
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_FATAL,
						  "kafka topic \"%s\" holds the position record of slot \"%s\" of this "
						  "system at %s, but the slot was gone and %s created it at %s: jobs "
						  "committed in between are in no slot (it was dropped); to re-deliver what "
						  "the tables still hold start once with --create-slot --backfill (with "
						  "--backfill-again=LABEL if it was backfilled before), to accept the gap "
						  "with --create-slot --accept-new-source", q->topic, ks->src.slot, a,
						  (ks->flags & SINK_REPLAY_RECLAIMED) ? "an earlier run with --create-slot, "
						  "stopped before it delivered anything," : "this run", b);
	return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_FATAL,
					  "kafka position record of slot \"%s\" is at %s, behind the position %s that "
					  "the slot has confirmed: the slot was moved without the bridge (advanced or "
					  "consumed by hand, dropped and created again, or used by a bridge without "
					  "this positions topic), and jobs committed in between were not delivered; "
					  "to re-deliver what the tables still hold start once with --create-slot --backfill "
					  "--backfill-again=LABEL, to accept the gap start with --accept-new-source",
					  ks->src.slot, a, b);
}

/* a finished look-up: does the record vouch for this session? */
int
kafka_record_apply(KafkaSink *ks, KafkaRecord *rec, const RecordReq *q)
{
	char		a[LSN_STRLEN],
				b[LSN_STRLEN];
	int			rc;

	rec->partition = q->partition;
	if (!q->found)
		return record_none(ks, q);
	if (!q->has_lsn || strcmp(q->source, ks->source) != 0)
		return record_foreign(ks, q);
	lsn_format(q->lsn, a, sizeof(a));
	if (ks->src.wal_end && q->lsn > ks->src.wal_end)
	{
		log_msg(LOG_WARNING, "the kafka position record of slot \"%s\" is at %s, past the server's "
				"WAL end %s (a restored copy?): it vouches for nothing in this session", ks->src.slot, a,
				lsn_format(ks->src.wal_end, b, sizeof(b)));
		return SINK_OK;
	}
	if ((rc = record_shape(ks, q)) != SINK_OK ||
		(rc = record_options(ks, rec, q)) != SINK_OK)
		return rc;
	if (q->lsn < ks->from)
		return record_behind(ks, rec, q);
	rec->recorded = q->lsn;
	rec->vouched = true;
	log_msg(LOG_DEBUG, "the kafka position record of slot \"%s\" (%s) vouches for its start %s",
			ks->src.slot, a, lsn_format(ks->from, b, sizeof(b)));
	return SINK_OK;
}
