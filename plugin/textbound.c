/*-------------------------------------------------------------------------
 *
 * textbound.c
 *		An upper and a lower bound of the length of a value's text, without
 *		calling its output function on the value itself.
 *
 * A decoding walsender must never call an output function whose text could
 * pass 1GB ("Cannot enlarge string buffer" at every attempt: the slot never
 * moves) or use gigabytes of memory, except as a last resort in a
 * subtransaction (job.c guarded_output()).  So before converting a large value, job.c asks how long its text can be
 * at most (the bound), and how long it is at least (the lower bound: a
 * claim check made without the text needs it, see job.c):
 *
 *	- string types, json: their stored length, both; xml: that, and at
 *	  least half of it; bytea: twice it plus 2 (the hex output; the escape
 *	  output may print up to twice that), at least once;
 *	- jsonb: walked without building its text: each string as escaped, each
 *	  number as its digits (a numeric of a few bytes can print 131072 digits,
 *	  so no factor of the stored size bounds jsonb), plus 4 for structure
 *	  each token: at most five times the text plus 12 (measure_jsonb());
 *	- arrays, composites, ranges and multiranges: by their elements.  An
 *	  element of a fixed-length type, a numeric or a small value is
 *	  converted (its own text is short) and measured: its length, plus
 *	  its '"' and '\' (escaped), the quotes and a delimiter.  A large
 *	  string is scanned the same way; any other large element is bounded
 *	  by its own type, doubled for quoting, plus punctuation.  Each
 *	  element's text is in the container's: the lower bound is their sum
 *	  with the delimiters;
 *	- fixed-length types: the longest text of each built-in one (the reg*
 *	  types print names: regprocedure up to 26259 bytes from 4), at most 64
 *	  bytes plus four per stored byte for the others; no lower bound;
 *	- any other built-in varlena (tsvector, geometric types, ...): eight
 *	  times its stored size plus 64; no lower bound;
 *	- jsonpath, and any type of an extension (whose output function we do
 *	  not know): SMALL_EXPANSION bytes a stored byte plus 64, what a value
 *	  of numerics can print (jsonpath prints a numeric literal of a few
 *	  stored bytes in full: 1e131071 is 131072 digits); no lower bound.
 *	  A longer one is converted in a subtransaction (job.c).
 *
 * Values of up to W2Q_SMALL_VALUE stored bytes are not walked: whatever
 * their type their text is at most SMALL_EXPANSION bytes a stored byte.  A
 * walk stops as soon as the bound passes the caller's stop.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "access/transam.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
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

/* an upper and a lower bound of a text's length */
typedef struct TextSize
{
	Size		bound;
	Size		lower;
} TextSize;

/* the type of the elements of a container, looked up once per container */
typedef struct ElemType
{
	Oid			typid;
	Oid			base;
	int16		typlen;
	FmgrInfo	out;
} ElemType;

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

/*
 * Names as the reg* types print them: an identifier of up to NAMEDATALEN - 1
 * bytes, quoted with each '"' doubled; qualified, two and a dot; a type as
 * format_type() prints it without a modifier, qualified and "[]" (or one of
 * the SQL names such as "timestamp without time zone", shorter).
 */
#define IDENT_TEXT_MAX		(2 * (NAMEDATALEN - 1) + 2)
#define QUALIFIED_TEXT_MAX	(2 * IDENT_TEXT_MAX + 1)
#define TYPE_TEXT_MAX		(QUALIFIED_TEXT_MAX + 2)

/*
 * The longest text of a fixed-length type: proven for the built-in types
 * (the reg* types print names, regprocedure its argument types too: 26259
 * bytes from 4; aclitem two role names and the privileges), an enum's
 * label, else, for a type of an extension, as a numeric could print per
 * stored byte.
 */
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
		case REGROLEOID:
		case REGNAMESPACEOID:
			return IDENT_TEXT_MAX;
		case REGPROCOID:
		case REGOPEROID:
		case REGCLASSOID:
		case REGCOLLATIONOID:
		case REGCONFIGOID:
		case REGDICTIONARYOID:
			return QUALIFIED_TEXT_MAX;
		case REGTYPEOID:
			return TYPE_TEXT_MAX;
		case REGOPERATOROID:
			/* schema.op(left,right) */
			return QUALIFIED_TEXT_MAX + 2 * (TYPE_TEXT_MAX + 1) + 1;
		case REGPROCEDUREOID:
			/* schema.name(type, ...) of up to FUNC_MAX_ARGS arguments */
			return QUALIFIED_TEXT_MAX + 2 + FUNC_MAX_ARGS * (TYPE_TEXT_MAX + 1);
		case ACLITEMOID:
			/* grantee=privileges/grantor, each privilege with its '*' */
			return 2 * IDENT_TEXT_MAX + 2 + 2 * 32;
		default:
			if (base < FirstGenbkiObjectId)
				return 64 + 4 * (Size) typlen;
			if (type_is_enum(base))
				return NAMEDATALEN;
			return (Size) typlen * SMALL_EXPANSION + 64;
	}
}

