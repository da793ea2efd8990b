# ATTACK (fails on main): a registered slot dropped and re-created by hand
# under the same name (pg_drop_replication_slot + pg_create_logical_replication_slot,
# "a lost slot re-created", docs/operations.md) keeps its old registry row,
# with the OLD delivers_from.  The new slot never decodes the rows inserted
# while it was gone, yet once its catalog_xmin passes them prune() deletes
# them: undelivered jobs lost.  Expected: prune refuses (the registry row does
# not describe the slot that exists now) until register_slot()/force.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('handrecreate');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE pj (id int PRIMARY KEY, p text);
	SELECT wal2queue.create_slot('p1', 'public.pj');
});
$node->safe_psql('postgres', q{
	INSERT INTO pj SELECT g, 'undelivered' FROM generate_series(1, 100) g;
	SELECT pg_drop_replication_slot('p1');
	SELECT pg_create_logical_replication_slot('p1', 'wal2queue');
});
# the new slot streams (it starts after the 100 rows: they are never delivered)
my $b = start_bridge($node, $r, '--slot', 'p1', '--tables', 'public.pj',
	'--status-interval', '1', '--accept-new-source');
my $deleted = 0;
for my $i (1 .. 8)
{
	$node->safe_psql('postgres', 'CREATE TEMP TABLE x(); CHECKPOINT');
	sleep 1;
	$deleted += $node->safe_psql('postgres', "SELECT wal2queue.prune('public.pj')");
}
is(redis($r, 'XLEN', 'public.pj'), '0', 'the re-created slot delivered none of the 100 rows');
is($deleted, 0, 'prune deletes none of the undelivered rows');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pj'), '100', 'all 100 rows still there');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
