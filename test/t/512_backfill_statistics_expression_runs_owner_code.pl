# What: 482's fix refuses a selected table whose index expressions or
# predicates or CHECK constraints call another role's function
# (OWNER_CODE_SQL, pg_depend of pg_index and pg_constraint).  The table's
# owner (no superuser) instead creates extended statistics over an
# expression with an IMMUTABLE function of its own (CREATE STATISTICS
# m.jobs_st ON (m.tag(0) || queue) FROM m.jobs) and ANALYZEs its table, as
# any owner may (autovacuum does it too).  Planning any query on the table
# loads the statistics' expressions and simplifies them (plancat.c
# get_relation_statistics(): eval_const_expressions), which calls
# m.tag(0) as the bridge's role (here a superuser, as the quick start runs
# it); the VOLATILE function it calls writes current_user into a file with
# COPY ... TO.  The guarantee "The backfill runs no code of another role"
# (docs/operations.md) does not hold.  (maintain_partitions() and prune()
# plan the same table as their caller: 510.)
# Why: bridge/backfill_sql.c OWNER_CODE_SQL looks at pg_index and
# pg_constraint only, not pg_statistic_ext (stxexprs); bf_page_only()
# plans the pages as the bridge's role.
# Expected: the table refused before anything is planned on it, naming the
# statistics object, the function and its owner (as 482); no file written,
# nothing sent.
# Severity: high (privilege escalation from any selected table's owner to
# the bridge's role, a superuser or a REPLICATION role that reads every
# table; silent).
# Fixed: bridge/backfill_sql.c OWNER_CODE_SQL also follows the pg_depend
# entries of the table's (and its partitions') extended statistics: the
# table is refused before anything is read or sent, naming the statistics
# object, the function and its owner; the bridge exits 1.  Statistics over
# built-in functions (m.jobs2, lower(queue)) are backfilled; a policy over
# the owner's function is never evaluated (row_security = off: m.jobs3).
# Control: W2Q_ATTACK_CONTROL=1 makes the statistics over lower(queue), a
# built-in function: the backfill runs, no file.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfstat');
my $r = start_redis();
my $file = "$ENV{TESTDIR}/pwned_512";
my $expr = $ENV{W2Q_ATTACK_CONTROL} ? '(lower(queue))' : '((m.tag(0) || queue))';
my ($out, $err) = owner_code_fixture($node, pwn => 'copy', file => $file, sql => qq{
	CREATE TABLE m.jobs (id int PRIMARY KEY, queue text);
	INSERT INTO m.jobs SELECT g, 'q' FROM generate_series(1, 9) g;
	CREATE STATISTICS m.jobs_st ON $expr FROM m.jobs;
	ANALYZE m.jobs;});
is($err, '', "mallory's table with statistics over an expression, analyzed");
unlink $file;    # mallory's own ANALYZE ran the function as mallory
my $b = start_bridge($node, $r, '--slot', 'bf_stat', '--create-slot', '--tables', 'm.jobs',
	'--backfill', '--backfill-batch', '3', '--status-interval', '1');
ok(wait_until(sub { !$b->{h}->pumpable || -e $file || (backfill_done($r, 'bf_stat') // '') eq '1' }, 30),
	'the bridge stops or backfills') or diag(bridge_log($b));
sleep 1;
ok(!-e $file, "no code of the table's owner ran as the bridge's role")
  or diag('file written by: ' . slurp_file($file));
if ($ENV{W2Q_ATTACK_CONTROL})
{
	is(backfill_done($r, 'bf_stat'), '1', 'control: statistics over a built-in function, backfilled');
	is(redis($r, 'XLEN', 'm.jobs'), '9', 'control: each row once');
}
else
{
	like(bridge_log($b), qr/cannot backfill table m\.jobs: its statistics object m\.jobs_st calls m\.tag\(integer\), owned by mallory/,
		'refused, naming the table, the statistics object, the function and its owner');
	is(redis($r, 'EXISTS', 'm.jobs'), '0', 'nothing sent');
	$b->{h}->finish;
	is($b->{h}->full_result(0) >> 8, 1, 'it exits 1');
}
stop_bridge($b, 'KILL') if $b->{h}->pumpable;
$node->safe_psql('postgres', q{
	CREATE TABLE m.jobs2 (id int PRIMARY KEY, queue text);
	INSERT INTO m.jobs2 SELECT g, 'q' FROM generate_series(1, 9) g;
	CREATE STATISTICS m.jobs2_st ON (lower(queue)) FROM m.jobs2;
	ALTER TABLE m.jobs2 OWNER TO mallory;
	ANALYZE m.jobs2;
});
$b = start_bridge($node, $r, '--slot', 'bf_stat2', '--create-slot', '--tables', 'm.jobs2',
	'--backfill', '--backfill-batch', '3', '--status-interval', '1');
ok(wait_until(sub { (backfill_done($r, 'bf_stat2') // '') eq '1' }, 30),
	'statistics over built-in functions: the backfill ran') or diag(bridge_log($b));
is(redis($r, 'XLEN', 'm.jobs2'), '9', 'm.jobs2: each row once');
stop_bridge($b, 'KILL') if $b->{h}->pumpable;

# a policy calling the owner's function is not evaluated: the backfill
# reads with row_security = off (a role subject to the policy gets an
# error instead), so the table is backfilled and no file written
$node->safe_psql('postgres', q{
	CREATE TABLE m.jobs3 (id int PRIMARY KEY, queue text);
	INSERT INTO m.jobs3 SELECT g, 'q' FROM generate_series(1, 9) g;
	ALTER TABLE m.jobs3 OWNER TO mallory;
	ALTER TABLE m.jobs3 ENABLE ROW LEVEL SECURITY;
	ALTER TABLE m.jobs3 FORCE ROW LEVEL SECURITY;
	CREATE POLICY p ON m.jobs3 USING (m.tag(0) = '');
});
unlink $file;
$b = start_bridge($node, $r, '--slot', 'bf_stat3', '--create-slot', '--tables', 'm.jobs3',
	'--backfill', '--backfill-batch', '3', '--status-interval', '1');
ok(wait_until(sub { (backfill_done($r, 'bf_stat3') // '') eq '1' }, 30),
	'a policy over the owner\'s function: the backfill ran') or diag(bridge_log($b));
is(redis($r, 'XLEN', 'm.jobs3'), '9', 'm.jobs3: each row once');
ok(!-e $file, 'the policy ran no code of the owner as the bridge\'s role');
stop_bridge($b, 'KILL') if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
