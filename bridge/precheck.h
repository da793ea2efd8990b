/*-------------------------------------------------------------------------
 *
 * precheck.h
 *		Warnings at start for a selection that streams nothing: a --tables
 *		pattern that matches no table, a --route-column, --key-column or
 *		--value-column that no selected table has; and for one that others
 *		can add to: a selected schema in which PUBLIC or a role other than
 *		its owner may CREATE (such a role can put jobs on any target through
 *		a table of its own).  The plugin matches tables when it decodes
 *		them, so a table created later still counts: these are warnings,
 *		never errors.
 *
 *-------------------------------------------------------------------------
 */
#ifndef W2Q_PRECHECK_H
#define W2Q_PRECHECK_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

typedef struct PrecheckOptions
{
	const char *tables;			/* the plugin's tables option, or NULL */
	const char *route_column;	/* or NULL */
	const char *key_column;		/* or NULL */
	const char *value_column;	/* or NULL */
} PrecheckOptions;

/*
 * One tables pattern ("schema.table", '*' for any run of characters but
 * '.') as two LIKE patterns, one for the schema and one for the table
 * ("*" alone: every table).  LIKE's own wildcards and its escape character
 * are escaped.  Returns false for a pattern that is not schema-qualified or
 * does not fit.
 */
extern bool precheck_pattern_to_like(const char *pattern, char *schema_like,
									 char *table_like, size_t buflen);

/*
 * Run the catalog queries on conn (plain SQL: a replication=database
 * connection will do) and log a warning for each problem.  Returns the
 * number of warnings, or -1 if the check itself could not be made (also
 * logged, as a warning).
 */
extern int	precheck_run(PGconn *conn, const PrecheckOptions *opts);

/*
 * --plugin=pgoutput: refuse a connection whose text would not arrive as
 * UTF-8 (a client encoding the server did not set to UTF8, which the
 * bridge asks for on every connection; a SQL_ASCII database always).
 * Returns 0, or 1 with the reason in err.
 */
extern int	precheck_encoding(PGconn *conn, char *err, size_t errlen);

#endif							/* W2Q_PRECHECK_H */
