# Attack review 4: a slot whose WAL is gone is retried forever.  After
# pg_resetwal (the documented last resort after WAL corruption; likewise a
# file-level copy restored without its pg_wal segments) the slot survives with
# wal_status "reserved" but its restart_lsn points into removed WAL.
# START_REPLICATION fails at once with "requested WAL segment ... has already
# been removed" (SQLSTATE 58P01); stream.c:copy_ended() treats every error
# that ends the copy as STREAM_RETRY, so the bridge reconnects with backoff
# forever (the restart_lsn pins every WAL segment written since: the disk
# fills).  README: exit 1 "on an error that waiting cannot cure (a missing or
# lost slot ...)", "A lost slot is said, not streamed around, with the command
# that recovers it".  Expected: exit 1 naming the missing WAL.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('resetwal');
my $r = start_redis();
$node->safe_psql('postgres', 'CREATE TABLE rj (id int PRIMARY KEY, src text)');
my $b = start_bridge($node, $r, '--slot', 'sr', '--create-slot', '--tables', 'public.rj',
	'--status-interval', '1');
wait_until(sub { bridge_log($b) =~ /streaming slot/ }, 30);
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'before' FROM generate_series(1, 10) g");
ok(wait_until(sub { redis($r, 'XLEN', 'public.rj') eq '10' }, 30), 'first jobs delivered');
stop_bridge($b);
$node->stop('fast');
my $bindir = $node->config_data('--bindir');
system("$bindir/pg_resetwal -f -D " . $node->data_dir . " >/dev/null 2>&1") == 0 or die "pg_resetwal failed";
$node->start;
$b = start_bridge($node, $r, '--slot', 'sr', '--tables', 'public.rj', '--status-interval', '1');
wait_until(sub { !$b->{h}->pumpable }, 30);
my $stopped = !$b->{h}->pumpable;
my $log = bridge_log($b);
my @tries = $log =~ /has already been removed/g;
diag("bridge " . ($stopped ? 'stopped' : 'runs') . " after " . scalar(@tries) . " attempts");
ok($stopped, 'the bridge stops on a slot whose WAL was removed');
$b->{h}->kill_kill if $b->{h}->pumpable;
ok($stopped && $b->{h}->full_result(0) >> 8 == 1, 'exit 1');
stop_redis($r);
$node->stop;
done_testing();
