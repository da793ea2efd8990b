/*-------------------------------------------------------------------------
 *
 * relinfo.c
 *		Which tables are job tables, and how their rows become jobs.
 *
 * For every relation a change arrives on we keep a W2QRelInfo: whether the
 * tables option selects it, the relation it is reported as (the topmost
 * partitioned ancestor for a partition, as pgoutput's
 * publish_via_partition_root), its columns with their kind and output
 * function, the key columns and the route column.  Entries are built on
 * first use and rebuilt after relcache or schema invalidations, like
 * pgoutput's RelationSyncCache.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "pattern.h"
#include "relinfo.h"
#include "utf8.h"

static HTAB *relinfo_cache = NULL;
static uint64 relinfo_generation = 0;
static bool callbacks_registered = false;

static void
invalidate_all(void)
{
	HASH_SEQ_STATUS status;
	W2QRelInfo *entry;

	if (relinfo_cache == NULL)
		return;
	hash_seq_init(&status, relinfo_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
		entry->valid = false;
}

/*
 * A relation changed: forget it, and every partition below it.  ATTACH and
 * DETACH PARTITION invalidate the partition and its parent, so an entry
 * depends on every ancestor on its path, not only on the root.
 */
static void
relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	W2QRelInfo *entry;

	if (relinfo_cache == NULL)
		return;
	if (!OidIsValid(relid))
	{
		invalidate_all();
		return;
	}
	hash_seq_init(&status, relinfo_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		int			i;

		if (entry->relid == relid)
			entry->valid = false;
		for (i = 0; i < entry->nancestors; i++)
			if (entry->ancestors[i] == relid)
				entry->valid = false;
	}
}

/* a schema was renamed or dropped: names may have changed */
static void
syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	invalidate_all();
}

void
w2q_relinfo_init(void)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(W2QRelInfo);
	ctl.hcxt = CacheMemoryContext;
	relinfo_cache = hash_create("wal2queue relation cache", 128, &ctl,
								HASH_ELEM | HASH_CONTEXT | HASH_BLOBS);
	if (!callbacks_registered)
	{
		CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, syscache_callback,
									  (Datum) 0);
		callbacks_registered = true;
	}
}

void
w2q_relinfo_shutdown(void)
{
	HASH_SEQ_STATUS status;
	W2QRelInfo *entry;

	if (relinfo_cache == NULL)
		return;
	hash_seq_init(&status, relinfo_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
		if (entry->cxt)
			MemoryContextDelete(entry->cxt);
	hash_destroy(relinfo_cache);
	relinfo_cache = NULL;
}

static char
column_kind(Oid typid)
{
	switch (getBaseType(typid))
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			return W2Q_KIND_NUMBER;
		case BOOLOID:
			return W2Q_KIND_BOOL;
		case JSONOID:
		case JSONBOID:
			return W2Q_KIND_JSON;
		default:
			return W2Q_KIND_TEXT;
	}
}

/* s as a JSON string, followed by suffix, in the current context */
static char *
json_string(const char *s, const char *suffix)
{
	StringInfoData buf;

	initStringInfo(&buf);
	escape_json(&buf, s);
	appendStringInfoString(&buf, suffix);
	return buf.data;
}

/* the live columns of desc, with their kind and output function */
static void
build_columns(W2QRelInfo *entry, TupleDesc desc)
{
	int			i;

	entry->cols = palloc0(desc->natts * sizeof(W2QColumn));
	entry->ncols = 0;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		W2QColumn  *col;
		Oid			outfunc;
		bool		isvarlena;

		if (att->attisdropped)
			continue;
		col = &entry->cols[entry->ncols++];
		col->attnum = att->attnum;
		col->name = pstrdup(NameStr(att->attname));
		col->kind = column_kind(att->atttypid);
		col->typid = att->atttypid;
		col->basetype = getBaseType(att->atttypid);
		col->typlen = att->attlen;
		getTypeOutputInfo(att->atttypid, &outfunc, &isvarlena);
		fmgr_info_cxt(outfunc, &col->out, entry->cxt);
	}
}

static int
column_index(W2QRelInfo *entry, const char *name)
{
	int			i;

	for (i = 0; i < entry->ncols; i++)
		if (strcmp(entry->cols[i].name, name) == 0)
			return i;
	return -1;
}

static int
column_index_by_attnum(W2QRelInfo *entry, AttrNumber attnum)
{
	int			i;

	for (i = 0; i < entry->ncols; i++)
		if (entry->cols[i].attnum == attnum)
			return i;
	return -1;
}

/*
 * The primary key index of rel, DEFERRABLE or not: the relcache's
 * rd_pkindex leaves out a deferrable one (it cannot serve as replica
 * identity), but it is still the key of the row.
 */
static HeapTuple
primary_key_index(Relation rel)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;

	foreach(lc, indexes)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID,
										  ObjectIdGetDatum(lfirst_oid(lc)));

		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for index %u", lfirst_oid(lc));
		if (((Form_pg_index) GETSTRUCT(tup))->indisprimary)
		{
			list_free(indexes);
			return tup;
		}
		ReleaseSysCache(tup);
	}
	list_free(indexes);
	return NULL;
}

