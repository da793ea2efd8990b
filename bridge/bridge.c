/*-------------------------------------------------------------------------
 *
 * bridge.c
 *		The event loop: read the slot, decode frames, hand jobs to the sink,
 *		confirm what the sink acknowledged.
 *
 * One thread, one poll(): the replication socket is read only while the
 * sink is up and not holding more than max_pending_bytes, so memory stays
 * bounded (backpressure reaches the walsender through TCP), while status
 * updates keep going out every status interval so the walsender never
 * times out (no call in the loop waits longer than about a second).
 *
 * Sessions (session.c): every stream open is a new session, which any
 * failure of the sink or of the stream ends; what was in flight then comes
 * again from the slot, which only ever confirmed what the sink had recorded.
 *
 * Positions without jobs (a keepalive's walEnd) are confirmed only after
 * the sink recorded them too (sink progress), so the sink's record is never
 * behind the slot unless the sink lost data, which it can then detect.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "backfill.h"
#include "bridge.h"
#include "bridge_internal.h"
#include "frame.h"
#include "ledger.h"
#include "log.h"
#include "lsn.h"
#include "message_access.h"
#include "metrics.h"
#include "pgoutput.h"
#include "pubwatch.h"
#include "slotwatch.h"

#define STATUS_MIN_GAP_US 100000	/* confirm progress at most every 100 ms */
#define STATUS_IDLE_GAP_US 10000	/* ... or every 10 ms once nothing is in
									 * flight: the last position read is
									 * confirmed at once, not 100 ms later */
#define PROGRESS_MIN_GAP_US 1000000 /* record an idle position at most every
									 * second */
#define RELEASE_GAP_US INT64_C(60000000)	/* reconnect to free libpq's buffer
											 * at most once a minute */
#define READ_BATCH 256			/* messages read per turn of the loop */
#define DRAIN_TIMEOUT_MS 10000
#define FINISH_TIMEOUT_MS 5000
#define FINAL_ATTEST_TIMEOUT_MS 2000

volatile sig_atomic_t bridge_stop_requested = 0;
volatile sig_atomic_t bridge_signal_noted = 0;

/* ---- frame handlers: hand each piece to the sink, keep the ledger ---- */

static int
on_begin(void *arg, const FrameTxn *txn)
{
	Bridge	   *b = arg;

	/* a replay under the recorded options hands over nothing past their horizon */
	if (b->old_options != NULL && txn->commit_lsn >= b->old_until)
	{
		b->old_reached = true;
		return SINK_RETRY;		/* handle_event: no failure */
	}
	b->ticket = ledger_open_at(b->ledger, txn->commit_lsn, txn->end_lsn,
							   txn->commit_time_us);
	b->in_txn = true;
	return b->sink->ops->begin(b->sink, txn, b->ticket);
}

static int
on_job(void *arg, const FrameTxn *txn, const FrameJob *job)
{
	Bridge	   *b = arg;
	int			rc = b->sink->ops->job(b->sink, txn, job, b->ticket);

	if (rc == SINK_OK)
		ledger_submitted(b->ledger, b->ticket, 1);
	return rc;
}

static int
on_commit(void *arg, const FrameTxn *txn)
{
	Bridge	   *b = arg;
	int			rc = b->sink->ops->commit(b->sink, txn, b->ticket);

	if (rc == SINK_OK)
	{
		/* pgoutput: the end LSN is known only now (begin had commit + 1) */
		ledger_close_at(b->ledger, b->ticket, txn->end_lsn);
		b->in_txn = false;
		/* the session delivers transactions: a later failure starts afresh */
		backoff_reset(&b->stream_backoff);
	}
	return rc;
}

static const FrameHandlers handlers = {on_begin, on_job, on_commit};

static void
on_ack(void *arg, LedgerTicket t, uint32_t n)
{
	Bridge	   *b = arg;

	ledger_acked(b->ledger, t, n);
	session_sink_acked(b, t);
	b->m.jobs += n;
	/* the sink's check of the session comes before its first ack */
	if (!b->session_validated && b->session_begun && b->sink->ops->vouches &&
		b->sink->ops->vouches(b->sink))
		b->unrecorded_from = 0; /* its record vouches for the slot's start */
	b->session_validated = b->session_begun;
	/*
	 * The sink recorded something of this slot: from now on a missing
	 * record means the sink lost it, not that the slot is new.
	 */
	b->slot_created = false;
}

