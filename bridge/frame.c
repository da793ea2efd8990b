/*-------------------------------------------------------------------------
 *
 * frame.c
 *		Decoder for wal2queue binary frames (see plugin/FORMAT.md).
 *
 * A message is checked record by record as it is decoded: every length is
 * compared with what is left before anything is read, every varint is
 * limited to 32 bits, and every record body must be filled exactly by its
 * fields.  Errors name the record kind and the offset of the record in the
 * message.  Value indexes in errors are 0-based column positions.
 *
 * Nothing is copied: strings and values handed to the callbacks point into
 * the message.  The relation, column and value arrays live in the decoder
 * and only ever grow, so a decoder that has seen a message once decodes
 * another like it without allocating.
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

#define MAGIC_LEN		4
#define UV32_MAX_BYTES	5
#define MIN_COL_BYTES	2		/* an empty name and a kind */

#define INSERT_FLAGS	0x03	/* key, target */
#define MESSAGE_FLAGS	0x01	/* key */

/* one record being read */
typedef struct Cursor
{
	const unsigned char *p;		/* the record body (or its header) */
	uint32_t	len;
	uint32_t	pos;
	char		kind;
	size_t		offset;			/* of the record in the message */
	const char *scope;			/* "record" or "message", for errors */
	char	   *err;
	size_t		errlen;
} Cursor;

static void set_error(char *err, size_t errlen, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
static int	rec_error(Cursor *c, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));

static void
set_error(char *err, size_t errlen, const char *fmt,...)
{
	va_list		ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* 'I', or 0x00 for a kind that does not print well */
static const char *
kind_str(char kind, char *buf, size_t buflen)
{
	unsigned char k = (unsigned char) kind;

	if (k > 0x20 && k < 0x7f && k != '\'' && k != '\\')
		snprintf(buf, buflen, "'%c'", (char) k);
	else
		snprintf(buf, buflen, "0x%02x", (unsigned int) k);
	return buf;
}

/* "record 'I' at offset 37: " followed by the message; returns FRAME_MALFORMED */
static int
rec_error(Cursor *c, const char *fmt,...)
{
	va_list		ap;
	char		kb[8];
	int			n;

	if (c->err == NULL || c->errlen == 0)
		return FRAME_MALFORMED;
	n = snprintf(c->err, c->errlen, "record %s at offset %zu: ",
				 kind_str(c->kind, kb, sizeof(kb)), c->offset);
	if (n < 0 || (size_t) n >= c->errlen)
		return FRAME_MALFORMED;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - n, fmt, ap);
	va_end(ap);
	return FRAME_MALFORMED;
}

/*
 * The name of a field for an error: what is a format that may use idx
 * (e.g. "value %u"), or not use it at all.
 */
static int
field_error(Cursor *c, const char *what, uint32_t idx, const char *problem)
{
	char		name[64];

	snprintf(name, sizeof(name), what, idx);
	return rec_error(c, "%s %s", name, problem);
}

static int
need(Cursor *c, uint32_t n, const char *what, uint32_t idx)
{
	char		problem[48];

	if (c->len - c->pos >= n)
		return FRAME_OK;
	snprintf(problem, sizeof(problem), "runs past the end of the %s",
			 c->scope);
	return field_error(c, what, idx, problem);
}

static int
rd_u8(Cursor *c, const char *what, uint8_t *out)
{
	if (need(c, 1, what, 0) != FRAME_OK)
		return FRAME_MALFORMED;
	*out = c->p[c->pos++];
	return FRAME_OK;
}

static int
rd_u32(Cursor *c, const char *what, uint32_t *out)
{
	const unsigned char *b;

	if (need(c, 4, what, 0) != FRAME_OK)
		return FRAME_MALFORMED;
	b = c->p + c->pos;
	*out = ((uint32_t) b[0] << 24) | ((uint32_t) b[1] << 16) |
		((uint32_t) b[2] << 8) | (uint32_t) b[3];
	c->pos += 4;
	return FRAME_OK;
}

static int
rd_u64(Cursor *c, const char *what, uint64_t *out)
{
	uint32_t	hi;
	uint32_t	lo;

	if (need(c, 8, what, 0) != FRAME_OK)
		return FRAME_MALFORMED;
	(void) rd_u32(c, what, &hi);
	(void) rd_u32(c, what, &lo);
	*out = ((uint64_t) hi << 32) | lo;
	return FRAME_OK;
}

