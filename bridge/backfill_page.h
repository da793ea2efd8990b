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
	char	  **texts;			/* values converted to UTF-8 (BF_HEX_ALIAS) */
	size_t		ntexts;
	/* claim checks (bf_page_claim_checks), allocated when one is made */
	FrameValue *ccvalues;		/* per job: the claim check's 8 values */
	char	   *cctexts;		/* per job: its seq and size texts */
	char	   *cckeycols;		/* the key columns, a JSON array */
	size_t		forced_size;	/* not 0: every row a claim check of this
								 * size (a row whose text the server could
								 * not build, backfill_oversize.c) */
} BfPage;

/* a claim check's size when the server could not build the row's text */
#define BF_OVERSIZE_BYTES ((size_t) 1073741823)

/* res's rows as jobs, as the stream would carry them; seqs from first_seq */
extern bool bf_page_build(const BfTable *t, PGresult *res, uint64_t first_seq, BfPage *p);
extern void bf_page_free(BfPage *p);

/*
 * Replace every job whose text (its values, names, key and target) is over
 * max_job_bytes by its claim check, as the plugin does with a row over its
 * max-job-bytes (plugin/FORMAT.md, "Claim checks"): a row of
 * wal2queue.claim_check naming the table, key, lsn (the backfill's
 * consistent point, "%X/%X", as the entries' _lsn) and seq, with the same
 * target and key.  The text size is the estimate of the job's size.
 * Returns the number of claim checks made, or -1 when out of memory.
 */
extern int	bf_page_claim_checks(const BfTable *t, BfPage *p, size_t max_job_bytes,
								 const char *lsn);

/* the texts of row r's key columns (NULL for SQL NULL) */
extern void bf_page_key_texts(const BfTable *t, PGresult *res, int r, const char **out);

/*
 * The end (exclusive) of the sink call that starts at job from: as many
 * jobs as fit in max_bytes (their names, values and keys), at least one.
 */
extern int	bf_page_cut(const BfPage *p, int from, size_t max_bytes);

#endif							/* W2Q_BACKFILL_PAGE_H */
