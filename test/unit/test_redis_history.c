/*-------------------------------------------------------------------------
 *
 * test_redis_history.c
 *		The Redis progress record's positive evidence of one history: the
 *		record keeps the last delivered transaction's end LSN, xid and
 *		commit time, and a replay that reaches or crosses that LSN must
 *		present the same transaction there.  A replay of the same history is
 *		acked (what it skipped before that point only once it got there);
 *		another history of the same system and timeline (a server rolled
 *		back to a file-level copy) is refused with nothing acked.  And
 *		--create-slot's new slot past the record of a dropped one is refused
 *		(the gap between them is in no slot) unless --accept-new-source.
 *		A replay under other options than the record's last transaction was
 *		chosen with (txn_options) is no evidence of another history: the
 *		bridge stops naming both options and a way out without duplicates.
 *		Against a real redis-server started here.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_harness.h"
#include "unit.h"

static SinkSource src;

#define T1 INT64_C(1700000000000001)
#define T2 INT64_C(1700000000000002)

static TestJob job1[1] = {{"hist", NULL, NULL, {"1", "a", NULL, "t"}}};

static bool
record_is(const char *field, const char *want, const char *desc)
{
	char	   *got = record_field("h:", "jobs", field);
	bool		ok = unit_check_str(got, want, desc);

	free(got);
	return ok;
}

/* record a position without jobs (ticket t) and wait for the verdict */
static bool
progress_ok(Sink *s, uint64_t lsn, LedgerTicket t)
{
	return s->ops->progress(s, lsn, t) == SINK_OK && drain(s) == SINK_OK;
}

/* a new session of src from lsn on a fresh connection */
static int
session(Sink *s, uint64_t from, unsigned flags)
{
	s->ops->disconnect(s);
	reset_acks();
	return start_session(s, &src, from, flags);
}

/* the first history: A ends at 0x454 (xid 10), B at 0x4B8 (xid 11) */
static void
deliver_first(Sink *s)
{
	unit_check(session(s, 0x400, SINK_REPLAY_NEW_SLOT) == SINK_OK &&
			   send_txn_id(s, 0x42C, 1, 10, T1, job1, 1) == SINK_OK &&
			   send_txn_id(s, 0x490, 2, 11, T2, job1, 1) == SINK_OK &&
			   drain(s) == SINK_OK && ack_jobs[1] == 1 && ack_jobs[2] == 1,
			   "two transactions are delivered");
	record_is("txn_end", "0/4B8", "  the record holds the last one's end LSN,");
	record_is("txn_xid", "11", "  its xid,");
	record_is("txn_commit_time", "1700000000000002", "  its commit time,");
	record_is("txn_source", "7300000000000000001/1", "  and the source it is of");
}

static void
test_same_history(Sink *s)
{
	deliver_first(s);
	unit_check(session(s, 0x400, 0) == SINK_OK &&
			   send_txn_id(s, 0x42C, 1, 10, T1, job1, 1) == SINK_OK &&
			   drain(s) == SINK_OK && ack_total == 0,
			   "a replay below the record's last transaction is not acked yet");
	unit_check(send_txn_id(s, 0x490, 2, 11, T2, job1, 1) == SINK_OK &&
			   drain(s) == SINK_OK && ack_jobs[1] == 1 && ack_jobs[2] == 1,
			   "  and is, with it, once the replay presents that transaction");
	unit_check(rint_cmd("XLEN %s", "h:hist") == 2, "  nothing is written twice");
	unit_check(progress_ok(s, 0x500, 3) && ack_jobs[3] == 1,
			   "  a position after it is recorded and acked at once");
}

