/*-------------------------------------------------------------------------
 *
 * kafka_record.c
 *		The Kafka sink's position record: per source, how far the slot's
 *		stream is durably delivered, in a control topic
 *		(--kafka-positions-topic, default wal2queue.positions).
 *
 * The marks (kafka_marks.c) say how far each partition got, not how far
 * the slot did: the slot confirms past the last mark whenever the stream
 * is idle.  So without a record no Kafka session could be vouched for
 * (docs/extension.md, "Attestation").  The record is one message per
 * write, keyed by the source without its timeline
 * (<sysid>/<dbname>/<slot>: deployments sharing a cluster, even with slots
 * named alike, keep records apart, and a promotion finds its record), with
 * headers source (<sysid>/<timeline>/<dbname>/<slot>) and lsn; the record
 * of a source is the last message with its key (the topic is created compacted when the
 * bridge creates it).  As the Redis record:
 *	- a record is written only at a position every job below which Kafka
 *	  acknowledged (the ledger's confirmable position, or a position
 *	  without jobs with nothing in flight: progress()); with
 *	  --kafka-transactions inside a Kafka transaction, and it counts once
 *	  that committed;
 *	- the bridge confirms nothing past the record (sink.h, recorded), so
 *	  the slot never starts past it unless it was moved without the bridge;
 *	- a session whose slot starts at or below the record of its own source
 *	  is vouched for (the bridge attests it without unrecorded_from); one
 *	  that finds no record is not (attest_slot() decides from the
 *	  registry, as before);
 *	- one whose slot starts past the record of its own source stops the
 *	  bridge: the slot moved without the sink (advanced, consumed, dropped
 *	  and re-created; by this run's --create-slot: the slot is dropped
 *	  again), as Redis's GAP and NEWSLOT; unless --accept-new-source (the
 *	  gap accepted, vouching for nothing) or a backfill of this process
 *	  re-delivers what the tables hold from there (kafka_record_backfill);
 *	- no record of a slot that delivered before (SINK_REPLAY_DELIVERED)
 *	  stops the bridge, unless it created the slot or --accept-new-source:
 *	  the cluster lost the record and the jobs (as Redis's NORECORD);
 *	- a record of another system has another key: it is none here (the
 *	  job topics' marks still catch a real change of source);
 *	- a record of this key for another source (another timeline) stops
 *	  the bridge, unless
 *	  --accept-new-source (then it is taken over, vouching for nothing);
 *	  one of this source past the server's WAL end (a restored copy)
 *	  vouches for nothing either;
 *	- the record keeps what decides a job's topic and partition (header
 *	  shape) and what chooses the transactions (header options: the plugin,
 *	  --publication, --tables): a replay from below it under another shape,
 *	  or under options that select more, stops the bridge (record_shape(),
 *	  record_options()).
 * The record dedupes nothing (the marks do), so taking one over can lose
 * or double no job.
 *
 * Reading the record (at every session start, once the previous session's
 * messages are all reported) runs on the worker thread of kafka_marks.c
 * (kafka_record_read.c).  Nothing is produced or acknowledged in the
 * session before the verdict.  Writes: at most one in flight and one per
 * RECORD_GAP_MS, of the newest position asked for.
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "kafka_record.h"
#include "kafka_sink.h"
#include "log.h"
#include "txn_options.h"

#define RECORD_GAP_MS 20		/* at most one record write per this */
#define RECORD_STALL_MS 10000	/* a write in flight this long: reconnect */

typedef enum RecState
{
	REC_CLOSED,					/* no session: the producer went (until begin) */
	REC_UNREAD,					/* not read in this session */
	REC_READING,				/* the worker reads it */
	REC_READY					/* the verdict is known */
} RecState;

/* a progress() waiting for the record to reach its position */
typedef struct RecWaiter
{
	uint64_t	lsn;
	LedgerTicket ticket;
} RecWaiter;

