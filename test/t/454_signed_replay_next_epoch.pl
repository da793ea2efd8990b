# What: a signed send() message copied from the WAL (any REPLICATION role
# can read it: test_decoding, a slot) is accepted again as a job when a
# LOGIN role replays it in the transaction with the same 32-bit xid of a
# later epoch (2^32 transactions on: about 5 days at 10,000 transactions a
# second; the attacker needs one of its copies to land on its xid, and
# can keep many).
# Why: sql/src/10_send.sql signs int8send(pg_current_xact_id() % 2^32): the
# epoch is dropped; bridge/pgoutput.c decode_message() verifies with
# dec->txn.xid, pgoutput's 32-bit Begin xid, and nothing else ties the MAC
# to one transaction (docs/managed.md names the wraparound but calls the
# copy harmless: "the copy can only repeat that exact job" -- a second
# delivery of a job is what exactly-once promises never happens).
# Here pg_resetwal -e 1 -x X stands for the 2^32 transactions.
# Expected: the replay in epoch 1 is no job (e.g. sign the full 64-bit xid
# and have the bridge extend pgoutput's xid with the epoch it reads at
# stream open; or bind the MAC to the message's origin LSN range).
# Severity: low-medium (needs a copy of a signed message and xid
# wraparound; the result is a duplicate or replayed job).
# Control: the same replay in another transaction of epoch 0 is no job
# (test/t/445), and the replay's xid8 differs from the original's.
# Fixed: send() signs the full 64-bit xid (pg_current_xact_id(), epoch
# included: sql/src/10_send.sql); the bridge extends pgoutput's 32-bit
# Begin xid to 64 bits, nearest to the latest full xid it knows (the xmax
# of the snapshot it read the keys in, at stream open and at each re-read,
# then each decoded xid: bridge/message_sign.c message_xid_extend()), so
# the copy's MAC, made for epoch 0, does not verify in epoch 1.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_managed_node('epoch454');
my $r = start_redis();
psql_as($node, 'admin', q{
	CREATE ROLE mallory LOGIN;
	CREATE ROLE app_writer LOGIN IN ROLE wal2queue_sender;
	GRANT USAGE ON SCHEMA wal2queue TO app_writer;
	GRANT SELECT ON wal2queue.message_key TO bridge;
});
$node->safe_psql('postgres', 'ALTER SYSTEM SET autovacuum = off');
$node->reload;
my @args = ('-d', $node->connstr('app') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'jobs_pub', '--tables', 'public.jobs', '--status-interval', '1');

my $b = start_bridge($node, $r, @args, '--slot', 'jobs', '--create-slot');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge streams') or diag(bridge_log($b));
$node->safe_psql('app', q{SELECT pg_create_logical_replication_slot('peek', 'test_decoding')});
my ($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-d',
	$node->connstr('app') . ' user=app_writer', '-c',
	q{BEGIN; SELECT pg_current_xact_id(); SELECT wal2queue.send('emails', '{"n": 1}') IS NOT NULL; COMMIT} ]);
my ($xid8) = $out =~ /^(\d+)$/m;
ok(defined $xid8 && $xid8 < 2**32, "the application's send() in transaction $xid8 (epoch 0)") or diag($err);
ok(wait_until(sub { redis($r, 'XLEN', 'emails') eq '1' }), 'its job is delivered');
my $peeked = $node->safe_psql('app', q{SELECT data FROM pg_logical_slot_get_changes('peek', NULL, NULL) WHERE data LIKE 'message:%'});
my ($signed) = $peeked =~ /prefix: (wal2queue!(?:[0-9]+\.)?[0-9a-f]{64}:emails), sz: \d+ content:/;
ok(defined $signed, 'a REPLICATION role copies the signed prefix from the WAL');
is(stop_bridge($b) >> 8, 0, 'the bridge stops');
$node->safe_psql('app', q{SELECT pg_drop_replication_slot('peek'); SELECT pg_drop_replication_slot('jobs')});
$node->safe_psql('postgres', 'CHECKPOINT');
my $next = $node->safe_psql('postgres', 'SELECT next_xid FROM pg_control_checkpoint()');
diag("next xid before the reset: $next (the send() was $xid8)");

# 2^32 transactions later: the same 32-bit xid, epoch 1
$node->stop;
command_ok([ 'pg_resetwal', '-e', '1', '-x', $xid8, $node->data_dir ], "pg_resetwal -e 1 -x $xid8");
$node->start;
$node->safe_psql('app', q{SELECT pg_create_logical_replication_slot('jobs2', 'pgoutput')});
($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-d',
	$node->connstr('app') . ' user=mallory', '-c',
	"BEGIN; SELECT pg_current_xact_id(); SELECT pg_logical_emit_message(true, '$signed', '{\"n\": 1}') IS NOT NULL; COMMIT" ]);
my ($xid8b) = $out =~ /^(\d+)$/m;
is($xid8b, 2**32 + $xid8, "control: mallory's transaction is another one, $xid8b (epoch 1, same 32-bit xid)") or diag($err);
($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-d',
	$node->connstr('app') . ' user=mallory', '-c',
	"SELECT pg_logical_emit_message(true, '$signed', '{\"n\": 1}') IS NOT NULL" ]);
is($err, '', 'and again in the next transaction (another 32-bit xid)');

my $r2 = start_redis();
$b = start_bridge($node, $r2, @args, '--slot', 'jobs2', '--accept-new-source');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs2"/ }), 'a bridge streams slot jobs2 into a new Redis') or diag(bridge_log($b));
psql_as($node, 'admin', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"row": 1}')});
ok(wait_until(sub { redis($r2, 'XLEN', 'public.jobs') eq '1' }), 'a row after the replay is delivered') or diag(bridge_log($b));
my $n = redis($r2, 'XLEN', 'emails');
ok($n ne '2', 'control: the replay in another 32-bit xid is no job (at most one job)');
is($n, '0', "mallory's replay in epoch 1 with the original's 32-bit xid is no job");
stop_bridge($b);
done_testing();