/* ---- the loop ---- */

/*
 * pgoutput: a signed message names a key the decoder does not know, read
 * in a snapshot that did not see the message's transaction: stop reading,
 * have the slot watch read the keys again, and decode it again then
 * (take_keys)
 */
static int
hold_event(Bridge *b, const StreamEvent *ev)
{
	b->m.bytes -= ev->len;		/* counted again when it is decoded */
	b->held = *ev;
	b->holding = true;
	b->held_session_us = b->stream_opened_us;
	b->held_since_us = now_us();
	b->watch.keys_wanted = true;
	log_msg(LOG_DEBUG, "a signed message names a key not read yet: reading the keys again");
	return SINK_OK;
}

static int	handle_event(Bridge *b, const StreamEvent *ev);

/* the held message, decoded again with keys read after it was held */
static int
take_keys(Bridge *b)
{
	StreamEvent ev;

	if (!b->stream_up || b->held_session_us != b->stream_opened_us)
	{
		b->holding = false;		/* its session ended: the next replays it */
		return 0;
	}
	if (!b->watch.keys_ready)
		return 0;
	b->watch.keys_ready = false;
	if (b->watch.keys_asked_us < b->held_since_us)
	{
		b->watch.keys_wanted = true;	/* an answer to an older question */
		return 0;
	}
	pgo_decoder_take_keys(&b->pgo, &b->watch.keys);
	b->holding = false;
	ev = b->held;
	return handle_event(b, &ev) == SINK_FATAL ? -1 : 0;
}

static int
handle_event(Bridge *b, const StreamEvent *ev)
{
	int			rc;

	b->m.bytes += ev->len;
	if (ev->kind == STREAM_KEEPALIVE)
	{
		if (ev->wal_end > b->keepalive_lsn)
			b->keepalive_lsn = ev->wal_end;
		b->reply_now |= ev->reply_requested;
		return 0;
	}
	rc = b->cfg->stream.pgoutput
		? pgo_decode(&b->pgo, ev->data, ev->len, &handlers, b, b->err, sizeof(b->err))
		: frame_decode(&b->dec, ev->data, ev->len, &handlers, b, b->err, sizeof(b->err));
	if (b->pgo.messages_ignored > b->m.messages_ignored)
	{
		if (!b->messages_warned)
			message_access_warn(b->stream.dbname, b->pgo.msg_keys.state);
		b->messages_warned = true;
		b->m.messages_ignored = b->pgo.messages_ignored;
	}
	if (b->pgo.messages_revoked > b->messages_revoked)
	{
		log_msg(LOG_WARNING, "ignoring a wal2queue message signed with a revoked key of "
				"wal2queue.message_key in database \"%s\" at %X/%X (it could be a forgery)",
				b->stream.dbname, (unsigned) (ev->wal_start >> 32), (unsigned) ev->wal_start);
		b->messages_revoked = b->pgo.messages_revoked;
	}
	if (rc == PGO_NEED_KEYS)
		return hold_event(b, ev);
	if (b->old_reached && rc == SINK_RETRY)
		return 0;				/* on_begin: the horizon of the old options */
	if (rc == PGO_UNTRUSTED || rc == PGO_KEYS_DENIED)
	{
		char		why[1024];

		if (rc == PGO_UNTRUSTED)
			message_access_untrusted(why, sizeof(why), b->stream.dbname, b->pgo.key_id);
		else
			message_access_denied(why, sizeof(why), b->stream.dbname, b->pgo.key_id);
		log_msg(LOG_ERROR, "%s", why);
		return SINK_FATAL;
	}
	if (rc == FRAME_MALFORMED || rc == FRAME_NOMEM)
	{
		log_msg(LOG_ERROR, "bad frame from the slot at %X/%X: %s",
				(unsigned) (ev->wal_start >> 32), (unsigned) ev->wal_start,
				rc == FRAME_NOMEM ? "out of memory" : b->err);
		return SINK_FATAL;
	}
	return rc == SINK_OK ? 0 : session_sink_failed(b, rc);
}

static bool
may_read(Bridge *b)
{
	return b->stream_up && b->sink_up && b->session_begun && !b->replay_needed && !b->holding &&
		!b->old_reached &&
		b->sink->ops->pending_bytes(b->sink) < b->cfg->max_pending_bytes;
}

