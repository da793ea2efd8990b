# --backfill-again=LABEL: a re-delivery a service manager may restart.  A
# plain --backfill-again left in a unit file re-delivered every row at
# every restart; with a label, the backfill records it (backfill_label),
# and a start with the label of the recorded backfill resumes it while
# unfinished and once done just streams.  Another label re-delivers once
# more.  A bad label is a usage error (exit 2); a slot dropped after the
# labelled backfill is refused by the same command line, naming a new label.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfagainlabel');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, n int);
	INSERT INTO jobs SELECT g, g FROM generate_series(1, 20) g;
});
my @cmd = ('--slot', 's', '--create-slot', '--backfill', '--backfill-batch', '7',
	'--tables', 'public.jobs', '--status-interval', '1');
my $pkey = 'wal2queue:progress:s';
my $xlen = sub { redis($r, 'XLEN', 'public.jobs') };

my ($rc, $out) = run_bridge('-d', $node->connstr('postgres'), @cmd, '--backfill-again=a b');
is($rc, 2, 'a bad label: exit 2');
like($out, qr/invalid label "a b" for --backfill-again \(1 to 64 letters, digits and -_\.:, e\.g\. --backfill-again=2026-11-30\)/,
	'with a hint');

# run the bridge until the log matches, then stop it
sub run_until
{
	my ($re, @args) = @_;
	my $br = start_bridge($node, $r, @args);
	ok(wait_until(sub { bridge_log($br) =~ $re || !$br->{h}->pumpable }, 30) && $br->{h}->pumpable,
		"log matches $re") or diag(bridge_log($br));
	sleep 1;
	stop_bridge($br);
	return bridge_log($br);
}

run_until(qr/backfill of slot "s" done: 20 rows/, @cmd);
is($xlen->(), 20, 'the first backfill: 20 rows');

my $log = run_until(qr/backfill of slot "s" done: 20 rows/, @cmd, '--backfill-again=wipe-1');
like($log, qr/--backfill-again=wipe-1: delivering the selected rows/, 'the labelled re-delivery runs');
is($xlen->(), 40, 'once more: 40 entries');
is(redis($r, 'HGET', $pkey, 'backfill_label'), 'wipe-1', 'the label is recorded');

# the same command line, restarted: it streams, delivers nothing again
$log = run_until(qr/finished earlier/, @cmd, '--backfill-again=wipe-1');
like($log, qr/the backfill of slot "s" labelled "wipe-1" finished earlier \(20 rows\); streaming/, 'a restart streams');
is($xlen->(), 40, 'nothing re-delivered');
$log = run_until(qr/finished earlier/, @cmd, '--backfill-again=wipe-1');
is($xlen->(), 40, 'nor at the next restart');

$log = run_until(qr/backfill of slot "s" done: 20 rows/, @cmd, '--backfill-again=wipe-2');
is($xlen->(), 60, 'another label: delivered once more');
$log = run_until(qr/finished earlier/, @cmd, '--backfill-again=wipe-2');
is($xlen->(), 60, 'and its restart streams');

# a slot dropped after the labelled backfill: the same command line refuses
($rc, $out) = run_bridge('-d', $node->connstr('postgres'), '--slot', 's', '--drop-slot',
	'--sink', "redis://127.0.0.1:$r->{port}");
($rc, $out) = run_bridge('-d', $node->connstr('postgres'), '--sink', "redis://127.0.0.1:$r->{port}",
	@cmd, '--backfill-again=wipe-2');
is($rc, 1, 'dropped slot, same label: exit 1');
like($out, qr/its backfill is the one labelled "wipe-2".*--backfill-again=<a new label>/, 'naming a new label');
is($xlen->(), 60, 'nothing re-delivered');
stop_redis($r);
$node->stop;
done_testing();
