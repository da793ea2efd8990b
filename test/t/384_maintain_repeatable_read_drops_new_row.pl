# Attack review 12, fixed: maintain_partitions()
# in a REPEATABLE READ transaction drops an old partition holding a row no
# slot delivered, committed after the transaction's snapshot.
# Why: maintain_partitions() (sql/src/40_job_tables.sql) locks each old
# partition in SHARE ROW EXCLUSIVE mode "so the check sees every row the
# DROP would remove", then partition_pending() looks for undelivered rows
# with a plain SELECT.  In READ COMMITTED that SELECT takes a snapshot after
# the lock; in REPEATABLE READ or SERIALIZABLE it uses the transaction's
# snapshot, taken at its first statement, before the lock: a row committed
# in between is invisible to the check, and DROP TABLE removes it.  Nothing
# refuses those isolation levels (register_slot() got fresh_horizon() for
# the same reason, 364).
# Here: a daily-partitioned job table (create_job_table) with an old
# partition for 2020-01-01, a registered slot whose bridge delivered an
# early row and was then stopped; a session starts REPEATABLE READ (SELECT
# 1), a late job is inserted into the old day (never delivered: the bridge
# is stopped), then that session runs maintain_partitions(job_table, 3, 0).
# Fixed: maintain_partitions() refuses to run when transaction_isolation
# is above READ COMMITTED: an ERROR names the level, the HINT says to run it
# in READ COMMITTED (from cron or pg_cron); nothing is created or dropped.
# Checks: the refusal, the old partition still there and the late row too.
# W2Q_ATTACK_CONTROL=1 runs the same in READ COMMITTED: then it is kept.
# Severity: high (an undelivered job is dropped without force), needs a
# maintain_partitions() in REPEATABLE READ or SERIALIZABLE (a job runner's
# transaction, default_transaction_isolation; with the latter the window is
# inside one call: an INSERT committing between its snapshot and its LOCK).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('maintain_rr');
my $r = start_redis();
partitioned_jobs_old($node, 2020);
my $b = start_jobs_bridge($node, $r);
$node->safe_psql('postgres',
	q{INSERT INTO jobs (queue, payload, created_at) VALUES ('early', '{}', '2020-01-01 10:00+00')});
delivered_once($r, $b, ['early'], 'the early row delivered');
attest_rounds($node, 3);
stop_bridge($b);

my ($acts, $err) = in_repeatable_read($node, sub {
	$node->safe_psql('postgres',
		q{INSERT INTO jobs (queue, payload, created_at) VALUES ('late', '{}', '2020-01-01 11:00+00')});
}, "SELECT string_agg(action || ' ' || partition_name, ', ' ORDER BY partition_name) "
	. "FROM wal2queue.maintain_partitions('public.jobs', 3, 0)");
diag("maintain_partitions: $acts; stderr: $err");
refuses_repeatable_read($err, 'maintain_partitions');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname = 'jobs_old'"), '1',
	'the old partition holding a row no slot delivered is kept');
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE queue = 'late'"), '1',
	'the late row, never delivered, is still there');
stop_redis($r);
$node->stop;
done_testing();
