/*-------------------------------------------------------------------------
 *
 * textbound.c
 *		An upper bound of the length of a value's text, without calling its
 *		output function.
 *
 * A decoding walsender must never call an output function whose text could
 * pass 1GB ("Cannot enlarge string buffer" at every attempt: the slot never
 * moves) or use gigabytes of memory: catching that ERROR is not safe there.
 * So before converting a large value, job.c asks how long its text can be
 * at most:
 *
 *	- string types, json, xml: their stored length; bytea: twice it, plus 2;
 *	- jsonb: walked without building its text: each string as escaped, each
 *	  number as its digits (a numeric of a few bytes can print 131072 digits,
 *	  so no factor of the stored size bounds jsonb), plus structure;
 *	- arrays, composites, ranges and multiranges: their elements, each bound
 *	  by its own type, doubled for quoting and escaping, plus punctuation;
 *	- fixed-length types: the longest text of the common ones, else 64 bytes
 *	  plus four per stored byte;
 *	- any other varlena (tsvector, hstore, geometric types, ...): eight times
 *	  its stored size plus 64 (a best effort for types of extensions, whose
 *	  output functions we do not know).
 *
 * Values of up to W2Q_SMALL_VALUE stored bytes are not walked: whatever
 * their type their text is at most W2Q_SMALL_BOUND.  A walk stops as soon as
 * the bound passes the caller's stop.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/multirangetypes.h"
#include "utils/numeric.h"
#include "utils/rangetypes.h"
#include "utils/typcache.h"

#include "textbound.h"

/* the longest text of a numeric: 131072 digits, a point, 16383 decimals */
#define NUMERIC_TEXT_MAX	(131072 + 16383 + 3)

/*
 * A stored byte of a small value prints as at most this many bytes: a
 * numeric of the most digits takes at least 7 stored bytes (in a record:
 * a 1-byte header, 4 bytes of sign, scale and weight, one digit group).
 */
#define SMALL_EXPANSION		(NUMERIC_TEXT_MAX / 4 + 1)

static Size bound_datum(Oid typid, Datum value, Size stop);

/* the length of s as a JSON string, without building it (as escape_json) */
Size
w2q_json_string_size(const char *s, Size len)
{
	Size		n = 2;
	Size		i;

	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' ||
			c == '\r' || c == '\t')
			n += 2;
		else if (c < ' ')
			n += 6;
		else
			n++;
	}
	return n;
}

/* the longest text of a fixed-length type */
static Size
bound_fixed(Oid base, int16 typlen)
{
	switch (base)
	{
		case BOOLOID:
			return 5;
		case INT2OID:
			return 6;
		case INT4OID:
		case OIDOID:
			return 11;
		case INT8OID:
			return 20;
		case FLOAT4OID:
			return 16;
		case FLOAT8OID:
			return 25;
		case UUIDOID:
			return 36;
		case DATEOID:
		case TIMEOID:
		case TIMETZOID:
			return 32;
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return 64;
		default:
			return 64 + 4 * (Size) typlen;
	}
}

/* types whose text never needs quoting inside an array or a record */
static bool
plain_text(Oid base)
{
	return base == BOOLOID || base == INT2OID || base == INT4OID ||
		base == INT8OID || base == OIDOID || base == FLOAT4OID ||
		base == FLOAT8OID || base == NUMERICOID;
}

/* an element of an array or record: quoted and escaped, plus a delimiter */
static Size
bound_element(Oid typid, Datum value, bool isnull, Size stop)
{
	if (isnull)
		return 5;
	if (plain_text(getBaseType(typid)))
		return bound_datum(typid, value, stop) + 1;
	return 2 * bound_datum(typid, value, stop) + 3;
}

static Size
bound_numeric(Datum value)
{
	char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out, value));
	Size		n = strlen(s);

	pfree(s);
	return n;
}

