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
 * the flag, and nothing in the INSERT's record links it to the DELETE.
 *
 * A cross-partition UPDATE is one command: ExecCrossPartitionUpdate()
 * deletes the old row and then inserts the new one, in the same
 * (sub)transaction and under the same descriptors, and without triggers no
 * other change of the transaction comes between them.  Nothing weaker is
 * evidence: a BEFORE INSERT trigger on the destination may discard the
 * moved row (RETURN NULL) or insert rows first, the destination may be a
 * foreign table, and the moved row may carry a new key (SET part = 2,
 * id = 5), so a later INSERT with the old identity may well be a genuine
 * job.  An INSERT is taken for the moved row only when it is proven to be it:
 *
 *	- a DELETE on a partition of a selected table is remembered with its old
 *	  replica identity (converted to the root's columns), the root's
 *	  descriptor then, its (sub)transaction and its LSN;
 *	- the very next change the transaction shows the plugin (any table, any
 *	  kind, a transactional message included) ends it: only an INSERT under
 *	  the same root in the same (sub)transaction can be the moved row;
 *	- that INSERT must be under a root descriptor with the same columns
 *	  (names, types, dropped ones) as the DELETE's: DDL in between (ALTER
 *	  COLUMN ... TYPE) proves it is not the moved row.  Each tuple is only
 *	  ever deformed with its own descriptor;
 *	- it must have the same values (byte for byte) as that old identity in
 *	  every identity column that is not a partition key column, at any level,
 *	  on either side (a move changes those); there must be at least one such
 *	  column;
 *	- and then the DELETE's WAL record is read back: it must have the flag.
 *
 * What cannot be proven is delivered: a table without replica identity, a
 * table with any partition that is UNLOGGED or foreign (a move into it
 * writes no INSERT, so the next INSERT of the transaction proves nothing;
 * a move into one of its logged partitions is then delivered too), a
 * move that also changed a key column (or, with REPLICA IDENTITY FULL, any
 * other column), a move whose INSERT comes after any other change (a
 * trigger's rows).  Such a moved row is a new job (a duplicate), never the
 * reason a genuine job is dropped.  The one case left: a moved row discarded
 * by a trigger, and then, as the very next change and in the same
 * (sub)transaction, an INSERT of a row with that same identity under the
 * same root (a later statement with nothing written in between); that
 * INSERT is taken for the moved row.  Decoding cannot tell the two apart:
 * the WAL of a user table carries no command id.
 *
 * WAL is read only for a DELETE-then-matching-INSERT pair.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam_xlog.h"
#include "access/rmgr.h"
#include "access/xlog.h"
#include "access/xlogreader.h"
#include "access/xlogutils.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "optimizer/optimizer.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/partcache.h"
#include "utils/rel.h"

#include "partmove.h"

/* relcache invalidations seen (any relation): root_has_unlogged_partition() */
static uint64 relcache_invalidations = 0;
static bool callback_registered = false;

static void
count_relcache_invalidation(Datum arg, Oid relid)
{
	relcache_invalidations++;
}

void
w2q_moves_init(W2QMoves *moves, MemoryContext cxt)
{
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(count_relcache_invalidation, (Datum) 0);
		callback_registered = true;
	}
	moves->unlogged_root = InvalidOid;
	moves->unlogged = false;
	moves->unlogged_gen = 0;
	moves->reader = NULL;
	moves->cxt = cxt;
	moves->old_key = NULL;
	moves->old_desc = NULL;
	w2q_moves_reset(moves);
}

void
w2q_moves_reset(W2QMoves *moves)
{
	if (moves->old_key)
		heap_freetuple(moves->old_key);
	if (moves->old_desc)
		FreeTupleDesc(moves->old_desc);
	moves->old_key = NULL;
	moves->old_desc = NULL;
	moves->txn = NULL;
	moves->root = InvalidOid;
	moves->delete_relid = InvalidOid;
	moves->delete_lsn = InvalidXLogRecPtr;
}

/* tuple of relation (described by info) in its root's columns */
static HeapTuple
root_tuple(const W2QRelInfo *info, HeapTuple tuple)
{
	return info->map ? execute_attr_map_tuple(tuple, info->map)
		: heap_copytuple(tuple);
}

/* the root's row descriptor, as info sees it */
static TupleDesc
root_desc(const W2QRelInfo *info, Relation relation)
{
	return info->map ? info->map->outdesc : RelationGetDescr(relation);
}

