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
 * A row larger than the plugin's max-job-bytes is sent as its claim check,
 * as the stream would carry it.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backfill.h"
#include "backfill_page.h"
#include "encoding.h"
#include "hex.h"

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
	for (size_t i = 0; p->texts && i < p->ntexts; i++)
		free(p->texts[i]);
	free(p->texts);
	free(p->keys);
	free(p->poskeys);
	free(p->jobs);
	free(p->values);
	free(p->ccvalues);
	free(p->cctexts);
	free(p->cckeycols);
	rowjob_buf_free(&p->buf);
	memset(p, 0, sizeof(*p));
}

void
bf_page_key_texts(const BfTable *t, PGresult *res, int r, const char **out)
{
	for (int k = 0; k < t->nkeys; k++)
		out[k] = PQgetisnull(res, r, t->keycols[k]) ? NULL : PQgetvalue(res, r, t->keycols[k]);
}

static bool page_rows(const BfTable *t, PGresult *res, uint64_t first_seq, BfPage *p,
					  const bool *raw, EncodingConv *ec);

/*
 * The columns read as the hex of their bytes in the database's encoding
 * (BF_HEX_ALIAS "ENCODING", backfill_sql.c select_item()) into raw[], and
 * the converter from that encoding; false if there is none to convert.
 */
static bool
raw_columns(PGresult *res, int nc, bool *raw, EncodingConv *ec)
{
	size_t		plen = strlen(BF_HEX_ALIAS);
	bool		any = false;

	for (int c = 0; c < nc; c++)
	{
		const char *f = PQfname(res, c);

		raw[c] = f != NULL && strncmp(f, BF_HEX_ALIAS, plen) == 0;
		if (raw[c] && !any)
		{
			char		err[256];

			if (encoding_open(ec, f + plen, err, sizeof(err)) != 0)
				encoding_open(ec, NULL, NULL, 0);	/* checked before the read */
			any = true;
		}
	}
	return any;
}

/* a character that became U+FFFD was warned of (bridge/encoding.h) */
static bool unconvertible_warned = false;

/* hex of the database's bytes as UTF-8 (U+FFFD for what UTF-8 lacks) */
static char *
raw_to_utf8(EncodingConv *ec, const char *hex, size_t hexlen, size_t *len)
{
	char	   *bytes = malloc(hexlen / 2 + 1);
	char	   *out;

	if (bytes == NULL)
		return NULL;
	for (size_t i = 0; i + 1 < hexlen; i += 2)
		bytes[i / 2] = (char) (hex_digit(hex[i]) * 16 + hex_digit(hex[i + 1]));
	out = encoding_to_utf8(ec, bytes, hexlen / 2, len);
	free(bytes);
	return out;
}

bool
bf_page_build(const BfTable *t, PGresult *res, uint64_t first_seq, BfPage *p)
{
	int			nc = (int) t->ncols;
	bool		raw[W2Q_MAX_COLUMNS + 1];
	EncodingConv ec;
	bool		ok = true;
	int			nf = nc < PQnfields(res) ? nc : PQnfields(res);
	bool		any;

	memset(raw, 0, sizeof(raw));
	any = raw_columns(res, nf < W2Q_MAX_COLUMNS ? nf : W2Q_MAX_COLUMNS, raw, &ec);
	if (any)
		ec.warned = unconvertible_warned;	/* once per process, not per page */

	if (any && (p->texts = calloc((size_t) PQntuples(res) * nc + 1, sizeof(char *))) == NULL)
		ok = false;
	ok = ok && page_rows(t, res, first_seq, p, any ? raw : NULL, &ec);
	if (any)
	{
		unconvertible_warned = unconvertible_warned || ec.warned;
		encoding_close(&ec);
	}
	return ok;
}

static bool
page_rows(const BfTable *t, PGresult *res, uint64_t first_seq, BfPage *p, const bool *raw,
		  EncodingConv *ec)
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
			if (raw && raw[c] && !v[c].isnull)
			{
				size_t		len;
				char	   *u = raw_to_utf8(ec, v[c].data.data, v[c].data.len, &len);

				if (u == NULL)
					return false;
				encoding_warn_unconvertible(ec, "a backfilled value of table", t->name,
											strlen(t->name));
				p->texts[p->ntexts++] = u;
				v[c].data.data = u;
				v[c].data.len = (uint32_t) len;
			}
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

