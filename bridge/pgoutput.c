/*-------------------------------------------------------------------------
 *
 * pgoutput.c
 *		Reader of pgoutput's protocol (see pgoutput.h, and "Logical
 *		Replication Message Formats" in the PostgreSQL documentation).
 *
 * Each XLogData carries one pgoutput message.  Every field is checked
 * against what is left of the message before it is read, strings must end
 * inside it, and every message must be filled exactly; errors name the
 * message type and the byte offset of the field.  Update, Delete, Truncate,
 * Origin and Type messages are checked for their place and skipped.
 *
 * Memory: one entry per relation described (replaced when a Relation
 * message describes it again, as after ALTER TABLE), one value array and
 * one key buffer that only grow.  Values and message fields handed to the
 * callbacks point into the message; nothing is allocated per job.
 *
 * Like the plugin, a transaction's begin is handed on only with its first
 * job, so transactions without jobs (other tables, other prefixes, only
 * updates) produce no callbacks at all and are confirmed by keepalives.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "lsn.h"
#include "pgoutput.h"

#define MESSAGE_PREFIX	"wal2queue"
#define PG_EPOCH_OFFSET_US INT64_C(946684800000000)
#define RELATION_KEY_FLAG 0x01

/* the message being read */
typedef struct Reader
{
	const unsigned char *p;
	size_t		len;
	size_t		pos;
	char		type;
	char	   *err;
	size_t		errlen;
} Reader;

static int	rd_error(Reader *r, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));

/* "pgoutput 'I' message at byte 9: " and the rest; FRAME_MALFORMED */
static int
rd_error(Reader *r, const char *fmt,...)
{
	char		msg[256];
	char		kind[8];
	va_list		ap;
	unsigned char t = (unsigned char) r->type;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (t > 0x20 && t < 0x7f && t != '\'' && t != '\\')
		snprintf(kind, sizeof(kind), "'%c'", (char) t);
	else
		snprintf(kind, sizeof(kind), "0x%02x", (unsigned int) t);
	return errbuf_set(r->err, r->errlen, FRAME_MALFORMED,
					  "pgoutput %s message at byte %zu: %s", kind, r->pos, msg);
}

static int
need(Reader *r, size_t n, const char *what)
{
	if (r->len - r->pos >= n)
		return FRAME_OK;
	return rd_error(r, "%s runs past the end of the message", what);
}

static int
rd_u8(Reader *r, const char *what, uint8_t *out)
{
	if (need(r, 1, what) != FRAME_OK)
		return FRAME_MALFORMED;
	*out = r->p[r->pos++];
	return FRAME_OK;
}

static int
rd_u16(Reader *r, const char *what, uint16_t *out)
{
	if (need(r, 2, what) != FRAME_OK)
		return FRAME_MALFORMED;
	*out = (uint16_t) ((r->p[r->pos] << 8) | r->p[r->pos + 1]);
	r->pos += 2;
	return FRAME_OK;
}

static int
rd_u32(Reader *r, const char *what, uint32_t *out)
{
	const unsigned char *b;

	if (need(r, 4, what) != FRAME_OK)
		return FRAME_MALFORMED;
	b = r->p + r->pos;
	*out = ((uint32_t) b[0] << 24) | ((uint32_t) b[1] << 16) |
		((uint32_t) b[2] << 8) | (uint32_t) b[3];
	r->pos += 4;
	return FRAME_OK;
}

static int
rd_u64(Reader *r, const char *what, uint64_t *out)
{
	uint32_t	hi;
	uint32_t	lo;

	if (need(r, 8, what) != FRAME_OK)
		return FRAME_MALFORMED;
	(void) rd_u32(r, what, &hi);
	(void) rd_u32(r, what, &lo);
	*out = ((uint64_t) hi << 32) | lo;
	return FRAME_OK;
}

/* a zero-terminated string inside the message */
static int
rd_cstr(Reader *r, const char *what, FrameBytes *out)
{
	const unsigned char *z;

	if (need(r, 1, what) != FRAME_OK)
		return FRAME_MALFORMED;
	z = memchr(r->p + r->pos, '\0', r->len - r->pos);
	if (z == NULL)
		return rd_error(r, "%s is not terminated inside the message", what);
	out->data = (const char *) r->p + r->pos;
	out->len = (uint32_t) (z - (r->p + r->pos));
	r->pos += out->len + 1;
	return FRAME_OK;
}

