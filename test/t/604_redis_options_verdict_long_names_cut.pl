# What: 553 with long identifiers: a slot name of 63 characters, a schema
# and tables named with 63 characters each (PostgreSQL's longest).  The
# record's last transaction was chosen with --tables SCHEMA.TA,SCHEMA.TB;
# after a crash moved the slot below it, the bridge restarts with the
# narrower --tables SCHEMA.TA.  It stops (right), but the ERROR line is cut
# at SINK_ERRLEN: the way out ("... then with the new options;
# --accept-new-source would write every job between the slot and the
# record again") is lost, and the line is 1023 characters of mostly names.
# Why: bridge/redis_history.c verdict_options(): each list is shortened
# "never below its first item", and the other parts only as far as level 2
# (the slot's name left out); a first item of 127 characters per list (plus
# "--plugin=wal2queue --tables=") does not fit the room left, and
# errbuf_set() truncates the message's end.
# Expected: the ERROR line is whole (ends with "... the record again"),
# within SINK_ERRLEN, as README and docs/redis.md say ("The message always
# fits the bridge's error buffer whole").
# Severity: low -- the stop is right and the full lists are logged on
# their own WARNING line; the way out of the ERROR is cut.
# Control (W2Q_ATTACK_CONTROL=1): a schema and tables of short names: the
# line is whole.  Passes.
# Fixed: bridge/redis_history.c verdict_options() (and record_no_txn(),
# 576's message, the same way) fits the lists last (fit_lists()): whole,
# else their first items and "... (N more)", else, when even the first
# items do not fit, --tables as a count ("--tables=(2 tables)"), cut at the
# end if even that does not; the progress key's start is cut to "..." when
# a --target-prefix of hundreds leaves no room for the counts.  The cause
# and the way out are never cut; the lists are logged whole on the WARNING
# line before (test/unit/test_redis_history.c test_options_names_63: both
# messages, a --target-prefix of 400 too).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $slotname = 'orders_service_production_eu_west_1_primary_wal2queue_slot_0001';
my ($sch, $ta, $tb) = $control ? ('s', 'ta', 'tb')
  : ('x' x 63, 'queue_of_the_department_with_a_rather_long_name_and_more_ta_' . 'aaa',
	 'queue_of_the_department_with_a_rather_long_name_and_more_tb_' . 'bbb');
is(length($ta), $control ? 2 : 63, 'table names of ' . length($ta) . ' characters');
my $narrow = "$sch.$ta";
my $wide = "$sch.$ta,$sch.$tb";

my $node = new_node('longnames604');
my $r = start_redis();
$node->safe_psql('postgres', qq{
	CREATE SCHEMA $sch;
	CREATE TABLE $sch.$ta (id int PRIMARY KEY);
	CREATE TABLE $sch.$tb (id int PRIMARY KEY);
	SELECT pg_create_logical_replication_slot('$slotname', 'wal2queue');
});
my @cmd = ('--slot', $slotname, '--status-interval', '1', '--target-prefix', 'q:');
my $b = start_streaming_bridge($node, $r, @cmd, '--tables', $wide, '--accept-new-source');
$node->safe_psql('postgres', "INSERT INTO $sch.$ta VALUES (1)");
ok(wait_until(sub { redis($r, 'XLEN', "q:$sch.$ta") eq '1' }, 30), 'job 1 delivered');
sleep 2;
$node->safe_psql('postgres', 'CHECKPOINT');
$node->safe_psql('postgres', "INSERT INTO $sch.$tb VALUES (2)");
ok(wait_until(sub { redis($r, 'XLEN', "q:$sch.$tb") eq '1' }, 30), 'job 2 delivered');
stop_bridge($b);
my $rec = redis($r, 'HGET', "q:wal2queue:progress:$slotname", 'txn_end');
$node->stop('immediate');
$node->start;
note('slot ' . slot_confirmed($node, $slotname) . ", record's txn_end $rec");

$b = start_bridge($node, $r, @cmd, '--tables', $narrow);
ok(wait_until(sub { !$b->{h}->pumpable }, 30), 'the bridge with the narrower --tables stops');
stop_bridge($b) if $b->{h}->pumpable;
my $all = bridge_log($b);
my $log = ($all =~ /(ERROR:.*)/)[0] // '';
note($log);
like($log, qr/the options that choose transactions changed since the record/, 'naming the cause');
like($log, qr/--accept-new-source would write every job between the slot and the record again$/,
	'the ERROR line is whole') or diag('the ERROR line is ' . length($log) . ' characters long');
ok(length($log) - length('ERROR: ') < 1024, 'within SINK_ERRLEN (' . (length($log) - 7) . ' characters)');
like($all, qr/WARNING: .*the recorded options are "--plugin=wal2queue --tables=\Q$wide\E", this bridge's "--plugin=wal2queue --tables=\Q$narrow\E"/,
	'both lists logged whole') unless $control;
stop_redis($r);
$node->stop;
done_testing();
