/*-------------------------------------------------------------------------
 *
 * kafka_record_internal.h
 *		The Kafka position record's state, shared by kafka_record.c (its
 *		reading, writing and session life) and kafka_record_verdict.c (the
 *		verdict on the record read at a session's start).
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_KAFKA_RECORD_INTERNAL_H
#define W2Q_KAFKA_RECORD_INTERNAL_H

#include "kafka_record.h"
#include "kafka_sink.h"

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
	uint64_t	was_until;		/* ... the old horizon: every mark written
								 * before the session is at or below it (the
								 * server's WAL end at the start); the record
								 * keeps was_options up to it */
	bool		was_passed;		/* ... a record past it was written */
	/*
	 * This process's sessions judged against was_options (kept across its
	 * sessions): they handed over every job from own_from up to own_high
	 * in order without meeting a mark written before them, so a mark in
	 * that stretch is one of theirs (kafka_record_own_mark()), and a record
	 * they wrote (up to own_rec) is no older options' evidence
	 */
	char	   *own_was;		/* ... the options they were judged against */
	uint64_t	own_from;
	bool		own_any;		/* ... own_high set */
	KafkaPos	own_high;
	uint64_t	own_rec;		/* ... the highest record they wrote */
	bool		inflight_kept;	/* the write in flight keeps was_options */
	/*
	 * A session whose options are not the record's (it starts at the old
	 * horizon, or past this process's replay under the recorded ones)
	 * produces no job until a record with its own options counts: a job
	 * written under them while the record still named the old ones would
	 * be judged by a later replay under the old numbering (test/t/660)
	 */
	bool		hold;
	/*
	 * This process's replay under the recorded options (sink->session_options)
	 * wrote a record at switch_lsn, at or past the old horizon, with them:
	 * a session under its own options from there switches at once
	 */
	char	   *switch_options;
	uint64_t	switch_lsn;
	/*
	 * The options the jobs up to below_until were written with, where not
	 * this session's (it switched from them, or the record it read kept
	 * them): the record keeps them (headers options_below and
	 * options_below_until), so that a session whose slot a crash moved back
	 * below below_until replays under them again (kafka_record_verdict.c)
	 */
	char	   *below;
	uint64_t	below_until;
};

/* kafka_record_verdict.c: the record's key, <sysid>/<dbname>/<slot> */
extern void kafka_record_key(const KafkaSink *ks, char *key, size_t len);
/* kafka_record_verdict.c: what decides a job's topic and partition (header shape) */
extern void kafka_record_shape_format(const KafkaSink *ks, char *buf, size_t len);
/* kafka_record_verdict.c: the verdict on the record q read for this session */
extern int	kafka_record_apply(KafkaSink *ks, KafkaRecord *rec, const RecordReq *q);

#endif							/* W2Q_KAFKA_RECORD_INTERNAL_H */