static Size
bound_jsonb(Datum value, Size stop)
{
	Jsonb	   *jb = DatumGetJsonbP(value);
	JsonbIterator *it = JsonbIteratorInit(&jb->root);
	JsonbIteratorToken tok;
	JsonbValue	v;
	Size		n = 0;

	while (n <= stop && (tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		CHECK_FOR_INTERRUPTS();
		n += 4;					/* brackets, ", ", ": " */
		if (tok != WJB_KEY && tok != WJB_VALUE && tok != WJB_ELEM)
			continue;
		switch (v.type)
		{
			case jbvString:
				n += w2q_json_string_size(v.val.string.val, v.val.string.len);
				break;
			case jbvNumeric:
				n += bound_numeric(NumericGetDatum(v.val.numeric));
				break;
			default:
				n += 5;
				break;
		}
	}
	return n;
}

static Size
bound_array(Datum value, Size stop)
{
	ArrayType  *arr = DatumGetArrayTypeP(value);
	Oid			elemtype = ARR_ELEMTYPE(arr);
	ArrayIterator it = array_create_iterator(arr, 0, NULL);
	Datum		elem;
	bool		isnull;
	Size		n = 2 + 2 * 25 * ARR_NDIM(arr);	/* [l:u]={} per dimension */

	while (n <= stop && array_iterate(it, &elem, &isnull))
	{
		CHECK_FOR_INTERRUPTS();
		n += 2 + bound_element(elemtype, elem, isnull, stop);
	}
	array_free_iterator(it);
	return n;
}

static Size
bound_record(Datum value, Size stop)
{
	HeapTupleHeader td = DatumGetHeapTupleHeader(value);
	TupleDesc	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(td),
											  HeapTupleHeaderGetTypMod(td));
	HeapTupleData tuple;
	Datum	   *values = palloc(Max(desc->natts, 1) * sizeof(Datum));
	bool	   *nulls = palloc(Max(desc->natts, 1) * sizeof(bool));
	Size		n = 2;
	int			i;

	tuple.t_len = HeapTupleHeaderGetDatumLength(td);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = td;
	heap_deform_tuple(&tuple, desc, values, nulls);
	for (i = 0; i < desc->natts && n <= stop; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped)
			n += bound_element(att->atttypid, values[i], nulls[i], stop);
	}
	ReleaseTupleDesc(desc);
	return n;
}

static Size
bound_range(TypeCacheEntry *tc, RangeType *r, Size stop)
{
	RangeBound	lower;
	RangeBound	upper;
	bool		empty;
	Size		n = 8;

	range_deserialize(tc, r, &lower, &upper, &empty);
	if (!empty && !lower.infinite)
		n += bound_element(tc->rngelemtype->type_id, lower.val, false, stop);
	if (!empty && !upper.infinite)
		n += bound_element(tc->rngelemtype->type_id, upper.val, false, stop);
	return n;
}

static Size
bound_multirange(Oid typid, Datum value, Size stop)
{
	TypeCacheEntry *tc = lookup_type_cache(typid, TYPECACHE_MULTIRANGE_INFO);
	MultirangeType *mr = DatumGetMultirangeTypeP(value);
	RangeType **ranges;
	int32		count;
	int32		i;
	Size		n = 2;

	multirange_deserialize(tc->rngtype, mr, &count, &ranges);
	for (i = 0; i < count && n <= stop; i++)
	{
		CHECK_FOR_INTERRUPTS();
		n += 2 + bound_range(tc->rngtype, ranges[i], stop);
	}
	return n;
}

static Size
bound_datum(Oid typid, Datum value, Size stop)
{
	Oid			base = getBaseType(typid);
	int16		typlen = get_typlen(base);
	Size		raw;

	if (typlen > 0)
		return bound_fixed(base, typlen);
	if (typlen == -2)
		return strlen(DatumGetCString(value));
	raw = toast_raw_datum_size(value) - VARHDRSZ;
	if (base == TEXTOID || base == VARCHAROID || base == BPCHAROID ||
		base == JSONOID || base == XMLOID)
		return raw;
	if (base == BYTEAOID)
		return 2 * raw + 2;
	if (base == NUMERICOID)
		return NUMERIC_TEXT_MAX;
	if (raw <= W2Q_SMALL_VALUE)
		return raw * SMALL_EXPANSION + 64;
	if (base == JSONBOID)
		return bound_jsonb(value, stop);
	if (OidIsValid(get_element_type(base)))
		return bound_array(value, stop);
	switch (get_typtype(base))
	{
		case TYPTYPE_COMPOSITE:
		case TYPTYPE_PSEUDO:	/* record */
			return type_is_rowtype(base) ? bound_record(value, stop)
				: 8 * raw + 64;
		case TYPTYPE_RANGE:
			return bound_range(lookup_type_cache(base, TYPECACHE_RANGE_INFO),
							   DatumGetRangeTypeP(value), stop);
		case TYPTYPE_MULTIRANGE:
			return bound_multirange(base, value, stop);
		default:
			return 8 * raw + 64;
	}
}

/*
 * At least the length of the text typid's output function makes of value;
 * once the bound passes stop the walk may end early, with any result
 * above stop.
 */
Size
w2q_text_bound(Oid typid, Datum value, Size stop)
{
	return bound_datum(typid, value, stop);
}
