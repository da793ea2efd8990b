/*-------------------------------------------------------------------------
 *
 * kafka_harness.h
 *		What the Kafka sink's unit tests share: librdkafka's mock cluster,
 *		jobs built as the frame reader would hand them over, the sink
 *		driven as the bridge drives it, topics read back with a consumer.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_KAFKA_HARNESS_H
#define W2Q_KAFKA_HARNESS_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "sink.h"

#define MAX_TICKETS 1024
#define ACK_TIMEOUT_MS 15000

/* Kafka protocol ApiKeys, for injecting broker errors into the mock */
#define API_PRODUCE 0
#define API_END_TXN 26

#define SRC_A "7311000000000000001/1/postgres/sa"

extern rd_kafka_mock_cluster_t *mock;
extern const char *bootstrap;
extern uint32_t acked[MAX_TICKETS];
extern LedgerTicket next_ticket;
extern const SinkSource src_a;

typedef struct TJob
{
	const char *key;			/* NULL: no key */
	const char *target;			/* NULL: public.jobs */
	const char *id;
	const char *note;			/* NULL: SQL NULL */
	const char *payload;		/* a message's payload when is_message */
	bool		is_message;
	FrameValue	values[4];
} TJob;

typedef struct TSink
{
	SinkConfig	cfg;
	char	   *props[8];
	Sink	   *s;
} TSink;

typedef struct Rec
{
	int32_t		partition;
	int64_t		offset;
	char	   *key;			/* NULL: null key */
	char	   *value;			/* NULL: null value */
	char	   *lsn,
			   *seq,
			   *xid,
			   *table,
			   *time,
			   *source,
			   *options;		/* headers, NULL when absent */
	int			nheaders;
} Rec;

typedef struct Recs
{
	Rec			r[512];
	int			n;
} Recs;

/* start the mock cluster of 3 brokers (false if it did not start); stop it */
extern bool harness_start(void);
extern void harness_stop(void);

extern void tjob_frame(TJob *tj, uint32_t seq, FrameJob *job);
extern FrameTxn make_txn(uint32_t xid, uint64_t lsn);
extern int run_txn(Sink *s, FrameTxn txn, TJob *jobs, int n, LedgerTicket *t);
extern void on_ack(void *arg, LedgerTicket t, uint32_t n);
extern int wait_acks(Sink *s, LedgerTicket t, uint32_t want, int timeout_ms);
extern int tstart(Sink *s);
extern int run_wait(Sink *s, FrameTxn txn, TJob *jobs, int n, LedgerTicket *t);
extern Sink *tsink_new(TSink *ts, const char *prefix, const char *value_column, const char *prop1, const char *prop2);
extern void recs_free(Recs *rs);
extern rd_kafka_t *new_client(rd_kafka_type_t type, const char *txn_id);
extern int read_topic(const char *topic, Recs *rs);
extern int count_job(const Recs *rs, const char *lsn, const char *seq);
extern bool exactly_once(const Recs *rs, int want);
extern void produce_plain(const char *topic, int32_t partition, const char *lsn, const char *seq);
extern int32_t part_of(const char *key, int n);
extern bool str_eq(const char *a, const char *b);
extern void set_brokers(bool up);
extern double poll_for(Sink *s, int ms, int *rc);
extern int start_txn(Sink *s, FrameTxn txn, TJob *jobs, int n, LedgerTicket t);
extern bool in_order(const Recs *rs);
extern void set_rtt(int ms);

#endif							/* W2Q_KAFKA_HARNESS_H */
