/*-------------------------------------------------------------------------
 *
 * backfill.c
 *		--backfill: before the first stream session, deliver the rows the
 *		selected tables hold, exactly once, then hand over to the stream.
 *
 * The decision, from the slot and the sink's backfill state:
 *	- no slot: create it with an exported snapshot, record a first state
 *	  (the saved snapshot, the consistent point) and read every table in
 *	  that snapshot;
 *	- a slot and an unfinished backfill: resume it in a new snapshot with
 *	  the rows past the last key whose xmin the saved snapshot sees;
 *	- a slot and a finished backfill: nothing to do, stream;
 *	- a slot and no backfill ever: refused, unless --backfill-again (a
 *	  backfill in a current snapshot while the slot keeps its position: at
 *	  least once);
 *	- a lost slot: refused with the recovery command, or with
 *	  --recreate-lost-slot dropped, created again and backfilled (at least
 *	  once), the sink's record taken over.
 * Every page is one sink call writing the jobs and the state together, so
 * whatever stops the bridge (kill -9, a lost connection) the next attempt
 * resumes exactly after the last page the sink holds.  The slot's
 * confirmed position stays at the consistent point until the stream
 * begins, after the state says done.
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backfill.h"
#include "backfill_sql.h"
#include "bridge.h"
#include "errbuf.h"
#include "log.h"
#include "lsn.h"
#include "pgerror.h"

#define BF_RETRY		1
#define BF_FATAL		2
#define BF_BACKOFF_MAX_MS 10000

typedef struct Backfill
{
	const BridgeConfig *cfg;
	Sink	   *sink;
	MetricsSnapshot *m;
	Stream		stream;			/* the replication connection */
	PGconn	   *conn;			/* the snapshot reads */
	SinkSource	src;
	BackfillState cur;			/* what the sink holds */
	unsigned	flags;			/* for the first page (SINK_BACKFILL_*) */
	char	   *visible_in;		/* resume: the saved snapshot (a copy) */
	bool		created_here;	/* this process created the slot */
	BfTables	tables;
	TablePatterns patterns;
	char		err[1024];
} Backfill;

static int
fail(Backfill *bf, int code, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

static int
fail(Backfill *bf, int code, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	errbuf_vset(bf->err, sizeof(bf->err), code, fmt, ap);
	va_end(ap);
	return code;
}

static void
publish(Backfill *bf)
{
	if (bf->cfg->metrics)
		metrics_publish(bf->m);
}

/* the sink's verdict as ours */
static int
sink_rc(Backfill *bf, int rc)
{
	if (rc == SINK_OK)
		return 0;
	return fail(bf, rc == SINK_RETRY ? BF_RETRY : BF_FATAL, "%s", bf->sink->err);
}

/* a normal connection for the snapshot reads, in a transaction */
static int
open_reader(Backfill *bf, const char *snapshot_name)
{
	const char *keys[] = {"dbname", "fallback_application_name", NULL};
	const char *vals[] = {bf->cfg->stream.conninfo, "wal2queue-bridge backfill", NULL};
	PgConnectFailure f;
	PGresult   *res;
	char		sql[256];

	if ((bf->conn = pgerror_connect(keys, vals, &f)) == NULL)
		return fail(bf, f.kind == PGERR_PERMANENT ? BF_FATAL : BF_RETRY,
					"could not connect to PostgreSQL for the backfill: %s", f.message);
	res = PQexec(bf->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
	if (PQresultStatus(res) == PGRES_COMMAND_OK && snapshot_name)
	{
		PQclear(res);
		snprintf(sql, sizeof(sql), "SET TRANSACTION SNAPSHOT '%s'", snapshot_name);
		res = PQexec(bf->conn, sql);
	}
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		fail(bf, BF_RETRY, "could not begin the backfill's snapshot: %s",
			 PQresultErrorMessage(res));
		PQclear(res);
		return BF_RETRY;
	}
	PQclear(res);
	return 0;
}

/* pg_current_snapshot() of the reader's transaction into st->snapshot */
static int
save_snapshot(Backfill *bf, BackfillState *st)
{
	PGresult   *res = PQexec(bf->conn, "SELECT pg_catalog.pg_current_snapshot()::text");

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		fail(bf, BF_RETRY, "could not read the backfill's snapshot: %s",
			 PQresultErrorMessage(res));
		PQclear(res);
		return BF_RETRY;
	}
	free(st->snapshot);
	st->snapshot = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return st->snapshot ? 0 : fail(bf, BF_FATAL, "out of memory");
}

