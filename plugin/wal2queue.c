/*-------------------------------------------------------------------------
 *
 * wal2queue.c
 *		Logical decoding output plugin: committed INSERTs on job tables and
 *		transactional "wal2queue" logical messages, as jobs.
 *
 * This file holds the callbacks and the options; relinfo.c chooses and
 * describes tables, emit_json.c and emit_binary.c write the two forms.
 * Like pgoutput, nothing is written for a transaction until its first job,
 * so empty and fully filtered transactions produce nothing, and the
 * walsender is told about progress through them instead.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "replication/logical.h"
#include "replication/origin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "wal2queue.h"

PG_MODULE_MAGIC;

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
	initStringInfo(&data->buf);
	data->msg_rels_cap = 8;
	data->msg_rels = palloc(data->msg_rels_cap * sizeof(uint64));
	w2q_parse_options(ctx->output_plugin_options, &data->opt);
	MemoryContextSwitchTo(old);

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
	w2q_relinfo_shutdown();
}

/* one option's string value, or an error naming the option */
static char *
option_string(DefElem *elem)
{
	if (elem->arg == NULL || strVal(elem->arg)[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" of wal2queue needs a value",
						elem->defname)));
	return strVal(elem->arg);
}

static bool
option_bool(DefElem *elem)
{
	bool		result;

	if (elem->arg == NULL)
		return true;
	if (!parse_bool(strVal(elem->arg), &result))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("could not parse value \"%s\" for wal2queue option \"%s\"",
						strVal(elem->arg), elem->defname),
				 errhint("Use a boolean: true or false.")));
	return result;
}

/* trim blanks around tok in place */
static char *
trim_blanks(char *tok)
{
	char	   *end;

	while (*tok == ' ' || *tok == '\t')
		tok++;
	end = tok + strlen(tok);
	while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return tok;
}

/* split "a.*, b.c" into patterns, each schema-qualified or "*" */
static List *
parse_tables(DefElem *elem)
{
	char	   *raw = pstrdup(option_string(elem));
	List	   *result = NIL;
	char	   *tok = raw;

	for (;;)
	{
		char	   *comma = strchr(tok, ',');

		if (comma)
			*comma = '\0';
		tok = trim_blanks(tok);
		if (*tok == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"tables\" of wal2queue has an empty pattern in \"%s\"",
							strVal(elem->arg))));
		if (strcmp(tok, "*") != 0 && strchr(tok, '.') == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"tables\" of wal2queue: pattern \"%s\" is not schema-qualified",
							tok),
					 errhint("Write schema.table, for example public.%s or *.%s.",
							 tok, tok)));
		result = lappend(result, pstrdup(tok));
		if (comma == NULL)
			break;
		tok = comma + 1;
	}
	return result;
}

static void
parse_format(DefElem *elem, W2QOptions *opt)
{
	char	   *v = option_string(elem);

	if (strcmp(v, "json") == 0)
		opt->json = true;
	else if (strcmp(v, "binary") == 0)
		opt->json = false;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value \"%s\" for wal2queue option \"format\"", v),
				 errhint("Use \"binary\" or \"json\".")));
}

static void
parse_proto_version(DefElem *elem, W2QOptions *opt)
{
	char	   *v = option_string(elem);
	char	   *end;
	long		n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || end == v)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value \"%s\" for wal2queue option \"proto-version\"", v),
				 errhint("Use a protocol version number; this server supports %d.",
						 W2Q_PROTO_VERSION)));
	if (n != W2Q_PROTO_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("wal2queue option \"proto-version\" %ld is not supported", n),
				 errdetail("This wal2queue speaks protocol version %d.",
						   W2Q_PROTO_VERSION)));
	opt->proto_version = (int) n;
}

/*
 * Parse the options, test_decoding style: every option at most once,
 * unknown options and bad values are errors naming the option.
 */
void
w2q_parse_options(List *options, W2QOptions *opt)
{
	static const char *const known[] = {
		"format", "tables", "route-column", "key-column", "messages",
		"proto-version"
	};
	bool		seen[lengthof(known)] = {0};
	ListCell   *lc;

	memset(opt, 0, sizeof(*opt));
	opt->messages = true;
	opt->proto_version = W2Q_PROTO_VERSION;

	foreach(lc, options)
	{
		DefElem    *elem = lfirst(lc);
		size_t		i;

		Assert(elem->arg == NULL || IsA(elem->arg, String));
		for (i = 0; i < lengthof(known); i++)
			if (strcmp(elem->defname, known[i]) == 0)
				break;
		if (i == lengthof(known))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" is unknown to wal2queue", elem->defname),
					 errhint("Known options: format, tables, route-column, key-column, messages, proto-version.")));
		if (seen[i])
			ereport(ERROR,
					(errcode(ERRCODE_SYNTAX_ERROR),
					 errmsg("option \"%s\" of wal2queue given more than once",
							elem->defname)));
		seen[i] = true;

		if (i == 0)
			parse_format(elem, opt);
		else if (i == 1)
			opt->tables = parse_tables(elem);
		else if (i == 2)
			opt->route_column = pstrdup(option_string(elem));
		else if (i == 3)
			opt->key_column = pstrdup(option_string(elem));
		else if (i == 4)
			opt->messages = option_bool(elem);
		else
			parse_proto_version(elem, opt);
	}
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
}