static int
end_of_message(Reader *r)
{
	if (r->pos == r->len)
		return FRAME_OK;
	return rd_error(r, "%zu trailing bytes", r->len - r->pos);
}

/* make room for n elements of elem bytes in *ptr of *cap */
static bool
grow(void **ptr, uint32_t *cap, size_t n, size_t elem)
{
	size_t		newcap;
	void	   *p;

	if (n <= *cap)
		return true;
	newcap = *cap ? *cap : 8;
	while (newcap < n)
		newcap *= 2;
	if (newcap > UINT32_MAX || newcap > SIZE_MAX / elem)
		return false;
	if ((p = realloc(*ptr, newcap * elem)) == NULL)
		return false;
	*ptr = p;
	*cap = (uint32_t) newcap;
	return true;
}

static int
nomem(Reader *r)
{
	return errbuf_set(r->err, r->errlen, FRAME_NOMEM, "out of memory");
}

/* ---- relations ---- */

static PgoRelation *
find_relation(PgoDecoder *dec, uint32_t relid)
{
	uint32_t	i;

	if (dec->last < dec->nrels && dec->rels[dec->last].rel.relid == relid)
		return &dec->rels[dec->last];
	for (i = 0; i < dec->nrels; i++)
		if (dec->rels[i].rel.relid == relid)
		{
			dec->last = i;
			return &dec->rels[i];
		}
	return NULL;
}

static void
free_relation(PgoRelation *pr)
{
	free(pr->strings);
	free(pr->rel.cols);
	free(pr->keys);
	pr->strings = NULL;
	pr->rel.cols = NULL;
	pr->keys = NULL;
}

/* a column named name (as the plugin's column_index), or -1 */
static int
column_named(const FrameRelation *rel, const char *name)
{
	size_t		n = strlen(name);
	uint32_t	i;

	for (i = 0; i < rel->ncols; i++)
		if (rel->cols[i].name.len == n && memcmp(rel->cols[i].name.data, name, n) == 0)
			return (int) i;
	return -1;
}

/* the plugin's kind of a built-in type (FORMAT.md) */
static char
kind_of_builtin(uint32_t typoid)
{
	switch (typoid)
	{
		case 20:				/* int8 */
		case 21:				/* int2 */
		case 23:				/* int4 */
		case 700:				/* float4 */
		case 701:				/* float8 */
		case 1700:				/* numeric */
			return W2Q_KIND_NUMBER;
		case 16:				/* bool */
			return W2Q_KIND_BOOL;
		case 114:				/* json */
		case 3802:				/* jsonb */
			return W2Q_KIND_JSON;
		default:
			return W2Q_KIND_TEXT;
	}
}

/* a base type's kind by name (pg_catalog), as a Type message names it */
static char
kind_of_name(FrameBytes nsp, FrameBytes name)
{
	static const struct
	{
		const char *name;
		char		kind;
	}			kinds[] = {
		{"int2", W2Q_KIND_NUMBER}, {"int4", W2Q_KIND_NUMBER}, {"int8", W2Q_KIND_NUMBER},
		{"float4", W2Q_KIND_NUMBER}, {"float8", W2Q_KIND_NUMBER},
		{"numeric", W2Q_KIND_NUMBER}, {"bool", W2Q_KIND_BOOL},
		{"json", W2Q_KIND_JSON}, {"jsonb", W2Q_KIND_JSON}
	};
	size_t		i;

	if (nsp.len != 0)
		return W2Q_KIND_TEXT;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strlen(kinds[i].name) == name.len &&
			memcmp(kinds[i].name, name.data, name.len) == 0)
			return kinds[i].kind;
	return W2Q_KIND_TEXT;
}

/*
 * A column's kind: built-in types by OID; other OIDs (domains) by the Type
 * message pgoutput sends before the relation, which names the domain's
 * base type (logicalrep_write_typ), so domains are typed as the plugin
 * types them (getBaseType).
 */
static char
kind_of_type(const PgoDecoder *dec, uint32_t typoid)
{
	uint32_t	i;

	for (i = 0; i < dec->ntypes; i++)
		if (dec->type_oids[i] == typoid)
			return dec->type_kinds[i];
	return kind_of_builtin(typoid);
}