static int
load_tables(Backfill *bf)
{
	BfSelect	sel = {bf->patterns.n ? &bf->patterns : NULL, bf->cfg->backfill.publication,
	bf->cfg->backfill.route_column, bf->cfg->backfill.key_column};
	char		err[512];

	bf_tables_free(&bf->tables);
	if (bf_tables_load(bf->conn, &sel, &bf->tables, err, sizeof(err)) != 0)
		return fail(bf, BF_FATAL, "%s", err);
	bf->m->backfill_rows_estimated = 0;
	for (int i = 0; i < bf->tables.n; i++)
		bf->m->backfill_rows_estimated += (uint64_t) bf->tables.t[i].reltuples;
	return 0;
}

/* jobs of one page: values point into res */
typedef struct Page
{
	FrameJob   *jobs;
	FrameValue *values;
	char	  **keys;			/* composite keys, copied out of buf */
	char	  **poskeys;		/* each row's position key (job_keys) */
	RowjobBuf	buf;
	int			n;
} Page;

static void
page_free(Page *p)
{
	for (int i = 0; p->keys && i < p->n; i++)
		free(p->keys[i]);
	for (int i = 0; p->poskeys && i < p->n; i++)
		free(p->poskeys[i]);
	free(p->keys);
	free(p->poskeys);
	free(p->jobs);
	free(p->values);
	rowjob_buf_free(&p->buf);
	memset(p, 0, sizeof(*p));
}

/* the texts of row r's key columns (NULL for SQL NULL) */
static void
key_texts(const BfTable *t, PGresult *res, int r, const char **out)
{
	for (int k = 0; k < t->nkeys; k++)
		out[k] = PQgetisnull(res, r, t->keycols[k]) ? NULL : PQgetvalue(res, r, t->keycols[k]);
}

/* a page's rows as jobs, as the stream would carry them (rowjob.c) */
static int
build_page(Backfill *bf, const BfTable *t, PGresult *res, uint64_t first_seq, Page *p)
{
	int			nc = (int) t->ncols;

	p->n = PQntuples(res);
	p->jobs = calloc(p->n + 1, sizeof(FrameJob));
	p->values = calloc((size_t) p->n * nc + 1, sizeof(FrameValue));
	p->keys = calloc(p->n + 1, sizeof(char *));
	p->poskeys = calloc(p->n + 1, sizeof(char *));
	if (!p->jobs || !p->values || !p->keys || !p->poskeys)
		return fail(bf, BF_FATAL, "out of memory");
	for (int r = 0; r < p->n; r++)
	{
		FrameJob   *j = &p->jobs[r];
		FrameValue *v = &p->values[(size_t) r * nc];
		const char *kt[W2Q_MAX_COLUMNS];

		key_texts(t, res, r, kt);
		if ((p->poskeys[r] = backfill_key_format(kt, t->nkeys)) == NULL)
			return fail(bf, BF_FATAL, "out of memory");

		for (int c = 0; c < nc; c++)
		{
			v[c].isnull = PQgetisnull(res, r, c);
			v[c].data.data = PQgetvalue(res, r, c);
			v[c].data.len = (uint32_t) PQgetlength(res, r, c);
		}
		if (rowjob_build(&t->rr, v, &p->buf, j) != FRAME_OK)
			return fail(bf, BF_FATAL, "out of memory");
		j->seq = (uint32_t) (first_seq + r);
		/* a composite key lives in buf until the next row: keep a copy */
		if (j->has_key && p->buf.data && j->key.data == p->buf.data)
		{
			if ((p->keys[r] = malloc(j->key.len + 1)) == NULL)
				return fail(bf, BF_FATAL, "out of memory");
			memcpy(p->keys[r], j->key.data, j->key.len);
			p->keys[r][j->key.len] = '\0';
			j->key.data = p->keys[r];
		}
	}
	return 0;
}