/*
 * --recv-timeout: any message, a keepalive included, ends a silence; only
 * progress, data past every LSN received before (in any session), ends the
 * doubling of the wait (stream_silent).  A walsender decoding a large
 * transaction without output sends keepalives only, and each new session
 * re-reads WAL already read (its keepalives may pass a position a session
 * cut early never reached): neither undoes the doubling that lets the slow
 * decode end (attack 502).  An idle stream keeps the longer wait until its
 * next job.
 */
static void
note_received(Bridge *b, const StreamEvent *ev)
{
	b->last_recv_us = now_us();
	b->ping_sent_us = 0;
	if (ev->wal_end > b->recv_high_lsn)
	{
		b->recv_high_lsn = ev->wal_end;
		if (ev->kind == STREAM_DATA)
			b->silent_drops = 0;
	}
}

/* read what the stream has, up to a batch; returns messages read or -1 */
static int
read_stream(Bridge *b)
{
	int			n;

	for (n = 0; n < READ_BATCH && may_read(b); n++)
	{
		StreamEvent ev;
		int			rc = stream_read(&b->stream, 0, &ev);

		if (rc != STREAM_OK)
			return session_stream_failed(b, rc) == STREAM_OK ? n : -1;
		if (ev.kind == STREAM_NONE)
			break;
		note_received(b, &ev);
		if (handle_event(b, &ev) == SINK_FATAL)
			return -1;
	}
	return n;
}

/*
 * The position to confirm: acknowledged (the ledger), proven by the
 * publication (pgoutput), and recorded by a sink that keeps its record
 * apart from the jobs (Kafka), never below the session's start: the slot
 * never starts past what the sink's record says was delivered.
 */
static uint64_t
confirm_position(Bridge *b)
{
	uint64_t	lsn = pubwatch_cap(&b->pub, ledger_confirmable(b->ledger));
	uint64_t	rec;

	if (b->sink->ops->recorded == NULL)
		return lsn;
	rec = b->sink->ops->recorded(b->sink);
	if (rec < b->stream.start_lsn)
		rec = b->stream.start_lsn;
	return rec < lsn ? rec : lsn;
}

/* have such a sink record what is acknowledged (at its own pace) */
static int
record_confirmable(Bridge *b)
{
	int			rc;

	if (b->sink->ops->record == NULL || !b->stream_up || !b->session_begun ||
		b->replay_needed)
		return SINK_OK;
	rc = b->sink->ops->record(b->sink, pubwatch_cap(&b->pub, ledger_confirmable(b->ledger)));
	return rc == SINK_OK ? SINK_OK : session_sink_failed(b, rc);
}

/* how long after the last status update a new position may be confirmed */
static int64_t
status_gap_us(Bridge *b)
{
	return ledger_inflight_txns(b->ledger) == 0 ? STATUS_IDLE_GAP_US : STATUS_MIN_GAP_US;
}

static int
send_status(Bridge *b, bool force)
{
	uint64_t	lsn;
	int64_t		now = now_us();
	int64_t		gap;
	int			rc;

	if (!b->stream_up)
		return STREAM_OK;
	lsn = confirm_position(b);
	gap = status_gap_us(b);
	if (!force && !b->reply_now &&
		now - b->last_status_us < (int64_t) b->cfg->status_interval_ms * 1000 &&
		(lsn == b->last_status_lsn || now - b->last_status_us < gap))
		return STREAM_OK;
	rc = stream_send_status(&b->stream, lsn, false);
	if (rc != STREAM_OK)
		return session_stream_failed(b, rc);
	if (lsn != b->last_status_lsn)
		log_msg(LOG_DEBUG, "confirmed %X/%X", (unsigned) (lsn >> 32), (unsigned) lsn);
	b->last_status_lsn = lsn;
	b->last_status_us = now;
	b->reply_now = false;
	return STREAM_OK;
}

/* wait for either socket, or the next status update or retry */
static void
wait_for_work(Bridge *b)
{
	struct pollfd pfd[2];
	int			n = 0;
	int			timeout = 100;

	/* a position waits to be confirmed: wake when its gap has passed */
	if (b->stream_up && b->ledger && confirm_position(b) != b->last_status_lsn)
	{
		int64_t		left = b->last_status_us + status_gap_us(b) - now_us();

		timeout = left <= 0 ? 0 : (int) (left / 1000) + 1;
		if (timeout > 100)
			timeout = 100;
	}
	if (may_read(b))
		pfd[n++] = (struct pollfd) {.fd = stream_socket(&b->stream),.events = POLLIN};
	if (b->sink_up)
	{
		bool		want_write = false;
		int			fd = b->sink->ops->socket(b->sink, &want_write);

		if (fd >= 0)
			pfd[n++] = (struct pollfd) {.fd = fd,.events = POLLIN | (want_write ? POLLOUT : 0)};
	}
	if (poll(pfd, n, timeout) < 0 && errno != EINTR)
		log_msg(LOG_WARNING, "poll failed: %s", strerror(errno));
}

