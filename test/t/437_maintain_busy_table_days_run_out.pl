# What: 414's fix makes maintain_partitions() give up (a WARNING, nothing
# done) whenever another transaction holds any lock on the job table: the
# backfill of the job table (hours to days on the migration guide's
# table), an application's session left idle in transaction after a
# SELECT, a long report.  Held across the days_ahead days already created,
# the daily runs create nothing, and the first row of the first day without
# a partition fails ("no partition of relation ... found for row"): every
# producer's INSERT, from then until the reader ends and a run succeeds.
# Here the days run out at once: a reader holds ACCESS SHARE on jobs;
# maintain_partitions(jobs, 6, 30) is asked for 6 days ahead and creates
# none; an INSERT for today + 5 days fails.
# Why: sql/src/40_job_tables.sql maintain_partitions(): 'IF NOT
# wal2queue.lock_briefly(job_table, ...) THEN RETURN;' -- lock_briefly()
# asks for ACCESS EXCLUSIVE, which any reader blocks, because
# create_partitions() uses CREATE TABLE ... PARTITION OF.  A partition
# created standalone and attached (ALTER TABLE ... ATTACH PARTITION) needs
# only SHARE UPDATE EXCLUSIVE on the parent, which readers and writers do
# not block: the coming days could be created while the table is read.
# Expected: the missing days are created although the table is read (the
# drops may wait for the next run): the INSERT for today + 5 days works.
# W2Q_ATTACK_CONTROL=1 runs no reader: passes.
# Fixed: create_partitions() creates each day as a table of its own (LIKE
# the job table) and attaches it (ALTER TABLE ... ATTACH PARTITION), after
# taking the table's SHARE UPDATE EXCLUSIVE lock (and the DEFAULT
# partition's, if any) waiting at most a second; maintain_partitions()
# takes the table's ACCESS EXCLUSIVE lock only to drop old partitions.
# Also checked here: the three days are returned as created, the new
# partitions carry the table's indexes and append-only guard, and a second
# run creates nothing; with a reader of the DEFAULT partition (whose lock
# ATTACH takes too) the run creates nothing after a second, with a
# WARNING, and an INSERT goes through meanwhile.
# Severity: low-medium (needs a reader that outlives days_ahead days; then
# every INSERT fails, where before the fix they queued).
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('maintain_busy');
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs', true);
});
my ($rout, $rerr) = ('', '');
my $reader;
unless ($ENV{W2Q_ATTACK_CONTROL})
{
	$reader = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres'), '-c',
		'SELECT count(*) FROM jobs; SELECT pg_sleep(40)' ], '>', \$rout, '2>', \$rerr);
	ok(wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM pg_locks l
		JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'jobs' AND l.mode = 'AccessShareLock'}) ne '0' }, 20),
		'a reader holds jobs');
}
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT * FROM wal2queue.maintain_partitions('public.jobs', 6, 30)});
diag("maintain_partitions: $out $err");
is(scalar(() = $out =~ /^created\|public\.jobs_p\d{8}$/mg), 3, 'the three missing days are created while the table is read');
unlike($err, qr/WARNING/, 'without a WARNING');
is($node->safe_psql('postgres', q{SELECT count(*) FROM wal2queue.partitions('public.jobs') p
	WHERE EXISTS (SELECT FROM pg_index i WHERE i.indrelid = p.partition AND i.indisprimary)
	  AND EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = p.partition AND t.tgname = 'wal2queue_append_only'
	                AND t.tgenabled = 'A')}), '7', 'every partition has the primary key and the guard');
is($node->safe_psql('postgres', q{SELECT count(*) FROM wal2queue.maintain_partitions('public.jobs', 6, 30)}),
	'0', 'a second run creates nothing');
($rc, $out, $err) = $node->psql('postgres', q{INSERT INTO jobs (queue, payload, created_at)
	VALUES ('q', '{}', date_trunc('day', now(), 'UTC') + interval '5 days 1 hour')});
is($rc, 0, 'a job of today + 5 days can be inserted') or diag($err);
$reader->kill_kill if $reader;
$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE query LIKE '%pg_sleep(40)%' AND pid <> pg_backend_pid()});

# ATTACH locks the DEFAULT partition too: a reader of it makes the run
# create nothing (a WARNING) after a second, and no INSERT waits behind it
$node->safe_psql('postgres', 'CREATE TABLE jobs_default PARTITION OF jobs DEFAULT');
my ($dout, $derr) = ('', '');
my $dreader;
unless ($ENV{W2Q_ATTACK_CONTROL})
{
	$dreader = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres'), '-c',
		'SELECT count(*) FROM jobs_default; SELECT pg_sleep(40)' ], '>', \$dout, '2>', \$derr);
	ok(wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM pg_locks l
		JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'jobs_default' AND l.mode = 'AccessShareLock'}) ne '0' }, 20),
		'a reader holds jobs_default');
}
my ($mout, $merr) = ('', '');
my $m = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres'), '-c',
	q{SELECT * FROM wal2queue.maintain_partitions('public.jobs', 8, 30)} ], '>', \$mout, '2>', \$merr);
sleep 3;
($rc, $out, $err) = $node->psql('postgres',
	q{SET statement_timeout = '5s'; INSERT INTO jobs (queue, payload) VALUES ('q', '{"late": true}')});
is($rc, 0, 'a producer can enqueue a job while maintain_partitions() runs (a reader of the DEFAULT partition)')
	or diag($err);
$m->finish;
diag("maintain_partitions: $mout $merr");
like($merr, qr/wal2queue\.create_partitions: table public\.jobs is busy/,
	'a WARNING says the table is busy') unless $ENV{W2Q_ATTACK_CONTROL};
$dreader->kill_kill if $dreader;
$node->stop;
done_testing();
