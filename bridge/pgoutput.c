/*-------------------------------------------------------------------------
 *
 * pgoutput.c
 *		Decoder of pgoutput's messages (see pgoutput.h, and "Logical
 *		Replication Message Formats" in the PostgreSQL documentation).
 *
 * Each XLogData carries one pgoutput message, read field by field with the
 * bounds-checked reader (pgoutput_reader.c); every message must be filled
 * exactly.  Relations and rows become jobs through rowjob.c, which holds
 * the plugin's rules for targets, keys and kinds.  Update, Delete,
 * Truncate and Origin messages are checked for their place and skipped.
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
#include "pgoutput_reader.h"

#define MESSAGE_PREFIX	"wal2queue"
#define PG_EPOCH_OFFSET_US INT64_C(946684800000000)
#define RELATION_KEY_FLAG 0x01

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

/* ---- relations ---- */

static PgoRelation *
find_relation(PgoDecoder *dec, uint32_t relid)
{
	uint32_t	i;

	if (dec->last < dec->nrels && dec->rels[dec->last].row.rel.relid == relid)
		return &dec->rels[dec->last];
	for (i = 0; i < dec->nrels; i++)
		if (dec->rels[i].row.rel.relid == relid)
		{
			dec->last = i;
			return &dec->rels[i];
		}
	return NULL;
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
 * Text of a message (a name, a value, a prefix) as UTF-8: converted from
 * dec->enc when it holds a byte that is not ASCII, into scratch storage
 * that lives until the next message; never fails but for memory.  A
 * character that became U+FFFD is warned of once per session, naming
 * what and name (UTF-8; NULL: the converted text itself).
 */
static int
to_utf8(PgoDecoder *dec, PgoReader *r, FrameBytes *b, const char *what, const FrameBytes *name)
{
	char	   *s;
	size_t		n;

	if (dec->enc.identity || b->data == NULL || !encoding_has_high(b->data, b->len))
		return FRAME_OK;
	if (!grow((void **) &dec->scratch, &dec->scratch_cap, (size_t) dec->nscratch + 1,
			  sizeof(char *)))
		return rd_nomem(r);
	if ((s = encoding_to_utf8(&dec->enc, b->data, b->len, &n)) == NULL)
		return rd_nomem(r);
	dec->scratch[dec->nscratch++] = s;
	b->data = s;
	b->len = (uint32_t) n;
	if (dec->enc.unconvertible > 0 && !dec->enc.warned)
		encoding_warn_unconvertible(&dec->enc, what, name ? name->data : b->data,
									name ? name->len : b->len);
	return FRAME_OK;
}

static void
scratch_free(PgoDecoder *dec)
{
	for (uint32_t i = 0; i < dec->nscratch; i++)
		free(dec->scratch[i]);
	dec->nscratch = 0;
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
	return rowjob_kind_of_type(typoid);
}

/* the RowjobConfig of the decoder's PgoConfig */
static void
rowjob_config(const PgoConfig *cfg, RowjobConfig *rc)
{
	memset(rc, 0, sizeof(*rc));
	if (cfg == NULL)
		return;
	rc->tables = &cfg->tables;
	rc->route_column = cfg->route_column;
	rc->key_column = cfg->key_column;
	rc->keys = NULL;			/* the key is the Relation message's, never the catalog's */
}

/*
 * Read the columns of a Relation message and describe the relation in pr
 * (names are copied).  The key flags count only under REPLICA IDENTITY
 * DEFAULT, where they are the primary key as of the row (a DEFERRABLE one
 * is no replica identity and is not flagged): FULL flags every column,
 * NOTHING none, and USING INDEX an index that is not the plugin's key (the
 * primary key or none).  Nothing but the message decides, so a replay
 * keys each row as the first delivery did, whatever the catalog says now.
 */
static int
read_columns(PgoReader *r, PgoRelation *pr, uint32_t relid, FrameBytes nsp,
			 FrameBytes name, char ident, uint16_t ncols, PgoDecoder *dec)
{
	RowjobColumn *cols = calloc(ncols ? ncols : 1, sizeof(RowjobColumn));
	RowjobConfig cfg;
	uint32_t	i;
	uint32_t	typmod;
	int			rc;

	if (cols == NULL)
		return rd_nomem(r);
	for (i = 0; i < ncols; i++)
	{
		uint8_t		f;

		if (rd_u8(r, "column flags", &f) != FRAME_OK ||
			rd_cstr(r, "column name", &cols[i].name) != FRAME_OK ||
			rd_u32(r, "column type", &cols[i].typoid) != FRAME_OK ||
			rd_u32(r, "column typmod", &typmod) != FRAME_OK ||
			to_utf8(dec, r, &cols[i].name, "a column name of relation", &name) != FRAME_OK)
		{
			free(cols);
			return FRAME_MALFORMED;
		}
		if (f & ~RELATION_KEY_FLAG)
		{
			free(cols);
			return rd_error(r, "column %u has unknown flags 0x%02x", i, (unsigned int) f);
		}
		cols[i].kind = kind_of_type(dec, cols[i].typoid);
		cols[i].key = (f & RELATION_KEY_FLAG) && ident == 'd';
	}
	if (rd_end(r) != FRAME_OK)
	{
		free(cols);
		return FRAME_MALFORMED;
	}
	/* pgoutput sends an empty namespace for pg_catalog */
	if (nsp.len == 0)
	{
		nsp.data = "pg_catalog";
		nsp.len = 10;
	}
	rowjob_config(dec->cfg, &cfg);
	rc = rowjob_rel_init(&pr->row, &cfg, relid, nsp, name, ncols, cols);
	free(cols);
	return rc == FRAME_OK ? FRAME_OK : rd_nomem(r);
}

static int
decode_relation(PgoDecoder *dec, PgoReader *r)
{
	PgoRelation fresh;
	PgoRelation *pr;
	FrameBytes	nsp;
	FrameBytes	name;
	uint32_t	relid;
	uint16_t	ncols;
	uint8_t		ident;
	int			rc;

	memset(&fresh, 0, sizeof(fresh));
	if (rd_u32(r, "relid", &relid) != FRAME_OK ||
		rd_cstr(r, "namespace", &nsp) != FRAME_OK ||
		rd_cstr(r, "relation name", &name) != FRAME_OK ||
		rd_u8(r, "replica identity", &ident) != FRAME_OK ||
		rd_u16(r, "ncols", &ncols) != FRAME_OK ||
		to_utf8(dec, r, &nsp, "schema name", NULL) != FRAME_OK ||
		to_utf8(dec, r, &name, "relation name", NULL) != FRAME_OK)
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
	if ((rc = read_columns(r, &fresh, relid, nsp, name, (char) ident, ncols, dec)) != FRAME_OK)
		return rc;
	if (!grow((void **) &dec->values, &dec->values_cap, ncols, sizeof(FrameValue)))
	{
		rowjob_rel_free(&fresh.row);
		return rd_nomem(r);
	}
	if ((pr = find_relation(dec, relid)) != NULL)
		rowjob_rel_free(&pr->row);	/* described again: ALTER TABLE */
	else
	{
		if (dec->nrels >= PGO_MAX_RELATIONS)
		{
			rowjob_rel_free(&fresh.row);
			return rd_error(r, "more than %d relations described", PGO_MAX_RELATIONS);
		}
		if (!grow((void **) &dec->rels, &dec->rels_cap, (size_t) dec->nrels + 1,
				  sizeof(PgoRelation)))
		{
			rowjob_rel_free(&fresh.row);
			return rd_nomem(r);
		}
		pr = &dec->rels[dec->nrels++];
	}
	*pr = fresh;
	return FRAME_OK;
}

/* ---- transactions ---- */

static int
decode_begin(PgoDecoder *dec, PgoReader *r)
{
	FrameTxn	txn;
	uint64_t	ts;

	if (dec->in_txn)
		return rd_error(r, "begin inside a transaction");
	memset(&txn, 0, sizeof(txn));
	if (rd_u64(r, "final lsn", &txn.commit_lsn) != FRAME_OK ||
		rd_u64(r, "commit time", &ts) != FRAME_OK ||
		rd_u32(r, "xid", &txn.xid) != FRAME_OK ||
		rd_end(r) != FRAME_OK)
		return FRAME_MALFORMED;
	txn.commit_time_us = (int64_t) ts + PG_EPOCH_OFFSET_US;
	/* the end LSN comes with the commit; past commit_lsn is enough till then */
	txn.end_lsn = txn.commit_lsn + 1;
	dec->txn = txn;
	/* the full xid send() signed: the nearest to the latest one known */
	dec->txn_xid8 = message_xid_extend(dec->xid_ref, txn.xid);
	if (dec->xid_ref != 0 && dec->txn_xid8 > dec->xid_ref)
		dec->xid_ref = dec->txn_xid8;
	dec->in_txn = true;
	dec->begun = false;
	return FRAME_OK;
}

static int
decode_commit(PgoDecoder *dec, PgoReader *r, const FrameHandlers *h, void *arg)
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
		rd_end(r) != FRAME_OK)
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
start_job(PgoDecoder *dec, PgoReader *r, FrameJob *job, const FrameHandlers *h,
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
read_tuple(PgoDecoder *dec, PgoReader *r, const PgoRelation *pr)
{
	uint16_t	natts;
	uint32_t	i;

	if (rd_u16(r, "column count", &natts) != FRAME_OK)
		return FRAME_MALFORMED;
	if (natts != pr->row.rel.ncols)
		return rd_error(r, "row has %u columns, relation %u has %u",
						natts, pr->row.rel.relid, pr->row.rel.ncols);
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
		if (rd_u32(r, what, &n) != FRAME_OK || rd_bytes(r, n, what, &v->data) != FRAME_OK ||
			to_utf8(dec, r, &v->data, "a value of table", &pr->row.rel.name) != FRAME_OK)
			return FRAME_MALFORMED;
		v->isnull = false;
	}
	return FRAME_OK;
}

