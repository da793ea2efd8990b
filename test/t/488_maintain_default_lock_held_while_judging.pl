# What: a partitioned job table with a DEFAULT partition, a day to create
# and old partitions to judge.  create_partitions() takes the DEFAULT
# partition's ACCESS EXCLUSIVE lock ("waiting at most a second") and
# ATTACH keeps it until maintain_partitions()'s transaction ends -- through
# the whole judging of the old partitions that follows: each old
# partition's SHARE ROW EXCLUSIVE lock waited for up to a second
# (try_lock), partition_pending()'s scan of every row of a delivered
# partition (a plpgsql call per row), lock_briefly()'s second.  Every
# reader of the job table (SELECT ... FROM jobs plans every partition, the
# DEFAULT one too: consumers, reports, prune()) and every INSERT routed to
# the DEFAULT partition waits all that time.  Here three old partitions are
# being written to (an open transaction holds ROW EXCLUSIVE on each: a
# late backdated insert, a bulk load), so the judging takes three seconds,
# and a reader of jobs started after the days were created, with
# statement_timeout = 2s, is cancelled.
# Why: sql/src/40_job_tables.sql maintain_partitions(): 'FOR part IN
# SELECT * FROM wal2queue.create_partitions(...)' (ATTACH: the DEFAULT
# partition's ACCESS EXCLUSIVE lock, held to the end of the transaction)
# comes before the loop over the old partitions with its waits and scans,
# in the same transaction; create_partitions()'s comment says the DEFAULT
# partition's readers and writers wait "for at most a second".
# Expected: a reader of jobs waits at most about a second while
# maintain_partitions() runs (e.g. judge and drop the old partitions
# first, or create the days in a transaction of their own); the reader's
# SELECT completes within its 2 s.
# W2Q_ATTACK_CONTROL=1 creates no DEFAULT partition: passes.
# Severity: medium (every reader of the job table stalls for the length of
# the judging, seconds to minutes on large delivered partitions, daily).
# Fixed: maintain_partitions() judges and drops the old partitions first
# and creates the days last, so the DEFAULT partition's lock is taken just
# before the function returns.
use strict;
use warnings;
use IPC::Run;
use Time::HiRes qw(time sleep);
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('maintain_defhold');
my $r = start_redis();
partitioned_jobs_old($node, 2020);
$node->safe_psql('postgres', q{
	CREATE TABLE jobs_old2 PARTITION OF jobs FOR VALUES FROM ('2020-02-01 00:00+00') TO ('2020-02-02 00:00+00');
	CREATE TABLE jobs_old3 PARTITION OF jobs FOR VALUES FROM ('2020-03-01 00:00+00') TO ('2020-03-02 00:00+00');
});
$node->safe_psql('postgres', 'CREATE TABLE jobs_default PARTITION OF jobs DEFAULT')
	unless $ENV{W2Q_ATTACK_CONTROL};
my $b = start_jobs_bridge($node, $r);
$node->safe_psql('postgres',
	q{INSERT INTO jobs (queue, payload, created_at) VALUES ('early', '{}', '2020-01-01 10:00+00')});
delivered_once($r, $b, ['early'], 'the early row delivered');
attest_rounds($node, 3);

# writers of the three old partitions, in one open transaction
my ($wout, $werr) = ('', '');
my $w = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres') . ' application_name=writer',
	'-c', 'BEGIN; LOCK TABLE jobs_old, jobs_old2, jobs_old3 IN ROW EXCLUSIVE MODE; SELECT pg_sleep(60)' ],
	'>', \$wout, '2>', \$werr);
ok(wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a
	ON a.pid = l.pid WHERE a.application_name = 'writer' AND l.mode = 'RowExclusiveLock'}) eq '3' }, 20),
	'the three old partitions are being written to');

my ($mout, $merr) = ('', '');
my $t0 = time;
my $m = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres'), '-c',
	q{SELECT * FROM wal2queue.maintain_partitions('public.jobs', 6, 7)} ], '>', \$mout, '2>', \$merr);
# the days are created first (well under a second); then the judging
sleep 0.5;
my ($rc, $out, $err) = $node->psql('postgres',
	q{SET statement_timeout = '2s'; SELECT count(*) FROM jobs WHERE created_at > now() - interval '1 hour'});
is($rc, 0, 'a reader of jobs is not held up for the length of the judging') or diag($err);
$m->finish;
diag(sprintf("maintain_partitions took %.1fs:\n%s\n%s", time - $t0, $mout, $merr));
like($mout, qr/^created\|/m, 'the days were created');
$w->kill_kill;
$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE application_name = 'writer'});
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
