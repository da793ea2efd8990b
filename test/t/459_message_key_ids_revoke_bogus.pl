# What: the keys of send()'s signatures have ids (sql/src/05_message_key.sql),
# and a signed prefix names its key (wal2queue!ID.MAC, plugin/FORMAT.md
# "Signed messages").  (1) A role that can only emit messages (any LOGIN
# role while PUBLIC may execute pg_logical_emit_message(), as on a managed
# server) names ids no key has, many times and in one transaction with a
# job of its own: each is skipped once the keys, read again in a snapshot
# that sees it, have no such id, and the jobs of send() after them are
# delivered: it cannot stall delivery.  (2) wal2queue.revoke_message_key()
# marks a leaked key: a message signed with it, though written before, is
# no job (the bridge warns), and the last key not revoked cannot be
# revoked.
# Expected: as above.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $f = signed_send_fixture('keyids459', q{
	CREATE ROLE mallory LOGIN;
});
my ($node, $r, @args) = ($f->{node}, $f->{r}, @{ $f->{args} });
sub as_role { $f->{as_role}->(@_) }
sub send_job { $f->{send_job}->(@_) }
sub caught_up { $f->{caught_up}->() }
sub payloads { $f->{payloads}->() }

my $b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge streams') or diag(bridge_log($b));

# (1) ids no key has, emitted by a LOGIN role: 30 transactions, then one
# with 50 of them, then the largest id
my $mac = 'ab' x 32;
my @bogus = map { "SELECT pg_logical_emit_message(true, 'wal2queue!" . (1000 + $_) . ".$mac:emails', 'forged $_')" } 1 .. 30;
is(as_role('mallory', @bogus), '', 'mallory emits 30 messages naming unknown key ids, one a transaction');
is(as_role('mallory', "SELECT count(pg_logical_emit_message(true, 'wal2queue!' || g || '.$mac:emails', 'forged')) FROM generate_series(2, 51) g"),
	'', 'and 50 in one transaction (ids 2 to 51)');
is(as_role('mallory', "SELECT pg_logical_emit_message(true, 'wal2queue!9223372036854775807.$mac:emails', 'forged max')"),
	'', 'and the largest id');
is(send_job(1), '', 'send() after them');
ok(caught_up(), 'a row after them is delivered: the bridge did not stall') or diag(bridge_log($b));
is(payloads(), '{"n": 1}', "send()'s job is delivered; no forged one is");
like(bridge_log($b), qr/ignoring wal2queue logical messages/, 'the forgeries are counted and warned about');
ok($b->{h}->pumpable, 'the bridge still runs');

# a forged id in the same transaction as a real job: the job is delivered
is(as_role('app_writer', "BEGIN; SELECT pg_logical_emit_message(true, 'wal2queue!77.$mac:emails', 'forged'); "
	. "SELECT wal2queue.send('emails', '{\"n\": 2}'); COMMIT"), '',
	'a forged id and a send() in one transaction');
ok(caught_up(), 'caught up');
is(payloads(), '{"n": 1},{"n": 2}', 'the job of that transaction is delivered, the forgery is not');
is(stop_bridge($b) >> 8, 0, 'the bridge stops');

# (2) revocation: a job signed with key 2, then key 2 leaks and is revoked
like(as_role('admin', 'SELECT wal2queue.revoke_message_key(1)'),
	qr/ERROR:  wal2queue.revoke_message_key: key 1 is the last key not revoked/,
	'the last key not revoked cannot be revoked');
is(as_role('admin', 'SELECT wal2queue.rotate_message_key()'), '', 'a new key, 2');
is(send_job(3), '', 'send() signs with key 2');
is(as_role('admin', 'SELECT wal2queue.rotate_message_key()', 'SELECT wal2queue.revoke_message_key(2)'), '',
	'key 2 leaks: a key 3, and key 2 is revoked');
like(as_role('admin', 'UPDATE wal2queue.message_key SET revoked = false WHERE id = 2'),
	qr/ERROR:  wal2queue.message_key: a key never changes, and a revoked key stays revoked/,
	'a revoked key stays revoked');
is(send_job(4), '', 'send() signs with key 3');
$b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge streams again') or diag(bridge_log($b));
ok(caught_up(), 'caught up');
is(payloads(), '{"n": 1},{"n": 2},{"n": 4}', 'the job signed with the revoked key is no job; the next one is');
like(bridge_log($b), qr/WARNING: ignoring a wal2queue message signed with a revoked key of wal2queue\.message_key in database "app"/,
	'the bridge warns about it');
stop_bridge($b);
done_testing();
