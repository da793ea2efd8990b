/*-------------------------------------------------------------------------
 *
 * backfill_page.h
 *		A backfill page's rows as jobs, and its cut into sink calls of a
 *		bounded size (see backfill_page.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_BACKFILL_PAGE_H
#define W2Q_BACKFILL_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include "backfill_sql.h"

/* jobs of one page: values point into the page's PGresult */
typedef struct BfPage
{
	FrameJob   *jobs;
	FrameValue *values;
	char	  **keys;			/* composite keys, copied out of buf */
	char	  **poskeys;		/* each row's position key (the state's
								 * job_keys: Kafka's backfill header) */
	RowjobBuf	buf;
	int			n;
} BfPage;

/* res's rows as jobs, as the stream would carry them; seqs from first_seq */
extern bool bf_page_build(const BfTable *t, PGresult *res, uint64_t first_seq, BfPage *p);
extern void bf_page_free(BfPage *p);

/* the texts of row r's key columns (NULL for SQL NULL) */
extern void bf_page_key_texts(const BfTable *t, PGresult *res, int r, const char **out);

/*
 * The end (exclusive) of the sink call that starts at job from: as many
 * jobs as fit in max_bytes (their names, values and keys), at least one.
 */
extern int	bf_page_cut(const BfPage *p, int from, size_t max_bytes);

#endif							/* W2Q_BACKFILL_PAGE_H */
