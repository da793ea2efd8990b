/*-------------------------------------------------------------------------
 *
 * publication.c
 *		Check (and with --create-slot create) the publication the pgoutput
 *		mode streams.
 *
 * The publication decides what the server sends; --tables decides what
 * the bridge keeps.  A table --tables selects but the publication leaves
 * out would silently never produce a job, so it is an error at start, with
 * the ALTER PUBLICATION to run.  Created publications publish inserts only,
 * via the partitioned root (so a partition's rows carry the root's name,
 * as with the plugin).  The publication must exist before the slot: pgoutput
 * reads it as of each decoded transaction, so it is created first.
 *
 * Queries are plain SQL without parameters (a replication connection has
 * no extended query protocol); values go through PQescapeLiteral and
 * names through PQescapeIdentifier.  They run through the caller's
 * executor (PgExec: the stream open's, bounded by --recv-timeout and the
 * stop flag, test/t/573): a command given up leaves err to the executor's
 * owner, which has said why.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "log.h"
#include "publication.h"

#define SELECTABLE_TABLES \
	"SELECT n.nspname, c.relname FROM pg_catalog.pg_class c " \
	"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace " \
	"WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition " \
	"AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' " \
	"ORDER BY 1, 2"

/*
 * Every table's primary key: replica identity, DEFERRABLE or not, its key
 * columns in index order and in table order, whether the table has a
 * column named %s (--key-column, or NULL), and its name as SQL says it.
 */
#define PRIMARY_KEYS \
	"SELECT n.nspname, c.relname, c.relreplident, i.indimmediate, " \
	"(SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord) FROM %s), " \
	"(SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) FROM %s), " \
	"EXISTS (SELECT FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid " \
	" AND a.attnum > 0 AND NOT a.attisdropped AND a.attname = %s), " \
	"format('%%I.%%I', n.nspname, c.relname) " \
	"FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace " \
	"JOIN pg_catalog.pg_index i ON i.indrelid = c.oid AND i.indisprimary " \
	"WHERE c.relkind IN ('r', 'p') " \
	"AND NOT c.relispartition AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' " \
	"ORDER BY 1, 2"
#define KEY_COLUMNS \
	"unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) " \
	"JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum " \
	"WHERE k.ord <= i.indnkeyatts"

/* the event trigger that makes pgoutput describe a renamed schema's tables again */
#define RENAME_TRIGGER "wal2queue_schema_rename"
#define RENAME_TRIGGER_SQL \
	"SELECT EXISTS (SELECT FROM pg_catalog.pg_event_trigger WHERE evtname = '" RENAME_TRIGGER "' " \
	"AND evtevent = 'ddl_command_end' AND evtenabled IN ('O', 'A'))"

/* the selectable tables' stored generated columns named %s (a list) */
#define GENERATED_COLUMNS \
	"SELECT n.nspname, c.relname, a.attname FROM pg_catalog.pg_attribute a " \
	"JOIN pg_catalog.pg_class c ON c.oid = a.attrelid " \
	"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace " \
	"WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition " \
	"AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' " \
	"AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated <> '' " \
	"AND a.attname IN (%s, %s) ORDER BY 1, 2, 3"

/*
 * The publication's tables with a row filter or a column list (PostgreSQL
 * 15), each with the table it is published as (its partition root, or
 * itself), and the publication's objects without them (a SET list).
 */
