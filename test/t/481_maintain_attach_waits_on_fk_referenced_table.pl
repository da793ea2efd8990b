# What: a partitioned job table with a foreign key (jobs.tenant REFERENCES
# tenants) -- a common shape.  ATTACH PARTITION clones the foreign key
# onto the new day, which takes SHARE ROW EXCLUSIVE on the referenced table
# (tenants).  create_partitions() bounds only the job table's and the
# DEFAULT partition's locks (try_lock, 1 s); the ATTACH itself waits on
# tenants without any lock_timeout.  An application transaction that wrote
# to tenants and is still open (an UPDATE in a long request, a session idle
# in transaction) makes maintain_partitions() wait for as long as it lasts,
# and while it waits in the lock queue, EVERY later writer of tenants
# (INSERT/UPDATE/DELETE: ROW EXCLUSIVE conflicts with the queued SHARE ROW
# EXCLUSIVE) waits behind it: the nightly maintenance stalls writes to
# another table of the application.  The 434/437 fix's promise ("each lock
# waited for at most 1 s, a WARNING otherwise", "no INSERT waits behind")
# holds for the job table, not for the tables its foreign keys reference.
# The same for a table whose foreign key references the job table (a
# job_results (job_id, job_at) REFERENCES jobs (id, created_at), written by
# the workers): ATTACH takes its SHARE ROW EXCLUSIVE lock too (checked by
# hand: pg_locks of a create_partitions() in an open transaction).
# Why: sql/src/40_job_tables.sql create_partitions(): 'EXECUTE
# format(''ALTER TABLE %s ATTACH PARTITION %s ...'')' runs with the
# session's lock_timeout (0: forever); only try_lock() sets lock_timeout =
# 1s, and it is asked for the job table and its DEFAULT partition only.
# Expected: maintain_partitions() returns within a few seconds (the day
# left for the next run with a WARNING naming the busy referenced table,
# e.g. try_lock(tenants, 'SHARE ROW EXCLUSIVE') for each foreign key's
# referenced table, or lock_timeout around the ATTACH), and an INSERT into
# tenants meanwhile completes.
# W2Q_ATTACK_CONTROL=1 holds no open write on tenants: passes.
# Severity: medium (an availability stall of another table's writers,
# as long as any write transaction on the referenced table stays open;
# needs only an ordinary application pattern and the nightly cron).
# Fixed: create_partitions() attaches each day under lock_timeout = 1s
# (10ms when the transaction holds the table's ACCESS EXCLUSIVE lock from a
# DROP), in a subtransaction: a lock not had leaves that day and the later
# ones, table and all, to the next run with a WARNING naming the tables of
# the foreign keys (referenced and referencing); checked below for both.
use strict;
use warnings;
use IPC::Run;
use Time::HiRes qw(time);
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('maintain_fk');
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE tenants (id int PRIMARY KEY);
	INSERT INTO tenants VALUES (1);
	SELECT wal2queue.create_job_table('public.jobs', true);
	ALTER TABLE jobs ADD COLUMN tenant int REFERENCES tenants (id);
});
my ($wout, $werr) = ('', '');
my $writer;
unless ($ENV{W2Q_ATTACK_CONTROL})
{
	# an application request that updated a tenant and has not committed yet
	$writer = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres'), '-c',
		'BEGIN; UPDATE tenants SET id = id WHERE id = 1; SELECT pg_sleep(60); COMMIT' ],
		'>', \$wout, '2>', \$werr);
	ok(wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM pg_locks l
		JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'tenants' AND l.mode = 'RowExclusiveLock'}) ne '0' }, 20),
		'an open transaction wrote to tenants');
}
my ($mout, $merr) = ('', '');
my $t0 = time;
my $m = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres'), '-c',
	q{SET statement_timeout = '20s'; SELECT * FROM wal2queue.maintain_partitions('public.jobs', 6, 30)} ],
	'>', \$mout, '2>', \$merr);
sleep 3;
my ($rc, $out, $err) = $node->psql('postgres',
	q{SET statement_timeout = '5s'; INSERT INTO tenants VALUES (2)});
is($rc, 0, 'another writer of tenants is not stalled behind maintain_partitions()') or diag($err);
$m->finish;
my $took = time - $t0;
diag("maintain_partitions took ${took}s: $mout $merr");
ok($took < 10, 'maintain_partitions() waits for the referenced table at most briefly');
unlike($merr, qr/statement timeout/, 'maintain_partitions() was not stuck until its statement_timeout');
$writer->kill_kill if $writer;
$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()});
unless ($ENV{W2Q_ATTACK_CONTROL})
{
	like($merr, qr/could not attach the partition of public\.jobs for .*\n.*public\.tenants/,
		'a WARNING names the day left and the tables of the foreign keys');
	is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relname ~ '^jobs_p' AND relkind = 'r' AND NOT relispartition}), '0',
		'no table of the day left behind unattached');
	ok(wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM pg_locks l
		JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'tenants' AND l.mode = 'RowExclusiveLock'}) eq '0' }, 20),
		'the writer of tenants is gone');
	like($node->safe_psql('postgres', q{SELECT * FROM wal2queue.maintain_partitions('public.jobs', 6, 30)}),
		qr/^created\|public\.jobs_p\d{8}$/m, 'a later run creates the days');
}

# Fixed: the same for a table whose foreign key references the job table
# (ATTACH takes its SHARE ROW EXCLUSIVE lock too)
$node->safe_psql('postgres', q{
	CREATE TABLE job_results (job_id bigint, job_at timestamptz,
	  FOREIGN KEY (job_id, job_at) REFERENCES jobs (id, created_at));
	SELECT * FROM wal2queue.maintain_partitions('public.jobs', 6, 30);
});
my $before = $node->safe_psql('postgres', q{SELECT count(*) FROM wal2queue.partitions('public.jobs')});
$writer = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres'), '-c',
	'BEGIN; LOCK TABLE job_results IN ROW EXCLUSIVE MODE; SELECT pg_sleep(60); COMMIT' ],
	'>', \$wout, '2>', \$werr);
ok(wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM pg_locks l
	JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'job_results' AND l.mode = 'RowExclusiveLock'}) ne '0' }, 20),
	'an open transaction writes to job_results');
$t0 = time;
($rc, $out, $err) = $node->psql('postgres', q{SET statement_timeout = '20s';
	SELECT * FROM wal2queue.maintain_partitions('public.jobs', 7, 30)});
$took = time - $t0;
diag("maintain_partitions took ${took}s: $out $err");
ok($took < 5, 'maintain_partitions() waits for the referencing table at most briefly');
is($rc, 0, 'without an ERROR');
like($err, qr/could not attach the partition of public\.jobs for .*\n.*public\.job_results/,
	'a WARNING names the referencing table');
is($node->safe_psql('postgres', q{SELECT count(*) FROM wal2queue.partitions('public.jobs')}), $before,
	'the day is left to a later run');
$writer->kill_kill;
$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()});
$node->stop;
done_testing();
