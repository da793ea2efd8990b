# Fixed: the event trigger wal2queue_schema_rename (sql/src/60_schema_rename.sql,
# in the extension and the standalone script) invalidates, in the renaming
# transaction, every published table of a schema renamed by ALTER SCHEMA, so
# pgoutput describes them again, by the new name, at the rename's position;
# without the trigger the publication watch (bridge/pubwatch.c) reads the
# names of the published tables' schemas and stops the bridge, exit 1,
# naming the rename, rather than going on under the old name.  Uses the
# INSTALLED plugin for the comparison, and the standalone script built from
# the tree's sql/src.
#
# The attack: "the same targets (schema.table ...)" in both modes
# (docs/managed.md).  After ALTER SCHEMA ... RENAME while streaming, the
# plugin names the table by its new schema (plugin/relinfo.c drops its
# entries on a pg_namespace invalidation), but pgoutput keeps its relation
# cache (no relcache invalidation for a schema rename) and never sends a
# new Relation message, so the bridge (bridge/pgoutput.c decode_relation
# is its only source of names) kept the old schema.table as target -- and
# as the name --tables is matched against -- until it reconnected.
# Expected: with the trigger, the pgoutput mode writes the row to new_s.jobs
# as the plugin does and goes on; without it, the bridge stops, exit 1.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $root = $ENV{W2Q_ROOT} // die 'W2Q_ROOT is not set';
my $script = $PostgreSQL::Test::Utils::tmp_check . '/wal2queue-standalone.sql';
run_command([ "$root/sql/make-standalone.sh", $script, sort glob("$root/sql/src/*.sql") ]);

my $node = new_node('pgoschema');
my $r = start_redis();
$node->safe_psql('postgres', q{CREATE DATABASE notrig});
my ($o, $e) = run_command([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
	'-f', $script ]);
unlike($e, qr/ERROR|WARNING:  wal2queue: the event trigger/, 'the standalone script, run by a superuser, creates the trigger');
for my $db ('postgres', 'notrig')
{
	$node->safe_psql($db, q{
		CREATE SCHEMA old_s;
		CREATE TABLE old_s.jobs (id int PRIMARY KEY, v text);
		CREATE TABLE old_s.parted (id int, r text, PRIMARY KEY (id, r)) PARTITION BY LIST (r);
		CREATE TABLE public.parted_a PARTITION OF old_s.parted FOR VALUES IN ('a');
		CREATE PUBLICATION w2q FOR TABLE old_s.jobs, old_s.parted WITH (publish = 'insert', publish_via_partition_root = true);
	});
}
$node->safe_psql('postgres', q{
	DO $$ BEGIN CREATE ROLE bridge LOGIN REPLICATION; END $$;
	SELECT pg_create_logical_replication_slot('plug', 'wal2queue');
	SELECT pg_create_logical_replication_slot('pgo', 'pgoutput');
});
$node->safe_psql('notrig', q{SELECT pg_create_logical_replication_slot('pgo_nt', 'pgoutput')});
my @common = ('--status-interval', '1', '--accept-new-source', '--tables', 'old_s.jobs,new_s.jobs,new_s.jobs2,old_s.parted,new_s.parted');
my $pb = start_bridge($node, $r, @common, '--slot', 'plug', '--target-prefix', 'plug:');
my $gb = start_bridge($node, $r, @common, '-d', $node->connstr('postgres') . ' user=bridge',
	'--slot', 'pgo', '--target-prefix', 'pgo:', '--plugin', 'pgoutput', '--publication', 'w2q');
my $nb = start_bridge($node, $r, @common, '-d', $node->connstr('notrig') . ' user=bridge',
	'--slot', 'pgo_nt', '--target-prefix', 'nt:', '--plugin', 'pgoutput', '--publication', 'w2q');
for my $db ('postgres', 'notrig')
{
	$node->safe_psql($db, q{INSERT INTO old_s.jobs VALUES (1, 'before'); INSERT INTO old_s.parted VALUES (1, 'a')});
}
ok(wait_until(sub { redis($r, 'XLEN', 'plug:old_s.jobs') eq '1' && redis($r, 'XLEN', 'pgo:old_s.jobs') eq '1'
	&& redis($r, 'XLEN', 'nt:old_s.jobs') eq '1' }),
	'both modes deliver to old_s.jobs') or diag(bridge_log($gb));
