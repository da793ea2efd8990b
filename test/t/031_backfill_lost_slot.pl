# --recreate-lost-slot: a slot lost to max_slot_wal_keep_size is dropped,
# created again with an exported snapshot and backfilled (at least once: the
# rows the table still holds come again), the sink's record is taken over,
# and what is committed afterwards streams exactly once.  Without the flag
# the error prints the command line that recovers.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bflost', conf => "max_slot_wal_keep_size = 1MB\nwal_keep_size = 0\n");
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, status text NOT NULL, pad text);
	INSERT INTO jobs SELECT g, CASE WHEN g % 2 = 0 THEN 'pending' ELSE 'done' END, 'x'
	  FROM generate_series(1, 100) g;
});
my @cmd = ('--slot', 'jobs', '--create-slot', '--backfill', "status = 'pending'",
	'--tables', 'public.jobs', '--status-interval', '1');
my $b = start_bridge($node, $r, @cmd);
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '50' }), 'backfilled the 50 pending rows');
stop_bridge($b);

# the slot falls behind by more than max_slot_wal_keep_size and is lost
for my $i (1 .. 4)
{
	$node->safe_psql('postgres', "INSERT INTO jobs SELECT g, 'done', repeat('y', 1000) FROM generate_series($i * 10000, $i * 10000 + 999) g");
	$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
}
ok(wait_until(sub {
		$node->safe_psql('postgres', 'CHECKPOINT');
		$node->safe_psql('postgres', "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'jobs'") eq 'lost'
	}, 30), 'the slot is lost');

my @run = ('-d', $node->connstr('postgres'), '--sink', "redis://127.0.0.1:$r->{port}", @cmd);
my ($code, $out) = run_bridge(@run);
is($code, 1, 'a lost slot with --backfill but without --recreate-lost-slot: exit 1');
like($out, qr/replication slot "jobs" is lost.*hint: \S*wal2queue-bridge .*--backfill .*--recreate-lost-slot re-creates it/,
	'the error prints the command that recovers');

$node->safe_psql('postgres', "INSERT INTO jobs VALUES (1000001, 'pending', 'while lost')");
$b = start_bridge($node, $r, @cmd, '--recreate-lost-slot');
ok(wait_until(sub { redis($r, 'HGET', 'wal2queue:progress:jobs', 'backfill_done') eq '1' }, 60),
	'the new slot is backfilled');
$node->safe_psql('postgres', "INSERT INTO jobs VALUES (1000002, 'pending', 'after')");
ok(wait_until(sub { grep { $_->[1]{id} eq '1000002' } @{ stream_entries($r, 'public.jobs') } }, 30),
	'and streams');
sleep 1;
my %n;
$n{ $_->[1]{id} }++ for @{ stream_entries($r, 'public.jobs') };
is(scalar(grep { $_ % 2 == 0 && $n{$_} } 1 .. 100), 50, 'every pending row delivered');
is($n{1000001}, 1, 'a job committed while the slot was lost: delivered by the backfill');
is($n{1000002}, 1, 'a job committed after: streamed once');
ok(scalar(grep { $_ % 2 == 0 && $n{$_} == 2 } 1 .. 100) == 50,
	'rows the old slot delivered come again (at least once, documented)');
like(bridge_log($b), qr/is lost: dropping it/, 'the log says the slot was re-created');
is(stop_bridge($b) >> 8, 0, 'stopped');

# the same command line once more: the backfill is done, it streams
$b = start_bridge($node, $r, @cmd, '--recreate-lost-slot');
ok(wait_until(sub { bridge_log($b) =~ /finished earlier/ }, 30), 'the same command line then just streams');
stop_bridge($b);

# the slot dropped (an operator, a rollback): the same command line, even
# with --recreate-lost-slot, does not create it again by itself; only
# --backfill-again re-delivers (at least once)
($code, $out) = run_bridge('-d', $node->connstr('postgres'), '--slot', 'jobs', '--drop-slot');
is($code, 0, '--drop-slot');
my $len = redis($r, 'XLEN', 'public.jobs');
($code, $out) = run_bridge(@run, '--recreate-lost-slot');
is($code, 1, 'a dropped slot whose record redis holds: exit 1');
like($out, qr/replication slot "jobs" does not exist but redis holds its record from this server \(backfill done.*delivered up to [0-9A-F]+\/[0-9A-F]+\).*--backfill-again/,
	'naming what happened and the explicit way') or diag($out);
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'jobs'"), '0',
	'no slot created');
is(redis($r, 'XLEN', 'public.jobs'), $len, 'nothing written');
$b = start_bridge($node, $r, @cmd, '--backfill-again');
ok(wait_until(sub { bridge_log($b) =~ /backfill of slot "jobs" done/ }, 30), '--backfill-again: backfilled again')
  or diag(bridge_log($b));
is(redis($r, 'XLEN', 'public.jobs'), $len + 52, 'the 52 pending rows once more (at least once)');
stop_bridge($b);

# a condition the server refuses: exit 2 naming the table and the error,
# before anything is created (backfill_check.c, test/t/371); corrected, the
# backfill runs
my @typo = ('-d', $node->connstr('postgres'), '--sink', "redis://127.0.0.1:$r->{port}",
	'--slot', 'typo', '--create-slot', '--tables', 'public.jobs', '--target-prefix', 't:');
($code, $out) = run_bridge(@typo, '--backfill', "statu = 'pending'");
is($code, 2, 'a condition that fails: exit 2, a usage error');
like($out, qr/invalid --backfill condition "statu = 'pending'" for table public\.jobs: .*statu/,
	'the error names the table and the cause');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'typo'}),
	'0', 'and no slot was created');
$b = start_bridge($node, $r, @typo[4 .. $#typo], '--backfill', "status = 'pending'");
ok(wait_until(sub { redis($r, 'HGET', 't:wal2queue:progress:typo', 'backfill_done') eq '1' }, 30),
	'corrected, the backfill runs');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
