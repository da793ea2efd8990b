# What: the owner of a partitioned job table (no superuser) declares its
# partition key created_at with a domain of its own over timestamptz whose
# CHECK calls its function (CREATE DOMAIN m.ts AS timestamptz CHECK
# (m.ok(VALUE))).  pg_get_partkeydef() still reads "RANGE (created_at)",
# and foreign_code() finds nothing: the domain's constraint is a
# pg_constraint row of the type (contypid), not of the table, and the
# column depends on the type, not on the function.  pg_cron runs, as a
# superuser, maintain_partitions(): create_partitions()'s ATTACH PARTITION
# ... FOR VALUES FROM ('...') TO ('...') coerces each bound to the key's
# type and evaluates it (parse_utilcmd.c transformPartitionBoundValue():
# CoerceToDomain, evaluate_expr()), which runs the domain's CHECK, the
# owner's function, as the superuser (here: ALTER ROLE mallory SUPERUSER).
# docs/extension.md lists domain constraints of the columns' types as not
# followed, but the run goes on and executes them.
# Why: sql/src/28_foreign_code.sql foreign_code() (no pg_type / domain
# constraint branch for the columns' types); sql/src/40_job_tables.sql
# create_partitions() (EXECUTE of ATTACH PARTITION as the caller).
# Expected: the table is skipped with a WARNING naming the domain's
# constraint and the function (or a partition key that is not plain
# timestamptz refused); no day created, mallory stays no superuser.
# Severity: high (privilege escalation from any partitioned job table's
# owner to the role running maintain_partitions()/create_partitions(),
# typically a superuser via pg_cron; silent, every day).
# Control: W2Q_ATTACK_CONTROL=1 makes the domain's CHECK (VALUE IS NOT
# NULL), no function: passes (the days are created, no code of mallory's).
# Fixed: maintain_partitions() acts on a table whose owner is no
# superuser only in a session of that owner (wal2queue.owner_session()):
# the superuser's call skips m.jobs with a WARNING, no ATTACH, no domain
# CHECK run as the superuser.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('maintain_domain_key');
my $check = $ENV{W2Q_ATTACK_CONTROL} ? 'VALUE IS NOT NULL' : 'm.ok(VALUE)';
my ($out, $err) = owner_code_fixture($node, extension => 1,
	sql => grab_function_sql('ok(timestamptz)', 'boolean', 'true') . qq{
	CREATE DOMAIN m.ts AS timestamptz CHECK ($check);
	CREATE TABLE m.jobs (id bigint, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
	  created_at m.ts NOT NULL) PARTITION BY RANGE (created_at);});
is($err, '', "mallory's job table partitioned on a domain column");

superuser_call_leaves_mallory($node, 'maintain_partitions',
	q{SELECT * FROM wal2queue.maintain_partitions('m.jobs', 1, 7)}, "the table's");
$node->stop;
done_testing();
