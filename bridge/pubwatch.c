/*-------------------------------------------------------------------------
 *
 * pubwatch.c
 *		The publication's rows, polled while streaming with pgoutput, and
 *		the confirmation cap they prove (see pubwatch.h).
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "log.h"
#include "lsn.h"
#include "pubwatch.h"

/*
 * Statement 1: W.  Statement 2, in a later snapshot: that snapshot's xmin
 * and xmax, and one line per row of the publication (NULLs when it is
 * gone), each with the table's schema and name and whether the table was
 * created by the transaction that published it; then the schema-rename
 * event trigger's row (sql/src/60_schema_rename.sql), and, while it is not
 * installed and enabled, one line per schema of a published table.
 *
 * Lines are compared by what identifies a row version (line_key): from
 * the last " (oid " on, so that a table or schema renamed is no change of
 * the publication (pgoutput describes a renamed table again, and the
 * trigger makes it describe a renamed schema's tables again); a SCHEMA
 * line whole, since its name is what pgoutput would keep without the
 * trigger.
 */
#define PUBWATCH_SQL \
	"SELECT pg_catalog.pg_current_wal_insert_lsn()::text; " \
	"SELECT pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())::text, " \
	"pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text, f.line, f.nsp, f.rel, f.same " \
	"FROM (SELECT 1) s LEFT JOIN (" \
	" SELECT format('publication %%s (oid %%s, xmin %%s)', p.pubname, p.oid, p.xmin) AS line, " \
	"  NULL::name AS nsp, NULL::name AS rel, false AS same " \
	" FROM pg_catalog.pg_publication p WHERE p.pubname = %s " \
	" UNION ALL SELECT format('TABLE %%I.%%I (oid %%s, xmin %%s)', n.nspname, c.relname, pr.oid, pr.xmin), " \
	"  n.nspname, c.relname, c.xmin = pr.xmin " \
	" FROM pg_catalog.pg_publication_rel pr JOIN pg_catalog.pg_publication p ON p.oid = pr.prpubid " \
	" JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid " \
	" JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE p.pubname = %s " \
	" UNION ALL SELECT format('TABLES IN SCHEMA %%I (oid %%s, xmin %%s)', n.nspname, pn.oid, pn.xmin), " \
	"  n.nspname, NULL, false " \
	" FROM pg_catalog.pg_publication_namespace pn JOIN pg_catalog.pg_publication p ON p.oid = pn.pnpubid " \
	" JOIN pg_catalog.pg_namespace n ON n.oid = pn.pnnspid WHERE p.pubname = %s" \
	" UNION ALL SELECT format('EVENT TRIGGER %%I (oid %%s, xmin %%s, enabled %%s)', e.evtname, e.oid, " \
	"  e.xmin, e.evtenabled), NULL, NULL, false " \
	" FROM pg_catalog.pg_event_trigger e WHERE e.evtname = '" PUBWATCH_TRIGGER "'" \
	" UNION ALL SELECT DISTINCT format('SCHEMA %%I (oid %%s)', n.nspname, n.oid), NULL::name, NULL::name, false " \
	" FROM pg_catalog.pg_publication_tables pt JOIN pg_catalog.pg_namespace n ON n.nspname = pt.schemaname " \
	" WHERE pt.pubname = %s AND NOT EXISTS (SELECT FROM pg_catalog.pg_event_trigger e " \
	"  WHERE e.evtname = '" PUBWATCH_TRIGGER "' AND e.evtevent = 'ddl_command_end' " \
	"  AND e.evtenabled IN ('O', 'A'))" \
	") f ON true ORDER BY f.line"

void
pubwatch_init(PubWatch *p, const PgoConfig *cfg)
{
	memset(p, 0, sizeof(*p));
	p->cfg = cfg;
}

/*
 * The rows read at the first session are kept: a later session of the same
 * process compares with them, so a change made while it reconnected is
 * seen too.
 */
void
pubwatch_session(PubWatch *p, uint64_t start_lsn)
{
	p->start_lsn = start_lsn;
	p->cap = 0;
	p->have_cand = false;
	p->nresult = 0;
	p->next_us = 0;				/* read it at once */
	p->proved_us = now_us();
}

void
pubwatch_free(PubWatch *p)
{
	free(p->first);
	p->first = NULL;
}