/* the catalog's primary key of relid, in index order; false if unknown */
static bool
catalog_key(PgoRelation *pr, const PgoKeys *keys)
{
	uint32_t	i;
	uint32_t	j;

	for (i = 0; keys && i < keys->n; i++)
	{
		const char *name = keys->names[i];

		if (keys->relids[i] != pr->rel.relid)
			continue;
		for (j = 0; j < keys->ncols[i]; j++, name += strlen(name) + 1)
		{
			int			c = column_named(&pr->rel, name);

			if (c >= 0)
				pr->keys[pr->nkeys++] = (uint32_t) c;
		}
		return true;
	}
	return false;
}

/* target, key and route of a freshly described relation */
static void
select_columns(PgoRelation *pr, const PgoConfig *cfg, const uint8_t *flags,
			   const char *schema, const char *table)
{
	uint32_t	i;
	int			k;

	/* as the plugin: without --tables, every table but the extension's */
	pr->include = tablematch_match(cfg ? &cfg->tables : NULL, schema, table) &&
		((cfg && cfg->tables.n > 0) || strcmp(schema, "wal2queue") != 0);
	pr->route = cfg && cfg->route_column ? column_named(&pr->rel, cfg->route_column) : -1;
	pr->nkeys = 0;
	if (cfg && cfg->key_column && (k = column_named(&pr->rel, cfg->key_column)) >= 0)
	{
		pr->keys[pr->nkeys++] = (uint32_t) k;
		return;
	}
	if (cfg && catalog_key(pr, cfg->keys))
		return;
	/* the replica identity; FULL flags every column, which is no key */
	if (pr->replident == 'f' || pr->replident == 'n')
		return;
	for (i = 0; i < pr->rel.ncols; i++)
		if (flags[i] & RELATION_KEY_FLAG)
			pr->keys[pr->nkeys++] = i;
}

/*
 * Read the columns of a Relation message into pr (strings copied into
 * pr->strings, laid out as "schema.table\0schema\0table\0col\0col\0...").
 */
static int
read_columns(Reader *r, PgoRelation *pr, FrameBytes nsp, FrameBytes name,
			 const PgoDecoder *dec)
{
	size_t		start = r->pos;
	size_t		total;
	uint32_t	i;
	uint8_t    *flags;
	char	   *s;
	uint32_t	typoid;
	uint32_t	typmod;
	FrameBytes	col;

	/* first pass: check, and size the strings */
	total = 2 * ((size_t) nsp.len + name.len) + 4 + (nsp.len == 0 ? 20 : 0);
	for (i = 0; i < pr->rel.ncols; i++)
	{
		uint8_t		f;

		if (rd_u8(r, "column flags", &f) != FRAME_OK ||
			rd_cstr(r, "column name", &col) != FRAME_OK ||
			rd_u32(r, "column type", &typoid) != FRAME_OK ||
			rd_u32(r, "column typmod", &typmod) != FRAME_OK)
			return FRAME_MALFORMED;
		if (f & ~RELATION_KEY_FLAG)
			return rd_error(r, "column %u has unknown flags 0x%02x", i, (unsigned int) f);
		total += col.len + 1;
	}
	if (end_of_message(r) != FRAME_OK)
		return FRAME_MALFORMED;

	pr->strings = malloc(total);
	pr->rel.cols = calloc(pr->rel.ncols ? pr->rel.ncols : 1, sizeof(FrameColumn));
	pr->keys = calloc(pr->rel.ncols ? pr->rel.ncols : 1, sizeof(uint32_t));
	flags = calloc(pr->rel.ncols ? pr->rel.ncols : 1, 1);
	if (pr->strings == NULL || pr->rel.cols == NULL || pr->keys == NULL || flags == NULL)
	{
		free(flags);
		return nomem(r);
	}
	s = pr->strings;
	/* pgoutput sends an empty namespace for pg_catalog */
	s += sprintf(s, "%.*s.%.*s", nsp.len ? (int) nsp.len : 10,
				 nsp.len ? nsp.data : "pg_catalog", (int) name.len, name.data) + 1;
	pr->rel.name.data = pr->strings;
	pr->rel.name.len = (uint32_t) strlen(pr->strings);
	{
		const char *schema = s;
		const char *table;

		s += sprintf(s, "%.*s", nsp.len ? (int) nsp.len : 10,
					 nsp.len ? nsp.data : "pg_catalog") + 1;
		table = s;
		s += sprintf(s, "%.*s", (int) name.len, name.data) + 1;

		/* second pass: copy */
		r->pos = start;
		for (i = 0; i < pr->rel.ncols; i++)
		{
			(void) rd_u8(r, "column flags", &flags[i]);
			(void) rd_cstr(r, "column name", &col);
			(void) rd_u32(r, "column type", &typoid);
			(void) rd_u32(r, "column typmod", &typmod);
			memcpy(s, col.data, col.len);
			s[col.len] = '\0';
			pr->rel.cols[i].name.data = s;
			pr->rel.cols[i].name.len = col.len;
			pr->rel.cols[i].kind = kind_of_type(dec, typoid);
			s += col.len + 1;
		}
		select_columns(pr, dec->cfg, flags, schema, table);
	}
	free(flags);
	return FRAME_OK;
}

