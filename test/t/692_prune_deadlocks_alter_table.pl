# What: prune() of a partitioned job table and an ALTER TABLE of that
# table (a migration's ADD COLUMN) deadlock when the ALTER waits for a
# reader of the table.  A report holds ACCESS SHARE on public.jobs (an
# open transaction that read it); ALTER TABLE public.jobs ADD COLUMN
# note text queues for the table's ACCESS EXCLUSIVE lock.  prune() starts:
# its first loop's pg_partition_tree() (find_all_inheritors(...,
# AccessShareLock)) locks every partition in ACCESS SHARE mode, granted
# (nobody waits on them), then its LOCK TABLE ONLY public.jobs IN ROW
# EXCLUSIVE MODE queues behind the ALTER.  The report ends: the ALTER
# gets the table's lock and goes on to lock the partitions (ACCESS
# EXCLUSIVE), which waits for prune()'s ACCESS SHARE locks: a cycle.
# The deadlock detector of prune()'s backend (waiting first) kills
# prune() with "deadlock detected"; had the report lasted over
# deadlock_timeout, the ALTER would have been killed instead.  DROP
# TABLE or DETACH PARTITION of a partition (the parent's lock first, then
# the partition's) makes the same cycle.
# Why: sql/src/30_prune.sql prune(): since the merge "Merge
# s11-fixprune2" it locks the partitioned table (ROW EXCLUSIVE) before
# its checks, in a loop whose query, SELECT job_table UNION ALL SELECT
# ... FROM pg_partition_tree(job_table), is evaluated (and locks each
# partition) before the first row's LOCK: partitions before their
# parent, the opposite of ALTER TABLE, DROP TABLE and DETACH. Before,
# prune() never locked the partitioned table.
# Expected: prune() and the ALTER both end without an ERROR (one waits
# for the other), e.g. the table's lock taken before the partitions are
# listed.
# Severity: medium -- operator-visible: a migration or a partition drop
# overlapping a scheduled prune() behind any reader fails one of them
# with a deadlock ERROR (a migration's ALTER rolled back).  Reliable with
# this timing (the report ends within deadlock_timeout of prune()'s wait).
# Fixed: prune() (sql/src/30_prune.sql) locks the job table (LOCK TABLE
# ONLY ... IN ROW EXCLUSIVE MODE) before pg_partition_tree() lists (and
# locks) its partitions, then each partition: the parent first, as ALTER
# TABLE, DROP TABLE and DETACH lock, so prune() queued behind the ALTER
# holds no partition lock the ALTER waits for.
# Control: W2Q_ATTACK_CONTROL=1 has no report: the ALTER takes its locks
# at once and commits, then prune() runs, without an ERROR.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('prune_deadlock692');
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs', true);
	CREATE TABLE jobs_old1 PARTITION OF jobs FOR VALUES FROM ('2020-01-01 00:00+00') TO ('2020-01-02 00:00+00');
	CREATE TABLE jobs_old2 PARTITION OF jobs FOR VALUES FROM ('2020-01-02 00:00+00') TO ('2020-01-03 00:00+00');
	INSERT INTO jobs (queue, payload, created_at) VALUES ('q', '{}', '2020-01-01 10:00+00'), ('q', '{}', '2020-01-02 10:00+00');
	SELECT wal2queue.create_slot('s692', 'public.jobs');});

my $report = $node->background_psql('postgres', on_error_stop => 1);
unless ($control)
{
	$report->query_safe(q{BEGIN});
	$report->query_safe(q{LOCK TABLE ONLY public.jobs IN ACCESS SHARE MODE});
}
my $alter = $node->background_psql('postgres', on_error_stop => 0);
$alter->query_until(qr/altering/, "\\echo altering\nALTER TABLE public.jobs ADD COLUMN note text;\n\\echo altered\n");
my $aout = '';
if ($control)
{
	$aout = $alter->query_until(qr/altered/, '');
}
else
{
	ok(wait_until(sub {
		$node->safe_psql('postgres', q{SELECT count(*) FROM pg_locks
			WHERE NOT granted AND relation = 'public.jobs'::regclass AND mode = 'AccessExclusiveLock'}) ne '0' }),
		'the ALTER waits for the report');
}
my $p = $node->background_psql('postgres', on_error_stop => 0);
$p->query_until(qr/pruning/, "\\echo pruning\nSELECT wal2queue.prune('public.jobs', force => true) AS pruned;\n\\echo pruned\n");
unless ($control)
{
	ok(wait_until(sub {
		$node->safe_psql('postgres', q{SELECT count(*) FROM pg_locks
			WHERE NOT granted AND relation = 'public.jobs'::regclass AND mode = 'RowExclusiveLock'}) ne '0' }),
		"prune() waits for the table's lock behind the ALTER");
	$report->query_safe(q{COMMIT});
	$aout = $alter->query_until(qr/altered/, '');
}
my $pout = $p->query_until(qr/pruned/, '');
my $perr = $p->{stderr} // '';
my $aerr = $alter->{stderr} // '';
$p->quit;
$alter->quit;
$report->quit;
note("prune: $pout $perr");
note("alter: $aout $aerr");
unlike($perr, qr/ERROR/, 'prune() ended without an ERROR');
unlike($aerr, qr/ERROR/, 'the ALTER ended without an ERROR');

$node->stop;
done_testing();
