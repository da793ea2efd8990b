/*-------------------------------------------------------------------------
 *
 * redis_harness.h
 *		For the Redis sink's tests: real redis-server processes on free
 *		ports in a temporary directory, a plain client for checks, and
 *		helpers that drive a sink as the bridge does.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_REDIS_HARNESS_H
#define W2Q_REDIS_HARNESS_H

#include <stdbool.h>
#include <stdlib.h>
#include <sys/types.h>

#include <hiredis/hiredis.h>

#include "sink.h"
#include "unit.h"

#define MAX_TICKETS 8192
#define DRAIN_MS	30000

typedef struct RServer
{
	pid_t		pid;
	int			port;
	char		name[16];
	char		sock[128];
	char		log[128];
	char		dir[128];		/* its working directory (appendonly files) */
} RServer;

/* the main server and the client the checks use (connected to it) */
extern RServer srv;
extern redisContext *chk;
extern const char *srv_password;

/* acks seen */
extern uint32_t ack_jobs[MAX_TICKETS];
extern int	ack_calls[MAX_TICKETS];
extern int	ack_total;

/* a job to send: a message when payload is set, else a row of 4 columns */
typedef struct TestJob
{
	const char *target;
	const char *payload;
	const char *key;			/* message key, or NULL */
	const char *vals[4];		/* id, queue, payload, done; NULL is SQL NULL */
} TestJob;

/* a temporary directory for the servers, removed at exit */
extern bool harness_init(void);

/*
 * Start a server named name on port (0: a free one); extra: more
 * redis-server arguments, NULL-terminated (or NULL).  Waits until it answers.
 */
extern bool server_start(RServer *rsv, const char *name, int port,
						 const char *password, const char *const *extra);
extern void server_stop(RServer *rsv);

/* (re)connect chk to srv */
extern bool chk_connect(void);

extern redisReply *rcmd(const char *fmt,...);
extern void rdo(const char *fmt,...);
extern long long rint_cmd(const char *fmt, const char *arg);
/* a field of the slot's progress record under prefix, "" if none */
extern char *record_field(const char *prefix, const char *slot, const char *field);
/* calls of a command since CONFIG RESETSTAT ("fcall", "xgroup|create") */
extern long command_calls(const char *name);

/*
 * A check that the slot's progress record under prefix has field = want.
 * Inline, so that it counts in the tally (unit.h) of the test including it.
 */
static inline bool
check_record(const char *prefix, const char *slot, const char *field,
			 const char *want, const char *desc)
{
	char	   *got = record_field(prefix, slot, field);
	bool		ok = unit_check_str(got, want, desc);

	free(got);
	return ok;
}

/* "f=v f=v\n" per entry of key, fields only (IDs are Redis's) */
extern char *dump_stream(redisContext *c, const char *key);

extern void on_ack(void *arg, LedgerTicket t, uint32_t n);
extern void reset_acks(void);
extern bool acked_all(LedgerTicket t0, int n, uint32_t jobs);

extern void init_cfg(SinkConfig *cfg, const char *prefix);
extern void init_source(SinkSource *src, const char *sysid, const char *slot);

/* connect and begin a session of src from lsn from */
extern int	start_session(Sink *s, const SinkSource *src, uint64_t from,
						  unsigned flags);
/* begin, the jobs, commit: commit LSN lsn, end LSN lsn + 40 */
extern int	send_txn(Sink *s, uint64_t lsn, LedgerTicket t, const TestJob *jobs, int n);
/* the same with its xid and commit time (send_txn: 700, 1700000000000000) */
extern int	send_txn_id(Sink *s, uint64_t lsn, LedgerTicket t, uint32_t xid,
						int64_t commit_time_us, const TestJob *jobs, int n);
/* ntxns transactions of jobs_per_txn row jobs: lsn0 + i * 100, tickets t0 + i */
extern int	send_many(Sink *s, const char *target, uint64_t lsn0, LedgerTicket t0,
					  int ntxns, int jobs_per_txn);
extern int	drain(Sink *s);

#endif							/* W2Q_REDIS_HARNESS_H */
