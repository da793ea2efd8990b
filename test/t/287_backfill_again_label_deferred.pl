# Attack 287: --backfill-again=B given while another backfill (A) is
# unfinished is silently deferred to some later restart.  existing_slot()
# (backfill.c) resumes the unfinished backfill whatever the flag says; A
# finishes under its own label, the bridge streams, and B's re-delivery
# happens at the next restart of the same command line, whenever a
# service manager or a reboot does it (days later: every selected row
# again, with no one asking at that moment).  The run that was asked for
# B logs only "resuming the backfill" and does not re-deliver.
# Expected: B is refused while A is unfinished (naming it), or B is what
# the first run records and delivers: the same command line restarted
# later does not re-deliver.
#
# Fixed: --backfill-again=B is refused (exit 1) while another backfill is
# unfinished, naming it.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfagaindefer');
my $r = start_redis();
backfill_jobs_table($node);
my @cmd = backfill_cmd('s', 'public.jobs');
my $pkey = 'wal2queue:progress:s';

# backfill A stops after page 1
my $br = backfill_stops_on($node, $r, 'bad', 'backfill A stops at page 2', @cmd);

# the operator asks for a re-delivery labelled B
$br = start_bridge($node, $r, @cmd, '--backfill-again=B');
my $first = wait_until(sub { bridge_log($br) =~ /streaming slot/ || !$br->{h}->pumpable }, 30);
my $streams = $first && $br->{h}->pumpable;
my $label = redis($r, 'HGET', $pkey, 'backfill_label');
like(bridge_log($br), qr/--backfill-again=B: slot "s" has an unfinished backfill/, 'B refused naming the unfinished one');
my $n1 = redis($r, 'XLEN', 'q') + (redis($r, 'XLEN', 'bad') || 0);
note("first run with B: " . ($streams ? 'streams' : 'stopped') . ", label \"$label\", $n1 entries");
stop_bridge($br);

# the same command line, restarted later
$br = start_bridge($node, $r, @cmd, '--backfill-again=B');
wait_until(sub { bridge_log($br) =~ /streaming slot/ || !$br->{h}->pumpable }, 30);
my $n2 = redis($r, 'XLEN', 'q') + (redis($r, 'XLEN', 'bad') || 0);
note("restart with B: $n2 entries; " . join(' | ', grep { /WARN/ } split /\n/, bridge_log($br)));
stop_bridge($br);
ok(!$streams || $label eq 'B', 'the first run with --backfill-again=B refuses, or records and delivers B');
is($n2, $n1, 'a later restart of the same command line re-delivers nothing');
stop_redis($r);
$node->stop;
done_testing();
