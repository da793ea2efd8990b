# prune() deletes rows no slot delivered after the append-only guard was
# disabled and enabled again under another name, with the event triggers in
# place (the extension installed by a superuser).
# guard_on_alter() (sql/src/25_append_only.sql) records a guard change only
# for tables that have a trigger NAMED wal2queue_append_only when the ALTER
# TABLE ends; guard_floor() then takes the xmin of the pg_trigger row.  In one
# transaction: ALTER TRIGGER ... RENAME the guard away, ALTER TABLE ...
# DISABLE TRIGGER it, UPDATE the waiting rows in a subtransaction (xid above
# the top-level one), ENABLE ALWAYS again and ALTER TRIGGER ... RENAME it
# back (ALTER TRIGGER fires no ALTER TABLE event): the pg_trigger row's xmin
# is the top-level xid, below the UPDATE's, nothing is in guard_events, and
# the updated rows pass as written since the guard.  Expected: prune() keeps
# the 10 rows inserted before the slot existed.
#
# Fixed: the guard is known by its function (refuse_update()), not its name,
# and the event trigger wal2queue_guard_alter also fires at the end of CREATE
# TRIGGER and ALTER TRIGGER: each change of the guard is recorded in
# guard_events (its state, guard_state()) in a subtransaction after the
# command, whose xid is above the UPDATE's; the floor is that record's xmin
# (sql/src/25_append_only.sql).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('guardrename');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs');
	INSERT INTO jobs (queue, payload) SELECT 'q', jsonb_build_object('n', g) FROM generate_series(1, 10) g;
	SELECT wal2queue.create_slot('s', 'public.jobs');
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'wal2queue_guard_%' AND evtenabled = 'A'}),
	'2', 'both event triggers are in place, enabled always');
# the 10 rows are older than the slot: never delivered
$node->safe_psql('postgres', q{
	BEGIN;
	ALTER TRIGGER wal2queue_append_only ON jobs RENAME TO w2q_off;
	ALTER TABLE jobs DISABLE TRIGGER w2q_off;
	SAVEPOINT s;
	UPDATE jobs SET payload = payload || '{"attempt": 2}';
	RELEASE SAVEPOINT s;
	ALTER TABLE jobs ENABLE ALWAYS TRIGGER w2q_off;
	ALTER TRIGGER w2q_off ON jobs RENAME TO wal2queue_append_only;
	COMMIT;
});
is($node->safe_psql('postgres', q{SELECT tgenabled FROM pg_trigger WHERE tgname = 'wal2queue_append_only' AND tgrelid = 'jobs'::regclass}),
	'A', 'the guard is back, enabled always');

my $b = start_bridge($node, $r, '--slot', 's', '--tables', 'public.jobs',
	'--status-interval', '1', '--accept-new-source');
$node->safe_psql('postgres', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"new": true}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }), 'the slot delivers the new job only')
  or diag(bridge_log($b));
ok(wait_attested($node, 's'), 'the bridge attested its slot');
my $deleted = 0;
for (1 .. 8)
{
	$node->safe_psql('postgres', 'CHECKPOINT');
	sleep 1;
	$deleted += $node->safe_psql('postgres', q{SELECT wal2queue.prune('public.jobs')});
	last if $deleted >= 10;
}
note("prune deleted $deleted rows");
is($node->safe_psql('postgres', q{SELECT count(*) FROM jobs WHERE payload ? 'n'}), '10',
	'prune keeps the 10 jobs no slot delivered');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
