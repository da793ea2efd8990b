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
jobs_before_slot($node);
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

my $b = bridge_delivers_new_job($node, $r);
prune_keeps_undelivered($node);
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