static int
decode_relation(PgoDecoder *dec, Reader *r)
{
	PgoRelation fresh;
	PgoRelation *pr;
	FrameBytes	nsp;
	FrameBytes	name;
	uint16_t	ncols;
	uint8_t		ident;
	int			rc;

	memset(&fresh, 0, sizeof(fresh));
	if (rd_u32(r, "relid", &fresh.rel.relid) != FRAME_OK ||
		rd_cstr(r, "namespace", &nsp) != FRAME_OK ||
		rd_cstr(r, "relation name", &name) != FRAME_OK ||
		rd_u8(r, "replica identity", &ident) != FRAME_OK ||
		rd_u16(r, "ncols", &ncols) != FRAME_OK)
		return FRAME_MALFORMED;
	if (ident != 'd' && ident != 'n' && ident != 'f' && ident != 'i')
		return rd_error(r, "unknown replica identity 0x%02x", (unsigned int) ident);
	if (name.len == 0)
		return rd_error(r, "empty relation name");
	if (ncols > W2Q_MAX_COLUMNS)
		return rd_error(r, "relation has %u columns (max %d)", ncols, W2Q_MAX_COLUMNS);
	if ((size_t) ncols * 10 > r->len - r->pos)
		return rd_error(r, "relation has %u columns but the message has only %zu bytes left",
						ncols, r->len - r->pos);
	fresh.replident = (char) ident;
	fresh.rel.ncols = ncols;
	if ((rc = read_columns(r, &fresh, nsp, name, dec)) != FRAME_OK)
	{
		free_relation(&fresh);
		return rc;
	}
	if (!grow((void **) &dec->values, &dec->values_cap, ncols, sizeof(FrameValue)))
	{
		free_relation(&fresh);
		return nomem(r);
	}
	if ((pr = find_relation(dec, fresh.rel.relid)) != NULL)
		free_relation(pr);		/* described again: ALTER TABLE */
	else
	{
		if (dec->nrels >= PGO_MAX_RELATIONS)
		{
			free_relation(&fresh);
			return rd_error(r, "more than %d relations described", PGO_MAX_RELATIONS);
		}
		if (!grow((void **) &dec->rels, &dec->rels_cap, (size_t) dec->nrels + 1,
				  sizeof(PgoRelation)))
		{
			free_relation(&fresh);
			return nomem(r);
		}
		pr = &dec->rels[dec->nrels++];
	}
	*pr = fresh;
	return FRAME_OK;
}

/* ---- transactions ---- */

static int
decode_begin(PgoDecoder *dec, Reader *r)
{
	FrameTxn	txn;
	uint64_t	ts;

	if (dec->in_txn)
		return rd_error(r, "begin inside a transaction");
	memset(&txn, 0, sizeof(txn));
	if (rd_u64(r, "final lsn", &txn.commit_lsn) != FRAME_OK ||
		rd_u64(r, "commit time", &ts) != FRAME_OK ||
		rd_u32(r, "xid", &txn.xid) != FRAME_OK ||
		end_of_message(r) != FRAME_OK)
		return FRAME_MALFORMED;
	txn.commit_time_us = (int64_t) ts + PG_EPOCH_OFFSET_US;
	/* the end LSN comes with the commit; past commit_lsn is enough till then */
	txn.end_lsn = txn.commit_lsn + 1;
	dec->txn = txn;
	dec->in_txn = true;
	dec->begun = false;
	return FRAME_OK;
}

