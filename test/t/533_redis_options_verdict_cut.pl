# What: the verdict of 492 (the options that choose transactions changed
# since the Redis record) with a realistic --tables list: 20 job tables
# named out, about 650 characters.  The error names the record's options,
# the bridge's, the cause and the way out that repeats the record's
# options; with two lists of 650 characters the message passes
# SINK_ERRLEN (1024 bytes) and is cut in the second list: the operator
# sees neither the cause ("the options that choose transactions changed
# since the record (not another history)") nor the way out ("restart once
# with ... until slot ... has confirmed past ...") -- the only recovery
# that writes nothing twice.  (With ~25 tables the first list is cut too.)
# Why: bridge/redis_history.c progress_verdict_history(): three copies of
# an unbounded option text in one errbuf_set() of SINK_ERRLEN (1024,
# bridge/sink.h: "room for two option lists", which is not so for lists of
# more than ~300 characters).
# Expected: the log names the cause and the way out in full: 'restart once
# with the recorded options ... until slot "nw" has confirmed past
# <txn_end>', and where the recorded options are.
# Severity: low (the bridge still stops, nothing is lost or written twice;
# the operator is left to find the record's options with HGET, or to take
# the --accept-new-source it does read about, which writes duplicates).
# Fixed: bridge/redis_history.c verdict_options(): each option list is
# named once, the way out says "restart once with the recorded options";
# lists too long for SINK_ERRLEN are shortened in the message ("... (N
# more)"), the recorded options are then logged whole on a WARNING line
# of their own just before, and the way out names "HGET
# wal2queue:progress:<slot> txn_options".  The ERROR line is whole.
# Control: W2Q_ATTACK_CONTROL=1 uses two short table names: the message is
# whole.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my @more = $control ? () : map { sprintf('public.queue_of_the_department_%02d', $_) } 1 .. 18;
my $narrow = join(',', 'public.ta', @more);
my $wide = join(',', 'public.ta', 'public.tb', @more);
my $f = record_above_slot_fixture('narrowlong', wide => $wide, more => \@more);
my ($node, $r, $rec, $slot) = @$f{qw(node r rec slot)};
my @cmd = @{ $f->{cmd} };
my $b;

# tb retired from the list
$b = start_streaming_bridge($node, $r, @cmd, '--tables', $narrow);
$node->safe_psql('postgres', 'INSERT INTO ta VALUES (3)');
ok(wait_until(sub { !$b->{h}->pumpable }, 30), 'the bridge with tb left out stops') or diag(bridge_log($b));
stop_bridge($b) unless $b->{h}->pumpable;
my $all = $b->{h}->pumpable ? '' : bridge_log($b);
my $log = ($all =~ /(ERROR:.*)/)[0] // '';
like($log, qr/the options that choose transactions changed since the record \(not another history\)/, 'naming the cause');
like($log, qr/restart once with the recorded options.* until slot "nw" has confirmed past \Q$rec\E/,
	'and the way out') or diag($log);
like($log, qr/--accept-new-source would write every job between the slot and the record again$/,
	'the ERROR line is whole') or diag('the ERROR line is ' . length($log) . ' characters long');
unless ($control)
{
	like($log, qr/chosen with the options "--plugin=wal2queue --tables=public\.ta,public\.tb,.*\.\.\. \(\d+ more\)", but this bridge runs with "--plugin=wal2queue --tables=public\.ta,.*\.\.\. \(\d+ more\)"/,
		'both lists named once, shortened');
	like($log, qr/HGET wal2queue:progress:nw txn_options/, 'the way out names where the recorded options are kept');
	like($all, qr/WARNING: Redis progress record "wal2queue:progress:nw": the recorded options are "--plugin=wal2queue --tables=\Q$wide\E", this bridge's "--plugin=wal2queue --tables=\Q$narrow\E"/,
		'and the recorded options are logged whole');
}
else
{
	like($log, qr/chosen with the options "--plugin=wal2queue --tables=\Q$wide\E", but this bridge runs with "--plugin=wal2queue --tables=\Q$narrow\E"/,
		'short lists are named whole');
}
is(redis($r, 'HGET', 'wal2queue:progress:nw', 'txn_options'), "--plugin=wal2queue --tables=$wide",
	'the record keeps the recorded options (HGET)');
stop_redis($r);
$node->stop;
done_testing();
