# The backfill's creation marker (bridge/backfill.c mark_creating) is
# recorded before CREATE_REPLICATION_SLOT; when that creation then fails
# for good (bridge/backfill_marker.c), with Redis:
# - max_replication_slots reached: exit 1 naming the server's error, "no
#   slot was created", and the marker removed again (the progress record
#   it created is gone); once a slot is free the same command line
#   backfills, every row once;
# - the name taken by another client between the marker and the creation
#   (a test_decoding slot): exit 1 saying so, the marker removed, and the
#   same command line then refuses the slot as one with no backfill
#   (it used to keep the marker, take the slot for the one the marker was
#   for and try to drop it, which stream_drop_slot refused for another
#   plugin's slot);
# - a marker left by a bridge killed before it created the slot: a start
#   without --backfill is refused saying the backfill was never started,
#   naming the command line with --backfill and the exact redis-cli command
#   that removes the marker; after that command the start streams;
# - a marker that replaced a record with a streamed position (a
#   --backfill-again on a dropped slot): left, with the HDEL that removes
#   it; once a slot is free the same command line backfills.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $r = start_redis();
my $node = new_node('bfmarkfail', conf => "max_replication_slots = 3\n");
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id bigint PRIMARY KEY, status text NOT NULL);
	INSERT INTO jobs SELECT g, 'pending' FROM generate_series(1, 20) g;
	SELECT pg_create_logical_replication_slot('filler' || g, 'test_decoding') FROM generate_series(1, 3) g;
});
my $sink = "redis://127.0.0.1:$r->{port}";
my @base = ('-d', $node->connstr('postgres'), '--sink', $sink, '--tables', 'public.jobs', '--create-slot',
	'--status-interval', '1');
sub cmd { my ($slot) = @_; return (@base, '--slot', $slot, '--target-prefix', "$slot:", '--backfill') }
sub slots { return $node->safe_psql('postgres', 'SELECT string_agg(slot_name || \'/\' || plugin, \' \' ORDER BY 1) FROM pg_replication_slots') }

# 1. every slot in use
my ($code, $out) = run_bridge(cmd('s'));
is($code, 1, 'slots full: exit 1');
like($out, qr/ERROR.*could not create replication slot "s" for the backfill: [^\n]*all replication slots are in use[^\n]*; no slot was created; the creation marker this run recorded in redis was removed again: nothing of this backfill is left behind/,
	'it names the cause, that no slot was created and that the marker was removed') or diag($out);
is(redis($r, 'EXISTS', 's:wal2queue:progress:s'), '0', 'nothing is left in redis');
is(slots(), 'filler1/test_decoding filler2/test_decoding filler3/test_decoding', 'no slot was created');

$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('filler1')});
my $br = start_bridge($node, undef, cmd('s'));
ok(wait_until(sub { bridge_log($br) =~ /backfill of slot "s" done: 20 rows/ || !$br->{h}->pumpable }, 60),
	'once a slot is free the same command line backfills') or diag(bridge_log($br));
