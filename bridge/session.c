/*-------------------------------------------------------------------------
 *
 * session.c
 *		Setting up and tearing down the bridge's sessions: connecting the
 *		sink and the stream (with backoff), dropping them on failure, waiting
 *		for a busy slot (--standby), refusing a changed source, and telling
 *		the sink that a session begins.
 *
 * Sessions.  Every stream open is a new session, as in pg_recvlogical:
 * IDENTIFY_SYSTEM and the slot tell the source (system identifier,
 * timeline, database, slot) and the position X; the ledger starts at X,
 * never at what an earlier session remembered; the sink is told "a replay
 * of source S from X begins" and checks its own record of S.  A source that
 * changes under a running bridge (another server behind the conninfo, a
 * promoted standby) stops the bridge, unless --accept-new-source was given
 * and no session has begun yet.  Any failure of the sink or of the stream
 * ends the session: what was in flight comes again from the slot, which
 * only ever confirmed what the sink had recorded.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge_internal.h"
#include "log.h"
#include "lsn.h"
#include "tablematch.h"
#include "txn_options.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 10000
#define STANDBY_POLL_MS 1000	/* --standby: how often to try the slot */
#define BUSY_GRACE_US (30 * INT64_C(1000000))	/* without --standby: how long
												 * a busy slot is retried */

static bool
backoff_due(const Backoff *b)
{
	return now_us() >= b->next_us;
}

/* after a failure: wait twice as long as last time, capped */
int
backoff_fail(Backoff *b)
{
	b->delay_ms = b->delay_ms ? b->delay_ms * 2 : BACKOFF_MIN_MS;
	if (b->delay_ms > BACKOFF_MAX_MS)
		b->delay_ms = BACKOFF_MAX_MS;
	b->next_us = now_us() + (int64_t) b->delay_ms * 1000;
	return b->delay_ms;
}

void
backoff_reset(Backoff *b)
{
	b->delay_ms = 0;
	b->next_us = 0;
}

/* ---- connections ---- */

/* back to the bridge's own options (a replay under the recorded ones ended) */
void
session_old_options_clear(Bridge *b)
{
	free(b->old_options);
	free(b->old_tables);
	b->old_options = NULL;
	b->old_tables = NULL;
	if (b->pgo.cfg == &b->old_pgo)
	{
		tablematch_free(&b->old_pgo.tables);
		b->pgo.cfg = b->cfg->stream.pgoutput;
	}
	b->stream.options_now = NULL;
	b->sink->session_options = NULL;
	b->old_reached = false;
	b->old_asked = false;
}

/*
 * The sink's record was written under other options than the bridge's,
 * and the slot starts below the old horizon (kafka_record_verdict.c): the
 * next session replays under the recorded ones until past it
 * (old_options_switch, bridge.c).  The plugin and the publication are the
 * bridge's (the sink checked); only --tables differs.  wal2queue:
 * START_REPLICATION carries the recorded --tables; pgoutput: the bridge
 * selects with them (the publication sends what it sends).
 */
static int
old_options_take(Bridge *b)
{
	char	   *opts = b->sink->replay_options;
	char	   *mine = txn_options_text(&b->cfg->sink);
	char	   *tables = NULL;
	char		err[512];
	bool		nomem = true;
	int			n = 0;

	b->sink->replay_options = NULL;
	if (mine == NULL || !txn_options_tables_of(opts, mine, &tables, &nomem))
	{
		log_msg(LOG_ERROR, nomem ? "out of memory" : "the recorded options \"%s\" are not "
				"the bridge's but for --tables", opts);
		free(mine);
		free(opts);
		return SINK_FATAL;
	}
	free(mine);
	session_old_options_clear(b);
	if (b->cfg->stream.pgoutput)
	{
		b->old_pgo = *b->cfg->stream.pgoutput;
		memset(&b->old_pgo.tables, 0, sizeof(b->old_pgo.tables));
		if (!tablematch_parse(tables, &b->old_pgo.tables, err, sizeof(err)))
		{
			log_msg(LOG_ERROR, "the recorded --tables: %s", err);
			free(tables);
			free(opts);
			return SINK_FATAL;
		}
		b->old_pgo.tables_text = tables;
		b->pgo.cfg = &b->old_pgo;
	}
	else
	{
		for (const char *const *o = b->cfg->stream.plugin_options; o && o[0] && n < 12; o += 2)
		{
			if (strcmp(o[0], "tables") == 0)
				continue;
			b->old_plugin_options[n++] = o[0];
			b->old_plugin_options[n++] = o[1];
		}
		if (tables)
		{
			b->old_plugin_options[n++] = "tables";
			b->old_plugin_options[n++] = tables;
		}
		b->old_plugin_options[n] = NULL;
		b->stream.options_now = b->old_plugin_options;
	}
	b->old_options = opts;
	b->old_tables = tables;
	b->old_until = b->sink->replay_until;
	b->sink->session_options = b->old_options;
	b->sink->session_until = b->old_until;
	log_msg(LOG_INFO, "%s", b->sink->err);
	/* the sink keeps its verdict: a new one, and a new stream with those options */
	b->sink->ops->disconnect(b->sink);
	b->sink_up = false;
	b->replay_needed = true;
	b->session_begun = false;
	return SINK_OK;
}

