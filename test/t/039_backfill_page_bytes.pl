# --backfill-page-bytes: a page of large rows is cut into several atomic
# sink calls, each at most that many bytes of rows (one row larger than it
# alone), each recording its last key.  Before it a page of
# --backfill-batch rows went into one call whatever its size, beyond what
# Redis may take in one command (proto-max-bulk-len, its memory).  Proved
# by Redis' SLOWLOG of every call (slowlog-log-slower-than 0): the entry
# count of each backfill FCALL, and every row once.  A call that fails
# mid-page (row 20 routes into a key holding a string) leaves the rows of
# the calls before it recorded, up to the key of their last row, and the
# restart goes on from there: every row once.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfpagebytes');
my $r = start_redis(args => [ '--slowlog-log-slower-than', '0', '--slowlog-max-len', '10000' ]);
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, payload text, queue text);
	INSERT INTO jobs SELECT g, repeat(chr(97 + g % 26), 5000), CASE WHEN g = 20 THEN 'bad' ELSE 'q' END
	  FROM generate_series(1, 40) g;
	INSERT INTO jobs VALUES (41, repeat('z', 40000), 'q');
	INSERT INTO jobs SELECT g, 'small', 'q' FROM generate_series(42, 60) g;
});

my ($rc, $out) = run_bridge('-d', $node->connstr('postgres'), '--slot', 's', '--create-slot',
	'--backfill', '--backfill-page-bytes', '10');
is($rc, 2, 'a page size below 1kB: exit 2');
like($out, qr/invalid value "10" for --backfill-page-bytes \(bytes from 1024 to \d+, optionally in kB, MB or GB, e\.g\. 16MB\)/,
	'naming the range and units');

my @cmd = ('--slot', 's', '--create-slot', '--backfill', '--backfill-batch', '100',
	'--backfill-page-bytes', '16kB', '--tables', 'public.jobs', '--route-column', 'queue',
	'--status-interval', '1');
redis($r, 'SET', 'bad', 'a string');
my $br = start_bridge($node, $r, @cmd);
ok(wait_until(sub { !$br->{h}->pumpable }, 30), 'the first run stops at the call with row 20');
$br->{h}->finish;
like(bridge_log($br), qr/"bad" holds a string, not a stream/, 'named');
is(redis($r, 'HGET', 'wal2queue:progress:s', 'backfill_rows'), '18', 'the calls before it are recorded (rows 1-18)');
is(redis($r, 'HGET', 'wal2queue:progress:s', 'backfill_key'), '["18"]', 'with the key of their last row');
redis($r, 'DEL', 'bad');
$br = start_bridge($node, $r, @cmd);
ok(wait_until(sub { redis($r, 'HGET', 'wal2queue:progress:s', 'backfill_done') eq '1' || !$br->{h}->pumpable }, 30),
	'the backfill is done') or diag(bridge_log($br));
stop_bridge($br);

my %seen;
$seen{ $_->[1]{id} }++ for @{ stream_entries($r, 'q') }, @{ stream_entries($r, 'bad') };
is(scalar(keys %seen), 60, 'every row');
is(scalar(grep { $_ != 1 } values %seen), 0, 'each once');

# each FCALL wal2queue_backfill4: args FCALL name 1 key ARGV[1..]; ARGV[23]
# is its entry count
my $log = redis_json($r, 'SLOWLOG', 'GET', '10000');
my @calls = map { $_->[3][26] } grep { $_->[3][0] =~ /^fcall$/i && $_->[3][1] eq 'wal2queue_backfill4' } @$log;
my @rows = reverse grep { $_ > 0 } @calls;    # SLOWLOG: newest first
note("entries per call: @rows");
ok(@rows >= 15, 'a page of 60 rows went in ' . scalar(@rows) . ' calls');
ok(!(grep { $_ > 3 } @rows[0 .. 12]), 'at most 3 rows of 5 kB in a call of 16 kB');
ok((grep { $_ == 1 } @rows), 'the 40 kB row alone');
ok((grep { $_ == 19 } @rows), 'the 19 small rows in one call');
is(redis($r, 'HGET', 'wal2queue:progress:s', 'backfill_rows'), '60', '60 rows recorded');
stop_redis($r);
$node->stop;
done_testing();
