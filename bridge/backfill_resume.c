/*-------------------------------------------------------------------------
 *
 * backfill_resume.c
 *		What a resume checks before it reads on (see backfill.c): the table
 *		it was reading (dropped: finished; out of the selection: refused),
 *		the recorded partitions still under their tables, the key the saved
 *		position is in the order of, and each table's storage (rewritten or
 *		replaced since the saved snapshot); the hints' command lines.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backfill_internal.h"
#include "backfill_rewrite.h"
#include "log.h"
#include "lsn.h"

/*
 * A command line for a hint: the bridge's own (cfg->stream.command_line,
 * without the --recreate-lost-slot and --backfill the recovery hint adds),
 * with condition not NULL --backfill=<condition>, then extra, quoted for a
 * POSIX shell.  malloc'd, NULL when out of memory.
 */
char *
bf_hint_command(const BridgeConfig *cfg, const char *condition, const char *extra)
{
	const char *cl = cfg->stream.command_line ? cfg->stream.command_line : "wal2queue-bridge ...";
	size_t		len = strlen(cl);
	char	   *out;
	char	   *p;

	if (!cfg->backfill.enabled && len >= 11 && strcmp(cl + len - 11, " --backfill") == 0)
		len -= 11;
	if (!cfg->backfill.recreate_lost && len >= 21 &&
		strncmp(cl + len - 21, " --recreate-lost-slot", 21) == 0)
		len -= 21;
	if ((p = out = malloc(len + 4 * strlen(condition ? condition : "") + strlen(extra) + 32)) == NULL)
		return NULL;
	p += sprintf(p, "%.*s", (int) len, cl);
	if (condition)
		p += sprintf(p, " --backfill");
	if (condition && *condition)
	{
		p += sprintf(p, "='");
		for (const char *c = condition; *c; c++)
			p += *c == '\'' ? sprintf(p, "'\\''") : sprintf(p, "%c", *c);
		p += sprintf(p, "'");
	}
	sprintf(p, "%s", extra);
	return out;
}

/*
 * Before reading t: lock it and check its storage (backfill_rewrite.c).
 * *visible is the snapshot filter to read it with: a table rewritten since
 * the saved snapshot is refused, or with --backfill-after-rewrite read
 * without the filter.
 */
int
bf_check_table(Backfill *bf, const BfTable *t, const char **visible)
{
	const char *saved = bf->cur.storage ? bf->cur.storage : "";
	char		detail[512];
	char		err[1024];
	char		at[LSN_STRLEN];
	char	   *cmd;
	bool		mid;
	int			rc;

	*visible = bf->visible_in;
	rc = bf_storage_check(bf->conn, t, saved, bf->visible_in && saved[0] ? bf->visible_in : NULL,
						  detail, sizeof(detail), err, sizeof(err));
	if (rc < 0)
		return bf_fail(bf, PQstatus(bf->conn) == CONNECTION_OK ? BF_FATAL : BF_RETRY, "%s", err);
	if (rc == BF_STORAGE_RETRY)
		return bf_fail(bf, BF_RETRY, "backfill of %s: %s", t->name, detail);
	if (rc == BF_STORAGE_SAME)
		return 0;
	lsn_format(bf->cur.lsn, at, sizeof(at));
	if (bf->cfg->backfill.after_rewrite)
	{
		log_msg(LOG_WARNING, "backfill of %s: %s; --backfill-after-rewrite: reading its rows without "
				"the snapshot filter: at least once (its rows committed since the consistent point %s "
				"come from the stream too)", t->name, detail, at);
		*visible = NULL;
		return 0;
	}
	mid = strcmp(bf->cur.table, t->qname) == 0 && bf->cur.key[0];
	cmd = bf_hint_command(bf->cfg, NULL, " --backfill-after-rewrite");
	rc = bf_fail(bf, BF_FATAL, "cannot resume the backfill of table %s: %s; a rewrite by ALTER TABLE "
			  "(ALTER COLUMN ... TYPE, SET ACCESS METHOD, ADD COLUMN with a volatile DEFAULT) or a copy "
			  "swapped in under its name gives every row a new xmin, so the rows the backfill's snapshot saw can no longer be told from those "
			  "committed since its consistent point %s (%s%s%s); hint: "
			  "finish the backfill at least once (the table's rows committed since come twice) with: %s",
			  t->name, detail, at, mid ? "its rows after key " : "none of its rows is delivered yet",
			  mid ? bf->cur.key : "", mid ? " are not delivered yet" : "",
			  cmd ? cmd : "the same command line with --backfill-after-rewrite");
	free(cmd);
	return rc;
}

bool
bf_dup_into(char **dst, const char *src)
{
	char	   *d = strdup(src);

	if (d == NULL)
		return false;
	free(*dst);
	*dst = d;
	return true;
}

