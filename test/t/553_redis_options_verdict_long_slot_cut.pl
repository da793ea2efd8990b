# What: 533's fix (the options-changed verdict always whole: the --tables
# lists shortened to fit SINK_ERRLEN) with a slot name of 63 characters
# (PostgreSQL's limit, NAMEDATALEN - 1; names like
# orders_service_production_eu_west_1_...) and the plainest lists of 492:
# "--tables=public.ta,public.tb" narrowed to "--tables=public.ta".  The
# fixed text, the progress key (twice) and the slot name (twice) leave
# less than 2 x 40 characters for the lists; verdict_options() then gives
# each list 40 anyway: the recorded list (46 characters) becomes "...
# (2 more)" -- not one table named -- and the message still passes
# SINK_ERRLEN: the ERROR line is cut (1029 characters with the prefix),
# its last words ("--accept-new-source would write every job between the
# slot and the record again", the warning against the way out that writes
# duplicates) gone.  A --target-prefix (part of the progress key)
# shortens the slot name needed.
# Why: bridge/redis_history.c verdict_options(): "room = base + 2 * 40 <
# SINK_ERRLEN ? (SINK_ERRLEN - 1 - base) / 2 : 40" -- when the fixed part
# leaves less than 80 characters the fallback of 40 per list overflows
# SINK_ERRLEN (1024, bridge/sink.h) and errbuf_set() cuts the tail; and
# options_brief() with "no room even for one item" names none.
# Expected: the ERROR line is whole: it ends with "--accept-new-source would
# write every job between the slot and the record again", and names the
# cause and the way out.
# Severity: low (the bridge still stops, nothing lost or written twice; the
# warning against --accept-new-source is cut from the message).
# Fixed: bridge/redis_history.c verdict_options(): each list keeps at
# least its first item (options_brief() never names none), and when the
# fixed parts leave no room for that the other parts are shortened first:
# where the recorded options are kept (" (logged above in full)"), then
# the slot's name in the message ("the slot": the progress key at its
# start holds the name).  The ERROR line stays within SINK_ERRLEN, whole,
# and names public.ta in both lists.  (The same verdict now comes at the
# session's start: test/t/550.)
# Control: W2Q_ATTACK_CONTROL=1 uses a slot name of 2 characters: the line
# is whole.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

sub lsn_num
{
	my ($hi, $lo) = split m{/}, $_[0];
	return hex($hi) * 4294967296 + hex($lo);
}

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $slotname = $control ? 'nw' : 'orders_service_production_eu_west_1_primary_wal2queue_slot_0001';
is(length($slotname), $control ? 2 : 63, 'a slot name of ' . length($slotname) . ' characters');
my $narrow = 'public.ta';
my $wide = 'public.ta,public.tb';

my $node = new_node('longslot');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE ta (id int PRIMARY KEY);
	CREATE TABLE tb (id int PRIMARY KEY);
} . "SELECT pg_create_logical_replication_slot('$slotname', 'wal2queue');");
my @cmd = ('--slot', $slotname, '--status-interval', '1');
my $b = start_streaming_bridge($node, $r, @cmd, '--tables', $wide, '--accept-new-source');
$node->safe_psql('postgres', 'INSERT INTO ta VALUES (1)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.ta') eq '1' }, 30), 'job 1 (table ta) delivered');
sleep 2;
$node->safe_psql('postgres', 'CHECKPOINT');
$node->safe_psql('postgres', 'INSERT INTO tb VALUES (2)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.tb') eq '1' }, 30), 'job 2 (table tb) delivered');
stop_bridge($b);
my $rec = redis($r, 'HGET', "wal2queue:progress:$slotname", 'txn_end');
$node->stop('immediate');
$node->start;
my $slot = slot_confirmed($node, $slotname);
ok(lsn_num($slot) < lsn_num($rec), "the slot ($slot) restarts below the record's last transaction ($rec)");

$b = start_streaming_bridge($node, $r, @cmd, '--tables', $narrow);
$node->safe_psql('postgres', 'INSERT INTO ta VALUES (3)');
ok(wait_until(sub { !$b->{h}->pumpable }, 30), 'the bridge with tb left out stops') or diag(bridge_log($b));
stop_bridge($b) unless $b->{h}->pumpable;
my $all = $b->{h}->pumpable ? '' : bridge_log($b);
my $log = ($all =~ /(ERROR:.*)/)[0] // '';
like($log, qr/the options that choose transactions changed since the record \(not another history\)/, 'naming the cause');
like($log, qr/--accept-new-source would write every job between the slot and the record again$/,
	'the ERROR line is whole') or diag('the ERROR line is ' . length($log) . " characters long:\n$log");
like($log, qr/chosen with the options "--plugin=wal2queue --tables=public\.ta(,public\.tb|,\.\.\. \(1 more\))", but this bridge runs with "--plugin=wal2queue --tables=public\.ta"/,
	'both lists name their first table') or diag($log);
like($log, qr/restart once with the recorded options.* until (the slot|slot "\Q$slotname\E") has confirmed past \Q$rec\E/,
	'the way out');
like($all, qr/WARNING: Redis progress record "wal2queue:progress:\Q$slotname\E": the recorded options are "--plugin=wal2queue --tables=\Q$wide\E"/,
	'the recorded options logged whole when shortened') unless $control || $log =~ /\Q$wide\E"/;
ok(length($log) <= length('ERROR: ') + 1023, 'within SINK_ERRLEN (' . length($log) . ' characters)');

# a list whose first item is long: the lists shortened to their first
# item, the slot's name left out of the way out, the line still whole
unless ($control)
{
	my $first = 'public.queue_of_the_department_with_a_rather_long_name_*';
	my $long = join(',', $first, 'public.ta', map { "public.queue_$_" } 1 .. 10);
	$b = start_streaming_bridge($node, $r, @cmd, '--tables', $long);
	ok(wait_until(sub { !$b->{h}->pumpable }, 30), 'a bridge with a long --tables stops too') or diag(bridge_log($b));
	stop_bridge($b) unless $b->{h}->pumpable;
	$all = $b->{h}->pumpable ? '' : bridge_log($b);
	$log = ($all =~ /(ERROR:.*)/)[0] // '';
	like($log, qr/--accept-new-source would write every job between the slot and the record again$/,
		'  the ERROR line is whole') or diag('the ERROR line is ' . length($log) . " characters long:\n$log");
	ok(length($log) <= length('ERROR: ') + 1023, '  within SINK_ERRLEN (' . length($log) . ' characters)');
	like($log, qr/chosen with the options "--plugin=wal2queue --tables=public\.ta\S*", but this bridge runs with "--plugin=wal2queue --tables=\Q$first\E,\S*\.\.\. \(\d+ more\)"/,
		'  both lists name their first table') or diag($log);
	like($log, qr/restart once with the recorded options \(logged above in full\) until the slot has confirmed past \Q$rec\E/,
		'  the way out, the slot named by the progress key only') or diag($log);
	like($all, qr/WARNING: Redis progress record "wal2queue:progress:\Q$slotname\E": the recorded options are "--plugin=wal2queue --tables=\Q$wide\E", this bridge's "--plugin=wal2queue --tables=\Q$long\E"/,
		'  both lists logged whole');
}
stop_redis($r);
$node->stop;
done_testing();
