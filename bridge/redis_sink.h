/*-------------------------------------------------------------------------
 *
 * redis_sink.h
 *		The Redis sink's state, shared by its files:
 *
 *	redis_conn.c		connecting, the handshake, loading the function library,
 *						the eviction watch (acks held until INFO vouches)
 *	redis_pipeline.c	commands in the Redis protocol, the calls in flight,
 *						writing them and reading their replies
 *	redis_progress.c	the function library (Lua) and its verdicts
 *	redis_history.c		the HISTORY verdict, the options recorded with it
 *	sink_redis.c		the sink interface: sessions, batches, staging
 *
 * See docs/redis.md for the contract with users (entry format, progress
 * record, the Redis configuration each guarantee needs).
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_REDIS_SINK_H
#define W2Q_REDIS_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "sink.h"
#include "strtab.h"

/* one FCALL carries at most this many transactions ... */
#define REDIS_BATCH_TXNS	256
/* ... or about this many bytes */
#define REDIS_BATCH_BYTES	(1024 * 1024)
/*
 * Deliver calls in flight at once.  While this many wait for their replies
 * the next batch keeps growing instead of going out: under load a call
 * carries every transaction that came in meanwhile (one Redis function call
 * costs about as much as tens of entries), idle a transaction goes out at
 * once.  Two keep Redis busy while a reply travels back.
 */
#define REDIS_DELIVER_INFLIGHT	2
/* ... except a batch of this many bytes, which goes at once all the same */
#define REDIS_DUE_BYTES		(64 * 1024)
/* a transaction larger than this is staged in pieces of about this size */
#define REDIS_STAGE_BYTES	(1024 * 1024)

/* a command being built: its arguments in the Redis protocol, no header */
typedef struct RespBuf
{
	char	   *data;
	size_t		len;
	size_t		cap;
	uint32_t	nargs;
} RespBuf;

/* what one transaction of a deliver call stands for */
typedef enum RItemKind
{
	RITEM_CHECK,				/* replay_begin's check of the record */
	RITEM_TXN,					/* a PostgreSQL transaction */
	RITEM_PROGRESS				/* progress(): a position without jobs */
} RItemKind;

typedef struct RItem
{
	RItemKind	kind;
	LedgerTicket ticket;
	uint32_t	njobs;
	uint64_t	prev;			/* the position it follows */
	uint64_t	end;			/* the position it reaches */
	uint32_t	xid;			/* RITEM_TXN: the transaction's identity, */
	int64_t		commit_time_us; /* compared with the record's last one */
	char	   *stage;			/* its staging list (owned), NULL if none */
} RItem;

typedef enum RCallKind
{
	RCALL_DELIVER,				/* FCALL deliver [+ WAIT] */
	RCALL_STAGE,				/* RPUSH to a staging list, EXPIRE */
	RCALL_EVICT,				/* INFO: the eviction watch (redis_conn.c) */
	RCALL_SWEEP,				/* SCAN for the slot's leftover staging lists */
	RCALL_UNLINK,				/* UNLINK of what a SCAN found (redis_conn.c) */
	RCALL_RECORD				/* HMGET of the record at a session's start
								 * (redis_history.c) */
} RCallKind;

/* a command sent (or appended) whose replies are due */
typedef struct RCall
{
	struct RCall *next;
	RCallKind	kind;
	size_t		size;			/* bytes, WAIT included */
	int			replies_due;	/* 2 with a second command (WAIT, EXPIRE) */
	bool		wait;			/* a deliver followed by WAIT */
	uint64_t	expect;			/* stage: the list's length after it */
	bool		stale;			/* of an earlier session: replies ignored */
	bool		first;			/* deliver: the session's first (its source check) */
	uint32_t	done;			/* deliver: items done, known from its reply */
	uint32_t	settled;		/* deliver: items whose staging lists the
								 * function deleted (done, any verdict) */
	bool		unverified;		/* deliver: done items skipped as delivered
								 * before the session reached the record's
								 * last transaction: their acks wait */
	RItem	   *items;
	uint32_t	nitems;
} RCall;

