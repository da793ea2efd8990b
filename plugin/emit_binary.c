/*-------------------------------------------------------------------------
 *
 * emit_binary.c
 *		The binary form: versioned frames, many jobs per output message.
 *
 * Records are appended to bin->buf; the message is written out once it
 * passes W2Q_BINARY_FLUSH_BYTES and at commit, because the walsender pays
 * per message, not per byte; a job that large goes out on its own.  Each message describes (R record) the
 * relations it uses, so it can be decoded on its own.  See FORMAT.md.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "replication/logical.h"
#include "utils/timestamp.h"

#include "emit.h"

/* seconds between the Unix and PostgreSQL epochs */
#define UNIX_TO_PG_EPOCH_USECS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC)

static void
put_u8(StringInfo s, uint8 v)
{
	appendStringInfoCharMacro(s, (char) v);
}

static void
put_u32(StringInfo s, uint32 v)
{
	char		b[4];

	b[0] = (char) (v >> 24);
	b[1] = (char) (v >> 16);
	b[2] = (char) (v >> 8);
	b[3] = (char) v;
	appendBinaryStringInfo(s, b, 4);
}

static void
put_u64(StringInfo s, uint64 v)
{
	put_u32(s, (uint32) (v >> 32));
	put_u32(s, (uint32) v);
}

static void
put_uv(StringInfo s, uint64 v)
{
	char		b[10];
	int			n = 0;

	while (v >= 0x80)
	{
		b[n++] = (char) ((v & 0x7F) | 0x80);
		v >>= 7;
	}
	b[n++] = (char) v;
	appendBinaryStringInfo(s, b, n);
}

static void
put_bytes(StringInfo s, const char *p, Size len)
{
	put_uv(s, len);
	appendBinaryStringInfo(s, p, len);
}

static void
put_str(StringInfo s, const char *p)
{
	put_bytes(s, p, strlen(p));
}

/*
 * Records are written as kind, room for the longest length varint, then
 * the body; end_record writes the real (shortest) varint and moves the body
 * down to meet it, so a record costs one pass and no scratch buffer.
 */
#define MAX_LEN_VARINT 5

/* every message starts with the magic and the protocol version */
#define MAGIC		"W2Q\001"
#define MAGIC_LEN	4

static int
begin_record(StringInfo s, char kind)
{
	int			at;

	put_u8(s, (uint8) kind);
	at = s->len;
	appendBinaryStringInfo(s, "\0\0\0\0\0", MAX_LEN_VARINT);
	return at;
}

static void
end_record(StringInfo s, int at)
{
	uint32		len = (uint32) (s->len - at - MAX_LEN_VARINT);
	uint32		v = len;
	int			n = 0;

	while (v >= 0x80)
	{
		s->data[at + n++] = (char) ((v & 0x7F) | 0x80);
		v >>= 7;
	}
	s->data[at + n++] = (char) v;
	if (n < MAX_LEN_VARINT)
	{
		memmove(s->data + at + n, s->data + at + MAX_LEN_VARINT, len);
		s->len -= MAX_LEN_VARINT - n;
		s->data[s->len] = '\0';
	}
}

void
w2q_binary_init(W2QBinary *bin)
{
	initStringInfo(&bin->buf);
	bin->msg_rels_cap = 8;
	bin->msg_rels = palloc(bin->msg_rels_cap * sizeof(uint64));
	bin->msg_nrels = 0;
}

static void
start_message(W2QBinary *bin)
{
	resetStringInfo(&bin->buf);
	appendBinaryStringInfo(&bin->buf, MAGIC, MAGIC_LEN);
	bin->msg_nrels = 0;
}

static void
flush_message(LogicalDecodingContext *ctx, W2QBinary *bin, bool last)
{
	OutputPluginPrepareWrite(ctx, last);
	appendBinaryStringInfo(ctx->out, bin->buf.data, bin->buf.len);
	OutputPluginWrite(ctx, last);
	start_message(bin);
}

/* B and C share their first fields */
static void
put_txn_ids(StringInfo s, ReorderBufferTXN *txn)
{
	put_u32(s, txn->xid);
	put_u64(s, txn->final_lsn);
	put_u64(s, txn->end_lsn);
}

void
w2q_binary_begin(LogicalDecodingContext *ctx, W2QBinary *bin,
				 ReorderBufferTXN *txn)
{
	StringInfo	s = &bin->buf;
	int			at;

	start_message(bin);
	at = begin_record(s, 'B');
	put_txn_ids(s, txn);
	put_u64(s, (uint64) (txn->xact_time.commit_time + UNIX_TO_PG_EPOCH_USECS));
	end_record(s, at);
}

