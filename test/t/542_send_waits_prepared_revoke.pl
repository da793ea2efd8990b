# What: a revocation left prepared (PREPARE TRANSACTION by a migration
# tool or a two-phase coordinator that then crashed or waits for another
# resource) holds the newest key's row: every READ COMMITTED send() of the
# database blocks on its FOR SHARE for as long as the prepared transaction
# lives -- across disconnects and server restarts -- although an older key
# (1) is valid and not being revoked, and a message signed with it verifies
# whatever the prepared transaction's outcome.  Each blocked send() also
# holds its application transaction's locks.
# Why: sql/src/10_send.sql send(): when send_key_busy() says the newest
# key's xmax may matter, it always waits (FOR SHARE) for the updater; the
# wait has no bound but the caller's timeouts.
# Expected: a READ COMMITTED send() does not wait for a prepared
# revocation: it signs with the newest key that is not revoked and not
# being revoked (key 1), or fails at once naming the prepared transaction.
# Severity: low-medium (availability: job producers of the whole database
# hang until an operator finds and resolves the prepared transaction; no
# loss).  A design choice for the lead: the plain open revocation
# (BEGIN; revoke; idle) blocks the same way while its session lives.
# Reliability: deterministic; with main's 10_send.sql (95d359f) 9 of its
# 16 checks fail (the send()s are cut by statement_timeout = 5s).
# Fixed: (the first outcome, a choice) sql/src/10_send.sql
# send_key_probe() does not wait for a prepared transaction that holds the
# key's row: a send() in any isolation level fails at once with
# lock_not_available naming its gid (the row's xmax is its xid), or after
# at most a second when the xmax is a subtransaction's of a prepared
# transaction (SAVEPOINT before PREPARE), with a HINT to COMMIT PREPARED or
# ROLLBACK PREPARED.  Signing with key 1 instead would sign with a key the
# operator may be about to revoke next.  Once the prepared transaction is
# rolled back, send() signs with key 2.  A running revocation of a live
# session is still waited for (test/t/531), documented in docs/extension.md.
# Since test/t/583 and 585, send_key_probe() is send_key_wait() (tries of a
# bounded wait, a look for a prepared holder before and after each) and
# send_key_holders() (pg_locks): the subtransaction case fails at once,
# naming the prepared transactions that lock the key table.
# Control: W2Q_ATTACK_CONTROL=1 commits the revocation instead of preparing
# it: send() signs with key 1 at once.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('prep_revoke', conf => "max_prepared_transactions = 4\n");
$node->safe_psql('postgres', q{CREATE EXTENSION wal2queue;
	SELECT pg_create_logical_replication_slot('peek542', 'test_decoding');
	CREATE TABLE orders (id serial PRIMARY KEY, note text);
	SELECT wal2queue.rotate_message_key()});	# key 2
$node->safe_psql('postgres', 'BEGIN; SELECT wal2queue.revoke_message_key(2); '
	. ($control ? 'COMMIT' : "PREPARE TRANSACTION 'rev542'"));
$node->restart;	# the prepared transaction survives; its session is gone

sub try_send
{
	my ($level) = @_;
	my $t0 = time;
	my ($rc, $out, $err) = $node->psql('postgres', qq{SET statement_timeout = '5s';
		BEGIN ISOLATION LEVEL $level;
		INSERT INTO orders (note) VALUES ('o1');
		SELECT wal2queue.send('emails', '{"n": 1}');
		COMMIT;}, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return ($err, time - $t0);
}

sub messages
{
	return $node->safe_psql('postgres', q{SELECT string_agg(substr(data, 1, 80), E'\n')
		FROM pg_logical_slot_get_changes('peek542', NULL, NULL) WHERE data LIKE 'message:%'}) // '';
}

if ($control)
{
	my ($err) = try_send('READ COMMITTED');
	is($err, '', 'the revocation committed: send() succeeds');
	like(messages(), qr/prefix: wal2queue!1\./, 'its message is signed with key 1');
	$node->stop;
	done_testing();
	exit 0;
}

for my $level ('READ COMMITTED', 'REPEATABLE READ')
{
	my ($err, $secs) = try_send($level);
	unlike($err, qr/statement timeout/, "a $level send() does not wait for the prepared revocation");
	like($err, qr/55P03.*key 2 of wal2queue.message_key is locked by the prepared transaction 'rev542'/,
		"a $level send() fails naming the prepared transaction");
	like($err, qr/HINT:.*ROLLBACK PREPARED 'rev542'/, 'the HINT says how to finish it');
}
is(messages(), '', 'no message was sent');

# the revocation in a subtransaction, then prepared: the row's xmax is the
# subtransaction's xid, which names no prepared transaction
$node->safe_psql('postgres', "ROLLBACK PREPARED 'rev542'");
$node->safe_psql('postgres', 'BEGIN; SAVEPOINT s; SELECT wal2queue.revoke_message_key(2); '
	. "RELEASE SAVEPOINT s; PREPARE TRANSACTION 'rev542b'");
my ($err, $secs) = try_send('READ COMMITTED');
unlike($err, qr/statement timeout/, 'a send() does not wait long for a prepared revocation run in a subtransaction');
like($err, qr/key 2 of wal2queue.message_key is locked by the prepared transaction 'rev542b'/,
	'it fails naming the prepared transaction');
ok($secs <= 4, "it fails within about a second ($secs s)");

# finished: send() signs with the newest key again
$node->safe_psql('postgres', "ROLLBACK PREPARED 'rev542b'");
($err) = try_send('READ COMMITTED');
is($err, '', 'once the prepared transaction is rolled back, send() succeeds');
like(messages(), qr/prefix: wal2queue!2\./, 'its message is signed with key 2');

# a prepared share lock on the row blocks nothing and refuses nothing
$node->safe_psql('postgres', 'BEGIN; SELECT id FROM wal2queue.message_key WHERE id = 2 FOR SHARE; '
	. "PREPARE TRANSACTION 'share542'");
($err) = try_send('READ COMMITTED');
is($err, '', 'a prepared share lock on the key: send() succeeds');
like(messages(), qr/prefix: wal2queue!2\./, 'its message is signed with key 2');

# an unrelated prepared transaction (older) and a live session's open
# revocation: send() still waits for the revocation, then signs with key 1
$node->safe_psql('postgres', "COMMIT PREPARED 'share542'");
$node->safe_psql('postgres', "BEGIN; INSERT INTO orders (note) VALUES ('x'); PREPARE TRANSACTION 'other542'");
my $live = $node->background_psql('postgres');
$live->query_safe('BEGIN');
$live->query_safe('SELECT wal2queue.revoke_message_key(2)');
my $in = $PostgreSQL::Test::Utils::tmp_check . '/app542.sql';
PostgreSQL::Test::Utils::append_to_file($in, "SET statement_timeout = '20s';\n"
	. "SELECT wal2queue.send('emails', '{\"n\": 3}');\n");
my ($o, $e) = ('', '');
my $h = IPC::Run::start([ 'psql', '-X', '-At', '-d', $node->connstr('postgres'), '-f', $in ],
	'>', \$o, '2>', \$e);
sleep 2;
$live->query_safe('COMMIT');
$live->quit;
$h->finish;
is($e, '', 'a live revocation is waited for, an unrelated prepared transaction is not named');
like(messages(), qr/prefix: wal2queue!1\./, 'then send() signs with key 1');
$node->safe_psql('postgres', "ROLLBACK PREPARED 'other542'");
$node->stop;
done_testing();
