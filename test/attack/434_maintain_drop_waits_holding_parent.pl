# What: 414's fix takes the job table's own ACCESS EXCLUSIVE lock waiting at
# most a second (lock_briefly()) and then goes on without any lock_timeout:
# an old partition that every slot delivered is dropped with DROP TABLE,
# which needs that partition's ACCESS EXCLUSIVE lock and waits for anyone
# holding it -- a query or open transaction reading the old partition
# directly (a report, pg_dump --table of that day, a DBA's VACUUM FREEZE or
# an anti-wraparound autovacuum, which is not cancelled) -- while holding the
# parent's ACCESS EXCLUSIVE lock.  Every INSERT into the job table waits
# behind it until that reader ends: 414's outcome, one partition down.
# Here a session reads jobs_old (2020, all delivered) and stays 40 s in its
# transaction; maintain_partitions(jobs, 3, 0) runs; an INSERT into jobs
# with statement_timeout 5 s is cancelled.
# Why: sql/src/40_job_tables.sql maintain_partitions(): lock_briefly() on the
# table only; then 'EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE
# MODE', part)' and 'EXECUTE format('DROP TABLE %s', part_name)' wait
# without a bound with the parent's ACCESS EXCLUSIVE lock held (lock_timeout
# '1s' is SET on lock_briefly() only).
# Expected: a producer's INSERT goes through while maintain_partitions()
# runs: a partition whose lock cannot be had at once is kept (a WARNING, as
# lock_briefly() does for the table), or the whole call runs under
# lock_timeout.
# W2Q_ATTACK_CONTROL=1 runs no reader of jobs_old: passes.
# Severity: medium (every producer blocked for as long as a reader of an old
# partition runs, by the maintenance job the docs recommend; no loss).
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('maintain_leafwait');
my $r = start_redis();
partitioned_jobs_old($node, 2020);
my $b = start_jobs_bridge($node, $r);
$node->safe_psql('postgres',
	q{INSERT INTO jobs (queue, payload, created_at) VALUES ('early', '{}', '2020-01-01 10:00+00')});
delivered_once($r, $b, ['early'], 'the early row delivered');
attest_rounds($node, 3);

my ($rout, $rerr, $mout, $merr) = ('', '', '', '');
my $reader;
unless ($ENV{W2Q_ATTACK_CONTROL})
{
	$reader = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres'), '-c',
		'SELECT count(*) FROM jobs_old; SELECT pg_sleep(40)' ], '>', \$rout, '2>', \$rerr);
	ok(wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM pg_locks l
		JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'jobs_old' AND l.mode = 'AccessShareLock'}) ne '0' }, 20),
		'a reader holds jobs_old');
}
my $m = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres'), '-c',
	q{SELECT * FROM wal2queue.maintain_partitions('public.jobs', 3, 0)} ], '>', \$mout, '2>', \$merr);
sleep 3;
diag('waiting: ' . $node->safe_psql('postgres', q{
	SELECT string_agg(left(query, 60), ' | ') FROM pg_stat_activity WHERE wait_event_type = 'Lock'}));
my ($rc, $out, $err) = $node->psql('postgres',
	q{SET statement_timeout = '5s'; INSERT INTO jobs (queue, payload) VALUES ('q', '{"late": true}')});
is($rc, 0, 'a producer can enqueue a job while maintain_partitions() runs') or diag($err);
$m->finish;
diag("maintain_partitions: $mout $merr");
$reader->kill_kill if $reader;
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