/* the transaction between begin and commit */
typedef struct RBuild
{
	bool		open;
	LedgerTicket ticket;
	uint64_t	commit_lsn;
	uint64_t	end_lsn;
	uint32_t	njobs;
	StrTab		keys;			/* its stream keys; entries name them by index */
	RespBuf		entries;		/* entries not staged yet, as arguments */
	uint64_t	nstaged;		/* arguments already in the staging list */
	uint32_t   *chunks;			/* arguments of each piece staged */
	uint32_t	nchunks;
	uint32_t	chunks_cap;
	char	   *stage_key;		/* its staging list, NULL until staged */
} RBuild;

typedef struct RedisSink
{
	redisContext *ctx;

	/* the session: replay_begin's source, flags and position */
	bool		session;
	SinkSource	src;
	unsigned	flags;
	bool		first_pending;	/* the next deliver call is the first */
	bool		refused;		/* a call of this session was refused */
	bool		wal_end_checked;	/* the session's first answer was checked
									 * against the server's WAL end */
	uint64_t	last_end;		/* end of the last item handed over */
	bool		record_pending; /* the session's HMGET of the record is due */
	uint64_t	stage_seq;		/* names staging lists */

	/* the deliver call being built: its items, and their entries */
	RespBuf		batch;			/* its items' headers, msgpack */
	RespBuf		blob;			/* the entries, msgpack (resp_to_shaped) */
	StrTab		shapes;			/* their shapes (resp_to_shaped) */
	RespBuf		sig;			/* scratch of resp_to_shaped */
	RItem	   *items;
	uint32_t	nitems;
	uint32_t	items_cap;

	RBuild		build;

	/* calls in flight, in send order */
	RCall	   *head;
	RCall	   *tail;
	size_t		pending;		/* their bytes */
	uint32_t	ndeliver;		/* of them deliver calls */

	char	  **orphans;		/* staging lists of calls refused, lost or
								 * dropped: deleted at the next connect */
	uint32_t	norphans;
	uint32_t	orphans_cap;
	char	   *progress_key;	/* prefix + "wal2queue:progress:" + slot */
	char	   *options;		/* the options that choose transactions, as
								 * recorded with the last one (txn_options) */
	char	   *keybuf;			/* scratch: prefix + target */
	size_t		keybuf_cap;
	char		maxlen[24];		/* "" when not trimming */
	char		wait_replicas[16];
	char		wait_ms[16];

	/*
	 * Items the record says were delivered, before the session has shown
	 * the record's last transaction (same xid and commit time at its end
	 * LSN): acknowledged only once it has, never if it does not.
	 */
	RItem	   *deferred;
	uint32_t	ndeferred;
	uint32_t	deferred_cap;

	SinkAckFn	ack;			/* set by poll and drain: redis_hold_ack */
	void	   *ack_arg;

	/*
	 * The eviction watch (redis_conn.c): acks are held until an INFO sent
	 * after them shows that Redis evicted nothing since it was last asked,
	 * then passed on to up_ack.
	 */
	SinkAckFn	up_ack;			/* the bridge's ack callback */
	void	   *up_arg;
	struct RHeldAck *held;
	uint32_t	nheld;
	uint32_t	held_cap;
	bool		hold_oom;		/* an ack could not be held */
	bool		evict_watch;	/* INFO answered at connect: watching */
	bool		evict_inflight; /* an INFO check is in flight */
	int64_t		evict_sent_ms;	/* when the last one was sent */
	bool		evict_known;	/* the fields below are of run_id */
	bool		evict_ttl_only; /* the policy last seen is noeviction or
								 * volatile-*: it evicts no key without a TTL */
	bool		evict_volatile; /* the policy last seen is volatile-* */
	long long	evicted_keys;	/* INFO's evicted_keys last seen */
	char		run_id[48];		/* the server they were seen on */

	/*
	 * The sweep (redis_conn.c): each session deletes the staging lists of
	 * its slot that no call of this process needs.
	 */
	char	   *sweep_prefix;	/* prefix + "wal2queue:stage:" + slot + ":" */
	char	   *sweep_match;	/* the same as a SCAN pattern, escaped, + "*" */
} RedisSink;

typedef struct RHeldAck
{
	LedgerTicket ticket;
	uint32_t	n;
} RHeldAck;