/* write next (with its page) after cur; cur becomes next */
static int
record(Backfill *bf, BackfillState *next, const Page *p)
{
	int			rc;

	next->seq = bf->cur.seq + 1;
	rc = bf->sink->ops->backfill_batch(bf->sink, &bf->src, bf->flags, bf->cur.seq, next,
									   p ? p->jobs : NULL, p ? (uint32_t) p->n : 0);
	if (rc != SINK_OK)
		return sink_rc(bf, rc);
	bf->flags = 0;
	if (!backfill_state_copy(&bf->cur, next))
		return fail(bf, BF_FATAL, "out of memory");
	bf->cur.present = true;
	bf->m->backfill_rows_done = next->rows;
	publish(bf);
	return 0;
}

/* one table, from after (NULL: its start) */
static int
run_table(Backfill *bf, const BfTable *t, char **after)
{
	const char *kt[W2Q_MAX_COLUMNS];
	int64_t		logged_us = 0;
	char	  **last = after;
	int			nlast = t->nkeys;
	char		err[1024];
	int			rc = 0;

	for (;;)
	{
		/* (bf->cur's strings are copied anew by every record()) */
		PGresult   *res = bf_page(bf->conn, t, bf->cur.condition, last, bf->visible_in,
								  bf->cfg->backfill.batch, err, sizeof(err));
		BackfillState next = {0};
		Page		p = {0};
		int			n;

		if (res == NULL)
		{
			rc = fail(bf, PQstatus(bf->conn) == CONNECTION_OK ? BF_FATAL : BF_RETRY, "%s", err);
			break;
		}
		if ((n = PQntuples(res)) == 0)
		{
			PQclear(res);
			break;
		}
		key_texts(t, res, n - 1, kt);
		if ((rc = build_page(bf, t, res, bf->cur.rows + 1, &p)) == 0 &&
			backfill_state_copy(&next, &bf->cur) &&
			(free(next.table), next.table = strdup(t->qname)) != NULL &&
			(free(next.key), next.key = backfill_key_format(kt, t->nkeys)) != NULL)
		{
			next.rows += n;
			next.job_keys = p.poskeys;
			rc = record(bf, &next, &p);
		}
		else if (rc == 0)
			rc = fail(bf, BF_FATAL, "out of memory");
		page_free(&p);
		backfill_state_free(&next);
		PQclear(res);
		if (last != after)
			backfill_key_free(last, nlast);
		last = NULL;
		if (rc != 0)
			break;
		/* at most a line a second, and the table's last */
		if (n < bf->cfg->backfill.batch || now_us() - logged_us >= 1000000)
		{
			log_msg(LOG_INFO, "backfill of %s: %llu of ~%llu rows", t->name,
					(unsigned long long) bf->cur.rows,
					(unsigned long long) bf->m->backfill_rows_estimated);
			logged_us = now_us();
		}
		if (n < bf->cfg->backfill.batch || bridge_stop_requested)
			break;
		if (backfill_key_parse(bf->cur.key, &last, err, sizeof(err)) != t->nkeys)
		{
			rc = fail(bf, BF_FATAL, "%s", err);
			break;
		}
	}
	if (last != after)
		backfill_key_free(last, nlast);
	return rc;
}