/*
 * Can a row of root move where WAL does not follow it?  A cross-partition
 * UPDATE into an UNLOGGED partition (or a foreign table) writes the DELETE,
 * flagged as a move, and no INSERT: the next change of the transaction is
 * then whatever it does next, and may be a genuine job with the same
 * identity.  Any partition of root (at any level) that is not WAL-logged
 * or is foreign makes every move under root unprovable.  Asked from the
 * catalogs as of the DELETE; the answer for the last root asked about is
 * kept until any relcache invalidation (CREATE TABLE ... PARTITION OF,
 * ATTACH PARTITION and ALTER TABLE ... SET UNLOGGED each invalidate a
 * relation of the tree), so prune()'s DELETEs do not walk the tree each.
 */
static bool
root_has_unlogged_partition(W2QMoves *moves, Oid root)
{
	List	   *rels;
	ListCell   *lc;
	bool		result = false;

	if (moves->unlogged_root == root &&
		moves->unlogged_gen == relcache_invalidations)
		return moves->unlogged;
	rels = find_all_inheritors(root, NoLock, NULL);

	foreach(lc, rels)
	{
		Oid			relid = lfirst_oid(lc);
		char		relkind = get_rel_relkind(relid);

		if (relkind == RELKIND_FOREIGN_TABLE ||
			(relkind == RELKIND_RELATION &&
			 get_rel_persistence(relid) != RELPERSISTENCE_PERMANENT))
		{
			result = true;
			break;
		}
	}
	list_free(rels);
	moves->unlogged_root = root;
	moves->unlogged = result;
	moves->unlogged_gen = relcache_invalidations;
	return result;
}

/*
 * A DELETE on relation, a partition of info's (selected) table, with its
 * old replica identity old_key (NULL when the table has none: then no
 * INSERT can be proven to be its moved row, and none is pending), decoded
 * as a change of txn (the (sub)transaction's reorder buffer entry).
 */
