# What: the owner of a partitioned job table (no superuser) gives it a
# foreign key to a table of its own, m.ref (queue REFERENCES m.ref), and
# gives m.ref an expression index over an IMMUTABLE function of its own
# ((m.tag(0) || name)).  foreign_code() looks at the job table's tree
# only: the foreign key's constraint depends on m.ref's unique index and
# the equality operators, none of them the owner's code, so nothing is
# found.  pg_cron runs, as a superuser, maintain_partitions():
# create_partitions()'s ATTACH PARTITION clones the foreign key onto the
# new day and validates it (ri_triggers.c RI_Initial_Check(): a query
# over the day LEFT JOIN m.ref, prepared as the caller), and planning it
# loads m.ref's index expressions and simplifies them
# (eval_const_expressions), which calls m.tag(0) as the superuser (here:
# ALTER ROLE mallory SUPERUSER).  The same for statistics expressions of
# m.ref (CREATE STATISTICS, ANALYZE) and for m.ref's policies where they
# apply to the caller.
# Why: sql/src/28_foreign_code.sql foreign_code() (rels: the job table and
# pg_partition_tree(), never the tables its foreign keys reference,
# pg_constraint.confrelid); sql/src/40_job_tables.sql create_partitions()
# (ATTACH PARTITION as the caller).
# Expected: the table is skipped with a WARNING naming m.ref's index and
# the function (the referenced tables' code checked as the table's own);
# no day created, mallory stays no superuser.
# Severity: high (privilege escalation from any partitioned job table's
# owner to the role running maintain_partitions()/create_partitions(),
# typically a superuser via pg_cron; silent).
# Control: W2Q_ATTACK_CONTROL=1 makes m.ref's index over name alone:
# passes (the days are created, no code of mallory's).
# Fixed: maintain_partitions() acts on a table whose owner is no
# superuser only in a session of that owner (wal2queue.owner_session()):
# the superuser's call skips m.jobs with a WARNING, no ATTACH, no foreign
# key check planned over the referenced table as the superuser.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('maintain_fk_referenced');
my $expr = $ENV{W2Q_ATTACK_CONTROL} ? '(name)' : '((m.tag(0) || name))';
my ($out, $err) = owner_code_fixture($node, extension => 1, pwn => 'superuser', sql => qq{
	CREATE TABLE m.ref (queue text PRIMARY KEY, name text);
	CREATE INDEX ref_tag ON m.ref $expr;
	INSERT INTO m.ref VALUES ('q', 'x');
	CREATE TABLE m.jobs (id bigint, queue text NOT NULL REFERENCES m.ref, payload jsonb NOT NULL DEFAULT '{}',
	  created_at timestamptz NOT NULL DEFAULT now()) PARTITION BY RANGE (created_at);});
is($err, '', "mallory's job table with a foreign key to m.ref, which has an expression index");

# a fresh session: the relcache loads m.ref's index expressions there
superuser_call_leaves_mallory($node, 'maintain_partitions',
	q{SELECT * FROM wal2queue.maintain_partitions('m.jobs', 1, 7)}, "the referenced table's");
$node->stop;
done_testing();
