# What: a partitioned job table that another table references with a
# foreign key (job_results (job_id, job_at) REFERENCES jobs (id,
# created_at): the workers record each job's result -- PostgreSQL 15
# allows a foreign key to a partitioned table).  Once an old partition is
# delivered, maintain_partitions() runs DROP TABLE on it, which PostgreSQL
# refuses ("cannot drop table jobs_old because other objects depend on
# it": the foreign key has a piece on every partition), even with no
# result row pointing into it.  That ERROR aborts the whole call -- the
# days create_partitions() just created in the same transaction are rolled
# back with it -- at every daily run: after days_ahead days the table has
# no partition for today and every producer's INSERT fails ("no partition
# of relation "jobs" found for row").  Nothing says the old partition is
# what blocks the new days.
# Why: sql/src/40_job_tables.sql maintain_partitions(): 'EXECUTE
# format(''DROP TABLE %s'', part)' runs unguarded in the same transaction
# as 'FOR part IN SELECT * FROM wal2queue.create_partitions(...)'; only
# lock failures are turned into WARNINGs (try_lock(), lock_briefly()).
# Expected: the missing days are created whatever happens to the drop: the
# old partition is kept with a WARNING naming the foreign key (or detached
# and then dropped: ALTER TABLE ... DETACH PARTITION checks the
# references); the run returns 'created' rows and no ERROR.
# W2Q_ATTACK_CONTROL=1 creates no referencing table: passes.
# Severity: medium-high (every INSERT fails after days_ahead days; needs a
# foreign key to the job table, an ordinary schema choice).
# Fixed: each DROP of an old partition runs in a subtransaction of its own:
# on an error the partition is kept with a WARNING (its DETAIL names what
# depends on it) and the run goes on; the days are created after the drops.
use strict;
use warnings;
use IPC::Run;
use Time::HiRes qw(time);
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('maintain_fkdrop');
my $r = start_redis();
partitioned_jobs_old($node, 2020);
$node->safe_psql('postgres', q{
	CREATE TABLE job_results (job_id bigint, job_at timestamptz, ok boolean,
	  FOREIGN KEY (job_id, job_at) REFERENCES jobs (id, created_at));
}) unless $ENV{W2Q_ATTACK_CONTROL};
my $b = start_jobs_bridge($node, $r);
$node->safe_psql('postgres',
	q{INSERT INTO jobs (queue, payload, created_at) VALUES ('early', '{}', '2020-01-01 10:00+00')});
delivered_once($r, $b, ['early'], 'the early row delivered');
attest_rounds($node, 3);

my ($rc, $out, $err) = $node->psql('postgres',
	q{SELECT * FROM wal2queue.maintain_partitions('public.jobs', 6, 7)});
diag("maintain_partitions: rc $rc\n$out\n$err");
is($rc, 0, 'maintain_partitions() ends without an ERROR');
like($err, qr/WARNING:  wal2queue.maintain_partitions: could not drop partition public\.jobs_old of table public\.jobs: .*\nDETAIL:  It is kept.* constraint job_results_\w+ on table public\.job_results depends on table public\.jobs_old/,
	'a WARNING names the partition kept and what depends on it');
is(scalar(() = $out =~ /^created\|public\.jobs_p\d{8}$/mg), 3, 'the three missing days are created');
($rc, $out, $err) = $node->psql('postgres', q{INSERT INTO jobs (queue, payload, created_at)
	VALUES ('q', '{}', date_trunc('day', now(), 'UTC') + interval '5 days 1 hour')});
is($rc, 0, 'a job of today + 5 days can be inserted') or diag($err);
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relname = 'jobs_old'}), '1', 'the old partition is kept');

# Fixed: with the table's ACCESS EXCLUSIVE lock held from the DROPs, no
# other lock is waited for: here the job table gets a foreign key to
# tenants, which an open transaction wrote to (the DROP of a partition and
# the ATTACH of a day both lock tenants); the run neither waits on it for
# long nor fails
$node->safe_psql('postgres', q{
	DROP TABLE IF EXISTS job_results;
	CREATE TABLE tenants (id int PRIMARY KEY);
	INSERT INTO tenants VALUES (1);
	ALTER TABLE jobs ADD COLUMN tenant int REFERENCES tenants (id);
	CREATE TABLE jobs_old2 PARTITION OF jobs FOR VALUES FROM ('2020-02-01 00:00+00') TO ('2020-02-02 00:00+00');
});
attest_rounds($node, 3);
my ($wout, $werr) = ('', '');
my $w = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres') . ' application_name=writer',
	'-c', 'BEGIN; UPDATE tenants SET id = id; SELECT pg_sleep(60)' ], '>', \$wout, '2>', \$werr);
ok(wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a
	ON a.pid = l.pid WHERE a.application_name = 'writer' AND l.relation = 'tenants'::regclass}) ne '0' }, 20),
	'an open transaction wrote to tenants');
my $t0 = time;
($rc, $out, $err) = $node->psql('postgres', q{SET statement_timeout = '20s';
	SELECT * FROM wal2queue.maintain_partitions('public.jobs', 8, 7)});
my $took = time - $t0;
diag(sprintf("maintain_partitions took %.2fs: rc %d\n%s\n%s", $took, $rc, $out, $err));
is($rc, 0, 'maintain_partitions() ends without an ERROR');
ok($took < 1, 'and waits for tenants with the table locked at most briefly');
like($out, qr/^dropped\|public\.jobs_old2$/m, 'the delivered partition is dropped');
unlike($out, qr/^created/m, 'the day is left to a later run');
like($err, qr/could not attach the partition of public\.jobs for .*\n.*public\.tenants/,
	'a WARNING says why');
$w->kill_kill;
$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE application_name = 'writer'});
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