/* pgoutput: a poll's answer, if asked during this session, is the judgement */
static void
take_messages_access(Bridge *b)
{
	int			now_public = b->watch.messages_public;

	if (!b->stream_up || now_public < 0 || b->watch.messages_asked_us < b->stream_opened_us ||
		now_public == b->pgo.messages_public)
		return;
	log_msg(LOG_INFO, "pg_logical_emit_message() %s executable by PUBLIC in database \"%s\": "
			"wal2queue messages decoded from now on are %s", now_public ? "is now" : "is no longer",
			b->stream.dbname, now_public ? "no jobs" : "jobs");
	b->pgo.messages_public = now_public;
}

/* the slot's health, asked without blocking; say when it turns bad */
static void
watch_slot(Bridge *b)
{
	char		before[sizeof(b->watch.wal_status)];

	memcpy(before, b->watch.wal_status, sizeof(before));
	slotwatch_attest(&b->watch,
					 b->stream_up && b->session_begun && b->session_validated ?
					 PQbackendPID(b->stream.conn) : 0, b->unrecorded_from);
	slotwatch_turn(&b->watch, b->cfg->status_interval_ms);
	take_messages_access(b);
	if (!b->watch.known || strcmp(before, b->watch.wal_status) == 0)
		return;
	if (strcmp(b->watch.wal_status, "unreserved") == 0)
		log_msg(LOG_WARNING, "replication slot \"%s\" is past max_slot_wal_keep_size (wal_status "
				"unreserved): the server may remove WAL it needs at the next checkpoint", b->cfg->stream.slot);
	else if (strcmp(b->watch.wal_status, "lost") == 0)
		log_msg(LOG_WARNING, "replication slot \"%s\" is lost (wal_status lost)", b->cfg->stream.slot);
}

/* refresh the metrics snapshot; serve it and log it as configured */
static void
update_metrics(Bridge *b)
{
	MetricsSnapshot *m = &b->m;
	int64_t		now = now_us();
	int64_t		oldest;

	watch_slot(b);
	if (b->cfg->metrics == NULL && b->cfg->log_status_ms == 0)
		return;
	m->streaming = b->stream_up;
	snprintf(m->wal_status, sizeof(m->wal_status), "%s", b->watch.known ? b->watch.wal_status : "");
	m->safe_wal_size = b->watch.known ? b->watch.safe_wal_size : -1;
	m->standing_by = b->standing_by;
	m->sink_up = b->sink_up;
	m->received_lsn = b->stream.received_lsn;
	if (b->ledger)
	{
		m->confirmed_lsn = confirm_position(b);
		m->txns = ledger_txns_done(b->ledger);
		m->inflight_jobs = ledger_inflight_jobs(b->ledger);
		m->last_commit_us = ledger_last_done_time(b->ledger);
		oldest = ledger_oldest_inflight_time(b->ledger);
		m->lag_seconds = oldest ? (wall_us() - oldest) / 1e6 : 0.0;
	}
	if (b->cfg->metrics)
		metrics_publish(m);
	if (b->cfg->log_status_ms > 0 &&
		now - b->last_status_log_us >= (int64_t) b->cfg->log_status_ms * 1000)
	{
		metrics_log_status(m);
		b->last_status_log_us = now;
	}
}

/*
 * Nothing in flight and a keepalive says the stream moved on without a job:
 * have the sink record that position, and confirm it once recorded.  Every
 * position before walEnd was sent before the keepalive, so a transaction
 * read after it ends later.  Transactions the sink answered but holds the
 * acks of (a Redis replay that has not yet shown the record's last
 * transaction) are no work in flight: the position goes to the sink after
 * them, which is how a replay of another history that passes that
 * transaction's LSN without it is found (the sink never records a position
 * below what it was handed).
 */
