/*-------------------------------------------------------------------------
 *
 * precheck.c
 *		Catalog queries that warn, at start, about a --tables pattern that
 *		matches no table, columns no selected table has, selected tables
 *		that are unlogged and selected schemas in which other roles may
 *		create tables (see precheck.h).
 *
 * The queries are plain SQL without parameters, so that they also run on a
 * replication connection (no extended query protocol there); every value
 * goes through PQescapeLiteral.  The tables considered are the ones the
 * plugin decodes: ordinary and partitioned tables, partitions counted under
 * their root, system schemas left out.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE				/* asprintf, open_memstream */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"
#include "errbuf.h"
#include "log.h"
#include "precheck.h"

#define USER_TABLES \
	"FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace " \
	"WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition " \
	"AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'"

/* s[0..n) as a LIKE pattern: '*' to '%', LIKE's specials escaped */
static bool
part_to_like(const char *s, size_t n, char *out, size_t outlen)
{
	size_t		j = 0;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		if (j + 3 > outlen)
			return false;
		if (s[i] == '*')
			out[j++] = '%';
		else
		{
			if (s[i] == '%' || s[i] == '_' || s[i] == '\\')
				out[j++] = '\\';
			out[j++] = s[i];
		}
	}
	if (j >= outlen)
		return false;
	out[j] = '\0';
	return true;
}

bool
precheck_pattern_to_like(const char *pattern, char *schema_like,
						 char *table_like, size_t buflen)
{
	const char *dot = strchr(pattern, '.');

	if (strcmp(pattern, "*") == 0)
		return part_to_like("*", 1, schema_like, buflen) &&
			part_to_like("*", 1, table_like, buflen);
	if (dot == NULL || dot == pattern || dot[1] == '\0')
		return false;
	return part_to_like(pattern, (size_t) (dot - pattern), schema_like, buflen) &&
		part_to_like(dot + 1, strlen(dot + 1), table_like, buflen);
}

/* the next comma-separated pattern, blanks trimmed, into buf; NULL at end */
static const char *
next_pattern(const char **p, char *buf, size_t buflen)
{
	const char *s = *p;
	size_t		n;

	if (s == NULL || *s == '\0')
		return NULL;
	n = strcspn(s, ",");
	*p = s[n] == ',' ? s + n + 1 : s + n;
	while (n > 0 && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n >= buflen)
		n = buflen - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return buf;
}

/*
 * The tables rules of common/tablepattern.h: a '*' in the schema part (or
 * "*" alone, or no --tables) never reaches the extension's schema, whose
 * tables (wal2queue.guard_rewrites, UNLOGGED by design) are selected only
 * by a pattern that writes "wal2queue" out (test/t/603).
 */
#define NOT_EXTENSION_SCHEMA "n.nspname <> 'wal2queue'"
/* and the extension's signing keys are never selected (test/t/612) */
#define NOT_MESSAGE_KEY "NOT (n.nspname = 'wal2queue' AND c.relname = 'message_key')"

static bool
wild_schema(const char *pattern)
{
	const char *dot = strchr(pattern, '.');

	return dot == NULL || memchr(pattern, '*', (size_t) (dot - pattern)) != NULL;
}

/* " AND n.nspname LIKE '…' AND c.relname LIKE '…'" for one pattern */
static bool
append_pattern(PGconn *conn, FILE *sql, const char *pattern)
{
	char		schema[512];
	char		table[512];
	char	   *ls;
	char	   *lt;

	if (!precheck_pattern_to_like(pattern, schema, table, sizeof(schema)))
		return false;
	ls = PQescapeLiteral(conn, schema, strlen(schema));
	lt = PQescapeLiteral(conn, table, strlen(table));
	if (ls && lt)
		fprintf(sql, "(n.nspname LIKE %s AND c.relname LIKE %s%s AND " NOT_MESSAGE_KEY ")", ls, lt,
				wild_schema(pattern) ? " AND " NOT_EXTENSION_SCHEMA : "");
	PQfreemem(ls);
	PQfreemem(lt);
	return ls && lt;
}

