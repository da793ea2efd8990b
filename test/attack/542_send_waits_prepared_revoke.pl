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
# Reliability: deterministic; fails its checks every run on main at
# 95d359f (the send() is cut by statement_timeout = 5s).
# Control: W2Q_ATTACK_CONTROL=1 commits the revocation instead of preparing
# it: send() signs with key 1 at once.
use strict;
use warnings;
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

my ($rc, $out, $err) = $node->psql('postgres', q{SET statement_timeout = '5s';
	BEGIN;
	INSERT INTO orders (note) VALUES ('o1');
	SELECT wal2queue.send('emails', '{"n": 1}');
	COMMIT;});
unlike($err, qr/statement timeout/, 'a READ COMMITTED send() does not wait for the prepared revocation')
  or diag($err);
my $m = $node->safe_psql('postgres', q{SELECT string_agg(substr(data, 1, 80), E'\n')
	FROM pg_logical_slot_peek_changes('peek542', NULL, NULL) WHERE data LIKE 'message:%'});
like($m // '', qr/prefix: wal2queue!1\./, 'its message is signed with key 1');
$node->safe_psql('postgres', "ROLLBACK PREPARED 'rev542'") unless $control;
$node->stop;
done_testing();
