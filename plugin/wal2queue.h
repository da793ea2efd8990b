/*-------------------------------------------------------------------------
 *
 * wal2queue.h
 *		Shared declarations of the wal2queue output plugin.
 *
 * The plugin turns committed INSERTs on the selected tables, and
 * transactional logical messages with prefix "wal2queue", into jobs.  A job
 * is handed to one of two encoders: emit_json.c (one JSON object per output
 * message) or emit_binary.c (compact frames, many jobs per message; see
 * FORMAT.md).  relinfo.c knows, per table, whether it is selected and how
 * to turn its rows into jobs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WAL2QUEUE_H
#define WAL2QUEUE_H

#include "access/tupconvert.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "replication/logical.h"
#include "replication/reorderbuffer.h"
#include "utils/relcache.h"

#define W2Q_PROTO_VERSION		1
#define W2Q_MESSAGE_PREFIX		"wal2queue"
#define W2Q_BINARY_FLUSH_BYTES	(64 * 1024)

/* column kinds, as in FORMAT.md */
#define W2Q_KIND_NUMBER 'n'
#define W2Q_KIND_BOOL	'b'
#define W2Q_KIND_JSON	'j'
#define W2Q_KIND_TEXT	't'

/* options given to START_REPLICATION or pg_logical_slot_*_changes */
typedef struct W2QOptions
{
	bool		json;			/* format: json (else binary) */
	List	   *tables;			/* patterns (char *); NIL means every table */
	char	   *route_column;	/* NULL: none */
	char	   *key_column;		/* NULL: the primary key */
	bool		messages;		/* decode wal2queue logical messages */
	int			proto_version;
} W2QOptions;

/* one output column of a selected table */
typedef struct W2QColumn
{
	AttrNumber	attnum;			/* in the reported (root) descriptor */
	char	   *name;
	char	   *json_key;		/* "name": escaped once, for the JSON form */
	char		kind;			/* W2Q_KIND_* */
	FmgrInfo	out;			/* the type's output function */
} W2QColumn;

/* what we know about one table, keyed by the OID of the changed relation */
typedef struct W2QRelInfo
{
	Oid			relid;			/* hash key */
	bool		valid;
	uint64		generation;		/* unique per build: a rebuilt entry differs */
	bool		include;		/* selected by the tables option */
	Oid			root_relid;		/* reported relation (partitioned root) */
	int			nancestors;		/* partition: ancestors up to root_relid */
	Oid		   *ancestors;
	char	   *name;			/* "schema.table" of the reported relation */
	char	   *json_name;		/* the same as a JSON string */
	int			ncols;
	W2QColumn  *cols;
	TupleConversionMap *map;	/* partition row -> root row, or NULL */
	int			nkeys;			/* key columns (indexes into cols) */
	int		   *keys;
	int			route;			/* index into cols, or -1 */
	MemoryContext cxt;			/* everything above lives here */
} W2QRelInfo;

/* one decoded job, as both encoders see it */
typedef struct W2QJob
{
	uint32		seq;
	const char *target;
	const char *key;			/* NULL: none */
	W2QRelInfo *rel;			/* NULL for a logical message */
	char	  **texts;			/* rows: text of each column, NULL for NULL */
	const char *payload;		/* messages */
	Size		payload_len;
} W2QJob;

/* per-decoding-session state */
typedef struct W2QData
{
	W2QOptions	opt;
	MemoryContext change_cxt;	/* reset after every change */
	bool		txn_started;	/* BEGIN emitted for the current transaction */
	uint32		seq;			/* next job number in the transaction */

	/* binary form: the message being filled */
	StringInfoData buf;
	uint64	   *msg_rels;		/* generations of the relations described in
								 * this message */
	int			msg_nrels;
	int			msg_rels_cap;
} W2QData;

/* wal2queue.c */
extern void w2q_parse_options(List *options, W2QOptions *opt);

/* relinfo.c */
extern void w2q_relinfo_init(void);
extern void w2q_relinfo_shutdown(void);
extern W2QRelInfo *w2q_relinfo_get(Relation relation, const W2QOptions *opt);
extern bool w2q_table_matches(List *patterns, const char *qualified_name);

/* emit_json.c */
extern void w2q_json_job(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
						 const W2QJob *job);

/* emit_binary.c */
extern void w2q_binary_begin(LogicalDecodingContext *ctx, W2QData *data,
							 ReorderBufferTXN *txn);
extern void w2q_binary_job(LogicalDecodingContext *ctx, W2QData *data,
						   ReorderBufferTXN *txn, const W2QJob *job);
extern void w2q_binary_commit(LogicalDecodingContext *ctx, W2QData *data,
							  ReorderBufferTXN *txn);

#endif							/* WAL2QUEUE_H */
