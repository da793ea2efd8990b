# Fixed (attack review 243): prune() deleted rows no slot delivered, because
# the bridge marked a slot it did not backfill as backfilled.  backfill.c's
# backfill_run() called mark_backfilled() whenever the sink's record said a
# backfill of a slot of that NAME was done, and mark_backfilled() checked
# nothing about the slot.  TAP 213's scenario with the backfill's command
# line: slot s created and backfilled, dropped and unregistered while 30 jobs
# wait, re-created by hand (wal2queue.create_slot(): delivers_from past the
# 30 rows), and the service's command line (--create-slot --backfill) runs
# again; the stream stops on the record behind the slot and names
# --accept-new-source; with it the session is attested and prune() runs.
# Fix: mark_backfilled(slot_name, consistent_point) refuses a slot registered
# at another start_lsn than the backfill's consistent point, and the bridge
# passes its recorded backfill_lsn (and does not call it for another slot):
# none of the 30 rows is deleted.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfmarkrecreated');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs');
	INSERT INTO jobs (queue, payload) SELECT 'q', jsonb_build_object('old', g) FROM generate_series(1, 5) g;
});
my @cmd = ('--slot', 's', '--create-slot', '--backfill', '--tables', 'public.jobs', '--status-interval', '1');
my $b = start_bridge($node, $r, @cmd);
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '5' }, 30), 'backfilled') or diag(bridge_log($b));
ok(wait_until(sub { bridge_log($b) =~ /is backfilled/ }, 10), 'and marked');
stop_bridge($b);
# the slot is dropped while 30 jobs wait, then re-created by hand
$node->safe_psql('postgres', q{
	SELECT pg_drop_replication_slot('s');
	SELECT wal2queue.unregister_slot('s');
	INSERT INTO jobs (queue, payload) SELECT 'q', jsonb_build_object('n', g) FROM generate_series(1, 30) g;
});
$node->safe_psql('postgres', q{SELECT wal2queue.create_slot('s', 'public.jobs')});
$b = start_bridge($node, $r, @cmd);
ok(wait_until(sub { !$b->{h}->pumpable }, 20), 'the same command line stops on the record behind the slot');
$b->{h}->finish;
like(bridge_log($b), qr/start with --accept-new-source/, 'naming --accept-new-source');
is($node->safe_psql('postgres', q{SELECT delivers_from <> '0' FROM wal2queue.slots WHERE slot_name = 's'}), 't',
	'the hand-created slot is not marked backfilled');
$b = start_bridge($node, $r, @cmd, '--accept-new-source');
$node->safe_psql('postgres', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"new": true}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '6' }), 'the new slot delivers the new job only')
  or diag(bridge_log($b));
my $deleted = 0;
for my $i (1 .. 6)
{
	$node->safe_psql('postgres', 'CHECKPOINT');
	sleep 1;
	$deleted += $node->safe_psql('postgres', q{SELECT wal2queue.prune('public.jobs')});
}
note("prune deleted $deleted rows");
is($node->safe_psql('postgres', q{SELECT count(*) FROM jobs WHERE payload ? 'n'}), '30',
	'prune keeps the 30 jobs no slot delivered');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
