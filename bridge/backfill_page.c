/*-------------------------------------------------------------------------
 *
 * backfill_page.c
 *		A backfill page's rows as jobs, and its cut into sink calls.
 *
 * A page is --backfill-batch rows read at once; the sink writes it in one
 * or more atomic calls, each carrying at most --backfill-page-bytes of
 * names, values and keys (a row larger than that alone), so that a page
 * of large rows never exceeds what one call may carry (Redis'
 * proto-max-bulk-len and client-query-buffer-limit, its memory).  Each
 * call records the key of its last row: a resume goes on after it.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "backfill.h"
#include "backfill_page.h"

/* a job's share of a sink call: the protocol's framing, roughly */
#define BF_JOB_OVERHEAD		64
#define BF_FIELD_OVERHEAD	16

void
bf_page_free(BfPage *p)
{
	for (int i = 0; p->keys && i < p->n; i++)
		free(p->keys[i]);
	for (int i = 0; p->poskeys && i < p->n; i++)
		free(p->poskeys[i]);
	free(p->keys);
	free(p->poskeys);
	free(p->jobs);
	free(p->values);
	rowjob_buf_free(&p->buf);
	memset(p, 0, sizeof(*p));
}

void
bf_page_key_texts(const BfTable *t, PGresult *res, int r, const char **out)
{
	for (int k = 0; k < t->nkeys; k++)
		out[k] = PQgetisnull(res, r, t->keycols[k]) ? NULL : PQgetvalue(res, r, t->keycols[k]);
}

bool
bf_page_build(const BfTable *t, PGresult *res, uint64_t first_seq, BfPage *p)
{
	int			nc = (int) t->ncols;

	p->n = PQntuples(res);
	p->jobs = calloc(p->n + 1, sizeof(FrameJob));
	p->values = calloc((size_t) p->n * nc + 1, sizeof(FrameValue));
	p->keys = calloc(p->n + 1, sizeof(char *));
	p->poskeys = calloc(p->n + 1, sizeof(char *));
	if (!p->jobs || !p->values || !p->keys || !p->poskeys)
		return false;
	for (int r = 0; r < p->n; r++)
	{
		FrameJob   *j = &p->jobs[r];
		FrameValue *v = &p->values[(size_t) r * nc];
		const char *kt[W2Q_MAX_COLUMNS];

		bf_page_key_texts(t, res, r, kt);
		if ((p->poskeys[r] = backfill_key_format(kt, t->nkeys)) == NULL)
			return false;

		for (int c = 0; c < nc; c++)
		{
			v[c].isnull = PQgetisnull(res, r, c);
			v[c].data.data = PQgetvalue(res, r, c);
			v[c].data.len = (uint32_t) PQgetlength(res, r, c);
		}
		if (rowjob_build(&t->rr, v, &p->buf, j) != FRAME_OK)
			return false;
		j->seq = (uint32_t) (first_seq + r);
		/* a composite key lives in buf until the next row: keep a copy */
		if (j->has_key && p->buf.data && j->key.data == p->buf.data)
		{
			if ((p->keys[r] = malloc(j->key.len + 1)) == NULL)
				return false;
			memcpy(p->keys[r], j->key.data, j->key.len);
			p->keys[r][j->key.len] = '\0';
			j->key.data = p->keys[r];
		}
	}
	return true;
}

static size_t
job_bytes(const FrameJob *j)
{
	size_t		n = BF_JOB_OVERHEAD + j->target.len + (j->has_key ? j->key.len : 0);

	for (uint32_t c = 0; c < j->rel->ncols; c++)
		if (!j->values[c].isnull)
			n += BF_FIELD_OVERHEAD + j->rel->cols[c].name.len + j->values[c].data.len;
	return n;
}

int
bf_page_cut(const BfPage *p, int from, size_t max_bytes)
{
	size_t		total = job_bytes(&p->jobs[from]);
	int			end = from + 1;

	while (end < p->n && total + job_bytes(&p->jobs[end]) <= max_bytes)
		total += job_bytes(&p->jobs[end++]);
	return end;
}
