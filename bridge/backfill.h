/*-------------------------------------------------------------------------
 *
 * backfill.h
 *		--backfill: deliver the rows a table already holds, exactly once,
 *		before streaming the slot (issue 13).
 *
 *	backfill.c			the phase: decide (new, resume, done, again), run it
 *						table by table, record done, hand over to the stream
 *	backfill_reader.c	the reading connection: in the exported (or a
 *						current) snapshot, the snapshot saved, the tables
 *	backfill_sql.c		the SQL side: selected tables, their keys, keyset
 *						pages read in a snapshot
 *	backfill_key.c		the position key (a JSON array of texts): format,
 *						parse; the state's text form
 *	backfill_page.c		a page's rows as jobs, cut into sink calls of at
 *						most --backfill-page-bytes
 *	backfill_rewrite.c	a table rewritten under a backfill: the storage
 *						recorded, the check before a table is read
 *	backfill_resume.c	what a resume checks before it reads on: the
 *						table it was reading, the recorded partitions,
 *						the key's definition, each table's storage
 *	backfill_mark.c		telling the extension the backfill is done
 *	backfill_marker.c	the creation marker's loose ends: a slot creation
 *						that failed after it, a marker beside another
 *						plugin's slot, a marker and no slot without
 *						--backfill
 *	backfill_lock.c		one bridge backfills a slot at a time
 *	backfill_condition.c	the condition's lexical check (one expression)
 *	backfill_oversize.c	a row whose text the server cannot build: found
 *						row by row, delivered as a claim check
 *	backfill_testhook.c	W2Q_TEST_BACKFILL_PAUSE: a test's kill -9 moments
 *	redis_backfill.c	the Redis side: the wal2queue_backfill4 function
 *
 * A new slot is created with an exported snapshot (its consistent point);
 * a second connection reads the rows in that snapshot, in keyset pages by
 * primary key (or replica identity index).  Each page is delivered by one
 * or more sink calls, each writing its jobs and the backfill state (the
 * saved snapshot, the consistent point, the condition, the table and the
 * last key delivered, the tables' storage, the label, done) atomically.  A bridge killed mid-backfill reads the
 * state back and continues in a new snapshot with the rows past the last
 * key whose xmin the saved snapshot sees: rows committed after the
 * consistent point are the stream's.  See docs/operations.md, "Backfill".
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_BACKFILL_H
#define W2Q_BACKFILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>


#include "frame.h"
#include "metrics.h"

#define BACKFILL_DEFAULT_BATCH 10000
#define BACKFILL_DEFAULT_PAGE_BYTES (32 * 1024 * 1024)

/* what the command line asked for */
typedef struct BackfillConfig
{
	bool		enabled;		/* --backfill */
	const char *condition;		/* its SQL_CONDITION, or NULL: every row */
	int			batch;			/* --backfill-batch */
	bool		again;			/* --backfill-again */
	const char *again_label;	/* its =LABEL, or NULL */
	bool		resume_condition;	/* --backfill-continue: an unfinished
									 * backfill goes on with this condition */
	bool		after_rewrite;	/* --backfill-after-rewrite: read a rewritten
								 * table's rest without the snapshot filter */
	size_t		page_bytes;		/* --backfill-page-bytes: bytes per sink call */
	bool		recreate_lost;	/* --recreate-lost-slot */
	/* the selection and the jobs' shape, as the stream has them */
	const char *tables;			/* --tables, or NULL: every table */
	const char *publication;	/* pgoutput: its publication, else NULL */
	const char *route_column;
	const char *key_column;
} BackfillConfig;

/*
 * The backfill state a sink keeps, written atomically with every page of
 * jobs.  seq counts the pages recorded: a page states the seq it follows,
 * so a page written twice (or after a newer one) is refused.
 */