static int
decode_insert(PgoDecoder *dec, PgoReader *r, const FrameHandlers *h, void *arg)
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
	if (read_tuple(dec, r, pr) != FRAME_OK || rd_end(r) != FRAME_OK)
		return FRAME_MALFORMED;
	if (!pr->row.include)
		return FRAME_OK;
	if (rowjob_build(&pr->row, dec->values, &dec->keybuf, &job) != FRAME_OK)
		return rd_nomem(r);
	if ((rc = start_job(dec, r, &job, h, arg)) != FRAME_OK)
		return rc;
	if (h != NULL && h->job != NULL)
		return h->job(arg, &dec->txn, &job);
	return FRAME_OK;
}

/*
 * The plugin's prefix rule (FORMAT.md): "wal2queue", "wal2queue:TARGET",
 * "wal2queue:TARGET#KEY", "wal2queue#KEY", each also signed: "wal2queue!",
 * the key's id (*key_id), "." and 64 lower-case hex digits (*mac) in place
 * of "wal2queue".  *rest is what follows the signature (the unsigned
 * prefix is "wal2queue" || rest); false for any other prefix.
 */
static bool
parse_prefix(FrameBytes prefix, FrameJob *job, const char **mac, int64_t *key_id,
			 FrameBytes *rest_out)
{
	size_t		plen = strlen(MESSAGE_PREFIX);
	const char *rest;
	const char *end = prefix.data + prefix.len;
	const char *hash;

	if (prefix.len < plen || memcmp(prefix.data, MESSAGE_PREFIX, plen) != 0)
		return false;
	rest = prefix.data + plen;
	*mac = NULL;
	if (rest < end && *rest == '!')
	{
		size_t		idlen = message_sign_parse_id(rest + 1, (size_t) (end - rest - 1), key_id);
		int			i;

		if (idlen == 0)
			return false;
		rest += 1 + idlen;
		if (end - rest < MESSAGE_SIGN_MAC_HEX)
			return false;
		for (i = 0; i < MESSAGE_SIGN_MAC_HEX; i++)
			if (!((rest[i] >= '0' && rest[i] <= '9') || (rest[i] >= 'a' && rest[i] <= 'f')))
				return false;
		*mac = rest;
		rest += MESSAGE_SIGN_MAC_HEX;
	}
	if (rest < end && *rest != ':' && *rest != '#')
		return false;
	rest_out->data = rest;
	rest_out->len = (uint32_t) (end - rest);
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

/*
 * A message is a job when PUBLIC may not emit messages (messages_public
 * 0), or when it is signed for this transaction with a key of this
 * database that is not revoked (send(); message_sign.h).  Otherwise any
 * role could have written it: no job, no seq, counted (FORMAT.md).  A
 * message naming a key the decoder does not know is judged only with keys
 * read in a snapshot that sees its transaction (PGO_NEED_KEYS before), and
 * so is one whose MAC the cached key does not verify (a reinstall reuses
 * ids, test/t/471); one signed with a key of an untrusted table is not
 * judged (PGO_UNTRUSTED), nor one the bridge's role may not read the keys
 * of (PGO_KEYS_DENIED, test/t/473).
 */
#define SIGNED_NO_JOB	1		/* judge_signed(): not a job */

static int
judge_signed(PgoDecoder *dec, FrameBytes rest, FrameBytes payload,
			 const char *mac, int64_t key_id)
{
	const MessageKey *key;

	if (mac == NULL)
		return SIGNED_NO_JOB;	/* unsigned: no job */
	if (dec->msg_keys.state == MESSAGE_KEY_DENIED)
	{
		dec->key_id = key_id;
		return PGO_KEYS_DENIED; /* cannot be judged: never skipped */
	}
	if (dec->msg_keys.state != MESSAGE_KEY_READ &&
		dec->msg_keys.state != MESSAGE_KEY_UNTRUSTED)
		return SIGNED_NO_JOB; /* no job */
	key = message_keys_find(&dec->msg_keys, key_id);
	/*
	 * An unknown id, or a MAC that the cached key does not verify (the key
	 * table dropped and installed again: the id names a new key), is judged
	 * only with keys read in a snapshot that sees the transaction
	 */
	if (key == NULL || !message_sign_verify(key, dec->txn_xid8, rest, payload, mac))
		return message_keys_saw(&dec->msg_keys, dec->txn_xid8) ? SIGNED_NO_JOB : PGO_NEED_KEYS;
	if (key->revoked)
	{
		dec->messages_revoked++;
		return SIGNED_NO_JOB;
	}
	if (dec->msg_keys.state == MESSAGE_KEY_UNTRUSTED)
	{
		dec->key_id = key_id;
		return PGO_UNTRUSTED;
	}
	return FRAME_OK;
}

static int
decode_message(PgoDecoder *dec, PgoReader *r, const FrameHandlers *h, void *arg)
{
	FrameJob	job;
	FrameBytes	prefix;
	FrameBytes	rest;
	const char *mac;
	int64_t		key_id = 0;
	uint8_t		flags;
	uint64_t	lsn;
	uint32_t	n;
	int			rc;

	memset(&job, 0, sizeof(job));
	if (rd_u8(r, "flags", &flags) != FRAME_OK ||
		rd_u64(r, "message lsn", &lsn) != FRAME_OK ||
		rd_cstr(r, "prefix", &prefix) != FRAME_OK ||
		rd_u32(r, "content length", &n) != FRAME_OK ||
		rd_bytes(r, n, "content", &job.payload) != FRAME_OK ||
		rd_end(r) != FRAME_OK)
		return FRAME_MALFORMED;
	if (flags & ~0x01)
		return rd_error(r, "unknown message flags 0x%02x", (unsigned int) flags);
	/* not tied to a commit: cannot be delivered exactly once (FORMAT.md) */
	if (!(flags & 0x01))
		return FRAME_OK;
	if (!dec->in_txn)
		return rd_error(r, "transactional message outside a transaction");
	/* as send() signed it: convert_to(prefix, 'UTF8'); the content as it is */
	if (to_utf8(dec, r, &prefix, "the prefix (queue) of a logical message", NULL) != FRAME_OK)
		return FRAME_MALFORMED;
	if (!parse_prefix(prefix, &job, &mac, &key_id, &rest))
		return FRAME_OK;
	if (dec->messages_public != 0 &&
		(rc = judge_signed(dec, rest, job.payload, mac, key_id)) != FRAME_OK)
	{
		if (rc != SIGNED_NO_JOB)
			return rc;
		dec->messages_ignored++;
		return FRAME_OK;
	}
	job.is_message = true;
	if ((rc = start_job(dec, r, &job, h, arg)) != FRAME_OK)
		return rc;
	if (h != NULL && h->job != NULL)
		return h->job(arg, &dec->txn, &job);
	return FRAME_OK;
}

/* Type: remember the kind of a domain over a typed base type */
static int
decode_type(PgoDecoder *dec, PgoReader *r)
{
	FrameBytes	nsp;
	FrameBytes	name;
	uint32_t	oid;
	uint32_t	i;
	char		kind;

	if (rd_u32(r, "type oid", &oid) != FRAME_OK ||
		rd_cstr(r, "type namespace", &nsp) != FRAME_OK ||
		rd_cstr(r, "type name", &name) != FRAME_OK ||
		rd_end(r) != FRAME_OK ||
		to_utf8(dec, r, &nsp, "type schema name", NULL) != FRAME_OK ||
		to_utf8(dec, r, &name, "type name", NULL) != FRAME_OK)
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
		return rd_nomem(r);
	dec->type_oids[dec->ntypes] = oid;
	dec->type_kinds[dec->ntypes++] = kind;
	return FRAME_OK;
}

/* Origin, Update, Delete, Truncate: checked for their place, skipped */
static int
skip_message(PgoDecoder *dec, PgoReader *r)
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
			return rd_end(r);
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
	dec->messages_public = -1;
	encoding_open(&dec->enc, NULL, NULL, 0);
}

