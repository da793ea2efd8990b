/*-------------------------------------------------------------------------
 *
 * frame.h
 *		Decoder for wal2queue binary frames (see plugin/FORMAT.md).
 *
 * The decoder turns the bytes of one output message (the payload of one
 * XLogData 'w' message) into begin / job / commit callbacks.  It keeps the
 * transaction context across messages, since a large transaction spans
 * several.  It never touches sockets and never allocates per job: every
 * pointer handed to a callback points into the message buffer (or into the
 * decoder) and is valid only during the callback.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_FRAME_H
#define W2Q_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define W2Q_PROTO_VERSION 1
#define W2Q_MAX_COLUMNS 1664	/* PostgreSQL's MaxTupleAttributeNumber */

/* column kinds */
#define W2Q_KIND_NUMBER 'n'
#define W2Q_KIND_BOOL	'b'
#define W2Q_KIND_JSON	'j'
#define W2Q_KIND_TEXT	't'

typedef struct FrameBytes
{
	const char *data;
	uint32_t	len;
} FrameBytes;

typedef struct FrameColumn
{
	FrameBytes	name;
	char		kind;			/* W2Q_KIND_* */
} FrameColumn;

typedef struct FrameRelation
{
	uint32_t	relid;
	FrameBytes	name;			/* schema.table */
	uint32_t	ncols;
	FrameColumn *cols;
} FrameRelation;

typedef struct FrameValue
{
	bool		isnull;
	FrameBytes	data;			/* text output of the value */
} FrameValue;

typedef struct FrameTxn
{
	uint32_t	xid;
	uint64_t	commit_lsn;
	uint64_t	end_lsn;
	int64_t		commit_time_us; /* microseconds since the Unix epoch, UTC */
	uint32_t	njobs;			/* jobs seen so far; at commit, the total */
} FrameTxn;

typedef struct FrameJob
{
	uint32_t	seq;
	bool		is_message;		/* a logical message rather than a row */
	FrameBytes	target;			/* resolved: route value, message target or
								 * relation name */
	bool		has_key;
	FrameBytes	key;
	const FrameRelation *rel;	/* rows only, else NULL */
	const FrameValue *values;	/* rows only: rel->ncols values */
	FrameBytes	payload;		/* messages only */
} FrameJob;

/*
 * Callbacks.  A non-zero return stops decoding and is returned by
 * frame_decode() as is (use positive values: negative ones are the
 * decoder's).
 */
typedef struct FrameHandlers
{
	int			(*begin) (void *arg, const FrameTxn *txn);
	int			(*job) (void *arg, const FrameTxn *txn, const FrameJob *job);
	int			(*commit) (void *arg, const FrameTxn *txn);
} FrameHandlers;

typedef struct FrameDecoder
{
	bool		in_txn;
	FrameTxn	txn;
	/* relations defined in the current message (storage reused) */
	FrameRelation *rels;
	uint32_t	nrels;
	uint32_t	rels_cap;
	FrameColumn *cols;			/* column storage shared by rels */
	uint32_t	cols_used;
	uint32_t	cols_cap;
	FrameValue *values;			/* scratch for one job's values */
	uint32_t	values_cap;
} FrameDecoder;

#define FRAME_OK		0
#define FRAME_MALFORMED (-1)
#define FRAME_NOMEM		(-2)

extern void frame_decoder_init(FrameDecoder *dec);

/* forget any open transaction (after a reconnect) */
extern void frame_decoder_reset(FrameDecoder *dec);
extern void frame_decoder_free(FrameDecoder *dec);

/*
 * Decode one message.  Returns FRAME_OK, FRAME_MALFORMED (err says why, e.g.
 * "record 'I' at offset 37: value 3 runs past the end of the record"),
 * FRAME_NOMEM, or a handler's non-zero return.  After FRAME_MALFORMED the
 * decoder must be reset before it is used again.
 */
extern int	frame_decode(FrameDecoder *dec, const char *msg, size_t len,
						 const FrameHandlers *h, void *arg,
						 char *err, size_t errlen);

/* "%X/%X" of an LSN into buf (at least 18 bytes) */
extern const char *frame_lsn_str(uint64_t lsn, char *buf, size_t buflen);

#endif							/* W2Q_FRAME_H */
