/*-------------------------------------------------------------------------
 *
 * test_redis_backfill.c
 *		The Redis function wal2queue_backfill4 against a real redis-server:
 *		a page and its state are written together or not at all; a page
 *		sent again (a lost reply, a second bridge) is refused, never
 *		written twice; another source's record is refused unless taken
 *		over, and taken over it keeps no last transaction of the old
 *		source and records the options its lsn was written with (600); a
 *		key of another type stops the page before anything.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "backfill.h"
#include "redis_harness.h"
#include "unit.h"

static SinkSource src;
static FrameColumn cols[2] = {{{"id", 2}, W2Q_KIND_NUMBER}, {{"queue", 5}, W2Q_KIND_TEXT}};
static FrameRelation rel = {1, {"public.jobs", 11}, 2, cols};

/* job seq with id and queue (the target when route is set) */
static void
make_job(FrameJob *j, FrameValue *v, uint32_t seq, const char *id, const char *target)
{
	memset(j, 0, sizeof(*j));
	v[0] = (FrameValue) {false, {id, (uint32_t) strlen(id)}};
	v[1] = (FrameValue) {false, {"emails", 6}};
	j->seq = seq;
	j->rel = &rel;
	j->values = v;
	j->target = target ? (FrameBytes) {target, (uint32_t) strlen(target)} : rel.name;
	j->has_key = true;
	j->key = v[0].data;
}

static void
state(BackfillState *st, uint64_t seq, uint64_t rows, const char *key, bool done)
{
	backfill_state_free(st);
	st->lsn = 0x1000028;
	st->seq = seq;
	st->rows = rows;
	st->done = done;
	st->snapshot = strdup("750:760:752,755");
	st->condition = strdup("status = 'pending'");
	st->table = strdup(done ? "" : "public.jobs");
	st->key = strdup(key);
	st->storage = strdup("16384:16390 16400:16400");
	st->label = strdup("wipe-1");
	st->keydef = strdup(done ? "" : "id integer (type 23, collation 0)");
}

/* unit_check_str on a string the harness allocated, freed after */
static bool
check_owned(char *got, const char *want, const char *desc)
{
	bool		ok = unit_check_str(got, want, desc);

	free(got);
	return ok;
}

/* does the record field equal want?  (the harness's string freed) */
static bool
field_is(const char *field, const char *want)
{
	char	   *got = record_field("", "jobs", field);
	bool		ok = got != NULL && strcmp(got, want) == 0;

	free(got);
	return ok;
}

/* a new backfill's first state, then a page, written once */
static void
test_first_pages(Sink *s)
{
	BackfillState st = {0};
	FrameJob	jobs[2];
	FrameValue	vals[2][2];

	state(&st, 1, 0, "", false);
	unit_check(s->ops->backfill_batch(s, &src, SINK_BACKFILL_NEW, 0, &st, NULL, 0) == SINK_OK,
			   "the first state, before any row");
	check_owned(record_field("", "jobs", "lsn"), "0/1000028",
				   "a new backfill creates the record at the consistent point");
	check_owned(record_field("", "jobs", "sysid"), src.sysid, "with its source");

	make_job(&jobs[0], vals[0], 1, "2", NULL);
	make_job(&jobs[1], vals[1], 2, "4", NULL);
	state(&st, 2, 2, "[\"4\"]", false);
	st.by_oid = true;
	st.table_oid = 16390;
	st.tables_done = strdup("16384 16402");
	unit_check(s->ops->backfill_batch(s, &src, 0, 1, &st, jobs, 2) == SINK_OK, "a page of two rows");
	unit_check(field_is("backfill_table_oid", "16390") && field_is("backfill_tables_done", "16384 16402"),
			   "the page records the tables by oid");
	{
		BackfillState back = {0};

		unit_check(s->ops->backfill_read(s, &src, 0, &back) == SINK_OK && back.by_oid &&
				   back.table_oid == 16390 && strcmp(back.tables_done, "16384 16402") == 0,
				   "and reads them back");
		backfill_state_free(&back);
		/* an older bridge's record: the fields absent */
		freeReplyObject(rcmd("HDEL wal2queue:progress:jobs backfill_table_oid backfill_tables_done"));
		unit_check(s->ops->backfill_read(s, &src, 0, &back) == SINK_OK && !back.by_oid &&
				   back.table_oid == 0 && strcmp(back.tables_done, "") == 0,
				   "an older record reads as by name (by_oid false)");
		backfill_state_free(&back);
		freeReplyObject(rcmd("HSET wal2queue:progress:jobs backfill_table_oid 16390 "
							 "backfill_tables_done %s", "16384"));
	}
	check_owned(dump_stream(chk, "public.jobs"),
				   "_lsn=0/1000028 _seq=1 _backfill=1 id=2 queue=emails\n"
				   "_lsn=0/1000028 _seq=2 _backfill=1 id=4 queue=emails\n",
				   "entries carry the consistent point, the row's number and _backfill");
	unit_check(s->ops->backfill_batch(s, &src, 0, 1, &st, jobs, 2) == SINK_FATAL &&
			   strstr(s->err, "another bridge backfills the same slot") != NULL,
			   "the same page again is refused: %s", s->err);
	unit_check(rint_cmd("XLEN %s", "public.jobs") == 2, "and not written twice");

	backfill_state_free(&st);
}