bool
bf_oid_listed(const char *list, uint32_t oid)
{
	const char *p = list ? list : "";
	char	   *end;

	while (*p)
	{
		unsigned long v = strtoul(p, &end, 10);

		if (end == p)
			break;
		if (v == oid)
			return true;
		p = end;
	}
	return false;
}

bool
bf_done_add(BackfillState *st, uint32_t oid)
{
	const char *was = st->tables_done ? st->tables_done : "";
	char	   *now;

	if (bf_oid_listed(was, oid))
		return true;
	if ((now = malloc(strlen(was) + 16)) == NULL)
		return false;
	sprintf(now, "%s%s%u", was, was[0] ? " " : "", (unsigned) oid);
	free(st->tables_done);
	st->tables_done = now;
	st->by_oid = true;
	return true;
}

/*
 * A resume of an older bridge's state (the table by name alone): the tables
 * before its position in the name order are taken as finished, as that
 * bridge read them, and listed done from now on.  The table the state
 * names is gone: dropped, its rows are gone too (as deleted rows), go on
 * with the next table; still there but out of the selection (renamed,
 * --tables): refused.
 */
static int
legacy_position(Backfill *bf, int *cur)
{
	char		err[512];
	int			start = 0;
	int			exists = 0;

	if (bf->cur.table && bf->cur.table[0] &&
		(start = bf_table_index(&bf->tables, bf->cur.table)) < 0 &&
		(exists = bf_table_gone(bf->conn, &bf->tables, bf->cur.table, &start, err, sizeof(err))) < 0)
		return bf_fail(bf, PQstatus(bf->conn) == CONNECTION_OK ? BF_FATAL : BF_RETRY, "%s", err);
	if (exists)
		return bf_fail(bf, BF_FATAL, "the backfill was reading table %s, which exists but is no longer "
					"selected (--tables, or its publication): resuming would never deliver its rows "
					"after key %s; hint: select it again (or rename it back) and restart the same "
					"command line", bf->cur.table, bf->cur.key[0] ? bf->cur.key : "(none yet)");
	*cur = bf->cur.table && bf->cur.table[0] && bf_table_index(&bf->tables, bf->cur.table) == start ?
		start : -1;
	if (bf->cur.table && bf->cur.table[0] && *cur < 0)
		log_msg(LOG_WARNING, "the backfill was reading table %s, which was dropped since: its rows are "
				"gone, going on with the next table", bf->cur.table);
	for (int i = 0; i < start; i++)
		if (!bf_done_add(&bf->cur, bf->tables.t[i].oid))
			return bf_fail(bf, BF_FATAL, "out of memory");
	bf->cur.by_oid = true;
	return 0;
}

/*
 * The table the state was reading, by its oid: renamed since (within the
 * selection) it is the same table; dropped, its rows are gone too (as
 * deleted rows); still there but out of the selection: refused.
 */
static int
oid_position(Backfill *bf, int *cur)
{
	char		now[512];
	char		err[512];
	int			exists;

	*cur = -1;
	if (bf->cur.table_oid == 0)
		return 0;
	for (int i = 0; i < bf->tables.n; i++)
		if (bf->tables.t[i].oid == bf->cur.table_oid)
			*cur = i;
	if (*cur >= 0)
	{
		if (strcmp(bf->tables.t[*cur].qname, bf->cur.table) != 0)
			log_msg(LOG_INFO, "the backfill was reading table %s (oid %u), renamed %s since: going on "
					"with it after key %s", bf->cur.table, (unsigned) bf->cur.table_oid,
					bf->tables.t[*cur].qname, bf->cur.key[0] ? bf->cur.key : "(none yet)");
		return 0;
	}
	if ((exists = bf_table_now(bf->conn, bf->cur.table_oid, now, sizeof(now), err, sizeof(err))) < 0)
		return bf_fail(bf, PQstatus(bf->conn) == CONNECTION_OK ? BF_FATAL : BF_RETRY, "%s", err);
	if (exists)
		return bf_fail(bf, BF_FATAL, "the backfill was reading table %s (oid %u, now %s), which exists but "
					"is no longer selected (--tables, or its publication): resuming would never deliver "
					"its rows after key %s; hint: select it again (or rename it back) and restart the "
					"same command line", bf->cur.table, (unsigned) bf->cur.table_oid, now,
					bf->cur.key[0] ? bf->cur.key : "(none yet)");
	log_msg(LOG_WARNING, "the backfill was reading table %s (oid %u), which was dropped since: its rows "
			"are gone, going on with the tables not finished", bf->cur.table, (unsigned) bf->cur.table_oid);
	return 0;
}

/*
 * A resume: a recorded partition of a table not finished yet that is under
 * none of the selected tables now (detached, renamed away) would never be
 * read: refused while it is away.
 */