/* an unsigned LEB128 varint that must fit 32 bits */
static int
rd_uv(Cursor *c, const char *what, uint32_t idx, uint32_t *out)
{
	uint32_t	v = 0;
	int			i;

	for (i = 0; i < UV32_MAX_BYTES; i++)
	{
		unsigned char b;

		if (need(c, 1, what, idx) != FRAME_OK)
			return FRAME_MALFORMED;
		b = c->p[c->pos++];
		if (i == UV32_MAX_BYTES - 1 && (b & 0x80))
			return field_error(c, what, idx, "varint too long");
		if (i == UV32_MAX_BYTES - 1 && b > 0x0F)
			return field_error(c, what, idx, "does not fit in 32 bits");
		v |= (uint32_t) (b & 0x7F) << (7 * i);
		if ((b & 0x80) == 0)
			break;
	}
	*out = v;
	return FRAME_OK;
}

/* a str: uv length, then the bytes (pointed to, not copied) */
static int
rd_str(Cursor *c, const char *what, uint32_t idx, FrameBytes *out)
{
	uint32_t	n;

	if (rd_uv(c, what, idx, &n) != FRAME_OK ||
		need(c, n, what, idx) != FRAME_OK)
		return FRAME_MALFORMED;
	out->data = (const char *) c->p + c->pos;
	out->len = n;
	c->pos += n;
	return FRAME_OK;
}

/* a value: uv n, then n - 1 bytes; n = 0 is NULL */
static int
rd_value(Cursor *c, uint32_t idx, FrameValue *out)
{
	uint32_t	n;

	if (rd_uv(c, "value %u", idx, &n) != FRAME_OK)
		return FRAME_MALFORMED;
	out->isnull = (n == 0);
	if (n == 0)
	{
		out->data.data = NULL;
		out->data.len = 0;
		return FRAME_OK;
	}
	if (need(c, n - 1, "value %u", idx) != FRAME_OK)
		return FRAME_MALFORMED;
	out->data.data = (const char *) c->p + c->pos;
	out->data.len = n - 1;
	c->pos += n - 1;
	return FRAME_OK;
}

static int
end_of_record(Cursor *c)
{
	if (c->pos == c->len)
		return FRAME_OK;
	return rec_error(c, "trailing bytes in record (%u)", c->len - c->pos);
}

static int
kind_error(Cursor *c, const char *problem)
{
	char		kb[8];

	return rec_error(c, "%s %s", kind_str(c->kind, kb, sizeof(kb)), problem);
}

/*
 * Make room for need elements of elem bytes in an array of *cap; returns
 * the (possibly moved) array, or NULL with the old one untouched.
 */
static void *
grow_array(void *ptr, uint32_t *cap, size_t need, size_t elem)
{
	size_t		newcap;
	void	   *p;

	if (need <= *cap)
		return ptr;
	if (need > UINT32_MAX / 2)
		return NULL;
	newcap = *cap ? *cap : 16;
	while (newcap < need)
		newcap *= 2;
	if (newcap > SIZE_MAX / elem)
		return NULL;
	p = realloc(ptr, newcap * elem);
	if (p != NULL)
		*cap = (uint32_t) newcap;
	return p;
}

/* room for one more relation of ncols columns, and for its values */
static int
reserve_relation(FrameDecoder *dec, uint32_t ncols)
{
	FrameRelation *rels;
	FrameColumn *cols;
	FrameValue *values;

	rels = grow_array(dec->rels, &dec->rels_cap, (size_t) dec->nrels + 1,
					  sizeof(FrameRelation));
	if (rels == NULL)
		return FRAME_NOMEM;
	dec->rels = rels;

	cols = grow_array(dec->cols, &dec->cols_cap,
					  (size_t) dec->cols_used + ncols, sizeof(FrameColumn));
	if (cols == NULL)
		return FRAME_NOMEM;
	if (cols != dec->cols)
	{
		uint32_t	off = 0;
		uint32_t	i;

		/* the relations' column pointers follow the storage */
		for (i = 0; i < dec->nrels; i++)
		{
			dec->rels[i].cols = cols + off;
			off += dec->rels[i].ncols;
		}
		dec->cols = cols;
	}

	values = grow_array(dec->values, &dec->values_cap, ncols,
						sizeof(FrameValue));
	if (values == NULL)
		return FRAME_NOMEM;
	dec->values = values;
	return FRAME_OK;
}

