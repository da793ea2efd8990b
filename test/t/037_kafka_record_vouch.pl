# The Kafka sink's position record (bridge/kafka_record.c) vouches for a
# session after an unclean stop (issue 10, docs/extension.md "Attestation"):
# the bridge confirms nothing past the record, so a restart after kill -9
# starts at or below it and is attested, and prune goes on.  Without the
# record every Kafka restart after confirmations since the last periodic
# attestation (every --status-interval, 10 s here) was refused.
#
# Then what must still be refused: a slot advanced by hand past the record
# (the bridge stops with exit 1, as Redis's GAP; with --accept-new-source
# it runs, vouching for nothing, and attest_slot() refuses it), and a
# record of another slot or of another system (never taken as vouching:
# the latter stops the bridge, or with --accept-new-source is taken over
# and vouches for nothing).
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('kvouch');
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE ROLE bridge LOGIN REPLICATION;
	GRANT USAGE ON SCHEMA wal2queue TO bridge;
	CREATE TABLE kjobs (id int PRIMARY KEY, v text);
	SELECT wal2queue.append_only('kjobs');
	GRANT SELECT ON kjobs TO bridge;
});
my $conn = $node->connstr('postgres') . ' user=bridge';
my $kafka = start_kafka_mock();
my $bootstrap = $kafka->{bootstrap};
my $positions = 'w2q.positions.037';
my @args = ('-d', $conn, '--slot', 'kv', '--tables', 'public.kjobs', '--sink', "kafka://$bootstrap",
	'--kafka-positions-topic', $positions, '--status-interval', '10');

sub q1 { return $node->safe_psql('postgres', $_[0]) }

# consume the slot without a bridge, once its walsender is gone
sub advance_by_hand
{
	wait_until(sub { q1(q{SELECT NOT active FROM pg_replication_slots WHERE slot_name = 'kv'}) eq 't' });
	q1(q{SELECT pg_replication_slot_advance('kv', pg_current_wal_lsn())});
}

sub prune_all
{
	my $deleted = 0;
	for (1 .. 3)
	{
		q1('CHECKPOINT');
		sleep 1;
		$deleted += q1(q{SELECT wal2queue.prune('public.kjobs')});
	}
	return $deleted;
}

# the restarted bridge's verdict on the slot: 'attested' or 'refused'
sub verdict
{
	my ($b) = @_;
	my $v = '';
	wait_until(sub {
		my $log = bridge_log($b);
		$v = $log =~ /refused to trust slot "kv"/ ? 'refused'
		  : $log =~ /attesting slot "kv"/ ? 'attested' : '';
		$v ne '' || !$b->{h}->pumpable;
	}, 60);
	return $v;
}

# the option's bad values
my ($rc, $out) = run_bridge('-d', $conn, '--sink', "kafka://$bootstrap", '--kafka-positions-topic', 'no spaces');
is($rc, 2, '--kafka-positions-topic refuses a name that is no kafka topic name');
like($out, qr/invalid value "no spaces" for --kafka-positions-topic/, 'naming it');
($rc, $out) = run_bridge('-d', $conn, '--sink', 'redis://127.0.0.1:1', '--kafka-positions-topic', 'p');
is($rc, 2, '--kafka-positions-topic needs a kafka sink');
like($out, qr/--kafka-positions-topic need a kafka:\/\/ sink/, 'and says so');

my $b = start_bridge($node, undef, @args, '--create-slot');
is(verdict($b), 'attested', 'the bridge attests the slot it created');
like(bridge_log($b), qr/created kafka topic "\Q$positions\E" \(compacted\)|no position record of slot "kv"/,
	'it reads the position record (none yet)');