/* every table from the one the state names, then done */
static int
run_tables(Backfill *bf)
{
	int			start = 0;
	char	  **after = NULL;
	int			nafter = 0;
	int			rc = 0;
	char		err[512];

	if ((rc = load_tables(bf)) != 0)
		return rc;
	if (bf->cur.table && bf->cur.table[0])
	{
		if ((start = bf_table_index(&bf->tables, bf->cur.table)) < 0)
			return fail(bf, BF_FATAL, "the backfill was reading table %s, which is no longer selected or "
						"was dropped; hint: finish with --backfill-again, or start over", bf->cur.table);
		if (bf->cur.key && bf->cur.key[0] &&
			(nafter = backfill_key_parse(bf->cur.key, &after, err, sizeof(err))) != bf->tables.t[start].nkeys)
		{
			backfill_key_free(after, nafter > 0 ? nafter : 0);
			return fail(bf, BF_FATAL, "the backfill state's key does not fit table %s: %s",
						bf->cur.table, nafter < 0 ? err : "another number of key columns");
		}
	}
	bf->m->backfill_running = true;
	publish(bf);
	for (int i = start; rc == 0 && i < bf->tables.n && !bridge_stop_requested; i++)
		rc = run_table(bf, &bf->tables.t[i], i == start ? after : NULL);
	backfill_key_free(after, nafter);
	if (rc == 0 && !bridge_stop_requested)
	{
		BackfillState next = {0};

		if (!backfill_state_copy(&next, &bf->cur))
			return fail(bf, BF_FATAL, "out of memory");
		next.done = true;
		free(next.table);
		free(next.key);
		next.table = strdup("");
		next.key = strdup("");
		rc = next.table && next.key ? record(bf, &next, NULL) : fail(bf, BF_FATAL, "out of memory");
		backfill_state_free(&next);
		if (rc == 0)
			log_msg(LOG_INFO, "backfill of slot \"%s\" done: %llu rows", bf->cfg->stream.slot,
					(unsigned long long) bf->cur.rows);
	}
	bf->m->backfill_running = false;
	publish(bf);
	return rc;
}

/* a new backfill: in the slot's exported snapshot, or a current one */
static int
start_new(Backfill *bf, const char *snapshot_name, uint64_t lsn)
{
	BackfillState first = {0};
	int			rc;

	if ((rc = open_reader(bf, snapshot_name)) != 0)
		return rc;
	if (snapshot_name)
		stream_register_slot(&bf->stream);	/* the snapshot is ours now */
	first.lsn = lsn;
	first.condition = strdup(bf->cfg->backfill.condition ? bf->cfg->backfill.condition : "");
	first.table = strdup("");
	first.key = strdup("");
	if (!first.condition || !first.table || !first.key)
		rc = fail(bf, BF_FATAL, "out of memory");
	if (rc == 0 && (rc = save_snapshot(bf, &first)) == 0)
	{
		/* the first state, before any row: a resume knows the snapshot */
		backfill_state_free(&bf->cur);
		rc = record(bf, &first, NULL);
	}
	backfill_state_free(&first);
	return rc == 0 ? run_tables(bf) : rc;
}

/* the session's source, as the stream will name it */
static void
take_source(Backfill *bf)
{
	Stream	   *s = &bf->stream;

	snprintf(bf->src.sysid, sizeof(bf->src.sysid), "%s", s->sysid);
	bf->src.timeline = s->timeline;
	snprintf(bf->src.dbname, sizeof(bf->src.dbname), "%s", s->dbname);
	snprintf(bf->src.slot, sizeof(bf->src.slot), "%s", bf->cfg->stream.slot);
	bf->src.wal_end = s->server_lsn;
}

static int
stream_rc(Backfill *bf, int rc)
{
	return fail(bf, rc == STREAM_FATAL ? BF_FATAL : BF_RETRY, "%s", bf->stream.err);
}