#define FILTERED_TABLES \
	"SELECT rn.nspname, r.relname, format('%%I.%%I', n.nspname, c.relname), " \
	"pg_catalog.pg_get_expr(pr.prqual, pr.prrelid), " \
	"(SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) " \
	" FROM pg_catalog.pg_attribute a WHERE a.attrelid = pr.prrelid " \
	" AND a.attnum = ANY (pr.prattrs)), " \
	"(SELECT concat_ws(', ', " \
	"  (SELECT 'TABLE ' || string_agg(format('%%I.%%I', n2.nspname, c2.relname), ', ') " \
	"   FROM pg_catalog.pg_publication_rel pr2 JOIN pg_catalog.pg_class c2 ON c2.oid = pr2.prrelid " \
	"   JOIN pg_catalog.pg_namespace n2 ON n2.oid = c2.relnamespace WHERE pr2.prpubid = p.oid), " \
	"  (SELECT string_agg('TABLES IN SCHEMA ' || quote_ident(n3.nspname), ', ') " \
	"   FROM pg_catalog.pg_publication_namespace pn JOIN pg_catalog.pg_namespace n3 " \
	"   ON n3.oid = pn.pnnspid WHERE pn.pnpubid = p.oid))) " \
	"FROM pg_catalog.pg_publication p " \
	"JOIN pg_catalog.pg_publication_rel pr ON pr.prpubid = p.oid " \
	"JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid " \
	"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace " \
	"JOIN pg_catalog.pg_class r ON r.oid = coalesce(pg_catalog.pg_partition_root(pr.prrelid), pr.prrelid) " \
	"JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace " \
	"WHERE p.pubname = %s AND (pr.prqual IS NOT NULL OR pr.prattrs IS NOT NULL) " \
	"ORDER BY 1, 2, 3"

/* a growing string; on out of memory it stays NULL */
typedef struct Str
{
	char	   *s;
	size_t		len;
	size_t		cap;
	bool		failed;
} Str;

static void
str_add(Str *b, const char *t)
{
	size_t		n = strlen(t);

	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 256;
		char	   *p;

		while (b->len + n + 1 > cap)
			cap *= 2;
		if ((p = realloc(b->s, cap)) == NULL)
		{
			b->failed = true;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, t, n + 1);
	b->len += n;
}

/* "schema"."table", quoted as needed */
static void
str_add_qualified(Str *b, PGconn *conn, const char *schema, const char *table)
{
	char	   *s = PQescapeIdentifier(conn, schema, strlen(schema));
	char	   *t = PQescapeIdentifier(conn, table, strlen(table));

	if (s == NULL || t == NULL)
		b->failed = true;
	else
	{
		str_add(b, s);
		str_add(b, ".");
		str_add(b, t);
	}
	PQfreemem(s);
	PQfreemem(t);
}

/* a query's rows; NULL when it failed (err says why) or was given up */
static PGresult *
query(const PgExec *x, const char *sql, char *err, size_t errlen)
{
	PGresult   *res = pgexec_run(x, sql);

	if (res == NULL)
		return NULL;			/* given up: the owner's error says why */
	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		return res;
	errbuf_set(err, errlen, 1, "could not check the publication: %s",
			   PQresultErrorMessage(res));
	PQclear(res);
	return NULL;
}

/*
 * The tables --tables selects, as a quoted list for FOR TABLE, and the
 * ones missing from published (a result of schemaname, tablename; NULL to
 * skip); counts in *nselected and *nmissing.
 */
static PGresult *
selected_tables(const PgExec *x, const PgoConfig *cfg, PGresult *published,
				Str *list, Str *missing, int *nselected, int *nmissing,
				char *err, size_t errlen)
{
	PGresult   *res = query(x, SELECTABLE_TABLES, err, errlen);
	int			i;
	int			j;

	*nselected = *nmissing = 0;
	if (res == NULL)
		return NULL;
	for (i = 0; i < PQntuples(res); i++)
	{
		const char *schema = PQgetvalue(res, i, 0);
		const char *table = PQgetvalue(res, i, 1);
		bool		found = false;

		if (!tablematch_match(&cfg->tables, schema, table))
			continue;
		if ((*nselected)++ > 0)
			str_add(list, ", ");
		str_add_qualified(list, x->conn, schema, table);
		for (j = 0; published && j < PQntuples(published) && !found; j++)
			found = strcmp(PQgetvalue(published, j, 0), schema) == 0 &&
				strcmp(PQgetvalue(published, j, 1), table) == 0;
		if (published && !found)
		{
			if ((*nmissing)++ > 0)
				str_add(missing, ", ");
			str_add_qualified(missing, x->conn, schema, table);
		}
	}
	return res;
}

/* has a --tables pattern a '*' in its schema part (or is it "*")? */
static bool
wildcard_schema(const PgoConfig *cfg)
{
	for (int i = 0; i < cfg->tables.n; i++)
		if (cfg->tables.p[i].schema == NULL || strchr(cfg->tables.p[i].schema, '*'))
			return true;
	return false;
}

