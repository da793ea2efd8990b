# What: the owner of a selected job table (the application's role, no
# superuser) gives it an expression index over an IMMUTABLE function of
# its own (CREATE INDEX ON m.jobs ((m.tag(0) || queue))).  Planning any
# query on the table loads the indexes' expressions and simplifies them
# (relcache RelationGetIndexExpressions(): eval_const_expressions), which
# calls m.tag(0) -- in the backfill reader's session, as the bridge's role
# (here a superuser, as the quick start runs it).  The IMMUTABLE function
# calls a VOLATILE one, which writes current_user into a file with COPY ...
# TO (superuser only).  The same holds for a partial index's predicate and
# a partition's CHECK constraint (constraint exclusion simplifies them).
# docs/operations.md's guarantee "The backfill runs no code of another
# role" (432/433/416's class) does not hold: the pinned search_path, the
# qualified operators and the base-type cast do not reach the planner.
# Why: bridge/backfill_sql.c bf_page_only() plans "SELECT ... FROM ONLY
# m.jobs ... ORDER BY id LIMIT n" as the bridge's role; the planner's
# get_relation_info() evaluates the index expressions' constant
# sub-expressions with the table owner's functions.
# Expected: no code the table's owner wrote runs as the bridge's role:
# e.g. refuse (naming the index or constraint) a selected table whose
# index expressions, index predicates or (for a partitioned table) CHECK
# constraints call a function outside pg_catalog, unless the bridge runs
# as a role that is not a superuser (or the guarantee and its docs say
# so); the 9 rows delivered once and no file written.
# W2Q_ATTACK_CONTROL=1 makes the index over queue alone: passes.
# Severity: high (privilege escalation from any table owner whose table a
# backfill selects to the bridge's role: a superuser or a REPLICATION role
# that reads every table; silent, and the index looks harmless).
# Fixed: bridge/backfill_sql.c OWNER_CODE_SQL (pg_depend): a selected
# table (its partitions included) whose index expressions or predicates or
# CHECK constraints depend on a function (or an operator's function) owned
# by a role neither a superuser nor the bridge's is refused before
# anything is read from it or sent, naming the index, the function and its
# owner.  An expression index over built-in functions (m.jobs2,
# lower(queue)) is backfilled.  Function bodies are not followed: a
# superuser's function is trusted.

use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfidx');
my $r = start_redis();
my $file = "$ENV{TESTDIR}/pwned_482";
my $expr = $ENV{W2Q_ATTACK_CONTROL} ? '(queue)' : '((m.tag(0) || queue))';
my ($out, $err) = owner_code_fixture($node, pwn => 'copy', file => $file, sql => qq{
	CREATE TABLE m.jobs (id int PRIMARY KEY, queue text);
	INSERT INTO m.jobs SELECT g, 'q' FROM generate_series(1, 9) g;
	CREATE INDEX jobs_tag ON m.jobs $expr;});
is($err, '', "mallory's table with an expression index");
unlink $file;    # mallory's own CREATE INDEX ran the function as mallory
$node->safe_psql('postgres', q{
	CREATE TABLE m.jobs2 (id int PRIMARY KEY, queue text);
	INSERT INTO m.jobs2 SELECT g, 'q' FROM generate_series(1, 9) g;
	CREATE INDEX jobs2_lower ON m.jobs2 (lower(queue)) WHERE queue <> '';
	ALTER TABLE m.jobs2 OWNER TO mallory;
});
my $b = start_bridge($node, $r, '--slot', 'bf_idx', '--create-slot', '--tables', 'm.jobs',
	'--backfill', '--backfill-batch', '3', '--status-interval', '1');
ok(wait_until(sub { !$b->{h}->pumpable || -e $file }, 30), 'the bridge stops')
  or diag(bridge_log($b));
sleep 1;
ok(!-e $file, "no code of the table's owner ran as the bridge's role")
  or diag('file written by: ' . slurp_file($file));
like(bridge_log($b), qr/cannot backfill table m\.jobs: its index m\.jobs_tag calls m\.tag\(integer\), owned by mallory/,
	'refused, naming the table, the index, the function and its owner');
is(redis($r, 'EXISTS', 'm.jobs'), '0', 'nothing sent');
$b->{h}->finish;
is($b->{h}->full_result(0) >> 8, 1, 'it exits 1');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'bf_idx'}),
	'0', 'refused before the slot is created');
stop_bridge($b, 'KILL') if $b->{h}->pumpable;
$b = start_bridge($node, $r, '--slot', 'bf_idx2', '--create-slot', '--tables', 'm.jobs2',
	'--backfill', '--backfill-batch', '3', '--status-interval', '1');
ok(wait_until(sub { backfill_done($r, 'bf_idx2') eq '1' }, 30), 'an index over built-in functions: the backfill ran')
  or diag(bridge_log($b));
is(redis($r, 'XLEN', 'm.jobs2'), '9', 'm.jobs2: each row once');
stop_bridge($b, 'KILL') if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
