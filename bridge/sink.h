/*-------------------------------------------------------------------------
 *
 * sink.h
 *		The small interface every sink (Redis Streams, Kafka) sits behind.
 *
 * A stream session is one replication connection: the bridge opens the
 * stream (IDENTIFY_SYSTEM, the slot's confirmed_flush_lsn), then tells the
 * sink "a replay of source S from LSN X begins" (replay_begin), then hands
 * it each decoded transaction as it streams in: begin, every job, commit.
 * The sink delivers them in its own way and reports, through the ack
 * callback, how many jobs of which transaction its server durably accepted.
 * The sink never decides what is confirmed to PostgreSQL: the ledger does,
 * from the acks.
 *
 * Exactly once rests on positive evidence: the sink records, atomically
 * with the jobs it writes, the source and the end LSN of the last
 * transaction it delivered.  A transaction at or below that record is
 * acknowledged without being written again; a record of another source, or
 * one behind the slot (the sink lost data it had acknowledged), is refused
 * with SINK_FATAL, never inferred away.
 *
 * Error model: every call returns SINK_OK, SINK_RETRY or SINK_FATAL and, if
 * not OK, leaves a lower-case message without trailing period in s->err.
 *	- SINK_RETRY: the connection is lost, or the server asks us to wait
 *	  (Redis BUSY, LOADING, OOM, MASTERDOWN; a Kafka broker down).  The
 *	  bridge drops everything in flight (disconnect), backs off, keeps
 *	  answering the walsender and starts a new session from the slot.
 *	- SINK_FATAL: delivering cannot be right (another source's progress, a
 *	  sink that lost acknowledged data, a job too large for the server, bad
 *	  configuration).  The bridge stops with exit status 1 and confirms
 *	  nothing more.
 *
 * No call may wait longer than about a second (SINK_MAX_WAIT_MS): the
 * bridge must keep sending status updates to the walsender.  Longer work
 * (connecting, reading marks, committing a Kafka transaction) is resumable:
 * the call returns SINK_OK having done part of it and poll() goes on.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_SINK_H
#define W2Q_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "ledger.h"

#define SINK_OK		0
#define SINK_RETRY	1
#define SINK_FATAL	2

#define SINK_ERRLEN 1024			/* room for two option lists (redis_progress.c) */

/*
 * The recovery after a failover or restore (docs/operations.md, "Failover
 * of PostgreSQL"), for every refusal of another source: --accept-new-source
 * alone on a new slot would skip the jobs the old slot had not delivered.
 */
#define SINK_FAILOVER_HINT \
	"after a deliberate failover or restore recover once with this command line plus " \
	"--create-slot --backfill[=CONDITION] --accept-new-source, with no slot of this name on " \
	"the server (drop one with --drop-slot first): it delivers the rows the tables hold, at " \
	"least once (docs/operations.md, \"Failover of PostgreSQL\")"

/* the longest any sink call may block */
#define SINK_MAX_WAIT_MS 1000

typedef enum SinkKind
{
	SINK_REDIS_TCP,
	SINK_REDIS_UNIX,
	SINK_KAFKA
} SinkKind;

/* a parsed --sink URL */
typedef struct SinkUrl
{
	SinkKind	kind;
	char	   *host;			/* redis tcp: host (default "localhost") */
	int			port;			/* redis tcp: port (default 6379) */
	char	   *path;			/* unix: socket path */
	char	   *user;			/* redis ACL user, or NULL */
	char	   *password;		/* or NULL (WAL2QUEUE_REDIS_PASSWORD may fill it) */
	int			db;				/* redis database number (default 0) */
	char	   *brokers;		/* kafka: "host:port,host:port" */
} SinkUrl;

/*
 * Parse a --sink URL:
 *	 redis://[[user]:password@]host[:port][/db]
 *	 unix:///path/to/redis.sock[?db=N]
 *	 kafka://host:port[,host:port...]
 * Percent-escapes (%XX) are decoded in user and password.  Returns 0, or -1
 * with a message naming what is wrong in err.
 */
extern int	sink_url_parse(const char *url, SinkUrl *out, char *err, size_t errlen);
extern void sink_url_free(SinkUrl *u);

/* how to pass a Redis password, after NOAUTH (false) or WRONGPASS (true) */
extern const char *sink_url_auth_hint(bool password_given);

