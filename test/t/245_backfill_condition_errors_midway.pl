# Fixed (attack 245): a condition that errors on a row mid-table left a
# backfill that no command line could finish exactly once.  The condition
# is evaluated row by row, so "n::int > 0" passes page 1 and fails on page 2
# at a row whose n is not a number (exit 1); an unfinished backfill took a
# new condition only while it had delivered no row, the old one fails on
# the same row forever, and --backfill-again is not considered while the
# backfill is unfinished.  The fix: --backfill-continue goes on from the
# saved position with the command line's condition (recorded with the next
# page; the rows delivered stay): exactly once for the rest.  Without it a
# new condition is still refused, naming the flag; the flag without
# --backfill, or with --backfill-again, is a usage error (exit 2).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfcondmid');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, n text);
	INSERT INTO jobs SELECT g, CASE WHEN g = 5 THEN 'x' ELSE g::text END FROM generate_series(1, 9) g;
});
my @common = ('--slot', 's', '--create-slot', '--backfill-batch', '3', '--tables', 'public.jobs',
	'--status-interval', '1');
my $fixed = q{CASE WHEN n ~ '^[0-9]+$' THEN n::int > 0 END};
my $pkey = 'wal2queue:progress:s';

# bad use: exit 2, with a hint
my ($rc, $out) = run_bridge('-d', $node->connstr('postgres'), '--slot', 's', '--backfill-continue');
is($rc, 2, '--backfill-continue without --backfill: exit 2');
like($out, qr/--backfill-continue, .*need --backfill\n/, 'saying it needs --backfill');
($rc, $out) = run_bridge('-d', $node->connstr('postgres'), @common, '--backfill', '--backfill-continue',
	'--backfill-again=x');
is($rc, 2, '--backfill-continue with --backfill-again: exit 2');
like($out, qr/--backfill-continue and --backfill-again cannot be used together: --backfill-continue goes on/,
	'saying why');

my $br = start_bridge($node, $r, @common, '--backfill', 'n::int > 0');
ok(wait_until(sub { !$br->{h}->pumpable }, 30), 'the condition fails on page 2');
$br->{h}->finish;
like(bridge_log($br), qr/invalid input syntax for type integer/, 'named');
is(redis($r, 'HGET', $pkey, 'backfill_rows'), '3', 'page 1 was delivered');

# the corrected condition alone is refused, naming --backfill-continue
$br = start_bridge($node, $r, @common, '--backfill', $fixed);
ok(wait_until(sub { !$br->{h}->pumpable }, 30), 'a new condition alone is refused');
$br->{h}->finish;
is($br->{h}->full_result(0) >> 8, 1, 'exit 1');
like(bridge_log($br), qr/selects rows by "n::int > 0" \(3 rows delivered\), this command line by .*add --backfill-continue/,
	'naming --backfill-continue');

# with --backfill-continue: the rest, exactly once
$br = start_bridge($node, $r, @common, '--backfill', $fixed, '--backfill-continue');
ok(wait_until(sub { redis($r, 'HGET', $pkey, 'backfill_done') eq '1' || !$br->{h}->pumpable }, 30)
	  && redis($r, 'HGET', $pkey, 'backfill_done') eq '1',
	'the corrected condition finishes the backfill') or diag(bridge_log($br));
like(bridge_log($br), qr/goes on with a new condition \(--backfill-continue/, 'saying so');
is(redis($r, 'HGET', $pkey, 'backfill_condition'), $fixed, 'the new condition is recorded');
my %seen;
$seen{ $_->[1]{id} }++ for @{ stream_entries($r, 'public.jobs') };
is(join(',', sort { $a <=> $b } keys %seen), '1,2,3,4,6,7,8,9', 'rows 1-4 and 6-9');
is(scalar(grep { $_ != 1 } values %seen), 0, 'each once');
stop_bridge($br);

# the same command line again (a service manager): it just streams
$br = start_bridge($node, $r, @common, '--backfill', $fixed, '--backfill-continue');
ok(wait_until(sub { bridge_log($br) =~ /finished earlier/ || !$br->{h}->pumpable }, 30), 'a restart streams')
  or diag(bridge_log($br));
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (10, '10')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '9' }, 30), 'a new row streamed once');
stop_bridge($br);
stop_redis($r);
$node->stop;
done_testing();
