# Fixed: slotwatch.c final_connect() copies the reason into the caller's
# buffer before PQfinish(), and slotwatch_attest_final()'s probe branch
# does the same before it finishes the connection: the WARNING names the
# server's reason, and nothing reads freed memory (passes under ASan).
#
# What: the last attestation's connect fails at once (the server refuses
# it: the database does not allow connections, a pg_hba reject, too many
# clients, the server shutting down or restarting during the stop, a host
# name that does not resolve).  The WARNING "could not attest slot ... at
# the stop: <why>" prints <why> from a PGconn already freed: garbage bytes
# in the log (seen: "at the stop: \xd8\x94\tiTV; prune() ..." in 681's
# run), or a crash; under AddressSanitizer a heap-use-after-free that ends
# the bridge before its stream's end.
# Why: bridge/slotwatch.c final_connect(): on failure it sets
# *why = PQerrorMessage(c), then PQfinish(c), and returns; the caller
# slotwatch_attest_final() logs *why afterwards (slotwatch.c line 546
# reads what line 403 freed: termPQExpBuffer() of PQfinish()).  New with
# 624's fix: before it (75442636) the failure was a DEBUG line, printed
# before PQfinish() (there only the 4th check fails: no WARNING).
# Expected: the WARNING names the server's reason (copied before
# PQfinish()), and nothing reads freed memory.
# Severity: low -- a stop's log line is garbled (or the process crashes at
# the very end of a stop: the slot's confirmation was already sent, so no
# loss; but a crash exit status instead of 0 to a service manager, and
# whatever the freed chunk holds goes to the log).
# Reliable: deterministic under AddressSanitizer (make -C bridge
# SANITIZE=1, W2Q_BRIDGE=$PWD/bridge/build-asan/wal2queue-bridge: 2 of 2 on
# main at 9107cd89); with the plain build the message is garbled as long
# as something reused the chunk (2 of 2 here: "at the stop: ^_'\x80TuU;").
# The same read after free by reading: a probe or wait query whose send or
# flush fails (final_exec() sets *why = PQerrorMessage(c)) and the
# probe's branch then calls PQfinish(c) before the WARNING.
# Control (W2Q_ATTACK_CONTROL=1): connections allowed: the slot is
# attested at the stop, no WARNING.  Passes (both builds).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('freed682');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE fa (id int PRIMARY KEY);
});
my $b = start_bridge($node, $r, '--slot', 'fa', '--create-slot', '--status-interval', '1');
ok(wait_until(sub {
	$node->safe_psql('postgres', 'INSERT INTO fa SELECT coalesce(max(id), 0) + 1 FROM fa');
	(redis($r, 'XLEN', 'public.fa') || 0) >= 1 }, 30), 'fa: streaming')
  or diag(bridge_log($b));
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT attested_lsn IS NOT NULL FROM wal2queue.slots WHERE slot_name = 'fa'") eq 't' }, 30),
	'fa: the slot was attested');
# new connections to the bridge's database are refused (its open ones stay)
$node->safe_psql('template1', 'ALTER DATABASE postgres ALLOW_CONNECTIONS false') unless $control;
my ($gone, $took) = sigterm_bridge($b, 20);
$b->{h}->kill_kill unless $gone;
my $log = bridge_log($b);
unlike($log, qr/AddressSanitizer|runtime error/, 'fa: nothing reads freed memory at the stop')
  or diag(join("\n", (grep { /ERROR: AddressSanitizer|READ of size|#\d+ .* in / } split /\n/, $log)[0 .. 12]));
like($log, $control ? qr/stopped; confirmed/
	: qr/WARNING: could not attest slot "fa" at the stop: .*database "postgres" is not currently accepting connections; prune\(\)/,
	'fa: the stop names why the attestation was not made')
  or diag(join("\n", grep { /could not attest/ } split /\n/, $log));
$node->safe_psql('template1', 'ALTER DATABASE postgres ALLOW_CONNECTIONS true') unless $control;
stop_redis($r);
$node->stop('immediate');
done_testing();