static int
record_idle_position(Bridge *b)
{
	int64_t		now = now_us();
	uint64_t	lsn = b->keepalive_lsn;

	/*
	 * A replay under the recorded options records nothing past their
	 * horizon: a transaction past it that they do not select (nothing of
	 * it handed over) is the new options' to judge (old_options_switch)
	 */
	if (b->old_options != NULL && lsn > b->old_until)
		lsn = b->old_until;
	if (!b->stream_up || !b->session_begun || b->in_txn || b->replay_needed ||
		lsn <= ledger_confirmable(b->ledger) ||
		(ledger_inflight_txns(b->ledger) > 0 && b->sink->ops->pending_bytes(b->sink) > 0) ||
		now - b->last_progress_us < PROGRESS_MIN_GAP_US)
		return SINK_OK;
	b->last_progress_us = now;
	return session_record_position(b, lsn);
}

/*
 * pgoutput: the publication could not be read for a while, and there is
 * something to confirm past what it proved.  A walsender of a server that
 * shuts down waits for that confirmation: close the stream, reconnect
 * later (the sink dedupes what comes again).
 */
static bool
publication_unproven(Bridge *b)
{
	int64_t		now = now_us();

	if (b->pub.cfg == NULL || !b->stream_up || b->pub.changed ||
		now - b->pub.proved_us < PUBWATCH_STALE_MS * INT64_C(1000) ||
		pubwatch_cap(&b->pub, ledger_confirmable(b->ledger)) == ledger_confirmable(b->ledger))
		return false;
	/* a server shutting down accepts (and hangs) connections a while */
	backoff_fail(&b->stream_backoff);
	b->stream_backoff.next_us = now + PUBWATCH_STALE_MS * INT64_C(1000);
	log_msg(LOG_WARNING, "could not read publication \"%s\" for %d s, so nothing more can be "
			"confirmed; reconnecting in %d s", b->pub.cfg->publication,
			(int) ((now - b->pub.proved_us) / 1000000), PUBWATCH_STALE_MS / 1000);
	session_drop_stream(b);
	return true;
}

/*
 * A message over STREAM_RELEASE_BYTES left libpq's input buffer that large
 * (it never shrinks): once everything up to the message is confirmed, end
 * the session so that it is freed; the next one starts past the message.
 * At most once a RELEASE_GAP_US: a stream of such messages keeps its buffer
 * meanwhile, and the walsender does not decode again from the slot's
 * restart_lsn at every one.
 */
static bool
release_libpq_buffer(Bridge *b)
{
	int64_t		now = now_us();

	if (!b->stream_up || b->in_txn || ledger_inflight_txns(b->ledger) > 0 ||
		!stream_release_due(&b->stream, b->last_status_lsn) ||
		(b->last_release_us && now - b->last_release_us < RELEASE_GAP_US))
		return false;
	b->last_release_us = now;
	log_msg(LOG_INFO, "reconnecting to free the %zu MB libpq kept for a replication message "
			"of that size", b->stream.release_bytes >> 20);
	session_drop_stream(b);
	return true;
}

/*
 * --recv-timeout: a path to the server that went silent without a FIN or
 * RST (a firewall or NAT that lost its table, a partition) leaves a
 * connection that reads nothing, forever, while the walsender timed out
 * long ago (attack 495).  As PostgreSQL's walreceiver does
 * (wal_receiver_timeout): after recv_timeout of silence, a status update
 * asks for a reply; none within as long again, and the connection is taken
 * for lost.  Only while the bridge reads (backpressure is no silence), and
 * each such drop without progress in between doubles the wait (up to 64
 * times), so that a walsender busy for long (a huge transaction decoded
 * without output, which answers only every wal_sender_timeout / 2) is cut
 * at most a few times and its decode ends (note_received()).
 */
static int
stream_silent(Bridge *b)
{
	int64_t		now = now_us();
	int64_t		wait = (int64_t) b->cfg->recv_timeout_ms * 1000 << (b->silent_drops < 6 ? b->silent_drops : 6);

	if (!b->stream_up || b->cfg->recv_timeout_ms == 0 || !may_read(b) || b->last_recv_us == 0)
	{
		b->last_recv_us = now;
		b->ping_sent_us = 0;
		return STREAM_OK;
	}
	if (b->ping_sent_us == 0)
	{
		if (now - b->last_recv_us < wait)
			return STREAM_OK;
		b->ping_sent_us = now;
		return stream_send_status(&b->stream, b->last_status_lsn, true) == STREAM_OK ? STREAM_OK :
			session_stream_failed(b, STREAM_RETRY);
	}
	if (now - b->ping_sent_us < wait)
		return STREAM_OK;
	snprintf(b->stream.err, sizeof(b->stream.err), "no message from the server for %d s, nor an "
			 "answer to a status update that asked for one: the connection is taken for lost",
			 (int) ((now - b->last_recv_us) / 1000000));
	b->silent_drops++;
	b->last_recv_us = 0;
	b->ping_sent_us = 0;
	return session_stream_failed(b, STREAM_RETRY);
}

