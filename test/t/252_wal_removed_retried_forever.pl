# Attack review 4: a slot whose WAL is gone was retried forever.  After
# pg_resetwal (the documented last resort after WAL corruption; likewise a
# file-level copy restored without its pg_wal segments) the slot survives with
# wal_status "reserved" but its restart_lsn points into removed WAL.
# The walsender ends the stream at once with "requested WAL segment ... has
# already been removed" (SQLSTATE 58P01); stream.c:copy_ended() treated
# every error that ends the copy as STREAM_RETRY, so the bridge reconnected
# with backoff forever (the restart_lsn pins every WAL segment written
# since: the disk fills).  README: exit 1 "on an error that waiting cannot
# cure (a missing or lost slot ...)", "A lost slot is said, not streamed
# around, with the command that recovers it".
# Fixed: copy_ended() classifies the SQLSTATE (pgerror.c:
# pgerror_classify_stream_end(), 58P01 permanent) and exits 1 naming the
# slot, the missing WAL and the recovery, which this test then follows:
# --drop-slot, then --create-slot --backfill --backfill-again=LABEL.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('resetwal');
my $r = start_redis();
$node->safe_psql('postgres', 'CREATE TABLE rj (id int PRIMARY KEY, src text)');
my $b = start_streaming_bridge($node, $r, '--slot', 'sr', '--create-slot', '--tables', 'public.rj',
	'--status-interval', '1');
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'before' FROM generate_series(1, 10) g");
ok(wait_until(sub { redis($r, 'XLEN', 'public.rj') eq '10' }, 30), 'first jobs delivered');
stop_bridge($b);
my $bindir = $node->config_data('--bindir');
while_stopped($node, "$bindir/pg_resetwal -f -D %D >/dev/null 2>&1", 'pg_resetwal');
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'after' FROM generate_series(11, 15) g");
$b = start_bridge($node, $r, '--slot', 'sr', '--tables', 'public.rj', '--status-interval', '1');
wait_until(sub { !$b->{h}->pumpable }, 30);
my $stopped = !$b->{h}->pumpable;
my $log = bridge_log($b);
my @tries = $log =~ /has already been removed/g;
diag("bridge " . ($stopped ? 'stopped' : 'runs') . " after " . scalar(@tries) . " attempts");
ok($stopped, 'the bridge stops on a slot whose WAL was removed');
$b->{h}->kill_kill if $b->{h}->pumpable;
$b->{h}->finish;
ok($stopped && $b->{h}->full_result(0) >> 8 == 1, 'exit 1');
is(scalar(@tries), 1, 'at the first attempt');
like($log, qr/ERROR: replication stream ended: requested WAL segment \S+ has already been removed: slot "sr" needs WAL the server no longer has .*wal_status "reserved".*hint: drop it \(--drop-slot\), then start once with --create-slot --backfill=<condition> --backfill-again=<label> \(at least once; docs\/operations\.md, "A slot whose WAL was removed"\)/,
	'naming the slot, the missing WAL and the recovery');

# the recovery the hint gives
my @base = ('-d', $node->connstr('postgres'), '--sink', "redis://127.0.0.1:$r->{port}",
	'--slot', 'sr', '--tables', 'public.rj');
my ($rc, $out) = run_bridge(@base, '--drop-slot');
is($rc, 0, '--drop-slot');
$b = start_bridge($node, undef, @base, '--create-slot', '--backfill', 'true', '--backfill-again=resetwal',
	'--status-interval', '1');
ok(wait_until(sub { redis($r, 'HGET', 'wal2queue:progress:sr', 'backfill_done') eq '1' }, 60),
	'the new slot is backfilled');
$node->safe_psql('postgres', "INSERT INTO rj VALUES (16, 'streamed')");
ok(wait_until(sub { grep { $_->[1]{id} eq '16' } @{ stream_entries($r, 'public.rj') } }, 30),
	'and streams');
my %n;
$n{ $_->[1]{id} }++ for @{ stream_entries($r, 'public.rj') };
is(scalar(grep { $n{$_} } 1 .. 16), 16, 'every row delivered, those committed after pg_resetwal included');
is($n{16}, 1, 'a row committed after the recovery: once');
is(stop_bridge($b) >> 8, 0, 'stopped');
stop_redis($r);
$node->stop;
done_testing();
