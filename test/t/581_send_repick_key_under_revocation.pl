# What: a READ COMMITTED send() that finds the newest key's revocation
# running waits for it and then re-picks "the newest key not revoked" in a
# new snapshot -- without asking whether that key, too, is being revoked.
# Keys 1, 2, 3.  Session A revokes key 3 and holds its transaction; session
# B (another operator, or the same script's second connection: the keys
# suspected leaked are revoked one by one) revokes key 2 and holds.  An
# application's send() (READ COMMITTED, autocommit) picks key 3, finds A
# running, waits; A commits; send() re-picks key 2 (B's revocation runs:
# the new snapshot does not see it) and signs with it, commits, returns its
# LSN; B commits.  The message is signed with key 2, revoked, although key 1
# was never revoked: the bridge drops it as a possible forgery ("not even
# one written before the revocation"), a job lost after send() returned.
# Why: sql/src/10_send.sql send(): after the probe, the READ COMMITTED
# branch runs SELECT ... WHERE NOT m.revoked ORDER BY m.id DESC LIMIT 1
# and signs, without send_key_busy() on the new row's xmax; the first pick
# is judged, the re-pick is not.  docs/managed.md promises only "a
# revocation that begins after send() chose its key" may leave a message
# signed with a revoked key; B's began before send() chose key 2.
# Expected: send() signs with a key no running revocation holds (here key
# 1: it waits for B too, or skips key 2), or fails; never with key 2.
# Severity: medium-low (needs two revocations in flight in two
# transactions while send() runs; the cost is a silently dropped job).
# Reliability: deterministic (the steps are ordered by the sessions and
# waits for send()'s lock waits); failed its last check every run on main
# at 362c68c.
# Fixed: sql/src/10_send.sql send() picks in a loop: each pick, the first
# and every one after a wait, is judged by send_key_busy() in the snapshot
# that read it, and a busy one is asked by send_key_wait() (a FOR SHARE
# rolled back at once) until the lock is granted on a key not revoked; so
# the re-pick of key 2 waits for B, finds key 2 revoked and signs with key
# 1.  Since revoke_message_key() now takes a table lock that serializes
# revocations (test/t/582), two of its calls can no longer be in flight at
# once: B's call would wait for A's commit and race send()'s re-pick, which
# no test can order.  So A and B revoke here as revoke_message_key() does
# without its table lock, by UPDATE ... SET revoked = true (the key table's
# trigger allows it to the owner), which makes the re-pick under a running
# revocation deterministic; the original form (two revoke_message_key()
# calls) is checked to serialize.
# Control: W2Q_ATTACK_CONTROL=1 leaves B's revocation out: send() waits
# for A, re-picks key 2, which stays unrevoked (passes).
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('repick581');
$node->safe_psql('postgres', q{CREATE EXTENSION wal2queue;
	SELECT pg_create_logical_replication_slot('peek581', 'test_decoding');
	SELECT wal2queue.rotate_message_key();
	SELECT wal2queue.rotate_message_key();});	# keys 1, 2, 3

# two revoke_message_key() calls are not in flight at once: the second
# waits for the first to end (both rolled back: the keys stay as they are)
{
	my $r1 = $node->background_psql('postgres', on_error_stop => 0);
	$r1->query_safe('BEGIN');
	$r1->query_safe('SELECT wal2queue.revoke_message_key(3)');
	my ($o2, $e2) = ('', '');
	my $r2 = IPC::Run::start([ 'psql', '-X', '-At', '-d', $node->connstr('postgres'),
		'-c', 'BEGIN', '-c', 'SELECT wal2queue.revoke_message_key(2)', '-c', 'ROLLBACK' ],
		'>', \$o2, '2>', \$e2);
	ok(wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
		WHERE query LIKE '%revoke_message_key(2)%' AND wait_event_type = 'Lock'}) eq '1' }, 30),
		'a revoke_message_key() waits while another one runs');
	$r1->query_safe('ROLLBACK');
	$r1->quit;
	$r2->finish;
	is($e2, '', 'and runs once it ended');
}

my $a = $node->background_psql('postgres', on_error_stop => 0);
my $b = $node->background_psql('postgres', on_error_stop => 0);
$a->query_safe('BEGIN');
$a->query_safe('UPDATE wal2queue.message_key SET revoked = true WHERE id = 3');
my $bpid = $b->query_safe('SELECT pg_backend_pid()');
unless ($control)
{
	$b->query_safe('BEGIN');
	$b->query_safe('UPDATE wal2queue.message_key SET revoked = true WHERE id = 2');
}

my ($o, $e) = ('', '');
my $h = IPC::Run::start([ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
	'-c', q{SELECT wal2queue.send('emails', '{"n": 1}')} ], '>', \$o, '2>', \$e);
ok(wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
	WHERE query LIKE '%wal2queue.send(%' AND wait_event_type = 'Lock'}) eq '1' }, 30),
	"send() waits for the revocation of key 3, the newest key");
$a->query_safe('COMMIT');
$a->quit;
unless ($control)
{
	# send() returned (main at 362c68c), or waits for B's revocation of key 2
	my $waits_b = 0;
	wait_until(sub {
		$h->pump_nb if $h->pumpable;
		return 1 unless $h->pumpable;
		$waits_b = $node->safe_psql('postgres', qq{SELECT count(*) FROM pg_stat_activity
			WHERE query LIKE '%wal2queue.send(%' AND $bpid = ANY (pg_blocking_pids(pid))}) eq '1';
		return $waits_b;
	}, 30);
	ok($waits_b, 'send() re-picks key 2 and waits for its running revocation');
	$b->query_safe('COMMIT');
}
$h->finish;
is($e, '', 'send() returns') or diag($e);
$b->quit;

my $m = $node->safe_psql('postgres', q{SELECT substr(data, 1, 80)
	FROM pg_logical_slot_get_changes('peek581', NULL, NULL) WHERE data LIKE 'message:%'});
my $kid = $m =~ /prefix: wal2queue!(\d+)\./ ? $1 : "none ($m)";
note("the message is signed with key $kid; revoked: "
	. $node->safe_psql('postgres', 'SELECT string_agg(id::text, \',\' ORDER BY id) FROM wal2queue.message_key WHERE revoked'));
if ($control)
{
	is($kid, '2', 'without a second revocation the re-pick signs with key 2');
}
else
{
	is($kid, '1', 'with it, send() signs with key 1');
}
is($node->safe_psql('postgres', "SELECT revoked FROM wal2queue.message_key WHERE id = " . ($kid =~ /^\d+$/ ? $kid : 0)), 'f',
	"the message is signed with a key that is not revoked (key $kid)");
$node->stop;
done_testing();
