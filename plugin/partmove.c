/*-------------------------------------------------------------------------
 *
 * partmove.c
 *		Recognise the INSERT half of a cross-partition UPDATE.
 *
 * An UPDATE that moves a row to another partition is written to WAL as a
 * DELETE from the old partition and an INSERT into the new one, and
 * logical decoding hands them to us as just that: the INSERT would be a
 * new job.  The DELETE's WAL record says it is half of a move
 * (XLH_DELETE_IS_PARTITION_MOVE), but the decoded change does not carry
 * the flag.  So: a DELETE on a partition of a selected table is
 * remembered (its table and LSN); when the next INSERT under the same
 * table arrives in the transaction, we read the DELETE's record back from
 * WAL and, if it has the flag, the INSERT is the moved row and is no job.
 * WAL is read only for such a DELETE-then-INSERT pair, not for every
 * DELETE.  Any other DELETE replaces the pending one; the end of the
 * transaction forgets it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam_xlog.h"
#include "access/rmgr.h"
#include "access/xlog.h"
#include "access/xlogreader.h"
#include "access/xlogutils.h"

#include "partmove.h"

void
w2q_moves_init(W2QMoves *moves, MemoryContext cxt)
{
	moves->reader = NULL;
	moves->cxt = cxt;
	w2q_moves_reset(moves);
}

void
w2q_moves_reset(W2QMoves *moves)
{
	moves->root = InvalidOid;
	moves->delete_lsn = InvalidXLogRecPtr;
}

void
w2q_moves_delete(W2QMoves *moves, Oid root, XLogRecPtr lsn)
{
	moves->root = root;
	moves->delete_lsn = lsn;
}

/* does the heap DELETE record at lsn say the row moved to another partition? */
static bool
delete_record_is_move(W2QMoves *moves, XLogRecPtr lsn)
{
	XLogRecord *record;
	char	   *errormsg = NULL;
	xl_heap_delete *xlrec;
	bool		result;

	/* the reader allocates as it reads too (its decode buffer): keep it all */
	MemoryContext old = MemoryContextSwitchTo(moves->cxt);

	if (moves->reader == NULL)
	{
		moves->reader = XLogReaderAllocate(wal_segment_size, NULL,
										   XL_ROUTINE(.page_read = &read_local_xlog_page,
													  .segment_open = &wal_segment_open,
													  .segment_close = &wal_segment_close),
										   NULL);
		if (moves->reader == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory"),
					 errdetail("Failed while allocating a WAL reading processor.")));
	}
	XLogBeginRead(moves->reader, lsn);
	record = XLogReadRecord(moves->reader, &errormsg);
	if (record == NULL)
		ereport(ERROR,
				(errmsg("could not read the WAL record of a DELETE at %X/%X: %s",
						LSN_FORMAT_ARGS(lsn),
						errormsg ? errormsg : "unknown error")));
	if (XLogRecGetRmid(moves->reader) != RM_HEAP_ID ||
		(XLogRecGetInfo(moves->reader) & XLOG_HEAP_OPMASK) != XLOG_HEAP_DELETE)
		elog(ERROR, "WAL record at %X/%X is not a heap DELETE",
			 LSN_FORMAT_ARGS(lsn));
	xlrec = (xl_heap_delete *) XLogRecGetData(moves->reader);
	result = (xlrec->flags & XLH_DELETE_IS_PARTITION_MOVE) != 0;
	MemoryContextSwitchTo(old);
	return result;
}

/* is an INSERT under root the second half of the pending DELETE's move? */
bool
w2q_moves_is_move(W2QMoves *moves, Oid root)
{
	XLogRecPtr	lsn = moves->delete_lsn;

	if (!OidIsValid(moves->root) || moves->root != root)
		return false;
	w2q_moves_reset(moves);
	return delete_record_is_move(moves, lsn);
}

void
w2q_moves_shutdown(W2QMoves *moves)
{
	if (moves->reader)
		XLogReaderFree(moves->reader);
	moves->reader = NULL;
}
