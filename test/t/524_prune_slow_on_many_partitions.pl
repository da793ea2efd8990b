# What: a job table with 1000 daily partitions (under three years of days,
# nothing unusual for a job table that keeps its history), all of them
# empty.  prune(..., force => true) calls foreign_code() once for the
# table and again for each leaf under its lock; each call reads the
# catalogs with sequential scans (rels: "c.oid = job_table OR c.oid IN
# (SELECT ... pg_partition_tree(job_table))" over pg_class, then pg_index,
# pg_constraint, pg_attrdef, pg_trigger, pg_rewrite, pg_policy, each whole
# and hash-joined), so each call costs time in proportion to the size of
# the database's catalogs, and prune() in proportion to leaves x catalog:
# here about 12 s against 0.4 s for the same call with foreign_code()
# answering false at once (measured on this machine, 2 cores, loaded);
# maintain_partitions() judging 1000 old partitions took 29 s.  A pg_cron
# job with a statement_timeout, or a prune loop (prune_until()) over a
# table with that many leaves, times out or spends its time re-reading
# the catalogs.
# Why: sql/src/28_foreign_code.sql foreign_code() (the OR in rels defeats
# pg_class's oid index; the per-object catalogs are scanned whole instead
# of looked up by the relations' oids); sql/src/30_prune.sql prune() (one
# call per leaf).
# Expected: prune() of 1000 empty partitions within a statement_timeout
# of 5 s (0.4 s without the check; a check by index lookups of the leaf's
# oid costs a few ms).
# Severity: low-medium (performance: a many-partition table's prune and
# maintenance slow down 30-fold; a statement_timeout turns it into an
# ERROR at every run).
# Control: W2Q_ATTACK_CONTROL=1 replaces owner_session() (foreign_code()
# before), in the test's database only, by a function that answers true
# at once: passes.
# Fixed: foreign_code()'s catalog scans are gone; wal2queue.owner_session()
# looks up one pg_class row (and, for an owner's session, its own
# pg_stat_activity entry) per leaf.  Run here in the owner's session (the
# table belongs to app, no superuser), the costlier path: prune() of the
# 1000 leaves within 5 s, and maintain_partitions() judging and dropping
# them within 20 s.
# Since session 11, prune() locks every leaf before it judges and judges
# each leaf's whole code closure (owner_code(), test/t/632, 670-677): 2 to
# 3 s here when idle, past 5 s with four suites at a time in CI; the bound
# is 15 s (the catalog scans this test caught took 12 s on a loaded
# machine and grow with leaves x catalog; timings belong to make bench).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $n = 1000;
my $node = new_node('prune_many_partitions', conf => "max_locks_per_transaction = 1024\n");
$node->safe_psql('postgres', qq{
	CREATE EXTENSION wal2queue;
	CREATE ROLE app LOGIN;
	GRANT USAGE ON SCHEMA wal2queue TO app;
	GRANT CREATE ON SCHEMA public TO app;
	SET ROLE app;
	CREATE TABLE public.jobs (id bigserial, queue text NOT NULL, payload jsonb NOT NULL,
	  created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (id, created_at))
	  PARTITION BY RANGE (created_at);
	DO \$\$ BEGIN
		FOR i IN 1 .. $n LOOP
			EXECUTE format('CREATE TABLE public.jobs_%s PARTITION OF public.jobs FOR VALUES FROM (%L) TO (%L)',
			               i, '2020-01-01'::date + i, '2020-01-01'::date + i + 1);
		END LOOP;
	END \$\$;
	RESET ROLE;
	SELECT wal2queue.append_only('public.jobs');
	SELECT wal2queue.create_slot('s524', 'public.jobs');
});
$node->safe_psql('postgres', q{
	CREATE OR REPLACE FUNCTION wal2queue.owner_session(rel regclass, caller text, job_table regclass DEFAULT NULL)
	RETURNS boolean LANGUAGE sql STABLE AS 'SELECT true';
}) if $ENV{W2Q_ATTACK_CONTROL};
is($node->safe_psql('postgres', q{SELECT count(*) FROM wal2queue.job_leaves('public.jobs')}), $n,
	"the table has $n leaves");

is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid
	WHERE i.inhparent = 'public.jobs'::regclass AND pg_get_userbyid(c.relowner) = 'app'}), $n, 'all owned by app');

my $app = $node->connstr('postgres') . ' user=app';
my $t0 = time;
my ($out, $err) = run_command([ 'psql', '-X', '-q', '-A', '-t', '-d', $app, '-c', q{SET statement_timeout = '15s'},
	'-c', q{SELECT wal2queue.prune('public.jobs', force => true)} ]);
diag(sprintf('prune as app: %d s: %s %s', time - $t0, $out, $err));
is("$out|$err", "0|", "prune() of $n empty partitions ends within a statement_timeout of 15 s");
$t0 = time;
($out, $err) = run_command([ 'psql', '-X', '-q', '-A', '-t', '-d', $app, '-c', q{SET statement_timeout = '20s'},
	'-c', q{SELECT count(*) FROM wal2queue.maintain_partitions('public.jobs', 0, 0, force => true) WHERE action = 'dropped'} ]);
diag(sprintf('maintain_partitions as app: %d s: %s %s', time - $t0, $out, $err));
is("$out|$err", "$n|", "maintain_partitions() judges and drops $n old partitions within a statement_timeout of 20 s");
$node->stop;
done_testing();
