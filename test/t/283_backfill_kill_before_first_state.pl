# Attack 283: a bridge killed after it created the slot and before it
# recorded the first backfill state leaves a slot that the same command
# line refuses forever ("exists and ... holds no backfill of it", exit 1),
# and docs/operations.md calls that window "a few milliseconds".  It is
# not: between CREATE_REPLICATION_SLOT and the first record()
# (backfill.c:start_new()) the bridge connects a second session, imports
# the snapshot, loads every selected table's columns and key
# (bf_tables_load(), two queries a table) and reads every table's
# storage (bf_storage_read(), one more query a table).  With 400 small
# tables selected it lasts long enough to kill -9 the bridge on its own
# "created replication slot" line; a service manager restarting it then
# loops on exit 1 until an operator drops the slot by hand.
# Expected: the same command line starts (or resumes) the backfill.
#
# Fixed: a marker state (backfill_lsn 0/0) is recorded before the slot is
# created; a restart that finds it drops the slot and starts again.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use W2QTest;

my $node = new_node('bfkillfirst');
my $r = start_redis();
$node->safe_psql('postgres', q{
	DO $$ BEGIN
	  FOR i IN 1 .. 400 LOOP
	    EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, v text)', lpad(i::text, 3, '0'));
	    EXECUTE format('INSERT INTO t%s VALUES (1, %L)', lpad(i::text, 3, '0'), 'x');
	  END LOOP;
	END $$;
});
my @cmd = ('--slot', 's', '--create-slot', '--backfill', '--tables', 'public.t*', '--status-interval', '1');

my $br = start_bridge($node, $r, @cmd);
my $t0 = time();
ok(wait_until(sub { bridge_log($br) =~ /created replication slot/ || !$br->{h}->pumpable }, 30),
	'the slot is created');
my $seen_at = time();
$br->{h}->signal('KILL');
$br->{h}->finish;
my $state = redis($r, 'HGET', 'wal2queue:progress:s', 'backfill_lsn');
note(sprintf('killed %.3f s after the start; backfill_lsn recorded: "%s"', $seen_at - $t0, $state));
# (the fix records a marker, backfill_lsn 0/0, before it creates the slot)
ok($state eq '' || $state eq '0/0', 'killed before the first state was recorded (the window)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name = 's'}), '1',
	'the slot exists');

# the same command line, as a service manager restarts it
$br = start_bridge($node, $r, @cmd);
wait_backfill_done($r, $br, 's', 60);
ok(backfill_done($r, 's') eq '1',
	'the same command line finishes the backfill') or diag(substr(bridge_log($br), -1500));
stop_bridge($br);
stop_redis($r);
$node->stop;
done_testing();