/*
 * A replay under the options the sink's record was written with
 * (session.c old_options_take) ends at their horizon, the server's WAL
 * end when the sink judged the record (every job written under them is at
 * or below it): once a transaction at or past it came (not handed over)
 * or a keepalive passed it, and everything before is acknowledged, the
 * sink records the position there under them, the slot confirms it, and
 * the session ends; the next one streams with the bridge's own options
 * from there (its sink finds the record this process wrote: switch_lsn,
 * kafka_record_verdict.c).  A job's seq counts the jobs the options select
 * in its transaction, so no mark of the old options ever judges a job
 * numbered under the new ones (test/t/660, 661).
 */
static int
old_options_switch(Bridge *b)
{
	char		at[LSN_STRLEN],
				c[LSN_STRLEN];

	if (b->old_options == NULL || !b->stream_up || !b->sink_up || !b->session_begun ||
		b->replay_needed || b->in_txn ||
		(!b->old_reached && b->keepalive_lsn < b->old_until) ||
		ledger_inflight_txns(b->ledger) > 0)
		return 0;
	if (confirm_position(b) < b->old_until)
	{
		if (!b->old_reached || b->old_asked)
			return 0;			/* record_idle_position records the keepalive's */
		b->old_asked = true;
		return session_record_position(b, b->old_until) == SINK_OK ? 0 : 1;
	}
	if (send_status(b, true) != STREAM_OK)
		return 1;
	if (!b->stream_up)
		return 0;				/* the next session replays them again */
	log_msg(LOG_INFO, "slot \"%s\": the replay under the recorded options \"%s\" has passed "
			"%s (confirmed %s): streaming with this bridge's own from there",
			b->cfg->stream.slot, b->old_options, lsn_format(b->old_until, at, sizeof(at)),
			lsn_format(b->last_status_lsn, c, sizeof(c)));
	session_old_options_clear(b);
	session_drop_stream(b);
	return 0;
}

/* one turn: connect what is down, read, deliver, confirm */
static int
turn(Bridge *b)
{
	int			nread = 0;
	int			rc;

	if (session_connect_stream(b) != STREAM_OK)
		return 1;
	/* a --standby bridge touches no sink before it holds the slot */
	if (b->stream_up && session_connect_sink(b) != SINK_OK)
		return 1;
	if (b->replay_needed && b->sink_up && b->stream_up)
	{
		log_msg(LOG_INFO, "replaying from the slot what %s did not acknowledge",
				b->sink->ops->name);
		session_drop_stream(b);
		return 0;
	}
	if (b->stream_up && b->sink_up && !b->session_begun && session_begin(b) != SINK_OK)
		return 1;
	if (b->holding && take_keys(b) < 0)
		return 1;
	if (may_read(b) && (nread = read_stream(b)) < 0)
		return 1;

	/*
	 * Flushing: the sink sends what it holds at every poll, i.e. once the
	 * input had nothing more readable without blocking or READ_BATCH
	 * messages were read (a full batch goes out even earlier, from commit),
	 * and never waits for more: no timer holds a ready batch.  Its replies
	 * are read here without waiting, and in wait_for_work as they arrive;
	 * the calls sent meanwhile stay in flight (up to max_pending_bytes).
	 */
	if (b->sink_up)
	{
		rc = b->sink->ops->poll(b->sink, 0, on_ack, b);
		if (rc != SINK_OK && session_sink_failed(b, rc) != SINK_OK)
			return 1;
	}

	if (b->sink_up && record_idle_position(b) != SINK_OK)
		return 1;
	if (b->sink_up && record_confirmable(b) != SINK_OK)
		return 1;
	if (send_status(b, false) != STREAM_OK)
		return 1;
	if (old_options_switch(b) != 0)
		return 1;
	if (stream_silent(b) != STREAM_OK)
		return 1;
	update_metrics(b);
	if (publication_unproven(b) || release_libpq_buffer(b))
		return 0;
	if (b->pub.changed)
	{
		log_msg(LOG_ERROR, "%s; hint: %s", b->pub.why, b->pub.hint);
		return 1;
	}
	if (nread == 0)
		wait_for_work(b);
	return 0;
}