typedef struct SinkConfig
{
	SinkUrl		url;
	const char *slot;			/* the replication slot (names the Kafka
								 * transactional.id) */
	const char *target_prefix;	/* "" when none */
	long long	redis_maxlen;	/* 0: no trimming */
	int			redis_wait_replicas;	/* --redis-wait: WAIT for this many
										 * replicas before acking (0: no WAIT) */
	int			redis_wait_timeout_ms;	/* its timeout (default 1000) */
	const char *redis_group;	/* NULL: none */
	const char *value_column;	/* kafka: NULL means the row as JSON */
	char	  **kafka_props;	/* kafka: "key=value" strings, NULL-terminated */
	bool		kafka_transactions;
	const char *kafka_positions_topic;	/* kafka: the position records' topic
										 * (NULL or "": keep none) */
	/* what decides a job's topic and key (kafka: recorded with the position) */
	const char *plugin;			/* "wal2queue" or "pgoutput" */
	const char *key_column;		/* NULL: none */
	const char *route_column;	/* NULL: none */
	/* what chooses the transactions (redis: recorded with the last one) */
	const char *tables;			/* --tables, NULL: none */
	const char *publication;	/* --publication (pgoutput), NULL: none */
	int			verbose;		/* -1 quiet, 0 normal, 1+ verbose */
} SinkConfig;

/*
 * Where jobs come from: (system identifier, timeline, database, slot).  Two
 * sessions of the same source are the same server history; anything else
 * is another source, even with the same slot name.
 */
typedef struct SinkSource
{
	char		sysid[24];		/* IDENTIFY_SYSTEM's systemid, decimal */
	uint32_t	timeline;
	char		dbname[64];		/* NAMEDATALEN */
	char		slot[64];
	uint64_t	wal_end;		/* not identity: the server's WAL position when
								 * the session began (IDENTIFY_SYSTEM); a sink
								 * record of this source past it means the
								 * server was rolled back (restored from a copy) */
} SinkSource;

/* replay_begin flags */
#define SINK_REPLAY_NEW_SLOT	0x01	/* the bridge created the slot in this
										 * process: no record yet is expected */
#define SINK_REPLAY_ACCEPT_NEW	0x02	/* --accept-new-source: replace another
										 * source's record (failover, restore) */
#define SINK_REPLAY_RECLAIMED	0x04	/* with NEW_SLOT: an earlier run created
										 * the slot and stopped before the sink
										 * recorded anything (for messages) */
#define SINK_REPLAY_DELIVERED	0x08	/* positive evidence that the slot
										 * delivered before (slot.c
										 * slot_check_delivered): a sink without
										 * a record of it lost its data */

/* backfill_batch flags */
#define SINK_BACKFILL_NEW		0x01	/* start a backfill: replaces a finished
										 * one's state, creates the record if
										 * there is none */
#define SINK_BACKFILL_ACCEPT	0x02	/* and take over another source's record
										 * (--recreate-lost-slot) */

struct BackfillState;

/* acknowledgement: n jobs of transaction t are safely stored */
typedef void (*SinkAckFn) (void *arg, LedgerTicket t, uint32_t n);

typedef struct Sink Sink;