static int
decode_commit(PgoDecoder *dec, Reader *r, const FrameHandlers *h, void *arg)
{
	uint8_t		flags;
	uint64_t	commit_lsn;
	uint64_t	end_lsn;
	uint64_t	ts;
	char		a[LSN_STRLEN];
	char		b[LSN_STRLEN];

	if (!dec->in_txn)
		return rd_error(r, "commit outside a transaction");
	if (rd_u8(r, "flags", &flags) != FRAME_OK ||
		rd_u64(r, "commit lsn", &commit_lsn) != FRAME_OK ||
		rd_u64(r, "end lsn", &end_lsn) != FRAME_OK ||
		rd_u64(r, "commit time", &ts) != FRAME_OK ||
		end_of_message(r) != FRAME_OK)
		return FRAME_MALFORMED;
	if (flags != 0)
		return rd_error(r, "unknown commit flags 0x%02x", (unsigned int) flags);
	if (commit_lsn != dec->txn.commit_lsn)
		return rd_error(r, "commit lsn %s does not match begin lsn %s",
						lsn_format(commit_lsn, a, sizeof(a)),
						lsn_format(dec->txn.commit_lsn, b, sizeof(b)));
	if (end_lsn <= commit_lsn)
		return rd_error(r, "end lsn %s is not past commit lsn %s",
						lsn_format(end_lsn, a, sizeof(a)),
						lsn_format(commit_lsn, b, sizeof(b)));
	dec->in_txn = false;
	if (!dec->begun)
		return FRAME_OK;		/* no job: nothing to hand on */
	dec->begun = false;
	dec->txn.end_lsn = end_lsn;
	if (h != NULL && h->commit != NULL)
		return h->commit(arg, &dec->txn);
	return FRAME_OK;
}

/* number the job and, for the first, hand on the begin */
static int
start_job(PgoDecoder *dec, Reader *r, FrameJob *job, const FrameHandlers *h,
		  void *arg)
{
	int			rc;

	if (dec->txn.njobs == UINT32_MAX)
		return rd_error(r, "too many jobs in one transaction");
	job->seq = dec->txn.njobs;
	if (!dec->begun)
	{
		dec->begun = true;
		if (h != NULL && h->begin != NULL && (rc = h->begin(arg, &dec->txn)) != FRAME_OK)
			return rc;
	}
	dec->txn.njobs++;
	return FRAME_OK;
}

/* the values of a TupleData into dec->values */
static int
read_tuple(PgoDecoder *dec, Reader *r, const PgoRelation *pr)
{
	uint16_t	natts;
	uint32_t	i;

	if (rd_u16(r, "column count", &natts) != FRAME_OK)
		return FRAME_MALFORMED;
	if (natts != pr->rel.ncols)
		return rd_error(r, "row has %u columns, relation %u has %u",
						natts, pr->rel.relid, pr->rel.ncols);
	for (i = 0; i < natts; i++)
	{
		FrameValue *v = &dec->values[i];
		uint8_t		k;
		uint32_t	n;
		char		what[32];

		snprintf(what, sizeof(what), "value %u", i);
		if (rd_u8(r, what, &k) != FRAME_OK)
			return FRAME_MALFORMED;
		if (k == 'n')
		{
			v->isnull = true;
			v->data.data = NULL;
			v->data.len = 0;
			continue;
		}
		if (k != 't')
			return rd_error(r, "value %u has kind 0x%02x (only 'n' and 't' are expected in an insert)",
							i, (unsigned int) k);
		if (rd_u32(r, what, &n) != FRAME_OK || need(r, n, what) != FRAME_OK)
			return FRAME_MALFORMED;
		v->isnull = false;
		v->data.data = (const char *) r->p + r->pos;
		v->data.len = n;
		r->pos += n;
	}
	return FRAME_OK;
}

/* n bytes at s, appended at *pos of dec->keybuf */
static bool
key_append(PgoDecoder *dec, size_t *pos, const char *s, size_t n)
{
	uint32_t	cap = (uint32_t) dec->keybuf_cap;

	if ((size_t) *pos + n + 2 > UINT32_MAX / 2)
		return false;
	if (!grow((void **) &dec->keybuf, &cap, *pos + n + 2, 1))
		return false;
	dec->keybuf_cap = cap;
	memcpy(dec->keybuf + *pos, s, n);
	*pos += n;
	return true;
}