static void
w2q_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
		   XLogRecPtr commit_lsn)
{
	W2QData    *data = ctx->output_plugin_private;

	MAYBE_DISCARD_CACHES();
	update_progress(ctx, !data->txn_started);
	if (data->txn_started && !data->opt.json)
		w2q_binary_commit(ctx, data, txn);
	data->txn_started = false;
}

/* hand one job to the encoder, starting the transaction's output if needed */
static void
emit_job(LogicalDecodingContext *ctx, W2QData *data, ReorderBufferTXN *txn,
		 W2QJob *job)
{
	job->seq = data->seq++;
	if (data->opt.json)
	{
		data->txn_started = true;
		w2q_json_job(ctx, txn, job);
		return;
	}
	if (!data->txn_started)
	{
		w2q_binary_begin(ctx, data, txn);
		data->txn_started = true;
	}
	w2q_binary_job(ctx, data, txn, job);
}

/* the text of each column, NULL for NULL, in the change context */
static char **
row_texts(W2QRelInfo *info, Relation relation, HeapTuple tuple)
{
	TupleDesc	desc = RelationGetDescr(relation);
	Datum	   *values;
	bool	   *nulls;
	char	  **texts;
	int			i;

	if (info->map)
	{
		tuple = execute_attr_map_tuple(tuple, info->map);
		desc = info->map->outdesc;
	}
	values = palloc(desc->natts * sizeof(Datum));
	nulls = palloc(desc->natts * sizeof(bool));
	heap_deform_tuple(tuple, desc, values, nulls);

	texts = palloc(info->ncols * sizeof(char *));
	for (i = 0; i < info->ncols; i++)
	{
		W2QColumn  *col = &info->cols[i];
		int			a = col->attnum - 1;

		texts[i] = nulls[a] ? NULL : OutputFunctionCall(&col->out, values[a]);
	}
	return texts;
}

/* the job key: key-column or primary key text, composite joined by "," */
static char *
row_key(W2QRelInfo *info, char **texts)
{
	StringInfoData s;
	int			i;

	if (info->nkeys == 0)
		return NULL;
	if (info->nkeys == 1)
		return texts[info->keys[0]];
	initStringInfo(&s);
	for (i = 0; i < info->nkeys; i++)
	{
		if (i > 0)
			appendStringInfoChar(&s, ',');
		if (texts[info->keys[i]])
			appendStringInfoString(&s, texts[info->keys[i]]);
	}
	return s.data;
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
		update_progress(ctx, false);
		return;
	}
	info = w2q_relinfo_get(relation, &data->opt);
	if (!info->include)
	{
		update_progress(ctx, false);
		return;
	}

	old = MemoryContextSwitchTo(data->change_cxt);
	job.rel = info;
	job.texts = row_texts(info, relation, &change->data.tp.newtuple->tuple);
	job.key = row_key(info, job.texts);
	job.target = info->name;
	if (info->route >= 0 && job.texts[info->route] != NULL)
		job.target = job.texts[info->route];
	emit_job(ctx, data, txn, &job);
	MemoryContextSwitchTo(old);
	MemoryContextReset(data->change_cxt);
}

/*
 * Split a message prefix into target and key (FORMAT.md): "wal2queue",
 * "wal2queue:TARGET", "wal2queue:TARGET#KEY", "wal2queue#KEY".  Returns
 * false for any other prefix.
 */
static bool
parse_message_prefix(const char *prefix, char **target, char **key)
{
	const char *rest;
	const char *hash;
	size_t		plen = strlen(W2Q_MESSAGE_PREFIX);

	if (strncmp(prefix, W2Q_MESSAGE_PREFIX, plen) != 0)
		return false;
	rest = prefix + plen;
	if (*rest != '\0' && *rest != ':' && *rest != '#')
		return false;
	if (*rest == ':')
		rest++;
	hash = strchr(rest, '#');
	*key = hash ? pstrdup(hash + 1) : NULL;
	*target = hash ? pnstrdup(rest, hash - rest) : pstrdup(rest);
	if ((*target)[0] == '\0')
		*target = pstrdup(W2Q_MESSAGE_PREFIX);
	return true;
}

static void
w2q_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
			XLogRecPtr message_lsn, bool transactional,
			const char *prefix, Size message_size, const char *message)
{
	W2QData    *data = ctx->output_plugin_private;
	MemoryContext old;
	W2QJob		job = {0};
	char	   *target;
	char	   *key;

	MAYBE_DISCARD_CACHES();
	/* not tied to a commit: cannot be delivered exactly once (FORMAT.md) */
	if (!transactional || !data->opt.messages)
		return;

	old = MemoryContextSwitchTo(data->change_cxt);
	if (parse_message_prefix(prefix, &target, &key))
	{
		job.target = target;
		job.key = key;
		job.payload = message;
		job.payload_len = message_size;
		emit_job(ctx, data, txn, &job);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(data->change_cxt);
}