static TextSize measure_datum(Oid typid, Datum value, Size stop,
							  MemoryContext scratch);

/* a text of n bytes, e of them '"' or '\', as an element of a container */
static TextSize
element_of_text(Size n, Size e)
{
	TextSize	m;

	/* quoted, each '"' and '\' escaped, and a delimiter */
	m.bound = n + e + 2 + 1;
	m.lower = n + 1;
	return m;
}

static Size
count_escaped(const char *s, Size n)
{
	Size		e = 0;
	Size		i;

	for (i = 0; i < n; i++)
		if (s[i] == '"' || s[i] == '\\')
			e++;
	return e;
}

static void
elem_type_init(ElemType *et, Oid typid)
{
	Oid			out;
	bool		isvarlena;

	et->typid = typid;
	et->base = getBaseType(typid);
	et->typlen = get_typlen(et->base);
	getTypeOutputInfo(typid, &out, &isvarlena);
	fmgr_info(out, &et->out);
}

/*
 * Whether an element's text is made to be measured: fixed-length types,
 * numeric (at most NUMERIC_TEXT_MAX) and small values (at most
 * W2Q_SMALL_VALUE * SMALL_EXPANSION): none near 1GB.
 */
static bool
made_to_measure(Oid base, int16 typlen, Datum value)
{
	return typlen > 0 || typlen == -2 || base == NUMERICOID ||
		toast_raw_datum_size(value) - VARHDRSZ <= W2Q_SMALL_VALUE;
}

/*
 * An element of an array, record or range.  Small ones are converted (in
 * scratch, reset after) and measured exactly; large strings are scanned;
 * other large values are walked, doubled for quoting.
 */
static TextSize
measure_element(const ElemType *et, Datum value, bool isnull, Size stop,
				MemoryContext scratch)
{
	TextSize	m;

	m.bound = 5;				/* NULL, and a delimiter */
	m.lower = 1;
	if (isnull)
		return m;
	if (made_to_measure(et->base, et->typlen, value))
	{
		MemoryContext old = MemoryContextSwitchTo(scratch);
		char	   *s = OutputFunctionCall((FmgrInfo *) &et->out, value);

		m = element_of_text(strlen(s), count_escaped(s, strlen(s)));
		MemoryContextSwitchTo(old);
		MemoryContextReset(scratch);
		return m;
	}
	if (et->base == TEXTOID || et->base == VARCHAROID ||
		et->base == BPCHAROID || et->base == JSONOID)
	{
		struct varlena *v = PG_DETOAST_DATUM_PACKED(value);

		m = element_of_text(VARSIZE_ANY_EXHDR(v),
							count_escaped(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v)));
		if ((Pointer) v != DatumGetPointer(value))
			pfree(v);
		return m;
	}
	m = measure_datum(et->typid, value, stop, scratch);
	m.bound = 2 * m.bound + 3 + 1;
	m.lower = m.lower + 1;
	return m;
}

static Size
bound_numeric(Datum value)
{
	char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out, value));
	Size		n = strlen(s);

	pfree(s);
	return n;
}

/*
 * jsonb: each token costs 4 (brackets, ", ", ": ") plus its value's text
 * (strings as escaped, numbers' digits, 5 for true, false and null).  The
 * text has at least a bracket for each bracket token and its value's text
 * (at least one byte) for each other, except the two brackets of a bare
 * scalar: so the bound is at most 5 times the text plus 12.
 */