/* the latest R record of this message for relid */
static const FrameRelation *
find_relation(const FrameDecoder *dec, uint32_t relid)
{
	uint32_t	i;

	for (i = dec->nrels; i > 0; i--)
		if (dec->rels[i - 1].relid == relid)
			return &dec->rels[i - 1];
	return NULL;
}

static int
decode_begin(FrameDecoder *dec, Cursor *c, const FrameHandlers *h, void *arg)
{
	FrameTxn	txn;

	if (dec->in_txn)
		return kind_error(c, "inside a transaction");
	memset(&txn, 0, sizeof(txn));
	if (rd_u32(c, "xid", &txn.xid) != FRAME_OK ||
		rd_u64(c, "commit_lsn", &txn.commit_lsn) != FRAME_OK ||
		rd_u64(c, "end_lsn", &txn.end_lsn) != FRAME_OK ||
		rd_u64(c, "commit_time", (uint64_t *) &txn.commit_time_us) != FRAME_OK ||
		end_of_record(c) != FRAME_OK)
		return FRAME_MALFORMED;
	dec->txn = txn;
	dec->in_txn = true;
	if (h != NULL && h->begin != NULL)
		return h->begin(arg, &dec->txn);
	return FRAME_OK;
}

static int
decode_columns(Cursor *c, FrameColumn *cols, uint32_t ncols)
{
	uint32_t	i;

	for (i = 0; i < ncols; i++)
	{
		uint8_t		k;
		char		kb[8];

		if (rd_str(c, "column %u name", i, &cols[i].name) != FRAME_OK ||
			rd_u8(c, "column kind", &k) != FRAME_OK)
			return FRAME_MALFORMED;
		if (k != W2Q_KIND_NUMBER && k != W2Q_KIND_BOOL &&
			k != W2Q_KIND_JSON && k != W2Q_KIND_TEXT)
			return rec_error(c, "bad column kind %s for column %u",
							 kind_str((char) k, kb, sizeof(kb)), i);
		cols[i].kind = (char) k;
	}
	return FRAME_OK;
}

static int
decode_relation(FrameDecoder *dec, Cursor *c)
{
	FrameRelation rel;
	int			rc;

	if (!dec->in_txn)
		return kind_error(c, "outside a transaction");
	if (rd_u32(c, "relid", &rel.relid) != FRAME_OK ||
		rd_str(c, "relation name", 0, &rel.name) != FRAME_OK ||
		rd_uv(c, "ncols", 0, &rel.ncols) != FRAME_OK)
		return FRAME_MALFORMED;
	if (rel.ncols > W2Q_MAX_COLUMNS)
		return rec_error(c, "relation has %u columns (max %d)",
						 rel.ncols, W2Q_MAX_COLUMNS);
	if (rel.ncols > (c->len - c->pos) / MIN_COL_BYTES)
		return rec_error(c, "relation has %u columns but the record has only %u bytes left",
						 rel.ncols, c->len - c->pos);
	if ((rc = reserve_relation(dec, rel.ncols)) != FRAME_OK)
	{
		set_error(c->err, c->errlen, "out of memory");
		return rc;
	}
	rel.cols = dec->cols + dec->cols_used;
	if (decode_columns(c, rel.cols, rel.ncols) != FRAME_OK ||
		end_of_record(c) != FRAME_OK)
		return FRAME_MALFORMED;
	dec->rels[dec->nrels++] = rel;
	dec->cols_used += rel.ncols;
	return FRAME_OK;
}

/* seq and flags, common to I and M; counts the job */
static int
decode_job_head(FrameDecoder *dec, Cursor *c, uint8_t allowed, uint8_t *flags,
				FrameJob *job)
{
	if (rd_uv(c, "seq", 0, &job->seq) != FRAME_OK)
		return FRAME_MALFORMED;
	if (job->seq != dec->txn.njobs)
		return rec_error(c, "seq %u where %u expected",
						 job->seq, dec->txn.njobs);
	if (dec->txn.njobs == UINT32_MAX)
		return rec_error(c, "too many jobs in one transaction");
	if (rd_u8(c, "flags", flags) != FRAME_OK)
		return FRAME_MALFORMED;
	if (*flags & ~allowed)
		return rec_error(c, "flags 0x%02x unknown",
						 (unsigned int) (*flags & ~allowed));
	job->has_key = (*flags & 0x01) != 0;
	if (job->has_key && rd_str(c, "key", 0, &job->key) != FRAME_OK)
		return FRAME_MALFORMED;
	return FRAME_OK;
}

