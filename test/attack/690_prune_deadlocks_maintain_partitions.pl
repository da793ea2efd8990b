# What: prune() and maintain_partitions() of the same partitioned job
# table deadlock, and prune() fails.  public.jobs has two old days,
# jobs_old1 and jobs_old2; a VACUUM of jobs_old2 is running (here: a
# transaction holding its SHARE UPDATE EXCLUSIVE lock, the lock VACUUM
# takes).  maintain_partitions('public.jobs', 0, 0, true) takes the
# table's SHARE UPDATE EXCLUSIVE lock, jobs_old1's SHARE ROW EXCLUSIVE
# lock (granted, checked), then waits up to a second for jobs_old2's.
# prune('public.jobs') starts meanwhile: its new up-front locks take
# ROW EXCLUSIVE on public.jobs (granted: no conflict with SHARE UPDATE
# EXCLUSIVE), then on jobs_old1, where it waits for maintain.  maintain
# gives jobs_old2 up ("busy, kept") and takes the table's ACCESS
# EXCLUSIVE lock to drop jobs_old1 (lock_briefly()), which waits for
# prune's ROW EXCLUSIVE on public.jobs: a cycle.  The deadlock detector
# of prune's backend (it has waited longest) breaks it: prune() fails
# with "deadlock detected" and its transaction is rolled back.
# Why: sql/src/30_prune.sql prune(): since the merge "Merge
# s11-fixprune2" it locks the partitioned table, then every partition
# (pg_partition_tree() order), before its checks (test/t/670); before,
# it locked only the leaves it deleted from and never the partitioned
# table.  sql/src/40_job_tables.sql maintain_partitions() locks the old
# partitions (SHARE ROW EXCLUSIVE) and only then the table (ACCESS
# EXCLUSIVE, for DROP TABLE): the opposite order.  Any wait of
# maintain between its first partition lock and lock_briefly() (a busy
# later old partition: 1 s; partition_pending()'s scan of a large day)
# during which prune() starts makes the cycle; prune()'s detector,
# waiting first, fires first (deadlock_timeout 1 s vs maintain's
# lock_timeout 1 s started later).
# Expected: prune() and maintain_partitions() run side by side without
# an ERROR (one waits for the other, or maintain gives the drop up with
# its "busy" WARNING): prune() returns a count.
# Severity: low to medium -- operator-visible: a scheduled prune()
# (or the maintenance) fails with a deadlock ERROR when it overlaps
# maintain_partitions() while an old day is vacuumed or read; it is
# rolled back and retried at the next run.  Reliable with this timing.
# Control: W2Q_ATTACK_CONTROL=1 runs prune() only after
# maintain_partitions() returned (the vacuum still running): prune()
# returns a count without an ERROR.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('prune_deadlock690');
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs', true);
	CREATE TABLE jobs_old1 PARTITION OF jobs FOR VALUES FROM ('2020-01-01 00:00+00') TO ('2020-01-02 00:00+00');
	CREATE TABLE jobs_old2 PARTITION OF jobs FOR VALUES FROM ('2020-01-02 00:00+00') TO ('2020-01-03 00:00+00');
	INSERT INTO jobs (queue, payload, created_at) VALUES ('q', '{}', '2020-01-01 10:00+00'), ('q', '{}', '2020-01-02 10:00+00');
	SELECT wal2queue.create_slot('s690', 'public.jobs');});

my $vac = $node->background_psql('postgres', on_error_stop => 1);
$vac->query_safe(q{BEGIN});
$vac->query_safe(q{LOCK TABLE jobs_old2 IN SHARE UPDATE EXCLUSIVE MODE});

my $m = $node->background_psql('postgres', on_error_stop => 0);
$m->query_until(qr/maintaining/, "\\echo maintaining\nSELECT * FROM wal2queue.maintain_partitions('public.jobs', 0, 0, true);\n\\echo maintained\n");
my $mout = '';
if ($control)
{
	$mout = $m->query_until(qr/maintained/, '');
}
else
{
	ok(wait_until(sub {
		$node->safe_psql('postgres', q{SELECT count(*) FROM pg_locks
			WHERE NOT granted AND relation = 'jobs_old2'::regclass AND mode = 'ShareRowExclusiveLock'}) ne '0' }),
		'maintain_partitions() holds jobs_old1 and waits for the vacuumed jobs_old2');
}
my $p = $node->background_psql('postgres', on_error_stop => 0);
$p->query_until(qr/pruning/, "\\echo pruning\nSELECT wal2queue.prune('public.jobs', force => true) AS pruned;\n\\echo pruned\n");
my $pout = $p->query_until(qr/pruned/, '');
my $perr = $p->{stderr} // '';
$mout = $m->query_until(qr/maintained/, '') unless $control;
my $merr = $m->{stderr} // '';
$p->quit;
$m->quit;
$vac->quit;
note("prune: $pout $perr");
note("maintain_partitions: $mout $merr");
unlike($perr, qr/ERROR/, 'prune() ran beside maintain_partitions() without an ERROR');
like($pout, qr/^\d+$/m, 'prune() returned a count');

$node->stop;
done_testing();
