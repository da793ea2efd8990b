# NEWSLOT (f3af05d, 260) relies on the same process seeing the verdict and
# dropping the slot it created.  A bridge killed (kill -9, OOM killer, a
# host reboot, systemd's stop timeout) after --create-slot made the slot and
# before the first deliver call answered leaves the new slot behind; here
# Redis stalls (SIGSTOP) at that moment.  The service's
# same command line then finds the slot, so it is no longer "created by
# this run": the first call is checked without "create" and gets GAP,
# "Redis lost writes it had acknowledged ... start with --accept-new-source
# to continue from the slot knowingly" -- a false diagnosis whose advice
# accepts the gap of jobs committed while there was no slot, and the slot
# now holds WAL at every refused restart (docs/operations.md: "every
# restart by a service manager is refused the same way and no slot holds
# WAL meanwhile").  Expected: the restart is refused as the dropped slot it
# is (naming the record's position and the ways out) and no slot is left.
# Fixed (slot.c:slot_check_reclaim): the positive evidence is the
# extension's registry, which the bridge writes right after creating a slot
# (wal2queue.slots.start_lsn = its confirmed_flush_lsn then): with
# --create-slot, in the first session, a slot still at its registered start
# is checked as created by this run (deliver4 "create": NEWSLOT), and the
# refusal drops it.  Without the extension nothing is inferred (GAP, as
# before).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('newslot_kill');
my $r = start_redis();
$node->safe_psql('postgres', 'CREATE EXTENSION wal2queue; CREATE TABLE rj (id int PRIMARY KEY, src text)');
my @cmd = ('--slot', 'sk', '--create-slot', '--tables', 'public.rj', '--status-interval', '1');
my $b = start_bridge($node, $r, @cmd);
wait_until(sub { bridge_log($b) =~ /streaming slot/ }, 30);
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'first' FROM generate_series(1, 10) g");
ok(wait_until(sub { redis($r, 'XLEN', 'public.rj') eq '10' }, 30), 'first jobs delivered');
is(stop_bridge($b) >> 8, 0, 'the service stops');
my $record = redis($r, 'HGET', 'wal2queue:progress:sk', 'lsn');

$node->safe_psql('postgres', "SELECT pg_drop_replication_slot('sk')");
$node->safe_psql('postgres', "INSERT INTO rj SELECT g, 'while no slot' FROM generate_series(11, 20) g");

# the service starts again; Redis stops answering (SIGSTOP: a stalled
# Redis) while the slot is made (held up by an open transaction, as
# CREATE_REPLICATION_SLOT is on any busy server); the bridge is killed once
# the slot exists
my $hold = $node->background_psql('postgres');
$hold->query_safe('BEGIN; SELECT txid_current();');
$b = start_bridge($node, $r, @cmd);
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender' AND query LIKE 'CREATE_REPLICATION_SLOT%'") eq '1' }, 30),
	'the slot is being created') or diag(bridge_log($b));
$r->{h}->signal('STOP');
$hold->query_safe('COMMIT');
$hold->quit;
my $slot_made = wait_until(sub { $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'sk' AND confirmed_flush_lsn IS NOT NULL") eq '1' }, 30);
ok($slot_made, 'the run created the slot') or diag(bridge_log($b));
sleep 1;
$b->{h}->signal('KILL');
$b->{h}->finish;
$r->{h}->signal('CONT');
diag(bridge_log($b));
is(redis($r, 'XLEN', 'public.rj'), '10', 'nothing of the new slot was written');

# the service manager restarts it with the same command line
$b = start_bridge($node, $r, @cmd);
ok(wait_until(sub { !$b->{h}->pumpable }, 30), 'the restart stops by itself') or diag(bridge_log($b));
is(stop_bridge($b) >> 8, 1, 'with exit 1');
my $log = bridge_log($b);
unlike($log, qr/Redis lost writes it had acknowledged/, 'not diagnosed as Redis losing writes') or diag($log);
like($log, qr/delivered up to \Q$record\E.*(dropped|no slot)/, 'refused as a dropped slot, naming the record') or diag($log);
like($log, qr/slot "sk" is still at [0-9A-F\/]+, where it was created and registered/,
	'the slot is recognised as made by the interrupted run');
like($log, qr/an earlier run with --create-slot, stopped before it delivered anything, created it at/,
	'the refusal says which run created the slot');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'sk'"), '0',
	'no slot is left holding WAL');
stop_redis($r);
$node->stop;
done_testing();
