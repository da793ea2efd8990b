/*-------------------------------------------------------------------------
 *
 * stream.h
 *		The replication connection: checking and creating the slot,
 *		START_REPLICATION, reading 'w' and 'k' messages, sending 'r' status
 *		updates.  It never looks inside the data it carries.
 *
 *		stream.c holds the connection and its messages, slot.c the slot's
 *		lifecycle (check, create, drop, the extension's registry).
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_STREAM_H
#define W2Q_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "message_sign.h"
#include "pgerror.h"

/*
 * the server's start as text (s->conn_epoch): a pid names one backend only
 * together with it (attack 549)
 */
#define POSTMASTER_EPOCH_SQL \
	"EXTRACT(epoch FROM pg_catalog.pg_postmaster_start_time())::pg_catalog.text"
/*
 * a backend's start as text, of pg_stat_activity a: with the server's start
 * and the pid, one backend's identity (attack 571; the backfill lock's
 * session too, backfill_lock.c)
 */
#define BACKEND_START_SQL "EXTRACT(epoch FROM a.backend_start)::pg_catalog.text"

#define STREAM_OK		0
#define STREAM_RETRY	1		/* connection problem: reconnect later */
#define STREAM_FATAL	2		/* stop: configuration or slot is wrong */

/*
 * libpq reads each CopyData whole into its connection's input buffer, which
 * grows by doubling and never shrinks: after a message larger than this
 * (a huge row or logical message, e.g. a foreign one any LOGIN role may
 * emit into a pgoutput stream: test/t/455) the bridge ends the session once
 * it has confirmed past the message, so that the buffer is freed and the
 * message does not come again.
 */
#define STREAM_RELEASE_BYTES (16 * 1024 * 1024)

typedef struct StreamConfig
{
	const char *conninfo;		/* libpq conninfo or URI */
	const char *slot;
	bool		create_slot;
	const char *const *plugin_options;	/* name, value, ..., NULL */
	const char *plugin;			/* output plugin: NULL for wal2queue */
	const struct PgoConfig *pgoutput;	/* plugin pgoutput: its publication */
	const char *command_line;	/* the bridge's, for recovery hints, or NULL */
} StreamConfig;

typedef enum StreamEventKind
{
	STREAM_NONE,				/* nothing arrived in time */
	STREAM_DATA,				/* an XLogData message */
	STREAM_KEEPALIVE			/* a primary keepalive message */
} StreamEventKind;

typedef struct StreamEvent
{
	StreamEventKind kind;
	uint64_t	wal_start;		/* DATA */
	uint64_t	wal_end;		/* DATA and KEEPALIVE */
	bool		reply_requested;	/* KEEPALIVE */
	const char *data;			/* DATA: valid until the next stream_read */
	size_t		len;
} StreamEvent;

