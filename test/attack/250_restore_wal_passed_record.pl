# Attack review 4: a server rolled back to a file-level copy (same system
# identifier, same timeline 1, same slot) is refused by
# test/t/204_restore_same_timeline.pl only while its WAL ends below the
# Redis progress record.  An application that keeps running on the restored
# server for a while (or one pg_switch_wal(), a checkpoint timeout, any WAL
# of other tables) moves the WAL end past the record before the bridge is
# started again: IDENTIFY_SYSTEM's xlogpos is then past the record, the
# check in redis_progress.c:progress_on_deliver() passes, and the restored
# server's new jobs committed at LSNs at or below the record are taken by
# the deliver function for "delivered before" and silently skipped (the slot
# confirms them).  README "A server that lacks what the sink holds is
# refused" is false here.  Expected: the 10 jobs of the restored server are
# delivered, or the bridge stops loudly.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('restore_passed');
my $r = start_redis();
$node->safe_psql('postgres', 'CREATE TABLE rj (id int PRIMARY KEY, src text)');
$node->safe_psql('postgres', 'CREATE TABLE other (id int, pad text)');
my $b = start_bridge($node, $r, '--slot', 'sr', '--create-slot', '--tables', 'public.rj',
	'--status-interval', '1');
wait_until(sub { bridge_log($b) =~ /streaming slot/ }, 30);
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'before' FROM generate_series(1, 10) g");
ok(wait_until(sub { redis($r, 'XLEN', 'public.rj') eq '10' }, 30), 'first jobs delivered') or diag(bridge_log($b));
stop_bridge($b);

# a cold file-level copy of the server (slot included)
$node->stop('fast');
my $data = $node->data_dir;
system("cp -a $data $data.snap") == 0 or die "copy failed";
$node->start;
$b = start_bridge($node, $r, '--slot', 'sr', '--tables', 'public.rj', '--status-interval', '1');
wait_until(sub { bridge_log($b) =~ /streaming slot/ }, 30);
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'after snapshot' FROM generate_series(11, 2000) g");
ok(wait_until(sub { redis($r, 'XLEN', 'public.rj') eq '2000' }, 60), 'more jobs delivered on the original');
stop_bridge($b);
my $record = redis($r, 'HGET', 'wal2queue:progress:sr', 'lsn');

# the original is rolled back to the copy; the application goes on: its
# jobs, then more WAL of another table (or a segment switch) before the
# bridge is started again
$node->stop('fast');
system("rm -rf $data && mv $data.snap $data") == 0 or die "swap failed";
$node->start;
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'restored' FROM generate_series(11, 20) g");
$node->safe_psql('postgres', "INSERT INTO other SELECT g, repeat('x', 200) FROM generate_series(1, 5000) g");
my $walend = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok($node->safe_psql('postgres', "SELECT '$walend'::pg_lsn > '$record'::pg_lsn") eq 't',
	"the restored server's WAL ($walend) passed the record ($record)");
$b = start_bridge($node, $r, '--slot', 'sr', '--tables', 'public.rj', '--status-interval', '1');
wait_until(sub { !$b->{h}->pumpable || redis($r, 'XLEN', 'public.rj') eq '2010' }, 20);
# give it time to confirm what it skipped
sleep 3;
my $stopped = !$b->{h}->pumpable;
my $len = redis($r, 'XLEN', 'public.rj');
diag("bridge " . ($stopped ? 'stopped' : 'runs') . ", stream holds $len"
	. ", record " . redis($r, 'HGET', 'wal2queue:progress:sr', 'lsn')
	. ", slot confirmed " . slot_confirmed($node, 'sr'));
ok($stopped || $len eq '2010', 'the 10 jobs of the restored server are delivered, or the bridge stops loudly');
$b->{h}->kill_kill if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
