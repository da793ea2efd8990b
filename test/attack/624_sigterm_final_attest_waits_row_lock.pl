# What: SIGTERM to a bridge streaming a registered slot (--create-slot, the
# extension installed) while another session holds the slot's registry row
# (BEGIN; SELECT ... FROM wal2queue.slots ... FOR UPDATE: an operator's
# transaction, or anything else that locks the row).  The bridge logs
# "stopped; confirmed ..." and then does not end: its last attestation
# waits for the row lock for as long as the transaction lasts (a service
# manager's stop times out and kills it; the slot stays active meanwhile).
# Why: bridge/slotwatch.c slotwatch_attest_final() (called by bridge.c
# after the final status update) connects with PQconnectdbParams() and runs
# wal2queue.attest_slot() with a blocking PQexecParams(): no bound, no look
# at the stop flag, no statement or lock timeout; attest_slot() locks the
# registry row FOR UPDATE (sql/src/20_slots.sql).  Unlike the stream's
# commands (stream_exec(): --recv-timeout, SIGTERM) and the side check.
# The same blocking query also waits for ever on a path that goes silent
# after its connect (by reading; not reproduced here).
# Expected: the bridge ends within a few seconds of SIGTERM (its final
# attestation bounded as FINAL_ATTEST_TIMEOUT_MS says, 2 s), without the
# attestation if it cannot have it.
# Severity: low -- a stop or restart hangs until the service manager kills
# it (kill -9 is safe: no loss), the slot active for that time.
# Reliable (2 of 2: still running 20 s after SIGTERM).
# Control (W2Q_ATTACK_CONTROL=1): no transaction holds the row: the bridge
# ends at once.  Passes.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('attest624');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE aj (id int PRIMARY KEY);
});
my $b = start_bridge($node, $r, '--slot', 'aj', '--create-slot', '--status-interval', '1');
ok(wait_until(sub {
	$node->safe_psql('postgres', 'INSERT INTO aj SELECT coalesce(max(id), 0) + 1 FROM aj');
	(redis($r, 'XLEN', 'public.aj') || 0) >= 1 }, 30), 'streaming');
ok(wait_until(sub { $node->safe_psql('postgres',
	q{SELECT attested_lsn IS NOT NULL FROM wal2queue.slots WHERE slot_name = 'aj'}) eq 't' }, 30),
	'the slot was attested');
my $xact = $node->background_psql('postgres');
$xact->query_safe(q{BEGIN; SELECT 1 FROM wal2queue.slots WHERE slot_name = 'aj' FOR UPDATE})
  unless $control;
my ($gone, $took) = sigterm_bridge($b, 20);
ok($gone, sprintf('the bridge ends within 20 s of SIGTERM (%s)', $gone ? sprintf('%.1f s', $took) : 'still running'))
  or diag(join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b)) . "\nwaiting: "
	. $node->safe_psql('postgres', q{SELECT string_agg(pid || ' ' || wait_event_type || ' ' || left(query, 60), ', ')
		FROM pg_stat_activity WHERE wait_event_type = 'Lock'}));
$xact->quit;
$b->{h}->kill_kill unless $gone;
stop_redis($r);
$node->stop('immediate');
done_testing();
