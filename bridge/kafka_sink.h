/*-------------------------------------------------------------------------
 *
 * kafka_sink.h
 *		The insides of the Kafka sink, shared by its files:
 *
 *	sink_kafka.c	the SinkOps glue: sessions, the hold queue, poll
 *	kafka_conf.c	configuration and the librdkafka handles
 *	kafka_topics.c	the topics a producer writes
 *	kafka_marks.c	per-partition marks, the look-up worker thread
 *	kafka_sources.c	another source's mark: refused, or --accept-new-source
 *	kafka_gaps.c	gaps between our messages: another writer in a partition
 *	kafka_suspects.c	deliveries not proven by an offset: the partition is
 *					read back and only what is missing is sent again
 *	kafka_produce.c	building, partitioning and producing messages; delivery
 *					reports and acknowledgements
 *	kafka_txn.c		--kafka-transactions, every call resumable
 *	kafka_backfill.c	--backfill: pages of rows, the state record
 *	kafka_backfill_state.c	the state record's text
 *	kafka_backfill_topics.c	the topics a page goes to (next_topics)
 *	kafka_backfill_evidence.c	a partition's tail read back; the rows of
 *					the uncertain page a topic holds
 *	kafka_record.c	the position record of the slot (--kafka-positions-topic);
 *					kafka_record_read.c reads it back on the worker thread
 *	kafka_history.c	a replay below a mark shows the mark's transaction
 *					before what it skipped is acknowledged
 *
 * See sink_kafka.c for how the pieces fit and docs/kafka.md for the
 * contract.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_KAFKA_SINK_H
#define W2Q_KAFKA_SINK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "json_row.h"
#include "lsn.h"
#include "sink.h"
#include "strtab.h"

/* "<sysid>/<timeline>/<dbname>/<slot>": 20 + 10 + 63 + 63 + 3 + NUL */
#define KAFKA_SOURCE_LEN 160

#define KAFKA_STEP_MS 500		/* one step of a blocking librdkafka call */
#define METADATA_TIMEOUT_MS 5000	/* partition count of a topic */
#define MARKS_TIMEOUT_MS 10000	/* reading the last messages */
#define TXN_TIMEOUT_MS 30000	/* init/commit of a kafka transaction */
#define TIME_STR_LEN 40

/*
 * A new process reads a partition's tail back (kafka_marks.c): at most this
 * many messages per partition (kafka_tail_max, which tests lower), and no
 * window past this many bytes of keys and values (kafka_tail_max_bytes); jobs before what it read
 * are sent again
 */
#define KAFKA_TAIL_MAX 100000
#define KAFKA_TAIL_MAX_BYTES (64 * 1024 * 1024)
#define KAFKA_TAIL_WINDOW 64	/* the first window; each next one 8 times it */

/* a job's position: commit lsn and seq */
typedef struct KafkaPos
{
	uint64_t	lsn;
	uint32_t	seq;
} KafkaPos;

/* a partition to read back from an offset (kafka_suspects.c) */
typedef struct KafkaVerify
{
	int32_t		partition;
	int64_t		from;
} KafkaVerify;

/* how far a partition got: its last message of this source */
typedef struct KafkaMark
{
	bool		has_mark;
	uint64_t	lsn;			/* that job's commit lsn and seq */
	uint32_t	seq;
	bool		has_limit;		/* re-send from here even below the mark */
	uint64_t	limit_lsn;
	uint32_t	limit_seq;
	/* with a limit: the jobs of this source read back at or after it */
	KafkaPos   *present;		/* sorted; none: every job from the limit on is sent */
	size_t		npresent;
	int64_t		next_offset;	/* where our next message should land; -1: unknown */
	uint64_t	last_txn;		/* the Kafka transaction (txn_no) of the last one */
	/* the transaction of the mark as read (kafka_history.c); "": unknown */
	uint64_t	ident_lsn;
	char		ident_xid[12];
	char		ident_time[TIME_STR_LEN];
} KafkaMark;

/* a piece of work for the worker thread (kafka_marks.c) */
typedef struct KafkaWork
{
	struct KafkaWork *next;		/* the worker's queue */
	void		(*run) (struct KafkaWork *w);
	bool		queued;			/* not yet taken by the worker, under its lock */
	bool		done;			/* finished, under the worker's lock */
} KafkaWork;