/* pages of another backfill, or with a key of another type, write nothing */
static void
test_refused_pages(Sink *s)
{
	BackfillState st = {0};
	FrameJob	jobs[2];
	FrameValue	vals[2][2];

	make_job(&jobs[0], vals[0], 1, "2", NULL);
	make_job(&jobs[1], vals[1], 2, "4", NULL);
	state(&st, 3, 3, "[\"6\"]", false);
	st.lsn = 0x2000000;
	unit_check(s->ops->backfill_batch(s, &src, 0, 2, &st, jobs, 1) == SINK_FATAL,
			   "a page of another backfill (another consistent point) is refused");

	rdo("SET %s x", "wrong");
	make_job(&jobs[0], vals[0], 3, "6", NULL);
	make_job(&jobs[1], vals[1], 4, "8", "wrong");
	state(&st, 3, 4, "[\"8\"]", false);
	unit_check(s->ops->backfill_batch(s, &src, 0, 2, &st, jobs, 2) == SINK_FATAL &&
			   strstr(s->err, "\"wrong\" holds a string") != NULL,
			   "a key of another type stops the page: %s", s->err);
	unit_check(rint_cmd("XLEN %s", "public.jobs") == 2 &&
			   field_is("backfill_seq", "2"),
			   "before anything of it is written");

	backfill_state_free(&st);
}

/* another source's record, and the state read back as written */
static void
test_other_source(Sink *s, SinkSource *other)
{
	BackfillState st = {0};
	BackfillState rd = {0};

	init_source(other, "7300000000000000002", "jobs");
	state(&st, 1, 0, "", false);
	unit_check(s->ops->backfill_batch(s, other, SINK_BACKFILL_NEW, 0, &st, NULL, 0) == SINK_FATAL &&
			   strstr(s->err, "belongs to another source") != NULL,
			   "another source's record is refused: %s", s->err);
	unit_check(s->ops->backfill_read(s, other, 0, &rd) == SINK_FATAL &&
			   strstr(s->err, "--accept-new-source") != NULL,
			   "reading it as another source too: %s", s->err);
	unit_check(s->ops->backfill_read(s, other, SINK_BACKFILL_ACCEPT, &rd) == SINK_OK &&
			   rd.other_source && !rd.present && !rd.record,
			   "with SINK_BACKFILL_ACCEPT (--accept-new-source): read as no record, other_source");

	unit_check(s->ops->backfill_read(s, &src, 0, &rd) == SINK_OK && rd.present && !rd.done &&
			   rd.record && rd.record_lsn == 0x1000028 && !rd.other_source &&
			   rd.seq == 2 && rd.rows == 2 && rd.lsn == 0x1000028 &&
			   strcmp(rd.key, "[\"4\"]") == 0 && strcmp(rd.table, "public.jobs") == 0 &&
			   strcmp(rd.snapshot, "750:760:752,755") == 0 &&
			   strcmp(rd.condition, "status = 'pending'") == 0 &&
			   strcmp(rd.storage, "16384:16390 16400:16400") == 0 &&
			   strcmp(rd.label, "wipe-1") == 0 &&
			   strcmp(rd.keydef, "id integer (type 23, collation 0)") == 0,
			   "the state reads back as written (storage, label and keydef too)");

	backfill_state_free(&st);
	backfill_state_free(&rd);
}

