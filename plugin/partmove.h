/*-------------------------------------------------------------------------
 *
 * partmove.h
 *		Recognise the INSERT half of a cross-partition UPDATE.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_PARTMOVE_H
#define W2Q_PARTMOVE_H

#include "access/htup.h"
#include "access/tupdesc.h"
#include "access/xlogdefs.h"

#include "relinfo.h"

typedef struct W2QMoves
{
	struct XLogReaderState *reader; /* NULL until first needed */
	MemoryContext cxt;			/* where the reader lives: the session's */
	Oid			root;			/* InvalidOid: no DELETE pending */
	Oid			delete_relid;	/* the partition it deleted from */
	const void *txn;			/* its (sub)transaction's ReorderBufferTXN */
	HeapTuple	old_key;		/* its old identity, in root's columns */
	TupleDesc	old_desc;		/* root's descriptor then: old_key's */
	XLogRecPtr	delete_lsn;		/* the pending DELETE's record */
	Oid			unlogged_root;	/* the last root asked about, or InvalidOid */
	bool		unlogged;		/* it has a partition WAL does not follow */
	uint64		unlogged_gen;	/* relcache invalidations seen then */
} W2QMoves;

extern void w2q_moves_init(W2QMoves *moves, MemoryContext cxt);
extern void w2q_moves_reset(W2QMoves *moves);
extern void w2q_moves_delete(W2QMoves *moves, W2QRelInfo *info,
							 Relation relation, HeapTuple old_key,
							 XLogRecPtr lsn, const void *txn);
extern bool w2q_moves_is_move(W2QMoves *moves, W2QRelInfo *info,
							  Relation relation, HeapTuple tuple,
							  const void *txn);
extern void w2q_moves_shutdown(W2QMoves *moves);

#endif							/* W2Q_PARTMOVE_H */
