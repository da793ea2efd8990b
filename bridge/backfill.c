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
 *	  the rows past the last key whose xmin the saved snapshot sees (with
 *	  --backfill-continue and another condition: that one from there on;
 *	  a table an ALTER rewrote since: refused, or with
 *	  --backfill-after-rewrite read without the filter, at least once);
 *	- a slot and a finished backfill: nothing to do, stream (also with
 *	  --backfill-again=LABEL naming the recorded backfill);
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
#include "backfill_page.h"
#include "backfill_rewrite.h"
#include "backfill_sql.h"
#include "bridge.h"
#include "backfill_internal.h"
#include "errbuf.h"
#include "log.h"
#include "lsn.h"
#include "pgerror.h"

#define BF_BACKOFF_MAX_MS 10000

int
bf_fail(Backfill *bf, int code, const char *fmt,...)
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
	return bf_fail(bf, rc == SINK_RETRY ? BF_RETRY : BF_FATAL, "%s", bf->sink->err);
}

/* write next (with its jobs) after cur; cur becomes next */
static int
record(Backfill *bf, BackfillState *next, const FrameJob *jobs, int njobs)
{
	int			rc;

	/* never a write without the lock (its connection may have died) */
	if ((rc = bf_lock_check(bf)) != 0)
		return rc;
	next->seq = bf->cur.seq + 1;
	rc = bf->sink->ops->backfill_batch(bf->sink, &bf->src, bf->flags, bf->cur.seq, next,
									   jobs, (uint32_t) njobs);
	if (rc != SINK_OK)
		return sink_rc(bf, rc);
	bf->flags = 0;
	if (!backfill_state_copy(&bf->cur, next))
		return bf_fail(bf, BF_FATAL, "out of memory");
	bf->cur.job_keys = NULL;	/* the page's, gone after it */
	bf->cur.present = true;
	bf->m->backfill_rows_done = next->rows;
	publish(bf);
	if (njobs > 0)
		backfill_test_pause("first-page");
	return 0;
}

/* a page read of t: its rows in sink calls of at most --backfill-page-bytes */
static int
deliver_page(Backfill *bf, const BfTable *t, PGresult *res)
{
	const char *kt[W2Q_MAX_COLUMNS];
	BfPage		p = {0};
	int			rc = 0;
	char		at[LSN_STRLEN];

	lsn_format(bf->cur.lsn, at, sizeof(at));
	/* a row the server could not print: a claim check of "at least 1GB" */
	if (!bf_page_build(t, res, bf->cur.rows + 1, &p) ||
		((p.forced_size = bf->oversize ? BF_OVERSIZE_BYTES : 0), false) ||
		bf_page_claim_checks(t, &p, bf->max_job_bytes, at) < 0)
		rc = bf_fail(bf, BF_FATAL, "out of memory");
	for (int from = 0, end; rc == 0 && from < p.n; from = end)
	{
		BackfillState next = {0};
		char	   *key;
		char	   *first = NULL;

		/* (bf->cur's strings are copied anew by every record()) */
		end = bf_page_cut(&p, from, bf->cfg->backfill.page_bytes);
		bf_page_key_texts(t, res, end - 1, kt);
		if ((key = backfill_key_format(kt, t->nkeys)) != NULL &&
			backfill_state_copy(&next, &bf->cur) && bf_dup_into(&next.table, t->qname) &&
			bf_dup_into(&next.key, key) && bf_dup_into(&next.keydef, bf_keydef_recorded(bf, t)))
		{
			next.by_oid = true;
			next.table_oid = t->oid;
			next.rows += end - from;
			next.job_keys = p.poskeys + from;
			if ((rc = record(bf, &next, p.jobs + from, end - from)) != 0)
			{
				/* name what the sink refused: the table and the rows' keys */
				char		why[sizeof(bf->err)];

				bf_page_key_texts(t, res, from, kt);
				first = backfill_key_format(kt, t->nkeys);
				snprintf(why, sizeof(why), "%s", bf->err);
				bf_fail(bf, rc, "could not deliver the backfill of table %s, %d rows from key %.200s to %.200s: %s",
					 t->name, end - from, first ? first : "?", key, why);
			}
		}
		else
			rc = bf_fail(bf, BF_FATAL, "out of memory");
		free(first);
		free(key);
		backfill_state_free(&next);
	}
	bf_page_free(&p);
	bf->oversize = false;
	return rc;
}