static TextSize
measure_jsonb(Datum value, Size stop)
{
	Jsonb	   *jb = DatumGetJsonbP(value);
	JsonbIterator *it = JsonbIteratorInit(&jb->root);
	JsonbIteratorToken tok;
	JsonbValue	v;
	TextSize	m;
	Size		n = 0;

	while (n <= stop && (tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		CHECK_FOR_INTERRUPTS();
		n += 4;
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
	m.bound = n;
	m.lower = n > 12 ? (n - 12) / 5 : 0;
	return m;
}

/*
 * Arrays, records and multiranges: braces or parentheses, and each
 * element's text with a delimiter but the last -- at least 1 plus each
 * element's lower (which counts its delimiter).
 */
static TextSize
measure_array(Datum value, Size stop, MemoryContext scratch)
{
	ArrayType  *arr = DatumGetArrayTypeP(value);
	Oid			elemtype = ARR_ELEMTYPE(arr);
	ArrayIterator it = array_create_iterator(arr, 0, NULL);
	Datum		elem;
	bool		isnull;
	ElemType	et;
	TextSize	m;

	elem_type_init(&et, elemtype);
	m.bound = 2 + 2 * 25 * ARR_NDIM(arr);	/* [l:u]={} per dimension */
	m.lower = 1;
	while (m.bound <= stop && array_iterate(it, &elem, &isnull))
	{
		TextSize	e;

		CHECK_FOR_INTERRUPTS();
		e = measure_element(&et, elem, isnull, stop, scratch);
		m.bound += 2 + e.bound;	/* inner braces */
		m.lower += e.lower;
	}
	array_free_iterator(it);
	return m;
}

static TextSize
measure_record(Datum value, Size stop, MemoryContext scratch)
{
	HeapTupleHeader td = DatumGetHeapTupleHeader(value);
	TupleDesc	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(td),
											  HeapTupleHeaderGetTypMod(td));
	HeapTupleData tuple;
	Datum	   *values = palloc(Max(desc->natts, 1) * sizeof(Datum));
	bool	   *nulls = palloc(Max(desc->natts, 1) * sizeof(bool));
	TextSize	m = {2, 1};
	int			i;

	tuple.t_len = HeapTupleHeaderGetDatumLength(td);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = td;
	heap_deform_tuple(&tuple, desc, values, nulls);
	for (i = 0; i < desc->natts && m.bound <= stop; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		ElemType	et;
		TextSize	e;

		if (att->attisdropped)
			continue;
		elem_type_init(&et, att->atttypid);
		e = measure_element(&et, values[i], nulls[i], stop, scratch);
		m.bound += e.bound;
		m.lower += e.lower;
	}
	ReleaseTupleDesc(desc);
	return m;
}

/* "empty", or brackets, a comma and the bounds: 1 plus the bounds' lower */
static TextSize
measure_range(TypeCacheEntry *tc, const ElemType *et, RangeType *r,
			  Size stop, MemoryContext scratch)
{
	RangeBound	lower;
	RangeBound	upper;
	bool		empty;
	TextSize	m = {8, 1};
	TextSize	e;

	range_deserialize(tc, r, &lower, &upper, &empty);
	if (empty)
		m.lower = 5;
	if (!empty && !lower.infinite)
	{
		e = measure_element(et, lower.val, false, stop, scratch);
		m.bound += e.bound;
		m.lower += e.lower;
	}
	if (!empty && !upper.infinite)
	{
		e = measure_element(et, upper.val, false, stop, scratch);
		m.bound += e.bound;
		m.lower += e.lower;
	}
	return m;
}

static TextSize
measure_one_range(Oid base, Datum value, Size stop, MemoryContext scratch)
{
	TypeCacheEntry *tc = lookup_type_cache(base, TYPECACHE_RANGE_INFO);
	ElemType	et;

	elem_type_init(&et, tc->rngelemtype->type_id);
	return measure_range(tc, &et, DatumGetRangeTypeP(value), stop, scratch);
}

static TextSize
measure_multirange(Oid typid, Datum value, Size stop, MemoryContext scratch)
{
	TypeCacheEntry *tc = lookup_type_cache(typid, TYPECACHE_MULTIRANGE_INFO);
	MultirangeType *mr = DatumGetMultirangeTypeP(value);
	RangeType **ranges;
	int32		count;
	int32		i;
	ElemType	et;
	TextSize	m = {2, 1};

	elem_type_init(&et, tc->rngtype->rngelemtype->type_id);
	multirange_deserialize(tc->rngtype, mr, &count, &ranges);
	for (i = 0; i < count && m.bound <= stop; i++)
	{
		TextSize	e;

		CHECK_FOR_INTERRUPTS();
		e = measure_range(tc->rngtype, &et, ranges[i], stop, scratch);
		m.bound += 2 + e.bound;
		m.lower += e.lower + 1;
	}
	return m;
}

/* a value of a type whose text the plugin does not know: no lower bound */
static TextSize
unknown_text(Size bound)
{
	TextSize	m;

	m.bound = bound;
	m.lower = 0;
	return m;
}

/*
 * The other varlena types, by their stored size.  The built-in ones print
 * at most eight bytes a stored byte (tsvector and tsquery: quoted, escaped
 * strings and short positions or operators; bit: a byte a bit; geometric
 * types and snapshots: numbers of 8 stored bytes), except jsonpath: it
 * stores each numeric literal in a few bytes and prints it in full
 * (1e131071: 131072 digits), as any value can at most (SMALL_EXPANSION a
 * stored byte).  A type of an extension is counted as jsonpath: its output
 * function is not known, and no smaller factor could be proven.
 */
static Size
bound_varlena(Oid base, Size raw)
{
	if (base == JSONPATHOID || base >= FirstGenbkiObjectId)
		return raw * SMALL_EXPANSION + 64;
	return 8 * raw + 64;
}

static TextSize
measure_datum(Oid typid, Datum value, Size stop, MemoryContext scratch)
{
	Oid			base = getBaseType(typid);
	int16		typlen = get_typlen(base);
	Size		raw;
	TextSize	m;

	if (typlen > 0)
		return unknown_text(bound_fixed(base, typlen));
	if (typlen == -2)
	{
		m.bound = m.lower = strlen(DatumGetCString(value));
		return m;
	}
	raw = toast_raw_datum_size(value) - VARHDRSZ;
	m.bound = m.lower = raw;
	if (base == TEXTOID || base == VARCHAROID || base == BPCHAROID ||
		base == JSONOID)
		return m;
	if (base == XMLOID)
	{
		/* xml_out may drop the XML declaration */
		m.lower = raw / 2;
		return m;
	}
	if (base == BYTEAOID)
	{
		/*
		 * hex: 2 a byte and "\x"; the escape output (1 to 4 a byte) may be
		 * twice that, still far from 1GB for any value converted
		 */
		m.bound = 2 * raw + 2;
		return m;
	}
	if (base == NUMERICOID)
		return unknown_text(NUMERIC_TEXT_MAX);
	if (raw <= W2Q_SMALL_VALUE)
		return unknown_text(raw * SMALL_EXPANSION + 64);
	if (base == JSONBOID)
		return measure_jsonb(value, stop);
	if (OidIsValid(get_element_type(base)))
		return measure_array(value, stop, scratch);
	switch (get_typtype(base))
	{
		case TYPTYPE_COMPOSITE:
		case TYPTYPE_PSEUDO:	/* record */
			if (type_is_rowtype(base))
				return measure_record(value, stop, scratch);
			break;
		case TYPTYPE_RANGE:
			return measure_one_range(base, value, stop, scratch);
		case TYPTYPE_MULTIRANGE:
			return measure_multirange(base, value, stop, scratch);
		default:
			break;
	}
	return unknown_text(bound_varlena(base, raw));
}

/*
 * An upper bound of the length of the text typid's output function makes
 * of value (the result; bytea in the escape output aside) and a lower one
 * (*lower).  Once the upper bound passes stop the walk may end early, with
 * any result above stop and *lower what the part walked proves.
 */
Size
w2q_text_bound(Oid typid, Datum value, Size stop, Size *lower)
{
	MemoryContext walk = AllocSetContextCreate(CurrentMemoryContext,
											   "wal2queue text bound",
											   ALLOCSET_DEFAULT_SIZES);
	MemoryContext scratch = AllocSetContextCreate(walk,
												  "wal2queue text bound element",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(walk);
	TextSize	m = measure_datum(typid, value, stop, scratch);

	MemoryContextSwitchTo(old);
	MemoryContextDelete(walk);
	*lower = m.lower;
	return m.bound;
}
