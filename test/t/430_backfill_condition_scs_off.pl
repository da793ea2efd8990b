# What: a --backfill condition that passes bridge/backfill_condition.c's
# scanner but closes the parenthesis it is pasted in, on a database with
# standard_conforming_strings = off (ALTER DATABASE ... SET: a legacy
# application's setting): there '...' takes backslash escapes, so
# "id::text <> '\'a' ) OR (true) OR (id::text <> 'x\''" is, to the server,
# two string literals around ") OR (true) OR (", and to the scanner three
# literals (the middle one covering ") OR (true) OR (").  The page is
# "... AND (id::text <> '\'a' ) OR (true) OR (id::text <> 'x\'') AND (keys)
# > ($1) ... LIMIT n": the disjunct "true" ignores the keyset position, every
# page is the first page again, without end (409's loop, around its fix).
# Why: bridge/backfill_condition.c backfill_condition_check() (the esc test,
# "bool esc = c == '\'' && ... p[-1] == 'e'") treats a backslash as an
# escape in E'' strings only; BF_PINNED_SETTINGS (bridge/backfill_sql.h:58)
# pins datestyle, intervalstyle and extra_float_digits but not
# standard_conforming_strings, which the session takes from the database.
# Expected: either the condition is refused (exit 2, "invalid --backfill
# condition") or the backfill delivers each of the 9 rows once: the bridge
# pins standard_conforming_strings = on in every backfill connection (then
# the server refuses this condition's unbalanced ")" as a syntax error, or
# the scanner's reading holds), or the scanner reads '' with backslashes when
# the session's setting is off.
# W2Q_ATTACK_CONTROL=1 leaves standard_conforming_strings on: the server
# then reads the condition as the scanner does (9 entries, or a refusal).
# Severity: medium (an operator's database setting plus a condition with a
# backslash before a quote: an unbounded stream of duplicates into the sink,
# not an error).
# Fixed: every backfill connection pins standard_conforming_strings = on
# (backfill_sql.h BF_SAFE_SETTINGS, in BF_PINNED_SETTINGS and for an older
# state's unpinned resume): the server reads '...' as the scanner does and
# refuses this condition before anything is created (exit 2, "invalid
# --backfill condition ... syntax error at or near "a"").
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfscs');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, queue text);
	INSERT INTO jobs SELECT g, 'q' FROM generate_series(1, 9) g;
});
$node->safe_psql('postgres', 'ALTER DATABASE postgres SET standard_conforming_strings = off')
  unless $ENV{W2Q_ATTACK_CONTROL};
my $cond = q{id::text <> '\'a' ) OR (true) OR (id::text <> 'x\''};
my $b = start_bridge($node, $r, '--slot', 'bf_scs', '--create-slot', '--tables', 'public.jobs',
	"--backfill=$cond", '--backfill-batch', '3', '--status-interval', '1');
sleep 10;
my $n = redis($r, 'XLEN', 'public.jobs');
my $refused = !$b->{h}->pumpable && bridge_log($b) =~ /invalid --backfill condition|syntax error/;
ok($refused || $n eq '9', 'the condition refused, or each of the 9 rows once')
  or diag("$n entries for 9 rows after 10 s\n"
	  . join("\n", grep { /backfill|ERROR/ } (split /\n/, bridge_log($b))[0 .. 12]));
ok($n <= 9, "at most 9 entries ($n)");
stop_bridge($b, 'KILL') if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