static int
check_missing(Backfill *bf)
{
	char		err[512];
	char	   *gone;
	char	   *dropped = NULL;
	int			rc = 0;

	if (!bf->cur.storage || !bf->cur.storage[0])
		return 0;
	if ((gone = bf_storage_missing(bf->conn, &bf->tables, bf->cur.tables_done ? bf->cur.tables_done : "",
								   bf->cur.storage, &dropped, err, sizeof(err))) == NULL)
		return bf_fail(bf, PQstatus(bf->conn) == CONNECTION_OK ? BF_FATAL : BF_RETRY, "%s", err);
	if (dropped[0])
		log_msg(LOG_WARNING, "the backfill's snapshot read relations (oid %s) under the selected tables "
				"not finished yet that were dropped since: their rows are gone", dropped);
	free(dropped);
	if (gone[0])
		rc = bf_fail(bf, BF_FATAL, "cannot resume the backfill of slot \"%s\": %s, which the backfill's "
				  "snapshot read as (part of) a selected table not finished yet, is no longer under "
				  "any selected table (a partition detached, or a table renamed out of the selection): "
				  "its rows would never be delivered; hint: attach it again (or rename it back) and "
				  "restart the same command line, or drop it if its rows are not to be delivered",
				  bf->cfg->stream.slot, gone);
	free(gone);
	return rc;
}

/* the names part of a keydef (BfTable.keydef), for people and old states */
static const char *
keydef_names(const char *def)
{
	const char *p;

	if (strncmp(def, BF_KEYDEF_TAG, strlen(BF_KEYDEF_TAG)) != 0)
		return def;
	return (p = strstr(def, "; ")) ? p + 2 : "";
}

/*
 * The keydef a page records for t: the tagged one, or in a run that reads
 * an older state's position with the session's settings the names alone
 * (the next resume reads it the same way)
 */
const char *
bf_keydef_recorded(const Backfill *bf, const BfTable *t)
{
	return bf->unpinned ? keydef_names(t->keydef) : t->keydef;
}

/*
 * One column of a keydef's names part at *p ("id integer (type 23,
 * collation 0)", the entries separated by ", "): the length of its column
 * name (%I, the quoted form with its quotes) in *name, where its "(type N,
 * collation M)" starts in *ids and its length in *idlen; *p moved past the
 * entry.  False if it is not of that form.
 */
static bool
names_entry(const char **p, size_t *name, const char **ids, size_t *idlen)
{
	const char *s = *p;
	const char *q = s;
	const char *close;

	if (*q == '"')
		for (q++; *q && !(q[0] == '"' && q[1] != '"'); q += q[0] == '"' ? 2 : 1)
			;
	q = strchr(*q == '"' ? q + 1 : q, ' ');
	if (q == NULL || (*ids = strstr(q, " (type ")) == NULL ||
		(close = strchr(*ids, ')')) == NULL)
		return false;
	*name = (size_t) (q - s);
	*idlen = (size_t) (close + 1 - *ids);
	*p = close[1] == ',' && close[2] == ' ' ? close + 3 : close + 1;
	return true;
}

/*
 * An older state's keydef, names only: printed with the session's
 * search_path, which every backfill connection now pins (BF_SAFE_SETTINGS),
 * so a type of a schema on that path ("kind") is now qualified
 * ("app.kind").  The same key if every column has the same name, type oid
 * and collation oid, in the same order, however its type was named.
 */
static bool
same_names(const char *saved, const char *now)
{
	while (*saved && *now)
	{
		const char *a = saved;
		const char *b = now;
		size_t		na,
					nb,
					ia,
					ib;
		const char *xa,
				   *xb;

		if (!names_entry(&saved, &na, &xa, &ia) || !names_entry(&now, &nb, &xb, &ib) ||
			na != nb || ia != ib || strncmp(a, b, na) != 0 || strncmp(xa, xb, ia) != 0)
			return false;
	}
	return *saved == '\0' && *now == '\0';
}

/*
 * Is the saved keydef the key t has now?  A tagged one by the identity
 * (each column's attnum, type oid, collation oid), so a search_path, a
 * RENAME of a type, domain, collation or column change nothing; an older
 * state's (names only) by its text, or by its columns' names, type oids
 * and collation oids (same_names).
 */
static bool
same_key(const char *saved, const BfTable *t)
{
	size_t		tag = strlen(BF_KEYDEF_TAG);
	const char *a;
	const char *b;

	if (strncmp(saved, BF_KEYDEF_TAG, tag) != 0)
		return strcmp(saved, keydef_names(t->keydef)) == 0 ||
			same_names(saved, keydef_names(t->keydef));
	a = strstr(saved, "; ");
	b = strstr(t->keydef, "; ");
	return a && b && a - saved == b - t->keydef && strncmp(saved, t->keydef, a - saved) == 0;
}