/* the sink failed: drop it; what it held must come again from the slot */
int
session_sink_failed(Bridge *b, int rc)
{
	if (rc == SINK_RETRY && b->sink->replay_options != NULL)
		return old_options_take(b);
	if (rc == SINK_FATAL)
	{
		log_msg(LOG_ERROR, "%s", b->sink->err);
		return rc;
	}
	log_msg(LOG_WARNING, "%s; reconnecting in %.1f s", b->sink->err,
			backoff_fail(&b->sink_backoff) / 1000.0);
	b->m.sink_errors++;
	b->sink->ops->disconnect(b->sink);
	b->sink_up = false;
	/* the sink forgot this session: a new one starts from the slot */
	b->replay_needed = true;
	b->session_begun = false;
	return SINK_OK;
}

int
session_connect_sink(Bridge *b)
{
	int			rc;

	if (b->sink_up || !backoff_due(&b->sink_backoff))
		return SINK_OK;
	rc = b->sink->ops->connect(b->sink);
	if (rc != SINK_OK)
		return session_sink_failed(b, rc);
	if (b->sink_ever_up)
	{
		log_msg(LOG_INFO, "connected to %s again", b->sink->ops->name);
		b->m.sink_reconnects++;
	}
	else
		log_msg(LOG_DEBUG, "connected to %s", b->sink->ops->name);
	/* the backoff stays until the sink acknowledges a write: session_sink_acked */
	b->sink_up = true;
	b->sink_ever_up = true;
	return SINK_OK;
}

/*
 * The sink acknowledged ticket t: it takes writes, so the next failure waits
 * the shortest delay again.  A connect that succeeds proves nothing of the
 * kind: a Redis whose replicas are gone for --redis-wait, or a Kafka topic
 * that refuses the producer, accept the connection and refuse every write,
 * and resetting the backoff there restarted the stream every 0.1 s, forever
 * (attack 258, 261).  A position record counts as a probe of the sink only
 * where writing it asks the sink: the Kafka sink acknowledges one at once
 * (sink_kafka.c), so there only transactions count.
 */
void
session_sink_acked(Bridge *b, LedgerTicket t)
{
	/*
	 * --accept-new-source is spent once a session was accepted: the sink
	 * acknowledges nothing of a session before its verdict on the source
	 * (Redis: the first call checks the record; Kafka: the record's look-up,
	 * kafka_record.c), and tickets only grow, so an ack of this session's
	 * start position or later is one.  A session that ended before its
	 * verdict (a retry) keeps the flag for the next (test/t/532).
	 */
	if (b->session_begun && t >= b->position_ticket)
		b->accept_new = false;	/* a later change of source is refused */
	if (t == b->position_ticket && strcmp(b->sink->ops->name, "kafka") == 0)
		return;
	backoff_reset(&b->sink_backoff);
}

/* forget the stream; the next connect replays from the slot */
void
session_drop_stream(Bridge *b)
{
	stream_close(&b->stream);
	b->stream_up = false;
	b->session_begun = false;
	frame_decoder_reset(&b->dec);
	pgo_decoder_reset(&b->pgo);
	b->keepalive_lsn = 0;		/* what it covered may have to come again */
	b->old_reached = false;		/* a replay under old options starts again */
	b->old_asked = false;
	if (b->in_txn && b->sink_up)
	{
		/* the sink holds half a transaction: throw it away */
		b->sink->ops->disconnect(b->sink);
		b->sink_up = false;
	}
	b->in_txn = false;
}

int
session_stream_failed(Bridge *b, int rc)
{
	if (rc == STREAM_FATAL)
	{
		log_msg(LOG_ERROR, "%s", b->stream.err);
		return rc;
	}
	/*
	 * A session that handed the sink no transaction keeps the backoff (an
	 * error the walsender raises while decoding comes after
	 * START_REPLICATION succeeded, at every attempt), unless it lasted
	 * longer than the longest backoff: that one was no spin.
	 */
	if (b->stream_up && now_us() - b->session_start_us > BACKOFF_MAX_MS * INT64_C(1000))
		backoff_reset(&b->stream_backoff);
	log_msg(LOG_WARNING, "%s; reconnecting in %.1f s", b->stream.err,
			backoff_fail(&b->stream_backoff) / 1000.0);
	session_drop_stream(b);
	return STREAM_OK;
}