/* ... or in its table part? */
static bool
wildcard_table(const PgoConfig *cfg)
{
	for (int i = 0; i < cfg->tables.n; i++)
		if (strchr(cfg->tables.p[i].table, '*'))
			return true;
	return false;
}

/* " FOR TABLES IN SCHEMA" every schema a pattern names (all literal) */
static void
add_schemas(PGconn *conn, const PgoConfig *cfg, Str *sql)
{
	str_add(sql, " FOR TABLES IN SCHEMA ");
	for (int i = 0; i < cfg->tables.n; i++)
	{
		const char *schema = cfg->tables.p[i].schema;
		char	   *id;
		int			j;

		for (j = 0; j < i && strcmp(cfg->tables.p[j].schema, schema) != 0; j++)
			;
		if (j < i)
			continue;			/* named already */
		if ((id = PQescapeIdentifier(conn, schema, strlen(schema))) == NULL)
			sql->failed = true;
		else
		{
			str_add(sql, i > 0 ? ", " : "");
			str_add(sql, id);
		}
		PQfreemem(id);
	}
}

/*
 * CREATE PUBLICATION for cfg into sql; false when --tables selects nothing.
 * A pattern with a '*' selects tables created later too: the publication
 * must follow them (FOR TABLES IN SCHEMA, or FOR ALL TABLES for a '*' in
 * a schema part), not list today's.
 */
static bool
create_sql(const PgExec *x, const PgoConfig *cfg, Str *sql, char *err, size_t errlen)
{
	Str			list = {0};
	Str			none = {0};
	int			nselected;
	int			nmissing;
	char	   *ident = PQescapeIdentifier(x->conn, cfg->publication, strlen(cfg->publication));
	PGresult   *res = NULL;
	bool		ok = true;

	str_add(sql, "CREATE PUBLICATION ");
	str_add(sql, ident ? ident : "?");
	PQfreemem(ident);
	if (cfg->tables.n == 0 || wildcard_schema(cfg))
		str_add(sql, " FOR ALL TABLES");
	else if (wildcard_table(cfg))
		add_schemas(x->conn, cfg, sql);
	else
	{
		res = selected_tables(x, cfg, NULL, &list, &none, &nselected, &nmissing,
							  err, errlen);
		if (res == NULL)
			ok = false;
		else if (nselected == 0)
			ok = !errbuf_set(err, errlen, 1, "--tables selects no table, so publication \"%s\" "
							 "would publish nothing", cfg->publication);
		str_add(sql, " FOR TABLE ");
		str_add(sql, list.s ? list.s : "");
	}
	str_add(sql, " WITH (publish = 'insert', publish_via_partition_root = true)");
	PQclear(res);
	free(list.s);
	free(none.s);
	if (ok && sql->failed)
		ok = !errbuf_set(err, errlen, 1, "out of memory");
	return ok;
}

static int
create_publication(const PgExec *x, const PgoConfig *cfg, char *err, size_t errlen)
{
	Str			sql = {0};
	PGresult   *res;
	int			rc = 0;

	if (!create_sql(x, cfg, &sql, err, errlen))
	{
		free(sql.s);
		return 1;
	}
	if ((res = pgexec_run(x, sql.s)) == NULL)
		rc = 1;					/* given up: the owner's error says why */
	else if (PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = errbuf_set(err, errlen, 1, "could not create publication \"%s\": %s; "
						"hint: have its tables' owner (or a superuser, for FOR ALL TABLES) run: %s",
						cfg->publication,
						PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) ?
						PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) :
						PQresultErrorMessage(res), sql.s);
	else
		log_msg(LOG_INFO, "created publication \"%s\": %s", cfg->publication, sql.s);
	PQclear(res);
	free(sql.s);
	return rc;
}

/*
 * A row filter or a column list on a table --tables selects makes pgoutput
 * drop rows or columns on the server, silently: the rows it filters out
 * would be confirmed without a job.  Refused, with the SET that removes
 * them (one statement, so no transaction sees the table unpublished).
 */
