/*-------------------------------------------------------------------------
 *
 * wal2queue.c
 *		Logical decoding output plugin: committed INSERTs on job tables and
 *		transactional "wal2queue" logical messages, as jobs.
 *
 * This file holds the callbacks.  options.c parses the options, relinfo.c
 * chooses and describes tables, job.c turns rows and messages into jobs
 * (or claim checks), emit_json.c and emit_binary.c write the two forms.
 * Like pgoutput, nothing is written for a transaction until its first job,
 * so empty and fully filtered transactions produce nothing, and the
 * walsender is told about progress through them instead.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "replication/logical.h"
#include "replication/origin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "emit.h"
#include "job.h"
#include "message_access.h"
#include "options.h"
#include "partmove.h"
#include "relinfo.h"
#include "utf8.h"

PG_MODULE_MAGIC;

/* per-decoding-session state */
typedef struct W2QData
{
	W2QOptions	opt;
	MemoryContext change_cxt;	/* reset after every change */
	bool		txn_started;	/* output begun for the current transaction */
	uint32		seq;			/* next job number in the transaction */
	W2QBinary	bin;			/* binary form: the message being filled */
	W2QMoves	moves;			/* cross-partition UPDATEs (partmove.c) */
	bool		warned_messages;	/* said why messages are ignored */
} W2QData;

/* report progress after this many changes without output (as pgoutput) */
#define CHANGES_THRESHOLD 100

/*
 * wal2queue.debug_discard_caches: flush every system cache (and so, through
 * the invalidation callbacks, our relation cache) before each change,
 * message, begin and commit we decode.  It is what debug_discard_caches
 * does at every invalidation point, for servers built without assertions,
 * where that setting can only be 0; the plugin's regression suites run
 * with it (make check-discard-caches) to find invalidation bugs.
 */
static bool w2q_discard_caches = false;

#define MAYBE_DISCARD_CACHES() \
	do { \
		if (w2q_discard_caches) \
			InvalidateSystemCaches(); \
	} while (0)

extern void _PG_init(void);
extern void _PG_output_plugin_init(OutputPluginCallbacks *cb);

static void w2q_startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt,
						bool is_init);
static void w2q_shutdown(LogicalDecodingContext *ctx);
static void w2q_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn);
static void w2q_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
					   XLogRecPtr commit_lsn);
static void w2q_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
					   Relation relation, ReorderBufferChange *change);
static void w2q_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
						XLogRecPtr message_lsn, bool transactional,
						const char *prefix, Size message_size,
						const char *message);

void
_PG_init(void)
{
	DefineCustomBoolVariable("wal2queue.debug_discard_caches",
							 "Flushes every cache before each decoded change (testing only).",
							 NULL,
							 &w2q_discard_caches,
							 false,
							 PGC_SUSET,
							 GUC_NOT_IN_SAMPLE,
							 NULL, NULL, NULL);
	MarkGUCPrefixReserved("wal2queue");
}

void
_PG_output_plugin_init(OutputPluginCallbacks *cb)
{
	AssertVariableIsOfType(&_PG_output_plugin_init, LogicalOutputPluginInit);

	cb->startup_cb = w2q_startup;
	cb->begin_cb = w2q_begin;
	cb->change_cb = w2q_change;
	cb->commit_cb = w2q_commit;
	cb->message_cb = w2q_message;
	cb->shutdown_cb = w2q_shutdown;
}

static void
w2q_startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt,
			bool is_init)
{
	W2QData    *data;
	MemoryContext old;

	data = MemoryContextAllocZero(ctx->context, sizeof(W2QData));
	data->change_cxt = AllocSetContextCreate(ctx->context,
											 "wal2queue change context",
											 ALLOCSET_DEFAULT_SIZES);

	old = MemoryContextSwitchTo(ctx->context);
	w2q_binary_init(&data->bin);
	w2q_moves_init(&data->moves, ctx->context);
	w2q_parse_options(ctx->output_plugin_options, &data->opt);
	MemoryContextSwitchTo(old);
	w2q_utf8_init(data->opt.json);
	w2q_messages_reset();

	ctx->output_plugin_private = data;
	opt->output_type = data->opt.json ? OUTPUT_PLUGIN_TEXTUAL_OUTPUT
		: OUTPUT_PLUGIN_BINARY_OUTPUT;
	opt->receive_rewrites = false;

	/* slot creation only validates the options; decoding needs the cache */
	if (!is_init)
		w2q_relinfo_init();
}

static void
w2q_shutdown(LogicalDecodingContext *ctx)
{
	W2QData    *data = ctx->output_plugin_private;

	if (data)
		w2q_moves_shutdown(&data->moves);
	w2q_relinfo_shutdown();
}

/*
 * Tell the walsender how far we are through changes that wrote nothing, so
 * it can send keepalives and let confirmations move past long filtered
 * transactions (pgoutput's update_replication_progress).
 */
