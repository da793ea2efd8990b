/*-------------------------------------------------------------------------
 *
 * emit.h
 *		The two encoders: emit_json.c (one JSON object per output message)
 *		and emit_binary.c (frames, many jobs per output message; FORMAT.md).
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_EMIT_H
#define W2Q_EMIT_H

#include "lib/stringinfo.h"
#include "replication/logical.h"
#include "replication/reorderbuffer.h"

#include "job.h"

#define W2Q_BINARY_FLUSH_BYTES	(64 * 1024)

/* the binary form's message being filled */
typedef struct W2QBinary
{
	StringInfoData buf;
	uint64	   *msg_rels;		/* generations of the relations described in
								 * this message */
	int			msg_nrels;
	int			msg_rels_cap;
} W2QBinary;

/* emit_json.c */
extern void w2q_json_job(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
						 const W2QJob *job);

/* emit_binary.c */
extern void w2q_binary_init(W2QBinary *bin);
extern void w2q_binary_begin(LogicalDecodingContext *ctx, W2QBinary *bin,
							 ReorderBufferTXN *txn);
extern void w2q_binary_job(LogicalDecodingContext *ctx, W2QBinary *bin,
						   ReorderBufferTXN *txn, const W2QJob *job);
extern void w2q_binary_commit(LogicalDecodingContext *ctx, W2QBinary *bin,
							  ReorderBufferTXN *txn, uint32 njobs);

#endif							/* W2Q_EMIT_H */