/* redis_target.c */
extern bool redis_build_key(RedisSink *rs, const SinkConfig *cfg,
							const FrameJob *job, size_t *keylen);
extern bool redis_reserved_key(const char *key, size_t len, size_t plen);
extern const char *redis_reserved_column(const FrameRelation *rel,
										 const FrameBytes *name);
extern int	redis_check_target(Sink *s, const FrameTxn *txn, FrameJob *job,
							   size_t *keylen);

/* redis_conn.c */
extern int	redis_conn_open(Sink *s);
extern int	redis_error_rc(const char *msg);
extern int	redis_lost(Sink *s);
extern void redis_hold_ack(void *arg, LedgerTicket t, uint32_t n);
extern int	redis_evict_send(Sink *s, bool force);
extern int	redis_evict_on_reply(Sink *s, RCall *call, const redisReply *r);
extern void redis_evict_forget(RedisSink *rs);
extern int	redis_sweep_start(Sink *s);
extern int	redis_sweep_on_reply(Sink *s, RCall *call, const redisReply *r);

/* redis_pipeline.c */
extern void resp_reset(RespBuf *b);
extern void resp_free(RespBuf *b);
extern bool resp_arg(RespBuf *b, const char *p, size_t len);
extern bool resp_arg_str(RespBuf *b, const char *s);
extern bool resp_arg_u64(RespBuf *b, uint64_t v);
extern bool resp_arg_lsnhex(RespBuf *b, uint64_t lsn);
extern bool resp_arg_raw(RespBuf *b, const RespBuf *more);
extern bool resp_to_shaped(RespBuf *blob, const RespBuf *args, const StrTab *keys,
						   StrTab *shapes, RespBuf *sig);
extern bool resp_arg_shapes(RespBuf *b, const StrTab *shapes);
extern bool mp_arg_str(RespBuf *b, const char *p, size_t len);
extern bool mp_arg_uint(RespBuf *b, uint64_t v);
extern bool resp_arg_msgpack_array(RespBuf *b, const RespBuf *elems);
extern bool resp_arg_entry(RespBuf *b, const char *key, size_t keylen,
						   const FrameJob *job);
extern int	pipe_send(Sink *s, RCall *call, const RespBuf *head,
					  const RespBuf *body, int argc2, const char **argv2);
extern int	pipe_flush(Sink *s);
extern int	pipe_read(Sink *s);
extern int	pipe_poll(Sink *s, int timeout_ms);
extern void pipe_clear(RedisSink *rs);

/* sink_redis.c */
extern void redis_orphan(RedisSink *rs, char *key);
extern void redis_stage_release(RedisSink *rs, RCall *call);

/* redis_progress.c */
extern const char *const redis_library;
#define REDIS_FN_DELIVER	"wal2queue_v1_deliver7"
extern const char *redis_reply_str(const redisReply *r, size_t i);
extern int	progress_on_deliver(Sink *s, RCall *call, const redisReply *r);
extern int	progress_on_stage(Sink *s, RCall *call, const redisReply *r);
extern int	progress_on_wait(Sink *s, RCall *call, const redisReply *r);

/* redis_history.c */
extern char *progress_options(const SinkConfig *cfg);
extern int	progress_verdict_history(Sink *s, const RCall *call, const redisReply *r);
extern int	progress_check_record(Sink *s);
extern int	progress_on_record(Sink *s, const redisReply *r);

/* redis_backfill.c */
#define REDIS_FN_BACKFILL	"wal2queue_backfill4"
struct BackfillState;
extern const char *redis_library_text(void);	/* the library, backfill too */
extern int	redis_backfill_read(Sink *s, const SinkSource *src, unsigned flags,
								struct BackfillState *st);
extern int	redis_backfill_batch(Sink *s, const SinkSource *src, unsigned flags,
								 uint64_t prev_seq, const struct BackfillState *next,
								 const FrameJob *jobs, uint32_t njobs);
/* the creation marker removed again (sink.h backfill_unmark) */
extern int	redis_backfill_unmark(Sink *s, const SinkSource *src, uint64_t seq);

#endif							/* W2Q_REDIS_SINK_H */
