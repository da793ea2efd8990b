/*-------------------------------------------------------------------------
 *
 * backfill_keyset.c
 *		The backfill's keyset page: one SELECT of a table's rows past the
 *		saved key, in the key index's order, LIMIT n.
 *
 * "SELECT cols FROM t WHERE (condition) AND (k1, k2) OPERATOR(s.>) ($1::T1,
 * $2::T2) AND <visible to the saved snapshot> ORDER BY k1 USING <, k2 USING
 * < LIMIT n": every page is an index range, memory is one page whatever the
 * table's size.  The names, operators and types come from the catalog
 * queries of backfill_sql.c (BfTable), each already quoted and qualified.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backfill_sql.h"
#include "encoding.h"
#include "errbuf.h"

/* append printf output to a growing string; false when out of memory */
static bool
add(char **buf, size_t *len, const char *fmt, const char *a, const char *b)
{
	char	   *piece;
	char	   *nb;
	int			n = asprintf(&piece, fmt, a, b);

	if (n < 0)
		return false;
	nb = realloc(*buf, *len + n + 1);
	if (nb == NULL)
	{
		free(piece);
		return false;
	}
	memcpy(nb + *len, piece, n + 1);
	*len += n;
	*buf = nb;
	free(piece);
	return true;
}

/*
 * the key's column list, "k1 COLLATE s.c, k2", quoted, each with the
 * index's collation; for ORDER BY (order) each "USING" its opclass's "<":
 * the pages follow the index's order, not the column's (test/t/486)
 */
static bool
key_list(PGconn *conn, const BfTable *t, bool order, char **sql, size_t *len)
{
	bool		ok = true;

	for (int k = 0; ok && k < t->nkeys; k++)
	{
		char	   *id = PQescapeIdentifier(conn, t->colnames[t->keycols[k]],
											strlen(t->colnames[t->keycols[k]]));

		ok = id && add(sql, len, "%s%s", k ? ", " : "", id) &&
			add(sql, len, "%s%s", t->keycolls[k], order ? " USING " : "") &&
			(!order || add(sql, len, "%s%s", t->keylts[k], ""));
		PQfreemem(id);
	}
	return ok;
}

/*
 * " AND (k1, k2) OPERATOR(s.>) ($p::T1, $p+1::T2)": past the saved key, the
 * parameters from number p + 1 on, each cast to its column's base type,
 * compared by the operators ORDER BY sorts with (BfTable.keyops).  Keys
 * whose ">" are not all the same operator name in the same schema (an
 * integer and an extension's type) are compared column by column:
 * "(k1 > $1 OR (k1 = $1 AND k2 > $2))".
 */
static bool
key_after(PGconn *conn, const BfTable *t, int p, char **sql, size_t *len)
{
	bool		same = true;
	bool		ok;
	char		num[32];

	for (int k = 1; k < t->nkeys; k++)
		same = same && strcmp(t->keyops[k], t->keyops[0]) == 0;
	if (same)
	{
		ok = add(sql, len, " AND (%s%s", "", "") && key_list(conn, t, false, sql, len) &&
			add(sql, len, ") %s (%s", t->keyops[0], "");
		for (int k = 0; ok && k < t->nkeys; k++)
		{
			snprintf(num, sizeof(num), "$%d::", p + k + 1);
			ok = add(sql, len, "%s%s", k ? ", " : "", num) &&
				add(sql, len, "%s%s", t->keytypes[k], "");
		}
		return ok && add(sql, len, ")%s%s", "", "");
	}
	ok = add(sql, len, " AND %s%s", "", "");
	for (int k = 0; ok && k < t->nkeys; k++)
	{
		char	   *id = PQescapeIdentifier(conn, t->colnames[t->keycols[k]],
											strlen(t->colnames[t->keycols[k]]));
		char	   *param = NULL;

		if (id == NULL || asprintf(&param, "$%d::%s", p + k + 1, t->keytypes[k]) < 0)
			param = NULL;
		ok = param && add(sql, len, "(%s%s", id, t->keycolls[k]) &&
			add(sql, len, " %s %s", t->keyops[k], param);
		if (ok && k + 1 < t->nkeys)
			ok = add(sql, len, " OR (%s%s", id, t->keycolls[k]) &&
				add(sql, len, " %s %s AND ", t->keyeqs[k], param);
		free(param);
		PQfreemem(id);
	}
	for (int k = 0; ok && k < t->nkeys; k++)
		ok = add(sql, len, "%s%s", k + 1 < t->nkeys ? "))" : ")", "");
	return ok;
}

/*
 * A resume keeps the rows the saved snapshot saw.  A row's xmin is a 32-bit
 * xid, and a frozen row keeps its raw xmin however old it is, so it cannot
 * be placed by distance.  The rule: a row is invisible to the saved
 * snapshot only if its xmin is in the snapshot's xip list or lies in [saved
 * xmax, the resume's next xid) modulo 2^32 (that range is shorter than
 * 2^31: the resume's own snapshot xmax, read in this transaction); a frozen
 * xmin (2, and the bootstrap xids below it) is always visible; every other
 * xmin is older than the snapshot (the reader's own snapshot already leaves
 * out the rows of aborted or running transactions).
 */
void
bf_visible_clause(char *buf, size_t len, const char *param)
{
	snprintf(buf, len,
			 "(xmin::text::bigint < 3 OR NOT ("
			 "xmin::text::bigint IN (SELECT x::text::bigint %% 4294967296 "
			 "FROM pg_catalog.pg_snapshot_xip(%s::pg_snapshot) x) OR "
			 "(xmin::text::bigint - pg_catalog.pg_snapshot_xmax(%s::pg_snapshot)::text::bigint "
			 "%% 4294967296 + 4294967296) %% 4294967296 < "
			 "pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text::bigint "
			 "- pg_catalog.pg_snapshot_xmax(%s::pg_snapshot)::text::bigint))",
			 param, param, param);
}