struct KafkaRecord
{
	RecState	state;
	RecordReq  *req;
	bool		create_tried;	/* by this process */
	rd_kafka_topic_t *rkt;		/* on the producer */
	int32_t		partition;
	uint64_t	session;
	uint64_t	backfill_session;	/* the session a backfill writes in */
	uint64_t	backfilled_at;	/* a backfill of this process re-delivered
								 * what the tables held at this position */
	bool		vouched;
	uint64_t	recorded;		/* durably recorded in this session */
	uint64_t	want;			/* the newest position asked for */
	bool		inflight;
	bool		delivered;
	uint64_t	inflight_lsn;
	uint64_t	inflight_txn;	/* the Kafka transaction holding it */
	uint64_t	committed_txn;	/* transactions up to this one committed */
	int64_t		last_write_us;
	RecWaiter  *waiters;
	size_t		nwaiters;
	size_t		cap;
	char		opaque;			/* &opaque marks its delivery reports */
	char		key[KAFKA_SOURCE_LEN];	/* <sysid>/<dbname>/<slot> */
	char	   *options;		/* what chooses this bridge's transactions */
	/* the record's options select less than ours: no mark may skip a job */
	char	   *was_options;	/* ... those (NULL: a skip is sound) */
	uint64_t	was_lsn;		/* ... the record's position */
};

static bool
enabled(const KafkaSink *ks)
{
	const char *t = ks->sink.cfg->kafka_positions_topic;

	return t != NULL && t[0] != '\0';
}

static const char *
topic_name(const KafkaSink *ks)
{
	return ks->sink.cfg->kafka_positions_topic;
}

void
kafka_record_req_free(RecordReq *q)
{
	if (q == NULL)
		return;
	free(q->topic);
	free(q->key);
	free(q->options);
	free(q);
}

static int
rreq_start(KafkaSink *ks, KafkaRecord *rec)
{
	RecordReq  *q = calloc(1, sizeof(RecordReq));

	if (q == NULL || (q->topic = strdup(topic_name(ks))) == NULL ||
		(q->key = strdup(rec->key)) == NULL)
	{
		kafka_record_req_free(q);
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
	}
	q->ks = ks;
	q->session = ks->session;
	q->create = !rec->create_tried;
	rec->create_tried = true;
	q->work.run = kafka_record_read;
	kafka_worker_submit(ks, &q->work);
	rec->req = q;
	rec->state = REC_READING;
	return SINK_OK;
}

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
static void
record_key(const KafkaSink *ks, char *key, size_t len)
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
static void
shape_format(const KafkaSink *ks, char *buf, size_t len)
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

	shape_format(ks, shape, sizeof(shape));
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