/* one table, from after (NULL: its start), rows visible_in (NULL: all) */
static int
run_table(Backfill *bf, const BfTable *t, char **after, const char *visible_in)
{
	int64_t		logged_us = 0;
	char	  **last = after;
	char		err[1024];
	int			rc = 0;

	for (;;)
	{
		int			limit = bf->cfg->backfill.batch;
		PGresult   *res = bf_page_guarded(bf, t, last, visible_in, &limit, err, sizeof(err));
		int			n;

		if (last != after)
			backfill_key_free(last, t->nkeys);
		last = NULL;
		if (res == NULL)
		{
			rc = bf_fail(bf, PQstatus(bf->conn) == CONNECTION_OK ? BF_FATAL : BF_RETRY, "%s", err);
			break;
		}
		n = PQntuples(res);
		rc = n > 0 ? deliver_page(bf, t, res) : 0;
		PQclear(res);
		if (rc != 0 || n == 0)
			break;
		/* at most a line a second, and the table's last */
		if (n < bf->cfg->backfill.batch || now_us() - logged_us >= 1000000)
		{
			log_msg(LOG_INFO, "backfill of %s: %llu of ~%llu rows", t->name,
					(unsigned long long) bf->cur.rows,
					(unsigned long long) bf->m->backfill_rows_estimated);
			logged_us = now_us();
		}
		if (n < limit || bridge_stop_requested)
			break;
		if ((n = backfill_key_parse(bf->cur.key, &last, err, sizeof(err))) != t->nkeys)
		{
			backfill_key_free(last, n > 0 ? n : 0);
			last = NULL;
			rc = bf_fail(bf, BF_FATAL, "%s", n < 0 ? err : "the backfill key has another number of columns");
			break;
		}
	}
	if (last != after)
		backfill_key_free(last, t->nkeys);
	return rc;
}

/* the state that says done */
static int
record_done(Backfill *bf)
{
	BackfillState next = {0};
	int			rc;

	if (!backfill_state_copy(&next, &bf->cur) || !bf_dup_into(&next.table, "") ||
		!bf_dup_into(&next.key, "") || !bf_dup_into(&next.keydef, ""))
		rc = bf_fail(bf, BF_FATAL, "out of memory");
	else
	{
		next.done = true;
		next.by_oid = true;
		next.table_oid = 0;
		rc = record(bf, &next, NULL, 0);
	}
	backfill_state_free(&next);
	if (rc == 0)
		log_msg(LOG_INFO, "backfill of slot \"%s\" done: %llu rows", bf->cfg->stream.slot,
				(unsigned long long) bf->cur.rows);
	return rc;
}

/* table i, from after (NULL: its start); finished, it is listed done */
static int
read_one(Backfill *bf, int i, char **after)
{
	const BfTable *t = &bf->tables.t[i];
	const char *visible;
	int			rc;

	if ((rc = bf_check_table(bf, t, &visible)) == 0 &&
		(rc = run_table(bf, t, after, visible)) == 0 && !bridge_stop_requested &&
		!bf_done_add(&bf->cur, t->oid))
		rc = bf_fail(bf, BF_FATAL, "out of memory");
	return rc;
}

/*
 * The table the state was reading (by its oid) on from its key, then every
 * selected table the state does not list done, in name order, then done
 */