PGresult *
bf_page(PGconn *conn, const BfTable *t, const char *condition, char **after,
		const char *visible_in, int limit, char *err, size_t errlen)
{
	char		sqlstate[6];

	return bf_page_only(conn, t, condition, after, visible_in, limit, NULL, sqlstate, err, errlen);
}

/* is column c of t read: a key column, or named in keep (NULL: all are) */
static bool
column_kept(const BfTable *t, uint32_t c, const char *const *keep)
{
	if (keep == NULL)
		return true;
	for (int k = 0; k < t->nkeys; k++)
		if (t->keycols[k] == (int) c)
			return true;
	for (; *keep; keep++)
		if (strcmp(*keep, t->colnames[c]) == 0)
			return true;
	return false;
}

/*
 * Text types whose ::text is their output, read as the database stores them
 * (BF_HEX_ALIAS) where the server's conversion to UTF-8 could fail: text,
 * varchar, json, jsonb
 */
static bool
column_read_raw(const BfTable *t, uint32_t c, const char *server_encoding)
{
	uint32_t	typoid = t->typoids ? t->typoids[c] : 0;

	if (!encoding_converts(server_encoding) || encoding_iconv_name(server_encoding) == NULL)
		return false;
	for (int k = 0; k < t->nkeys; k++)
		if (t->keycols[k] == (int) c)
			return false;		/* the positions need the key's text */
	return typoid == 25 || typoid == 1043 || typoid == 114 || typoid == 3802;
}

/*
 * Column c of the page's SELECT list.  In a database that is not UTF8, a
 * text value may hold a character UTF-8 lacks (WIN1252's 0x81), which the
 * server would refuse to convert for the whole page at every run
 * (test/t/476): such columns are read as the hex of their bytes in the
 * database's encoding, named BF_HEX_ALIAS and the encoding, and converted
 * by bf_page_build() with U+FFFD (encoding.h).  Every other column keeps
 * its name (ORDER BY names the key columns), but one whose own name looks
 * like the marker, which is named "w2q_col".
 */
static bool
select_item(PGconn *conn, const BfTable *t, uint32_t c, bool kept, char **sql, size_t *len)
{
	const char *server = PQparameterStatus(conn, "server_encoding");
	const char *sep = c ? ", " : "SELECT ";
	char	   *id;
	char	   *item = NULL;
	bool		ok;

	if (!kept)
		return add(sql, len, "%s%s", sep, "NULL");
	if ((id = PQescapeIdentifier(conn, t->colnames[c], strlen(t->colnames[c]))) == NULL)
		return false;
	if (column_read_raw(t, c, server))
		ok = asprintf(&item, "pg_catalog.encode(pg_catalog.convert_to(%s::pg_catalog.text, "
					  "pg_catalog.getdatabaseencoding()), 'hex') AS \"%s%s\"",
					  id, BF_HEX_ALIAS, server) >= 0;
	else if (strncmp(t->colnames[c], BF_HEX_ALIAS, strlen(BF_HEX_ALIAS)) == 0)
		ok = asprintf(&item, "%s AS \"w2q_col\"", id) >= 0;
	else
		ok = (item = strdup(id)) != NULL;
	PQfreemem(id);
	ok = ok && add(sql, len, "%s%s", sep, item);
	free(item);
	return ok;
}

PGresult *
bf_page_only(PGconn *conn, const BfTable *t, const char *condition, char **after,
			 const char *visible_in, int limit, const char *const *keep, char *sqlstate,
			 char *err, size_t errlen)
{
	char	   *sql = NULL;
	size_t		len = 0;
	const char **params = calloc(t->nkeys + 2, sizeof(char *));
	int			np = 0;
	bool		ok = params != NULL;
	char		num[32];
	PGresult   *res;

	sqlstate[0] = '\0';
	for (uint32_t c = 0; ok && c < t->ncols; c++)
		ok = select_item(conn, t, c, column_kept(t, c, keep), &sql, &len);
	ok = ok && add(&sql, &len, " FROM %s%s WHERE true", t->partitioned ? "" : "ONLY ", t->qname);
	if (ok && condition && condition[0])
		ok = add(&sql, &len, " AND (%s)%s", condition, "");
	if (ok && after)
	{
		for (int k = 0; k < t->nkeys; k++)
			params[np + k] = after[k];
		ok = key_after(conn, t, np, &sql, &len);
		np += t->nkeys;
	}
	if (ok && visible_in)
	{
		char		clause[1024];

		snprintf(num, sizeof(num), "$%d", np + 1);
		params[np++] = visible_in;
		bf_visible_clause(clause, sizeof(clause), num);
		ok = add(&sql, &len, " AND %s%s", clause, "");
	}
	ok = ok && add(&sql, &len, " ORDER BY %s%s", "", "") && key_list(conn, t, true, &sql, &len);
	snprintf(num, sizeof(num), "%d", limit);
	ok = ok && add(&sql, &len, " LIMIT %s%s", num, "");
	if (!ok)
	{
		free(sql);
		free(params);
		errbuf_set(err, errlen, -1, "out of memory");
		return NULL;
	}
	res = PQexecParams(conn, sql, np, NULL, params, NULL, NULL, 0);
	free(sql);
	free(params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		snprintf(sqlstate, 6, "%.5s", state ? state : "");
		errbuf_set(err, errlen, -1, "could not read table %s: %s%s%s", t->name,
				   PQresultErrorMessage(res), bf_read_hint(PQresultErrorMessage(res)),
				   condition && condition[0] ? bf_condition_hint(sqlstate) : "");
		PQclear(res);
		return NULL;
	}
	return res;
}
