/*-------------------------------------------------------------------------
 *
 * backfill_sql.h
 *		The SQL side of the backfill: which tables, their columns and keys,
 *		and keyset pages of their rows (see backfill.h).
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_BACKFILL_SQL_H
#define W2Q_BACKFILL_SQL_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "frame.h"
#include "rowjob.h"
#include "tablematch.h"

/* a selected table, as the backfill reads it */
typedef struct BfTable
{
	char	   *qname;			/* %I.%I: what the SQL and the state name */
	char	   *name;			/* schema.table: the jobs' table and target */
	uint32_t	oid;
	bool		partitioned;	/* read with its partitions (else ONLY) */
	double		reltuples;		/* the estimate, partitions summed */
	RowjobRel	rr;				/* its rows into jobs, as the stream's */
	uint32_t	ncols;
	char	  **colnames;		/* NUL-terminated copies of the names */
	uint32_t   *typoids;		/* their types (COLUMNS_SQL's) */
	int			nkeys;
	int		   *keycols;		/* column indexes of the key, index order */
	char	  **keytypes;		/* format_type() of each one's base type (a
								 * domain's, recursively), for the casts */
	char	  **keyops;			/* "OPERATOR(schema.>)" of each: the ">" of
								 * the index's own opclass (indclass) */
	char	  **keyeqs;			/* and its "=", "OPERATOR(schema.=)" */
	char	  **keylts;			/* and its "<", for ORDER BY ... USING */
	char	  **keycolls;		/* " COLLATE schema.name" of the index's
								 * collation (indcollation), or "": the
								 * pages' order is the index's */
	bool		primary;		/* the key is the primary key (the jobs' key) */
	char	   *keydef;			/* the key's identity and, for people, its
								 * names: BF_KEYDEF_TAG "attnum:typoid:collid,
								 * ...; id integer (type 23, collation 0),
								 * ...": the order of the pages (the state's
								 * keydef); compared by the part before "; " */
} BfTable;

/*
 * A keydef of this form starts with the tag; its key texts were printed
 * with the pinned settings (BF_PINNED_SETTINGS).  An older state's keydef
 * is the names part alone (or ""), its key printed with the session's.
 */
#define BF_KEYDEF_TAG "w2q2 "

/*
 * What every backfill connection pins, whatever else it pins, so that its
 * own SQL runs no code of another role and reads a --backfill condition as
 * backfill_condition.c does: a search_path of pg_catalog alone (operators
 * and functions are never looked up in pg_temp), so that an operator or a
 * function planted in a schema of the session's path (public, "$user") is
 * never chosen for the bridge's comparisons or casts; and standard-
 * conforming strings, '...' without backslash escapes whatever the
 * database's or role's setting.  A condition's names of the application's
 * schemas must therefore be schema-qualified (docs/operations.md).
 */
#define BF_SAFE_SETTINGS \
	"SET search_path = pg_catalog, pg_temp; SET standard_conforming_strings = on"

/*
 * The settings a backfill connection pins, so that a position key's text
 * reads back as the same value in a later session whatever the server's,
 * database's or role's defaults: the ones PostgreSQL's own logical
 * replication pins on its walsenders (libpqwalreceiver), and
 * BF_SAFE_SETTINGS.  DateStyle's input order (DMY, MDY) is left as it was:
 * ISO texts do not depend on it, and a --backfill condition's literals are
 * read as the user wrote them.
 */
#define BF_PINNED_SETTINGS \
	BF_SAFE_SETTINGS "; SET datestyle = ISO; SET intervalstyle = postgres; SET extra_float_digits = 3"

/*
 * Every backfill connection that reads rows: a row-level security policy
 * that would hide rows is an error ("query would be affected by row-level
 * security policy"), as in pg_dump, never a silently shorter backfill.
 */
#define BF_NO_ROW_SECURITY "SET row_security = off"

/*
 * The rows' text in UTF-8 whatever the database's encoding or the
 * environment's PGCLIENTENCODING: the plugin converts every value to UTF-8,
 * so a backfilled job carries the bytes a streamed one does.  (A reader of
 * an older state's position, unpinned, keeps the session's encoding, as its
 * key was printed in.)
 */