typedef struct BackfillState
{
	bool		present;		/* the sink holds a state */
	uint64_t	lsn;			/* consistent point (--backfill-again: the
								 * slot's position when it began); 0 in the
								 * marker recorded before a slot is created
								 * (BACKFILL_CREATING) */
	uint64_t	seq;
	uint64_t	rows;			/* rows delivered so far */
	bool		done;
	char	   *snapshot;		/* pg_current_snapshot() in the snapshot read */
	char	   *condition;		/* "" for every row */
	char	   *table;			/* the table being read, as %I.%I; "" none */
	char	   *key;			/* last key delivered of it, a JSON array of
								 * texts; "" before its first row */
	char	   *storage;		/* the selected relations' storage when the
								 * snapshot was taken: "oid:relfilenode"
								 * words, space separated (backfill_rewrite.c);
								 * "" unknown (a state of an older bridge) */
	char	   *label;			/* --backfill-again=LABEL of this backfill,
								 * "" none */
	char	   *keydef;			/* the key of table when its first page was
								 * recorded (BfTable.keydef: columns, types,
								 * collations); "" none or unknown */
	/*
	 * The tables by identity, so that a RENAME changes nothing: table's oid
	 * (0 none) and the oids of the tables finished ("oid oid ...", "" none;
	 * every selected table not listed and not table is still to be read
	 * from its start).  by_oid: the record holds them (an older bridge's
	 * names the table alone: its resume goes by the name order).
	 */
	bool		by_oid;
	uint32_t	table_oid;
	char	   *tables_done;
	/*
	 * backfill_batch only, not copied or freed with the state: each job's
	 * position key (as key above), or NULL (Kafka's backfill header)
	 */
	char	  **job_keys;
	/* backfill_read only: the record around the state */
	bool		record;			/* the sink holds a record of this source
								 * (streamed positions, a backfill or both) */
	uint64_t	record_lsn;		/* its delivered position, 0 if none */
	bool		other_source;	/* it held another source's record, read as
								 * none (SINK_BACKFILL_ACCEPT) */
	bool		page_unsure;	/* the page after the state may be partly in
								 * the sink (Kafka without transactions):
								 * rows 0 does not prove none delivered */
} BackfillState;

/* the marker state: a slot is being created for this backfill */
#define BACKFILL_CREATING(st) ((st)->present && !(st)->done && (st)->lsn == 0)

extern void backfill_state_free(BackfillState *st);
extern bool backfill_state_copy(BackfillState *dst, const BackfillState *src);

/* backfill_key.c: a position key, the JSON array of n key texts */
extern char *backfill_key_format(const char *const *vals, int n);

/*
 * Parse a position key into n texts (each malloc'd, NULL for JSON null);
 * returns the count, or -1 with a message in err.
 */
extern int	backfill_key_parse(const char *json, char ***vals, char *err,
							   size_t errlen);
extern void backfill_key_free(char **vals, int n);

/*
 * backfill_check.c: before anything is created, on a short connection of
 * its own, read nothing from each selected table, without and with the
 * --backfill condition.  BACKFILL_CHECK_OK (also when it could not connect:
 * the backfill will say why), BACKFILL_CHECK_USAGE (the condition or
 * --tables refused: err names the table and the server's error) or
 * BACKFILL_CHECK_FAILED (a table it cannot read, or select: err says why).
 */
#define BACKFILL_CHECK_OK		0
#define BACKFILL_CHECK_FAILED	1
#define BACKFILL_CHECK_USAGE	2
struct BridgeConfig;
extern int	backfill_check(const struct BridgeConfig *cfg, char *err, size_t errlen);

/*
 * backfill_condition.c: is the --backfill condition one expression (its
 * parentheses balanced, no comment, no semicolon, outside literals, quoted
 * identifiers and dollar quotes)?  0, or -1 with err naming what is wrong.
 */
extern int	backfill_condition_check(const char *cond, char *err, size_t errlen);

/*
 * backfill_lock.c, for --drop-slot: take the slot's backfill lock on a new
 * normal connection, returned (PQfinish() releases it); NULL with err
 * naming the holder (a bridge is backfilling the slot) or the failure
 */
struct pg_conn;
extern struct pg_conn *backfill_lock_hold(const struct BridgeConfig *cfg, char *err, size_t errlen);

/* the phase; returns 0 to go on streaming, 1 to stop with exit status 1 */
struct BridgeConfig;
struct Sink;
extern int	backfill_run(const struct BridgeConfig *cfg, struct Sink *sink,
						 MetricsSnapshot *m);

/*
 * backfill_mark.c: tell the extension (when it has mark_backfilled()) that
 * the slot's backfill at consistent point lsn is done; logs what it did
 */
struct BridgeConfig;
extern void backfill_mark_done(const struct BridgeConfig *cfg, uint64_t lsn);

/*
 * backfill_testhook.c: W2Q_TEST_BACKFILL_PAUSE=<point> names point; pause
 * there (once a process) until killed, for a test
 */
extern bool backfill_test_at(const char *point);
extern void backfill_test_pause(const char *point);

#endif							/* W2Q_BACKFILL_H */
