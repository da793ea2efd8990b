# prune() of a job table deletes the rows of its INHERITANCE children (not
# partitions), which the plugin reports under the child's own name
# (plugin/relinfo.c: only a partition is reported as its root) and a slot
# with --tables public.jobs never delivers.  job_leaves()
# (sql/src/30_prune.sql) walks pg_inherits whatever the kind of child, while
# slot_selects() matches the name of pg_partition_root(), which is the
# table itself for an inheritance parent.  prune() first refuses the child
# ("has no trigger wal2queue_append_only"); the operator guards it with
# append_only() as told, and its rows are then taken for delivered.
# Expected: the 10 rows of public.jobs_old stay.
#
# Fixed: job_leaves() follows partitions only (relispartition): prune() of
# public.jobs no longer asks for a guard on the child nor touches its rows;
# prune('public.jobs_old') judges them under the child's own name, which no
# slot selects (it refuses).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('inherit');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs');
	SELECT wal2queue.create_slot('s', 'public.jobs');
	CREATE TABLE jobs_old () INHERITS (jobs);
});
my ($ret, $out, $err) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs')});
is($ret, 0, 'prune of public.jobs does not ask for a guard on its inheritance child') or diag($err);
$node->safe_psql('postgres', q{SELECT wal2queue.append_only('public.jobs_old')});

my $b = start_bridge($node, $r, '--slot', 's', '--tables', 'public.jobs',
	'--status-interval', '1', '--accept-new-source');
$node->safe_psql('postgres', q{
	INSERT INTO jobs_old (queue, payload) SELECT 'q', jsonb_build_object('n', g) FROM generate_series(1, 10) g;
	INSERT INTO jobs (queue, payload) VALUES ('q', '{"new": true}');
});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }), 'the slot delivers the job of public.jobs')
  or diag(bridge_log($b));
ok(wait_attested($node, 's'), 'the bridge attested its slot');
sleep 2;
is(redis($r, 'XLEN', 'public.jobs'), '1', 'and none of public.jobs_old (its own name is not selected)');
my $deleted = prune_until($node, 11);
note("prune deleted $deleted rows");
is($node->safe_psql('postgres', q{SELECT count(*) FROM ONLY jobs_old}), '10',
	'prune keeps the 10 jobs of the child no slot delivered');
($ret, $out, $err) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs_old')});
like($err, qr/no registered replication slot selects table public\.jobs_old/,
	'prune of the child judges it under its own name, which no slot selects');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