/*
 * The slot is held by another walsender: a dying one of ours (retry a
 * while), or another bridge (--standby waits for it; otherwise give up
 * after BUSY_GRACE_US).
 */
static int
slot_busy(Bridge *b)
{
	int64_t		now = now_us();

	/* our own last walsender, ended and not gone yet: no other bridge */
	if (b->stream.own_busy)
		b->busy_since_us = 0;
	else if (b->busy_since_us == 0)
		b->busy_since_us = now;
	if (b->cfg->standby)
	{
		if (!b->standing_by)
			log_msg(LOG_INFO, "standing by: %s", b->stream.err);
		b->standing_by = true;
		b->stream_backoff.next_us = now + STANDBY_POLL_MS * 1000;
		return STREAM_OK;
	}
	if (b->busy_since_us != 0 && now - b->busy_since_us > BUSY_GRACE_US)
	{
		log_msg(LOG_ERROR, "%s; is another bridge using it? (--standby waits for it)",
				b->stream.err);
		return STREAM_FATAL;
	}
	return session_stream_failed(b, STREAM_RETRY);
}

/*
 * The stream came up as another source than the last session's: another
 * server behind the conninfo, or a promoted standby.  Jobs the old source
 * committed after the switch are not on this server, and the new slot's
 * positions mean nothing to the sink's record: stop, and say what to do.
 */
static int
source_changed(Bridge *b)
{
	const SinkSource *old = &b->source;
	Stream	   *s = &b->stream;
	char		at[LSN_STRLEN];

	if (strcmp(old->sysid, s->sysid) == 0 && old->timeline == s->timeline &&
		strcmp(old->dbname, s->dbname) == 0)
		return STREAM_OK;
	if (b->accept_new)
	{
		log_msg(LOG_WARNING, "accepting a new source: system %s timeline %u, was system %s timeline %u",
				s->sysid, s->timeline, old->sysid, old->timeline);
		return STREAM_OK;
	}
	if (strcmp(old->sysid, s->sysid) != 0)
		log_msg(LOG_ERROR, "the server behind the connection changed: system identifier %s (timeline %u), "
				"was %s (timeline %u); its slot \"%s\" knows nothing of what was delivered, so jobs "
				"could be skipped or doubled; hint: " SINK_FAILOVER_HINT,
				s->sysid, s->timeline, old->sysid, old->timeline, b->cfg->stream.slot);
	else if (old->timeline != s->timeline)
	{
		uint64_t	sw = stream_timeline_switch(s, old->timeline);

		log_msg(LOG_ERROR, "the server's timeline changed from %u to %u%s%s (a standby was promoted?): "
				"transactions the old primary committed after the switch are not on this "
				"timeline and its slot is not the one that delivered; hint: " SINK_FAILOVER_HINT,
				old->timeline, s->timeline, sw ? " at " : "",
				sw ? lsn_format(sw, at, sizeof(at)) : "");
	}
	else
		log_msg(LOG_ERROR, "the connection now reaches database \"%s\", was \"%s\"",
				s->dbname, old->dbname);
	return STREAM_FATAL;
}

