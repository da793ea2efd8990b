/*-------------------------------------------------------------------------
 *
 * sink.h
 *		The small interface every sink (Redis Streams, Kafka) sits behind.
 *
 * The bridge hands a sink each decoded transaction as it streams in:
 * begin, every job, commit.  The sink delivers them in its own way and
 * reports, through the ack callback, how many jobs of which transaction its
 * server acknowledged.  The sink never decides what is confirmed to
 * PostgreSQL: the ledger does, from the acks.
 *
 * Error model: every call returns SINK_OK, SINK_RETRY or SINK_FATAL and, if
 * not OK, leaves a lower-case message without trailing period in s->err.
 *	- SINK_RETRY: the connection is lost or refused.  The bridge drops
 *	  everything in flight (sink_disconnect), reconnects with backoff and
 *	  restarts the replication stream from the slot; the sink must make the
 *	  replay harmless (Redis: LSN-derived entry IDs; Kafka: per-partition
 *	  high-water marks).
 *	- SINK_FATAL: delivering cannot be right (a foreign writer in a stream,
 *	  a job too large for the server, bad configuration).  The bridge stops
 *	  with exit status 1 and confirms nothing more.
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

#define SINK_ERRLEN 512

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

typedef struct SinkConfig
{
	SinkUrl		url;
	const char *slot;			/* the replication slot (names the Kafka
								 * transactional.id) */
	const char *target_prefix;	/* "" when none */
	long long	redis_maxlen;	/* 0: no trimming */
	const char *redis_group;	/* NULL: none */
	const char *value_column;	/* kafka: NULL means the row as JSON */
	char	  **kafka_props;	/* kafka: "key=value" strings, NULL-terminated */
	bool		kafka_transactions;
	int			verbose;		/* -1 quiet, 0 normal, 1+ verbose */
} SinkConfig;

/* acknowledgement: n jobs of transaction t are safely stored */
typedef void (*SinkAckFn) (void *arg, LedgerTicket t, uint32_t n);

typedef struct Sink Sink;

typedef struct SinkOps
{
	const char *name;			/* "redis", "kafka" */
	int			(*connect) (Sink *s);
	int			(*begin) (Sink *s, const FrameTxn *txn, LedgerTicket t);
	int			(*job) (Sink *s, const FrameTxn *txn, const FrameJob *job,
						LedgerTicket t);
	int			(*commit) (Sink *s, const FrameTxn *txn, LedgerTicket t);

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
} SinkOps;

struct Sink
{
	const SinkOps *ops;
	const SinkConfig *cfg;
	char		err[SINK_ERRLEN];
	void	   *priv;
};

/* sink_redis.c, sink_kafka.c */
extern Sink *sink_redis_create(const SinkConfig *cfg);
extern Sink *sink_kafka_create(const SinkConfig *cfg);

#endif							/* W2Q_SINK_H */
