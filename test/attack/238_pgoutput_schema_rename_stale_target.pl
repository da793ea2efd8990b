# ATTACK (fails on main): "the same targets (schema.table ...)" in both modes
# (docs/managed.md).  After ALTER SCHEMA ... RENAME while streaming, the
# plugin names the table by its new schema (plugin/relinfo.c drops its
# entries on a pg_namespace invalidation), but pgoutput keeps its relation
# cache (no relcache invalidation for a schema rename) and never sends a
# new Relation message, so the bridge (bridge/pgoutput.c decode_relation
# is its only source of names) keeps the old schema.table as target -- and
# as the name --tables is matched against -- until it reconnects: jobs go to
# another stream than in the plugin mode (and a renamed-away table keeps
# being selected).
# Expected: the pgoutput mode writes the row to new_s.jobs as the plugin
# does (e.g. the bridge re-reads names from the catalog by relid when a
# transaction with catalog changes is decoded, or reconnects).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('pgoschema');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE ROLE bridge LOGIN REPLICATION;
	CREATE SCHEMA old_s;
	CREATE TABLE old_s.jobs (id int PRIMARY KEY, v text);
	CREATE PUBLICATION w2q FOR TABLE old_s.jobs WITH (publish = 'insert', publish_via_partition_root = true);
	SELECT pg_create_logical_replication_slot('plug', 'wal2queue');
	SELECT pg_create_logical_replication_slot('pgo', 'pgoutput');
});
my @common = ('--status-interval', '1', '--accept-new-source', '--tables', 'old_s.jobs,new_s.jobs');
my $pb = start_bridge($node, $r, @common, '--slot', 'plug', '--target-prefix', 'plug:');
my $gb = start_bridge($node, $r, @common, '-d', $node->connstr('postgres') . ' user=bridge',
	'--slot', 'pgo', '--target-prefix', 'pgo:', '--plugin', 'pgoutput', '--publication', 'w2q');
$node->safe_psql('postgres', q{INSERT INTO old_s.jobs VALUES (1, 'before')});
ok(wait_until(sub { redis($r, 'XLEN', 'plug:old_s.jobs') eq '1' && redis($r, 'XLEN', 'pgo:old_s.jobs') eq '1' }),
	'both modes deliver to old_s.jobs') or diag(bridge_log($gb));
$node->safe_psql('postgres', q{ALTER SCHEMA old_s RENAME TO new_s});
$node->safe_psql('postgres', q{INSERT INTO new_s.jobs VALUES (2, 'after')});
ok(wait_until(sub { redis($r, 'XLEN', 'plug:new_s.jobs') eq '1' }), 'plugin mode: the row goes to new_s.jobs');
wait_until(sub { redis($r, 'EXISTS', 'pgo:new_s.jobs') eq '1' || redis($r, 'XLEN', 'pgo:old_s.jobs') eq '2' }, 20);
is(redis($r, 'XLEN', 'pgo:new_s.jobs'), '1', 'pgoutput mode: the row goes to new_s.jobs as in the plugin mode')
  or diag('pgoutput mode wrote it to old_s.jobs: ' . redis($r, 'XLEN', 'pgo:old_s.jobs') . ' entries there');
stop_bridge($pb);
stop_bridge($gb);
stop_redis($r);
$node->stop;
done_testing();