unlike(bridge_log($gb), qr/event trigger wal2queue_schema_rename is not installed/, 'with the trigger: no warning');
like(bridge_log($nb), qr/WARNING: the event trigger wal2queue_schema_rename is not installed \(or not enabled\) in this database: after ALTER SCHEMA \.\.\. RENAME/,
	'without the trigger: the bridge says at start what that means');

for my $db ('postgres', 'notrig')
{
	$node->safe_psql($db, q{ALTER SCHEMA old_s RENAME TO new_s});
	$node->safe_psql($db, q{INSERT INTO new_s.jobs VALUES (2, 'after')});
}
ok(wait_until(sub { redis($r, 'XLEN', 'plug:new_s.jobs') eq '1' }), 'plugin mode: the row goes to new_s.jobs');
wait_until(sub { redis($r, 'EXISTS', 'pgo:new_s.jobs') eq '1' || redis($r, 'XLEN', 'pgo:old_s.jobs') eq '2' }, 20);
is(redis($r, 'XLEN', 'pgo:new_s.jobs'), '1', 'pgoutput mode: the row goes to new_s.jobs as in the plugin mode')
  or diag('pgoutput mode wrote it to old_s.jobs: ' . redis($r, 'XLEN', 'pgo:old_s.jobs') . ' entries there');
is(redis($r, 'XLEN', 'pgo:old_s.jobs'), '1', 'and nothing more to old_s.jobs');
$node->safe_psql('postgres', q{INSERT INTO new_s.parted VALUES (2, 'a')});
ok(wait_until(sub { redis($r, 'XLEN', 'pgo:new_s.parted') eq '1' && redis($r, 'XLEN', 'plug:new_s.parted') eq '1' }),
	'a partition (in another schema) published via its renamed root: the root\'s new name, as in the plugin mode')
  or diag('pgo:old_s.parted has ' . redis($r, 'XLEN', 'pgo:old_s.parted'));
$node->safe_psql('postgres', q{INSERT INTO new_s.jobs VALUES (3, 'later')});
ok(wait_until(sub { redis($r, 'XLEN', 'pgo:new_s.jobs') eq '2' }), 'the pgoutput bridge goes on streaming')
  or diag(bridge_log($gb));
# a table renamed: pgoutput describes it again by itself; the publication
# watch compares its rows by oid, so no stop either
$node->safe_psql('postgres', q{ALTER TABLE new_s.jobs RENAME TO jobs2; INSERT INTO new_s.jobs2 VALUES (4, 'renamed')});
ok(wait_until(sub { redis($r, 'XLEN', 'pgo:new_s.jobs2') eq '1' && redis($r, 'XLEN', 'plug:new_s.jobs2') eq '1' }),
	'a renamed table: both modes name the row by its new name') or diag(bridge_log($gb));
sleep 1;
ok($gb->{h}->pumpable, 'and the pgoutput bridge goes on') or diag(bridge_log($gb));

ok(wait_until(sub { !$nb->{h}->pumpable }, 20), 'without the trigger: the bridge stops')
  or do { diag(bridge_log($nb)); $nb->{h}->kill_kill };
is($nb->{h}->finish || $nb->{h}->full_result(0) >> 8, 1, 'exit status 1');
like(bridge_log($nb), qr/ERROR: a schema of a table publication "w2q" publishes changed while streaming without the event trigger wal2queue_schema_rename \(SCHEMA old_s \(oid \d+\) was renamed or dropped\) at about LSN .*; hint: restart, with the event trigger wal2queue_schema_rename installed and enabled/,
	'naming the rename, the range and the fix') or diag(bridge_log($nb));
# the trigger dropped while streaming: a rename could go unseen, so stop
$node->safe_psql('postgres', q{DROP EVENT TRIGGER wal2queue_schema_rename});
ok(wait_until(sub { !$gb->{h}->pumpable }, 20), 'the event trigger dropped: the bridge stops')
  or do { diag(bridge_log($gb)); $gb->{h}->kill_kill };
is($gb->{h}->finish || $gb->{h}->full_result(0) >> 8, 1, 'exit status 1');
like(bridge_log($gb), qr/ERROR: the event trigger wal2queue_schema_rename changed while streaming \(EVENT TRIGGER wal2queue_schema_rename \(oid \d+, xmin \d+, enabled O\) was dropped or changed\)/,
	'naming it');
stop_bridge($pb);
stop_redis($r);
$node->stop;
done_testing();