static int
check_filters(const PgExec *x, const PgoConfig *cfg, const char *lit, const char *ident,
			  char *err, size_t errlen)
{
	char		sql[sizeof(FILTERED_TABLES) + 256];
	PGresult   *res;
	int			i;
	int			rc = 0;

	snprintf(sql, sizeof(sql), FILTERED_TABLES, lit);
	if ((res = query(x, sql, err, errlen)) == NULL)
		return 1;
	for (i = 0; i < PQntuples(res) && rc == 0; i++)
	{
		bool		filter = !PQgetisnull(res, i, 3);

		if (!tablematch_match(&cfg->tables, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1)))
			continue;
		rc = errbuf_set(err, errlen, 1, "publication \"%s\" has a %s on table %s (%s%.*s%s): "
						"pgoutput would send %s, and the bridge would confirm the rest "
						"without a job; hint: publish every table whole, in one statement: "
						"ALTER PUBLICATION %s SET %.*s",
						cfg->publication, filter ? "row filter" : "column list",
						PQgetvalue(res, i, 2), filter ? "WHERE " : "(", 200,
						PQgetvalue(res, i, filter ? 3 : 4), filter ? "" : ")",
						filter ? "only the rows that pass it" : "only those columns",
						ident, 400, PQgetvalue(res, i, 5));
	}
	PQclear(res);
	return rc;
}

/* the publication exists: does it publish inserts and every selected table? */
static int
check_tables(const PgExec *x, const PgoConfig *cfg, const char *lit, const char *ident,
			 bool viaroot, char *err, size_t errlen)
{
	char		sql[512];
	PGresult   *pub;
	PGresult   *sel = NULL;
	Str			list = {0};
	Str			missing = {0};
	int			nselected = 0;
	int			nmissing = 0;
	int			rc = 0;

	snprintf(sql, sizeof(sql), "SELECT schemaname, tablename FROM pg_catalog.pg_publication_tables "
			 "WHERE pubname = %s", lit);
	if ((pub = query(x, sql, err, errlen)) == NULL)
		return 1;
	if (PQntuples(pub) == 0)
		rc = errbuf_set(err, errlen, 1, "publication \"%s\" publishes no table; hint: "
						"ALTER PUBLICATION %s ADD TABLE schema.table", cfg->publication,
						ident);
	else if (cfg->tables.n > 0)
	{
		sel = selected_tables(x, cfg, pub, &list, &missing, &nselected, &nmissing,
							  err, errlen);
		if (sel == NULL)
			rc = 1;
		else if (nselected == 0)
			rc = errbuf_set(err, errlen, 1, "--tables selects no table");
		else if (nmissing > 0)
			rc = errbuf_set(err, errlen, 1, "publication \"%s\" does not publish %d table%s "
							"that --tables selects: %.*s; hint: ALTER PUBLICATION %s ADD TABLE %.*s%s",
							cfg->publication, nmissing, nmissing > 1 ? "s" : "",
							300, missing.s ? missing.s : "?", ident,
							300, missing.s ? missing.s : "?",
							viaroot ? "" : " (and SET (publish_via_partition_root = true) "
							"for partitioned tables)");
	}
	if (rc == 0)
		rc = check_filters(x, cfg, lit, ident, err, errlen);
	if (rc == 0 && !viaroot)
		log_msg(LOG_WARNING, "publication \"%s\" does not publish via the partition root: rows "
				"of partitions carry the partition's name, not the partitioned table's",
				cfg->publication);
	PQclear(pub);
	PQclear(sel);
	free(list.s);
	free(missing.s);
	return rc;
}

/*
 * A --tables pattern with a '*' selects tables created later too, and a
 * FOR TABLE publication would never publish them: their rows would be lost
 * silently.  Only FOR ALL TABLES, or FOR TABLES IN SCHEMA of the pattern's
 * (literal) schema, follows it.  Returns 0, or 1 with err naming the
 * pattern and the ALTER PUBLICATION (a superuser's, in PostgreSQL 15).
 */
