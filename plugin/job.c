/*-------------------------------------------------------------------------
 *
 * job.c
 *		Turn a decoded row or logical message into a job, or into a claim
 *		check when it is larger than max-job-bytes.
 *
 * The size of a job is judged before its output is built: first from the
 * stored sizes of the values (a lower bound of the text of text-like
 * types, so a huge value is refused without calling its output function),
 * then value by value as the texts are made, stopping at the first that
 * crosses the limit.  No output function is called on a value whose text
 * could be longer than the room left and than SAFE_OUTPUT_BYTES
 * (textbound.c), unless its text is not proven long enough for prune()
 * to keep a claim-checked row (too_large_to_convert()), and never, outside
 * a subtransaction (guarded_output()), on one that could pass
 * LAST_RESORT_OUTPUT_BYTES: a 180MB jsonb string of control characters
 * would be 1GB of escapes, an ERROR at every attempt.  The JSON form counts each
 * value as escaped (a control character costs six bytes).  An oversized
 * job becomes a claim check (FORMAT.md): a small row job of the synthetic
 * relation "wal2queue.claim_check" that names the table, key, LSN and seq,
 * so a worker reads the row from the table by its key, and the slot moves
 * on.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"

#include "job.h"
#include "textbound.h"
#include "utf8.h"

/* bytes a job costs beyond its values and names (lsn, xid, seq, braces) */
#define JOB_OVERHEAD	128

/*
 * An output function is called on a value whose text may be longer than
 * the job's remaining room (it is measured, then) only while its bound is
 * at most this: never near 1GB, never gigabytes of memory.
 */
#define SAFE_OUTPUT_BYTES	((Size) 64 * 1024 * 1024)

/*
 * A value that is not converted makes the job a claim check without its
 * text being known, and prune() keeps a claim-checked row only as far as
 * its text form is at least claim_check_floor() (sql/src/30_prune.sql),
 * which is at most max-job-bytes / CLAIM_CHECK_FLOOR_SHARE.  So a value
 * is left unconverted only when textbound.c proves its text at least that
 * long; else it is converted and measured while its bound is at most
 * LAST_RESORT_OUTPUT_BYTES (the largest max-job-bytes: no further from
 * 1GB than a job that is converted anyway).  A value whose bound passes
 * that and whose text is not proven long (jsonpath, a type of an
 * extension, large values nested in containers) is converted in a
 * subtransaction: a claim check only when its text would pass 1GB.
 */
#define CLAIM_CHECK_FLOOR_SHARE		16
#define LAST_RESORT_OUTPUT_BYTES	((Size) W2Q_MAX_JOB_BYTES_MAX)

/* the columns of the claim check relation, in order */
enum
{
	CC_FLAG, CC_KIND, CC_TABLE, CC_KEY, CC_KEY_COLUMNS, CC_LSN, CC_SEQ,
	CC_SIZE, CC_NCOLS
};

static W2QRelInfo *claim_rel = NULL;

/* the cost of a column's text in the chosen form */
static Size
value_size(const W2QColumn *col, const char *text, bool json)
{
	if (text == NULL)
		return 5;
	if (json && col->kind == W2Q_KIND_TEXT)
		return w2q_json_string_size(text, strlen(text));
	return strlen(text) + 5;
}

/*
 * A lower bound of the text of a stored value, without calling the output
 * function: the text of the string types and json is at least as long as
 * their stored content, bytea's hex text twice as long.  Other types: 0.
 */
static Size
stored_lower_bound(const W2QColumn *col, Datum value)
{
	Oid			base = col->basetype;
	Size		raw;

	if (base != TEXTOID && base != VARCHAROID && base != BPCHAROID &&
		base != BYTEAOID && base != JSONOID)
		return 0;
	raw = toast_raw_datum_size(value) - VARHDRSZ;
	return base == BYTEAOID ? 2 * raw + 2 : raw;
}

/*
 * The job key: key-column or primary key text.  A single-column key is the
 * text itself; a composite key is a JSON array of the texts (null for
 * NULL), so ('1,2','3') and ('1','2,3') differ.
 */
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
	appendStringInfoChar(&s, '[');
	for (i = 0; i < info->nkeys; i++)
	{
		const char *t = texts[info->keys[i]];

		if (i > 0)
			appendStringInfoChar(&s, ',');
		if (t)
			escape_json(&s, t);
		else
			appendStringInfoString(&s, "null");
	}
	appendStringInfoChar(&s, ']');
	return s.data;
}