/* done, a take-over, a column that would forge the backfill marker */
static void
test_done_and_takeover(Sink *s, const SinkSource *other)
{
	BackfillState st = {0};
	BackfillState rd = {0};
	FrameJob	jobs[2];
	FrameValue	vals[2][2];

	state(&st, 3, 2, "", true);
	unit_check(s->ops->backfill_batch(s, &src, 0, 2, &st, NULL, 0) == SINK_OK &&
			   s->ops->backfill_read(s, &src, 0, &rd) == SINK_OK && rd.done,
			   "done is recorded");
	state(&st, 1, 0, "", false);
	/* the old source's last transaction (test/t/600) */
	rdo("HSET wal2queue:progress:jobs txn_end 0/1000000 txn_xid 700 txn_commit_time 1 "
		"txn_source %s/1 txn_options %s lsn_options %s", src.sysid, "--plugin=x", "--plugin=x");
	unit_check(s->ops->backfill_batch(s, other, SINK_BACKFILL_NEW | SINK_BACKFILL_ACCEPT, 0, &st,
									  NULL, 0) == SINK_OK &&
			   field_is("sysid", other->sysid),
			   "--recreate-lost-slot takes the record over");
	unit_check(field_is("txn_end", "") && field_is("txn_xid", "") &&
			   field_is("txn_commit_time", "") && field_is("txn_source", "") &&
			   field_is("txn_options", ""),
			   "the take-over drops the old source's last transaction");
	unit_check(field_is("lsn_options", "--plugin=wal2queue, no --tables") &&
			   field_is("lsn", "0/1000028"),
			   "and writes lsn_options with lsn, the take-over's options");

	{
		FrameColumn bad[2] = {{{"id", 2}, W2Q_KIND_NUMBER}, {{"_backfill", 9}, W2Q_KIND_TEXT}};
		FrameRelation badrel = {2, {"public.bad", 10}, 2, bad};

		make_job(&jobs[0], vals[0], 1, "1", NULL);
		jobs[0].rel = &badrel;
		state(&st, 2, 1, "[\"1\"]", false);
		unit_check(s->ops->backfill_batch(s, other, 0, 1, &st, jobs, 1) == SINK_FATAL &&
				   strstr(s->err, "column _backfill") != NULL,
				   "a column named _backfill is refused: %s", s->err);
	}
	/* a new backfill of the same source past the record keeps its own transaction */
	rdo("HSET wal2queue:progress:jobs txn_end 0/1000010 txn_xid 701 txn_commit_time 2 "
		"txn_source %s/1 txn_options %s", other->sysid, "--plugin=y");
	state(&st, 1, 0, "", false);
	st.lsn = 0x1000040;
	unit_check(s->ops->backfill_batch(s, other, SINK_BACKFILL_NEW, 0, &st, NULL, 0) == SINK_OK &&
			   field_is("lsn", "0/1000040") && field_is("txn_end", "0/1000010") &&
			   field_is("txn_options", "--plugin=y") &&
			   field_is("lsn_options", "--plugin=wal2queue, no --tables"),
			   "a new backfill of this source moves lsn up and keeps this source's last transaction");
	{
		/* a failover: the promoted standby's timeline takes the record over */
		SinkSource	promoted = *other;

		promoted.timeline = 2;
		state(&st, 1, 0, "", false);
		st.lsn = 0x1000050;
		unit_check(s->ops->backfill_batch(s, &promoted, SINK_BACKFILL_NEW | SINK_BACKFILL_ACCEPT, 0,
										  &st, NULL, 0) == SINK_OK &&
				   field_is("timeline", "2") && field_is("lsn", "0/1000050") &&
				   field_is("txn_end", "") && field_is("txn_source", "") &&
				   field_is("lsn_options", "--plugin=wal2queue, no --tables"),
				   "a failover's backfill (another timeline) drops the old timeline's last transaction too");
	}
	backfill_state_free(&st);
	backfill_state_free(&rd);
}

int
main(void)
{
	SinkConfig	cfg;
	Sink	   *s;
	BackfillState rd = {0};
	SinkSource	other;

	init_source(&src, "7300000000000000001", "jobs");
	if (!harness_init() ||
		!unit_check(server_start(&srv, "main", 0, NULL, NULL), "redis-server starts"))
		return unit_done();
	init_cfg(&cfg, "");
	s = sink_redis_create(&cfg);
	unit_check(s->ops->connect(s) == SINK_OK, "the sink connects");
	unit_check(s->ops->backfill_read(s, &src, 0, &rd) == SINK_OK && !rd.present &&
			   !rd.record && !rd.other_source,
			   "no backfill state and no record at first");
	backfill_state_free(&rd);
	test_first_pages(s);
	test_refused_pages(s);
	test_other_source(s, &other);
	test_done_and_takeover(s, &other);
	s->ops->destroy(s);
	server_stop(&srv);
	return unit_done();
}
