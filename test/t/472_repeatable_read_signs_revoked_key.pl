# What: a REPEATABLE READ transaction takes its snapshot; meanwhile the
# administrator follows docs/managed.md for a leaked key (rotate, then
# revoke key 1); then the transaction calls send() and commits.  send()
# succeeds, signing with key 1, which was revoked before send() ran.
# The bridge is restarted after the revocation, as docs/managed.md says.
# Why: sql/src/10_send.sql reads the newest key not revoked with a plain
# SELECT (line 67: "SELECT m.id, m.ipad, m.opad ... WHERE NOT m.revoked
# ORDER BY m.id DESC LIMIT 1") in the transaction's snapshot, which predates
# both the new key and the revocation; the bridge then finds key 1 revoked
# (bridge/pgoutput.c judge_signed(): key->revoked, SIGNED_NO_JOB): a
# legitimate job, committed after the revocation, is dropped with only a
# warning, and send() told its caller nothing.
# Expected: send() never signs with a key revoked before it ran: it either
# signs with a key not revoked, or fails (e.g. a lock on the key row,
# SELECT ... FOR SHARE, raises a serialization failure the caller retries);
# no job is lost silently.
# Severity: medium -- silent loss of jobs of REPEATABLE READ / SERIALIZABLE
# writers around every revocation (a revocation is the answer to a leak, the
# moment jobs matter).
# Fixed: send() (sql/src/10_send.sql) finds the key row's xmax committed
# (the revoking transaction) and raises serialization_failure, "retry the
# transaction"; no row lock.
# Control (W2Q_ATTACK_CONTROL=1): the transaction is READ COMMITTED: send()
# signs with key 2, the job is delivered.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_managed_node('rr472');
my $r = start_redis();
psql_as($node, 'admin', q{CREATE ROLE app_writer LOGIN IN ROLE wal2queue_sender;
	GRANT USAGE ON SCHEMA wal2queue TO app_writer; GRANT SELECT ON wal2queue.message_key TO bridge});
my @args = ('-d', $node->connstr('app') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'jobs_pub', '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
	'--status-interval', '1');
my $b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge streams') or diag(bridge_log($b));

my $s = $node->background_psql('app', on_error_stop => 0, extra_params => [ '-U', 'app_writer' ]);
$s->query_safe($control ? 'BEGIN' : 'BEGIN ISOLATION LEVEL REPEATABLE READ');
$s->query_safe('SELECT 1');
psql_as($node, 'admin', 'SELECT wal2queue.rotate_message_key()');
psql_as($node, 'admin', 'SELECT wal2queue.revoke_message_key(1)');
# docs/managed.md: "restart the bridge after revoke_message_key()"
stop_bridge($b);
my ($out) = $s->query(q{SELECT wal2queue.send('emails', '{"n": 1}')});
my $err = $s->{stderr};
$s->query('COMMIT');
$s->quit;
note("send() stderr: $err");
$b = start_bridge($node, $r, @args);

psql_as($node, 'admin', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"row": 1}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }, 30), 'a row after it is delivered')
  or diag(bridge_log($b));
my $delivered = redis($r, 'XLEN', 'emails');
ok($err =~ /ERROR/ || $delivered eq '1',
	'send() after the revocation either failed or its job is delivered (not signed with the revoked key)')
  or diag("send() succeeded; emails holds $delivered jobs; bridge log:\n" . bridge_log($b));
like($err, qr/ERROR:  wal2queue.send: key 1 of wal2queue.message_key was revoked or changed after this transaction's snapshot.*HINT:  Retry the transaction/s,
	'send() raises a serialization failure naming the retry') unless $control;
unlike(bridge_log($b), qr/signed with a revoked key/, 'no message of send() was signed with a revoked key');
stop_bridge($b);
done_testing();