/* the fixed cost of a row job of info: names and metadata */
static Size
row_overhead(const W2QRelInfo *info)
{
	Size		n = JOB_OVERHEAD + 2 * strlen(info->json_name);
	int			i;

	for (i = 0; i < info->ncols; i++)
		n += strlen(info->cols[i].json_key) + 1;
	return n;
}

/* how column_text() makes a value's text, as too_large_to_convert() says */
typedef enum
{
	OUTPUT_CONVERT,				/* its bound is proven to fit */
	OUTPUT_CLAIM_CHECK,			/* too large, and its text proven long */
	OUTPUT_GUARDED				/* not proven either way */
} OutputChoice;

/*
 * How to make the text of a value: convert it while its bound is at most
 * stop, or, when its text is not proven long enough for prune() to keep a
 * claim-checked row, at most LAST_RESORT_OUTPUT_BYTES; leave it for a claim
 * check when its text is proven long; else convert it under a guard
 * (guarded_output()).  *bound is set to the value's bound.
 */
static OutputChoice
too_large_to_convert(W2QColumn *col, Datum value, Size stop, Size proven,
					 Size *bound)
{
	Size		lower;

	*bound = w2q_text_bound(col->typid, value, stop, &lower);
	if (*bound <= stop)
		return OUTPUT_CONVERT;
	if (lower >= proven)
		return OUTPUT_CLAIM_CHECK;
	/* not proven long: the walk again, to the last resort's limit */
	*bound = w2q_text_bound(col->typid, value, LAST_RESORT_OUTPUT_BYTES,
							&lower);
	return *bound <= LAST_RESORT_OUTPUT_BYTES ? OUTPUT_CONVERT : OUTPUT_GUARDED;
}

/*
 * The text of a value whose bound is not proven (jsonpath, a type of an
 * extension, large values nested in containers), made in a subtransaction:
 * NULL when its output function fails because the text would pass a size
 * limit (1GB: "Cannot enlarge string buffer", "invalid memory alloc request
 * size", both far over max-job-bytes / 16), which would otherwise fail at
 * every attempt and wedge the slot.  On a server that cannot give a backend
 * that much (a ulimit, vm.overcommit_memory = 2, a small container) the
 * same text fails with out of memory instead, somewhere on its way to 1GB:
 * that counts too when the output function then held at least
 * GUARDED_OOM_HELD_BYTES beyond the value's own detoasted size (the text it
 * was building, in a buffer at most twice its length), so the same value
 * has the same outcome whatever the memory (test/t/381).  An out of memory
 * with less held (memory short for other reasons) is raised again: the
 * decoding is retried, as for any other error.  That error is rolled back
 * as a PL/pgSQL exception block does.  It may use up to 1GB of memory for a
 * moment, once.
 */
#define GUARDED_OOM_HELD_BYTES	LAST_RESORT_OUTPUT_BYTES

static bool
output_too_large(ErrorData *edata, MemoryContext out, Datum value)
{
	Size		held;

	if (edata->sqlerrcode == ERRCODE_PROGRAM_LIMIT_EXCEEDED ||
		strncmp(edata->message, "invalid memory alloc request size",
				strlen("invalid memory alloc request size")) == 0)
		return true;
	if (edata->sqlerrcode != ERRCODE_OUT_OF_MEMORY)
		return false;
	held = MemoryContextMemAllocated(out, true);
	return held >= GUARDED_OOM_HELD_BYTES &&
		held - GUARDED_OOM_HELD_BYTES >= toast_raw_datum_size(value);
}

static char *
guarded_output(W2QColumn *col, Datum value)
{
	MemoryContext cxt = CurrentMemoryContext;
	/* what the output function allocates, freed at once if it fails */
	MemoryContext out = AllocSetContextCreate(cxt, "wal2queue guarded output",
											  ALLOCSET_DEFAULT_SIZES);
	ResourceOwner owner = CurrentResourceOwner;
	char	   *volatile text = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(out);
	PG_TRY();
	{
		text = OutputFunctionCall(&col->out, value);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		if (!output_too_large(edata, out, value))
			ReThrowError(edata);
		FreeErrorData(edata);
		MemoryContextDelete(out);
		text = NULL;
	}
	PG_END_TRY();
	return text;
}

/*
 * Make the text of column i, unless its stored size alone is more than
 * limit, or its text could be (textbound.c) and is too large to be made to
 * find out (too_large_to_convert()), or is made under a guard and is over
 * limit or over 1GB.  Then *bound is at least that size.
 */