char *
pubwatch_sql(PubWatch *p, PGconn *conn)
{
	char	   *lit = PQescapeLiteral(conn, p->cfg->publication, strlen(p->cfg->publication));
	size_t		len;
	char	   *sql;

	if (lit == NULL)
		return NULL;
	len = sizeof(PUBWATCH_SQL) + 4 * strlen(lit);
	if ((sql = malloc(len)) != NULL)
		snprintf(sql, len, PUBWATCH_SQL, lit, lit, lit, lit);
	PQfreemem(lit);
	p->nresult = 0;
	return sql;
}

static char *join_lines(PGresult *res);

void
pubwatch_read_first(void *pubwatch, const PgExec *x)
{
	PubWatch   *p = pubwatch;
	char	   *sql;
	PGresult   *res;

	if (p->cfg == NULL || p->first != NULL || (sql = pubwatch_sql(p, x->conn)) == NULL)
		return;
	/*
	 * the last result is the rows (the first statement's LSN is of no use
	 * here); NULL: given up, and the open fails at its next command
	 */
	res = pgexec_run(x, sql);
	free(sql);
	p->nresult = 0;
	if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK && PQnfields(res) >= 3)
		p->first = join_lines(res);
	if (p->first == NULL)
		log_msg(LOG_DEBUG, "could not read publication \"%s\" before streaming: %s",
				p->cfg->publication, res ? PQresultErrorMessage(res) : "given up");
	PQclear(res);
}

/* the part of a line (n bytes) that identifies its row version */
static const char *
line_key(const char *line, size_t n, size_t *keylen)
{
	const char *key = line;

	if (!(n >= 7 && strncmp(line, "SCHEMA ", 7) == 0))
		for (const char *p = line; p + 6 <= line + n; p++)
			if (strncmp(p, " (oid ", 6) == 0)
				key = p;
	*keylen = n - (size_t) (key - line);
	return key;
}

/* do two lines (of alen and blen bytes) name the same row version? */
static bool
same_line(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t		ak;
	size_t		bk;
	const char *ka = line_key(a, alen, &ak);
	const char *kb = line_key(b, blen, &bk);

	/* the same kind of row (its first word), the same identity */
	return ak == bk && memcmp(ka, kb, ak) == 0 &&
		strcspn(a, " ") == strcspn(b, " ") && strncmp(a, b, strcspn(a, " ")) == 0;
}

/* is line one of the '\n'-separated lines of set? */
static bool
has_line(const char *set, const char *line)
{
	for (const char *s = set; s && *s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : NULL)
		if (same_line(s, strcspn(s, "\n"), line, strlen(line)))
			return true;
	return false;
}

/* the rows as '\n'-separated lines (malloc'd) */
static char *
join_lines(PGresult *res)
{
	size_t		len = 1;
	char	   *out;
	int			i;

	for (i = 0; i < PQntuples(res); i++)
		len += strlen(PQgetvalue(res, i, 2)) + 1;
	if ((out = calloc(1, len)) == NULL)
		return NULL;
	for (i = 0; i < PQntuples(res); i++)
	{
		if (PQgetisnull(res, i, 2))
			continue;
		strcat(out, PQgetvalue(res, i, 2));
		strcat(out, "\n");
	}
	return out;
}

/* a line of the schema-rename watch (not of the publication)? */
static bool
rename_line(const char *line)
{
	return strncmp(line, "SCHEMA ", 7) == 0 || strncmp(line, "EVENT TRIGGER ", 14) == 0;
}

/*
 * What differs from the session's rows that matters ("" when nothing);
 * true when it is a line of the schema-rename watch.
 */