typedef struct Stream
{
	/* START_REPLICATION's options when not cfg's (a replay under other --tables) */
	const char *const *options_now;
	const StreamConfig *cfg;
	PGconn	   *conn;
	char	   *copybuf;		/* last message from PQgetCopyData */
	/* the session, as of the last stream_open: all reset at every open */
	char		sysid[24];		/* IDENTIFY_SYSTEM: system identifier */
	uint32_t	timeline;		/* IDENTIFY_SYSTEM: current timeline */
	char		dbname[64];		/* IDENTIFY_SYSTEM: database */
	uint64_t	server_lsn;		/* IDENTIFY_SYSTEM: the server's WAL position */
	uint64_t	start_lsn;		/* the slot's confirmed_flush_lsn */
	uint64_t	received_lsn;	/* highest walEnd seen */
	uint64_t	release_after;	/* an XLogData over STREAM_RELEASE_BYTES had
								 * this walEnd: libpq keeps a buffer of its
								 * size until the connection closes */
	size_t		release_bytes;	/* the largest such message */
	bool		slot_created;	/* this open created the slot, or reclaimed it */
	bool		slot_reclaimed; /* --create-slot found the slot an interrupted
								 * run created: registered at the position it
								 * still has (slot_check_reclaim) */
	bool		delivered_before;	/* positive evidence that the slot
									 * delivered to a client before this open
									 * (slot_check_delivered): past where the
									 * registry registered it, or decoded
									 * transactions (pg_stat_replication_slots) */
	char		wal_status[16];	/* the slot's wal_status at open */
	long long	safe_wal_size;	/* its safe_wal_size at open, -1 if none */
	bool		slot_busy;		/* the last open failed: slot held by another */
	bool		gave_up;		/* a command of this connection was given
								 * up (pgerror_exec()): only closing is left */
	char		conn_epoch[40]; /* this connection's server's start
								 * (POSTMASTER_EPOCH_SQL), learned by
								 * stream_identify_backend(); "" unknown */
	int			conn_pid;		/* ... its backend's pid, and that backend's */
	char		conn_start[40]; /* start (BACKEND_START_SQL); "" unknown */
	bool		conn_locked;	/* this connection took the --create-slot lock */
	int			own_pid;		/* kept across opens: the backend of this
								 * process's last stream (a walsender that may
								 * linger after a silent network loss) */
	char		own_epoch[40];	/* own_pid's conn_epoch and conn_start: a pid */
	char		own_start[40];	/* of another server start or another backend
								 * start, or of an unknown one, is never ended */
	int			gone_pid;		/* kept across opens: the backend of the first
								 * open whose command was given up, not known
								 * to be gone (one waiting on a lock keeps it,
								 * and a walsender slot): ended at the next
								 * open (attack 571) */
	char		gone_epoch[40]; /* gone_pid's conn_epoch and conn_start */
	char		gone_start[40];
	uint64_t	created_at;		/* kept across opens until one streams: the
								 * consistent point of the slot this process
								 * created, 0 if none (its registration may be
								 * lost with a crash: test/t/615) */
	bool		create_unanswered;	/* kept across opens: this bridge's
									 * CREATE_REPLICATION_SLOT, run under its
									 * --create-slot lock, was finished by the
									 * server and its answer never came
									 * (attack 614): the slot is this run's */
	int64_t		own_ended_us;	/* when it was first ended, or 0 */
	bool		own_busy;		/* the last open failed because that
								 * walsender, ended, still holds the slot */
	bool		never_create;	/* set by the caller, kept across opens: a
								 * missing slot is fatal even with
								 * --create-slot (a reconnect, or a slot
								 * the backfill created) */
	int			messages_public;	/* pgoutput: PUBLIC may emit messages at
									 * open (message_access.h) */
	MessageKeys msg_keys;		/* pgoutput: send()'s keys, read at open */
	/*
	 * set by the caller: run on the connection just before START_REPLICATION,
	 * its commands through x (the open's: bounded, and a command given up
	 * fails the open)
	 */
	void		(*before_start) (void *arg, const PgExec *x);
	void	   *before_start_arg;
	char		err[1024];
} Stream;

extern void stream_init(Stream *s, const StreamConfig *cfg);

/* connect, check (or create) the slot, START_REPLICATION */
extern int	stream_open(Stream *s);
extern void stream_end_own_walsender(Stream *s);

/*
 * The position at which timeline old_tli ended, from the current timeline's
 * history file (TIMELINE_HISTORY); 0 when it cannot be told.  Only while
 * the stream is open.
 */
extern uint64_t stream_timeline_switch(Stream *s, uint32_t old_tli);

/* wait up to timeout_ms for one message */
extern int	stream_read(Stream *s, int timeout_ms, StreamEvent *ev);

/*
 * Whether a message over STREAM_RELEASE_BYTES was read and confirmed is at
 * or past it: the caller may close the stream to free libpq's buffer.
 */
extern bool stream_release_due(const Stream *s, uint64_t confirmed);

/* send a standby status update confirming flushed */
extern int	stream_send_status(Stream *s, uint64_t flushed, bool reply_requested);

extern int	stream_socket(const Stream *s);

/* close at once (what was not confirmed will come again) */
extern void stream_close(Stream *s);

/* end the copy so the server has read every status update, then close */
extern void stream_finish(Stream *s, int timeout_ms);

/*
 * --backfill: create the slot with an exported snapshot (its name into
 * snapshot, the consistent point into start_lsn), the connection left open
 * and idle; and a look at the server and the slot on a short connection.
 */
extern int	stream_create_exported(Stream *s, char *snapshot, size_t snaplen);
extern int	stream_probe(Stream *s, bool *exists);

/* after the snapshot was imported: register the slot with the extension */
extern void stream_register_slot(Stream *s);
extern void stream_record_max_job_bytes(Stream *s);

/* --drop-slot */
extern int	stream_drop_slot(Stream *s);

/*
 * The sink refused the slot this process created before anything of it was
 * delivered (Sink.new_slot_refused): end the copy and drop the slot, so that
 * the refused command line leaves no slot behind.  The connection stays
 * open; stream_close() after.
 */
extern void stream_drop_refused_slot(Stream *s, int timeout_ms);

/*
 * The slot this open created (stream_create_exported) delivered nothing and
 * will not: drop it and unregister it, saying why.  No effect on a slot this
 * open did not create.
 */
extern void stream_drop_created_slot(Stream *s, const char *why);

#endif							/* W2Q_STREAM_H */