typedef struct GapReq GapReq;

typedef struct MarksReq MarksReq;

typedef struct KafkaRecord KafkaRecord;

typedef enum TopicState
{
	TOPIC_UNKNOWN,				/* marks not read in this session */
	TOPIC_LOOKUP,				/* the worker reads them */
	TOPIC_READY
} TopicState;

/* a topic as this producer knows it */
typedef struct KafkaTopic
{
	char	   *name;
	rd_kafka_topic_t *rkt;
	TopicState	state;
	MarksReq   *req;			/* while TOPIC_LOOKUP */
	int32_t		npartitions;
	KafkaMark  *marks;			/* npartitions of them */
} KafkaTopic;

/* a produced message waiting for its delivery report (the opaque) */
typedef struct KafkaMsg
{
	struct KafkaMsg *prev;
	struct KafkaMsg *next;
	LedgerTicket ticket;
	uint64_t	session;
	size_t		bytes;
	uint64_t	lsn;
	uint32_t	seq;
	KafkaTopic *topic;
	int32_t		partition;
} KafkaMsg;

/*
 * A message whose delivery no offset proves (a failed delivery, a report
 * without an offset, one unresolved when the producer was dropped): the
 * first of its partition, and where it would have landed
 */
typedef struct KafkaSuspect
{
	char	   *topic;
	int32_t		partition;
	uint64_t	lsn;
	uint32_t	seq;
	int64_t		from_offset;	/* our next offset then; -1: unknown */
	bool		tail;			/* a new process's read back, not a delivery */
	/* read back by a session: resolved by a delivery at or past until */
	bool		applied;
	KafkaPos	until;
	bool		until_incl;
} KafkaSuspect;

typedef struct KafkaAck
{
	LedgerTicket ticket;
	uint32_t	n;
} KafkaAck;

typedef struct AckQueue
{
	KafkaAck   *a;
	size_t		n;
	size_t		cap;
} AckQueue;

/* a delivered message of the open Kafka transaction: a mark once committed */
typedef struct TxnMark
{
	KafkaTopic *topic;
	int32_t		partition;
	uint64_t	lsn;
	uint32_t	seq;
} TxnMark;

typedef enum TxnState
{
	TXN_OFF,					/* no --kafka-transactions */
	TXN_NEW,					/* producer created, init_transactions not yet */
	TXN_INIT,					/* init_transactions under way */
	TXN_IDLE,
	TXN_OPEN,					/* begun, messages produced */
	TXN_COMMIT					/* commit_transaction under way */
} TxnState;

typedef enum OutKind
{
	OUT_JOB,
	OUT_COMMIT					/* the end of a PostgreSQL transaction */
} OutKind;

/* one job as a Kafka message, or a commit; held ones own their bytes */
typedef struct KafkaOut
{
	struct KafkaOut *next;
	OutKind		kind;
	LedgerTicket ticket;
	uint64_t	lsn;			/* commit lsn */
	uint32_t	seq;
	KafkaTopic *topic;
	bool		has_key;
	const char *key;
	size_t		key_len;
	const char *value;			/* NULL: a null value */
	size_t		value_len;
	const char *table;			/* NULL: a logical message */
	size_t		table_len;
	char		lsn_s[LSN_STRLEN];
	char		seq_s[12];
	char		xid_s[12];
	char		time_s[TIME_STR_LEN];
	size_t		bytes;
	/* a backfilled row (kafka_backfill.c): headers backfill, backfill_page */
	const char *bf_key;			/* its position key; NULL: not backfilled */
	char		bf_page[24];
} KafkaOut;

typedef struct KafkaWorker
{
	pthread_t	thread;
	bool		running;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool		stop;			/* under lock */
	KafkaWork  *head;			/* waiting for the worker, under lock */
	KafkaWork  *tail;
} KafkaWorker;