void
w2q_moves_delete(W2QMoves *moves, W2QRelInfo *info, Relation relation,
				 HeapTuple old_key, XLogRecPtr lsn, const void *txn)
{
	MemoryContext old;

	w2q_moves_reset(moves);
	if (old_key == NULL || root_has_unlogged_partition(moves, info->root_relid))
		return;
	old = MemoryContextSwitchTo(moves->cxt);
	moves->old_key = root_tuple(info, old_key);
	/* the descriptor old_key is in: never deform it with another one */
	moves->old_desc = CreateTupleDescCopy(root_desc(info, relation));
	MemoryContextSwitchTo(old);
	moves->txn = txn;
	moves->root = info->root_relid;
	moves->delete_relid = RelationGetRelid(relation);
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

/* add attnum of rel (a column of root by name) to *cols as a root attnum */
static void
add_root_column(Bitmapset **cols, Oid rel, AttrNumber attnum, Oid root)
{
	char	   *name = get_attname(rel, attnum, true);
	AttrNumber	rootnum = name ? get_attnum(root, name) : InvalidAttrNumber;

	if (rootnum != InvalidAttrNumber)
		*cols = bms_add_member(*cols, rootnum);
}

/*
 * The partition key columns (root attnums) of every partitioned table on
 * the path from leaf up to root, expressions' columns included.
 */
static void
add_partition_columns(Bitmapset **cols, Oid leaf, Oid root)
{
	List	   *ancestors = get_partition_ancestors(leaf);
	ListCell   *lc;

	foreach(lc, ancestors)
	{
		Oid			anc = lfirst_oid(lc);
		Relation	rel = RelationIdGetRelation(anc);
		PartitionKey key;
		Bitmapset  *exprcols = NULL;
		int			i;

		if (!RelationIsValid(rel))
			elog(ERROR, "could not open relation with OID %u", anc);
		key = RelationGetPartitionKey(rel);
		for (i = 0; key && i < key->partnatts; i++)
			if (key->partattrs[i] != 0)
				add_root_column(cols, anc, key->partattrs[i], root);
		if (key && key->partexprs)
			pull_varattnos((Node *) key->partexprs, 1, &exprcols);
		i = -1;
		while ((i = bms_next_member(exprcols, i)) >= 0)
		{
			AttrNumber	a = i + FirstLowInvalidHeapAttributeNumber;

			if (a > 0)
				add_root_column(cols, anc, a, root);
		}
		RelationClose(rel);
	}
	list_free(ancestors);
}

/* are two non-NULL values of att the same bytes (varlenas detoasted)? */
static bool
same_value(Form_pg_attribute att, Datum a, Datum b)
{
	struct varlena *va;
	struct varlena *vb;

	if (att->attlen != -1)
		return datumIsEqual(a, b, att->attbyval, att->attlen);
	va = PG_DETOAST_DATUM_PACKED(a);
	vb = PG_DETOAST_DATUM_PACKED(b);
	return VARSIZE_ANY_EXHDR(va) == VARSIZE_ANY_EXHDR(vb) &&
		memcmp(VARDATA_ANY(va), VARDATA_ANY(vb), VARSIZE_ANY_EXHDR(va)) == 0;
}

/*
 * Do two descriptors of the root have the same columns: names, types and
 * storage, dropped ones at the same places?  A cross-partition UPDATE is one
 * command: its DELETE and INSERT are decoded under the same descriptor, so a
 * difference (DDL in between, e.g. ALTER COLUMN ... TYPE) proves the INSERT
 * is not the moved row, and the values could not be compared anyway.
 */
static bool
same_columns(TupleDesc a, TupleDesc b)
{
	int			i;

	if (a->natts != b->natts)
		return false;
	for (i = 0; i < a->natts; i++)
	{
		Form_pg_attribute x = TupleDescAttr(a, i);
		Form_pg_attribute y = TupleDescAttr(b, i);

		if (x->attisdropped != y->attisdropped)
			return false;
		if (x->attisdropped)
			continue;
		if (x->atttypid != y->atttypid || x->atttypmod != y->atttypmod ||
			x->attlen != y->attlen || x->attbyval != y->attbyval ||
			x->attalign != y->attalign ||
			x->attcollation != y->attcollation ||
			strcmp(NameStr(x->attname), NameStr(y->attname)) != 0)
			return false;
	}
	return true;
}

/*
 * Does row (in the root's columns, desc) carry the pending DELETE's old
 * identity in every identity column that is not a partition key column,
 * with at least one such column?  Each tuple is deformed with its own
 * descriptor, and only when the two have the same columns.
 */
static bool
same_identity(W2QMoves *moves, TupleDesc desc, HeapTuple row, Oid insert_relid)
{
	Datum	   *ov;
	bool	   *on;
	Datum	   *nv;
	bool	   *nn;
	Bitmapset  *partcols = NULL;
	int			compared = 0;
	int			i;

	if (!same_columns(moves->old_desc, desc))
		return false;			/* the table changed in between */
	ov = palloc(desc->natts * sizeof(Datum));
	on = palloc(desc->natts * sizeof(bool));
	nv = palloc(desc->natts * sizeof(Datum));
	nn = palloc(desc->natts * sizeof(bool));
	heap_deform_tuple(moves->old_key, moves->old_desc, ov, on);
	heap_deform_tuple(row, desc, nv, nn);
	add_partition_columns(&partcols, moves->delete_relid, moves->root);
	add_partition_columns(&partcols, insert_relid, moves->root);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || on[i] || bms_is_member(i + 1, partcols))
			continue;
		if (nn[i] || !same_value(att, ov[i], nv[i]))
			return false;
		compared++;
	}
	return compared > 0;
}

/*
 * Is an INSERT of tuple into relation (under info's table), a change of txn,
 * the second half of the pending DELETE's move?  Only the change right after
 * the DELETE can be: whatever the answer, the DELETE is no longer pending.
 * Call it in a short-lived context.
 */
bool
w2q_moves_is_move(W2QMoves *moves, W2QRelInfo *info, Relation relation,
				  HeapTuple tuple, const void *txn)
{
	XLogRecPtr	lsn = moves->delete_lsn;
	bool		match;

	match = OidIsValid(moves->root) && moves->root == info->root_relid &&
		moves->txn == txn &&
		same_identity(moves, root_desc(info, relation),
					  root_tuple(info, tuple), RelationGetRelid(relation));
	w2q_moves_reset(moves);
	return match && delete_record_is_move(moves, lsn);
}

void
w2q_moves_shutdown(W2QMoves *moves)
{
	if (moves->reader)
		XLogReaderFree(moves->reader);
	moves->reader = NULL;
}