static void
test_other_history(Sink *s)
{
	unit_check(session(s, 0x400, 0) == SINK_OK &&
			   send_txn_id(s, 0x42C, 1, 20, T1, job1, 1) == SINK_OK &&
			   drain(s) == SINK_OK && ack_total == 0,
			   "another history: its transaction below the record is skipped, not acked");
	unit_check(send_txn_id(s, 0x490, 2, 21, T2, job1, 1) == SINK_OK &&
			   drain(s) == SINK_FATAL && ack_total == 0,
			   "  another xid at the record's last transaction's end is fatal, nothing acked");
	unit_check(strstr(s->err, "another history") && strstr(s->err, "xid 11") &&
			   strstr(s->err, "xid 21") && strstr(s->err, "0/4B8") &&
			   strstr(s->err, "--accept-new-source"),
			   "  naming both transactions, the LSN and the way out");
	printf("# %s\n", s->err);
	unit_check(session(s, 0x400, 0) == SINK_OK &&
			   send_txn_id(s, 0x490, 2, 11, T1, job1, 1) == SINK_OK &&
			   drain(s) == SINK_FATAL && strstr(s->err, "another history"),
			   "the same xid with another commit time is another history");
	unit_check(session(s, 0x400, 0) == SINK_OK &&
			   send_txn_id(s, 0x4A0, 2, 11, T2, job1, 1) == SINK_OK &&
			   drain(s) == SINK_FATAL && strstr(s->err, "another history"),
			   "a transaction that crosses the record's last end LSN is another history");
	unit_check(session(s, 0x400, 0) == SINK_OK &&
			   send_txn_id(s, 0x42C, 1, 10, T1, job1, 1) == SINK_OK &&
			   s->ops->progress(s, 0x600, 2) == SINK_OK &&
			   drain(s) == SINK_FATAL && ack_total == 0 &&
			   strstr(s->err, "no transaction there"),
			   "a position without a transaction that passes it is another history, nothing acked");
	unit_check(rint_cmd("XLEN %s", "h:hist") == 2, "  nothing was written");
	record_is("lsn", "0/500", "  the record stays");
}

static void
test_new_slot(Sink *s)
{
	unit_check(session(s, 0x800, SINK_REPLAY_NEW_SLOT) == SINK_OK &&
			   progress_ok(s, 0x800, 1) == false && s->new_slot_refused &&
			   strstr(s->err, "was gone") && strstr(s->err, "0/500") &&
			   strstr(s->err, "0/800") && strstr(s->err, "--backfill-again") &&
			   strstr(s->err, "--accept-new-source"),
			   "a new slot past this source's record is refused, naming both positions and the ways out");
	printf("# %s\n", s->err);
	record_is("lsn", "0/500", "  the record stays");
	unit_check(session(s, 0x800, SINK_REPLAY_NEW_SLOT | SINK_REPLAY_ACCEPT_NEW) == SINK_OK &&
			   progress_ok(s, 0x900, 1) && !s->new_slot_refused,
			   "with --accept-new-source the gap is accepted");
	record_is("lsn", "0/900", "  the record moves to the new slot");
	record_is("txn_end", "", "  and forgets the old slot's last transaction");
	unit_check(session(s, 0x900, SINK_REPLAY_NEW_SLOT) == SINK_OK && progress_ok(s, 0x900, 1),
			   "a new slot where the record is is no gap");
}

/* an older bridge's record has no last transaction: replays as before */
static void
test_old_record(Sink *s)
{
	rdo("DEL h:wal2queue:progress:jobs");
	deliver_first(s);
	rdo("HDEL h:wal2queue:progress:jobs txn_end txn_xid txn_commit_time txn_source");
	unit_check(session(s, 0x400, 0) == SINK_OK &&
			   send_txn_id(s, 0x42C, 1, 30, T1, job1, 1) == SINK_OK &&
			   drain(s) == SINK_OK && ack_jobs[1] == 1,
			   "a record without a last transaction (an older bridge's) is trusted by its LSN");
}

/* a session of sink s from lsn that replays xid 10 and then passes 0x4B8 */
static int
replay_past(Sink *s, uint32_t xid2)
{
	int			rc = session(s, 0x400, 0);

	if (rc == SINK_OK)
		rc = send_txn_id(s, 0x42C, 1, 10, T1, job1, 1);
	if (rc == SINK_OK && xid2 == 0)
		rc = s->ops->progress(s, 0x600, 2);
	else if (rc == SINK_OK)
		rc = send_txn_id(s, 0x490, 2, xid2, T2, job1, 1);
	return rc == SINK_OK ? drain(s) : rc;
}

/*
 * The record keeps the options its last transaction was chosen with
 * (txn_options).  A replay under other options (a narrower --tables) that
 * passes the record's last transaction without it is not called another
 * history: the bridge stops naming both options and a way out that writes
 * nothing twice (the record's options until the slot has passed it).
 * Under the record's options the same replay is still another history.
 * The stop comes at the session's start (progress_check_record()), for a
 * wider list too; the record's options in another spelling go on.
 */
