/*-------------------------------------------------------------------------
 *
 * backfill_rewrite.h
 *		A table rewritten under a backfill (see backfill_rewrite.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_BACKFILL_REWRITE_H
#define W2Q_BACKFILL_REWRITE_H

#include "backfill_sql.h"

/* bf_storage_check's verdicts (else -1: an error in err) */
#define BF_STORAGE_SAME			0	/* read it as usual */
#define BF_STORAGE_REWRITTEN	1	/* since the saved snapshot: the filter
									 * would skip rows the snapshot saw */
#define BF_STORAGE_RETRY		2	/* while this snapshot is open: it sees
									 * none of the table's rows */

/*
 * The storage of the selected tables' leaves in the reader's snapshot, as
 * the state records it ("oid:relfilenode:root" words, root the selected
 * table's oid); malloc'd, or NULL with a
 * message in err.
 */
extern char *bf_storage_read(PGconn *conn, const BfTables *ts, char *err, size_t errlen);

/*
 * Lock t (ACCESS SHARE) and check its storage: against saved (the state's
 * words) when snapshot (the saved snapshot, a resume) is not NULL, and
 * against a rewrite since the reader's snapshot was taken.  detail names
 * the leaf and its relfilenodes.
 */
extern int	bf_storage_check(PGconn *conn, const BfTable *t, const char *saved,
							 const char *snapshot, char *detail, size_t dlen,
							 char *err, size_t errlen);

/*
 * A recorded leaf of a table not finished yet (its root not in done, "oid
 * oid ...") that still
 * exists but is under no selected table (a partition detached, a table
 * renamed away): its name, "" if none, malloc'd; NULL with a message in err.
 * *dropped: the oids of those dropped since, space separated ("" none),
 * malloc'd.
 */
extern char *bf_storage_missing(PGconn *conn, const BfTables *ts, const char *done,
								const char *saved, char **dropped, char *err,
								size_t errlen);

#endif							/* W2Q_BACKFILL_REWRITE_H */