void
w2q_binary_commit(LogicalDecodingContext *ctx, W2QBinary *bin,
				  ReorderBufferTXN *txn, uint32 njobs)
{
	StringInfo	s = &bin->buf;
	int			at;

	at = begin_record(s, 'C');
	put_txn_ids(s, txn);
	put_uv(s, njobs);
	end_record(s, at);
	flush_message(ctx, bin, true);
}

/* an R record: how rel's rows are laid out */
static void
put_relation(StringInfo s, const W2QRelInfo *rel)
{
	int			at;
	int			i;

	at = begin_record(s, 'R');
	put_u32(s, rel->root_relid);
	put_str(s, rel->name);
	put_uv(s, rel->ncols);
	for (i = 0; i < rel->ncols; i++)
	{
		put_str(s, rel->cols[i].name);
		put_u8(s, (uint8) rel->cols[i].kind);
	}
	end_record(s, at);
}

/*
 * Write an R record for rel unless this message has one for this very build
 * of it: after an ALTER TABLE in the middle of a transaction the entry is
 * rebuilt with a new generation and described again (the decoder takes the
 * latest R of a relid).
 */
static void
describe_relation(W2QBinary *bin, W2QRelInfo *rel)
{
	int			i;

	for (i = bin->msg_nrels - 1; i >= 0; i--)
		if (bin->msg_rels[i] == rel->generation)
			return;
	if (bin->msg_nrels == bin->msg_rels_cap)
	{
		bin->msg_rels_cap *= 2;
		bin->msg_rels = repalloc(bin->msg_rels,
								  bin->msg_rels_cap * sizeof(uint64));
	}
	bin->msg_rels[bin->msg_nrels++] = rel->generation;
	put_relation(&bin->buf, rel);
}

static void
put_row(StringInfo s, const W2QJob *job)
{
	W2QRelInfo *rel = job->rel;
	uint8		flags = 0;
	int			i;
	bool		routed = job->target != rel->name;

	put_u32(s, rel->root_relid);
	put_uv(s, job->seq);
	flags |= job->key ? 0x01 : 0;
	flags |= routed ? 0x02 : 0;
	put_u8(s, flags);
	if (job->key)
		put_str(s, job->key);
	if (routed)
		put_str(s, job->target);
	for (i = 0; i < rel->ncols; i++)
	{
		const char *t = job->texts[i];

		if (t == NULL)
			put_uv(s, 0);
		else
		{
			Size		len = strlen(t);

			put_uv(s, (uint64) len + 1);
			appendBinaryStringInfo(s, t, len);
		}
	}
}

/* an I or M record for job */
static void
put_job(StringInfo s, const W2QJob *job)
{
	int			at;

	if (job->rel)
	{
		at = begin_record(s, 'I');
		put_row(s, job);
	}
	else
	{
		at = begin_record(s, 'M');
		put_uv(s, job->seq);
		put_u8(s, job->key ? 0x01 : 0);
		if (job->key)
			put_str(s, job->key);
		put_str(s, job->target);
		put_bytes(s, job->payload, job->payload_len);
	}
	end_record(s, at);
}

/*
 * A job of W2Q_BINARY_FLUSH_BYTES or more goes out in a message of its own,
 * built straight in ctx->out, so its bytes are held once, not once in our
 * buffer and again in ctx->out; the records before it are sent first.
 */
void
w2q_binary_job(LogicalDecodingContext *ctx, W2QBinary *bin,
			   ReorderBufferTXN *txn, const W2QJob *job)
{
	bool		large = job->size >= W2Q_BINARY_FLUSH_BYTES;

	if (bin->buf.len > MAGIC_LEN &&
		(large || bin->buf.len >= W2Q_BINARY_FLUSH_BYTES))
		flush_message(ctx, bin, false);
	if (large)
	{
		OutputPluginPrepareWrite(ctx, false);
		appendBinaryStringInfo(ctx->out, MAGIC, MAGIC_LEN);
		if (job->rel)
			put_relation(ctx->out, job->rel);
		put_job(ctx->out, job);
		OutputPluginWrite(ctx, false);
		return;
	}
	if (job->rel)
		describe_relation(bin, job->rel);
	put_job(&bin->buf, job);
}