static bool
column_text(W2QRelInfo *info, int i, Datum *values, bool *nulls,
			char **texts, Size limit, Size *bound, const W2QOptions *opt)
{
	W2QColumn  *col = &info->cols[i];
	int			a = col->attnum - 1;
	Size		safe = Max(limit, SAFE_OUTPUT_BYTES);
	OutputChoice choice = OUTPUT_CONVERT;

	texts[i] = NULL;
	if (nulls[a])
		return true;
	if ((*bound = stored_lower_bound(col, values[a])) > limit)
		return false;
	/* fixed-length and small values are safe whatever their type */
	if (col->typlen == -1 &&
		toast_raw_datum_size(values[a]) - VARHDRSZ > W2Q_SMALL_VALUE)
		choice = too_large_to_convert(col, values[a], safe,
									  opt->max_job_bytes / CLAIM_CHECK_FLOOR_SHARE,
									  bound);
	if (choice == OUTPUT_CLAIM_CHECK)
		return false;
	if (choice == OUTPUT_GUARDED)
	{
		texts[i] = guarded_output(col, values[a]);
		*bound = texts[i] ? strlen(texts[i]) : MaxAllocSize;
		if (texts[i] == NULL || *bound > limit)
		{
			/* measured: too large (not converted to UTF-8, could pass 1GB) */
			if (texts[i])
				pfree(texts[i]);
			texts[i] = NULL;
			return false;
		}
	}
	else
		texts[i] = OutputFunctionCall(&col->out, values[a]);
	texts[i] = w2q_to_utf8(texts[i], strlen(texts[i]));
	return true;
}

/*
 * Key and target first, so a claim check can carry them; a key or route
 * value that alone would take half the limit is left out of it.
 */
static Size
row_key_and_target(W2QJob *job, W2QRelInfo *info, Datum *values,
				   bool *nulls, bool *done, const W2QOptions *opt)
{
	Size		half = opt->max_job_bytes / 2;
	Size		size = 0;
	bool		ok = true;
	int			i;

	Size		bound;

	for (i = 0; i < info->nkeys && ok; i++)
		ok = done[info->keys[i]] =
			column_text(info, info->keys[i], values, nulls, job->texts, half,
						&bound, opt);
	if (ok && info->route >= 0)
		ok = done[info->route] =
			column_text(info, info->route, values, nulls, job->texts, half,
						&bound, opt);
	job->target = info->name;
	job->key = NULL;
	if (ok)
	{
		job->key = row_key(info, job->texts);
		/* an empty route value, like NULL, leaves the default target */
		if (info->route >= 0 && job->texts[info->route] != NULL &&
			job->texts[info->route][0] != '\0')
			job->target = job->texts[info->route];
		size = (job->key ? w2q_json_string_size(job->key, strlen(job->key)) : 0) +
			(job->target != info->name ? strlen(job->target) + 2 : 0);
		if (size > half)
		{
			job->key = NULL;
			job->target = info->name;
			ok = false;
		}
	}
	if (!ok)
		job->oversize = opt->max_job_bytes + (Size) 1;
	return size;
}

/*
 * A row job of info from tuple (of relation, a partition of info's table
 * or the table itself).  Sets job->oversize instead of the texts when the
 * job would be larger than max-job-bytes.
 */
void
w2q_row_job(W2QJob *job, W2QRelInfo *info, Relation relation,
			HeapTuple tuple, const W2QOptions *opt)
{
	TupleDesc	desc = RelationGetDescr(relation);
	Datum	   *values;
	bool	   *nulls;
	bool	   *done;
	Size		size;
	Size		lower = 0;
	int			i;

	if (info->map)
	{
		tuple = execute_attr_map_tuple(tuple, info->map);
		desc = info->map->outdesc;
	}
	values = palloc(desc->natts * sizeof(Datum));
	nulls = palloc(desc->natts * sizeof(bool));
	heap_deform_tuple(tuple, desc, values, nulls);
	job->rel = info;
	job->texts = palloc0(info->ncols * sizeof(char *));
	done = palloc0(info->ncols * sizeof(bool));

	size = row_overhead(info) +
		row_key_and_target(job, info, values, nulls, done, opt);
	if (job->oversize)
		return;
	for (i = 0; i < info->ncols; i++)
	{
		int			a = info->cols[i].attnum - 1;

		if (done[i])
			size += value_size(&info->cols[i], job->texts[i], opt->json);
		else if (!nulls[a])
			lower += stored_lower_bound(&info->cols[i], values[a]);
	}
	for (i = 0; i < info->ncols && size + lower <= (Size) opt->max_job_bytes; i++)
	{
		int			a = info->cols[i].attnum - 1;
		Size		bound;

		if (done[i])
			continue;
		if (!nulls[a])
			lower -= stored_lower_bound(&info->cols[i], values[a]);
		if (!column_text(info, i, values, nulls, job->texts,
						 opt->max_job_bytes - (size + lower), &bound, opt))
		{
			/* too large to convert: counted at its bound */
			size += bound;
			break;
		}
		size += value_size(&info->cols[i], job->texts[i], opt->json);
	}
	job->size = size + lower;
	if (job->size > (Size) opt->max_job_bytes)
		job->oversize = job->size;
}

