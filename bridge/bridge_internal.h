/*-------------------------------------------------------------------------
 *
 * bridge_internal.h
 *		The bridge's state, shared by bridge.c (the event loop) and
 *		session.c (setting up and tearing down sessions); no other file
 *		includes it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_BRIDGE_INTERNAL_H
#define W2Q_BRIDGE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "bridge.h"
#include "frame.h"
#include "ledger.h"
#include "metrics.h"
#include "pgoutput.h"
#include "pubwatch.h"
#include "slotwatch.h"

typedef struct Backoff
{
	int			delay_ms;
	int64_t		next_us;
} Backoff;

typedef struct Bridge
{
	const BridgeConfig *cfg;
	Stream		stream;
	bool		stream_up;
	Backoff		stream_backoff;
	Sink	   *sink;
	bool		sink_up;
	Backoff		sink_backoff;
	bool		replay_needed;	/* the sink lost in-flight jobs */
	bool		session_begun;	/* the sink was told of this session */
	bool		sink_ever_up;
	bool		slot_created;	/* this process created the slot and the sink
								 * has acknowledged nothing since */
	bool		accept_new;		/* --accept-new-source, until a session is
								 * accepted (session_sink_acked) */
	bool		have_source;	/* source is an earlier session's */
	SinkSource	source;
	int64_t		last_progress_us;
	FrameDecoder dec;
	PgoDecoder	pgo;			/* --plugin=pgoutput */
	Ledger	   *ledger;
	LedgerTicket ticket;
	LedgerTicket position_ticket;	/* the latest position record's */
	bool		in_txn;
	uint64_t	keepalive_lsn;	/* walEnd of the latest keepalive */
	uint64_t	last_status_lsn;
	int64_t		last_status_us;
	int64_t		last_release_us;	/* the last reconnect to free libpq's
									 * buffer (bridge.c) */
	bool		reply_now;
	char		err[512];
	/* --standby and busy slots */
	int64_t		busy_since_us;
	bool		standing_by;
	bool		ever_streamed;
	SlotWatch	watch;			/* wal_status and safe_wal_size */
	PubWatch	pub;			/* pgoutput: the publication, the cap */
	bool		session_validated;	/* the sink acked something this session */
	int64_t		session_start_us;	/* when START_REPLICATION last succeeded */
	/* --recv-timeout: the server's silence (stream_silent, bridge.c) */
	int64_t		last_recv_us;	/* the last message from the walsender */
	int64_t		ping_sent_us;	/* a status asking for a reply, unanswered */
	int			silent_drops;	/* sessions dropped for silence since the
								 * stream last made progress */
	uint64_t	recv_high_lsn;	/* the highest LSN received, kept across
								 * sessions: progress is a message past it */
	uint64_t	unrecorded_from;	/* this session's start if no sink record
									 * vouched for it, else 0 (slotwatch.h) */
	/* metrics */
	MetricsSnapshot m;
	int64_t		last_status_log_us;
	/* pgoutput: may PUBLIC emit messages (message_access.h)? */
	int64_t		stream_opened_us;	/* answers asked before it are stale */
	bool		messages_warned;	/* this session said it ignores them */
	uint64_t	messages_revoked;	/* signed with a revoked key: warned */
	/* pgoutput: a message waiting for send()'s keys (PGO_NEED_KEYS) */
	bool		holding;
	StreamEvent held;			/* valid while no stream_read: may_read */
	int64_t		held_session_us;	/* its session's stream_opened_us */
	int64_t		held_since_us;
	/*
	 * A replay under the options the sink's record was written with (its
	 * verdict: kafka_record_verdict.c), until past old_until, the old
	 * horizon; then a session under the bridge's own (old_options_switch,
	 * bridge.c).  NULL: the bridge's own options.
	 */
	char	   *old_options;
	uint64_t	old_until;
	char	   *old_tables;		/* their --tables, or NULL */
	const char *old_plugin_options[16];	/* wal2queue: START_REPLICATION's */
	PgoConfig	old_pgo;		/* pgoutput: the bridge selects them */
	bool		old_reached;	/* a transaction at or past old_until came:
								 * not handed over, nothing more read */
	bool		old_asked;		/* ... old_until was asked to be recorded */
} Bridge;

/* session.c: reconnect delays, doubled at each failure, capped */
extern int	backoff_fail(Backoff *b);
extern void backoff_reset(Backoff *b);

/* session.c: connecting, failing and beginning sessions */
extern int	session_sink_failed(Bridge *b, int rc);
extern int	session_connect_sink(Bridge *b);
extern void session_sink_acked(Bridge *b, LedgerTicket t);
extern void session_drop_stream(Bridge *b);
extern int	session_stream_failed(Bridge *b, int rc);
extern int	session_connect_stream(Bridge *b);
extern int	session_begin(Bridge *b);
extern int	session_record_position(Bridge *b, uint64_t lsn);
extern void session_old_options_clear(Bridge *b);

#endif							/* W2Q_BRIDGE_INTERNAL_H */