static int
decode_insert(FrameDecoder *dec, Cursor *c, const FrameHandlers *h, void *arg)
{
	FrameJob	job;
	uint32_t	relid;
	uint8_t		flags;
	uint32_t	i;

	if (!dec->in_txn)
		return kind_error(c, "outside a transaction");
	memset(&job, 0, sizeof(job));
	if (rd_u32(c, "relid", &relid) != FRAME_OK)
		return FRAME_MALFORMED;
	if ((job.rel = find_relation(dec, relid)) == NULL)
		return rec_error(c, "unknown relation %u", relid);
	if (decode_job_head(dec, c, INSERT_FLAGS, &flags, &job) != FRAME_OK)
		return FRAME_MALFORMED;
	if (flags & 0x02)
	{
		if (rd_str(c, "target", 0, &job.target) != FRAME_OK)
			return FRAME_MALFORMED;
	}
	else
		job.target = job.rel->name;
	for (i = 0; i < job.rel->ncols; i++)
		if (rd_value(c, i, &dec->values[i]) != FRAME_OK)
			return FRAME_MALFORMED;
	if (end_of_record(c) != FRAME_OK)
		return FRAME_MALFORMED;
	job.values = dec->values;
	dec->txn.njobs++;
	if (h != NULL && h->job != NULL)
		return h->job(arg, &dec->txn, &job);
	return FRAME_OK;
}

static int
decode_message(FrameDecoder *dec, Cursor *c, const FrameHandlers *h, void *arg)
{
	FrameJob	job;
	uint8_t		flags;

	if (!dec->in_txn)
		return kind_error(c, "outside a transaction");
	memset(&job, 0, sizeof(job));
	job.is_message = true;
	if (decode_job_head(dec, c, MESSAGE_FLAGS, &flags, &job) != FRAME_OK ||
		rd_str(c, "target", 0, &job.target) != FRAME_OK ||
		rd_str(c, "payload", 0, &job.payload) != FRAME_OK ||
		end_of_record(c) != FRAME_OK)
		return FRAME_MALFORMED;
	dec->txn.njobs++;
	if (h != NULL && h->job != NULL)
		return h->job(arg, &dec->txn, &job);
	return FRAME_OK;
}

static int
decode_commit(FrameDecoder *dec, Cursor *c, const FrameHandlers *h, void *arg)
{
	FrameTxn	ct;
	const FrameTxn *bt = &dec->txn;
	char		a[20];
	char		b[20];

	if (!dec->in_txn)
		return kind_error(c, "outside a transaction");
	if (rd_u32(c, "xid", &ct.xid) != FRAME_OK ||
		rd_u64(c, "commit_lsn", &ct.commit_lsn) != FRAME_OK ||
		rd_u64(c, "end_lsn", &ct.end_lsn) != FRAME_OK ||
		rd_uv(c, "njobs", 0, &ct.njobs) != FRAME_OK ||
		end_of_record(c) != FRAME_OK)
		return FRAME_MALFORMED;
	if (ct.xid != bt->xid)
		return rec_error(c, "commit xid %u does not match begin xid %u",
						 ct.xid, bt->xid);
	if (ct.commit_lsn != bt->commit_lsn)
		return rec_error(c, "commit lsn %s does not match begin lsn %s",
						 frame_lsn_str(ct.commit_lsn, a, sizeof(a)),
						 frame_lsn_str(bt->commit_lsn, b, sizeof(b)));
	if (ct.end_lsn != bt->end_lsn)
		return rec_error(c, "commit end lsn %s does not match begin end lsn %s",
						 frame_lsn_str(ct.end_lsn, a, sizeof(a)),
						 frame_lsn_str(bt->end_lsn, b, sizeof(b)));
	if (ct.njobs != bt->njobs)
		return rec_error(c, "commit says %u jobs, saw %u",
						 ct.njobs, bt->njobs);
	dec->in_txn = false;
	if (h != NULL && h->commit != NULL)
		return h->commit(arg, &dec->txn);
	return FRAME_OK;
}