static int
check_wildcards(const PgExec *x, const PgoConfig *cfg, const char *lit, const char *ident,
				bool alltables, char *err, size_t errlen)
{
	char		sql[512];
	PGresult   *res = NULL;
	int			i;
	int			j;
	int			rc = 0;

	if (alltables)
		return 0;
	for (i = 0; i < cfg->tables.n && rc == 0; i++)
	{
		const TablePattern *p = &cfg->tables.p[i];
		bool		covered = false;

		if (p->schema != NULL && strchr(p->schema, '*') == NULL && strchr(p->table, '*') == NULL)
			continue;
		if (res == NULL)
		{
			snprintf(sql, sizeof(sql), "SELECT n.nspname FROM pg_catalog.pg_publication_namespace pn "
					 "JOIN pg_catalog.pg_publication p ON p.oid = pn.pnpubid "
					 "JOIN pg_catalog.pg_namespace n ON n.oid = pn.pnnspid WHERE p.pubname = %s", lit);
			if ((res = query(x, sql, err, errlen)) == NULL)
				return 1;
		}
		for (j = 0; p->schema && strchr(p->schema, '*') == NULL && j < PQntuples(res); j++)
			covered |= strcmp(PQgetvalue(res, j, 0), p->schema) == 0;
		if (!covered)
			rc = errbuf_set(err, errlen, 1, "--tables pattern \"%s.%s\" has a wildcard, and "
							"publication \"%s\" does not follow new tables (neither FOR ALL TABLES "
							"nor FOR TABLES IN SCHEMA %s): pgoutput would never send the rows of "
							"a table created later that the pattern selects; hint: have a "
							"superuser run ALTER PUBLICATION %s ADD TABLES IN SCHEMA %s, or "
							"name the tables in --tables",
							p->schema ? p->schema : "*", p->table, cfg->publication,
							p->schema && !strchr(p->schema, '*') ? p->schema : "...", ident,
							p->schema && !strchr(p->schema, '*') ? p->schema : "schema");
	}
	PQclear(res);
	return rc;
}

/*
 * pgoutput (PostgreSQL 15) leaves stored generated columns out of its rows:
 * a --route-column or --key-column that is one would never be found, and
 * every job would silently go to the table's target or keep the primary
 * key.  Refused, naming the column.
 */
static int
check_generated(const PgExec *x, const PgoConfig *cfg, char *err, size_t errlen)
{
	const char *route = cfg->route_column ? cfg->route_column : "";
	const char *key = cfg->key_column ? cfg->key_column : "";
	char	   *rl;
	char	   *kl;
	char	   *sql = NULL;
	size_t		len;
	PGresult   *res = NULL;
	int			i;
	int			rc = 0;

	if (cfg->route_column == NULL && cfg->key_column == NULL)
		return 0;
	rl = PQescapeLiteral(x->conn, route, strlen(route));
	kl = PQescapeLiteral(x->conn, key, strlen(key));
	len = sizeof(GENERATED_COLUMNS) + (rl ? strlen(rl) : 0) + (kl ? strlen(kl) : 0);
	if (rl == NULL || kl == NULL || (sql = malloc(len)) == NULL)
		rc = errbuf_set(err, errlen, 1, "out of memory");
	else
	{
		snprintf(sql, len, GENERATED_COLUMNS, rl, kl);
		if ((res = query(x, sql, err, errlen)) == NULL)
			rc = 1;
	}
	for (i = 0; res && i < PQntuples(res) && rc == 0; i++)
	{
		const char *col = PQgetvalue(res, i, 2);
		bool		is_route = strcmp(col, route) == 0;

		if (tablematch_match(&cfg->tables, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1)))
			rc = errbuf_set(err, errlen, 1, "%s \"%s\" is a generated column of table %s.%s, "
							"and pgoutput does not send generated columns (PostgreSQL 15): "
							"every job would %s; hint: use --plugin=wal2queue, or %s a "
							"column the application writes",
							is_route ? "--route-column" : "--key-column", col,
							PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
							is_route ? "go to the table's target instead of its queue" :
							"be keyed by the primary key instead",
							is_route ? "route by" : "key by");
	}
	PQclear(res);
	free(sql);
	PQfreemem(rl);
	PQfreemem(kl);
	return rc;
}

/*
 * One selected table's primary key against what pgoutput flags (its key in
 * --plugin=pgoutput mode, pgoutput.c): refused when the jobs would have no
 * key where the plugin's have one; a composite key listed in another order
 * than the table's is said once (the jobs' key is a JSON array in table
 * order, the plugin's in index order).
 */
