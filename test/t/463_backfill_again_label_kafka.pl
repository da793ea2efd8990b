# test/t/038 (--backfill-again=LABEL, a re-delivery a service manager may
# restart) with Kafka: the labelled backfill is recorded in the state
# topic; a restart with the same label streams and delivers nothing again;
# another label delivers once more; a slot dropped after the labelled
# backfill is refused by the same command line, naming a new label.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $k = start_kafka_mock(1);
my $bs = $k->{bootstrap};
my $node = new_node('bfagainlabelk');
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, n int);
	INSERT INTO jobs SELECT g, g FROM generate_series(1, 20) g;
});
my @cmd = ('-d', $node->connstr('postgres'), '--slot', 's', '--create-slot', '--backfill', '--backfill-batch', '7',
	'--tables', 'public.jobs', '--sink', "kafka://$bs", '--status-interval', '1');
sub count
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bs, '-C', '-t', 'public.jobs', '-o', 'beginning', '-e', '-q', '-f', '%k\n' ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(60));
	return scalar(grep { /\S/ } split /\n/, $out);
}

# run the bridge until the log matches, then stop it
sub run_until
{
	my ($re, @args) = @_;
	my $br = start_bridge($node, undef, @args);
	ok(wait_until(sub { bridge_log($br) =~ $re || !$br->{h}->pumpable }, 30) && $br->{h}->pumpable,
		"log matches $re") or diag(bridge_log($br));
	sleep 1;
	stop_bridge($br);
	return bridge_log($br);
}

run_until(qr/backfill of slot "s" done: 20 rows/, @cmd);
is(count(), 20, 'the first backfill: 20 messages');

my $log = run_until(qr/backfill of slot "s" done: 20 rows/, @cmd, '--backfill-again=wipe-1');
like($log, qr/--backfill-again=wipe-1: delivering the selected rows/, 'the labelled re-delivery runs');
is(count(), 40, 'once more: 40 messages');

$log = run_until(qr/finished earlier/, @cmd, '--backfill-again=wipe-1');
like($log, qr/the backfill of slot "s" labelled "wipe-1" finished earlier \(20 rows\); streaming/, 'a restart streams');
is(count(), 40, 'nothing re-delivered');
$log = run_until(qr/finished earlier/, @cmd, '--backfill-again=wipe-1');
is(count(), 40, 'nor at the next restart');

$log = run_until(qr/backfill of slot "s" done: 20 rows/, @cmd, '--backfill-again=wipe-2');
is(count(), 60, 'another label: delivered once more');
$log = run_until(qr/finished earlier/, @cmd, '--backfill-again=wipe-2');
is(count(), 60, 'and its restart streams');
$node->safe_psql('postgres', 'INSERT INTO jobs VALUES (21, 21)');
my $br = start_bridge($node, undef, @cmd, '--backfill-again=wipe-2');
ok(wait_until(sub { count() == 61 }, 30), 'a new row streams once') or diag(bridge_log($br));
stop_bridge($br);

my ($rc, $out) = run_bridge('-d', $node->connstr('postgres'), '--slot', 's', '--drop-slot');
is($rc, 0, '--drop-slot');
($rc, $out) = run_bridge(@cmd, '--backfill-again=wipe-2');
is($rc, 1, 'dropped slot, same label: exit 1');
like($out, qr/its backfill is the one labelled "wipe-2".*--backfill-again=<a new label>/, 'naming a new label')
  or diag($out);
is(count(), 61, 'nothing re-delivered');
stop_kafka_mock($k);
$node->stop;
done_testing();
