# Attack review 12, fixed: one row whose text
# form cannot be built makes maintain_partitions() fail at every run, and
# with it the creation of the coming days' partitions: once they run out,
# every INSERT into the job table fails ("no partition of relation ...
# found for row").
# Why: maintain_partitions() (sql/src/40_job_tables.sql) creates the new
# partitions and judges the old ones in one transaction;
# partition_pending() measures each delivered row with small_enough()
# (ROW(t.*)::text) in a plain EXECUTE, without the fallback
# delete_delivered() has for prune() ("a row whose text cannot be built is
# kept", 374).  A jsonb payload of the conventional job table
# (create_job_table) holding 8200 numbers 1e131071 is 30kB stored and over
# 1GB as text: the plugin proves it long and delivers a claim check, prune()
# keeps it, but maintain_partitions() raises "Cannot enlarge string buffer"
# (or out of memory) and rolls back the partitions it had just created.
# Fixed: partition_pending() (40_job_tables.sql) catches out_of_memory,
# program_limit_exceeded and internal_error of its measuring query, as
# delete_delivered() does, raises a NOTICE naming the leaf and counts the
# partition as pending: it is 'kept' and the new partitions are created.
# Checks: the old partition holding that row is 'kept', and the new
# partitions are created.  W2Q_ATTACK_CONTROL=1 uses a short number: then
# maintain_partitions() runs (and drops the delivered old partition).
# Severity: high (the application's INSERTs fail once the created days run
# out; no undelivered row is lost), needs one such value in an old partition
# (any role that may insert a job).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('maintain_huge');
my $r = start_redis();
my $num = $ENV{W2Q_ATTACK_CONTROL} ? '1' : '1e131071';
partitioned_jobs_old($node, 2020);
my $b = start_jobs_bridge($node, $r);
$node->safe_psql('postgres', qq{
	INSERT INTO jobs (queue, payload, created_at)
	SELECT 'huge', ('[' || string_agg('$num', ',') || ']')::jsonb, '2020-01-01 10:00+00'
	  FROM generate_series(1, 8200);
	INSERT INTO jobs (queue, payload) VALUES ('small', '{}');
});
delivered_once($r, $b, [qw(huge small)], 'both delivered', 60);
is(stream_entries($r, 'huge')->[0][1]{wal2queue_claim_check}, $ENV{W2Q_ATTACK_CONTROL} ? undef : 't',
	'the huge row is a claim check');
attest_rounds($node, 4);
my ($rc, $out, $err) = $node->psql('postgres',
	"SELECT string_agg(action || ' ' || partition_name, ', ' ORDER BY partition_name) "
	. "FROM wal2queue.maintain_partitions('public.jobs', 5, 0)");
diag("maintain_partitions: $out");
unlike($err, qr/ERROR/, 'maintain_partitions() runs (no error)');
like($err, qr/NOTICE:  wal2queue\.maintain_partitions: could not measure a row of table public.jobs_old/,
	'a NOTICE names the table whose row could not be measured')
  unless $ENV{W2Q_ATTACK_CONTROL};
my $day5 = $node->safe_psql('postgres',
	"SELECT 'jobs_p' || to_char(now() AT TIME ZONE 'UTC' + interval '5 days', 'YYYYMMDD')");
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname = '$day5'"), '1',
	"the partition of the fifth day ahead ($day5) is created");
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname = 'jobs_old'"),
	$ENV{W2Q_ATTACK_CONTROL} ? '0' : '1',
	'the old partition holding the claim-checked row is kept (dropped in the control)');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
