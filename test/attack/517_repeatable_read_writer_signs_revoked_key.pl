# What: 472's fix, for a REPEATABLE READ transaction whose snapshot predates
# a revocation: send() reads the key row's xmax (the revoking transaction),
# extends it to 64 bits "in the epoch of xid, at most xid" and refuses the
# key if that transaction committed.  But a transaction's xid is assigned
# at its first write, not at send(): the application's usual transaction
# writes first (INSERT INTO orders ...), then calls send().  Its xid is
# then OLDER than the revoker's, the revoker's xmax is taken for one of the
# previous epoch (kxmax - 2^32 < 0), the check is skipped, and send()
# signs with the revoked key 1.  The bridge, restarted after the
# revocation as docs/managed.md says, drops the job ("signed with a
# revoked key"): a legitimate job, committed after the revocation, lost;
# send() and COMMIT succeeded.
# Why: sql/src/10_send.sql send(): 'IF kxmax > xid THEN kxmax := kxmax -
# 4294967296' assumes the key row's xmax is never newer than the caller's
# own xid.
# Expected: send() either fails (serialization_failure, retry) or signs
# with a key not revoked; the job is never silently dropped.
# Severity: medium (silent loss of the jobs of REPEATABLE READ /
# SERIALIZABLE writers around a revocation, the case 472 fixed, whenever
# the transaction wrote before send(): the common case).
# Control: W2Q_ATTACK_CONTROL=1 leaves out the INSERT before send() (472's
# sequence): send() fails with the serialization failure, passes.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_managed_node('rr517');
my $r = start_redis();
psql_as($node, 'admin', q{CREATE ROLE app_writer LOGIN IN ROLE wal2queue_sender;
	GRANT USAGE ON SCHEMA wal2queue TO app_writer; GRANT SELECT ON wal2queue.message_key TO bridge;
	CREATE TABLE orders (id serial PRIMARY KEY, note text);
	GRANT INSERT ON orders TO app_writer; GRANT USAGE ON SEQUENCE orders_id_seq TO app_writer});
my @args = ('-d', $node->connstr('app') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'jobs_pub', '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
	'--status-interval', '1');
my $b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge streams') or diag(bridge_log($b));

my $s = $node->background_psql('app', on_error_stop => 0, extra_params => [ '-U', 'app_writer' ]);
$s->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$s->query_safe($control ? 'SELECT 1' : q{INSERT INTO orders (note) VALUES ('order 1')});
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
  or diag("send() succeeded; emails holds $delivered jobs; bridge log:\n"
	. join("\n", grep { /revoked|signed/ } split /\n/, bridge_log($b)));
unlike(bridge_log($b), qr/signed with a revoked key/, 'no message of send() was signed with a revoked key');
stop_bridge($b);
done_testing();