/* count(*) of a query; -1 (and a warning) if it fails */
static long
count_rows(PGconn *conn, const char *sql)
{
	PGresult   *res = PQexec(conn, sql);
	long		n = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		n = atol(PQgetvalue(res, 0, 0));
	else
		log_msg(LOG_WARNING, "could not check --tables and columns: %s",
				PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) ?
				PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : PQerrorMessage(conn));
	PQclear(res);
	return n;
}

/* warn for each pattern that matches no table; the selection into sel */
static int
check_patterns(PGconn *conn, const char *tables, FILE *sel)
{
	const char *p = tables;
	char		pattern[512];
	int			warnings = 0;
	bool		first = true;

	fputs(" AND (", sel);
	while (next_pattern(&p, pattern, sizeof(pattern)) != NULL)
	{
		char	   *one = NULL;
		size_t		len;
		FILE	   *sql = open_memstream(&one, &len);
		long		n;

		if (sql == NULL)
			return -1;
		fputs("SELECT count(*) " USER_TABLES " AND ", sql);
		if (!append_pattern(conn, sql, pattern))
		{
			/* not schema-qualified: the plugin refuses it, naming it */
			fclose(sql);
			free(one);
			continue;
		}
		fputs(first ? "" : " OR ", sel);
		append_pattern(conn, sel, pattern);
		first = false;
		fclose(sql);
		n = count_rows(conn, one);
		free(one);
		if (n < 0)
			return -1;
		if (n == 0)
		{
			log_msg(LOG_WARNING, "--tables pattern \"%s\" matches no table in this database "
					"(yet): nothing of it will be streamed until such a table exists", pattern);
			warnings++;
		}
	}
	fputs(first ? "false)" : ")", sel);
	return warnings;
}

/* warn if no selected table has the column */
static int
check_column(PGconn *conn, const char *selection, bool all, const char *option,
			 const char *column)
{
	char	   *lit = PQescapeLiteral(conn, column, strlen(column));
	char	   *sql = NULL;
	long		n;

	if (lit == NULL ||
		asprintf(&sql, "SELECT count(*) " USER_TABLES "%s AND EXISTS (SELECT 1 FROM "
				 "pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attname = %s "
				 "AND a.attnum > 0 AND NOT a.attisdropped)", selection, lit) < 0)
		sql = NULL;
	PQfreemem(lit);
	if (sql == NULL)
		return -1;
	n = count_rows(conn, sql);
	free(sql);
	if (n < 0)
		return -1;
	if (n > 0)
		return 0;
	log_msg(LOG_WARNING, "%s \"%s\" is not a column of any table %s", option, column,
			all ? "in this database" : "--tables selects");
	return 1;
}

/* warn about selected tables (or partitions) that are unlogged */
static int
check_unlogged(PGconn *conn, const char *selection)
{
	char	   *sql = NULL;
	PGresult   *res;
	int			rc = -1;

	if (asprintf(&sql, "SELECT pg_catalog.string_agg(pg_catalog.format('%%I.%%I', n.nspname, c.relname), ', ') "
				 USER_TABLES "%s AND (c.relpersistence = 'u' OR EXISTS (SELECT 1 FROM "
				 "pg_catalog.pg_partition_tree(c.oid) t JOIN pg_catalog.pg_class p ON p.oid = t.relid "
				 "WHERE p.relpersistence = 'u'))", selection) < 0)
		return -1;
	res = PQexec(conn, sql);
	free(sql);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
	{
		rc = 0;
		if (!PQgetisnull(res, 0, 0))
		{
			log_msg(LOG_WARNING, "selected tables are UNLOGGED, so their rows never reach WAL and "
					"are never streamed: %s (ALTER TABLE ... SET LOGGED)", PQgetvalue(res, 0, 0));
			rc = 1;
		}
	}
	else
		log_msg(LOG_WARNING, "could not check for unlogged tables: %s",
				PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) ?
				PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : PQerrorMessage(conn));
	PQclear(res);
	return rc;
}

