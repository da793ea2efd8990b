# send() on a managed server (issue 12; issue 11 item 6): no one may revoke
# pg_logical_emit_message() from PUBLIC, so any LOGIN role could emit a
# wal2queue message.  send() signs its messages with the database's key
# (wal2queue.message_key, created by the standalone script, readable by its
# installer only); the bridge's role is granted SELECT on it by the
# installer (no superuser), verifies each signed message against the xid
# of its transaction, and makes jobs of those alone.  On a server with the
# default output_plugin_libraries, a non-superuser bridge role and the
# standalone script, while PUBLIC still may execute the function:
#  - without the GRANT, send()'s messages are ignored, with a warning that
#    names the GRANT;
#  - with it, send()'s jobs arrive exactly once, and a LOGIN role's forged
#    message (unsigned, a wrong MAC, a valid MAC copied from another
#    transaction's message with the same prefix and payload) makes no job;
#  - kill -9 of the bridge mid-stream and a restart: still exactly once;
#  - a key planted by a role with CREATE on a database (its own standalone
#    install) is not trusted: a message it signs is no job, and the bridge
#    stops there rather than confirm past a message it cannot judge (the
#    same table after ALTER DATABASE ... OWNER TO is the real key's:
#    test/t/457); a MAC none of its keys makes is a forgery, skipped.
# The same into Kafka (the mock cluster), by a second bridge on a slot of its
# own.
use strict;
use warnings;
use HTTP::Tiny;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Time::HiRes qw(usleep);
use Test::More;
use W2QTest;

my $node = new_managed_node('signed445');
my $r = start_redis();
my $kafka = start_kafka_mock();
ok(kafka_mock_cmd($kafka, 'create emails 4') && kafka_mock_cmd($kafka, 'create public.jobs 1'),
	'the Kafka topics emails (4 partitions) and public.jobs');
psql_as($node, 'admin', q{
	CREATE ROLE mallory LOGIN;
	GRANT USAGE ON SCHEMA wal2queue TO mallory;
	CREATE ROLE app_writer LOGIN IN ROLE wal2queue_sender;
	GRANT USAGE ON SCHEMA wal2queue TO app_writer;
});
is($node->safe_psql('app', q{SELECT bool_and(has_function_privilege('public', p.oid, 'EXECUTE'))
	FROM pg_proc p WHERE proname = 'pg_logical_emit_message'}), 't',
	'PUBLIC still may execute both variants of pg_logical_emit_message()');
is($node->safe_psql('app', q{SELECT rolsuper::int::text || rolreplication::int::text FROM pg_roles WHERE rolname = 'bridge'}),
	'01', 'the bridge role is REPLICATION, no superuser');
my ($rc, $o, $e) = $node->psql('app', 'SELECT key FROM wal2queue.message_key',
	extra_params => [ '-U', 'mallory' ]);
like($e, qr/permission denied for table message_key/, 'a LOGIN role cannot read the key');
($rc, $o, $e) = $node->psql('app', 'SELECT key FROM wal2queue.message_key',
	extra_params => [ '-U', 'app_writer' ]);
like($e, qr/permission denied for table message_key/, 'nor can a sender');

my $port = free_port();
my @args = ('-d', $node->connstr('app') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'jobs_pub', '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
	'--status-interval', '1', '--metrics', "127.0.0.1:$port");

my @kargs = ('-d', $node->connstr('app') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'jobs_pub', '--slot', 'jobs_kafka', '--create-slot', '--tables', 'public.jobs',
	'--status-interval', '1', '--sink', "kafka://$kafka->{bootstrap}");

# the payloads in topic emails, sorted
sub topic
{
	my ($out, $err) = run_command([ 'kcat', '-b', $kafka->{bootstrap}, '-C', '-t', 'emails',
		'-J', '-o', 'beginning', '-e', '-q' ]);
	return [ sort map { decode_json($_)->{payload} } grep { /^\{/ } split /\n/, $out ];
}

sub as_role
{
	my ($role, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('app', $sql, extra_params => [ '-U', $role ]);
	return $err;
}

sub ignored_metric
{
	my $res = HTTP::Tiny->new(timeout => 5)->get("http://127.0.0.1:$port/metrics");
	return $res->{content} =~ /^wal2queue_messages_ignored_total\{slot="jobs"\} (\d+)$/m ? $1 : 'none';
}

# a row after the messages: once it is in Redis, they were decoded
my $rows = 0;
sub caught_up
{
	$rows++;
	psql_as($node, 'admin', "INSERT INTO jobs (queue, payload) VALUES ('q', '{\"row\": $rows}')");
	return wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq "$rows" });
}