static void
update_progress(LogicalDecodingContext *ctx, bool skipped_xact)
{
	static int	changes_count = 0;

	if (ctx->end_xact || ++changes_count >= CHANGES_THRESHOLD)
	{
		OutputPluginUpdateProgress(ctx, skipped_xact);
		changes_count = 0;
	}
}

static void
w2q_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	W2QData    *data = ctx->output_plugin_private;

	MAYBE_DISCARD_CACHES();
	data->txn_started = false;
	data->seq = 0;
	w2q_moves_reset(&data->moves);
}

static void
w2q_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
		   XLogRecPtr commit_lsn)
{
	W2QData    *data = ctx->output_plugin_private;

	MAYBE_DISCARD_CACHES();
	update_progress(ctx, !data->txn_started);
	if (data->txn_started && !data->opt.json)
		w2q_binary_commit(ctx, &data->bin, txn, data->seq);
	data->txn_started = false;
	w2q_moves_reset(&data->moves);
}

/* hand one job to the encoder, starting the transaction's output if needed */
static void
emit_job(LogicalDecodingContext *ctx, W2QData *data, ReorderBufferTXN *txn,
		 W2QJob *job)
{
	job->seq = data->seq++;
	if (job->oversize)
		w2q_claim_check(job, txn->final_lsn);
	if (data->opt.json)
	{
		data->txn_started = true;
		w2q_json_job(ctx, txn, job);
		return;
	}
	if (!data->txn_started)
	{
		w2q_binary_begin(ctx, &data->bin, txn);
		data->txn_started = true;
	}
	w2q_binary_job(ctx, &data->bin, txn, job);
}

static void
w2q_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
		   Relation relation, ReorderBufferChange *change)
{
	W2QData    *data = ctx->output_plugin_private;
	W2QRelInfo *info;
	MemoryContext old;
	W2QJob		job = {0};

	MAYBE_DISCARD_CACHES();
	if (change->action != REORDER_BUFFER_CHANGE_INSERT ||
		change->data.tp.newtuple == NULL)
	{
		/*
		 * A DELETE on a partition may be the first half of a cross-partition
		 * UPDATE; any other change ends a pending one (partmove.c).
		 */
		w2q_moves_reset(&data->moves);
		if (change->action == REORDER_BUFFER_CHANGE_DELETE &&
			relation->rd_rel->relispartition)
		{
			info = w2q_relinfo_get(relation, &data->opt);
			if (info->include)
				w2q_moves_delete(&data->moves, info, relation,
								 change->data.tp.oldtuple ?
								 &change->data.tp.oldtuple->tuple : NULL,
								 change->lsn, change->txn);
		}
		update_progress(ctx, false);
		return;
	}
	info = w2q_relinfo_get(relation, &data->opt);
	if (!info->include)
	{
		w2q_moves_reset(&data->moves);
		update_progress(ctx, false);
		return;
	}

	old = MemoryContextSwitchTo(data->change_cxt);
	if (w2q_moves_is_move(&data->moves, info, relation,
						  &change->data.tp.newtuple->tuple, change->txn))
		update_progress(ctx, false);
	else
	{
		w2q_row_job(&job, info, relation, &change->data.tp.newtuple->tuple,
					&data->opt);
		emit_job(ctx, data, txn, &job);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(data->change_cxt);
}

static void
w2q_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
			XLogRecPtr message_lsn, bool transactional,
			const char *prefix, Size message_size, const char *message)
{
	W2QData    *data = ctx->output_plugin_private;
	MemoryContext old;
	W2QJob		job = {0};

	MAYBE_DISCARD_CACHES();
	/* a change of the transaction: no pending DELETE's moved row after it */
	if (transactional)
		w2q_moves_reset(&data->moves);
	/* not tied to a commit: cannot be delivered exactly once (FORMAT.md) */
	if (!transactional || !data->opt.messages ||
		strncmp(prefix, W2Q_MESSAGE_PREFIX, strlen(W2Q_MESSAGE_PREFIX)) != 0)
		return;
	/* without the option, only where not any role could have forged it */
	if (!data->opt.messages_given && w2q_messages_public())
	{
		if (!data->warned_messages)
			ereport(WARNING,
					(errmsg("wal2queue is ignoring logical messages: pg_logical_emit_message() is executable by PUBLIC in database \"%s\"",
							get_database_name(MyDatabaseId)),
					 errdetail("Any role that can log in could emit a message that would become a job."),
					 errhint("Revoke EXECUTE on pg_logical_emit_message() from PUBLIC (CREATE EXTENSION wal2queue does), or give the option messages 'true'.")));
		data->warned_messages = true;
		return;
	}

	old = MemoryContextSwitchTo(data->change_cxt);
	if (w2q_message_job(&job, prefix, message, message_size, &data->opt))
		emit_job(ctx, data, txn, &job);
	MemoryContextSwitchTo(old);
	MemoryContextReset(data->change_cxt);
}