/*
 * The schemas a role could create a selected table in, as a condition on
 * n: with no --tables, every schema but wal2queue (the plugin's default);
 * else the schemas of the patterns whose table part has a '*' or matches
 * no table there yet (a role cannot create a table whose name is taken).
 */
static bool
open_schema_selection(PGconn *conn, const char *tables, FILE *sql)
{
	const char *p = tables;
	char		pattern[512];
	char		schema[512];
	char		table[512];
	bool		first = true;

	if (tables == NULL || strcmp(tables, "*") == 0)
	{
		fputs(NOT_EXTENSION_SCHEMA, sql);
		return true;
	}
	fputs("(", sql);
	while (next_pattern(&p, pattern, sizeof(pattern)) != NULL)
	{
		const char *dot = strchr(pattern, '.');
		char	   *ls;
		char	   *lt;

		if (!precheck_pattern_to_like(pattern, schema, table, sizeof(schema)))
			continue;
		ls = PQescapeLiteral(conn, schema, strlen(schema));
		lt = PQescapeLiteral(conn, table, strlen(table));
		if (ls && lt)
			fprintf(sql, "%s(n.nspname LIKE %s%s AND (%s OR NOT EXISTS (SELECT 1 FROM "
					"pg_catalog.pg_class c WHERE c.relnamespace = n.oid AND c.relname LIKE %s)))",
					first ? "" : " OR ", ls, wild_schema(pattern) ? " AND " NOT_EXTENSION_SCHEMA : "",
					(dot == NULL || strchr(dot, '*')) ? "true" : "false", lt);
		PQfreemem(ls);
		PQfreemem(lt);
		if (!ls || !lt)
			return false;
		first = false;
	}
	fputs(first ? "false)" : ")", sql);
	return true;
}

/*
 * warn about the selected schemas in which PUBLIC or a role other than the
 * schema's owner (and not a superuser) may CREATE: such a role can create a
 * table the bridge selects and put a job on any target through its route
 * column (what pg_upgrade from PostgreSQL 14 or older keeps for schema
 * public); the plugin selects tables by name, whoever owns them
 */
static int
check_open_schemas(PGconn *conn, const char *tables)
{
	char	   *sql = NULL;
	size_t		len;
	FILE	   *f = open_memstream(&sql, &len);
	PGresult   *res;
	int			rc = -1;

	if (f == NULL)
		return -1;
	fputs("SELECT pg_catalog.string_agg(pg_catalog.format('%I (%s)', s.nspname, s.who), ', ' "
		  "ORDER BY s.nspname) FROM (SELECT n.nspname, pg_catalog.string_agg(CASE WHEN a.grantee = 0 "
		  "THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r.rolname) END, ', ' ORDER BY r.rolname NULLS FIRST) AS who "
		  "FROM pg_catalog.pg_namespace n CROSS JOIN LATERAL pg_catalog.aclexplode(COALESCE(n.nspacl, "
		  "pg_catalog.acldefault('n', n.nspowner))) a LEFT JOIN pg_catalog.pg_roles r ON r.oid = a.grantee "
		  "WHERE a.privilege_type = 'CREATE' AND a.grantee <> n.nspowner AND (a.grantee = 0 OR NOT r.rolsuper) "
		  "AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' AND ", f);
	if (!open_schema_selection(conn, tables, f))
	{
		fclose(f);
		free(sql);
		return -1;
	}
	fputs(" GROUP BY n.nspname) s", f);
	fclose(f);
	res = PQexec(conn, sql);
	free(sql);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
	{
		rc = 0;
		if (!PQgetisnull(res, 0, 0))
		{
			log_msg(LOG_WARNING, "roles other than the schema's owner may create tables in schemas that %s "
					"selects: %s; such a role can put a job on any target through a table of its own; "
					"hint: REVOKE CREATE ON SCHEMA ... FROM PUBLIC (and from the roles named), "
					"or select the job tables with --tables",
					tables ? "--tables" : "the default selection (no --tables: every table)",
					PQgetvalue(res, 0, 0));
			rc = 1;
		}
	}
	else
		log_msg(LOG_WARNING, "could not check who may create tables in the selected schemas: %s",
				PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) ?
				PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : PQerrorMessage(conn));
	PQclear(res);
	return rc;
}