/* key columns: key-column if the table has it, else the primary key */
static void
build_keys(W2QRelInfo *entry, Relation root, const W2QOptions *opt)
{
	HeapTuple	tup;
	Form_pg_index idx;
	int			i;

	entry->nkeys = 0;
	if (opt->key_column && (i = column_index(entry, opt->key_column)) >= 0)
	{
		entry->keys = palloc(sizeof(int));
		entry->keys[entry->nkeys++] = i;
		return;
	}
	if ((tup = primary_key_index(root)) == NULL)
		return;
	idx = (Form_pg_index) GETSTRUCT(tup);
	entry->keys = palloc(idx->indnkeyatts * sizeof(int));
	for (i = 0; i < idx->indnkeyatts; i++)
	{
		int			c = column_index_by_attnum(entry, idx->indkey.values[i]);

		if (c >= 0)
			entry->keys[entry->nkeys++] = c;
	}
	ReleaseSysCache(tup);
}

/*
 * The relation a partition is reported as: its topmost ancestor, reached
 * through attached partitions only.  get_partition_ancestors() stops at a
 * detach-pending link (a cancelled or running DETACH PARTITION CONCURRENTLY):
 * new queries on the root no longer see that partition, so neither do we.
 * A detach-pending partition is its own root, as it will be once the detach
 * is finalized, and a partition below it is reported as it.  The list is
 * empty for a detach-pending partition: never take llast() of it.
 */
static void
find_root(W2QRelInfo *entry, Relation relation)
{
	List	   *ancestors = get_partition_ancestors(RelationGetRelid(relation));
	ListCell   *lc;

	if (ancestors == NIL)
		return;
	entry->ancestors = palloc(list_length(ancestors) * sizeof(Oid));
	foreach(lc, ancestors)
		entry->ancestors[entry->nancestors++] = lfirst_oid(lc);
	entry->root_relid = llast_oid(ancestors);
	list_free(ancestors);
}

/*
 * The names as jobs carry them: UTF-8 (utf8.c), and as JSON strings.  Done
 * last: the options name columns in the database encoding.
 */
static void
output_names(W2QRelInfo *entry)
{
	int			i;

	entry->name = w2q_to_utf8(entry->name, strlen(entry->name));
	entry->json_name = json_string(entry->name, "");
	for (i = 0; i < entry->ncols; i++)
	{
		W2QColumn  *col = &entry->cols[i];

		col->name = w2q_to_utf8(col->name, strlen(col->name));
		col->json_key = json_string(col->name, ":");
	}
}

/* fill a fresh entry for relation */
static void
build_entry(W2QRelInfo *entry, Relation relation, const W2QOptions *opt)
{
	Relation	root = relation;
	MemoryContext old;
	char	   *schema;

	entry->generation = ++relinfo_generation;
	entry->cxt = AllocSetContextCreate(CacheMemoryContext,
									   "wal2queue relation info",
									   ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(entry->cxt);

	entry->root_relid = RelationGetRelid(relation);
	entry->map = NULL;
	entry->nancestors = 0;
	entry->ncols = 0;
	entry->cols = NULL;
	entry->nkeys = 0;
	entry->route = -1;
	if (relation->rd_rel->relispartition)
		find_root(entry, relation);
	if (entry->root_relid != RelationGetRelid(relation))
	{
		root = RelationIdGetRelation(entry->root_relid);
		if (!RelationIsValid(root))
			elog(ERROR, "could not open relation with OID %u",
				 entry->root_relid);
	}
	schema = get_namespace_name(RelationGetNamespace(root));
	entry->name = psprintf("%s.%s", schema, RelationGetRelationName(root));
	/*
	 * Tables only: not materialized views (REFRESH ... CONCURRENTLY).  With
	 * no tables option, every table but the extension's own bookkeeping in
	 * schema wal2queue (its slot registry is not a job table).
	 */
	entry->include =
		(root->rd_rel->relkind == RELKIND_RELATION ||
		 root->rd_rel->relkind == RELKIND_PARTITIONED_TABLE) &&
		(opt->tables != NIL || strcmp(schema, "wal2queue") != 0) &&
		w2q_patterns_match(opt->tables, schema, RelationGetRelationName(root));
	if (entry->include)
	{
		build_columns(entry, RelationGetDescr(root));
		build_keys(entry, root, opt);
		entry->route = opt->route_column ? column_index(entry, opt->route_column) : -1;
		if (root != relation)
			entry->map = convert_tuples_by_name(CreateTupleDescCopy(RelationGetDescr(relation)),
												CreateTupleDescCopy(RelationGetDescr(root)));
	}
	output_names(entry);
	if (root != relation)
		RelationClose(root);
	MemoryContextSwitchTo(old);
	entry->valid = true;
}

W2QRelInfo *
w2q_relinfo_get(Relation relation, const W2QOptions *opt)
{
	Oid			relid = RelationGetRelid(relation);
	W2QRelInfo *entry;
	bool		found;

	entry = hash_search(relinfo_cache, &relid, HASH_ENTER, &found);
	if (found && entry->valid)
		return entry;
	if (found && entry->cxt)
		MemoryContextDelete(entry->cxt);
	entry->cxt = NULL;
	entry->valid = false;
	PG_TRY();
	{
		build_entry(entry, relation, opt);
	}
	PG_CATCH();
	{
		if (entry->cxt)
			MemoryContextDelete(entry->cxt);
		entry->cxt = NULL;
		PG_RE_THROW();
	}
	PG_END_TRY();
	return entry;
}