/*
 * Split a message prefix into target and key (FORMAT.md): "wal2queue",
 * "wal2queue:TARGET", "wal2queue:TARGET#KEY", "wal2queue#KEY", each also
 * signed as send() writes it: "wal2queue!", the key's id (1 to 19 decimal
 * digits, no leading zero), ".", and 64 lower-case hex digits (the MAC) in
 * place of "wal2queue".  Returns false for any other prefix.
 *
 * The MAC is stripped, not verified: the plugin's protection is the
 * privilege of pg_logical_emit_message() read as of the message
 * (message_access.c), and it could not read the key anyway (a user table,
 * which the historic snapshot of decoding may not read).  The bridge on
 * pgoutput verifies it (FORMAT.md, "Signed messages").
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
	if (*rest == W2Q_MESSAGE_SIGNED)
	{
		int			i;

		rest++;
		for (i = 0; rest[i] >= '0' && rest[i] <= '9'; i++)
			;
		if (i == 0 || i > W2Q_MESSAGE_KEY_ID_DIGITS || rest[0] == '0' || rest[i] != '.')
			return false;
		rest += i + 1;
		for (i = 0; i < W2Q_MESSAGE_MAC_HEX; i++)
			if (!((rest[i] >= '0' && rest[i] <= '9') || (rest[i] >= 'a' && rest[i] <= 'f')))
				return false;
		rest += W2Q_MESSAGE_MAC_HEX;
	}
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

/*
 * A message's target and key, as a row's (row_key_and_target()): counted as
 * JSON strings (as the JSON form writes both), and left out of the job
 * (the default target, no key) when together they would take half the
 * limit, so that its claim check stays small.  Their text in UTF-8 is at
 * least half their stored length (no conversion shrinks a character more),
 * so a longer one is not converted.  Returns their size.
 */
static Size
message_key_and_target(W2QJob *job, const char *target, const char *key,
					   const W2QOptions *opt)
{
	Size		half = opt->max_job_bytes / 2;
	Size		raw = strlen(target) + (key ? strlen(key) : 0);
	Size		size = raw;

	job->target = W2Q_MESSAGE_PREFIX;
	job->key = NULL;
	if (raw / 2 <= half)
	{
		job->target = w2q_to_utf8(target, strlen(target));
		job->key = key ? w2q_to_utf8(key, strlen(key)) : NULL;
		size = (job->key ? w2q_json_string_size(job->key, strlen(job->key)) : 0) +
			w2q_json_string_size(job->target, strlen(job->target));
	}
	if (size > half)
	{
		job->target = W2Q_MESSAGE_PREFIX;
		job->key = NULL;
		job->oversize = opt->max_job_bytes + (Size) 1;
	}
	return size;
}

/*
 * A message job, or false when the prefix is not ours.  In the JSON form a
 * payload that is not valid text in the database encoding (or holds a NUL
 * byte) is written in base64.
 */
