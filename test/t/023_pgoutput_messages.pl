# --plugin=pgoutput and who may emit a job by message (issue 11 item 6,
# issue 12 "same guarantees"): the bridge passes messages 'true' to
# pgoutput, so it judges messages itself, as the plugin does on the server.
# While PUBLIC may execute pg_logical_emit_message() (no extension, no
# REVOKE), a wal2queue message is no job: a role with only LOGIN cannot
# forge one; the bridge warns once per session, naming the database and the
# fix, and counts them in wal2queue_messages_ignored_total.  The privilege
# is read at every stream open and at each slot watch poll: a REVOKE or a
# GRANT made mid-session is seen at the next poll; after a REVOKE, a new
# session takes a wal2queue_sender's message as a job from the start.
use strict;
use warnings;
use HTTP::Tiny;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('pgomsg', no_allow_list => 1);
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE ROLE bridge LOGIN REPLICATION;
	GRANT CREATE ON DATABASE postgres TO bridge;
	GRANT CREATE ON SCHEMA public TO bridge;
	SET ROLE bridge;
	CREATE TABLE jobs (id int PRIMARY KEY, v text);
	RESET ROLE;
	CREATE ROLE mallory LOGIN;
	CREATE ROLE wal2queue_sender NOLOGIN;
	CREATE ROLE app LOGIN IN ROLE wal2queue_sender;
});
my $port = free_port();
my @args = ('-d', $node->connstr('postgres') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'w2q', '--slot', 'w2q', '--create-slot', '--tables', 'public.jobs',
	'--status-interval', '1', '--metrics', "127.0.0.1:$port");

# $role emits a transactional wal2queue message; returns psql's stderr
sub emit
{
	my ($role, $prefix, $payload, $type) = @_;
	$type //= 'text';
	my ($ret, $out, $err) = $node->psql('postgres',
		"SELECT pg_logical_emit_message(true, '$prefix', '$payload'::$type)",
		extra_params => [ '-U', $role ]);
	return $err;
}

# a row after the messages: once it is in Redis, they were decoded
my $rows = 0;
sub caught_up
{
	$rows++;
	$node->safe_psql('postgres', "INSERT INTO jobs VALUES ($rows, 'r')");
	return wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq "$rows" });
}

sub ignored_metric
{
	my $res = HTTP::Tiny->new(timeout => 5)->get("http://127.0.0.1:$port/metrics");
	return $res->{content} =~ /^wal2queue_messages_ignored_total\{slot="w2q"\} (\d+)$/m ? $1 : 'none';
}

sub warnings_in
{
	my ($b) = @_;
	my @w = bridge_log($b) =~ /(WARNING: ignoring wal2queue logical messages[^\n]*)/g;
	return @w;
}

# session 1: PUBLIC may execute the function (PostgreSQL's default)
my $b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "w2q"/ }), 'the bridge streams');
is(emit('mallory', 'wal2queue:forged#1', 'refund'), '', 'a LOGIN-only role may emit a message');
emit('mallory', 'wal2queue:forged#2', 'refund again');
ok(caught_up(), 'a row committed after them is delivered');
is(redis($r, 'EXISTS', 'forged'), '0', 'a LOGIN-only role\'s message is not a job while PUBLIC can execute');
my @w = warnings_in($b);
is(scalar(@w), 1, 'one warning for two ignored messages');
like($w[0] // '', qr/executable by PUBLIC in database "postgres".*REVOKE EXECUTE ON FUNCTION pg_catalog\.pg_logical_emit_message\(boolean, text, text\), pg_catalog\.pg_logical_emit_message\(boolean, text, bytea\) FROM PUBLIC/,
	'the warning names the database and the REVOKE to run');
like($w[0] // '', qr/CREATE EXTENSION wal2queue/, 'and the extension');
ok(wait_until(sub { ignored_metric() eq '2' }, 10), 'wal2queue_messages_ignored_total counts both')
  or diag('metric: ' . ignored_metric());

# REVOKE mid-session: seen at the next poll, then a sender's message is a job
restrict_messages($node);
$node->safe_psql('postgres', q{GRANT EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text),
	pg_logical_emit_message(boolean, text, bytea) TO wal2queue_sender});
ok(wait_until(sub { my @n = bridge_log($b) =~ /(is no longer executable by PUBLIC in database "postgres")/g; @n == 1 }, 15),
	'a REVOKE made mid-session is seen at the next poll');
like(emit('mallory', 'wal2queue:forged#3', 'x'), qr/permission denied for function pg_logical_emit_message/,
	'after the REVOKE a LOGIN-only role may not emit');
is(emit('app', 'wal2queue:real#1', 'one'), '', 'a wal2queue_sender may');
ok(wait_until(sub { redis($r, 'XLEN', 'real') eq '1' }), 'its message is a job in the same session');

# GRANT to PUBLIC mid-session: messages are no jobs again from the next poll
$node->safe_psql('postgres', q{GRANT EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, bytea) TO PUBLIC});
ok(wait_until(sub { my @n = bridge_log($b) =~ /(is now executable by PUBLIC)/g; @n == 1 }, 15),
	'a GRANT to PUBLIC of either variant is seen at the next poll');
is(emit('mallory', 'wal2queue:forged#4', 'x', 'bytea'), '', 'mallory may emit through the bytea variant');
ok(caught_up(), 'a row after it is delivered');
is(redis($r, 'EXISTS', 'forged'), '0', 'the forged message is no job');
is(scalar(warnings_in($b)), 1, 'still one warning in this session');
ok(wait_until(sub { ignored_metric() eq '3' }, 10), 'the counter goes on') or diag('metric: ' . ignored_metric());
is(stop_bridge($b) >> 8, 0, 'bridge stopped');

# revoked again while the bridge is down; a new session judges at its start
$node->safe_psql('postgres', q{REVOKE EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, bytea) FROM PUBLIC});
is(emit('app', 'wal2queue:real#2', 'two'), '', 'a sender emits while the bridge is down');
$b = start_bridge($node, $r, @args);
ok(wait_until(sub { redis($r, 'XLEN', 'real') eq '2' }), 'after the REVOKE, a new session makes it a job');
my $entries = stream_entries($r, 'real');
is(join(',', map { "$_->[1]{key}=$_->[1]{payload}" } @$entries), '1=one,2=two', 'both sender jobs, once each');
ok(caught_up(), 'the new session streams rows');
is(scalar(warnings_in($b)), 0, 'no warning in a session that ignored nothing');
is(stop_bridge($b) >> 8, 0, 'bridge stopped');

stop_redis($r);
$node->stop;
done_testing();
