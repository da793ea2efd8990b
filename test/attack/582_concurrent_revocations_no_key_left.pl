# What: two revocations of the last two keys not revoked, in two
# transactions that overlap, both commit: no key is left that is not
# revoked, which revoke_message_key() exists to refuse ("key % is the last
# key not revoked", rotate first).  Every send() then fails ("holds no key
# that is not revoked") until someone rotates; every send() that committed
# meanwhile signed with one of them is dropped by the bridge.  An operator
# who revokes two suspected keys from two terminals (or a script that
# revokes each in its own connection) meets it without any hostile role.
# Why: sql/src/05_message_key.sql revoke_message_key(): it locks only the
# row it revokes (FOR UPDATE) and reads "another key not revoked" in its
# snapshot, where the other revocation, running, is invisible; nothing
# serializes two revocations (no lock on the other rows, nor on the table).
# Expected: the second revocation waits for the first and then is refused
# (or the two serialize otherwise): at least one key stays not revoked,
# and send() keeps working.
# Severity: low-medium (operator race; all send()s fail until a rotation,
# and send()s of the window are dropped; no forgery possible).
# Reliability: deterministic (the order is set by two held sessions);
# fails every run on main at 362c68c.
# Control: W2Q_ATTACK_CONTROL=1 commits the first revocation before the
# second starts: the second is refused, send() signs (passes).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('norevoke582');
$node->safe_psql('postgres', q{CREATE EXTENSION wal2queue;
	SELECT wal2queue.rotate_message_key();});	# keys 1, 2

my $a = $node->background_psql('postgres', on_error_stop => 0);
my $b = $node->background_psql('postgres', on_error_stop => 0);
$a->query_safe('BEGIN');
$a->query_safe('SELECT wal2queue.revoke_message_key(1)');
$a->query_safe('COMMIT') if $control;
$b->query_safe('BEGIN');
$b->query('SELECT wal2queue.revoke_message_key(2)');
note("second revocation: $b->{stderr}");
$b->query('COMMIT');
$a->query_safe('COMMIT') unless $control;
$a->quit;
$b->quit;

is($node->safe_psql('postgres', 'SELECT count(*) > 0 FROM wal2queue.message_key WHERE NOT revoked'), 't',
	'a key not revoked is left after two overlapping revocations');
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT wal2queue.send('emails', '{"n": 1}') IS NOT NULL});
is($err, '', 'send() signs afterwards');
$node->stop;
done_testing();