/* drop the slot (lost, or ours without any state) */
static int
drop_slot(Backfill *bf)
{
	int			rc = stream_drop_slot(&bf->stream);

	return rc == STREAM_OK ? 0 : stream_rc(bf, rc);
}

/* the slot exists: resume, nothing, or --backfill-again */
static int
existing_slot(Backfill *bf)
{
	const char *cond = bf->cfg->backfill.condition ? bf->cfg->backfill.condition : "";
	char		at[LSN_STRLEN];
	int			rc;

	lsn_format(bf->cur.lsn, at, sizeof(at));
	if (bf->cur.present && !bf->cur.done)
	{
		if (strcmp(bf->cur.condition, cond) != 0 && bf->cur.rows == 0)
		{
			/* nothing delivered yet (a condition that failed, say): take the new one */
			log_msg(LOG_WARNING, "the unfinished backfill of slot \"%s\" delivered no row yet: "
					"selecting rows by \"%s\" now, was \"%s\"", bf->cfg->stream.slot,
					cond, bf->cur.condition);
			free(bf->cur.condition);
			if ((bf->cur.condition = strdup(cond)) == NULL)
				return fail(bf, BF_FATAL, "out of memory");
		}
		if (strcmp(bf->cur.condition, cond) != 0)
			return fail(bf, BF_FATAL, "the unfinished backfill of slot \"%s\" selects rows by \"%s\", "
						"this command line by \"%s\"; restart with --backfill=\"%s\" to finish it",
						bf->cfg->stream.slot, bf->cur.condition, cond, bf->cur.condition);
		log_msg(LOG_INFO, "resuming the backfill of slot \"%s\" (consistent point %s) after %s%s%s, "
				"%llu rows delivered", bf->cfg->stream.slot, at,
				bf->cur.table[0] ? bf->cur.table : "its start", bf->cur.key[0] ? " key " : "",
				bf->cur.key, (unsigned long long) bf->cur.rows);
		if ((rc = open_reader(bf, NULL)) != 0)
			return rc;
		if ((bf->visible_in = strdup(bf->cur.snapshot)) == NULL)
			return fail(bf, BF_FATAL, "out of memory");
		bf->m->backfill_rows_done = bf->cur.rows;
		return run_tables(bf);
	}
	if (bf->cur.present && !bf->cfg->backfill.again)
	{
		log_msg(LOG_INFO, "the backfill of slot \"%s\" finished earlier (%llu rows); streaming",
				bf->cfg->stream.slot, (unsigned long long) bf->cur.rows);
		bf->m->backfill_rows_done = bf->cur.rows;
		return 0;
	}
	if (!bf->cfg->backfill.again)
		return fail(bf, BF_FATAL, "replication slot \"%s\" exists and %s holds no backfill of it, so "
					"the rows its snapshot saw cannot be told from those it streamed; hint: "
					"--backfill-again re-delivers the rows selected by the condition on an existing "
					"slot: at least once (docs/operations.md, \"Backfill\")",
					bf->cfg->stream.slot, bf->sink->ops->name);
	log_msg(LOG_WARNING, "--backfill-again: delivering the selected rows of a current snapshot while "
			"slot \"%s\" keeps its position: at least once (rows committed since the slot's "
			"position come twice)", bf->cfg->stream.slot);
	bf->flags = SINK_BACKFILL_NEW;
	return start_new(bf, NULL, bf->stream.start_lsn);
}

/*
 * No slot, but the sink holds a record of it from this server: the slot was
 * dropped (--drop-slot, the migration guide's rollback, an operator) after
 * it delivered.  A new slot and backfill would deliver again what the old
 * one did: only on request (--backfill-again), never by the same command
 * line a service manager restarts.
 */