static void
test_options_changed(void)
{
	SinkConfig	wide,
				narrow;
	Sink	   *sw,
			   *sn;

	init_cfg(&wide, "o:");
	wide.tables = "public.ta,public.tb";
	narrow = wide;
	narrow.tables = "public.ta";
	sw = sink_redis_create(&wide);
	sn = sink_redis_create(&narrow);
	unit_check(session(sw, 0x400, SINK_REPLAY_NEW_SLOT) == SINK_OK &&
			   send_txn_id(sw, 0x42C, 1, 10, T1, job1, 1) == SINK_OK &&
			   send_txn_id(sw, 0x490, 2, 11, T2, job1, 1) == SINK_OK &&
			   drain(sw) == SINK_OK && ack_jobs[2] == 1,
			   "options: two transactions are delivered under --tables public.ta,public.tb");
	check_record("o:", "jobs", "txn_options", "--plugin=wal2queue --tables=public.ta,public.tb",
				 "  the record keeps the options its last transaction was chosen with");
	unit_check(replay_past(sn, 0) == SINK_FATAL && ack_total == 0,
			   "a replay under --tables public.ta that passes the record's last transaction without it stops, nothing acked");
	unit_check(strstr(sn->err, "options that choose transactions changed") &&
			   strstr(sn->err, "\"--plugin=wal2queue --tables=public.ta,public.tb\"") &&
			   strstr(sn->err, "\"--plugin=wal2queue --tables=public.ta\"") &&
			   strstr(sn->err, "confirmed past 0/4B8") && strstr(sn->err, "xid 11") &&
			   strstr(sn->err, "not another history"),
			   "  naming both options, the record's transaction and the way out that writes nothing twice");
	printf("# %s\n", sn->err);
	unit_check(replay_past(sn, 21) == SINK_FATAL && ack_total == 0 &&
			   strstr(sn->err, "options that choose transactions changed") && strstr(sn->err, "xid 11") &&
			   strstr(sn->err, "slot \"jobs\" restarts at 0/400, below that transaction"),
			   "  the same with another transaction there: at the session's start, before anything is sent");
	{
		SinkConfig	wider = wide,
					respelt = wide;
		Sink	   *swider,
				   *srespelt;

		wider.tables = "public.ta,public.tb,public.tc";
		respelt.tables = "public.tb, public.ta,public.tb";
		swider = sink_redis_create(&wider);
		srespelt = sink_redis_create(&respelt);
		unit_check(session(swider, 0x400, 0) == SINK_FATAL && ack_total == 0 &&
				   strstr(swider->err, "options that choose transactions changed") &&
				   strstr(swider->err, "\"--plugin=wal2queue --tables=public.ta,public.tb,public.tc\""),
				   "a wider --tables stops too, at the session's start (test/t/550)");
		unit_check(session(swider, 0x4B8, 0) == SINK_OK,
				   "  but not from the record's last transaction on (nothing there is skipped as delivered)");
		unit_check(replay_past(srespelt, 11) == SINK_OK && ack_jobs[1] == 1 && ack_jobs[2] == 1,
				   "the record's options in another spelling (order, blanks, repeats) are not refused");
		swider->ops->destroy(swider);
		srespelt->ops->destroy(srespelt);
	}
	unit_check(replay_past(sw, 21) == SINK_FATAL && ack_total == 0 &&
			   strstr(sw->err, "another history") &&
			   !strstr(sw->err, "options that choose transactions changed") &&
			   strstr(sw->err, "restore that until slot \"jobs\" has confirmed past 0/4B8"),
			   "under the record's options another transaction there is still another history");
	unit_check(rint_cmd("XLEN %s", "o:hist") == 2, "  nothing was written");
	unit_check(replay_past(sw, 11) == SINK_OK && ack_jobs[1] == 1 && ack_jobs[2] == 1 &&
			   progress_ok(sw, 0x600, 3),
			   "the way out: the record's options show its last transaction again");
	unit_check(session(sn, 0x600, 0) == SINK_OK &&
			   send_txn_id(sn, 0x700, 1, 12, T2, job1, 1) == SINK_OK &&
			   drain(sn) == SINK_OK && ack_jobs[1] == 1 && rint_cmd("XLEN %s", "o:hist") == 3,
			   "  then the new options go on, nothing written twice");
	check_record("o:", "jobs", "txn_options", "--plugin=wal2queue --tables=public.ta",
				 "  and the record keeps them with its last transaction");
	rdo("HDEL o:wal2queue:progress:jobs txn_options");
	unit_check(session(sw, 0x600, 0) == SINK_OK && progress_ok(sw, 0x800, 1) == false &&
			   strstr(sw->err, "another history"),
			   "a record without txn_options (an older bridge's) judges as before: another history");
	sw->ops->destroy(sw);
	sn->ops->destroy(sn);
}

