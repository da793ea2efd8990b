# What: revoke_message_key() run inside a subtransaction -- a SAVEPOINT, a
# DO block or function with an EXCEPTION clause, psql's ON_ERROR_ROLLBACK,
# a driver's autosave -- leaves the SUBtransaction's xid as the key row's
# xmax.  Once any later transaction has committed (routine on a live
# server), a REPEATABLE READ send() whose snapshot predates the
# revocation's commit signs with the revoked key (the newest, 2) and
# commits, with no serialization_failure; a READ COMMITTED send() running
# while the revocation is open signs at once with the key being revoked (3)
# instead of waiting and taking the newest key not revoked (1).  Both
# transactions commit after the revocation: the bridge drops their
# messages (signed with a revoked key), jobs silently lost.
# Why: sql/src/10_send.sql send_key_busy(): pg_visible_in_snapshot() on
# pg_current_snapshot() knows top-level xids only (a pg_snapshot has no
# subxip), so a running subtransaction's xid below the snapshot's xmax
# reads as "ended before the snapshot: a lock or an abort" and send()
# never asks the row (FOR SHARE); the MultiXact reading does not catch it
# (the xid is above the next MultiXactId).
# Expected: as for a top-level revocation (test/t/472, 517, 531): the
# REPEATABLE READ send() fails with serialization_failure "key 2 ... was
# revoked or changed", the READ COMMITTED one waits and signs with key 1.
# Severity: medium-high (the guarantee of 472/517/531 is void whenever the
# revocation runs under a savepoint; silent job loss, no error anywhere).
# Reliability: deterministic; with main's 10_send.sql (95d359f) the send()s
# of the snapshot levels sign and the READ COMMITTED one signs with key 5
# (checks 2, 4, 6 and 8 fail every run).
# Fixed: sql/src/10_send.sql send_xid_busy() asks pg_xact_status() about
# an xmax the snapshot seems to see: running (a subtransaction's too)
# matters; committed matters when a transaction of the snapshot's xip at
# or below it (its top-level one) has committed since the snapshot.  The
# REPEATABLE READ and SERIALIZABLE send()s then ask the row and fail; the
# READ COMMITTED one waits and signs with key 1.  Checked for a SAVEPOINT
# and for a DO block with an EXCEPTION clause (its own subtransaction).
# Control: W2Q_ATTACK_CONTROL=1 revokes without the SAVEPOINT: all pass.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('rvsp');
$node->safe_psql('postgres', q{CREATE EXTENSION wal2queue;
	SELECT pg_create_logical_replication_slot('peek540', 'test_decoding');
	CREATE TABLE orders (id serial PRIMARY KEY, note text);
	INSERT INTO orders (note) VALUES ('o0');
	SELECT wal2queue.rotate_message_key()});	# key 2

sub key_of_last_message
{
	my $m = $node->safe_psql('postgres', q{SELECT substr(data, 1, 80)
		FROM pg_logical_slot_get_changes('peek540', NULL, NULL) WHERE data LIKE 'message:%'});
	return $m =~ /prefix: wal2queue!(\d+)\./ ? $1 : "none ($m)";
}

# a snapshot isolation level: the snapshot is taken while the revocation
# (of key ID, in a subtransaction) is open; ID is revoked at commit, and
# the send() whose snapshot predates it must fail
my $a = $node->background_psql('postgres', on_error_stop => 0);
sub snapshot_send
{
	my ($level, $id, $how) = @_;
	$a->query_safe('BEGIN');
	if ($control)
	{
		$a->query_safe("SELECT wal2queue.revoke_message_key($id)");
	}
	elsif ($how eq 'savepoint')
	{
		$a->query_safe('SAVEPOINT s');
		$a->query_safe("SELECT wal2queue.revoke_message_key($id)");
	}
	else
	{
		$a->query_safe("DO \$\$BEGIN PERFORM wal2queue.revoke_message_key($id);
			EXCEPTION WHEN division_by_zero THEN NULL; END\$\$");
	}
	# any later transaction that commits (routine on a live server) puts the
	# snapshot's xmax above the revocation's xid
	$node->safe_psql('postgres', q{INSERT INTO orders (note) VALUES ('other')});
	my $rr = $node->background_psql('postgres', on_error_stop => 0);
	$rr->query_safe("BEGIN ISOLATION LEVEL $level");
	$rr->query_safe('SELECT count(*) FROM orders');	# the snapshot
	$a->query_safe('RELEASE SAVEPOINT s') if !$control && $how eq 'savepoint';
	$a->query_safe('COMMIT');
	is($node->safe_psql('postgres', "SELECT revoked FROM wal2queue.message_key WHERE id = $id"), 't',
		"key $id is revoked (committed)");
	my $out = $rr->query(q{SELECT wal2queue.send('emails', '{"n": 1}')});
	my $err = $rr->{stderr};
	$rr->query('COMMIT');
	$rr->quit;
	like($err, qr/key $id of wal2queue.message_key was revoked or changed/,
		"a $level send() whose snapshot predates the revocation ($how) fails")
	  or diag("out: $out err: $err; its message was signed with key " . key_of_last_message());
	key_of_last_message();
}

snapshot_send('REPEATABLE READ', 2, 'savepoint');
$node->safe_psql('postgres', 'SELECT wal2queue.rotate_message_key()');	# key 3
snapshot_send('SERIALIZABLE', 3, 'savepoint');
$node->safe_psql('postgres', 'SELECT wal2queue.rotate_message_key()');	# key 4
snapshot_send('REPEATABLE READ', 4, 'exception block');

# READ COMMITTED: send() while the revocation of key 5 is open waits, then key 1
$node->safe_psql('postgres', 'SELECT wal2queue.rotate_message_key()');	# key 5
$a->query_safe('BEGIN');
$a->query_safe('SAVEPOINT s') unless $control;
$a->query_safe('SELECT wal2queue.revoke_message_key(5)');
$node->safe_psql('postgres', q{INSERT INTO orders (note) VALUES ('other')});
my $in = $PostgreSQL::Test::Utils::tmp_check . '/app540.sql';
PostgreSQL::Test::Utils::append_to_file($in, "BEGIN;\nINSERT INTO orders (note) VALUES ('o1');\n"
	. "SELECT wal2queue.send('emails', '{\"n\": 2}');\nCOMMIT;\n");
my ($o, $e) = ('', '');
my $h = IPC::Run::start([ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'), '-f', $in ],
	'>', \$o, '2>', \$e);
sleep 2;
$a->query_safe('RELEASE SAVEPOINT s') unless $control;
$a->query_safe('COMMIT');
$a->quit;
$h->finish;
unlike($e, qr/ERROR/, 'the READ COMMITTED send() commits') or diag($e);
is(key_of_last_message(), '1', 'the READ COMMITTED send() running during the revocation of key 5 waits and signs with key 1, the newest not revoked');
$node->stop;
done_testing();