static int
run_tables(Backfill *bf)
{
	int			cur = -1;
	char	  **after = NULL;
	int			nafter = 0;
	int			rc = 0;

	if (!bf->tables_loaded && (rc = bf_load_tables(bf)) != 0)
		return rc;
	if ((rc = bf_resume_position(bf, &cur, &after, &nafter)) != 0)
		return rc;
	bf->m->backfill_running = true;
	publish(bf);
	if (cur >= 0)
		rc = read_one(bf, cur, after);
	for (int i = 0; rc == 0 && i < bf->tables.n && !bridge_stop_requested; i++)
		if (i != cur && !bf_oid_listed(bf->cur.tables_done, bf->tables.t[i].oid))
			rc = read_one(bf, i, NULL);
	backfill_key_free(after, nafter);
	if (rc == 0 && !bridge_stop_requested)
	{
		backfill_test_pause("last-page");
		rc = record_done(bf);
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

	if ((rc = bf_open_reader(bf, snapshot_name)) != 0)
		return rc;
	if (snapshot_name)
		stream_register_slot(&bf->stream);	/* the snapshot is ours now */
	first.lsn = lsn;
	first.condition = strdup(bf->cfg->backfill.condition ? bf->cfg->backfill.condition : "");
	first.table = strdup("");
	first.key = strdup("");
	first.label = strdup(bf->cfg->backfill.again_label ? bf->cfg->backfill.again_label : "");
	if (!first.condition || !first.table || !first.key || !first.label)
		rc = bf_fail(bf, BF_FATAL, "out of memory");
	/* the tables' storage as the snapshot has it: a resume checks it */
	if (rc == 0 && (rc = bf_load_tables(bf)) == 0 &&
		(first.storage = bf_storage_read(bf->conn, &bf->tables, bf->err, sizeof(bf->err))) == NULL)
		rc = BF_RETRY;
	if (rc == 0 && (rc = bf_save_snapshot(bf, &first)) == 0)
	{
		/* the first state, before any row: a resume knows the snapshot */
		backfill_state_free(&bf->cur);
		if ((rc = record(bf, &first, NULL, 0)) == 0)
			backfill_test_pause("first-state");
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
	return bf_fail(bf, rc == STREAM_FATAL ? BF_FATAL : BF_RETRY, "%s", bf->stream.err);
}

/*
 * drop the slot (lost, or ours without any state).  One whose --create-slot
 * lock another session holds is left as it is, and waited for as the
 * backfill lock is (BF_CREATE_GRACE_US, then exit 1; --standby as long as it
 * takes): the holder may be the walsender an earlier process of this
 * bridge left behind (a restart during a network cut, attack 652), which
 * nothing here can tell from another bridge's; the message names it.
 */
#define BF_CREATE_GRACE_US (30 * INT64_C(1000000))

static int
drop_slot(Backfill *bf)
{
	int64_t		now;
	int			rc;

	if ((rc = bf_lock_check(bf)) != 0)
		return rc;
	rc = stream_drop_slot(&bf->stream);
	if (rc == STREAM_OK)
	{
		bf->create_busy_since_us = 0;
		return 0;
	}
	if (rc != STREAM_RETRY || !bf->stream.slot_busy)
		return stream_rc(bf, rc);
	now = now_us();
	if (bf->create_busy_since_us == 0)
		bf->create_busy_since_us = now;
	if (!bf->cfg->standby && now - bf->create_busy_since_us > BF_CREATE_GRACE_US)
		return bf_fail(bf, BF_FATAL, "%s; waited %d s: is a second bridge running with this command "
					"line? (--standby waits for it)", bf->stream.err,
					(int) ((now - bf->create_busy_since_us) / 1000000));
	return stream_rc(bf, rc);
}

/*
 * An unfinished backfill: resume it, with its own condition, or with this
 * command line's where it delivered no row yet or --backfill-continue says
 * so (the rows delivered stay: exactly once for the rest).
 */
static int
resume_unfinished(Backfill *bf)
{
	const char *cond = bf->cfg->backfill.condition ? bf->cfg->backfill.condition : "";
	char		at[LSN_STRLEN];
	int			rc;
	bool		none = bf->cur.rows == 0 && !bf->cur.page_unsure;

	lsn_format(bf->cur.lsn, at, sizeof(at));
	if (strcmp(bf->cur.condition, cond) != 0 && (none || bf->cfg->backfill.resume_condition))
	{
		/* nothing delivered yet (a condition that failed, say), or on request */
		log_msg(LOG_WARNING, "the unfinished backfill of slot \"%s\" %s: selecting rows by \"%s\" now, "
				"was \"%s\"", bf->cfg->stream.slot, none ? "delivered no row yet" :
				"goes on with a new condition (--backfill-continue; the rows it delivered stay as they are)",
				cond, bf->cur.condition);
		if (!bf_dup_into(&bf->cur.condition, cond))
			return bf_fail(bf, BF_FATAL, "out of memory");
	}
	if (strcmp(bf->cur.condition, cond) != 0)
		return bf_fail(bf, BF_FATAL, "the unfinished backfill of slot \"%s\" selects rows by \"%s\" (%llu rows "
					"delivered%s), this command line by \"%s\"; restart with --backfill=\"%s\" to finish it, "
					"or add --backfill-continue to go on from where it stopped with this command line's "
					"condition (exactly once for the rest; docs/operations.md, \"Backfill\")",
					bf->cfg->stream.slot, bf->cur.condition, (unsigned long long) bf->cur.rows,
					bf->cur.page_unsure ? ", and the next page perhaps in part" : "", cond,
					bf->cur.condition);
	log_msg(LOG_INFO, "resuming the backfill of slot \"%s\" (consistent point %s) after %s%s%s, "
			"%llu rows delivered", bf->cfg->stream.slot, at,
			bf->cur.table[0] ? bf->cur.table : "its start", bf->cur.key[0] ? " key " : "",
			bf->cur.key, (unsigned long long) bf->cur.rows);
	bf->unpinned = bf->cur.key[0] &&
		!(bf->cur.keydef && strncmp(bf->cur.keydef, BF_KEYDEF_TAG, strlen(BF_KEYDEF_TAG)) == 0);
	if (bf->unpinned)
		log_msg(LOG_WARNING, "the backfill state of slot \"%s\" was written by an older bridge: its "
				"position is read and written with the session's settings (DateStyle, IntervalStyle, "
				"extra_float_digits), as it was printed with, until the backfill finishes",
				bf->cfg->stream.slot);
	if ((rc = bf_open_reader(bf, NULL)) != 0)
		return rc;
	if ((bf->visible_in = strdup(bf->cur.snapshot)) == NULL)
		return bf_fail(bf, BF_FATAL, "out of memory");
	bf->m->backfill_rows_done = bf->cur.rows;
	return run_tables(bf);
}

/* --backfill-again=LABEL names the recorded backfill: it was done already */
static bool
same_label(const Backfill *bf)
{
	return bf->cfg->backfill.again_label && bf->cur.present && bf->cur.label &&
		strcmp(bf->cur.label, bf->cfg->backfill.again_label) == 0;
}

/* the slot exists: resume, nothing, or --backfill-again */
static int
existing_slot(Backfill *bf)
{
	const char *again = bf->cfg->backfill.again_label;

	/* --backfill-again=B names another backfill than the unfinished one */
	if (bf->cur.present && !bf->cur.done && again && strcmp(bf->cur.label, again) != 0)
		return bf_fail(bf, BF_FATAL, "--backfill-again=%s: slot \"%s\" has an unfinished backfill%s%s%s "
					"(%llu rows delivered, condition \"%s\"), which a new one would leave unfinished; "
					"hint: finish it first with this command line without --backfill-again, then start "
					"once with --backfill-again=%s (docs/operations.md, \"Backfill\")",
					again, bf->cfg->stream.slot, bf->cur.label[0] ? " labelled \"" : "",
					bf->cur.label, bf->cur.label[0] ? "\"" : "", (unsigned long long) bf->cur.rows,
					bf->cur.condition, again);
	if (bf->cur.present && !bf->cur.done)
		return resume_unfinished(bf);
	if (bf->cur.present && (!bf->cfg->backfill.again || same_label(bf)))
	{
		log_msg(LOG_INFO, "the backfill of slot \"%s\"%s%s%s finished earlier (%llu rows); streaming",
				bf->cfg->stream.slot, same_label(bf) ? " labelled \"" : "",
				same_label(bf) ? bf->cur.label : "", same_label(bf) ? "\"" : "",
				(unsigned long long) bf->cur.rows);
		bf->m->backfill_rows_done = bf->cur.rows;
		return 0;
	}
	if (!bf->cfg->backfill.again)
		return bf_fail(bf, BF_FATAL, "replication slot \"%s\" exists and %s holds no backfill of it, so "
					"the rows its snapshot saw cannot be told from those it streamed; hint: "
					"--backfill-again=LABEL re-delivers the rows selected by the condition on an existing "
					"slot once: at least once (docs/operations.md, \"Backfill\")",
					bf->cfg->stream.slot, bf->sink->ops->name);
	log_msg(LOG_WARNING, "--backfill-again%s%s: delivering the selected rows of a current snapshot while "
			"slot \"%s\" keeps its position: at least once (rows committed since the slot's "
			"position come twice)%s", bf->cfg->backfill.again_label ? "=" : "",
			bf->cfg->backfill.again_label ? bf->cfg->backfill.again_label : "", bf->cfg->stream.slot,
			bf->cfg->backfill.again_label ? "" : "; without =LABEL every start with it does this again");
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
	if (!bf->cfg->backfill.again || same_label(bf))
		return bf_fail(bf, BF_FATAL, "replication slot \"%s\" does not exist but %s holds its record from "
					"this server (%s%s%s, delivered up to %s%s%s%s): the slot was dropped after it delivered, "
					"and creating it again would deliver those rows a second time; hint: to re-deliver on "
					"purpose (at least once) start once with --backfill-again=<a new label>, or for a fresh "
					"start delete the sink's record of the slot and its streams (docs/migration.md, "
					"\"Rolling back\")",
					bf->cfg->stream.slot, bf->sink->ops->name,
					!bf->cur.present ? "no backfill" : bf->cur.done ? "backfill done" : "backfill unfinished",
					bf->cur.present ? ", rows " : "",
					bf->cur.present ? (bf->cur.done ? "all selected" : "partly") : "", at,
					same_label(bf) ? "; its backfill is the one labelled \"" : "",
					same_label(bf) ? bf->cur.label : "", same_label(bf) ? "\"" : "");
	log_msg(LOG_WARNING, "--backfill-again: replication slot \"%s\" was dropped after delivering up to %s: "
			"creating it again and delivering the selected rows again: at least once",
			bf->cfg->stream.slot, at);
	return 0;
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
	if (BACKFILL_CREATING(&bf->cur) && !exists)
		return bf_marker_refusal(bf);
	cmd = bf_hint_command(bf->cfg, bf->cur.condition ? bf->cur.condition : "", "");
	rc = bf_fail(bf, BF_FATAL, "replication slot \"%s\" has an unfinished backfill (%" PRIu64 " rows delivered, "
			  "condition \"%s\"): streaming it without --backfill would never deliver the rows the backfill "
			  "has not reached; resume the backfill with: %s",
			  bf->cfg->stream.slot, bf->cur.rows, bf->cur.condition ? bf->cur.condition : "",
			  cmd ? cmd : "the same command line with --backfill=<that condition>");
	free(cmd);
	return rc;
}

/*
 * Before a slot is created (or dropped to be created again): the marker
 * state (lsn 0, no row), so that a bridge stopped before the first state
 * is recorded finds it and drops and creates the slot again, rather than
 * taking the slot for one it never backfilled.
 */
static int
mark_creating(Backfill *bf)
{
	BackfillState m = {0};
	int			rc = 0;

	m.condition = strdup(bf->cfg->backfill.condition ? bf->cfg->backfill.condition : "");
	m.label = strdup(bf->cfg->backfill.again_label ? bf->cfg->backfill.again_label : "");
	if (!m.condition || !m.label || !bf_dup_into(&m.snapshot, "") || !bf_dup_into(&m.table, "") ||
		!bf_dup_into(&m.key, "") || !bf_dup_into(&m.storage, "") || !bf_dup_into(&m.keydef, ""))
		rc = bf_fail(bf, BF_FATAL, "out of memory");
	bf->flags |= SINK_BACKFILL_NEW;
	if (rc == 0)
		rc = record(bf, &m, NULL, 0);
	backfill_state_free(&m);
	/* the first state is a new backfill's too */
	bf->flags = SINK_BACKFILL_NEW;
	return rc;
}

/*
 * An unfinished backfill's slot is past its consistent point: not the slot
 * the backfill was taken from (dropped and created again, or advanced):
 * the rows committed in between would come from neither.  Refused, or with
 * --recreate-lost-slot dropped (after the marker) to be created again.
 */
static int
foreign_slot(Backfill *bf)
{
	char		at[LSN_STRLEN];
	char		now[LSN_STRLEN];
	char	   *cmd;
	int			rc;

	lsn_format(bf->cur.lsn, at, sizeof(at));
	lsn_format(bf->stream.start_lsn, now, sizeof(now));
	if (bf->cfg->backfill.recreate_lost)
	{
		log_msg(LOG_WARNING, "replication slot \"%s\" is at %s, past the unfinished backfill's consistent "
				"point %s: --recreate-lost-slot: dropping it, creating it again and backfilling (at least "
				"once)", bf->cfg->stream.slot, now, at);
		if ((rc = mark_creating(bf)) != 0 || (rc = drop_slot(bf)) != 0)
			return rc;
		bf->flags = SINK_BACKFILL_NEW | SINK_BACKFILL_ACCEPT;
		return 0;
	}
	cmd = bf_hint_command(bf->cfg, NULL, " --recreate-lost-slot");
	rc = bf_fail(bf, BF_FATAL, "replication slot \"%s\" is at %s, past the consistent point %s of its unfinished "
			  "backfill: it is not the slot the backfill was taken from (created again, or advanced, since) "
			  "and the rows committed in between would be delivered by neither; hint: drop it, create it "
			  "again and backfill (at least once) with: %s", bf->cfg->stream.slot, now, at,
			  cmd ? cmd : "the same command line with --recreate-lost-slot");
	free(cmd);
	return rc;
}

/* the slot (exists, its position) and the sink's backfill state (connect: first) */
static int
read_state(Backfill *bf, bool connect, bool *exists)
{
	Stream		kept = bf->stream;
	int			rc;

	stream_init(&bf->stream, &bf->cfg->stream);
	/*
	 * The walsenders this process may have left behind, kept across
	 * attempts: the one of a command given up (a silent path, attack 622:
	 * it keeps the --create-slot lock and the exported snapshot) is ended
	 * at the next connection that could wait on it (stream_own.c)
	 */
	bf->stream.own_pid = kept.own_pid;
	memcpy(bf->stream.own_epoch, kept.own_epoch, sizeof(kept.own_epoch));
	memcpy(bf->stream.own_start, kept.own_start, sizeof(kept.own_start));
	bf->stream.own_ended_us = kept.own_ended_us;
	bf->stream.gone_pid = kept.gone_pid;
	memcpy(bf->stream.gone_epoch, kept.gone_epoch, sizeof(kept.gone_epoch));
	memcpy(bf->stream.gone_start, kept.gone_start, sizeof(kept.gone_start));
	if ((rc = stream_probe(&bf->stream, exists)) != STREAM_OK)
		return stream_rc(bf, rc);
	take_source(bf);
	if ((connect && (rc = bf->sink->ops->connect(bf->sink)) != SINK_OK) ||
		(rc = bf->sink->ops->backfill_read(bf->sink, &bf->src,
										   bf->cfg->accept_new_source ? SINK_BACKFILL_ACCEPT : 0,
										   &bf->cur)) != SINK_OK)
		return sink_rc(bf, rc);
	return 0;
}

/* a slot whose backfill is done: nothing to read, write or drop */
static bool
finished(const Backfill *bf, bool exists)
{
	return exists && strcmp(bf->stream.wal_status, "lost") != 0 && bf->cur.present &&
		bf->cur.done && !bf->cur.other_source && (!bf->cfg->backfill.again || same_label(bf));
}

/* one attempt at the whole phase; a retry resumes from the sink's state */
static int
attempt(Backfill *bf)
{
	char		snap[128];
	bool		exists;
	bool		ours;
	bool		marker_only;
	int			rc;

	/* a finished backfill streams without the lock (any role can hold it) */
	if ((rc = read_state(bf, true, &exists)) != 0)
		return rc;
	if (finished(bf, exists))
		return existing_slot(bf);
	/* no other bridge backfills this slot until the last page (or a stop) */
	if ((rc = bf_lock_take(bf)) != 0 || (rc = read_state(bf, false, &exists)) != 0)
		return rc;
	/* --accept-new-source and another source's record: none, taken over */
	bf->flags = bf->cur.other_source ? SINK_BACKFILL_ACCEPT : 0;
	/* a marker: this backfill's slot was being created */
	ours = BACKFILL_CREATING(&bf->cur);
	if (exists && strcmp(bf->stream.wal_status, "lost") == 0)
	{
		if (!bf->cfg->backfill.recreate_lost)
			return bf_fail(bf, BF_FATAL, "replication slot \"%s\" is lost: the server removed WAL it still "
						"needed (max_slot_wal_keep_size); hint: %s re-creates it (passwords and secrets of the "
						"command line are shown as ***: put yours back) and re-delivers the rows "
						"the tables still hold (at least once; docs/operations.md, \"Recovering a lost slot\")",
						bf->cfg->stream.slot, bf->cfg->stream.command_line ? bf->cfg->stream.command_line : "wal2queue-bridge ... --recreate-lost-slot");
		log_msg(LOG_WARNING, "replication slot \"%s\" is lost: dropping it, creating it again and "
				"backfilling; rows the old slot delivered since the last prune() come again "
				"(consumers dedupe by table and key)", bf->cfg->stream.slot);
		if (!ours && (rc = mark_creating(bf)) != 0)
			return rc;
		if ((rc = drop_slot(bf)) != 0)
			return rc;
		exists = false;
		ours = true;
	}
	else if (exists && (ours || (bf->created_here && !bf->cur.present)))
	{
		/* our slot, created before its first state was recorded: start over */
		if ((rc = bf_marker_slot_check(bf)) != 0)
			return rc;
		/* (drop_slot() refuses a slot another bridge is creating: create lock) */
		if ((rc = drop_slot(bf)) != 0)
			return rc;
		log_msg(LOG_WARNING, "replication slot \"%s\" was created for a backfill that recorded no state "
				"yet (the bridge stopped in between): dropping it and starting the backfill again",
				bf->cfg->stream.slot);
		exists = false;
	}
	else if (exists && bf->cur.present && !bf->cur.done && bf->stream.start_lsn > bf->cur.lsn)
	{
		if ((rc = foreign_slot(bf)) != 0)
			return rc;
		exists = false;
		ours = true;
	}
	if (exists)
		return existing_slot(bf);
	if (bf->cur.record && !(bf->flags & SINK_BACKFILL_ACCEPT) && !ours &&
		(rc = missing_slot(bf)) != 0)
		return rc;
	/* the marker first: a stop from here on finds it */
	marker_only = !bf->cur.other_source && bf->cur.record_lsn == 0 &&
		(!bf->cur.present || BACKFILL_CREATING(&bf->cur));
	if ((rc = mark_creating(bf)) != 0)
		return rc;
	backfill_test_pause("marker");
	if ((rc = bf_lock_check(bf)) != 0)
		return rc;
	if ((rc = stream_create_exported(&bf->stream, snap, sizeof(snap))) != STREAM_OK)
		return bf_create_failed(bf, rc, marker_only);
	bf->created_here = true;
	backfill_test_pause("slot");
	take_source(bf);
	return start_new(bf, snap, bf->stream.start_lsn);
}

/*
 * A first backfill that created its slot in this attempt stopped for good
 * before it delivered a row: drop what this run created, as the other
 * start failures do (slot.c drop_created), so that the corrected command
 * line starts afresh.  The marker state first: a rerun then creates the
 * slot again rather than refuse the sink's record as one a dropped slot
 * delivered (missing_slot()); then the slot and its registration.  A
 * backfill that delivered rows keeps its slot: the next run resumes it.
 */
static void
drop_unused_slot(Backfill *bf)
{
	char		err[sizeof(bf->err)];

	if (!bf->created_here || !bf->stream.slot_created || bf->cur.rows > 0)
		return;
	memcpy(err, bf->err, sizeof(err));
	if (mark_creating(bf) == 0)
		stream_drop_created_slot(&bf->stream, "its backfill stopped before it delivered a row");
	else
		log_msg(LOG_WARNING, "could not drop replication slot \"%s\", which this run created for a "
				"backfill that delivered nothing: %s", bf->cfg->stream.slot, bf->err);
	memcpy(bf->err, err, sizeof(err));
}

static void
end_attempt(Backfill *bf)
{
	if (bf->conn)
		PQfinish(bf->conn);
	bf->conn = NULL;
	stream_close(&bf->stream);
	bf_lock_release(bf);
	free(bf->visible_in);
	bf->visible_in = NULL;
	bf->tables_loaded = false;
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

		if (rc == BF_FATAL)
			drop_unused_slot(&bf);
		end_attempt(&bf);
		if (rc == 0)
			break;
		if (rc == BF_FATAL)
		{
			log_msg(LOG_ERROR, "%s", bf.err);
			status = 1;
			break;
		}
		if (bf.lock_wait)
		{
			/* another bridge backfills: try its lock every second */
			for (int waited = 0; waited < 1000 && !bridge_stop_requested; waited += 100)
				usleep(100000);
			continue;
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
		backfill_mark_done(cfg, bf.cur.lsn);
	sink->ops->disconnect(sink);
	m->backfill_running = false;
	backfill_state_free(&bf.cur);
	bf_tables_free(&bf.tables);
	tablematch_free(&bf.patterns);
	return status;
}