/* SIGTERM/SIGINT: deliver what is in flight, confirm it, leave */
static int
shut_down(Bridge *b)
{
	if (b->sink_up)
	{
		int			rc = b->sink->ops->drain(b->sink, DRAIN_TIMEOUT_MS, on_ack, b);

		/* and the record of what that acknowledged */
		if (rc == SINK_OK && b->sink->ops->record && b->stream_up && b->session_begun &&
			(rc = b->sink->ops->record(b->sink, pubwatch_cap(&b->pub,
															  ledger_confirmable(b->ledger)))) == SINK_OK)
			rc = b->sink->ops->drain(b->sink, DRAIN_TIMEOUT_MS, on_ack, b);
		if (rc != SINK_OK)
			log_msg(LOG_WARNING, "%s", b->sink->err);
	}
	if (b->stream_up && b->ledger)
	{
		uint64_t	lsn = confirm_position(b);

		if (stream_send_status(&b->stream, lsn, false) == STREAM_OK)
		{
			log_msg(LOG_INFO, "stopped; confirmed %X/%X", (unsigned) (lsn >> 32), (unsigned) lsn);
			/* vouch for the slot up to there: a restart begins there */
			if (b->session_begun && b->session_validated)
			{
				slotwatch_attest(&b->watch, PQbackendPID(b->stream.conn), b->unrecorded_from);
				slotwatch_attest_final(&b->watch, lsn, FINAL_ATTEST_TIMEOUT_MS);
			}
		}
	}
	stream_finish(&b->stream, FINISH_TIMEOUT_MS);
	return 0;
}

int
bridge_run(const BridgeConfig *cfg)
{
	Bridge		b;
	int			status = 0;

	memset(&b, 0, sizeof(b));
	b.cfg = cfg;
	b.m.slot = cfg->stream.slot;
	b.accept_new = cfg->accept_new_source;
	b.m.sink = cfg->sink.url.kind == SINK_KAFKA ? "kafka" : "redis";
	b.last_status_log_us = now_us();
	stream_init(&b.stream, &cfg->stream);
	slotwatch_init(&b.watch, cfg->stream.conninfo, cfg->stream.slot);
	pubwatch_init(&b.pub, cfg->stream.pgoutput);
	b.watch.pub = &b.pub;
	b.stream.before_start = pubwatch_read_first;
	b.stream.before_start_arg = &b.pub;
	frame_decoder_init(&b.dec);
	pgo_decoder_init(&b.pgo, cfg->stream.pgoutput);
	b.watch.watch_messages = cfg->stream.pgoutput != NULL;
	b.sink = cfg->sink.url.kind == SINK_KAFKA ? sink_kafka_create(&cfg->sink)
		: sink_redis_create(&cfg->sink);
	if (b.sink == NULL)
	{
		log_msg(LOG_ERROR, "could not create the sink: out of memory");
		return 1;
	}
	/* --backfill: the rows the tables hold, before the first session */
	status = backfill_run(cfg, b.sink, &b.m);
	while (!bridge_stop_requested && status == 0)
	{
		if (bridge_signal_noted)
		{
			log_msg(LOG_INFO, "received signal %d (%s): the bridge has nothing to reload and goes on; "
					"SIGTERM stops it", (int) bridge_signal_noted, strsignal(bridge_signal_noted));
			bridge_signal_noted = 0;
		}
		status = turn(&b);
	}
	if (status == 0)
		status = shut_down(&b);
	else
	{
		/* a slot the sink refused at once delivered nothing: not left behind */
		if (b.slot_created && b.sink->new_slot_refused)
			stream_drop_refused_slot(&b.stream, FINISH_TIMEOUT_MS);
		stream_close(&b.stream);
	}
	b.sink->ops->destroy(b.sink);
	slotwatch_free(&b.watch);
	message_keys_free(&b.watch.keys);
	pubwatch_free(&b.pub);
	frame_decoder_free(&b.dec);
	pgo_decoder_free(&b.pgo);
	if (b.ledger)
		ledger_destroy(b.ledger);
	return status;
}