/*
 * Option lists too long for SINK_ERRLEN (--tables of 20 tables): the
 * message still holds the cause and the way out, whole (it was cut in the
 * bridge's own list, test/t/533); the lists are shortened with "... (N
 * more)" and the way out says where the recorded options are kept.
 */
static void
test_options_long(void)
{
	SinkConfig	wide,
				narrow;
	Sink	   *sw,
			   *sn;
	char		wtab[1024] = "public.ta,public.tb",
				ntab[1024] = "public.ta";
	char		more[64];
	size_t		n;

	for (int i = 1; i <= 18; i++)
	{
		snprintf(more, sizeof(more), ",public.queue_of_the_department_%02d", i);
		strcat(wtab, more);
		strcat(ntab, more);
	}
	init_cfg(&wide, "l:");
	wide.tables = wtab;
	narrow = wide;
	narrow.tables = ntab;
	sw = sink_redis_create(&wide);
	sn = sink_redis_create(&narrow);
	unit_check(session(sw, 0x400, SINK_REPLAY_NEW_SLOT) == SINK_OK &&
			   send_txn_id(sw, 0x42C, 1, 10, T1, job1, 1) == SINK_OK &&
			   send_txn_id(sw, 0x490, 2, 11, T2, job1, 1) == SINK_OK &&
			   drain(sw) == SINK_OK && ack_jobs[2] == 1,
			   "long options: two transactions are delivered under --tables of 20 tables");
	unit_check(replay_past(sn, 0) == SINK_FATAL && ack_total == 0,
			   "  a replay under 19 of them that passes the record's last transaction stops");
	n = strlen(sn->err);
	printf("# %s\n", sn->err);
	unit_check(n < SINK_ERRLEN - 1 &&
			   strstr(sn->err, "options that choose transactions changed since the record (not another history)") &&
			   strstr(sn->err, "restart once with the recorded options (logged above in full, and kept: "
					  "HGET l:wal2queue:progress:jobs txn_options) until slot \"jobs\" has confirmed past 0/4B8") &&
			   strstr(sn->err, "would write every job between the slot and the record again"),
			   "  the message is whole: the cause and the way out, naming where the recorded options are");
	unit_check(strstr(sn->err, "\"--plugin=wal2queue --tables=public.ta,public.tb,") &&
			   strstr(sn->err, "more)\", but this bridge runs with \"--plugin=wal2queue --tables=public.ta,") &&
			   strstr(sn->err, "more)\" and slot \"jobs\" restarts at 0/400"),
			   "  each list shortened with \"... (N more)\"");
	sw->ops->destroy(sw);
	sn->ops->destroy(sn);
}

/*
 * test/t/604: a schema and tables of 63 characters (PostgreSQL's longest
 * names), with a --target-prefix of 3 and of 400 characters: even the
 * lists' first items leave no room, and the options-changed messages (the
 * record's last transaction's, and record_no_txn()'s of a record without
 * one) give the lists as counts, the progress key cut at its start when
 * even that does not fit; the cause and the way out stay whole.
 */
static bool
message_whole(const char *err, const char *desc)
{
	const char *end = "--accept-new-source would write every job between the slot and the record again";
	size_t		n = strlen(err),
				e = strlen(end);

	printf("# %s\n", err);
	return unit_check(n < SINK_ERRLEN && n >= e && strcmp(err + n - e, end) == 0 &&
					  strstr(err, "the options that choose transactions changed since the record") &&
					  strstr(err, "restart once with the recorded options") &&
					  strstr(err, "wal2queue:progress:jobs\" (at "),
					  "%s (%zu characters)", desc, n);
}

