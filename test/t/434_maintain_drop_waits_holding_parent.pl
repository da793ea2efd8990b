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
# Fixed: maintain_partitions() judges an old partition under its own SHARE
# ROW EXCLUSIVE lock waiting at most a second (try_lock()), with no lock on
# the table that an INSERT waits behind; then it takes the table's ACCESS
# EXCLUSIVE lock waiting at most a second (lock_briefly()) and only tries
# (NOWAIT) the locks of the DEFAULT partition and of each partition to
# drop: a partition it cannot lock at once is kept with a WARNING, and a
# later run drops it.  Also checked here: a VACUUM-like holder of jobs_old
# (SHARE UPDATE EXCLUSIVE: the check's lock) and a reader of the DEFAULT
# partition (which DROP TABLE of a partition locks too) make it keep
# jobs_old with a WARNING while an INSERT goes through; once they are gone
# the next run drops jobs_old.
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

# a session (application_name $name) running $sql and then sleeping in its
# transaction, once it holds lock $mode on $rel
sub hold
{
	my ($name, $sql, $rel, $mode) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres') . " application_name=$name",
		'-c', "$sql; SELECT pg_sleep(60)" ], '>', \$out, '2>', \$err);
	ok(wait_until(sub { $node->safe_psql('postgres', qq{SELECT count(*) FROM pg_locks l
		JOIN pg_class c ON c.oid = l.relation WHERE c.relname = '$rel' AND l.mode = '$mode' AND l.granted}) ne '0' }, 20),
		"$name holds $mode on $rel");
	return $h;
}

sub release
{
	my ($name, $h) = @_;
	$node->safe_psql('postgres', qq{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = '$name'});
	$h->kill_kill;
	wait_until(sub { $node->safe_psql('postgres', qq{SELECT count(*) FROM pg_stat_activity
		WHERE application_name = '$name'}) eq '0' }, 20);
}

# maintain_partitions(jobs, 3, 0) in the background while a producer
# enqueues a job (statement_timeout 5 s); returns its output and messages
sub maintain_while_inserting
{
	my ($what) = @_;
	my ($mout, $merr) = ('', '');
	my $m = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres'), '-c',
		q{SELECT * FROM wal2queue.maintain_partitions('public.jobs', 3, 0)} ], '>', \$mout, '2>', \$merr);
	sleep 3;
	diag('waiting: ' . $node->safe_psql('postgres', q{
		SELECT string_agg(left(query, 60), ' | ') FROM pg_stat_activity WHERE wait_event_type = 'Lock'}));
	my ($rc, $out, $err) = $node->psql('postgres',
		q{SET statement_timeout = '5s'; INSERT INTO jobs (queue, payload) VALUES ('q', '{"late": true}')});
	is($rc, 0, "a producer can enqueue a job while maintain_partitions() runs ($what)") or diag($err);
	$m->finish;
	diag("maintain_partitions: $mout $merr");
	return ($mout, $merr);
}

my ($reader, $mout, $merr);
$reader = hold('reader', 'SELECT count(*) FROM jobs_old', 'jobs_old', 'AccessShareLock')
	unless $ENV{W2Q_ATTACK_CONTROL};
($mout, $merr) = maintain_while_inserting('a reader of jobs_old');
unless ($ENV{W2Q_ATTACK_CONTROL})
{
	like($mout, qr/^kept\|public\.jobs_old$/m, 'jobs_old is kept while it is read');
	like($merr, qr/WARNING:  wal2queue\.maintain_partitions: partition public\.jobs_old of table public\.jobs is busy/,
		'a WARNING names the busy partition');
	release('reader', $reader);

	# the lock the check takes: a VACUUM of jobs_old holds SHARE UPDATE EXCLUSIVE
	my $vac = hold('vacuum', 'BEGIN; LOCK TABLE jobs_old IN SHARE UPDATE EXCLUSIVE MODE', 'jobs_old',
		'ShareUpdateExclusiveLock');
	($mout, $merr) = maintain_while_inserting('jobs_old vacuumed');
	like($mout, qr/^kept\|public\.jobs_old$/m, 'jobs_old is kept while it is vacuumed');
	like($merr, qr/partition public\.jobs_old of table public\.jobs is busy/, 'a WARNING names it');
	release('vacuum', $vac);

	# DROP TABLE of a partition locks the DEFAULT partition too
	$node->safe_psql('postgres', 'CREATE TABLE jobs_default PARTITION OF jobs DEFAULT');
	my $dreader = hold('dreader', 'SELECT count(*) FROM jobs_default', 'jobs_default', 'AccessShareLock');
	($mout, $merr) = maintain_while_inserting('a reader of the DEFAULT partition');
	like($mout, qr/^kept\|public\.jobs_old$/m, 'jobs_old is kept while the DEFAULT partition is read');
	like($merr, qr/the DEFAULT partition public\.jobs_default of table public\.jobs is busy/,
		'a WARNING names the busy DEFAULT partition');
	release('dreader', $dreader);
}
attest_rounds($node, 2);
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT action FROM wal2queue.maintain_partitions('public.jobs', 3, 0)
	WHERE partition_name = 'public.jobs_old'});
is($out, $ENV{W2Q_ATTACK_CONTROL} ? '' : 'dropped', 'once nobody holds it, a run drops jobs_old') or diag($err);
is($node->safe_psql('postgres', q{SELECT to_regclass('public.jobs_old') IS NULL}), 't', 'jobs_old is gone');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
