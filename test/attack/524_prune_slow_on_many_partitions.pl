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
# Control: W2Q_ATTACK_CONTROL=1 replaces foreign_code(), in the test's
# database only, by a function that answers false at once: passes (the
# same 1000 partitions pruned in well under a second).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $n = 1000;
my $node = new_node('prune_many_partitions', conf => "max_locks_per_transaction = 1024\n");
$node->safe_psql('postgres', qq{
	CREATE EXTENSION wal2queue;
	CREATE TABLE public.jobs (id bigserial, queue text NOT NULL, payload jsonb NOT NULL,
	  created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (id, created_at))
	  PARTITION BY RANGE (created_at);
	DO \$\$ BEGIN
		FOR i IN 1 .. $n LOOP
			EXECUTE format('CREATE TABLE public.jobs_%s PARTITION OF public.jobs FOR VALUES FROM (%L) TO (%L)',
			               i, '2020-01-01'::date + i, '2020-01-01'::date + i + 1);
		END LOOP;
	END \$\$;
	SELECT wal2queue.append_only('public.jobs');
	SELECT wal2queue.create_slot('s524', 'public.jobs');
});
$node->safe_psql('postgres', q{
	CREATE OR REPLACE FUNCTION wal2queue.foreign_code(job_table regclass, caller text, deleting boolean DEFAULT false)
	RETURNS boolean LANGUAGE sql STABLE AS 'SELECT false';
}) if $ENV{W2Q_ATTACK_CONTROL};
is($node->safe_psql('postgres', q{SELECT count(*) FROM wal2queue.job_leaves('public.jobs')}), $n,
	"the table has $n leaves");

my $t0 = time;
my ($rc, $out, $err) = $node->psql('postgres',
	q{SET statement_timeout = '5s'; SELECT wal2queue.prune('public.jobs', force => true)});
diag(sprintf('prune: rc %d, %d s: %s %s', $rc, time - $t0, $out, $err));
is($rc, 0, "prune() of $n empty partitions ends within a statement_timeout of 5 s");
$node->stop;
done_testing();