/*
 * A resume: the saved key position is in the order of the key the table
 * had when its first page was recorded.  Another key (columns, types,
 * collations) reads the rest in another order: refused, or with
 * --backfill-after-rewrite the table read again from its start.
 */
static int
check_key(Backfill *bf, const BfTable *t, bool *from_start)
{
	const char *now = keydef_names(t->keydef);
	const char *was;
	char	   *cmd;
	int			rc;

	*from_start = false;
	if (!bf->cur.keydef || !bf->cur.keydef[0] || same_key(bf->cur.keydef, t))
		return 0;
	was = keydef_names(bf->cur.keydef);
	if (bf->cfg->backfill.after_rewrite)
	{
		log_msg(LOG_WARNING, "backfill of %s: its key is now %s, was %s when its rows up to key %s were "
				"delivered; --backfill-after-rewrite: reading the table again from its start (at least "
				"once: those rows come twice)", t->name, now, was, bf->cur.key);
		*from_start = true;
		return 0;
	}
	cmd = bf_hint_command(bf->cfg, NULL, " --backfill-after-rewrite");
	rc = bf_fail(bf, BF_FATAL, "cannot resume the backfill of table %s: its key is now %s, was %s when its "
			  "rows up to key %s were delivered, so the rest cannot be read in the order of that position; "
			  "hint: restore the key as it was and restart the same command line (exactly once), or read "
			  "the table again from its start (at least once: the rows delivered come twice) with: %s",
			  t->name, now, was, bf->cur.key,
			  cmd ? cmd : "the same command line with --backfill-after-rewrite");
	free(cmd);
	return rc;
}

/*
 * A resume: the saved key texts must still read as the key's types (an
 * enum label renamed since, ALTER TYPE ... RENAME VALUE, does not; the
 * key's identity is the same).  Refused, or with --backfill-after-rewrite
 * the table read again from its start.
 */
static int
key_readable(Backfill *bf, const BfTable *t, char ***after, int *nafter)
{
	char		err[512];
	char	   *cmd;
	int			rc = bf_key_readable(bf->conn, t, *after, err, sizeof(err));

	if (rc < 0)
		return bf_fail(bf, PQstatus(bf->conn) == CONNECTION_OK ? BF_FATAL : BF_RETRY, "%s", err);
	if (rc == 1)
		return 0;
	if (bf->cfg->backfill.after_rewrite)
	{
		log_msg(LOG_WARNING, "backfill of %s: its saved position %s no longer reads as its key (%s); "
				"--backfill-after-rewrite: reading the table again from its start (at least once: "
				"the rows delivered come twice)", t->name, bf->cur.key, err);
		backfill_key_free(*after, *nafter);
		*after = NULL;
		*nafter = 0;
		return 0;
	}
	cmd = bf_hint_command(bf->cfg, NULL, " --backfill-after-rewrite");
	rc = bf_fail(bf, BF_FATAL, "cannot resume the backfill of table %s: its saved position %s no longer "
			  "reads as its key (%s), e.g. an enum label renamed since (ALTER TYPE ... RENAME VALUE); "
			  "hint: rename it back and restart the same command line (exactly once), or read the table "
			  "again from its start (at least once: the rows delivered come twice) with: %s",
			  t->name, bf->cur.key, err, cmd ? cmd : "the same command line with --backfill-after-rewrite");
	free(cmd);
	return rc;
}

/* a resume: the table it was reading, the key to go on after (or NULL) */
int
bf_resume_position(Backfill *bf, int *cur, char ***after, int *nafter)
{
	char		err[512];
	bool		from_start = false;
	int			rc;
	int			n;

	*cur = -1;
	*after = NULL;
	*nafter = 0;
	if (!bf->cur.by_oid)
		rc = legacy_position(bf, cur);
	else
		rc = oid_position(bf, cur);
	if (rc != 0 || (bf->visible_in && (rc = check_missing(bf)) != 0))
		return rc;
	if (*cur < 0 || !bf->cur.key || !bf->cur.key[0])
		return 0;
	if ((rc = check_key(bf, &bf->tables.t[*cur], &from_start)) != 0 || from_start)
		return rc;
	if ((n = backfill_key_parse(bf->cur.key, after, err, sizeof(err))) != bf->tables.t[*cur].nkeys)
	{
		backfill_key_free(*after, n > 0 ? n : 0);
		*after = NULL;
		return bf_fail(bf, BF_FATAL, "the backfill state's key does not fit table %s: %s",
					bf->tables.t[*cur].name, n < 0 ? err : "another number of key columns");
	}
	*nafter = n;
	return key_readable(bf, &bf->tables.t[*cur], after, nafter);
}