static int
record_options(KafkaSink *ks, KafkaRecord *rec, const RecordReq *q)
{
	char		a[LSN_STRLEN],
				b[LSN_STRLEN],
				was[SINK_ERRLEN],
				now[SINK_ERRLEN];

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
	if (txn_options_within(rec->options, q->options))
	{
		if (!txn_options_same(rec->options, q->options))
			log_msg(LOG_INFO, "slot \"%s\": transactions are chosen with \"%s\" from %s on, "
					"recorded until then (%s) with \"%s\", which select all of them",
					ks->src.slot, rec->options, b, a, q->options);
		return SINK_OK;
	}
	if (ks->from < q->lsn && !(ks->flags & SINK_REPLAY_ACCEPT_NEW))
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
	log_msg(ks->from < q->lsn ? LOG_WARNING : LOG_INFO,
			"slot \"%s\": transactions are chosen with \"%s\" from %s on, recorded until "
			"then (%s) with \"%s\"%s; a job a partition's mark covers stops the bridge",
			ks->src.slot, rec->options, b, a, q->options,
			ks->from < q->lsn ? ", the slot below the record (--accept-new-source)" : "");
	return SINK_OK;
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

	if (rec == NULL || rec->was_options == NULL)
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
static int
record_apply(KafkaSink *ks, KafkaRecord *rec, const RecordReq *q)
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

/* pick up the worker's answer */
static int
record_collect(KafkaSink *ks, KafkaRecord *rec)
{
	RecordReq  *q = rec->req;
	int			rc;

	if (!kafka_work_done(ks, &q->work))
		return SINK_OK;
	rec->req = NULL;
	rec->state = REC_UNREAD;
	if (q->session != ks->session)
	{
		kafka_record_req_free(q);			/* read for an earlier session: read again */
		return SINK_OK;
	}
	rc = q->rc != SINK_OK ? errbuf_set(ks->sink.err, sizeof(ks->sink.err), q->rc, "%s", q->err)
		: record_apply(ks, rec, q);
	kafka_record_req_free(q);
	/* nothing was produced before the verdict: a slot made for it goes */
	if (rc == SINK_FATAL && (ks->flags & SINK_REPLAY_NEW_SLOT))
		ks->sink.new_slot_refused = true;
	if (rc == SINK_OK)
		rec->state = REC_READY;
	return rc;
}

/* ---- writing ---- */

static int
record_produce(KafkaSink *ks, KafkaRecord *rec, uint64_t lsn)
{
	char		lsn_s[LSN_STRLEN];
	char		value[KAFKA_SOURCE_LEN + LSN_STRLEN + 32];
	char		shape[KAFKA_SHAPE_LEN];
	rd_kafka_headers_t *h = rd_kafka_headers_new(4);
	rd_kafka_resp_err_t err;

	lsn_format(lsn, lsn_s, sizeof(lsn_s));
	shape_format(ks, shape, sizeof(shape));
	snprintf(value, sizeof(value), "{\"source\":\"%s\",\"lsn\":\"%s\"}", ks->source, lsn_s);
	if (h == NULL || rd_kafka_header_add(h, "source", -1, ks->source, -1) ||
		rd_kafka_header_add(h, "lsn", -1, lsn_s, -1) ||
		rd_kafka_header_add(h, "shape", -1, shape, -1) ||
		rd_kafka_header_add(h, "options", -1, rec->options, -1))
	{
		if (h)
			rd_kafka_headers_destroy(h);
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
	}
	err = rd_kafka_producev(ks->rk, RD_KAFKA_V_RKT(rec->rkt), RD_KAFKA_V_PARTITION(rec->partition),
							RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
							RD_KAFKA_V_VALUE(value, strlen(value)),
							RD_KAFKA_V_KEY(rec->key, strlen(rec->key)),
							RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(&rec->opaque),
							RD_KAFKA_V_END);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		rd_kafka_headers_destroy(h);
		if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			return SINK_OK;		/* tried again at the next poll */
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY,
						  "could not write the position record to kafka topic \"%s\": %s",
						  topic_name(ks), rd_kafka_err2str(err));
	}
	rec->inflight = true;
	rec->delivered = false;
	rec->inflight_lsn = lsn;
	rec->inflight_txn = ks->txn_no;
	rec->last_write_us = now_us();
	return SINK_OK;
}

/* write the newest position asked for, if one is due */
static int
record_write(KafkaSink *ks, KafkaRecord *rec)
{
	bool		own_txn;
	int			rc;

	if (rec->inflight || rec->want <= rec->recorded ||
		now_us() - rec->last_write_us < (int64_t) RECORD_GAP_MS * 1000)
		return SINK_OK;
	if (ks->txn_mode && ks->txn != TXN_IDLE && ks->txn != TXN_OPEN)
		return SINK_OK;			/* a transactional call is under way */
	own_txn = ks->txn == TXN_IDLE;
	if (own_txn && (rc = kafka_txn_begin(ks, 0)) != SINK_OK)
		return rc;
	if ((rc = record_produce(ks, rec, rec->want)) != SINK_OK)
		return rc;
	/* a transaction of its own commits at once, step by step from poll */
	return own_txn ? kafka_txn_commit(ks, false) : SINK_OK;
}

