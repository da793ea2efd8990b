/*-------------------------------------------------------------------------
 *
 * relinfo.h
 *		Which tables are job tables, and how their rows become jobs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_RELINFO_H
#define W2Q_RELINFO_H

#include "access/tupconvert.h"
#include "fmgr.h"
#include "utils/relcache.h"

#include "options.h"

/* column kinds, as in FORMAT.md */
#define W2Q_KIND_NUMBER 'n'
#define W2Q_KIND_BOOL	'b'
#define W2Q_KIND_JSON	'j'
#define W2Q_KIND_TEXT	't'

/* one output column of a selected table */
typedef struct W2QColumn
{
	AttrNumber	attnum;			/* in the reported (root) descriptor */
	char	   *name;
	char	   *json_key;		/* "name": escaped once, for the JSON form */
	char		kind;			/* W2Q_KIND_* */
	Oid			typid;
	Oid			basetype;		/* typid, or a domain's base type */
	int16		typlen;
	FmgrInfo	out;			/* the type's output function */
} W2QColumn;

/* what we know about one table, keyed by the OID of the changed relation */
typedef struct W2QRelInfo
{
	Oid			relid;			/* hash key */
	bool		valid;
	uint64		generation;		/* unique per build: a rebuilt entry differs;
								 * 0 for the claim check relation */
	bool		include;		/* selected by the tables option */
	Oid			root_relid;		/* reported relation (partitioned root) */
	int			nancestors;		/* partition: ancestors up to root_relid */
	Oid		   *ancestors;
	char	   *name;			/* "schema.table" of the reported relation */
	char	   *json_name;		/* the same as a JSON string */
	int			ncols;
	W2QColumn  *cols;
	TupleConversionMap *map;	/* partition row -> root row, or NULL */
	int			nkeys;			/* key columns (indexes into cols) */
	int		   *keys;
	int			route;			/* index into cols, or -1 */
	MemoryContext cxt;			/* everything above lives here */
} W2QRelInfo;

extern void w2q_relinfo_init(void);
extern void w2q_relinfo_shutdown(void);
extern W2QRelInfo *w2q_relinfo_get(Relation relation, const W2QOptions *opt);

#endif							/* W2Q_RELINFO_H */