typedef struct KafkaSink
{
	Sink		sink;
	rd_kafka_t *rk;				/* the producer, NULL when disconnected */
	rd_kafka_t *rkc;			/* a consumer that reads the marks (worker) */
	rd_kafka_queue_t *mainq;	/* rk's main queue, signalling wake_fd */
	int			wake_fd[2];		/* pipe: librdkafka and the worker write */
	int64_t		max_message_bytes;
	bool		txn_mode;		/* --kafka-transactions */
	bool		idempotent;		/* enable.idempotence (reports without offset: acks=0) */
	bool		connected;		/* between connect and disconnect */
	KafkaWorker worker;
	/* topics used by this producer: topics[i] is named topic_names' i */
	StrTab		topic_names;
	KafkaTopic **topics;
	size_t		ntopics;
	size_t		topics_cap;
	/* messages in flight: a list with a sentinel, and recycled records */
	KafkaMsg	inflight;
	KafkaMsg   *free_msgs;
	size_t		pending;		/* bytes in flight and held */
	KafkaOut   *held;			/* handed over, not produced yet, in order */
	KafkaOut   *held_tail;
	/* the session: replay_begin */
	uint64_t	session;		/* 0: none yet */
	char		source[KAFKA_SOURCE_LEN];
	SinkSource	src;
	uint64_t	from;			/* where the session's replay begins */
	unsigned	flags;			/* SINK_REPLAY_* */
	bool		settling;		/* the previous session's messages in flight */
	/* transactions */
	TxnState	txn;
	uint64_t	txn_no;			/* Kafka transactions begun by this producer */
	uint64_t	txn_lsn;		/* the commit lsn of the open one */
	int64_t		txn_deadline;	/* now_us() limit of the running txn call */
	AckQueue	txn_acks;		/* delivered, not yet committed */
	TxnMark    *txn_marks;
	size_t		ntxn_marks;
	size_t		txn_marks_cap;
	/* acknowledgements */
	AckQueue	acks;			/* waiting for the next poll */
	SinkAckFn	ack;			/* set while poll or drain runs */
	void	   *ack_arg;
	bool		discarding;		/* closing: delivery reports mean nothing */
	int			failed;			/* SINK_RETRY/FATAL seen in a callback */
	KafkaSuspect *suspects;
	size_t		nsuspects;
	StrTab		tail_read;		/* topics whose tail this session read back */
	GapReq	   *gaps;			/* gaps being fetched (kafka_gaps.c) */
	KafkaRecord *rec;			/* the position record (kafka_record.c) */
	struct KafkaHistory *hist;	/* marks' transactions to see (kafka_history.c) */
	JsonBuf		value;			/* scratch: the value of one job */
	JsonBuf		topic;			/* scratch: the topic name of one job */
	struct KafkaBackfill *backfill;	/* kafka_backfill.c, NULL until used */
} KafkaSink;

