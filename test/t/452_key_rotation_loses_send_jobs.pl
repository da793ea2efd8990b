# What: replacing the key of wal2queue.message_key as docs/managed.md says
# ("UPDATE wal2queue.message_key with a new key and its pads ... then
# restart the bridge") loses send()'s jobs: (a) those sent between the
# UPDATE and the restart are ignored by the running bridge (it verifies with
# the key it read at stream open) and confirmed past, so the restart never
# sees them; (b) those sent before the UPDATE but decoded after it (a
# stopped or lagging bridge, a backlog) are ignored by the new session.
# Why: bridge/pgoutput.c decode_message() counts a message whose MAC does
# not verify as ignored and goes on (messages_ignored++; return FRAME_OK),
# and the ledger confirms past it; bridge/slot.c slot_read_message_key()
# reads the key once per stream open, and only the current key.  A MAC that
# does not verify with the key of the session is not told apart from a
# forgery.
# Expected: every committed send() is delivered exactly once across a key
# rotation done the documented way (e.g. the bridge re-reads the key, or
# stops instead of confirming past a signed message it cannot verify, or
# keeps the previous key).
# Severity: high (silent loss of jobs on a routine security operation).
# Control: a send() before the rotation, decoded before it, is delivered.
# Fixed: keys have ids and are never deleted (sql/src/05_message_key.sql:
# a trigger refuses DELETE and any change of a key); a signed prefix names
# its key (wal2queue!ID.MAC); wal2queue.rotate_message_key() adds a key and
# the old ones stay verifiable.  The bridge caches the keys by id and, for
# a message naming an id it does not know, reads the keys again in a fresh
# snapshot (the slot watch's connection) before judging it
# (bridge/pgoutput.c judge_signed, PGO_NEED_KEYS).
# Fixed: the documented rotation is rotate_message_key(); the UPDATE of the
# old docs is refused.  (a) a job sent after a rotation is delivered by the
# running bridge, without a restart; (b) a backlog signed with the old key
# and decoded after the rotation is delivered.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $f = signed_send_fixture('rotate452');
my ($node, $r, @args) = ($f->{node}, $f->{r}, @{ $f->{args} });
sub send_job { $f->{send_job}->(@_) }
sub admin_err
{
	my ($sql) = @_;
	my ($out, $err) = run_command([ 'psql', '-X', '-q', '-d', $node->connstr('app') . ' user=admin', '-c', $sql ]);
	return $err // '';
}
sub caught_up { $f->{caught_up}->() }
sub payloads { $f->{payloads}->() }

my $b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge streams') or diag(bridge_log($b));
is(send_job(1), '', 'send() before the rotation');
ok(caught_up(), 'decoded');
is(payloads(), '{"n": 1}', 'control: job 1 delivered');

# the old docs' rotation, an UPDATE of the key, is refused
like(admin_err(q{UPDATE wal2queue.message_key SET key = decode(repeat('ab', 48), 'hex')}),
	qr/ERROR:  wal2queue.message_key: a key never changes/, 'an UPDATE of the key is refused');
like(admin_err(q{DELETE FROM wal2queue.message_key}),
	qr/ERROR:  wal2queue.message_key: a key is never deleted.*\n.*\nHINT:  Revoke a leaked key with wal2queue.revoke_message_key/s,
	'a DELETE is refused, naming revoke_message_key()');
like(admin_err(q{TRUNCATE wal2queue.message_key}), qr/ERROR:  wal2queue.message_key: a key is never deleted/,
	'a TRUNCATE is refused');

# (a) rotate while the bridge runs, send: the running bridge delivers it
is(admin_err(q{SELECT wal2queue.rotate_message_key()}), '', 'rotate_message_key() while the bridge streams');
is(send_job(2), '', 'send() after the rotation, while the bridge runs');
ok(caught_up(), 'decoded by the running bridge');
is(payloads(), '{"n": 1},{"n": 2}', '(a) job 2, signed with the new key, is delivered by the running bridge');
is(stop_bridge($b) >> 8, 0, 'the bridge stops (maintenance, or it lags)');

# (b) a backlog signed with the old key, decoded after a rotation
is(send_job(3), '', 'send() while the bridge is stopped');
is(admin_err(q{SELECT wal2queue.rotate_message_key()}), '', 'another rotation');
$b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge streams again') or diag(bridge_log($b));
ok(caught_up(), 'caught up');
is(payloads(), '{"n": 1},{"n": 2},{"n": 3}', '(b) job 3, sent before the rotation and decoded after it, is delivered');
is(send_job(4), '', 'control: send() with the newest key, read at this stream open');
ok(caught_up(), 'caught up');
is(payloads(), '{"n": 1},{"n": 2},{"n": 3},{"n": 4}', 'control: job 4 is delivered');
is($node->safe_psql('app', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM wal2queue.message_key}), '1,2,3',
	'three keys, none deleted');
unlike(bridge_log($b), qr/ignoring wal2queue logical messages/, 'no signed send() is ignored');
stop_bridge($b);
done_testing();
