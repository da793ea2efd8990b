/*-------------------------------------------------------------------------
 *
 * bridge.h
 *		The bridge's event loop: replication stream in, sink out, ledger in
 *		between.  bridge.c holds the loop, session.c the set-up and
 *		teardown of its sessions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_BRIDGE_H
#define W2Q_BRIDGE_H

#include <signal.h>
#include <stddef.h>

#include "backfill.h"
#include "sink.h"
#include "stream.h"

/* stop reading the slot while the sink holds this much unacknowledged */
#define BRIDGE_DEFAULT_MAX_PENDING (8 * 1024 * 1024)

typedef struct BridgeConfig
{
	StreamConfig stream;
	SinkConfig	sink;
	int			status_interval_ms;
	int			recv_timeout_ms;	/* --recv-timeout: silence before a ping's
									 * answer is given up on; 0 for none */
	size_t		max_pending_bytes;
	bool		standby;		/* wait while another bridge holds the slot */
	bool		accept_new_source;	/* continue after a deliberate failover or
									 * restore (a new system or timeline) */
	const char *metrics;		/* host:port for /metrics, or NULL */
	int			log_status_ms;	/* status line interval, 0 for none */
	BackfillConfig backfill;	/* --backfill and its options */
} BridgeConfig;

/* set by the signal handlers: finish what is in flight and exit */
extern volatile sig_atomic_t bridge_stop_requested;

/* set by the handler of SIGHUP, SIGUSR1, SIGUSR2: logged, nothing else */
extern volatile sig_atomic_t bridge_signal_noted;

/* run until stopped; returns the process exit status */
extern int	bridge_run(const BridgeConfig *cfg);

#endif							/* W2Q_BRIDGE_H */
