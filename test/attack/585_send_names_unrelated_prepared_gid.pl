# What: an operator revokes a key in psql with ON_ERROR_ROLLBACK on (every
# statement of an open transaction runs under a savepoint; docs/extension.md
# names it among the subtransaction cases) and has not committed yet; some
# unrelated two-phase transaction of the application (here 'pay585', an
# INSERT into orders, prepared by an XA coordinator that will commit it in
# a moment) exists in the database.  A READ COMMITTED send() does not wait
# for the revocation, as docs/extension.md promises ("a live session's open
# revocation is still waited for even while some other transaction is
# prepared"): after a second it fails with 55P03 "key 2 ... is locked by
# the prepared transaction 'pay585'" and a HINT to "Finish it (COMMIT
# PREPARED 'pay585' or ROLLBACK PREPARED 'pay585' ...), then retry" -- an
# operator following it rolls back a payment that never touched the key.
# Why: sql/src/10_send.sql send_key_probe(): the row's xmax is the live
# session's subtransaction xid; the check that keeps a live holder from
# being taken for a prepared one compares it with pg_stat_activity's
# backend_xid, a top-level xid only, so it never matches a subtransaction;
# every prepared transaction of the database that began before the xmax is
# then named.  The live holder is known exactly: pg_locks lists the
# subtransaction's xid lock with the session's pid.
# Expected: send() waits for the live revocation (as it does for one
# without the savepoint, test/t/542) and then signs with key 1; it never
# names a prepared transaction that does not hold the row.
# Severity: low-medium (send()s fail for as long as the revocation is open,
# instead of waiting; the HINT points at an unrelated prepared
# transaction, whose rollback loses that transaction's work).
# Reliability: deterministic; fails every run on main at 362c68c.
# Control: W2Q_ATTACK_CONTROL=1 commits 'pay585' first (no prepared
# transaction): send() waits for the revocation and signs with key 1
# (passes).
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('unrelated585', conf => "max_prepared_transactions = 4\n");
$node->safe_psql('postgres', q{CREATE EXTENSION wal2queue;
	SELECT pg_create_logical_replication_slot('peek585', 'test_decoding');
	CREATE TABLE orders (id serial PRIMARY KEY, note text);
	SELECT wal2queue.rotate_message_key();});	# keys 1, 2
$node->safe_psql('postgres', q{BEGIN; INSERT INTO orders (note) VALUES ('payment');
	PREPARE TRANSACTION 'pay585'});
$node->safe_psql('postgres', q{COMMIT PREPARED 'pay585'}) if $control;

# psql's ON_ERROR_ROLLBACK: SAVEPOINT before the statement, RELEASE after it
my $op = $node->background_psql('postgres');
$op->query_safe('BEGIN');
$op->query_safe('SAVEPOINT pg_psql_temporary_savepoint');
$op->query_safe('SELECT wal2queue.revoke_message_key(2)');
$op->query_safe('RELEASE pg_psql_temporary_savepoint');

my ($o, $e) = ('', '');
my $h = IPC::Run::start([ 'psql', '-X', '-At', '-d', $node->connstr('postgres'),
	'-c', 'SET statement_timeout = \'30s\'', '-c', q{SELECT wal2queue.send('emails', '{"n": 1}')} ],
	'>', \$o, '2>', \$e);
ok(wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
	WHERE query LIKE '%wal2queue.send(%' AND wait_event_type = 'Lock'}) eq '1' }, 30),
	'send() waits on the key row');
# past the probe's second: still waiting?
my $failed = wait_until(sub { $h->pump_nb if $h->pumpable; !$h->pumpable }, 4);
note("send() " . ($failed ? "ended: $e" : 'still waits'));
ok(!$failed, 'send() still waits for the live revocation after 4 s');
$op->query_safe('COMMIT');
$op->quit;
$h->finish;
unlike($e, qr/pay585/, 'no unrelated prepared transaction is named');
is($e, '', 'send() signs once the revocation commits');
my $m = $node->safe_psql('postgres', q{SELECT substr(data, 1, 80)
	FROM pg_logical_slot_get_changes('peek585', NULL, NULL) WHERE data LIKE 'message:%'});
like($m, qr/prefix: wal2queue!1\./, 'with key 1');
$node->safe_psql('postgres', q{ROLLBACK PREPARED 'pay585'}) unless $control;
$node->stop;
done_testing();