#define BF_CLIENT_ENCODING "SET client_encoding = 'UTF8'"

/*
 * The name of a page's column read as the hex of its bytes in the
 * database's encoding, followed by the encoding ("w2q_hex:WIN1252"):
 * bf_page_build() converts it to UTF-8 (backfill_sql.c select_item())
 */
#define BF_HEX_ALIAS "w2q_hex:"

/*
 * The hint for a server error of a read: for a row-level security policy's,
 * what to run the bridge as; else ""
 */
extern const char *bf_read_hint(const char *server_message);

/*
 * The hint for a server error of a --backfill condition (its SQLSTATE): for
 * a name not found (a function, a type, a table, a schema, an operator),
 * that the condition is read with search_path = pg_catalog; else ""
 */
extern const char *bf_condition_hint(const char *sqlstate);

typedef struct BfTables
{
	int			n;
	BfTable    *t;
} BfTables;

/* the selection: --tables patterns, and pgoutput's publication or NULL */
typedef struct BfSelect
{
	const TablePatterns *patterns;
	const char *publication;
	const char *route_column;	/* the jobs' shape, as the stream's */
	const char *key_column;
} BfSelect;

/*
 * The selected tables in name order, with columns and keys; a table with
 * neither a primary key nor a replica identity index is an error naming
 * it.  Returns 0, or -1 with a message in err.
 */
extern int	bf_tables_load(PGconn *conn, const BfSelect *sel, BfTables *out,
						   char *err, size_t errlen);
extern void bf_tables_free(BfTables *ts);

/* the table named qname (%I.%I), or -1 */
extern int	bf_table_index(const BfTables *ts, const char *qname);

/*
 * A table the selection no longer holds: does qname (%I.%I) still exist
 * (1, else 0), and the index of the first selected table that sorts after
 * it (ts->n if none), in the order bf_tables_load() reads them; -1 on error
 * with a message in err.
 */
extern int	bf_table_gone(PGconn *conn, const BfTables *ts, const char *qname,
						  int *next, char *err, size_t errlen);

/*
 * The relation of oid now: 1 with its %I.%I name in buf, 0 if it was
 * dropped, -1 on error with a message in err
 */
extern int	bf_table_now(PGconn *conn, uint32_t oid, char *buf, size_t len,
						 char *err, size_t errlen);

/*
 * Does each of t's saved key texts (after, t->nkeys) still read as its
 * column's type (an enum label renamed since does not)?  1 yes; 0 no, the
 * server's error in err; -1 on a failure to ask, a message in err
 */
extern int	bf_key_readable(PGconn *conn, const BfTable *t, char **after,
							char *err, size_t errlen);

/*
 * One page: up to limit rows of t matching condition (NULL: all) whose key
 * is past after (NULL: from the start), in key order.  With visible_in (a
 * saved pg_snapshot text) only rows whose xmin that snapshot sees.
 * Returns the result, or NULL with a message in err.
 */
extern PGresult *bf_page(PGconn *conn, const BfTable *t, const char *condition,
						 char **after, const char *visible_in, int limit,
						 char *err, size_t errlen);

/*
 * bf_page, but with keep not NULL every column that is neither a key column
 * nor named in keep (NULL-terminated) read as NULL; on an error its SQLSTATE
 * in sqlstate (6 bytes)
 */
extern PGresult *bf_page_only(PGconn *conn, const BfTable *t, const char *condition,
							  char **after, const char *visible_in, int limit,
							  const char *const *keep, char *sqlstate,
							  char *err, size_t errlen);

/*
 * The SQL condition (in parentheses) "the row's xmin is visible in the
 * saved snapshot", the pg_snapshot text being the query parameter param
 * ("$3"); buf of 1024 bytes suffices.
 */
extern void bf_visible_clause(char *buf, size_t len, const char *param);

#endif							/* W2Q_BACKFILL_SQL_H */
