# Attack review 9: maintain_partitions() drops a partition holding a
# claim-checked row.  prune() keeps, without force, every row whose text
# form is at least claim_check_floor() (sql/src/30_prune.sql point 7; test
# 253), because a claim check's content exists only in the table.
# maintain_partitions() (sql/src/40_job_tables.sql) judges an old partition
# by xmin against prune_horizon() and the guard floor only: it never looks at
# claim_check_floor(), and DROPs the partition with the row its worker has
# still to read.  docs/extension.md says it uses "the rule of prune()".
# Expected: the partition is kept (without force).
# Fixed: maintain_partitions() keeps a partition holding a row at or over
# claim_check_floor(), as prune() keeps the row.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('maint_cc');
my $r = start_redis();
partitioned_jobs_old($node, 2000);
my $b = start_jobs_bridge($node, $r, '--max-job-bytes', '1kB');

$node->safe_psql('postgres', q{
	INSERT INTO jobs (queue, payload, created_at)
	VALUES ('big', jsonb_build_object('blob', repeat('x', 5000)), '2000-01-01 12:00+00')});
ok(wait_until(sub { redis($r, 'XLEN', 'big') eq '1' }, 30), 'delivered') or diag(bridge_log($b));
my $e = stream_entries($r, 'big')->[0][1];
is($e->{wal2queue_claim_check}, 't', 'it is a claim check: its content is only in the table')
	or diag(explain $e);
ok(wait_attested($node, 'jobs', 30), 'the bridge attests its slot');
for my $i (1 .. 3)
{
	$node->safe_psql('postgres', 'CHECKPOINT');
	sleep 1;
}
my $kept = $node->safe_psql('postgres', q{SELECT wal2queue.prune('public.jobs')});
is($node->safe_psql('postgres', 'SELECT count(*) FROM jobs_old'), '1',
	'prune() keeps the claim-checked row (the control)');
my $acted = $node->safe_psql('postgres',
	q{SELECT string_agg(action || ' ' || partition_name, ', ') FROM wal2queue.maintain_partitions('public.jobs') WHERE partition_name LIKE '%old%'});
diag("maintain_partitions: $acted");
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relname = 'jobs_old'}), '1',
	'maintain_partitions() keeps the partition with the row behind the claim check');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