# kill -9 at random points: mid-delivery, or after confirmations since the
# last periodic attestation; every restart is vouched for by the record
srand($ENV{W2Q_SEED} // time());
my ($next, $refused, $past_attested) = (1, 0, 0);
for my $round (1 .. 8)
{
	for (1 .. 4)
	{
		q1("INSERT INTO kjobs SELECT g, 'r$round' FROM generate_series($next, $next + 49) g");
		$next += 50;
	}
	select(undef, undef, undef, rand(1.5));
	stop_bridge($b, 'KILL');
	$past_attested++ if q1(q{SELECT confirmed_flush_lsn > coalesce(attested_lsn, '0/0')
		FROM wal2queue.slots JOIN pg_replication_slots USING (slot_name) WHERE slot_name = 'kv'}) eq 't';
	$b = start_bridge($node, undef, @args);
	my $v = verdict($b);
	$refused++ if $v ne 'attested';
	diag("round $round: $v") if $v ne 'attested';
}
is($refused, 0, 'every restart after kill -9 is attested');
cmp_ok($past_attested, '>=', 2,
	"kill -9 came after confirmations the last attestation had not covered ($past_attested of 8 rounds)");
is(q1(q{SELECT coalesce(attest_refused, '') FROM wal2queue.slots WHERE slot_name = 'kv'}), '',
	'nothing refused in the registry');
my $end = q1('SELECT pg_current_wal_lsn()');
ok(wait_until(sub { q1("SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = 'kv'") eq 't' }),
	'every job delivered and confirmed');
ok(wait_attested($node, 'kv', 30), 'and attested');
my $deleted = 0;
ok(wait_until(sub { $deleted += prune_all(); $deleted == $next - 1 }, 60),
	"prune works after the restarts (deleted $deleted of " . ($next - 1) . ')');

# the bridge stops with exit 1, the record behind the slot named
sub stops_behind
{
	my ($b, $what) = @_;
	my $stopped = wait_until(sub { !$b->{h}->pumpable }, 60);
	ok($stopped, "$what: the bridge stops");
	$b->{h}->finish if $stopped;
	is($stopped ? $b->{h}->full_result(0) >> 8 : stop_bridge($b, 'KILL'), 1, "$what: exit 1");
	like(bridge_log($b), qr/kafka position record of slot "kv" is at \S+, behind the position \S+ that the slot has confirmed: the slot was moved without the bridge \(advanced or consumed by hand/,
		"$what: naming the record behind the slot");
}

# the slot advanced by hand past the record: refused
is(stop_bridge($b) >> 8, 0, 'bridge stopped cleanly');
q1(q{INSERT INTO kjobs SELECT g, 'skipped' FROM generate_series(100001, 100010) g});
advance_by_hand();
$b = start_bridge($node, undef, @args);
stops_behind($b, 'a slot advanced by hand past the record');
$b = start_bridge($node, undef, @args, '--accept-new-source');
is(verdict($b), 'refused', 'with --accept-new-source it runs, and attest_slot() refuses the slot');
like(bridge_log($b), qr/position record of slot "kv" is at \S+, behind where the slot begins \S+: continuing from the slot's position \(--accept-new-source\)/,
	'the bridge says the record is behind the slot');
is(prune_all(), 0, 'prune deletes none of the rows the slot skipped');
stop_bridge($b);

# records of another slot and of another system vouch for nothing
my $sysid = q1('SELECT system_identifier FROM pg_control_system()');
sub put_record
{
	my ($key, $source, $lsn) = @_;
	my ($in, $out, $err) = ("{}\n", '', '');
	IPC::Run::run([ 'kcat', '-b', $bootstrap, '-P', '-t', $positions, '-k', $key,
		'-X', 'topic.partitioner=murmur2_random', '-H', "source=$source", '-H', "lsn=$lsn" ],
		'<', \$in, '>', \$out, '2>', \$err, IPC::Run::timeout(30))
	  or die "kcat -P failed: $err";
}
# a fresh start for the slot (register again clears the refusal), then moved by hand
my $skip = 200000;
sub fresh_then_advance
{
	q1(q{SELECT wal2queue.register_slot('kv', 'public.kjobs')});
	my $b = start_bridge($node, undef, @args, '--accept-new-source');
	my $v = verdict($b);
	stop_bridge($b);
	q1("INSERT INTO kjobs SELECT g, 'skipped' FROM generate_series($skip + 1, $skip + 5) g");
	$skip += 5;
	advance_by_hand();
	return $v;
}
is(fresh_then_advance(), 'attested', 'registered again: attested');
put_record('kvother', "$sysid/1/postgres/kvother", 'FF/0');
$b = start_bridge($node, undef, @args);
stops_behind($b, 'a record of another slot, far ahead, does not vouch for this one');

# keyed <sysid>/<dbname>/<slot>: a record of another system (its own key,
# or the old key of the slot name alone) is none here
is(fresh_then_advance(), 'attested', 'registered again: attested');
put_record('7777777777777777777/postgres/kv', '7777777777777777777/1/postgres/kv', 'FF/0');
put_record('kv', '7777777777777777777/1/postgres/kv', 'FF/0');
$b = start_bridge($node, undef, @args);
stops_behind($b, 'a record of another system is none: it does not vouch, this slot\'s own decides');

# this system, database and slot on another timeline (a promotion): stops
is(fresh_then_advance(), 'attested', 'registered again: attested');
put_record("$sysid/postgres/kv", "$sysid/9/postgres/kv", 'FF/0');
$b = start_bridge($node, undef, @args);
my $stopped = wait_until(sub { !$b->{h}->pumpable }, 60);
ok($stopped, 'a record of this slot on another timeline stops the bridge');
$b->{h}->finish if $stopped;
is($stopped ? $b->{h}->full_result(0) >> 8 : stop_bridge($b, 'KILL'), 1, 'with exit 1');
like(bridge_log($b), qr/holds the position record of slot "kv" for another source: \d+\/9\/postgres\/kv \(the same system, database and slot on another timeline\)/,
	'naming the other source and the timeline');
$b = start_bridge($node, undef, @args, '--accept-new-source');
is(verdict($b), 'refused', 'with --accept-new-source it is taken over and vouches for nothing');
like(bridge_log($b), qr/taking it over \(--accept-new-source\)/, 'the bridge says so');
stop_bridge($b);

stop_kafka_mock($kafka);
$node->stop;
done_testing();