int
session_connect_stream(Bridge *b)
{
	int			rc;
	char		at[LSN_STRLEN];

	if (b->stream_up || !backoff_due(&b->stream_backoff))
		return STREAM_OK;
	/*
	 * A slot is created only in the first session, and by the backfill when
	 * there is one: a later session may reach a promoted standby or a slot
	 * an operator dropped, and a new slot there would start after rows
	 * that were never delivered.  The source is compared first (below).
	 */
	b->stream.never_create = b->have_source || b->cfg->backfill.enabled;
	rc = stream_open(&b->stream);
	/* a changed source is the cause to name, even if its slot is missing */
	if (b->have_source && b->stream.sysid[0] && source_changed(b) != STREAM_OK)
	{
		stream_close(&b->stream);
		return STREAM_FATAL;
	}
	if (rc == STREAM_RETRY && b->stream.slot_busy)
		return slot_busy(b);
	if (rc != STREAM_OK)
		return session_stream_failed(b, rc);
	b->slot_created |= b->stream.slot_created;
	snprintf(b->source.sysid, sizeof(b->source.sysid), "%s", b->stream.sysid);
	b->source.timeline = b->stream.timeline;
	snprintf(b->source.dbname, sizeof(b->source.dbname), "%s", b->stream.dbname);
	snprintf(b->source.slot, sizeof(b->source.slot), "%s", b->cfg->stream.slot);
	/* the WAL the server holds: IDENTIFY_SYSTEM's, or the slot's if it was created since */
	b->source.wal_end = b->stream.server_lsn > b->stream.start_lsn ?
		b->stream.server_lsn : b->stream.start_lsn;
	b->have_source = true;

	/* a new session starts at the slot's position, never at memory */
	if (b->ledger == NULL)
		b->ledger = ledger_create(b->stream.start_lsn);
	else
		ledger_reset(b->ledger, b->stream.start_lsn);
	if (b->ledger == NULL)
	{
		log_msg(LOG_ERROR, "out of memory");
		return STREAM_FATAL;
	}
	b->last_status_lsn = 0;
	log_msg(LOG_INFO, "%s slot \"%s\" from %s (system %s, timeline %u)",
			b->standing_by ? "taking over" : "streaming", b->cfg->stream.slot,
			lsn_format(b->stream.start_lsn, at, sizeof(at)),
			b->stream.sysid, b->stream.timeline);
	if (b->ever_streamed)
		b->m.pg_reconnects++;
	b->ever_streamed = true;
	b->busy_since_us = 0;
	b->standing_by = false;
	b->session_start_us = now_us();
	pubwatch_session(&b->pub, b->stream.start_lsn);
	slotwatch_server(&b->watch, b->stream.conn);
	b->stream_up = true;
	b->session_begun = false;
	b->replay_needed = false;
	/* judged at open, before anything is decoded; then at each poll */
	b->pgo.messages_public = b->stream.messages_public;
	pgo_decoder_take_keys(&b->pgo, &b->stream.msg_keys);
	/* pgoutput's text comes in the client encoding (stream.c): to UTF-8 */
	if (pgo_decoder_set_encoding(&b->pgo, PQparameterStatus(b->stream.conn, "client_encoding"),
								 b->err, sizeof(b->err)) != 0)
	{
		log_msg(LOG_ERROR, "%s", b->err);
		session_drop_stream(b);
		return STREAM_FATAL;
	}
	b->stream_opened_us = now_us();
	b->messages_warned = false;
	return STREAM_OK;
}

/* tell the sink that this session replays the source from the slot */
int
session_begin(Bridge *b)
{
	unsigned	flags = 0;
	int			rc;

	if (b->slot_created)
		flags |= SINK_REPLAY_NEW_SLOT;
	if (b->slot_created && b->stream.slot_reclaimed)
		flags |= SINK_REPLAY_RECLAIMED;
	if (b->accept_new)
		flags |= SINK_REPLAY_ACCEPT_NEW;
	if (b->stream.delivered_before && !b->slot_created)
		flags |= SINK_REPLAY_DELIVERED;
	rc = b->sink->ops->replay_begin(b->sink, &b->source, b->stream.start_lsn, flags);
	if (rc != SINK_OK)
		return session_sink_failed(b, rc);
	b->session_begun = true;
	b->session_validated = false;
	/*
	 * The Redis sink's record refuses a slot that moved past it, when the
	 * session may not create or replace it.  The Kafka sink's position
	 * record (kafka_record.c) vouches for a session only once it was read:
	 * on_ack (bridge.c) clears unrecorded_from then, through vouches().
	 */
	b->unrecorded_from = ((flags & ~SINK_REPLAY_DELIVERED) != 0 ||
						  strcmp(b->sink->ops->name, "redis") != 0) ?
		b->stream.start_lsn : 0;

	/*
	 * Have the sink check its record against the slot's position now, not
	 * at the first job: a record behind the slot (the sink lost what it had
	 * acknowledged) or missing is found at once, and a new slot's record
	 * exists from the start, so a bridge stopped before its first job
	 * restarts cleanly.
	 */
	return session_record_position(b, b->stream.start_lsn);
}

/* have the sink record lsn (no jobs up to it); confirmable once recorded */
int
session_record_position(Bridge *b, uint64_t lsn)
{
	LedgerTicket t = ledger_open(b->ledger, lsn, lsn);
	int			rc;

	ledger_submitted(b->ledger, t, 1);
	ledger_close(b->ledger, t);
	/* recorded only with nothing in flight: at most one is unacknowledged */
	b->position_ticket = t;
	rc = b->sink->ops->progress(b->sink, lsn, t);
	return rc == SINK_OK ? SINK_OK : session_sink_failed(b, rc);
}