/* sink_kafka.c */
extern void kafka_fail(KafkaSink *ks, int rc, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
extern void kafka_wake(KafkaSink *ks);

/* kafka_conf.c */
extern int	kafka_handles_create(KafkaSink *ks);
extern void kafka_handles_destroy(KafkaSink *ks);

/* kafka_topics.c */
extern KafkaTopic *kafka_topic_get(KafkaSink *ks, const char *name, size_t len);
extern void kafka_topics_forget(KafkaSink *ks);
extern void kafka_topics_free(KafkaSink *ks);

/* kafka_marks.c */
extern int	kafka_topic_resolve(KafkaSink *ks, KafkaTopic *t, const KafkaOut *o,
								bool *ready);
extern void kafka_req_free(MarksReq *q);
extern int	kafka_worker_start(KafkaSink *ks);
extern void kafka_worker_stop(KafkaSink *ks);
extern void kafka_worker_submit(KafkaSink *ks, KafkaWork *q);
extern bool kafka_work_done(KafkaSink *ks, KafkaWork *q);
extern bool kafka_mark_covers(const KafkaMark *m, uint64_t lsn, uint32_t seq);
extern void kafka_mark_advance(KafkaTopic *t, int32_t partition, uint64_t lsn,
							   uint32_t seq);
extern void kafka_source_format(const SinkSource *src, char *buf, size_t len);
extern int64_t kafka_tail_max;

/* kafka_sources.c: another source's last message; SINK_OK with --accept-new-source */
extern int	kafka_source_refuse(KafkaSink *ks, const KafkaTopic *t, int32_t p,
								const char *source, uint64_t lsn, uint32_t seq,
								int64_t offset);
extern int64_t kafka_tail_max_bytes;

/* for tests: the mark of a topic's partition; false if none */
extern bool kafka_sink_mark(Sink *s, const char *topic, int32_t partition,
							uint64_t *lsn, uint32_t *seq);

/* kafka_suspects.c */
extern void kafka_suspect_add(KafkaSink *ks, const char *topic, int32_t partition,
							  uint64_t lsn, uint32_t seq, int64_t from_offset);
extern int64_t kafka_next_offset(const KafkaTopic *t, int32_t partition);
extern void kafka_suspects_inflight(KafkaSink *ks);
extern void kafka_suspect_tail(KafkaSink *ks, const char *topic, int32_t partition,
							   uint64_t from, int64_t read_from, bool cut);
extern KafkaVerify *kafka_suspects_verify(KafkaSink *ks, const char *topic, int *n);
extern void kafka_suspect_apply(KafkaSink *ks, const KafkaTopic *t, int32_t partition,
								int64_t verified_from, int64_t hi, KafkaPos *present,
								size_t npresent);
extern bool kafka_present_has(const KafkaMark *m, uint64_t lsn, uint32_t seq);
extern void kafka_suspect_delivered(KafkaSink *ks, const KafkaTopic *t,
									int32_t partition, uint64_t lsn, uint32_t seq);
extern void kafka_suspect_committed(KafkaSink *ks, const KafkaTopic *t,
									int32_t partition, uint64_t lsn, uint32_t seq);
extern void kafka_marks_clear(KafkaTopic *t);
extern void kafka_suspects_free(KafkaSink *ks);

/* kafka_gaps.c */
extern void kafka_offset_seen(KafkaSink *ks, KafkaTopic *t, int32_t partition,
							  int64_t offset);
extern int	kafka_gaps_collect(KafkaSink *ks);
extern void kafka_gaps_free(KafkaSink *ks);

/* kafka_produce.c */
extern int	kafka_out_build(KafkaSink *ks, const FrameTxn *txn, const FrameJob *job,
							LedgerTicket t, KafkaOut *o);
extern KafkaOut *kafka_out_copy(const KafkaOut *o);
extern int	kafka_out_produce(KafkaSink *ks, const KafkaOut *o, bool *done);
extern int32_t kafka_out_partition(const KafkaOut *o, int32_t npartitions);
extern int	kafka_out_send(KafkaSink *ks, const KafkaOut *o, int32_t partition,
						   bool *done);
extern void kafka_ack_push(KafkaSink *ks, AckQueue *q, LedgerTicket t, uint32_t n);
extern void kafka_acks_flush(KafkaSink *ks);
extern void kafka_msgs_free(KafkaSink *ks);
extern void kafka_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rm,
							  void *opaque);
extern const char *kafka_topic_unusable(const char *name, size_t len);

/* kafka_marks.c: the worker thread was told to stop */
extern bool kafka_worker_stopping(KafkaSink *ks);

/* kafka_record.c */
extern int	kafka_record_begin(KafkaSink *ks);
extern bool kafka_record_ready(const KafkaSink *ks);
/* kafka_record.c: the session waits for a record with its own options (hold) */
extern bool kafka_record_holds(const KafkaSink *ks);
extern int	kafka_record_pump(KafkaSink *ks);
extern int	kafka_record_progress(KafkaSink *ks, uint64_t lsn, LedgerTicket t);
extern bool kafka_record_report(KafkaSink *ks, const rd_kafka_message_t *rm);
extern void kafka_record_committed(KafkaSink *ks);
extern bool kafka_record_busy(const KafkaSink *ks);
extern void kafka_record_close(KafkaSink *ks);
extern void kafka_record_free(KafkaSink *ks);
extern int	kafka_record_want(Sink *s, uint64_t lsn);
extern uint64_t kafka_record_recorded(Sink *s);
extern bool kafka_record_vouches(Sink *s);
/* a job its partition's mark covers: may this session skip it? */
extern int	kafka_record_skip_check(KafkaSink *ks, const KafkaTopic *t, int32_t partition,
									const KafkaOut *o);
/* a job below its partition's mark that it does not cover: may this session write it? */
extern int	kafka_record_below_check(KafkaSink *ks, const KafkaTopic *t, int32_t partition,
									 const KafkaOut *o);
/* a job that passed both checks is written */
extern void kafka_record_own_job(KafkaSink *ks, const KafkaOut *o);

