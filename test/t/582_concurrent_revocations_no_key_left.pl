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
# Reliability: deterministic (the order is set by two held sessions and a
# wait for the second one's lock wait); failed every run on main at 362c68c.
# Fixed: sql/src/05_message_key.sql revoke_message_key() locks the table
# SHARE ROW EXCLUSIVE first (rotate_message_key() too): revocations run one
# at a time, and the second, in READ COMMITTED, reads the keys after the
# first committed and is refused as the last key.  The lock conflicts with
# neither send()'s reads and FOR SHARE nor the bridge's SELECT (a send()
# during the revocation signs at once: checked here).  In REPEATABLE READ
# the second one's snapshot is older than the first's commit: it locks the
# other keys not revoked in it FOR SHARE, and the one revoked since is a
# serialization failure (checked here too).
# Control: W2Q_ATTACK_CONTROL=1 commits the first revocation before the
# second starts: the second is refused, send() signs (passes).
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('norevoke582');
$node->safe_psql('postgres', q{CREATE EXTENSION wal2queue;
	SELECT wal2queue.rotate_message_key();});	# keys 1, 2

# the second revocation (in ISOLATION LEVEL $level) while the first, of key
# 1, is open; returns its stderr
sub overlap
{
	my ($level) = @_;
	my $a = $node->background_psql('postgres', on_error_stop => 0);
	$a->query_safe('BEGIN');
	$a->query_safe('SELECT wal2queue.revoke_message_key(1)');
	$a->query_safe('COMMIT') if $control;
	my ($o, $e) = ('', '');
	my $b = IPC::Run::start([ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
		'-c', "BEGIN ISOLATION LEVEL $level", '-c', 'SELECT count(*) FROM wal2queue.message_key',
		'-c', q{SELECT wal2queue.revoke_message_key(2)}, '-c', 'COMMIT' ], '>', \$o, '2>', \$e);
	unless ($control)
	{
		ok(wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
			WHERE query LIKE '%revoke_message_key(2)%' AND wait_event_type = 'Lock'}) eq '1' }, 30),
			"$level: the second revocation waits for the first");
		my ($rc, $out, $err) = $node->psql('postgres', q{SET statement_timeout = '10s';
			SELECT wal2queue.send('emails', '{"n": 0}') IS NOT NULL});
		is($err, '', "$level: a send() meanwhile signs at once");
		$a->query_safe('COMMIT');
	}
	$a->quit;
	$b->finish;
	note("$level: second revocation: $e");
	return $e;
}

my $e = overlap('READ COMMITTED');
like($e, qr/key 2 is the last key not revoked/, 'READ COMMITTED: the second revocation is refused');
is($node->safe_psql('postgres', 'SELECT count(*) > 0 FROM wal2queue.message_key WHERE NOT revoked'), 't',
	'a key not revoked is left after two overlapping revocations');
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT wal2queue.send('emails', '{"n": 1}') IS NOT NULL});
is($err, '', 'send() signs afterwards');

# again with a REPEATABLE READ second revocation, on a new cluster
$node->stop;
$node = new_node('norevoke582rr');
$node->safe_psql('postgres', q{CREATE EXTENSION wal2queue;
	SELECT wal2queue.rotate_message_key();});	# keys 1, 2
$e = overlap('REPEATABLE READ');
if ($control)
{
	like($e, qr/key 2 is the last key not revoked/, 'REPEATABLE READ: the second revocation is refused');
}
else
{
	like($e, qr/could not serialize access due to concurrent update/,
		'REPEATABLE READ: the second revocation is a serialization failure');
}
is($node->safe_psql('postgres', 'SELECT count(*) > 0 FROM wal2queue.message_key WHERE NOT revoked'), 't',
	'a key not revoked is left');
($rc, $out, $err) = $node->psql('postgres', q{SELECT wal2queue.send('emails', '{"n": 1}') IS NOT NULL});
is($err, '', 'send() signs afterwards');
$node->stop;
done_testing();