int
precheck_run(PGconn *conn, const PrecheckOptions *opts)
{
	char	   *selection = NULL;
	size_t		len;
	FILE	   *sel = open_memstream(&selection, &len);
	int			warnings = 0;
	int			rc = 0;
	const char *const options[] = {"--route-column", "--key-column", "--value-column"};
	const char *const columns[] = {opts->route_column, opts->key_column, opts->value_column};
	int			i;
	bool		all = !opts->tables || strcmp(opts->tables, "*") == 0;

	if (sel == NULL)
		return -1;
	if (!all)
		rc = check_patterns(conn, opts->tables, sel);
	else
		fputs(" AND " NOT_EXTENSION_SCHEMA, sel);
	fclose(sel);
	for (i = 0; i < 3 && rc >= 0; i++)
	{
		warnings += rc;
		rc = columns[i] ? check_column(conn, selection, all, options[i], columns[i]) : 0;
	}
	if (rc >= 0)
	{
		warnings += rc;
		rc = check_unlogged(conn, selection);
	}
	if (rc >= 0)
	{
		warnings += rc;
		rc = check_open_schemas(conn, opts->tables);
	}
	free(selection);
	return rc < 0 ? -1 : warnings + rc;
}

/*
 * --plugin=pgoutput: pgoutput sends text (values, names, a message's
 * prefix) in the connection's client encoding, and jobs carry UTF-8.  The
 * SQL connections ask for client_encoding UTF8 (pgerror_connect(),
 * overriding -d and PGCLIENTENCODING: test/t/456); this checks that the
 * server took it.  The stream itself runs in the database's encoding, which
 * the server never has to convert (stream.c), and the bridge converts to
 * UTF-8 with U+FFFD for what UTF-8 lacks (encoding.h, test/t/470): so the
 * database's encoding must be one iconv knows.  The wal2queue plugin
 * converts by itself.  SQL_ASCII has no encoding to convert from (the
 * server would refuse invalid UTF-8 at every attempt to send it).
 */
int
precheck_encoding(PGconn *conn, char *err, size_t errlen)
{
	const char *server = PQparameterStatus(conn, "server_encoding");
	const char *client = PQparameterStatus(conn, "client_encoding");

	if (server && strcmp(server, "SQL_ASCII") == 0)
		return errbuf_set(err, errlen, 1,
						  "database encoding SQL_ASCII is not supported with --plugin=pgoutput: "
						  "jobs carry UTF-8 and SQL_ASCII text has no known encoding; "
						  "hint: use a UTF8 database");
	if (encoding_converts(server) && encoding_iconv_name(server) == NULL)
		return errbuf_set(err, errlen, 1,
						  "database encoding %s is not supported with --plugin=pgoutput: "
						  "the bridge cannot convert it to UTF-8; hint: use a UTF8 database",
						  server);
	if (client == NULL || strcmp(client, "UTF8") == 0)
		return 0;
	return errbuf_set(err, errlen, 1,
					  "client encoding %s is not supported with --plugin=pgoutput: "
					  "pgoutput sends text in the client encoding and jobs carry UTF-8 "
					  "(database encoding %s), and the bridge asked for UTF8; "
					  "hint: check what sets client_encoding for the bridge's connection", client,
					  server ? server : "unknown");
}
