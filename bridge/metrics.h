/*-------------------------------------------------------------------------
 *
 * metrics.h
 *		Prometheus metrics at http://HOST:PORT/metrics (--metrics), served
 *		by libmicrohttpd from its own thread, and the one-line status log
 *		(--log-status).  The event loop publishes a snapshot; the server
 *		only ever reads the last snapshot published.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_METRICS_H
#define W2Q_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct MetricsSnapshot
{
	const char *sink;			/* "redis", "kafka" */
	const char *slot;
	uint64_t	jobs;			/* jobs acknowledged by the sink */
	uint64_t	txns;			/* transactions confirmed */
	uint64_t	bytes;			/* frame bytes read from the slot */
	uint64_t	confirmed_lsn;
	uint64_t	received_lsn;	/* highest WAL position the server reported */
	uint64_t	inflight_jobs;
	uint64_t	sink_errors;
	uint64_t	pg_reconnects;
	uint64_t	sink_reconnects;
	int64_t		last_commit_us; /* commit time of the last delivered
								 * transaction, Unix epoch; 0 if none */
	double		lag_seconds;	/* age of the oldest job in flight; 0 if none */
	bool		streaming;
	bool		standing_by;	/* --standby, waiting for the slot: healthy */
	bool		sink_up;
	char		wal_status[16]; /* the slot's wal_status; "" when unknown */
	long long	safe_wal_size;	/* bytes; -1 when unknown or unlimited */
	bool		backfill_running;	/* --backfill: delivering rows */
	uint64_t	backfill_rows_done;
	uint64_t	backfill_rows_estimated;	/* pg_class.reltuples, summed */
} MetricsSnapshot;

#define METRICS_BAD_ADDRESS (-2)

/*
 * Start serving on "host:port" (":port" for every address).  Returns 0,
 * METRICS_BAD_ADDRESS for an address that cannot be parsed or resolved,
 * or -1 when it cannot be served (in use); err says which.
 */
extern int	metrics_start(const char *hostport, char *err, size_t errlen);
extern void metrics_publish(const MetricsSnapshot *snap);
extern void metrics_stop(void);

/* the Prometheus text exposition of snap; returns its length */
extern size_t metrics_format(const MetricsSnapshot *snap, char *buf, size_t buflen);

/* /healthz: the HTTP status (200 or 503) and a one-line body */
extern unsigned metrics_health(const MetricsSnapshot *snap, char *buf, size_t buflen);

/* the --log-status line */
extern void metrics_log_status(const MetricsSnapshot *snap);

#endif							/* W2Q_METRICS_H */