static int
check_key(PGresult *res, int i, const char *what, char *err, size_t errlen)
{
	const char *ident = PQgetvalue(res, i, 2);
	const char *byindex = PQgetvalue(res, i, 4);
	const char *bytable = PQgetvalue(res, i, 5);

	if (ident[0] != 'd')
		return errbuf_set(err, errlen, 1, "table %s has REPLICA IDENTITY %s and a primary key "
						  "(%s): pgoutput flags no primary key then, so with --plugin=pgoutput "
						  "its jobs would have no key where the plugin keys them by the primary "
						  "key; hint: ALTER TABLE %s REPLICA IDENTITY DEFAULT, or key the jobs "
						  "by one column with --key-column=COLUMN", what,
						  ident[0] == 'f' ? "FULL" : ident[0] == 'n' ? "NOTHING" : "USING INDEX",
						  byindex, what);
	if (strcmp(PQgetvalue(res, i, 3), "t") != 0)
		return errbuf_set(err, errlen, 1, "the primary key of table %s (%s) is DEFERRABLE, and "
						  "pgoutput does not flag a DEFERRABLE key (it is no replica identity): "
						  "with --plugin=pgoutput its jobs would have no key where the plugin keys "
						  "them by it; hint: key the jobs by one column with --key-column=COLUMN, "
						  "or make the primary key NOT DEFERRABLE", what, byindex);
	if (strcmp(byindex, bytable) != 0)
		log_msg(LOG_WARNING, "the primary key of table %s lists its columns as (%s), and pgoutput "
				"flags them in table order: with --plugin=pgoutput the jobs' key is the JSON array "
				"of (%s), the plugin's of (%s), so a job's Kafka partition differs between the modes",
				what, byindex, bytable, byindex);
	return 0;
}

/*
 * pgoutput describes a row's key by the replica identity flags of its
 * Relation message, built as of the row; the bridge keys rows by them
 * alone, so that a replay keys every row as its first delivery did
 * (test/t/233_pgoutput_kafka_replay_key_change_dup.pl).  The catalog of
 * now only decides whether to start: a selected table whose primary key
 * pgoutput would not flag is refused (unless --key-column names one of its
 * columns).  A table changed that way while streaming is keyed as its
 * Relation messages say (deterministic, but not the plugin's key), and
 * refused at the next start.
 */
static int
check_keys(const PgExec *x, const PgoConfig *cfg, char *err, size_t errlen)
{
	const char *kc = cfg->key_column ? cfg->key_column : "";
	char	   *lit = PQescapeLiteral(x->conn, kc, strlen(kc));
	char		sql[sizeof(PRIMARY_KEYS) + 2 * sizeof(KEY_COLUMNS) + 200];
	PGresult   *res;
	int			i;
	int			rc = 0;

	if (lit == NULL || strlen(lit) > 190)
	{
		PQfreemem(lit);
		return errbuf_set(err, errlen, 1, "--key-column is too long");
	}
	snprintf(sql, sizeof(sql), PRIMARY_KEYS, KEY_COLUMNS, KEY_COLUMNS,
			 cfg->key_column ? lit : "NULL");
	PQfreemem(lit);
	if ((res = query(x, sql, err, errlen)) == NULL)
		return 1;
	for (i = 0; i < PQntuples(res) && rc == 0; i++)
		if (tablematch_match(&cfg->tables, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1)) &&
			strcmp(PQgetvalue(res, i, 6), "t") != 0)
			rc = check_key(res, i, PQgetvalue(res, i, 7), err, errlen);
	PQclear(res);
	return rc;
}

/*
 * ALTER SCHEMA ... RENAME invalidates no relation, so pgoutput goes on
 * naming the schema's tables by the old name until its walsender restarts:
 * the event trigger of sql/src/60_schema_rename.sql makes it describe them
 * again at the rename.  Without it the bridge streams, and the publication
 * watch stops it when a published table's schema is renamed (pubwatch.c):
 * said once here.
 */
static int
check_rename_trigger(const PgExec *x, const PgoConfig *cfg, char *err, size_t errlen)
{
	PGresult   *res = query(x, RENAME_TRIGGER_SQL, err, errlen);

	if (res == NULL)
		return 1;
	if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		log_msg(LOG_WARNING, "the event trigger %s is not installed (or not enabled) in this "
				"database: after ALTER SCHEMA ... RENAME of a table publication \"%s\" publishes, "
				"pgoutput would go on naming its rows by the old schema until the bridge "
				"reconnects, so the bridge stops (exit 1) when it sees such a rename, and the rows "
				"it delivered in between are sent again under the new name after the restart; "
				"hint: a superuser (on RDS/Aurora rds_superuser, on Cloud SQL cloudsqlsuperuser) "
				"must create it: CREATE EXTENSION wal2queue, or the CREATE EVENT TRIGGER "
				"statement wal2queue-standalone.sql printed in its WARNING when a role that "
				"may not ran it (docs/managed.md, \"Renamed schemas\")",
				RENAME_TRIGGER, cfg->publication);
	PQclear(res);
	return 0;
}