static int
missing_slot(Backfill *bf)
{
	char		at[LSN_STRLEN];
	uint64_t	upto = bf->cur.record_lsn > bf->cur.lsn ? bf->cur.record_lsn : bf->cur.lsn;

	lsn_format(upto, at, sizeof(at));
	if (!bf->cfg->backfill.again)
		return fail(bf, BF_FATAL, "replication slot \"%s\" does not exist but %s holds its record from "
					"this server (%s%s%s, delivered up to %s): the slot was dropped after it delivered, "
					"and creating it again would deliver those rows a second time; hint: to re-deliver on "
					"purpose (at least once) start once with --backfill-again, or for a fresh start delete "
					"the sink's record of the slot and its streams (docs/migration.md, \"Rolling back\")",
					bf->cfg->stream.slot, bf->sink->ops->name,
					!bf->cur.present ? "no backfill" : bf->cur.done ? "backfill done" : "backfill unfinished",
					bf->cur.present ? ", rows " : "",
					bf->cur.present ? (bf->cur.done ? "all selected" : "partly") : "", at);
	log_msg(LOG_WARNING, "--backfill-again: replication slot \"%s\" was dropped after delivering up to %s: "
			"creating it again and delivering the selected rows again: at least once",
			bf->cfg->stream.slot, at);
	return 0;
}

/*
 * The command line that resumes the recorded backfill: the bridge's own
 * (cfg->stream.command_line, without the --recreate-lost-slot and --backfill
 * the recovery hint adds) with --backfill=<the recorded condition>, quoted
 * for a POSIX shell.  malloc'd, NULL when out of memory.
 */
static char *
resume_command(const BridgeConfig *cfg, const char *condition)
{
	const char *cl = cfg->stream.command_line ? cfg->stream.command_line : "wal2queue-bridge ...";
	size_t		len = strlen(cl);
	char	   *out;
	char	   *p;

	if (len >= 11 && strcmp(cl + len - 11, " --backfill") == 0)
		len -= 11;
	if (!cfg->backfill.recreate_lost && len >= 21 &&
		strncmp(cl + len - 21, " --recreate-lost-slot", 21) == 0)
		len -= 21;
	if ((p = out = malloc(len + 4 * strlen(condition) + 32)) == NULL)
		return NULL;
	p += sprintf(p, "%.*s --backfill", (int) len, cl);
	if (*condition == '\0')
		return out;
	p += sprintf(p, "='");
	for (const char *c = condition; *c; c++)
		p += *c == '\'' ? sprintf(p, "'\\''") : sprintf(p, "%c", *c);
	sprintf(p, "'");
	return out;
}

/*
 * Without --backfill: refuse a slot whose backfill the sink records as
 * unfinished.  Streaming it would confirm past the consistent point and the
 * rows the backfill had not reached would never be delivered, silently.  A
 * record of another source is the stream's to judge (read as none).
 */
static int
check_unfinished(Backfill *bf)
{
	bool		exists;
	char	   *cmd;
	int			rc;

	stream_init(&bf->stream, &bf->cfg->stream);
	if ((rc = stream_probe(&bf->stream, &exists)) != STREAM_OK)
		return stream_rc(bf, rc);
	take_source(bf);
	if ((rc = bf->sink->ops->connect(bf->sink)) != SINK_OK ||
		(rc = bf->sink->ops->backfill_read(bf->sink, &bf->src, SINK_BACKFILL_ACCEPT,
										   &bf->cur)) != SINK_OK)
		return sink_rc(bf, rc);
	if (!bf->cur.present || bf->cur.done || bf->cur.other_source)
	{
		backfill_state_free(&bf->cur);
		memset(&bf->cur, 0, sizeof(bf->cur));
		return 0;
	}
	cmd = resume_command(bf->cfg, bf->cur.condition ? bf->cur.condition : "");
	rc = fail(bf, BF_FATAL, "replication slot \"%s\" has an unfinished backfill (%" PRIu64 " rows delivered, "
			  "condition \"%s\"): streaming it without --backfill would never deliver the rows the backfill "
			  "has not reached; resume the backfill with: %s",
			  bf->cfg->stream.slot, bf->cur.rows, bf->cur.condition ? bf->cur.condition : "",
			  cmd ? cmd : "the same command line with --backfill=<that condition>");
	free(cmd);
	return rc;
}