/* v as a JSON string, escaped as PostgreSQL's escape_json (or null) */
static bool
key_append_json(PgoDecoder *dec, size_t *pos, const FrameValue *v)
{
	uint32_t	i;
	size_t		run = 0;

	if (v->isnull)
		return key_append(dec, pos, "null", 4);
	if (!key_append(dec, pos, "\"", 1))
		return false;
	for (i = 0; i < v->data.len; i++)
	{
		unsigned char c = (unsigned char) v->data.data[i];
		char		esc[8];
		const char *e = NULL;

		switch (c)
		{
			case '\b': e = "\\b"; break;
			case '\f': e = "\\f"; break;
			case '\n': e = "\\n"; break;
			case '\r': e = "\\r"; break;
			case '\t': e = "\\t"; break;
			case '"': e = "\\\""; break;
			case '\\': e = "\\\\"; break;
			default:
				if (c < ' ')
				{
					snprintf(esc, sizeof(esc), "\\u%04x", (unsigned int) c);
					e = esc;
				}
		}
		if (e == NULL)
		{
			run++;
			continue;
		}
		if (!key_append(dec, pos, v->data.data + i - run, run) ||
			!key_append(dec, pos, e, strlen(e)))
			return false;
		run = 0;
	}
	return key_append(dec, pos, v->data.data + i - run, run) &&
		key_append(dec, pos, "\"", 1);
}

/*
 * The key as the plugin writes it (FORMAT.md): one column's text, or for a
 * composite key the text of a JSON array of the columns' texts, NULL as
 * null; no key for a NULL single-column key.
 */
static int
row_key(PgoDecoder *dec, Reader *r, const PgoRelation *pr, FrameJob *job)
{
	size_t		pos = 0;
	uint32_t	i;

	job->has_key = false;
	if (pr->nkeys == 0)
		return FRAME_OK;
	if (pr->nkeys == 1)
	{
		const FrameValue *v = &dec->values[pr->keys[0]];

		job->has_key = !v->isnull;
		job->key = v->data;
		return FRAME_OK;
	}
	for (i = 0; i < pr->nkeys; i++)
		if (!key_append(dec, &pos, i == 0 ? "[" : ",", 1) ||
			!key_append_json(dec, &pos, &dec->values[pr->keys[i]]))
			return nomem(r);
	if (!key_append(dec, &pos, "]", 1))
		return nomem(r);
	job->has_key = true;
	job->key.data = dec->keybuf ? dec->keybuf : "";
	job->key.len = (uint32_t) pos;
	return FRAME_OK;
}

static int
decode_insert(PgoDecoder *dec, Reader *r, const FrameHandlers *h, void *arg)
{
	const PgoRelation *pr;
	FrameJob	job;
	uint32_t	relid;
	uint8_t		n;
	int			rc;

	if (!dec->in_txn)
		return rd_error(r, "insert outside a transaction");
	if (rd_u32(r, "relid", &relid) != FRAME_OK)
		return FRAME_MALFORMED;
	if ((pr = find_relation(dec, relid)) == NULL)
		return rd_error(r, "unknown relation %u (no Relation message before it)", relid);
	if (rd_u8(r, "tuple kind", &n) != FRAME_OK)
		return FRAME_MALFORMED;
	if (n != 'N')
		return rd_error(r, "tuple kind 0x%02x where 'N' expected", (unsigned int) n);
	if (read_tuple(dec, r, pr) != FRAME_OK || end_of_message(r) != FRAME_OK)
		return FRAME_MALFORMED;
	if (!pr->include)
		return FRAME_OK;
	memset(&job, 0, sizeof(job));
	job.rel = &pr->rel;
	job.values = dec->values;
	job.target = pr->rel.name;
	if (pr->route >= 0 && !dec->values[pr->route].isnull)
		job.target = dec->values[pr->route].data;
	if ((rc = row_key(dec, r, pr, &job)) != FRAME_OK ||
		(rc = start_job(dec, r, &job, h, arg)) != FRAME_OK)
		return rc;
	if (h != NULL && h->job != NULL)
		return h->job(arg, &dec->txn, &job);
	return FRAME_OK;
}

/*
 * The plugin's prefix rule (FORMAT.md): "wal2queue", "wal2queue:TARGET",
 * "wal2queue:TARGET#KEY", "wal2queue#KEY"; false for any other prefix.
 */