/* does the slot exist already?  -1 when it cannot be told, -2 given up */
static int
slot_exists(const PgExec *x, const char *slot)
{
	char		sql[256];
	char	   *lit = PQescapeLiteral(x->conn, slot, strlen(slot));
	PGresult   *res;
	int			found = -1;

	if (lit == NULL)
		return -1;
	snprintf(sql, sizeof(sql), "SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = %s", lit);
	PQfreemem(lit);
	if ((res = pgexec_run(x, sql)) == NULL)
		return -2;
	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		found = PQntuples(res) > 0;
	PQclear(res);
	return found;
}

/* the publication is missing: create it, or say how */
static int
missing_publication(const PgExec *x, const PgoConfig *cfg, const char *slot, bool create,
					char *err, size_t errlen)
{
	Str			hint = {0};
	int			rc;
	int			exists;

	if (!create_sql(x, cfg, &hint, err, errlen) || (exists = slot_exists(x, slot)) == -2)
	{
		free(hint.s);
		return 1;
	}
	/* pgoutput reads the publication as of each transaction: it must be older */
	if (exists == 1)
		rc = errbuf_set(err, errlen, 1, "publication \"%s\" does not exist and replication slot "
						"\"%s\" does: pgoutput cannot decode the slot's transactions from before "
						"the publication; hint: run %s, then drop the slot and create it again "
						"(--drop-slot, then --create-slot)", cfg->publication, slot, hint.s);
	else if (create)
		rc = create_publication(x, cfg, err, errlen) ||
			publication_prepare(x, cfg, slot, false, err, errlen);
	else
		rc = errbuf_set(err, errlen, 1, "publication \"%s\" does not exist; hint: create it with "
						"--create-slot, or run: %s", cfg->publication, hint.s);
	free(hint.s);
	return rc;
}

int
publication_prepare(const PgExec *x, const PgoConfig *cfg, const char *slot, bool create,
					char *err, size_t errlen)
{
	char		sql[512];
	char	   *lit = PQescapeLiteral(x->conn, cfg->publication, strlen(cfg->publication));
	char	   *ident;
	PGresult   *res;
	int			rc;

	if (lit == NULL)
		return errbuf_set(err, errlen, 1, "out of memory");
	if (check_generated(x, cfg, err, errlen))
	{
		PQfreemem(lit);
		return 1;
	}
	snprintf(sql, sizeof(sql), "SELECT pubinsert, pubviaroot, puballtables FROM pg_catalog.pg_publication "
			 "WHERE pubname = %s", lit);
	if ((res = query(x, sql, err, errlen)) == NULL)
	{
		PQfreemem(lit);
		return 1;
	}
	if (PQntuples(res) == 0)
	{
		PQclear(res);
		PQfreemem(lit);
		return missing_publication(x, cfg, slot, create, err, errlen);
	}
	ident = PQescapeIdentifier(x->conn, cfg->publication, strlen(cfg->publication));
	if (ident == NULL)
		rc = errbuf_set(err, errlen, 1, "out of memory");
	else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		rc = errbuf_set(err, errlen, 1, "publication \"%s\" does not publish inserts; hint: "
						"ALTER PUBLICATION %s SET (publish = 'insert')",
						cfg->publication, ident);
	else
		rc = check_tables(x, cfg, lit, ident, strcmp(PQgetvalue(res, 0, 1), "t") == 0,
						  err, errlen) ||
			check_wildcards(x, cfg, lit, ident, strcmp(PQgetvalue(res, 0, 2), "t") == 0,
							err, errlen) ||
			check_keys(x, cfg, err, errlen) ||
			check_rename_trigger(x, cfg, err, errlen);
	PQclear(res);
	PQfreemem(lit);
	PQfreemem(ident);
	return rc;
}
