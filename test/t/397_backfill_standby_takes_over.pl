# The backfill lock's --standby path (bridge/backfill_lock.c): bridge A
# backfills and is held mid-backfill by the test hook (Redis: its first
# page recorded; Kafka: half of its first page acknowledged, its state
# not written); bridge B, the same command line plus --standby, logs that
# another bridge is backfilling and keeps waiting well past the 30 s after
# which a bridge without --standby gives up (test/t/396); A is killed
# with -9, B takes the lock, resumes the backfill where the sink says A
# stopped, finishes it and streams: every row exactly once, for Redis and
# Kafka.  (--backfill with --standby was a usage error before.)
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $r = start_redis();
my $k = start_kafka_mock(1);
my $bs = $k->{bootstrap};
my $node = new_node('bfstandby');
$node->safe_psql('postgres', q{
	CREATE TABLE rjobs (id bigint PRIMARY KEY, status text NOT NULL);
	INSERT INTO rjobs SELECT g, 'pending' FROM generate_series(1, 100) g;
	CREATE TABLE kjobs (id bigint PRIMARY KEY, status text NOT NULL);
	INSERT INTO kjobs SELECT g, 'pending' FROM generate_series(1, 100) g;
});

my @rcmd = ('--slot', 'bf_sb_r', '--create-slot', '--tables', 'public.rjobs', '--backfill',
	'--backfill-batch=20', '--status-interval', '1');
my @kcmd = ('--slot', 'bf_sb_k', '--create-slot', '--tables', 'public.kjobs', '--sink', "kafka://$bs",
	'--backfill', '--backfill-batch=20', '--status-interval', '1');

# A: held by the test hook while it holds the backfill lock
local $ENV{W2Q_TEST_BACKFILL_PAUSE_SECONDS} = 300;
local $ENV{W2Q_TEST_BACKFILL_PAUSE} = 'first-page';
my $ra = start_bridge($node, $r, @rcmd);
$ENV{W2Q_TEST_BACKFILL_PAUSE} = 'page-half';
my $ka = start_bridge($node, undef, @kcmd);
delete $ENV{W2Q_TEST_BACKFILL_PAUSE};
delete $ENV{W2Q_TEST_BACKFILL_PAUSE_SECONDS};
ok(wait_until(sub { bridge_log($ra) =~ /paused at "first-page"/ }, 60), 'redis: A paused after its first page')
  or diag(bridge_log($ra));
ok(wait_until(sub { bridge_log($ka) =~ /paused at "page-half"/ }, 60), 'kafka: A paused in the middle of a page')
  or diag(bridge_log($ka));
is(redis($r, 'HGET', 'wal2queue:progress:bf_sb_r', 'backfill_rows'), '20', 'redis: A recorded one page');

# B: the same command lines plus --standby
my $rb = start_bridge($node, $r, @rcmd, '--standby');
my $kb = start_bridge($node, undef, @kcmd, '--standby');
my $waiting = qr/another bridge is backfilling slot "bf_sb_[rk]" \(it holds the advisory lock [^)]*\)\): waiting for it\n/;
ok(wait_until(sub { bridge_log($rb) =~ $waiting && bridge_log($kb) =~ $waiting }, 30),
	'both B log that another bridge is backfilling') or diag(bridge_log($rb) . bridge_log($kb));
sleep 36;
ok($rb->{h}->pumpable, 'redis: B still waits after 36 s (no --standby gives up after 30)')
  or diag(bridge_log($rb));
ok($kb->{h}->pumpable, 'kafka: B still waits after 36 s') or diag(bridge_log($kb));
for my $b ($rb, $kb)
{
	unlike(bridge_log($b), qr/ERROR|resuming the backfill|dropping it/, 'B neither failed, resumed nor dropped');
}
is(redis($r, 'HGET', 'wal2queue:progress:bf_sb_r', 'backfill_rows'), '20', 'redis: B wrote nothing meanwhile');

# A dies mid-backfill: B takes over
stop_bridge($ra, 'KILL');
stop_bridge($ka, 'KILL');
for my $x ([ 'redis', $rb, 'bf_sb_r' ], [ 'kafka', $kb, 'bf_sb_k' ])
{
	my ($name, $b, $slot) = @$x;
	ok(wait_until(sub { bridge_log($b) =~ /backfill of slot "$slot" done: 100 rows/ || !$b->{h}->pumpable }, 90)
		  && $b->{h}->pumpable, "$name: B finished the backfill") or diag(bridge_log($b));
	like(bridge_log($b), qr/the other bridge's backfill of slot "$slot" ended: going on/, "$name: B took the lock");
	like(bridge_log($b), qr/resuming the backfill of slot "$slot"/, "$name: B resumed A's backfill");
}

# then B streams
$node->safe_psql('postgres', q{
	INSERT INTO rjobs SELECT g, 'new' FROM generate_series(101, 110) g;
	INSERT INTO kjobs SELECT g, 'new' FROM generate_series(101, 110) g;
});
my $rseen;
ok(wait_until(sub { $rseen = W2QTest::field_counts($r, 'id', 'public.rjobs'); ($rseen->{110} // 0) >= 1 }, 60),
	'redis: B streams the rows inserted after');
my @rbad = grep { ($rseen->{$_} // 0) != 1 } 1 .. 110;
ok(!@rbad, 'redis: rows 1..110 each once') or diag("not once: @rbad[0 .. ($#rbad < 9 ? $#rbad : 9)]");

my %kseen;
my $out;
wait_until(sub {
	my $err = '';
	$out = '';
	IPC::Run::run([ 'kcat', '-b', $bs, '-C', '-t', 'public.kjobs', '-o', 'beginning', '-e', '-q', '-f', '%k\n' ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(60));
	# every row, not only the last: the topic's partitions are read to
	# their ends one by one, and a row of another partition may land later
	my %has = map { $_ => 1 } grep { /\S/ } split /\n/, $out;
	!grep { !$has{$_} } 1 .. 110;
}, 60);
$kseen{$_}++ for grep { /\S/ } split /\n/, $out;
my @kbad = grep { ($kseen{$_} // 0) != 1 } 1 .. 110;
ok(!@kbad, 'kafka: rows 1..110 each once') or diag("not once: @kbad[0 .. ($#kbad < 9 ? $#kbad : 9)]");

stop_bridge($rb);
stop_bridge($kb);
stop_kafka_mock($k);
stop_redis($r);
$node->stop;
done_testing();