$node->safe_psql('postgres', q{INSERT INTO jobs SELECT g, 'new' FROM generate_series(21, 25) g});
my $seen;
ok(wait_until(sub { $seen = W2QTest::field_counts($r, 'id', 's:public.jobs'); ($seen->{25} // 0) >= 1 }, 60),
	'and streams');
my @bad = grep { ($seen->{$_} // 0) != 1 } 1 .. 25;
ok(!@bad, 'rows 1..25 each once') or diag("not once: @bad");
stop_bridge($br);

# 2. the name taken between the marker and the creation
$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('filler2')});
{
	local $ENV{W2Q_TEST_BACKFILL_PAUSE} = 'marker';
	local $ENV{W2Q_TEST_BACKFILL_PAUSE_SECONDS} = 4;
	$br = start_bridge($node, undef, cmd('t'));
}
ok(wait_until(sub { bridge_log($br) =~ /paused at "marker"/ }, 30), 'the bridge recorded the marker');
is(redis($r, 'HGET', 't:wal2queue:progress:t', 'backfill_lsn'), '0/0', 'the marker is in redis');
$node->safe_psql('postgres', q{SELECT pg_create_logical_replication_slot('t', 'test_decoding')});
ok(wait_until(sub { !$br->{h}->pumpable }, 30), 'the bridge stopped');
$br->{h}->finish;
is($br->{h}->full_result(0) >> 8, 1, 'exit 1');
like(bridge_log($br), qr/could not create replication slot "t" for the backfill: [^\n]*already exists[^\n]*; a slot of that name was created meanwhile by another client \(plugin test_decoding\): it is not this backfill's and the bridge leaves it alone; the creation marker this run recorded in redis was removed again/,
	'it says the name was taken by another client and the marker removed') or diag(bridge_log($br));
is(redis($r, 'EXISTS', 't:wal2queue:progress:t'), '0', 'nothing is left in redis');
($code, $out) = run_bridge(cmd('t'));
is($code, 1, 'the same command line: exit 1');
like($out, qr/replication slot "t" exists and redis holds no backfill of it/, 'refusing the slot as not its own')
  or diag($out);
like(slots(), qr{\bt/test_decoding\b}, 'the other client\'s slot is left alone');

# 3. a marker and no slot: a start without --backfill
$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('t')});
{
	local $ENV{W2Q_TEST_BACKFILL_PAUSE} = 'marker';
	local $ENV{W2Q_TEST_BACKFILL_PAUSE_SECONDS} = 60;
	$br = start_bridge($node, undef, cmd('u'));
}
ok(wait_until(sub { bridge_log($br) =~ /paused at "marker"/ }, 30), 'a bridge recorded the marker');
stop_bridge($br, 'KILL');
my @plain = grep { $_ ne '--backfill' } cmd('u');
($code, $out) = run_bridge(@plain);
is($code, 1, 'a start without --backfill: exit 1');
like($out, qr/the backfill of replication slot "u" was never started: redis holds its creation marker \(condition "", no row delivered\) but the slot was not created/,
	'it says the backfill was never started and why') or diag($out);
like($out, qr/either start the backfill with: \S*wal2queue-bridge .*--slot u .*--backfill;/, 'naming the command line with --backfill');
my ($rm) = $out =~ /give it up by removing the marker with: (redis-cli [^\n]*)$/m;
is($rm, "redis-cli -h 127.0.0.1 -p $r->{port} DEL 'u:wal2queue:progress:u'", 'and the exact redis-cli command');
IPC::Run::run([ 'sh', '-c', $rm ], '>', \my $o, '2>&1');
is(redis($r, 'EXISTS', 'u:wal2queue:progress:u'), '0', 'the command removes the marker');
$br = start_bridge($node, undef, @plain);
ok(wait_until(sub { bridge_log($br) =~ /created replication slot "u"/ || !$br->{h}->pumpable }, 30)
	  && $br->{h}->pumpable, 'then the start without --backfill streams') or diag(bridge_log($br));
stop_bridge($br);

# 4. a record with a streamed position (slot s, dropped): the marker of a
# --backfill-again cannot be removed with the record; the error names the
# HDEL of the backfill fields, and the command line works once a slot is free
($code, $out) = run_bridge('-d', $node->connstr('postgres'), '--slot', 's', '--drop-slot');
is($code, 0, 's dropped');
$node->safe_psql('postgres', q{SELECT pg_create_logical_replication_slot('filler4', 'test_decoding')});
($code, $out) = run_bridge(cmd('s'), '--backfill-again=again1');
is($code, 1, 'slots full, --backfill-again: exit 1');
like($out, qr/no slot was created; the creation marker this run recorded is left in redis: the same command line creates the slot and backfills once a slot can be created, and a start without --backfill refuses it until then; to give the backfill up remove it with: redis-cli -h 127\.0\.0\.1 -p $r->{port} HDEL 's:wal2queue:progress:s' backfill_lsn backfill_seq backfill_rows backfill_done backfill_snapshot backfill_condition backfill_table backfill_key backfill_storage backfill_label backfill_keydef backfill_table_oid backfill_tables_done$/m,
	'the marker is left, with the HDEL that removes it') or diag($out);
ok(redis($r, 'HGET', 's:wal2queue:progress:s', 'lsn') ne '0/0', 'the record keeps its streamed position');
$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('filler4')});
$br = start_bridge($node, undef, cmd('s'), '--backfill-again=again1');
ok(wait_until(sub { bridge_log($br) =~ /backfill of slot "s" done: 25 rows/ || !$br->{h}->pumpable }, 60),
	'once a slot is free the same command line backfills again') or diag(bridge_log($br));
$seen = W2QTest::field_counts($r, 'id', 's:public.jobs');
@bad = grep { ($seen->{$_} // 0) != 2 } 1 .. 25;
ok(!@bad, 'rows 1..25 twice (--backfill-again: at least once)') or diag("not twice: @bad");
stop_bridge($br);

stop_redis($r);
$node->stop;
done_testing();