/* one attempt at the whole phase; a retry resumes from the sink's state */
static int
attempt(Backfill *bf)
{
	char		snap[128];
	bool		exists;
	int			rc;

	stream_init(&bf->stream, &bf->cfg->stream);
	if ((rc = stream_probe(&bf->stream, &exists)) != STREAM_OK)
		return stream_rc(bf, rc);
	take_source(bf);
	if ((rc = bf->sink->ops->connect(bf->sink)) != SINK_OK ||
		(rc = bf->sink->ops->backfill_read(bf->sink, &bf->src,
										   bf->cfg->accept_new_source ? SINK_BACKFILL_ACCEPT : 0,
										   &bf->cur)) != SINK_OK)
		return sink_rc(bf, rc);
	/* --accept-new-source and another source's record: none, taken over */
	bf->flags = bf->cur.other_source ? SINK_BACKFILL_ACCEPT : 0;
	if (exists && strcmp(bf->stream.wal_status, "lost") == 0)
	{
		if (!bf->cfg->backfill.recreate_lost)
			return fail(bf, BF_FATAL, "replication slot \"%s\" is lost: the server removed WAL it still "
						"needed (max_slot_wal_keep_size); hint: %s re-creates it and re-delivers the rows "
						"the tables still hold (at least once; docs/operations.md, \"Recovering a lost slot\")",
						bf->cfg->stream.slot, bf->cfg->stream.command_line ? bf->cfg->stream.command_line : "wal2queue-bridge ... --recreate-lost-slot");
		log_msg(LOG_WARNING, "replication slot \"%s\" is lost: dropping it, creating it again and "
				"backfilling; rows the old slot delivered since the last prune() come again "
				"(consumers dedupe by table and key)", bf->cfg->stream.slot);
		if ((rc = drop_slot(bf)) != 0)
			return rc;
		exists = false;
		bf->flags = SINK_BACKFILL_NEW | SINK_BACKFILL_ACCEPT;
	}
	else if (exists && bf->created_here && !bf->cur.present)
	{
		/* our slot, lost before its first state was recorded: start over */
		if ((rc = drop_slot(bf)) != 0)
			return rc;
		exists = false;
	}
	if (exists)
		return existing_slot(bf);
	if (bf->cur.record && !(bf->flags & SINK_BACKFILL_ACCEPT) &&
		(rc = missing_slot(bf)) != 0)
		return rc;
	bf->flags |= SINK_BACKFILL_NEW;
	if ((rc = stream_create_exported(&bf->stream, snap, sizeof(snap))) != STREAM_OK)
		return stream_rc(bf, rc);
	bf->created_here = true;
	take_source(bf);
	return start_new(bf, snap, bf->stream.start_lsn);
}

/*
 * Tell the extension the slot's backfill is done, when it can hear it: only
 * for the slot the backfill was taken from, i.e. a slot registered at the
 * backfill's consistent point (a slot of the same name created since, by
 * hand or by another bridge, was not backfilled; mark_backfilled() refuses
 * it too).
 */