/* kafka_history.c */
extern int	kafka_history_job(KafkaSink *ks, const KafkaOut *o);
extern int	kafka_history_skip(KafkaSink *ks, const KafkaTopic *t, int32_t partition,
							   const KafkaOut *o);
extern int	kafka_history_progress(KafkaSink *ks, uint64_t lsn);
extern void kafka_history_reset(KafkaSink *ks);
extern void kafka_history_free(KafkaSink *ks);

/* kafka_txn.c */
extern int	kafka_txn_begin(KafkaSink *ks, uint64_t lsn);
extern int	kafka_txn_commit(KafkaSink *ks, bool step);
extern int	kafka_txn_step(KafkaSink *ks);
extern void kafka_txn_reset(KafkaSink *ks);
extern int	kafka_txn_conf(KafkaSink *ks, rd_kafka_conf_t *conf);

/* kafka_backfill.c: the sink's backfill hooks (sink.h) */
struct BackfillState;
extern int	kafka_backfill_read(Sink *s, const SinkSource *src, unsigned flags,
								struct BackfillState *st);
extern int	kafka_backfill_batch(Sink *s, const SinkSource *src, unsigned flags,
								 uint64_t prev_seq, const struct BackfillState *next,
								 const FrameJob *jobs, uint32_t njobs);
extern void kafka_backfill_free(KafkaSink *ks);

/*
 * kafka_backfill_evidence.c: read a partition from `back` messages before its
 * end to its end, fn for every data message (*exists false: no such topic or
 * partition; *lo_reached: the read began at the partition's start); whether
 * a topic holds a row of a backfill page (the evidence read once per topic)
 */
#define KAFKA_BF_WAIT_MS	30000	/* a page's delivery, a state read */
typedef bool (*KafkaTailFn) (void *arg, const rd_kafka_message_t *msg);
extern int	kafka_tail_read(KafkaSink *ks, const char *topic, int32_t partition,
							int64_t back, KafkaTailFn fn, void *arg, bool *exists,
							bool *lo_reached);
typedef struct KafkaBfEvidence
{
	struct Evidence *ev;
	size_t		nev;
} KafkaBfEvidence;
extern int	kafka_bf_evidence_has(KafkaSink *ks, KafkaBfEvidence *b, const char *topic,
								  const char *page, const char *poskey, bool *has);
extern void kafka_bf_evidence_clear(KafkaBfEvidence *b);

/* kafka_backfill_topics.c: the set of topics a backfill page goes to */
typedef struct KafkaBfTopics
{
	char	  **name;
	size_t		n;
} KafkaBfTopics;
extern void kafka_bf_topics_free(KafkaBfTopics *t);
extern bool kafka_bf_topics_has(const KafkaBfTopics *t, const char *name, size_t len);
extern bool kafka_bf_topics_add(KafkaBfTopics *t, const char *name, size_t len);
extern bool kafka_bf_topics_within(const KafkaBfTopics *a, const KafkaBfTopics *b);
extern bool kafka_bf_topics_of_page(const char *prefix, const FrameJob *jobs,
									uint32_t njobs, KafkaBfTopics *out);
extern bool kafka_bf_topics_cut(const char *prefix, const FrameJob *jobs, uint32_t from,
								uint32_t njobs, const KafkaBfTopics *with, size_t max_json,
								uint32_t *end);
extern char *kafka_bf_topics_format(const KafkaBfTopics *t);
extern bool kafka_bf_topics_parse(const char *json, KafkaBfTopics *t);

/*
 * kafka_backfill_state.c: the state record's text (malloc'd, NULL when out
 * of memory; next_topics, a JSON array of topic names or NULL, is where the
 * page after it goes), and its parse (false when it is no state record;
 * the source into source, KAFKA_SOURCE_LEN bytes); next_topics read back
 * (malloc'd, NULL when the record has none)
 */
extern char *kafka_backfill_state_format(const char *source, uint64_t page,
										 const struct BackfillState *st,
										 const char *next_topics);
extern char *kafka_backfill_state_next_topics(const char *text, size_t len);
extern bool kafka_backfill_state_parse(const char *text, size_t len,
									   struct BackfillState *st, uint64_t *page,
									   char *source);

#endif							/* W2Q_KAFKA_SINK_H */
