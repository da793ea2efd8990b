/*-------------------------------------------------------------------------
 *
 * emit_json.c
 *		The JSON form: one object per job, one output message per job.
 *
 * The exact shape is a contract (FORMAT.md):
 * {"target":…,"table":…,"lsn":"X/X","xid":N,"seq":N,"key":…,"row":{…}}
 * or, for a logical message, "payload" in place of "row" (base64, with
 * "payload_encoding":"base64" before it, when the content is not valid text
 * in the database encoding or holds a NUL byte).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/base64.h"
#include "replication/logical.h"
#include "utils/json.h"

#include "emit.h"

static void
append_json_string_or_null(StringInfo out, const char *s)
{
	if (s == NULL)
		appendStringInfoString(out, "null");
	else
		escape_json(out, s);
}

/* a column value typed as FORMAT.md says */
static void
append_value(StringInfo out, char kind, const char *text)
{
	if (text == NULL)
	{
		appendStringInfoString(out, "null");
		return;
	}
	switch (kind)
	{
		case W2Q_KIND_NUMBER:
			if (strcmp(text, "NaN") == 0 || strcmp(text, "Infinity") == 0 ||
				strcmp(text, "-Infinity") == 0)
				escape_json(out, text);
			else
				appendStringInfoString(out, text);
			break;
		case W2Q_KIND_BOOL:
			appendStringInfoString(out, text[0] == 't' ? "true" : "false");
			break;
		case W2Q_KIND_JSON:
			appendStringInfoString(out, text);
			break;
		default:
			escape_json(out, text);
			break;
	}
}

static void
append_row(StringInfo out, const W2QJob *job)
{
	W2QRelInfo *rel = job->rel;
	int			i;

	appendStringInfoString(out, ",\"row\":{");
	for (i = 0; i < rel->ncols; i++)
	{
		if (i > 0)
			appendStringInfoChar(out, ',');
		appendStringInfoString(out, rel->cols[i].json_key);
		append_value(out, rel->cols[i].kind, job->texts[i]);
	}
	appendStringInfoChar(out, '}');
}

static void
append_payload(StringInfo out, const W2QJob *job)
{
	char	   *b64;
	int			len;

	if (!job->payload_base64)
	{
		appendStringInfoString(out, ",\"payload\":");
		escape_json(out, pnstrdup(job->payload, job->payload_len));
		return;
	}
	appendStringInfoString(out, ",\"payload_encoding\":\"base64\",\"payload\":\"");
	b64 = palloc(pg_b64_enc_len(job->payload_len) + 1);
	len = pg_b64_encode(job->payload, job->payload_len, b64,
						pg_b64_enc_len(job->payload_len));
	if (len < 0)
		elog(ERROR, "could not encode a message payload as base64");
	appendBinaryStringInfo(out, b64, len);
	appendStringInfoChar(out, '"');
	pfree(b64);
}

void
w2q_json_job(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
			 const W2QJob *job)
{
	StringInfo	out;

	OutputPluginPrepareWrite(ctx, true);
	out = ctx->out;
	appendStringInfoString(out, "{\"target\":");
	if (job->rel && job->target == job->rel->name)
		appendStringInfoString(out, job->rel->json_name);
	else
		escape_json(out, job->target);
	appendStringInfoString(out, ",\"table\":");
	appendStringInfoString(out, job->rel ? job->rel->json_name : "null");
	appendStringInfo(out, ",\"lsn\":\"%X/%X\",\"xid\":%u,\"seq\":%u,\"key\":",
					 LSN_FORMAT_ARGS(txn->final_lsn), txn->xid, job->seq);
	append_json_string_or_null(out, job->key);
	if (job->rel)
		append_row(out, job);
	else
		append_payload(out, job);
	appendStringInfoChar(out, '}');
	OutputPluginWrite(ctx, true);
}