bool
w2q_message_job(W2QJob *job, const char *prefix, const char *message,
				Size message_size, const W2QOptions *opt)
{
	char	   *target;
	char	   *key;
	Size		size;

	if (!parse_message_prefix(prefix, &target, &key))
		return false;
	size = JOB_OVERHEAD + message_key_and_target(job, target, key, opt);
	job->payload = message;
	job->payload_len = message_size;
	if (!job->oversize && message_size / 2 > (Size) opt->max_job_bytes)
	{
		/*
		 * Too large however it is written (its UTF-8 text is at least half
		 * of it): not converted, which could pass 1GB.
		 */
		size += message_size / 2;
		job->oversize = size;
	}
	if (job->oversize)
	{
		/* a claim check without the payload */
		job->size = size;
		job->payload = NULL;
		job->payload_len = 0;
		return true;
	}
	if (opt->json)
	{
		/* pg_verify_mbstr refuses a NUL byte too */
		job->payload_base64 = !pg_verify_mbstr(GetDatabaseEncoding(), message,
							 (int) message_size, true);
		if (!job->payload_base64 && w2q_utf8_converts())
		{
			/* valid text: as UTF-8, like every text in a job */
			job->payload = w2q_to_utf8(message, message_size);
			if (job->payload != message)
				job->payload_len = strlen(job->payload);
		}
		size += job->payload_base64 ? (message_size + 2) / 3 * 4 + 40
			: w2q_json_string_size(job->payload, job->payload_len);
	}
	else
		size += message_size;
	job->size = size;
	if (size > (Size) opt->max_job_bytes)
	{
		job->oversize = size;
		job->payload = NULL;
		job->payload_len = 0;
	}
	return true;
}

/* the synthetic relation of claim checks, made once per backend */
static W2QRelInfo *
claim_relation(void)
{
	static const char *const names[CC_NCOLS] = {
		"wal2queue_claim_check", "kind", "table", "key", "key_columns",
		"lsn", "seq", "size"
	};
	static const char kinds[CC_NCOLS] = {
		W2Q_KIND_BOOL, W2Q_KIND_TEXT, W2Q_KIND_TEXT, W2Q_KIND_TEXT,
		W2Q_KIND_JSON, W2Q_KIND_TEXT, W2Q_KIND_NUMBER, W2Q_KIND_NUMBER
	};
	MemoryContext old;
	StringInfoData s;
	int			i;

	if (claim_rel)
		return claim_rel;
	old = MemoryContextSwitchTo(TopMemoryContext);
	claim_rel = palloc0(sizeof(W2QRelInfo));
	claim_rel->valid = true;
	claim_rel->include = true;
	claim_rel->generation = 0;	/* never the generation of a table */
	claim_rel->name = pstrdup("wal2queue.claim_check");
	claim_rel->json_name = pstrdup("\"wal2queue.claim_check\"");
	claim_rel->ncols = CC_NCOLS;
	claim_rel->cols = palloc0(CC_NCOLS * sizeof(W2QColumn));
	for (i = 0; i < CC_NCOLS; i++)
	{
		claim_rel->cols[i].attnum = i + 1;
		claim_rel->cols[i].name = pstrdup(names[i]);
		claim_rel->cols[i].kind = kinds[i];
		initStringInfo(&s);
		escape_json(&s, names[i]);
		appendStringInfoChar(&s, ':');
		claim_rel->cols[i].json_key = s.data;
	}
	claim_rel->route = -1;
	MemoryContextSwitchTo(old);
	return claim_rel;
}

/* the key columns of info as a JSON array of names */
static char *
key_columns(const W2QRelInfo *info)
{
	StringInfoData s;
	int			i;

	initStringInfo(&s);
	appendStringInfoChar(&s, '[');
	for (i = 0; i < info->nkeys; i++)
	{
		if (i > 0)
			appendStringInfoChar(&s, ',');
		escape_json(&s, info->cols[info->keys[i]].name);
	}
	appendStringInfoChar(&s, ']');
	return s.data;
}

/*
 * Replace an oversized job (its seq set) by its claim check: same target,
 * key and seq, a row of wal2queue.claim_check naming what was left out.
 */
void
w2q_claim_check(W2QJob *job, XLogRecPtr lsn)
{
	W2QRelInfo *table = job->rel;
	char	  **texts = palloc0(CC_NCOLS * sizeof(char *));

	texts[CC_FLAG] = "t";
	texts[CC_KIND] = table ? "row" : "message";
	texts[CC_TABLE] = table ? table->name : NULL;
	texts[CC_KEY] = (char *) job->key;
	texts[CC_KEY_COLUMNS] = table ? key_columns(table) : NULL;
	texts[CC_LSN] = psprintf("%X/%X", LSN_FORMAT_ARGS(lsn));
	texts[CC_SEQ] = psprintf("%u", job->seq);
	texts[CC_SIZE] = psprintf("%zu", job->oversize);
	job->rel = claim_relation();
	job->texts = texts;
	job->size = JOB_OVERHEAD;
	job->payload = NULL;
	job->payload_len = 0;
}
