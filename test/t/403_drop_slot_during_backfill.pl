# What: `wal2queue-bridge --slot S --drop-slot` while another bridge is
# backfilling S (the rollback of docs/migration.md, or an operator cleaning
# up "a stuck slot" while the service's first start is still reading the
# table) drops the live bridge's slot without a word of warning.  The
# backfilling bridge goes on reading its exported snapshot, records the
# backfill done, and only then finds its slot gone; the rows committed
# after its snapshot are delivered by no one.
# Why: bridge/slot.c check_slot_to_drop() refuses only a slot a walsender
# holds ("else if (!PQgetisnull(res, 0, 1))": active_pid); during the
# backfill phase the slot is not active (the creator's walsender released
# it after CREATE_REPLICATION_SLOT, the pages are read on a normal
# connection), though the bridge holds both the backfill's advisory lock
# (backfill_lock.c) and the create lock (slot.c slot_lock_name()) that say
# a live bridge is there.  stream_drop_slot() checks neither.
# Expected: --drop-slot refuses a slot whose backfill lock (or create lock)
# another session holds, as it refuses an active one ("a bridge is
# backfilling it; stop it first"), exit 1, slot kept; every row once.
# With W2Q_ATTACK_CONTROL=1 --drop-slot is not run: passes.
# Severity: medium (a live bridge's slot dropped by an explicit but
# misdirected command that the same tool refuses for a streaming bridge).
# Fixed: --drop-slot takes the backfill's lock (backfill_lock_hold()) and
# stream_drop_slot() the create lock before dropping; either held by
# another session: exit 1, "a bridge is backfilling slot ... held by PID
# ..." (or "being created or backfilled by another bridge"), slot kept.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfdropcmd');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id bigint PRIMARY KEY, status text NOT NULL);
	INSERT INTO jobs SELECT g, 'pending' FROM generate_series(1, 30) g;
});
my $slot = 'bf_dc';
local $ENV{W2Q_TEST_BACKFILL_PAUSE} = 'first-state';
local $ENV{W2Q_TEST_BACKFILL_PAUSE_SECONDS} = 10;
my $a = start_bridge($node, $r, '--slot', $slot, '--create-slot', '--tables', 'public.jobs',
	'--backfill', '--backfill-batch=10', '--status-interval', '1');
delete $ENV{W2Q_TEST_BACKFILL_PAUSE};
delete $ENV{W2Q_TEST_BACKFILL_PAUSE_SECONDS};
ok(wait_until(sub { bridge_log($a) =~ /paused at "first-state"/ }, 60), 'the bridge is backfilling');
unless ($ENV{W2Q_ATTACK_CONTROL})
{
	my ($code, $out) = run_bridge('-d', $node->connstr('postgres'), '--sink',
		"redis://127.0.0.1:$r->{port}", '--slot', $slot, '--drop-slot');
	isnt($code, 0, '--drop-slot refuses the slot of a live backfill') or diag($out);
}
# committed after the snapshot: only the slot can deliver them
$node->safe_psql('postgres', q{INSERT INTO jobs SELECT g, 'pending' FROM generate_series(31, 35) g});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '35' || !$a->{h}->pumpable }, 60)
	  && redis($r, 'XLEN', 'public.jobs') eq '35', 'rows 1..35 delivered')
  or diag(redis($r, 'XLEN', 'public.jobs') . " delivered\n"
	  . join("\n", grep { /ERROR|WARNING|LOG/ } split /\n/, bridge_log($a)));
stop_bridge($a, 'KILL') if $a->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
