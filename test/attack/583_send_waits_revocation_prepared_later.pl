# What: a send() that arrives while a revocation runs waits for it -- and
# keeps waiting, with no bound, when that transaction then PREPAREs and its
# coordinator goes away: exactly the state test/t/542 was fixed for ("a
# prepared one is not waited for: send() fails naming it").  A two-phase
# coordinator (an XA transaction manager, a migration tool) runs the
# revocation as part of its global transaction: BEGIN; revoke; ... PREPARE
# TRANSACTION; crash.  Every send() that came in between the revocation's
# UPDATE and its PREPARE (the length of the global transaction's work)
# hangs with its application transaction's locks until an operator finds
# and resolves the prepared transaction; send()s arriving after the PREPARE
# fail at once with 55P03 naming it.
# Why: sql/src/10_send.sql send(): send_key_probe() looks at
# pg_prepared_xacts once, before the wait; it finds no prepared transaction
# (the revocation is a live session's), so send() then waits on its FOR
# SHARE, which follows the lock when the holder becomes a prepared
# transaction (its xid's lock moves to the dummy PGPROC).
# Expected: a send() waiting for a revocation that becomes prepared fails
# within a bound (e.g. a few seconds) with the 542 error naming the gid,
# as one arriving after the PREPARE does.
# Severity: low-medium (availability, as 542: producers hang until the
# prepared transaction is resolved; no loss).
# Reliability: deterministic (send() is seen waiting before the PREPARE);
# fails every run on main at 362c68c: send() is still waiting after 10 s
# (ended by its statement_timeout of 30 s).
# Control: W2Q_ATTACK_CONTROL=1 prepares the revocation before send()
# starts: send() fails at once naming the gid (542's fix; passes).
use strict;
use warnings;
use IPC::Run;
use Time::HiRes qw(time);
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('prep_later583', conf => "max_prepared_transactions = 4\n");
$node->safe_psql('postgres', q{CREATE EXTENSION wal2queue;
	SELECT wal2queue.rotate_message_key();});	# keys 1, 2

my $a = $node->background_psql('postgres', on_error_stop => 0);
$a->query_safe('BEGIN');
$a->query_safe('SELECT wal2queue.revoke_message_key(2)');
if ($control)
{
	$a->query_safe(q{PREPARE TRANSACTION 'rv583'});
	$a->quit;
}

my ($o, $e) = ('', '');
my $h = IPC::Run::start([ 'psql', '-X', '-At', '-d', $node->connstr('postgres'),
	'-c', 'SET statement_timeout = \'30s\'', '-c', q{SELECT wal2queue.send('emails', '{"n": 1}')} ],
	'>', \$o, '2>', \$e);
unless ($control)
{
	ok(wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
		WHERE query LIKE '%wal2queue.send(%' AND wait_event_type = 'Lock'}) eq '1' }, 30),
		'send() waits for the running revocation of key 2');
	$a->query_safe(q{PREPARE TRANSACTION 'rv583'});
	$a->quit;	# the coordinator is gone
}
my $t0 = time();
my $ended = wait_until(sub { $h->pump_nb if $h->pumpable; !$h->pumpable }, 10);
note(sprintf('send() %s after %.1f s: %s', $ended ? 'ended' : 'still waits', time() - $t0, $e));
ok($ended, 'send() does not wait for the prepared revocation (ends within 10 s)');
$h->finish;
like($e, qr/locked by the prepared transaction 'rv583'/, 'its error names the prepared transaction');
$node->safe_psql('postgres', q{ROLLBACK PREPARED 'rv583'});
$node->stop;
done_testing();