static int
decode_record(FrameDecoder *dec, Cursor *c, const FrameHandlers *h, void *arg)
{
	switch (c->kind)
	{
		case 'B':
			return decode_begin(dec, c, h, arg);
		case 'R':
			return decode_relation(dec, c);
		case 'I':
			return decode_insert(dec, c, h, arg);
		case 'M':
			return decode_message(dec, c, h, arg);
		case 'C':
			return decode_commit(dec, c, h, arg);
		default:
			return rec_error(c, "unknown record kind");
	}
}

/* magic and version; FRAME_OK or FRAME_MALFORMED */
static int
check_magic(const unsigned char *m, size_t len, char *err, size_t errlen)
{
	if (len == 0)
	{
		set_error(err, errlen, "empty message");
		return FRAME_MALFORMED;
	}
	if (memcmp(m, "W2Q", len < 3 ? len : 3) != 0)
	{
		set_error(err, errlen, "bad magic");
		return FRAME_MALFORMED;
	}
	if (len < MAGIC_LEN)
	{
		set_error(err, errlen, "truncated magic (%zu of %d bytes)",
				  len, MAGIC_LEN);
		return FRAME_MALFORMED;
	}
	if (m[3] != W2Q_PROTO_VERSION)
	{
		set_error(err, errlen,
				  "unsupported protocol version %u (this bridge speaks %d)",
				  (unsigned int) m[3], W2Q_PROTO_VERSION);
		return FRAME_MALFORMED;
	}
	if (len == MAGIC_LEN)
	{
		set_error(err, errlen, "message has no records");
		return FRAME_MALFORMED;
	}
	return FRAME_OK;
}

/*
 * Read the kind and length of the record at *pos and point c at its body;
 * *pos moves past the record.
 */
static int
next_record(const unsigned char *m, size_t len, size_t *pos, Cursor *c)
{
	size_t		left;
	size_t		hdr;
	uint32_t	blen;

	c->offset = *pos;
	c->kind = (char) m[*pos];
	left = len - *pos - 1;
	c->p = m + *pos + 1;
	c->len = (uint32_t) (left < UV32_MAX_BYTES ? left : UV32_MAX_BYTES);
	c->pos = 0;
	c->scope = "message";
	if (rd_uv(c, "record length", 0, &blen) != FRAME_OK)
		return FRAME_MALFORMED;
	hdr = 1 + c->pos;
	left -= c->pos;
	if (blen > left)
		return rec_error(c, "record length %u runs past the end of the message (%zu bytes left)",
						 blen, left);
	c->p = m + *pos + hdr;
	c->len = blen;
	c->pos = 0;
	c->scope = "record";
	*pos += hdr + blen;
	return FRAME_OK;
}

void
frame_decoder_init(FrameDecoder *dec)
{
	memset(dec, 0, sizeof(*dec));
}

void
frame_decoder_reset(FrameDecoder *dec)
{
	dec->in_txn = false;
	memset(&dec->txn, 0, sizeof(dec->txn));
	dec->nrels = 0;
	dec->cols_used = 0;
}

void
frame_decoder_free(FrameDecoder *dec)
{
	free(dec->rels);
	free(dec->cols);
	free(dec->values);
	memset(dec, 0, sizeof(*dec));
}

int
frame_decode(FrameDecoder *dec, const char *msg, size_t len,
			 const FrameHandlers *h, void *arg, char *err, size_t errlen)
{
	const unsigned char *m = (const unsigned char *) msg;
	size_t		pos = MAGIC_LEN;
	bool		committed = false;
	Cursor		c;
	int			rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (check_magic(m, len, err, errlen) != FRAME_OK)
		return FRAME_MALFORMED;

	/* relations are valid until the end of the message */
	dec->nrels = 0;
	dec->cols_used = 0;

	memset(&c, 0, sizeof(c));
	c.err = err;
	c.errlen = errlen;
	while (pos < len)
	{
		if (next_record(m, len, &pos, &c) != FRAME_OK)
			return FRAME_MALFORMED;
		if (committed)
			return rec_error(&c, "follows the commit in the same message");
		if ((rc = decode_record(dec, &c, h, arg)) != FRAME_OK)
			return rc;
		committed = (c.kind == 'C');
	}
	return FRAME_OK;
}

const char *
frame_lsn_str(uint64_t lsn, char *buf, size_t buflen)
{
	if (buf == NULL || buflen == 0)
		return "";
	snprintf(buf, buflen, "%X/%X", (unsigned int) (lsn >> 32),
			 (unsigned int) lsn);
	return buf;
}