/* a record delivered (and with transactions committed) counts */
static void
record_settle(KafkaSink *ks, KafkaRecord *rec)
{
	if (!rec->inflight || !rec->delivered ||
		(ks->txn_mode && rec->committed_txn < rec->inflight_txn))
		return;
	rec->inflight = false;
	if (rec->session == ks->session && rec->inflight_lsn > rec->recorded)
		rec->recorded = rec->inflight_lsn;
	kafka_wake(ks);
}

/* acknowledge the progress() calls the record reached */
static void
record_release(KafkaSink *ks, KafkaRecord *rec)
{
	size_t		i,
				j = 0;

	for (i = 0; i < rec->nwaiters; i++)
	{
		if (rec->waiters[i].lsn <= rec->recorded)
			kafka_ack_push(ks, &ks->acks, rec->waiters[i].ticket, 1);
		else
			rec->waiters[j++] = rec->waiters[i];
	}
	rec->nwaiters = j;
}

/* ---- the sink's side ---- */

/* a session begins (replay_begin): read the record again */
int
kafka_record_begin(KafkaSink *ks)
{
	KafkaRecord *rec = ks->rec;

	if (!enabled(ks))
		return SINK_OK;
	if (rec == NULL && (rec = ks->rec = calloc(1, sizeof(KafkaRecord))) == NULL)
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
	if (rec->rkt == NULL && (rec->rkt = rd_kafka_topic_new(ks->rk, topic_name(ks), NULL)) == NULL)
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY,
						  "could not open kafka topic \"%s\": %s", topic_name(ks),
						  rd_kafka_err2str(rd_kafka_last_error()));
	if (rec->options == NULL && (rec->options = txn_options_text(ks->sink.cfg)) == NULL)
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
	free(rec->was_options);
	rec->was_options = NULL;
	record_key(ks, rec->key, sizeof(rec->key));
	ks->sink.new_slot_refused = false;
	rec->state = rec->req ? REC_READING : REC_UNREAD;
	rec->session = ks->session;
	rec->vouched = false;
	rec->recorded = 0;
	rec->want = 0;
	rec->nwaiters = 0;
	rec->last_write_us = 0;
	return SINK_OK;
}

/*
 * The session just begun writes a backfill of what the tables hold at lsn
 * (kafka_backfill.c): a record behind lsn is what the backfill re-delivers,
 * in this session and in the stream session that starts at lsn after it.
 */
void
kafka_record_backfill(KafkaSink *ks, uint64_t lsn)
{
	if (ks->rec == NULL)
		return;
	ks->rec->backfill_session = ks->session;
	ks->rec->backfilled_at = lsn;
}

/* may this session produce: is the record's verdict known? */
bool
kafka_record_ready(const KafkaSink *ks)
{
	return !enabled(ks) || (ks->rec != NULL && ks->rec->state == REC_READY);
}

/* read, pick up, write, acknowledge: from pump */
int
kafka_record_pump(KafkaSink *ks)
{
	KafkaRecord *rec = ks->rec;
	int			rc = SINK_OK;

	if (!enabled(ks) || rec == NULL || ks->session == 0)
		return SINK_OK;
	if (rec->state == REC_READING && (rc = record_collect(ks, rec)) != SINK_OK)
		return rc;
	if (rec->state == REC_UNREAD && !ks->settling && !rec->inflight)
		return rreq_start(ks, rec);
	if (rec->state != REC_READY)
		return SINK_OK;
	if (rec->inflight && !rec->delivered &&
		now_us() - rec->last_write_us > (int64_t) RECORD_STALL_MS * 1000)
	{
		/* a retry: the bridge logs it as a WARNING and reconnects */
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY,
						  "the write of the position record of slot \"%s\" to kafka topic \"%s\" "
						  "is unanswered after %d s", ks->src.slot, topic_name(ks),
						  RECORD_STALL_MS / 1000);
	}
	rc = record_write(ks, rec);
	record_release(ks, rec);
	return rc;
}

