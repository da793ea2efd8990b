# Fixed: (1) the walsender's "publication ... does not exist" (SQLSTATE
# 42704) in pgoutput mode is fatal (bridge/stream.c copy_ended): exit 1,
# saying what happened and the remedy (drop and re-create the slot,
# --backfill); (2) connect_stream() (bridge/bridge.c) no longer resets the
# backoff when START_REPLICATION succeeds, only when the session handed the
# sink a transaction (or lasted longer than the longest backoff): a session
# ended at once by the server, again and again, backs off (checked below
# with the walsender terminated four times while no transaction comes).
#
# The attack: a publication dropped and created again while the
# bridge streams (a DBA re-creating it to change it) wedges a pgoutput slot
# for good: pgoutput reads the publication as of each decoded transaction,
# and for the WAL between the DROP and the CREATE it does not exist, so
# every START_REPLICATION fails with 'publication "w2q" does not exist'.
# The bridge treats that as transient: connect_stream() (bridge/bridge.c)
# resets the backoff as soon as START_REPLICATION succeeds, so it reconnects
# every 0.1 s forever (each time the walsender decodes from the slot's
# restart_lsn again), logs only a WARNING and never says what to do (the
# slot must be dropped and created again; the jobs in between are lost).
# docs/managed.md does not warn about re-creating the publication either.
# Expected: the bridge stops with an error naming the publication and the
# remedy, or at least backs off (here: at most 20 attempts in 10 s).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('pgorecreate', no_allow_list => 1);
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE ROLE bridge LOGIN REPLICATION;
	GRANT CREATE ON DATABASE postgres TO bridge;
	CREATE TABLE jobs (id int PRIMARY KEY, v text);
	ALTER TABLE jobs OWNER TO bridge;
});
my $b = start_bridge($node, $r, '-d', $node->connstr('postgres') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'w2q', '--slot', 'pgo', '--create-slot', '--tables', 'public.jobs',
	'--status-interval', '1');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "pgo"/ }), 'streaming') or diag(bridge_log($b));

# sessions that deliver nothing keep the backoff: 0.1, 0.2, 0.4, 0.8 s
my $kill = q{SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
	WHERE slot_name = 'pgo' AND active_pid IS NOT NULL};
sub streamed { my @x = bridge_log($b) =~ /streaming slot "pgo"/g; return scalar @x }
for my $i (1 .. 4)
{
	wait_until(sub { streamed() == $i && $node->safe_psql('postgres', $kill) eq 't' }, 30);
	wait_until(sub { streamed() == $i + 1 }, 30);
}
my @delays = bridge_log($b) =~ /reconnecting in ([0-9.]+) s/g;
is(join(' ', @delays), '0.1 0.2 0.4 0.8', 'the walsender ended four sessions that delivered nothing: the backoff grows');
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (1, 'before')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }), 'job 1 delivered');
wait_until(sub { $node->safe_psql('postgres', $kill) eq 't' }, 30);
ok(wait_until(sub { streamed() == 6 }, 30), 'reconnected');
@delays = bridge_log($b) =~ /reconnecting in ([0-9.]+) s/g;
is($delays[-1], '0.1', 'a session that delivered a transaction resets the backoff');
$node->safe_psql('postgres', q{
	SET ROLE bridge;
	DROP PUBLICATION w2q;
	INSERT INTO jobs VALUES (2, 'between');
	CREATE PUBLICATION w2q FOR TABLE jobs WITH (publish = 'insert', publish_via_partition_root = true);
	INSERT INTO jobs VALUES (3, 'after');
});
my $t0 = time();
wait_until(sub { bridge_log($b) =~ /does not exist/ }, 30);
wait_until(sub { !$b->{h}->pumpable }, 10);
my $log = bridge_log($b);
my $attempts = () = $log =~ /publication "w2q" does not exist/g;
my $exited = !$b->{h}->pumpable;
note("$attempts failed attempts; bridge exited: " . ($exited ? 'yes' : 'no'));
ok(($exited && $log =~ /ERROR.*publication "w2q".*(slot|--drop-slot)/s) || $attempts <= 20,
	'a publication re-created under a streaming slot: an error with the remedy, or a backoff')
  or diag("$attempts attempts in about 10 s, last lines:\n" . join("\n", (split /\n/, $log)[-4 .. -1]));
ok($exited, 'the bridge stopped');
is($b->{h}->finish || $b->{h}->full_result(0) >> 8, 1, 'exit status 1') if $exited;
like($log, qr/ERROR: replication stream ended: publication "w2q" does not exist: the publication was dropped \(and perhaps created again\) after slot "pgo" was created.*hint: drop the slot and create it again \(--drop-slot, then --create-slot, with --backfill/,
	'what happened, and the remedy');
is($attempts, 1, 'no retry');
stop_bridge($b) unless $exited;
stop_redis($r);
$node->stop;
done_testing();
