/*-------------------------------------------------------------------------
 *
 * kafka_record.h
 *		Between kafka_record.c (the position record: verdict and writes)
 *		and kafka_record_read.c (reading it back on the worker thread).
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_KAFKA_RECORD_H
#define W2Q_KAFKA_RECORD_H

#include "kafka_sink.h"

/*
 * What decides a job's topic and partition, recorded with the position:
 * "plugin=P key-column=K route-column=R target-prefix=T" (kafka_record.c)
 */
#define KAFKA_SHAPE_LEN 512

/* a look-up of the record, for the worker */
typedef struct RecordReq
{
	KafkaWork	work;			/* first: the worker's queue entry */
	KafkaSink  *ks;				/* only its handles and worker are used */
	char	   *topic;
	char	   *key;
	uint64_t	session;
	bool		create;			/* try to create the topic first */
	int			rc;
	char		err[SINK_ERRLEN];
	int32_t		partition;
	bool		found;
	int64_t		offset;
	bool		has_lsn;
	uint64_t	lsn;
	char		source[KAFKA_SOURCE_LEN];
	char		shape[KAFKA_SHAPE_LEN];	/* "": none recorded (an older record) */
	char	   *options;		/* what chose transactions (txn_options.h); NULL:
								 * none recorded (an older record) */
	bool		options_lost;	/* ... recorded, but out of memory reading it */
	char	   *below;			/* the options the jobs up to below_until were
								 * written with, where not these (a switch of
								 * the options: kafka_record_verdict.c); NULL:
								 * none recorded */
	uint64_t	below_until;
} RecordReq;

/* kafka_record_read.c: the look-up (a KafkaWork's run) */
extern void kafka_record_read(KafkaWork *w);

/* a missing control topic, created compacted (positions, backfill state) */
extern void kafka_topic_create_compacted(KafkaSink *ks, const char *topic, const char *what);

/* kafka_record.c */
extern void kafka_record_req_free(RecordReq *q);
/* kafka_backfill.c: this session writes a backfill of what the tables hold at lsn */
extern void kafka_record_backfill(KafkaSink *ks, uint64_t lsn);

#endif							/* W2Q_KAFKA_RECORD_H */