typedef struct SinkOps
{
	const char *name;			/* "redis", "kafka" */
	int			(*connect) (Sink *s);

	/*
	 * A new session: source src replays from LSN from (the slot's
	 * confirmed_flush_lsn).  Forget what was in flight; the first
	 * transaction handed over next follows from.  The check of the sink's
	 * record may finish later, in poll(), which then returns its verdict.
	 */
	int			(*replay_begin) (Sink *s, const SinkSource *src, uint64_t from,
								 unsigned flags);
	int			(*begin) (Sink *s, const FrameTxn *txn, LedgerTicket t);
	int			(*job) (Sink *s, const FrameTxn *txn, const FrameJob *job,
						LedgerTicket t);
	int			(*commit) (Sink *s, const FrameTxn *txn, LedgerTicket t);

	/*
	 * Nothing is in flight and the stream has moved on to lsn without a job
	 * (a keepalive's walEnd, filtered transactions): record it, so that the
	 * record never lags what the slot confirms, and ack one job of ticket t
	 * once recorded (a sink without a record may ack at once).
	 */
	int			(*progress) (Sink *s, uint64_t lsn, LedgerTicket t);

	/*
	 * A sink whose record is not written atomically with the jobs (Kafka:
	 * kafka_record.c; NULL for Redis).  record: every transaction up to
	 * lsn is acknowledged, record it when the sink's write rate allows.
	 * recorded: how far the record of this session's source durably got;
	 * the bridge confirms nothing past it (nor below the session's start).
	 * vouches: this session's slot starts at or below that record (valid
	 * from the session's first ack on).
	 */
	int			(*record) (Sink *s, uint64_t lsn);
	uint64_t	(*recorded) (Sink *s);
	bool		(*vouches) (Sink *s);

	/*
	 * Send what is buffered and read what has arrived, waiting at most
	 * timeout_ms for the socket; call ack for what the server acknowledged.
	 */
	int			(*poll) (Sink *s, int timeout_ms, SinkAckFn ack, void *arg);

	/* socket to wait on (-1 if none) and whether to wait for writability */
	int			(*socket) (Sink *s, bool *want_write);

	/* bytes handed to the sink and not yet acknowledged (backpressure) */
	size_t		(*pending_bytes) (Sink *s);

	/* drop the connection and everything in flight */
	void		(*disconnect) (Sink *s);

	/* flush, wait up to timeout_ms for acks (shutdown) */
	int			(*drain) (Sink *s, int timeout_ms, SinkAckFn ack, void *arg);

	void		(*destroy) (Sink *s);

	/*
	 * --backfill (backfill.h), before any session: synchronous calls that
	 * may wait longer than SINK_MAX_WAIT_MS (no walsender streams while they
	 * run).  NULL where the sink cannot backfill.
	 *
	 * backfill_read: the backfill state recorded for src's slot (st->present
	 * false when none; a record of another source is SINK_FATAL, or with
	 * SINK_BACKFILL_ACCEPT in flags read as no record, other_source set).
	 *
	 * backfill_batch: write njobs jobs (each job's seq is its number in the
	 * backfill, its LSN next->lsn) and the state next, atomically, if the
	 * recorded state is still the one with seq prev_seq of the same
	 * backfill (SINK_BACKFILL_NEW: any finished one, or none).  SINK_OK once
	 * the sink durably holds both.
	 */
	int			(*backfill_read) (Sink *s, const SinkSource *src, unsigned flags,
								  struct BackfillState *st);
	int			(*backfill_batch) (Sink *s, const SinkSource *src, unsigned flags,
								   uint64_t prev_seq,
								   const struct BackfillState *next,
								   const FrameJob *jobs, uint32_t njobs);

	/*
	 * backfill_unmark (NULL where the sink cannot): remove the creation
	 * marker recorded with seq for src's slot, if it is still the sink's
	 * state and all the sink holds of the slot (the slot's creation failed
	 * after it).  SINK_OK once removed, else an error in err.
	 */
	int			(*backfill_unmark) (Sink *s, const SinkSource *src, uint64_t seq);
} SinkOps;

struct Sink
{
	const SinkOps *ops;
	const SinkConfig *cfg;
	char		err[SINK_ERRLEN];
	bool		new_slot_refused;	/* the last SINK_FATAL refused a slot the
									 * bridge created (SINK_REPLAY_NEW_SLOT) at
									 * the session's first check: it delivered
									 * nothing, the bridge drops it again */

	/*
	 * The options that choose this session's transactions (txn_options.h)
	 * when they are not the bridge's own: a replay under the options the
	 * sink's record was written with, up to session_until (bridge.c
	 * old_options_switch); NULL: the bridge's.  Set before replay_begin.
	 */
	const char *session_options;
	uint64_t	session_until;

	/*
	 * Set with a SINK_RETRY at the session's check of the record, by a
	 * sink whose record was written under other options than this
	 * session's while the slot starts below replay_until (the old horizon:
	 * every job written under them is at or below it): the bridge takes
	 * them (malloc'd) and replays under them until past it
	 */
	char	   *replay_options;
	uint64_t	replay_until;
	void	   *priv;
};

/* sink_redis.c, sink_kafka.c */
extern Sink *sink_redis_create(const SinkConfig *cfg);
extern Sink *sink_kafka_create(const SinkConfig *cfg);

/*
 * kafka_conf.c: what the Kafka sink would refuse only once it runs, checked
 * before anything is created: 0, or -1 with err set (a usage error).
 */
extern int	sink_kafka_check(const SinkConfig *cfg, char *err, size_t errlen);
extern int	sink_kafka_check_positions(const SinkConfig *cfg, const char *tables,
									   char *err, size_t errlen);

#endif							/* W2Q_SINK_H */