# session 1: the bridge's role may not read the key
my $b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge streams') or diag(bridge_log($b));
is(as_role('app_writer', q{SELECT wal2queue.send('emails', '{"n": 0}')}), '', 'send() before the GRANT');
# a signed message it cannot judge is not skipped (test/t/473)
ok(wait_until(sub { !$b->{h}->pumpable }), 'without the key, the bridge stops at send()\'s message') or diag(bridge_log($b));
is(redis($r, 'EXISTS', 'emails'), '0', 'without the key, send()\'s message is no job while PUBLIC may emit');
like(bridge_log($b), qr/ERROR: a message signed by send\(\) with key 1 of wal2queue\.message_key in database "app" cannot be judged: the bridge's role may not read wal2queue\.message_key; nothing past it is confirmed; hint: .*GRANT SELECT ON wal2queue\.message_key TO the bridge's role/,
	'the error names the GRANT');
stop_bridge($b);

# the one GRANT, by the installing role (README, Managed PostgreSQL, step 5)
psql_as($node, 'admin', 'GRANT SELECT ON wal2queue.message_key TO bridge');

# a copy of a signed message, read with test_decoding (any REPLICATION
# role could read it from the WAL; a slot created before it is written)
$node->safe_psql('app', q{SELECT pg_create_logical_replication_slot('peek', 'test_decoding')});
$b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge streams again') or diag(bridge_log($b));
my $kb = start_bridge($node, undef, @kargs);
ok(wait_until(sub { bridge_log($kb) =~ /streaming slot "jobs_kafka"/ }), 'the Kafka bridge streams') or diag(bridge_log($kb));
is(as_role('app_writer', q{BEGIN; SELECT wal2queue.send('emails', '{"n": 1}', 'k1'); SELECT wal2queue.send('emails', '{"n": 2}'); COMMIT}),
	'', 'the application sends two jobs in one transaction');
is(as_role('app_writer', q{BEGIN; SAVEPOINT s; SELECT wal2queue.send('emails', '{"n": 3}'); RELEASE s;
	DO $$ BEGIN PERFORM wal2queue.send('emails', '{"n": 4}'); PERFORM 1 / 0; EXCEPTION WHEN division_by_zero THEN PERFORM wal2queue.send('emails', '{"n": 5}'); END $$; COMMIT}),
	'', 'and three from subtransactions (one of them rolled back)');
my $peeked = $node->safe_psql('app', q{SELECT data FROM pg_logical_slot_get_changes('peek', NULL, NULL)
	WHERE data LIKE 'message:%' LIMIT 1});
