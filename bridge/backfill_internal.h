/*-------------------------------------------------------------------------
 *
 * backfill_internal.h
 *		The backfill phase's state, shared by backfill.c (the decision and
 *		the reading), backfill_reader.c (the reading connection) and
 *		backfill_resume.c (the checks of a resume).
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_BACKFILL_INTERNAL_H
#define W2Q_BACKFILL_INTERNAL_H

#include "backfill.h"
#include "backfill_sql.h"
#include "bridge.h"

#define BF_RETRY		1
#define BF_FATAL		2

/* a lock session of this process: pid, server start, backend start */
typedef struct BfLockSession
{
	int			pid;
	char		epoch[40];		/* POSTMASTER_EPOCH_SQL */
	char		start[40];		/* BACKEND_START_SQL */
} BfLockSession;

typedef struct Backfill
{
	const BridgeConfig *cfg;
	Sink	   *sink;
	MetricsSnapshot *m;
	Stream		stream;			/* the replication connection */
	PGconn	   *conn;			/* the snapshot reads */
	PGconn	   *lock_conn;		/* holds the backfill's advisory lock */
	BfLockSession lock_prev[2]; /* kept across attempts: the backends of
								 * earlier lock_conns, which may linger
								 * holding the lock after a lost connection
								 * (attack 622): the last one that took it,
								 * and one whose lock command had no answer
								 * (attack 653); pid 0: none to end */
	int64_t		lock_busy_since_us; /* another bridge held it since */
	int64_t		create_busy_since_us;	/* another session held the slot's
										 * --create-slot lock since */
	bool		lock_wait;		/* the last attempt waited for it */
	SinkSource	src;
	BackfillState cur;			/* what the sink holds */
	unsigned	flags;			/* for the first page (SINK_BACKFILL_*) */
	char	   *visible_in;		/* resume: the saved snapshot (a copy) */
	bool		created_here;	/* this process created the slot */
	bool		tables_loaded;	/* tables: read in this attempt's snapshot */
	bool		unpinned;		/* a resume of an older state's position:
								 * the session's settings, as it was printed
								 * with (BF_PINNED_SETTINGS not set) */
	size_t		max_job_bytes;	/* the plugin's: larger rows are claim
								 * checks; 0 none (pgoutput) */
	bool		single_rows;	/* a page the server could not build: read
								 * one row at a time until its row passed */
	bool		oversize;		/* the page read holds that row alone, its
								 * key and route only: a claim check */
	BfTables	tables;
	TablePatterns patterns;
	char		err[1024];
} Backfill;

/* an error for bf->err; returns code */
extern int	bf_fail(Backfill *bf, int code, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
extern bool bf_dup_into(char **dst, const char *src);

/*
 * A command line for a hint: the bridge's own (cfg->stream.command_line,
 * without the --recreate-lost-slot and --backfill the recovery hint adds),
 * with condition not NULL --backfill=<condition>, then extra, quoted for a
 * POSIX shell.  malloc'd, NULL when out of memory.
 */
extern char *bf_hint_command(const BridgeConfig *cfg, const char *condition, const char *extra);

/*
 * backfill_reader.c: open bf->conn in a repeatable-read transaction (in
 * snapshot_name, the slot's exported snapshot, or NULL: a current one);
 * save its pg_current_snapshot() into st->snapshot; read the selected
 * tables (and the plugin's max-job-bytes) in it.  0, or BF_RETRY/BF_FATAL
 * with bf->err set.
 */
/*
 * backfill_lock.c: take the slot's backfill lock (an advisory lock on
 * bf->lock_conn); 0, or BF_RETRY (another bridge holds it: bf->lock_wait;
 * or a connection failure) / BF_FATAL (held past the grace without
 * --standby).  Released with its connection.
 */
extern int	bf_lock_take(Backfill *bf);

/*
 * Does this session still hold the backfill lock?  0, or BF_RETRY with
 * bf->err set (the lock is released): before every sink write
 * and slot drop or creation.
 */
extern int	bf_lock_check(Backfill *bf);
extern void bf_lock_release(Backfill *bf);

/*
 * backfill_marker.c: the creation marker's loose ends.  bf_marker_removal:
 * the exact command that removes it from the sink.  bf_create_failed: the
 * slot's creation failed after the marker (rc: the stream's code): remove
 * the marker where the sink can (marker_only: it replaced nothing but an
 * earlier marker) and say what is left; BF_RETRY or BF_FATAL.
 * bf_marker_slot_check: a marker beside a slot of another plugin is
 * refused (BF_FATAL), never dropped.  bf_marker_refusal: without
 * --backfill, a marker and no slot.
 */
extern void bf_marker_removal(const Backfill *bf, char *buf, size_t len);
extern int	bf_create_failed(Backfill *bf, int rc, bool marker_only);
extern int	bf_marker_slot_check(Backfill *bf);
extern int	bf_marker_refusal(Backfill *bf);

extern int	bf_open_reader(Backfill *bf, const char *snapshot_name);
extern int	bf_save_snapshot(Backfill *bf, BackfillState *st);
extern int	bf_load_tables(Backfill *bf);

/*
 * A resume (or a new backfill: none, nothing done): the index of the table
 * the state was reading, found by its oid (-1 none: not begun, finished or
 * dropped), the key to go on after in it (NULL: its start; nafter texts);
 * the tables finished are bf->cur.tables_done (an older state's, by name
 * order, converted).  0, or BF_RETRY/BF_FATAL with bf->err set.
 */
extern int	bf_resume_position(Backfill *bf, int *cur, char ***after, int *nafter);

/* is oid in list ("oid oid ...")?  add oid to st->tables_done (false: no memory) */
extern bool bf_oid_listed(const char *list, uint32_t oid);
extern bool bf_done_add(BackfillState *st, uint32_t oid);

/*
 * Before reading t: lock it and check its storage (backfill_rewrite.c).
 * *visible is the snapshot filter to read it with: a table rewritten (or
 * replaced) since the saved snapshot is refused, or with
 * --backfill-after-rewrite read without the filter.
 */
extern const char *bf_keydef_recorded(const Backfill *bf, const BfTable *t);

/*
 * backfill_oversize.c: a page of t (up to *limit rows; the limit used is
 * set back) read in a savepoint.  A row whose text the server cannot build
 * (over 1GB) is found one row at a time and read with its key and route
 * columns only, bf->oversize set: the caller delivers it as a claim check.
 * NULL with err set on a failure.
 */
extern PGresult *bf_page_guarded(Backfill *bf, const BfTable *t, char **after,
								 const char *visible_in, int *limit, char *err, size_t errlen);
extern int	bf_check_table(Backfill *bf, const BfTable *t, const char **visible);

#endif							/* W2Q_BACKFILL_INTERNAL_H */