static void
mark_backfilled(Backfill *bf)
{
	const char *keys[] = {"dbname", "fallback_application_name", NULL};
	const char *vals[] = {bf->cfg->stream.conninfo, "wal2queue-bridge backfill", NULL};
	PgConnectFailure f;
	PGconn	   *conn = pgerror_connect(keys, vals, &f);
	PGresult   *res;
	char		at[LSN_STRLEN];
	const char *params[2] = {bf->cfg->stream.slot, at};

	if (conn == NULL)
	{
		log_msg(LOG_WARNING, "could not tell the wal2queue extension that the backfill is done: %s", f.message);
		return;
	}
	lsn_format(bf->cur.lsn, at, sizeof(at));
	res = PQexec(conn, "SELECT pg_catalog.to_regprocedure('wal2queue.mark_backfilled(name, pg_lsn)') IS NOT NULL");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "t") == 0)
	{
		PQclear(res);
		res = PQexecParams(conn, "SELECT 't', r.start_lsn = $2::pg_catalog.pg_lsn "
						   "FROM wal2queue.slots r WHERE r.slot_name = $1 UNION ALL SELECT 't', NULL LIMIT 1",
						   2, NULL, params, NULL, NULL, 0);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
		strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		log_msg(LOG_INFO, "the wal2queue extension (or its mark_backfilled()) is not installed: "
				"prune() does not know the backfilled rows were delivered");
	else if (strcmp(PQgetvalue(res, 0, 1), "f") == 0)
		log_msg(LOG_WARNING, "replication slot \"%s\" was registered at another position than the "
				"backfill's consistent point %s (it is not the slot that was backfilled): "
				"not marking it backfilled", bf->cfg->stream.slot, at);
	else
	{
		PQclear(res);
		res = PQexecParams(conn, "SELECT wal2queue.mark_backfilled($1, $2)", 2, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			log_msg(LOG_WARNING, "wal2queue.mark_backfilled() failed: %s", PQresultErrorMessage(res));
		else
			log_msg(LOG_INFO, "told the wal2queue extension that slot \"%s\" is backfilled", bf->cfg->stream.slot);
	}
	PQclear(res);
	PQfinish(conn);
}

static void
end_attempt(Backfill *bf)
{
	if (bf->conn)
		PQfinish(bf->conn);
	bf->conn = NULL;
	stream_close(&bf->stream);
	free(bf->visible_in);
	bf->visible_in = NULL;
}

int
backfill_run(const BridgeConfig *cfg, Sink *sink, MetricsSnapshot *m)
{
	Backfill	bf;
	int			delay_ms = 0;
	int			status = 0;

	if (!cfg->backfill.enabled && sink->ops->backfill_read == NULL)
		return 0;
	if (cfg->backfill.enabled && sink->ops->backfill_batch == NULL)
	{
		log_msg(LOG_ERROR, "--backfill is not available with the %s sink yet", sink->ops->name);
		return 1;
	}
	memset(&bf, 0, sizeof(bf));
	bf.cfg = cfg;
	bf.sink = sink;
	bf.m = m;
	if (cfg->backfill.tables &&
		!tablematch_parse(cfg->backfill.tables, &bf.patterns, bf.err, sizeof(bf.err)))
	{
		log_msg(LOG_ERROR, "%s", bf.err);
		return 1;
	}
	while (!bridge_stop_requested)
	{
		int			rc = cfg->backfill.enabled ? attempt(&bf) : check_unfinished(&bf);

		end_attempt(&bf);
		if (rc == 0)
			break;
		if (rc == BF_FATAL)
		{
			log_msg(LOG_ERROR, "%s", bf.err);
			status = 1;
			break;
		}
		delay_ms = delay_ms ? delay_ms * 2 : 100;
		if (delay_ms > BF_BACKOFF_MAX_MS)
			delay_ms = BF_BACKOFF_MAX_MS;
		log_msg(LOG_WARNING, "%s; %s in %.1f s", bf.err,
				cfg->backfill.enabled ? "resuming the backfill" : "reconnecting",
				delay_ms / 1000.0);
		sink->ops->disconnect(sink);
		for (int waited = 0; waited < delay_ms && !bridge_stop_requested; waited += 100)
			usleep(100000);
	}
	if (status == 0 && !bridge_stop_requested && bf.cur.present && bf.cur.done)
		mark_backfilled(&bf);
	sink->ops->disconnect(sink);
	m->backfill_running = false;
	backfill_state_free(&bf.cur);
	bf_tables_free(&bf.tables);
	tablematch_free(&bf.patterns);
	return status;
}