static bool
parse_prefix(FrameBytes prefix, FrameJob *job)
{
	size_t		plen = strlen(MESSAGE_PREFIX);
	const char *rest;
	const char *end = prefix.data + prefix.len;
	const char *hash;

	if (prefix.len < plen || memcmp(prefix.data, MESSAGE_PREFIX, plen) != 0)
		return false;
	rest = prefix.data + plen;
	if (rest < end && *rest != ':' && *rest != '#')
		return false;
	if (rest < end && *rest == ':')
		rest++;
	hash = memchr(rest, '#', end - rest);
	job->has_key = hash != NULL;
	if (hash)
	{
		job->key.data = hash + 1;
		job->key.len = (uint32_t) (end - hash - 1);
	}
	job->target.data = rest;
	job->target.len = (uint32_t) ((hash ? hash : end) - rest);
	if (job->target.len == 0)
	{
		job->target.data = MESSAGE_PREFIX;
		job->target.len = (uint32_t) plen;
	}
	return true;
}

static int
decode_message(PgoDecoder *dec, Reader *r, const FrameHandlers *h, void *arg)
{
	FrameJob	job;
	FrameBytes	prefix;
	uint8_t		flags;
	uint64_t	lsn;
	uint32_t	n;
	int			rc;

	memset(&job, 0, sizeof(job));
	if (rd_u8(r, "flags", &flags) != FRAME_OK ||
		rd_u64(r, "message lsn", &lsn) != FRAME_OK ||
		rd_cstr(r, "prefix", &prefix) != FRAME_OK ||
		rd_u32(r, "content length", &n) != FRAME_OK ||
		need(r, n, "content") != FRAME_OK)
		return FRAME_MALFORMED;
	job.payload.data = (const char *) r->p + r->pos;
	job.payload.len = n;
	r->pos += n;
	if (end_of_message(r) != FRAME_OK)
		return FRAME_MALFORMED;
	if (flags & ~0x01)
		return rd_error(r, "unknown message flags 0x%02x", (unsigned int) flags);
	/* not tied to a commit: cannot be delivered exactly once (FORMAT.md) */
	if (!(flags & 0x01))
		return FRAME_OK;
	if (!dec->in_txn)
		return rd_error(r, "transactional message outside a transaction");
	if (!parse_prefix(prefix, &job))
		return FRAME_OK;
	job.is_message = true;
	if ((rc = start_job(dec, r, &job, h, arg)) != FRAME_OK)
		return rc;
	if (h != NULL && h->job != NULL)
		return h->job(arg, &dec->txn, &job);
	return FRAME_OK;
}

/* Type: remember the kind of a domain over a typed base type */
static int
decode_type(PgoDecoder *dec, Reader *r)
{
	FrameBytes	nsp;
	FrameBytes	name;
	uint32_t	oid;
	uint32_t	i;
	char		kind;

	if (rd_u32(r, "type oid", &oid) != FRAME_OK ||
		rd_cstr(r, "type namespace", &nsp) != FRAME_OK ||
		rd_cstr(r, "type name", &name) != FRAME_OK ||
		end_of_message(r) != FRAME_OK)
		return FRAME_MALFORMED;
	kind = kind_of_name(nsp, name);
	for (i = 0; i < dec->ntypes; i++)
		if (dec->type_oids[i] == oid)
		{
			dec->type_kinds[i] = kind;
			return FRAME_OK;
		}
	if (kind == W2Q_KIND_TEXT)
		return FRAME_OK;
	if (dec->ntypes >= PGO_MAX_TYPES)
		return rd_error(r, "more than %d typed domains described", PGO_MAX_TYPES);
	if (!grow((void **) &dec->type_oids, &dec->types_cap, (size_t) dec->ntypes + 1,
			  sizeof(uint32_t)) ||
		!grow((void **) &dec->type_kinds, &dec->type_kinds_cap, (size_t) dec->ntypes + 1, 1))
		return nomem(r);
	dec->type_oids[dec->ntypes] = oid;
	dec->type_kinds[dec->ntypes++] = kind;
	return FRAME_OK;
}

/* Origin, Update, Delete, Truncate: checked for their place, skipped */
static int
skip_message(PgoDecoder *dec, Reader *r)
{
	FrameBytes	s1;
	uint32_t	u;
	uint64_t	lsn;

	switch (r->type)
	{
		case 'O':
			if (rd_u64(r, "origin lsn", &lsn) != FRAME_OK ||
				rd_cstr(r, "origin name", &s1) != FRAME_OK)
				return FRAME_MALFORMED;
			return end_of_message(r);
		default:				/* 'U', 'D', 'T' */
			if (!dec->in_txn)
				return rd_error(r, "change outside a transaction");
			return rd_u32(r, "relid", &u);
	}
}