/* the synthetic relation of claim checks (plugin/job.c: claim_relation) */
#define CC_NCOLS 8
#define CC_TEXTS 48				/* per job: seq and size, 24 bytes each */

static const FrameColumn cc_cols[CC_NCOLS] = {
	{{"wal2queue_claim_check", 21}, W2Q_KIND_BOOL},
	{{"kind", 4}, W2Q_KIND_TEXT},
	{{"table", 5}, W2Q_KIND_TEXT},
	{{"key", 3}, W2Q_KIND_TEXT},
	{{"key_columns", 11}, W2Q_KIND_JSON},
	{{"lsn", 3}, W2Q_KIND_TEXT},
	{{"seq", 3}, W2Q_KIND_NUMBER},
	{{"size", 4}, W2Q_KIND_NUMBER},
};
static const FrameRelation cc_rel = {0, {"wal2queue.claim_check", 21}, CC_NCOLS,
(FrameColumn *) cc_cols};

static size_t
text_bytes(const FrameJob *j)
{
	size_t		n = j->target.len + (j->has_key ? j->key.len : 0);

	for (uint32_t c = 0; c < j->rel->ncols; c++)
		if (!j->values[c].isnull)
			n += j->rel->cols[c].name.len + j->values[c].data.len;
	return n;
}

/* the job key's column names as a JSON array, ["id"] */
static char *
key_columns(const BfTable *t)
{
	const char *names[W2Q_MAX_COLUMNS];
	uint32_t	n = 0;
	char	   *json;

	for (uint32_t k = 0; k < t->rr.nkeys && k < W2Q_MAX_COLUMNS; k++)
		names[n++] = t->colnames[t->rr.keys[k]];
	json = backfill_key_format(names, (int) n);
	return json;
}

static void
put(FrameValue *v, const char *text)
{
	v->isnull = text == NULL;
	v->data.data = text ? text : "";
	v->data.len = text ? (uint32_t) strlen(text) : 0;
}

int
bf_page_claim_checks(const BfTable *t, BfPage *p, size_t max_job_bytes, const char *lsn)
{
	int			made = 0;

	for (int r = 0; max_job_bytes > 0 && r < p->n; r++)
	{
		FrameJob   *j = &p->jobs[r];
		size_t		size = p->forced_size ? p->forced_size : text_bytes(j);
		FrameValue *v;
		char	   *nums;

		if (size <= max_job_bytes)
			continue;
		if (p->ccvalues == NULL &&
			((p->ccvalues = calloc((size_t) p->n * CC_NCOLS, sizeof(FrameValue))) == NULL ||
			 (p->cctexts = calloc((size_t) p->n, CC_TEXTS)) == NULL ||
			 (p->cckeycols = key_columns(t)) == NULL))
			return -1;
		v = &p->ccvalues[(size_t) r * CC_NCOLS];
		nums = p->cctexts + (size_t) r * CC_TEXTS;
		/* a key or route value that alone takes half the limit: left out */
		if ((j->has_key ? j->key.len : 0) +
			(j->target.data != j->rel->name.data ? j->target.len + 2 : 0) > max_job_bytes / 2)
		{
			j->has_key = false;
			j->target = j->rel->name;
		}
		snprintf(nums, 24, "%u", (unsigned) j->seq);
		snprintf(nums + 24, 24, "%zu", size);
		put(&v[0], "t");
		put(&v[1], "row");
		put(&v[2], t->name);
		v[3].isnull = !j->has_key;
		v[3].data = j->has_key ? j->key : (FrameBytes) {"", 0};
		put(&v[4], p->cckeycols);
		put(&v[5], lsn);
		put(&v[6], nums);
		put(&v[7], nums + 24);
		j->rel = &cc_rel;
		j->values = v;
		made++;
	}
	return made;
}
