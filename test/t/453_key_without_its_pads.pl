# What: wal2queue.message_key keeps the key and, beside it, its HMAC pads
# (ipad, opad); nothing ties them together.  An administrator who replaces
# the key (docs/managed.md: "UPDATE wal2queue.message_key with a new key and
# its pads") and updates only the key column gets no error, and from then
# on every send() job is ignored by the bridge as a forgery (counted, lost).
# Why: sql/src/05_message_key.sql checks only the lengths of key, ipad and
# opad; send() (sql/src/10_send.sql) signs with ipad/opad, the bridge
# (bridge/message_access.h MESSAGE_KEY_SQL) verifies with key.  Two copies
# of one secret that can disagree.
# Expected: an UPDATE that leaves the pads of another key is refused (e.g. a
# CHECK or trigger that derives them, or send() derives the pads from key),
# or the jobs are still delivered.
# Severity: medium (an operator's plausible half-rotation silently loses
# every send() job; only the metric and one warning tell).
# Control: send() before the UPDATE is delivered.
# Fixed: the pads are derived from the key by a trigger
# (sql/src/05_message_key.sql, wal2queue.message_key_guard()), never
# supplied, and a key never changes: an UPDATE of key (or of the pads) is
# refused, naming rotate_message_key(); the key keeps verifying, job 2 is
# delivered.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $f = signed_send_fixture('pads453');
my ($node, $r, @args) = ($f->{node}, $f->{r}, @{ $f->{args} });
sub send_job { $f->{send_job}->(@_) }
sub caught_up { $f->{caught_up}->() }
sub payloads { $f->{payloads}->() }

my $b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge streams') or diag(bridge_log($b));
is(send_job(1), '', 'send() before the UPDATE');
ok(caught_up(), 'decoded');
is(payloads(), '{"n": 1}', 'control: job 1 delivered');
is(stop_bridge($b) >> 8, 0, 'the bridge stops');

my ($out, $err) = run_command([ 'psql', '-X', '-q', '-d', $node->connstr('app') . ' user=admin', '-c',
	q{UPDATE wal2queue.message_key SET key = decode(replace(concat(gen_random_uuid(), gen_random_uuid(), gen_random_uuid()), '-', ''), 'hex')} ]);
my $refused = ($err // '') =~ /ERROR/;
is(send_job(2), '', 'send() after it');
$b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge streams again (it read the new key)') or diag(bridge_log($b));
ok(caught_up(), 'caught up');
ok($refused, 'the UPDATE of the key alone is refused') or diag($err);
like($err, qr/a key never changes.*HINT:  Add a key with wal2queue.rotate_message_key\(\)/s, 'naming rotate_message_key()');
is(payloads(), '{"n": 1},{"n": 2}', 'job 2 is delivered');
is($node->safe_psql('app', q{SELECT count(*) FROM wal2queue.message_key
	WHERE get_byte(ipad, 0) = get_byte(key, 0) # 54 AND get_byte(opad, 0) = get_byte(key, 0) # 92}), '1',
	'the pads are the key\'s');
ok(payloads() eq '{"n": 1},{"n": 2}',
	'the UPDATE of the key alone is refused, or job 2 is delivered') or diag("UPDATE: " . ($err // '') . "\nstream emails: " . payloads());
unlike(bridge_log($b), qr/ignoring wal2queue logical messages/, 'no signed send() is ignored');
stop_bridge($b);
done_testing();