static void
test_options_names_63(void)
{
	char		sch[64],
				ta[64],
				tb[64],
				wtab[256],
				ntab[256],
				prefix[512];
	size_t		plen[2] = {3, 400};

	memset(sch, 'x', 63);
	sch[63] = '\0';
	snprintf(ta, sizeof(ta), "queue_of_the_department_with_a_rather_long_name_and_more_ta_aaa");
	snprintf(tb, sizeof(tb), "queue_of_the_department_with_a_rather_long_name_and_more_tb_bbb");
	snprintf(wtab, sizeof(wtab), "%s.%s,%s.%s", sch, ta, sch, tb);
	snprintf(ntab, sizeof(ntab), "%s.%s", sch, ta);
	for (int i = 0; i < 2; i++)
	{
		SinkConfig	wide,
					narrow;
		Sink	   *sw,
				   *sn;

		memset(prefix, 'p', plen[i] - 1);
		prefix[plen[i] - 1] = ':';
		prefix[plen[i]] = '\0';
		init_cfg(&wide, prefix);
		wide.tables = wtab;
		narrow = wide;
		narrow.tables = ntab;
		sw = sink_redis_create(&wide);
		sn = sink_redis_create(&narrow);
		unit_check(session(sw, 0x400, SINK_REPLAY_NEW_SLOT) == SINK_OK &&
				   send_txn_id(sw, 0x42C, 1, 10, T1, job1, 1) == SINK_OK &&
				   drain(sw) == SINK_OK && ack_jobs[1] == 1,
				   "names of 63 characters, a --target-prefix of %zu: a transaction delivered", plen[i]);
		unit_check(session(sn, 0x400, 0) == SINK_FATAL && ack_total == 0,
				   "  the narrower --tables below it stops");
		message_whole(sn->err, "  the message is whole");
		unit_check(strstr(sn->err, "--tables=(2 tables)\", but this bridge runs with "
						  "\"--plugin=wal2queue --tables=(1 table)\"") != NULL,
				   "  the lists as counts");
		rdo("HDEL %swal2queue:progress:jobs txn_end txn_xid txn_commit_time txn_source txn_options",
			prefix);
		unit_check(session(sn, 0x400, 0) == SINK_FATAL && ack_total == 0 &&
				   strstr(sn->err, "no transaction delivered since it was created or taken over"),
				   "  without the record's last transaction: stops too (record_no_txn())");
		message_whole(sn->err, "  that message is whole too");
		sw->ops->destroy(sw);
		sn->ops->destroy(sn);
	}
}

/*
 * test/t/600: a record whose last transaction is another source's (a
 * failover's backfill of a bridge before the fix took it over: the record
 * on timeline 2, txn_source still timeline 1) is no evidence for this
 * source; a session below its lsn under other options stops as one
 * without a last transaction does (record_no_txn()).
 */
static void
test_foreign_txn(void)
{
	SinkConfig	narrow,
				wide;
	Sink	   *sn,
			   *sw;
	SinkSource	promoted = src;

	init_cfg(&narrow, "f:");
	narrow.tables = "public.ta";
	wide = narrow;
	wide.tables = "public.ta,public.tb";
	sn = sink_redis_create(&narrow);
	sw = sink_redis_create(&wide);
	unit_check(session(sn, 0x400, SINK_REPLAY_NEW_SLOT) == SINK_OK &&
			   send_txn_id(sn, 0x42C, 1, 10, T1, job1, 1) == SINK_OK &&
			   drain(sn) == SINK_OK && progress_ok(sn, 0x600, 2),
			   "foreign txn: a transaction and a position past it under --tables public.ta");
	rdo("HSET f:wal2queue:progress:jobs timeline 2");
	promoted.timeline = 2;
	sw->ops->disconnect(sw);
	reset_acks();
	unit_check(start_session(sw, &promoted, 0x400, 0) == SINK_FATAL && ack_total == 0 &&
			   strstr(sw->err, "no transaction delivered since it was created or taken over") &&
			   strstr(sw->err, "--plugin=wal2queue --tables=public.ta\", but this bridge runs with"),
			   "  timeline 2 below the record under a wider --tables stops: timeline 1's transaction proves nothing");
	printf("# %s\n", sw->err);
	rdo("HSET f:wal2queue:progress:jobs txn_source 7300000000000000001/2");
	sw->ops->disconnect(sw);
	unit_check(start_session(sw, &promoted, 0x400, 0) == SINK_FATAL &&
			   strstr(sw->err, "last delivered xid 10"),
			   "  (with txn_source its own, the last transaction's verdict)");
	sn->ops->destroy(sn);
	sw->ops->destroy(sw);
}

int
main(void)
{
	SinkConfig	cfg;
	Sink	   *s;

	init_source(&src, "7300000000000000001", "jobs");
	if (!harness_init() ||
		!unit_check(server_start(&srv, "hist", 0, NULL, NULL), "redis-server starts"))
		return unit_done();
	init_cfg(&cfg, "h:");
	s = sink_redis_create(&cfg);
	test_same_history(s);
	test_other_history(s);
	test_new_slot(s);
	test_old_record(s);
	s->ops->destroy(s);
	test_options_changed();
	test_options_long();
	test_options_names_63();
	test_foreign_txn();
	return unit_done();
}