int
pgo_decoder_set_encoding(PgoDecoder *dec, const char *pg_encoding, char *err, size_t errlen)
{
	EncodingConv enc;

	if (encoding_open(&enc, pg_encoding, err, errlen) != 0)
		return -1;
	encoding_close(&dec->enc);
	dec->enc = enc;
	return 0;
}

void
pgo_decoder_reset(PgoDecoder *dec)
{
	uint32_t	i;

	/* a new walsender describes every relation again before using it */
	for (i = 0; i < dec->nrels; i++)
		rowjob_rel_free(&dec->rels[i].row);
	dec->nrels = 0;
	dec->in_txn = false;
	dec->begun = false;
	memset(&dec->txn, 0, sizeof(dec->txn));
	dec->messages_public = -1;	/* judged anew for the next session */
	message_keys_free(&dec->msg_keys);
	dec->xid_ref = 0;
	dec->txn_xid8 = 0;
}

void
pgo_decoder_take_keys(PgoDecoder *dec, MessageKeys *keys)
{
	MessageKeyState state = keys->state == MESSAGE_KEY_UNKNOWN ?
		dec->msg_keys.state : keys->state;

	message_keys_move(&dec->msg_keys, keys);
	dec->msg_keys.state = state;
	if (dec->msg_keys.have_snapshot && dec->msg_keys.xmax > dec->xid_ref)
		dec->xid_ref = dec->msg_keys.xmax;
	if (dec->in_txn)
		dec->txn_xid8 = message_xid_extend(dec->xid_ref, dec->txn.xid);
}

void
pgo_decoder_free(PgoDecoder *dec)
{
	uint32_t	i;

	for (i = 0; i < dec->nrels; i++)
		rowjob_rel_free(&dec->rels[i].row);
	free(dec->rels);
	free(dec->values);
	rowjob_buf_free(&dec->keybuf);
	free(dec->type_oids);
	free(dec->type_kinds);
	message_keys_free(&dec->msg_keys);
	scratch_free(dec);
	free(dec->scratch);
	encoding_close(&dec->enc);
	memset(dec, 0, sizeof(*dec));
}

int
pgo_decode(PgoDecoder *dec, const char *msg, size_t len,
		   const FrameHandlers *h, void *arg, char *err, size_t errlen)
{
	PgoReader	r = {(const unsigned char *) msg, len, 1, 0, err, errlen};

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	scratch_free(dec);			/* the previous message's converted text */
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
