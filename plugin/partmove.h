/*-------------------------------------------------------------------------
 *
 * partmove.h
 *		Recognise the INSERT half of a cross-partition UPDATE.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_PARTMOVE_H
#define W2Q_PARTMOVE_H

#include "access/xlogdefs.h"

typedef struct W2QMoves
{
	struct XLogReaderState *reader; /* NULL until first needed */
	MemoryContext cxt;			/* where the reader lives: the session's */
	Oid			root;			/* InvalidOid: no DELETE pending */
	XLogRecPtr	delete_lsn;		/* the pending DELETE's record */
} W2QMoves;

extern void w2q_moves_init(W2QMoves *moves, MemoryContext cxt);
extern void w2q_moves_reset(W2QMoves *moves);
extern void w2q_moves_delete(W2QMoves *moves, Oid root, XLogRecPtr lsn);
extern bool w2q_moves_is_move(W2QMoves *moves, Oid root);
extern void w2q_moves_shutdown(W2QMoves *moves);

#endif							/* W2Q_PARTMOVE_H */
