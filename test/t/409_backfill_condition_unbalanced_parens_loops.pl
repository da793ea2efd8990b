# What: a --backfill condition that closes the parenthesis it is put in
# ("id > 0) OR (id = 1", a typo'd or pasted condition) passes the check
# before the slot (it is valid SQL there) and then breaks the keyset
# pagination: each page is "WHERE true AND (id > 0) OR (id = 1) AND (keys)
# > ($1) ... ORDER BY keys LIMIT n", whose first disjunct ignores the
# position, so every page is the first page again: the same rows are
# written to the sink over and over, without end, while the log reports
# progress (the Redis stream grows until memory runs out).
# Why: bridge/backfill_sql.c bf_page() and backfill_check.c read_none()
# paste the condition text between "AND (" and ")"
# ('add(&sql, &len, " AND (%s)%s", condition, "")'); nothing checks that
# it is one expression (balanced parentheses outside literals, or parsing
# it alone, e.g. as "SELECT ($1)" via a prepared statement, or wrapping it
# in a subquery "AND (SELECT (cond))" style check).
# Expected: the condition is refused before the slot is created ("invalid
# --backfill condition ...": exit 1), or the backfill delivers each selected
# row once.  Here: 9 rows, pages of 3; after 10 s at most 9 entries.
# W2Q_ATTACK_CONTROL=1 uses the balanced "id > 0 OR id = 1": 9 entries.
# Severity: medium (an operator's malformed input; but the outcome is an
# unbounded stream of duplicates into the sink, not an error: 19437
# entries for 9 rows in 10 s here).
# Fixed: bridge/backfill_condition.c checks the condition before anything
# is created (backfill_check.c): outside string literals, quoted
# identifiers and dollar quotes its parentheses must balance and never
# close one it did not open, and it holds no comment and no semicolon;
# else exit 2, "invalid --backfill condition \"...\": its \")\" at
# character 7 closes a parenthesis it did not open"
# (test/unit/test_backfill_condition.c has the scanner's cases).  The
# check is now that exit and message (the variant with
# W2Q_ATTACK_CONTROL=1 still delivers each row once).
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfparens');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, queue text);
	INSERT INTO jobs SELECT g, 'q' FROM generate_series(1, 9) g;
});
my $cond = $ENV{W2Q_ATTACK_CONTROL} ? 'id > 0 OR id = 1' : 'id > 0) OR (id = 1';
my $b = start_bridge($node, $r, '--slot', 'bf_pa', '--create-slot', '--tables', 'public.jobs',
	"--backfill=$cond", '--backfill-batch', '3', '--status-interval', '1');
sleep 10;
my $n = redis($r, 'XLEN', 'public.jobs');
if ($ENV{W2Q_ATTACK_CONTROL})
{
	ok($n eq '9' && backfill_done($r, 'bf_pa') eq '1', 'each row once');
}
else
{
	if (ok(!$b->{h}->pumpable, "the bridge stopped"))
	{
		$b->{h}->finish;
		is($b->{h}->full_result(0) >> 8, 2, "exit 2");
	}
	else
	{
		stop_bridge($b, 'KILL');
		fail("exit 2");
	}
	like(bridge_log($b), qr/invalid --backfill condition "id > 0\) OR \(id = 1": its "\)" at character 7 closes a parenthesis it did not open/,
		'the condition refused, named');
	is($n, '0', 'nothing delivered');
}
ok(1, 'done') or diag("$n entries after 10 s\n"
	  . join("\n", grep { /backfill|ERROR/ } (split /\n/, bridge_log($b))[0 .. 12]));
stop_bridge($b, 'KILL') if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
