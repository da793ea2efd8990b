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
# after its connect (the second part: a proxy lets the attestation's
# connect through, then nothing).
# Expected: the bridge ends within a few seconds of SIGTERM (its final
# attestation bounded as FINAL_ATTEST_TIMEOUT_MS says, 2 s), without the
# attestation if it cannot have it.
# Severity: low -- a stop or restart hangs until the service manager kills
# it (kill -9 is safe: no loss), the slot active for that time.
# Reliable (2 of 2: still running 20 s after SIGTERM).
# Fixed: bridge/slotwatch.c slotwatch_attest_final() runs within
# FINAL_ATTEST_TIMEOUT_MS in all (final_connect(), final_exec():
# PQconnectStartParams/PQsendQueryParams and poll() to one deadline, which
# the stop flag, already set, does not cut short), sets lock_timeout and
# statement_timeout to what is left before attest_slot() so that its
# session ends with it, and gives up with a WARNING ("could not attest
# slot ... at the stop": what that means for prune() and for a restart
# that no sink record vouches for).  The periodic attestation had the same
# wait: not in the loop (the watch is non-blocking) but it held the watch's
# connection for as long as the lock, so no health, no keys for a held
# message, no publication poll (pgoutput drops its stream after
# PUBWATCH_STALE_MS without one: the third part); the watch's session now has lock_timeout
# (WATCH_LOCK_TIMEOUT_MS, 1 s) and statement_timeout, and a connect or a
# query without an answer for WATCH_ANSWER_TIMEOUT_MS (3 s: a silent path)
# is given up and tried again at the next interval.  Against main's bridge
# (c74a6b98): no "could not attest" while the row is locked, both stops
# still running after 20 s, and pgoutput's stream dropped ("could not read
# publication") within 8 s of the lock.
# Control (W2Q_ATTACK_CONTROL=1): no transaction holds the row, the path
# is not cut: the bridge ends at once, the slot attested.  Passes (before
# the fix too, but for the periodic attestation's check, which needs the
# lock).
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
	CREATE TABLE ak (id int PRIMARY KEY);
	CREATE TABLE al (id int PRIMARY KEY);
});

# the bridge streams table $t's slot and has attested it
sub streaming_attested
{
	my ($t) = @_;
	ok(wait_until(sub {
		$node->safe_psql('postgres', "INSERT INTO $t SELECT coalesce(max(id), 0) + 1 FROM $t");
		(redis($r, 'XLEN', "public.$t") || 0) >= 1 }, 30), "$t: streaming");
	ok(wait_until(sub { $node->safe_psql('postgres',
		"SELECT attested_lsn IS NOT NULL FROM wal2queue.slots WHERE slot_name = '$t'") eq 't' }, 30),
		"$t: the slot was attested");
}

sub not_log
{
	my ($b) = @_;
	return join("\n", grep { !/DEBUG/ } split /\n/, bridge_log($b));
}

# 1. the slot's registry row locked by another transaction
my $b = start_bridge($node, $r, '--slot', 'aj', '--create-slot', '--status-interval', '1');
streaming_attested('aj');
my $xact = $node->background_psql('postgres');
$xact->query_safe(q{BEGIN; SELECT 1 FROM wal2queue.slots WHERE slot_name = 'aj' FOR UPDATE})
  unless $control;
# the periodic attestation gives the lock up (and the watch goes on)
ok($control || wait_until(sub { bridge_log($b) =~ /could not attest slot "aj": .*lock timeout/ }, 15),
	'aj: the periodic attestation gives up the locked row');
my ($gone, $took) = sigterm_bridge($b, 20);
ok($gone && $took < 10, sprintf('aj: the bridge ends within 10 s of SIGTERM (%s)',
		$gone ? sprintf('%.1f s', $took) : 'still running'))
  or diag(not_log($b) . "\nwaiting: " . $node->safe_psql('postgres',
		q{SELECT string_agg(pid || ' ' || wait_event_type || ' ' || left(query, 60), ', ')
		FROM pg_stat_activity WHERE wait_event_type = 'Lock'}));
$b->{h}->kill_kill unless $gone;
like(bridge_log($b), $control ? qr/stopped; confirmed/
	: qr/WARNING: could not attest slot "aj" at the stop: canceling statement due to (lock|statement) timeout; prune\(\)/,
	'aj: the stop says the attestation was not made') or diag(not_log($b));
# the attestation's session gave the lock up too
ok(wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
	WHERE application_name = 'wal2queue-bridge slot watch'}) eq '0' }, 10),
	'aj: no session of the bridge left waiting for the row');
$xact->quit;

# 2. the path goes silent after the attestation's connect: a proxy that,
# once cut, freezes the connections open (the stream's) and lets a new one
# (the attestation's) send its startup packet and nothing more
my ($pport, $cut, $pid) = start_blackhole_proxy($node, close_on_cut => 0, startup_only => 1);
$b = start_bridge($node, $r, '-d',
	"host=127.0.0.1 port=$pport dbname=postgres sslmode=disable gssencmode=disable",
	'--slot', 'ak', '--create-slot', '--status-interval', '1');
streaming_attested('ak');
unless ($control)
{
	open(my $fh, '>', $cut) or die;
	close $fh;
	# the proxy saw it once a new connection's query goes unanswered
	ok(wait_until(sub {
		my $timed_out;
		$node->psql('postgres', 'SELECT 1', timeout => 1, timed_out => \$timed_out, connstr =>
			"host=127.0.0.1 port=$pport dbname=postgres sslmode=disable gssencmode=disable");
		$timed_out }, 20), 'ak: the path is silent');
}
($gone, $took) = sigterm_bridge($b, 20);
# 2 s for the attestation, 5 s for the frozen stream's end (FINISH_TIMEOUT_MS)
ok($gone && $took < 12, sprintf('ak: the bridge ends within 12 s of SIGTERM (%s)',
		$gone ? sprintf('%.1f s', $took) : 'still running'))
  or diag(not_log($b));
$b->{h}->kill_kill unless $gone;
like(bridge_log($b), $control ? qr/stopped; confirmed/
	: qr/WARNING: could not attest slot "ak" at the stop: no answer from the server in time/,
	'ak: the stop says the attestation was not made') or diag(not_log($b));
stop_blackhole_proxy($pid);

# 3. pgoutput: the publication's poll shares the watch's connection; with
# the row locked it goes on, and the stream is not dropped as stale
# (PUBWATCH_STALE_MS, 5 s, once there is something new to confirm; the
# open transaction holds the confirmation back meanwhile, as any does)
$b = start_bridge($node, $r, '--plugin', 'pgoutput', '--publication', 'w2q', '--tables', 'public.al',
	'--slot', 'al', '--create-slot', '--status-interval', '1');
streaming_attested('al');
$xact = $node->background_psql('postgres');
$xact->query_safe(q{BEGIN; SELECT 1 FROM wal2queue.slots WHERE slot_name = 'al' FOR UPDATE})
  unless $control;
wait_until(sub {
	$node->safe_psql('postgres', 'INSERT INTO al SELECT max(id) + 1 FROM al');
	bridge_log($b) =~ /could not read publication/ }, 8);
unlike(bridge_log($b), qr/could not read publication/, 'al: the stream was not dropped in 8 s of lock');
$xact->quit;
$b->{h}->kill_kill;
stop_redis($r);
$node->stop('immediate');
done_testing();