/* progress(): acknowledge t once the record holds lsn */
int
kafka_record_progress(KafkaSink *ks, uint64_t lsn, LedgerTicket t)
{
	KafkaRecord *rec = ks->rec;

	if (!enabled(ks))
	{
		kafka_ack_push(ks, &ks->acks, t, 1);
		return SINK_OK;
	}
	if (rec == NULL)
		return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_FATAL,
						  "kafka sink: progress before the session's record was set up");
	if (rec->nwaiters == rec->cap)
	{
		size_t		cap = rec->cap ? rec->cap * 2 : 8;
		RecWaiter  *p = realloc(rec->waiters, cap * sizeof(RecWaiter));

		if (p == NULL)
			return errbuf_set(ks->sink.err, sizeof(ks->sink.err), SINK_RETRY, "out of memory");
		rec->waiters = p;
		rec->cap = cap;
	}
	rec->waiters[rec->nwaiters++] = (RecWaiter) {lsn, t};
	if (lsn > rec->want)
		rec->want = lsn;
	kafka_wake(ks);
	return SINK_OK;
}

/* the record's delivery report? (then handled here) */
bool
kafka_record_report(KafkaSink *ks, const rd_kafka_message_t *rm)
{
	KafkaRecord *rec = ks->rec;

	if (rec == NULL || rm->_private != &rec->opaque)
		return false;
	if (ks->discarding || !rec->inflight)
		return true;
	if (rm->err != RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		rec->inflight = false;
		if (rm->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE && rm->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
			kafka_fail(ks, SINK_RETRY, "could not write the position record of slot \"%s\" to "
					   "kafka topic \"%s\": %s", ks->src.slot, topic_name(ks),
					   rd_kafka_err2str(rm->err));
		return true;
	}
	rec->delivered = true;
	record_settle(ks, rec);
	return true;
}

/* --kafka-transactions: every transaction begun so far committed */
void
kafka_record_committed(KafkaSink *ks)
{
	if (ks->rec == NULL)
		return;
	ks->rec->committed_txn = ks->txn_no;
	record_settle(ks, ks->rec);
}

/* is a record write still to come or in flight (drain waits for it)? */
bool
kafka_record_busy(const KafkaSink *ks)
{
	const KafkaRecord *rec = ks->rec;

	return enabled(ks) && rec != NULL && rec->state == REC_READY &&
		(rec->inflight || rec->want > rec->recorded);
}

/* the producer goes (the worker is stopped): forget the look-up and writes */
void
kafka_record_close(KafkaSink *ks)
{
	KafkaRecord *rec = ks->rec;

	if (rec == NULL)
		return;
	kafka_record_req_free(rec->req);
	rec->req = NULL;
	if (rec->rkt)
		rd_kafka_topic_destroy(rec->rkt);
	rec->rkt = NULL;
	/*
	 * Nothing of this session is read or written again: a reconnected
	 * producer pumped a session that replay_begin had not started yet, and
	 * wrote the old session's position through the destroyed topic handle
	 * (a crash in CI, test 258); kafka_record_begin opens the next one.
	 */
	rec->state = REC_CLOSED;
	rec->inflight = false;
	rec->nwaiters = 0;
	rec->want = 0;
}

void
kafka_record_free(KafkaSink *ks)
{
	if (ks->rec == NULL)
		return;
	kafka_record_close(ks);
	free(ks->rec->options);
	free(ks->rec->was_options);
	free(ks->rec->waiters);
	free(ks->rec);
	ks->rec = NULL;
}

/* ---- SinkOps ---- */

int
kafka_record_want(Sink *s, uint64_t lsn)
{
	KafkaSink  *ks = (KafkaSink *) s;

	if (enabled(ks) && ks->rec != NULL && lsn > ks->rec->want)
		ks->rec->want = lsn;
	return ks->failed;
}

uint64_t
kafka_record_recorded(Sink *s)
{
	KafkaSink  *ks = (KafkaSink *) s;

	if (!enabled(ks))
		return UINT64_MAX;
	return ks->rec ? ks->rec->recorded : 0;
}

bool
kafka_record_vouches(Sink *s)
{
	KafkaSink  *ks = (KafkaSink *) s;

	return enabled(ks) && ks->rec != NULL && ks->rec->vouched;
}
