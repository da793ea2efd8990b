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
# Reliability: deterministic (the steps are ordered by the sessions and a
# wait for send()'s lock wait); fails its last check every run on main at
# 362c68c.
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

my $a = $node->background_psql('postgres', on_error_stop => 0);
my $b = $node->background_psql('postgres', on_error_stop => 0);
$a->query_safe('BEGIN');
$a->query_safe('SELECT wal2queue.revoke_message_key(3)');
unless ($control)
{
	$b->query_safe('BEGIN');
	$b->query_safe('SELECT wal2queue.revoke_message_key(2)');
}

my ($o, $e) = ('', '');
my $h = IPC::Run::start([ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
	'-c', q{SELECT wal2queue.send('emails', '{"n": 1}')} ], '>', \$o, '2>', \$e);
ok(wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
	WHERE query LIKE '%wal2queue.send(%' AND wait_event_type = 'Lock'}) eq '1' }, 30),
	"send() waits for the revocation of key 3, the newest key");
$a->query_safe('COMMIT');
$a->quit;
$h->finish;
is($e, '', 'send() returns') or diag($e);
unless ($control)
{
	$b->query_safe('COMMIT');
}
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
is($node->safe_psql('postgres', "SELECT revoked FROM wal2queue.message_key WHERE id = " . ($kid =~ /^\d+$/ ? $kid : 0)), 'f',
	"the message is signed with a key that is not revoked (key $kid)");
$node->stop;
done_testing();
