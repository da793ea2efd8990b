# Attack review 4: exactly once into Kafka broke when --key-column changed
# between two runs of one slot.  Marks are per partition and a job's
# partition is murmur2(key); the key comes from the plugin's key-column
# option, recorded nowhere.  A bridge killed after delivering a
# transaction, PostgreSQL crashed (PG 15 saves confirmed_flush_lsn only
# with the slot: the slot replays it), the service restarted with
# --key-column: the replayed jobs hashed to partitions whose marks were
# behind them and were written a second time (8 of 40).
# Fix (bridge/kafka_record.c): the position record carries the shape of the
# jobs (plugin, key column, route column, target prefix, header "shape").
# A session whose slot begins below the record with another shape stops
# with exit 1 naming both and the ways out; with the old options the replay
# is exactly once; once the slot has passed the record the new shape is
# accepted and recorded.  --accept-new-source takes the duplicates.
use strict;
use warnings;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $k = start_kafka_mock();
my $bootstrap = $k->{bootstrap};
ok(kafka_mock_cmd($k, 'create public.jobs 8'), 'topic public.jobs, 8 partitions');

sub consume
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bootstrap, '-C', '-t', 'public.jobs', '-o', 'beginning', '-e', '-J', '-q' ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(60));
	return [ map { decode_json($_) } grep { /^\{/ } split /\n/, $out ];
}

my $node = new_node('keycol');
$node->safe_psql('postgres', 'CREATE TABLE jobs (id int PRIMARY KEY, v text NOT NULL)');
my @args = ('--slot', 'pgo', '--tables', 'public.jobs', '--sink', "kafka://$bootstrap", '--status-interval', '1');
my $b = start_bridge($node, undef, @args, '--create-slot');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "pgo"/ }), 'streaming') or diag(bridge_log($b));
my $start = slot_confirmed($node, 'pgo');
$node->safe_psql('postgres', q{INSERT INTO jobs SELECT g, 'v' || g FROM generate_series(1, 40) g});
ok(wait_until(sub { scalar(@{ consume() }) == 40 }, 60), 'the 40 jobs are in Kafka') or diag(bridge_log($b));
sleep 2;						# the position record written
$b->{h}->signal('KILL');
$b->{h}->finish;
$node->stop('immediate');
$node->start;
is(slot_confirmed($node, 'pgo'), $start, 'after a PostgreSQL crash the slot replays the delivered transaction');

# the service comes back with a new keying: refused
$b = start_bridge($node, undef, @args, '--key-column', 'v');
ok(wait_until(sub { !$b->{h}->pumpable }, 30), 'the bridge with --key-column stops by itself') or diag(bridge_log($b));
is(stop_bridge($b) >> 8, 1, 'with exit 1');
like(bridge_log($b), qr/ERROR: slot "pgo" replays from \Q$start\E transactions delivered up to [0-9A-F\/]+ with "plugin=wal2queue key-column= route-column= target-prefix=", but this bridge runs with "plugin=wal2queue key-column=v route-column= target-prefix=": .* restart with the old options until the slot has passed [0-9A-F\/]+, or accept the duplicates with --accept-new-source/,
	'naming both shapes and the ways out') or diag(bridge_log($b));
is(scalar(@{ consume() }), 40, 'nothing written twice');
is(slot_confirmed($node, 'pgo'), $start, 'nothing confirmed');

# the old options: the replay is skipped by the marks
my $end = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
$b = start_bridge($node, undef, @args);
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = 'pgo'") eq 't' }, 60),
	'with the old options the replay is confirmed') or diag(bridge_log($b));
sleep 2;
is(stop_bridge($b) >> 8, 0, 'the bridge stops');
is(scalar(@{ consume() }), 40, 'every job exactly once');

# past the record: the new keying is accepted and recorded
$b = start_bridge($node, undef, @args, '--key-column', 'v');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "pgo"/ }), 'the bridge with --key-column streams')
	or diag(bridge_log($b));
$node->safe_psql('postgres', q{INSERT INTO jobs SELECT g, 'w' || g FROM generate_series(41, 50) g});
ok(wait_until(sub { scalar(@{ consume() }) == 50 }, 60), 'its jobs arrive') or diag(bridge_log($b));
my @new = grep { decode_json($_->{payload})->{id} > 40 } @{ consume() };
is(scalar(grep { $_->{key} eq decode_json($_->{payload})->{v} } @new), 10, 'keyed by v');
like(bridge_log($b), qr/slot "pgo": jobs are keyed and routed as "plugin=wal2queue key-column=v route-column= target-prefix=" from/,
	'the new shape is logged') or diag(bridge_log($b));
stop_bridge($b);

# a crash again, then the old keying with --accept-new-source: duplicates taken
$node->stop('immediate');
$node->start;
my $at = slot_confirmed($node, 'pgo');
$node->safe_psql('postgres', q{INSERT INTO jobs SELECT g, 'x' || g FROM generate_series(51, 55) g});
$b = start_bridge($node, undef, @args, '--accept-new-source');
ok(wait_until(sub { scalar(@{ consume() }) >= 55 }, 60), '--accept-new-source delivers') or diag(bridge_log($b));
like(bridge_log($b), qr/(slot "pgo" replays from [0-9A-F\/]+ transactions delivered up to [0-9A-F\/]+ as "plugin=wal2queue key-column=v route-column= target-prefix=", now "plugin=wal2queue key-column= route-column= target-prefix=": their jobs are written again \(--accept-new-source\)|jobs are keyed and routed as "plugin=wal2queue key-column= )/,
	'the change of shape is logged') or diag(bridge_log($b));
stop_bridge($b);
stop_kafka_mock($k);
$node->stop;
done_testing();