void
pgo_decoder_init(PgoDecoder *dec, const PgoConfig *cfg)
{
	memset(dec, 0, sizeof(*dec));
	dec->cfg = cfg;
}

void
pgo_decoder_reset(PgoDecoder *dec)
{
	uint32_t	i;

	/* a new walsender describes every relation again before using it */
	for (i = 0; i < dec->nrels; i++)
		free_relation(&dec->rels[i]);
	dec->nrels = 0;
	dec->in_txn = false;
	dec->begun = false;
	memset(&dec->txn, 0, sizeof(dec->txn));
}

void
pgo_decoder_free(PgoDecoder *dec)
{
	uint32_t	i;

	for (i = 0; i < dec->nrels; i++)
		free_relation(&dec->rels[i]);
	free(dec->rels);
	free(dec->values);
	free(dec->keybuf);
	free(dec->type_oids);
	free(dec->type_kinds);
	memset(dec, 0, sizeof(*dec));
}

int
pgo_decode(PgoDecoder *dec, const char *msg, size_t len,
		   const FrameHandlers *h, void *arg, char *err, size_t errlen)
{
	Reader		r = {(const unsigned char *) msg, len, 1, 0, err, errlen};

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (len == 0)
		return errbuf_set(err, errlen, FRAME_MALFORMED, "empty pgoutput message");
	r.type = msg[0];
	switch (r.type)
	{
		case 'B':
			return decode_begin(dec, &r);
		case 'C':
			return decode_commit(dec, &r, h, arg);
		case 'R':
			return decode_relation(dec, &r);
		case 'I':
			return decode_insert(dec, &r, h, arg);
		case 'M':
			return decode_message(dec, &r, h, arg);
		case 'Y':
			return decode_type(dec, &r);
		case 'O':
		case 'U':
		case 'D':
		case 'T':
			return skip_message(dec, &r);
		default:
			r.pos = 0;
			return rd_error(&r, "unknown message type (streaming and two-phase are not requested)");
	}
}

void
pgo_keys_clear(PgoKeys *keys)
{
	uint32_t	i;

	for (i = 0; i < keys->n; i++)
		free(keys->names[i]);
	keys->n = 0;
}

bool
pgo_keys_add(PgoKeys *keys, uint32_t relid, uint32_t n, const char *const *names)
{
	size_t		len = 1;
	uint32_t	i;
	char	   *p;

	if (keys->n == keys->cap)
	{
		uint32_t	cap = keys->cap ? keys->cap * 2 : 16;
		uint32_t   *r = realloc(keys->relids, cap * sizeof(uint32_t));
		uint32_t   *c = r ? realloc(keys->ncols, cap * sizeof(uint32_t)) : NULL;
		char	  **s = c ? realloc(keys->names, cap * sizeof(char *)) : NULL;

		if (r)
			keys->relids = r;
		if (c)
			keys->ncols = c;
		if (s == NULL)
			return false;
		keys->names = s;
		keys->cap = cap;
	}
	for (i = 0; i < n; i++)
		len += strlen(names[i]) + 1;
	if ((p = malloc(len)) == NULL)
		return false;
	keys->relids[keys->n] = relid;
	keys->ncols[keys->n] = n;
	keys->names[keys->n++] = p;
	for (i = 0; i < n; i++)
		p = stpcpy(p, names[i]) + 1;
	return true;
}

void
pgo_plugin_options(const PgoConfig *cfg, char *pubbuf, size_t pubbuflen,
				   const char **opts)
{
	size_t		j = 0;
	const char *p;
	int			n = 0;

	/* publication_names is a list of identifiers: quote the one name */
	if (pubbuflen > 0)
		pubbuf[j++] = '"';
	for (p = cfg->publication; *p && j + 3 < pubbuflen; p++)
	{
		if (*p == '"')
			pubbuf[j++] = '"';
		pubbuf[j++] = *p;
	}
	if (j + 1 < pubbuflen)
		pubbuf[j++] = '"';
	pubbuf[j < pubbuflen ? j : pubbuflen - 1] = '\0';
	opts[n++] = "proto_version";
	opts[n++] = "1";
	opts[n++] = "publication_names";
	opts[n++] = pubbuf;
	opts[n++] = "messages";
	opts[n++] = "true";
	opts[n] = NULL;
}