my ($signed) = $peeked =~ /prefix: (wal2queue!1\.[0-9a-f]{64}:emails#k1), sz: \d+ content:/;
ok(defined $signed, "send()'s prefix is signed: " . ($signed // $peeked));
$node->safe_psql('app', q{SELECT pg_drop_replication_slot('peek')});

# forgeries by a LOGIN role
is(as_role('mallory', q{SELECT pg_logical_emit_message(true, 'wal2queue:emails#k1', '{"n": "unsigned"}')}), '',
	'a LOGIN role emits an unsigned message');
is(as_role('mallory', "SELECT pg_logical_emit_message(true, 'wal2queue!1.' || repeat('ab', 32) || ':emails', '{\"n\": \"bad mac\"}')"), '',
	'one with a wrong MAC');
is(as_role('mallory', "SELECT pg_logical_emit_message(true, '$signed', '{\"n\": 1}')"), '',
	'and one with a MAC copied from another transaction, with its prefix and payload');
is(as_role('mallory', "BEGIN; SELECT pg_logical_emit_message(true, '$signed', '{\"n\": 1}'); SELECT pg_logical_emit_message(true, 'wal2queue:emails', 'x'); COMMIT"), '',
	'and both in one transaction');
ok(caught_up(), 'a row after them is delivered');
is(join(',', map { $_->[1]{payload} } @{ stream_entries($r, 'emails') }), '{"n": 0},{"n": 1},{"n": 2},{"n": 3},{"n": 5}',
	'only send()\'s jobs are in stream emails, the one sent before the GRANT first (signed with the top-level xid in subtransactions)');
is(join(',', map { $_->[1]{key} // '-' } @{ stream_entries($r, 'emails') }), '-,k1,-,-,-',
	'with the key of the first: the MAC is stripped');
is(ignored_metric(), '5', 'the five forged messages are counted as ignored');
is(stop_bridge($b) >> 8, 0, 'the bridge stops');
ok(wait_until(sub { @{ topic() } >= 4 }, 60), 'Kafka: four jobs in topic emails') or diag(bridge_log($kb));
is(join(',', @{ topic() }), '{"n": 1},{"n": 2},{"n": 3},{"n": 5}', 'Kafka: send()\'s jobs only');
is(stop_bridge($kb) >> 8, 0, 'the Kafka bridge stops');

# a backlog of send()s, with forgeries among them; kill -9 mid-stream
my ($out, $err) = run_command([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d',
	$node->connstr('app') . ' user=app_writer', '-c', q{
	DO $$ BEGIN
	  FOR t IN 1..1000 LOOP
	    PERFORM wal2queue.send('emails', jsonb_build_object('n', t * 10 + g), t::text) FROM generate_series(1, 5) g;
	    COMMIT;
	  END LOOP;
	END $$}]);
unlike($err // '', qr/ERROR/, 'the application sends 1000 transactions of 5 jobs') or diag($err);
is(as_role('mallory', "SELECT pg_logical_emit_message(true, '$signed', '{\"n\": 1}') FROM generate_series(1, 3)"), '',
	'a LOGIN role replays the copied message three times');
my $end = $node->safe_psql('app', 'SELECT pg_current_wal_lsn()');
# start the bridge with @a, kill -9 it 50 ms after it streams (100 ms, 200 ms
# ... 1.6 s: up to 6 times, until $delivered says it delivered part of the backlog and
# the slot had not confirmed all of it); start it again
sub kill9_mid_stream
{
	my ($slot, $delivered, @a) = @_;
	my $mid = 0;
	for my $round (1 .. 6)
	{
		my $k = start_bridge($node, $r, @a);
		wait_until(sub { bridge_log($k) =~ /streaming slot/ }, 60);
		usleep(50_000 * 2**($round - 1));
		$k->{h}->signal('KILL');
		$k->{h}->finish;
		$mid = $node->safe_psql('app', "SELECT '" . slot_confirmed($node, $slot) . "'::pg_lsn < '$end'") eq 't'
		  && $delivered->();
		last if $mid;
	}
	ok($mid, "$slot: the bridge was killed with kill -9 mid-stream, after it delivered jobs");
	my $k = start_bridge($node, $r, @a);
	ok(wait_until(sub { $node->safe_psql('app', "SELECT '" . slot_confirmed($node, $slot) . "'::pg_lsn >= '$end'") eq 't' }, 180),
		"$slot: everything confirmed after the restart") or diag(bridge_log($k));
	return $k;
}
my $had = redis($r, 'XLEN', 'emails');
$b = kill9_mid_stream('jobs', sub { redis($r, 'XLEN', 'emails') > $had }, @args);
my $khad = @{ topic() };
$kb = kill9_mid_stream('jobs_kafka', sub { @{ topic() } > $khad }, @kargs);
my @payloads = map { $_->[1]{payload} } @{ stream_entries($r, 'emails') };
my %seen;
$seen{ decode_json($_)->{n} }++ for @payloads;
is(scalar(@payloads), 5 + 5000, 'stream emails holds 5005 jobs');
is(scalar(keys %seen), 5005, 'each exactly once');
ok(!grep({ !/^\d+$/ } keys %seen), 'no forged job among them');
my @k = @{ topic() };
my %kseen;
$kseen{ decode_json($_)->{n} }++ for @k;
is(scalar(@k), 4 + 5000, 'Kafka: topic emails holds 5004 jobs');
is(scalar(keys %kseen), 5004, 'Kafka: each exactly once');
ok(!grep({ !/^\d+$/ } keys %kseen), 'Kafka: no forged job among them');
is(stop_bridge($kb) >> 8, 0, 'SIGTERM: the Kafka bridge exits 0');
is(stop_bridge($b) >> 8, 0, 'SIGTERM: the bridge exits 0');

# a planted key: in database plain (owned by admin, no wal2queue), a role
# given CREATE on it installs the standalone script itself, so that send()
# signs with a key of its own, and lets the bridge read that key.  The
# bridge trusts only a key whose table and schema belong to a superuser or
# a member of the database's owner: mallory's signed message is no job,
# and the bridge stops there (it cannot tell her key from the real one
# after a change of the database's owner, test/t/457).
$node->safe_psql('postgres', 'CREATE DATABASE plain OWNER admin');
$node->safe_psql('plain', q{GRANT CREATE ON DATABASE plain TO mallory, bridge; GRANT CREATE ON SCHEMA public TO bridge});
($out, $err) = run_command([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d',
	$node->connstr('plain') . ' user=mallory', '-f', $PostgreSQL::Test::Utils::tmp_check . '/wal2queue-standalone.sql' ]);
unlike($err, qr/ERROR/, 'a role with CREATE on database plain installs the standalone script there') or diag($err);
$node->safe_psql('plain', q{SET ROLE mallory; GRANT USAGE ON SCHEMA wal2queue TO bridge; GRANT SELECT ON wal2queue.message_key TO bridge;
	RESET ROLE; SET ROLE bridge; CREATE TABLE jobs (id int PRIMARY KEY)});
my $pb = start_bridge($node, $r, '-d', $node->connstr('plain') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'plain_pub', '--slot', 'plain', '--create-slot', '--tables', 'public.jobs',
	'--target-prefix', 'plain:');
ok(wait_until(sub { bridge_log($pb) =~ /streaming slot "plain"/ }), 'a bridge streams database plain') or diag(bridge_log($pb));
($rc, $o, $e) = $node->psql('plain', "SELECT pg_logical_emit_message(true, 'wal2queue!1.' || repeat('ab', 32) || ':planted', 'garbage MAC')",
	extra_params => [ '-U', 'mallory' ]);
$node->safe_psql('plain', 'INSERT INTO jobs VALUES (1)');
ok(wait_until(sub { redis($r, 'XLEN', 'plain:public.jobs') eq '1' }), 'a MAC no key makes is skipped: a row after it is delivered');
like(bridge_log($pb), qr/ignoring wal2queue logical messages: .*does not trust wal2queue\.message_key/,
	'the warning says the key is not trusted');
($rc, $o, $e) = $node->psql('plain', q{SELECT wal2queue.send('planted', 'forged with a key of her own')},
	extra_params => [ '-U', 'mallory' ]);
is($e, '', 'mallory send()s a message signed with her key');
$node->safe_psql('plain', 'INSERT INTO jobs VALUES (2)');
ok(wait_until(sub { !$pb->{h}->pumpable }), 'the bridge stops at it') or diag(bridge_log($pb));
is(redis($r, 'EXISTS', 'plain:planted') . redis($r, 'EXISTS', 'planted') . redis($r, 'XLEN', 'plain:public.jobs'), '001',
	'the message signed with a planted key is no job, and nothing after it is delivered');
like(bridge_log($pb), qr/ERROR: a message signed by send\(\) with key 1 of wal2queue\.message_key in database "plain" cannot be judged: the bridge does not trust wal2queue\.message_key .*drop a schema wal2queue no administrator installed/,
	'the error names the cause and both fixes');
isnt(stop_bridge($pb) >> 8, 0, 'that bridge exited with an error');
stop_kafka_mock($kafka);
stop_redis($r);
$node->stop;
done_testing();