static bool
find_change(PubWatch *p, PGresult *res, char *what, size_t len)
{
	const char *s;
	int			i;

	what[0] = '\0';
	/* a row gone: dropped, or changed (a new xmin), or a schema renamed */
	for (s = p->first; s && *s; s = strchr(s, '\n') + 1)
	{
		size_t		n = strcspn(s, "\n");
		bool		found = false;

		for (i = 0; i < PQntuples(res) && !found; i++)
			found = !PQgetisnull(res, i, 2) &&
				same_line(PQgetvalue(res, i, 2), strlen(PQgetvalue(res, i, 2)), s, n);
		if (!found)
		{
			snprintf(what, len, "%.*s was %s", (int) (n > 200 ? 200 : n), s,
					 strncmp(s, "SCHEMA ", 7) == 0 ? "renamed or dropped" : "dropped or changed");
			return rename_line(s);
		}
	}
	/* a row added: harmless for a table --tables leaves out, or created with it */
	for (i = 0; i < PQntuples(res); i++)
	{
		const char *line = PQgetvalue(res, i, 2);

		if (PQgetisnull(res, i, 2) || has_line(p->first, line))
			continue;
		if (strncmp(line, "TABLE ", 6) == 0 &&
			(strcmp(PQgetvalue(res, i, 5), "t") == 0 ||
			 !tablematch_match(&p->cfg->tables, PQgetvalue(res, i, 3), PQgetvalue(res, i, 4))))
			continue;
		if (rename_line(line))
			snprintf(what, len, "%.200s was added", line);
		else
			snprintf(what, len, "%.200s was added, and rows of the table%s from before were "
					 "not published", line, line[0] == 'T' && line[5] == 'S' ? "s" : "");
		return rename_line(line);
	}
	return false;
}

/* statement 2: the rows, compared with the session's */
static bool
take_rows(PubWatch *p, PGresult *res)
{
	uint64_t	xmin;
	uint64_t	xmax;
	bool		rename;
	char		what[400];
	char		a[LSN_STRLEN];
	char		b[LSN_STRLEN];

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1)
		return false;
	xmin = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	xmax = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
	if (p->first == NULL && (p->first = join_lines(res)) == NULL)
		return false;
	rename = find_change(p, res, what, sizeof(what));
	if (what[0])
	{
		lsn_format(p->cap > p->start_lsn ? p->cap : p->start_lsn, a, sizeof(a));
		lsn_format(p->poll_lsn, b, sizeof(b));
		p->changed = true;
		if (rename && strncmp(what, "EVENT ", 6) == 0)
			snprintf(p->why, sizeof(p->why), "the event trigger " PUBWATCH_TRIGGER " changed "
					 "while streaming (%s) at about LSN %s to %s: a schema renamed meanwhile may "
					 "have gone unseen, and nothing past %s was confirmed", what, a, b, a);
		else if (rename)
			snprintf(p->why, sizeof(p->why), "a schema of a table publication \"%s\" publishes "
					 "changed while streaming without the event trigger " PUBWATCH_TRIGGER " (%s) "
					 "at about LSN %s to %s: pgoutput goes on naming the schema's tables by the old "
					 "name until the bridge reconnects, so rows in that range may have been "
					 "delivered under the old name and are delivered again under the new one "
					 "after a restart; nothing past %s was confirmed", p->cfg->publication, what,
					 a, b, a);
		else
			snprintf(p->why, sizeof(p->why), "publication \"%s\" changed while streaming (%s) at "
					 "about LSN %s to %s: pgoutput does not send rows inserted into a table while "
					 "it was not published, and nothing past %s was confirmed",
					 p->cfg->publication, what, a, b, a);
		snprintf(p->hint, sizeof(p->hint), "%s", rename ?
				 "restart, with the event trigger " PUBWATCH_TRIGGER " installed and enabled (the "
				 "wal2queue extension, or wal2queue-standalone.sql run by a superuser: "
				 "docs/managed.md, \"Renamed schemas\")" :
				 "make the publication publish every table --tables selects again, as at start, "
				 "and restart; the rows inserted into a table while it was not published are not "
				 "in the slot's stream: send them again (--backfill with a new slot, "
				 "docs/operations.md), or accept their loss");
		return true;
	}
	p->proved_us = now_us();
	if (!p->have_cand || xmin >= p->cand_xmax)
	{
		/* every commit written before cand_lsn is visible to this snapshot */
		if (p->have_cand)
			p->cap = p->cand_lsn;
		p->have_cand = true;
		p->cand_lsn = p->poll_lsn;
		p->cand_xmax = xmax;
	}
	return true;
}

bool
pubwatch_take(PubWatch *p, PGresult *res)
{
	if (p->nresult++ == 0)
	{
		if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
			!lsn_parse(PQgetvalue(res, 0, 0), strlen(PQgetvalue(res, 0, 0)), &p->poll_lsn))
			return false;
		return true;
	}
	return take_rows(p, res);
}

uint64_t
pubwatch_cap(const PubWatch *p, uint64_t lsn)
{
	uint64_t	cap;

	if (p->cfg == NULL)
		return lsn;
	cap = p->cap > p->start_lsn ? p->cap : p->start_lsn;
	return lsn < cap ? lsn : cap;
}
