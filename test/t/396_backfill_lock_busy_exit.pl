# The backfill lock (bridge/backfill_lock.c): a second bridge without
# --standby that finds another bridge's backfill lock held waits 30 s, then
# exits 1 naming the slot; the lock dies with its holder, so a bridge
# started after the holder was killed with -9 takes it at once and
# finishes the backfill (the first one's slot, created before its first
# state, started over): every row once.  The message names the holder's
# state and the pg_terminate_backend() that ends a leftover (622), and the
# holder, not proven the second bridge's own, is left alone.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my ($k, $node) = kafka_backfill_servers('bflockbusy', 50);
my $bs = $k->{bootstrap};

my $slot = 'bf_lb';
my @cmd = ('--slot', $slot, '--create-slot', '--tables', 'public.jobs', '--sink', "kafka://$bs",
	'--backfill', '--backfill-batch=20');
my $a = start_paused_bridge($node, 'slot', 120, @cmd);
ok(wait_until(sub { bridge_log($a) =~ /paused at "slot"/ }, 60), 'the first bridge holds the lock, paused');
is($node->safe_psql('postgres', q{SELECT pg_try_advisory_lock(hashtext('wal2queue-backfill:' || 'bf_lb'))}),
	'f', 'the documented key is held');

my $b = start_bridge($node, undef, @cmd);
ok(wait_until(sub { !$b->{h}->pumpable }, 60), 'the second bridge gave up');
my $code = $b->{h}->pumpable ? -1 : (($b->{h}->finish, $b->{h}->full_result(0) >> 8)[1]);
is($code, 1, 'exit status 1');
like(bridge_log($b), qr/ERROR.*another bridge is backfilling slot "\Q$slot\E"/, 'naming the slot and the other bridge');
unlike(bridge_log($b), qr/dropping it|resuming the backfill/, 'it neither dropped nor resumed anything');
# 622: a holder it cannot prove its own is named, with what to check, and left alone
like(bridge_log($b), qr/ERROR.*held by PID (\d+) \(role \w+, application "[^"]*", idle for \d+ s, its last query a bridge's lock query\).*if no bridge with this command line runs, PID \1 is a leftover.*SELECT pg_terminate_backend\(\1\)/,
	'the message names the holder\'s state and the way to end a leftover');
is($node->safe_psql('postgres', q{SELECT pg_try_advisory_lock(hashtext('wal2queue-backfill:' || 'bf_lb'))}),
	'f', 'the first bridge still holds the lock');
ok($a->{h}->pumpable, 'the first bridge still runs');

stop_bridge($a, 'KILL');
my $c = start_bridge($node, undef, @cmd);
ok(wait_until(sub { bridge_log($c) =~ /backfill of slot "\Q$slot\E" done/ }, 60),
	'after a kill -9 of the holder the next bridge takes the lock and backfills')
  or diag(bridge_log($c));
unlike(bridge_log($c), qr/another bridge is backfilling/, 'without waiting');
$node->safe_psql('postgres', q{INSERT INTO jobs SELECT g, 'pending' FROM generate_series(51, 60) g});
my $seen = kafka_key_counts($bs, 'public.jobs', 60);
my @bad = grep { ($seen->{$_} // 0) != 1 } 1 .. 60;
ok(!@bad, 'rows 1..60 each once') or diag("not once: @bad[0 .. 9]");
stop_bridge($c, 'KILL');
stop_kafka_mock($k);
$node->stop;
done_testing();
