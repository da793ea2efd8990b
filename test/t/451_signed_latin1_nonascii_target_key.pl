# What: in a database whose encoding is not UTF8 (LATIN1, which the bridge
# accepts with client_encoding=UTF8), send() with a non-ASCII key or target
# makes no job: the bridge ignores the message as a forgery (counted, lost).
# Why: send() signs the prefix converted to the database encoding
# (sql/src/10_send.sql: convert_to(prefix, getdatabaseencoding()), and
# plugin/FORMAT.md "Signed messages": "in the database encoding"), but
# pgoutput writes the prefix with pq_sendstring(), which converts it to the
# client encoding (UTF8); bridge/message_sign.c message_sign_mac() hashes the
# prefix bytes as received, so the MAC of a prefix with a byte >= 0x80
# never verifies (bridge/pgoutput.c decode_message(): messages_ignored++).
# Expected: every committed send() is a job, whatever the characters of its
# key or target (the same job as the plugin mode makes).
# Severity: high (silent loss of jobs sent through the documented API; only
# a metric and one warning tell).
# Control: an ASCII key in the same database and transaction is delivered.
# Fixed: send() signs the prefix converted to UTF-8 (sql/src/10_send.sql:
# convert_to(prefix, 'UTF8'); plugin/FORMAT.md "Signed messages"), the
# bytes pgoutput sends now that every bridge connection has
# client_encoding=UTF8 (test/t/456).  The wal2queue plugin converts a
# message's target and key to UTF-8 itself, so both modes make the same
# job: this test reads the same three send()s through the plugin
# (pg_recvlogical, JSON form) and compares their targets and keys.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;
use JSON::PP;

my $root = $ENV{W2Q_ROOT} // die 'W2Q_ROOT is not set';
my $script = $PostgreSQL::Test::Utils::tmp_check . '/wal2queue-standalone.sql';
run_command([ "$root/sql/make-standalone.sh", $script, sort glob("$root/sql/src/*.sql") ]);
my $node = new_node('latin451');
$node->safe_psql('postgres', q{
	CREATE ROLE admin LOGIN CREATEROLE NOSUPERUSER;
	CREATE ROLE bridge LOGIN REPLICATION NOSUPERUSER;
	CREATE DATABASE app OWNER admin ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
});
run_command([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
	'-d', $node->connstr('app') . ' user=admin', '-f', $script ]);
psql_as($node, 'admin', q{GRANT USAGE ON SCHEMA wal2queue TO bridge; GRANT CREATE ON DATABASE app TO bridge;
	GRANT CREATE ON SCHEMA public TO bridge; GRANT SELECT ON wal2queue.message_key TO bridge;
	CREATE ROLE app_writer LOGIN IN ROLE wal2queue_sender; GRANT USAGE ON SCHEMA wal2queue TO app_writer});
psql_as($node, 'bridge', q{SELECT wal2queue.create_job_table('public.jobs'); GRANT ALL ON jobs, jobs_id_seq TO admin});
is($node->safe_psql('app', 'SHOW server_encoding'), 'LATIN1', 'database app is LATIN1');
# the plugin mode beside it: a slot of the wal2queue plugin, read below
my $json = $node->basedir . '/plugin.json';
run_command([ 'pg_recvlogical', '-d', $node->connstr('app'), '--slot', 'plug', '--create-slot',
	'-P', 'wal2queue' ]);

my $r = start_redis();
my $b = start_bridge($node, $r, '-d', $node->connstr('app') . ' user=bridge client_encoding=UTF8',
	'--plugin', 'pgoutput', '--publication', 'jobs_pub', '--slot', 'jobs', '--create-slot',
	'--tables', 'public.jobs', '--status-interval', '1');
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge streams') or diag(bridge_log($b));

my ($out, $err) = run_command([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d',
	$node->connstr('app') . ' user=app_writer client_encoding=UTF8', '-c',
	"BEGIN; SELECT wal2queue.send('emails', '{\"n\": 1}', 'ascii');"
	  . " SELECT wal2queue.send('emails', '{\"n\": 2}', 'm\x{c3}\x{bc}ller');"
	  . " SELECT wal2queue.send('caf\x{c3}\x{a9}', '{\"n\": 3}'); COMMIT;" ]);
unlike($err, qr/ERROR/, 'app_writer sends three jobs (keys "ascii" and "müller", target "café")') or diag($err);
psql_as($node, 'admin', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"row": 1}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }), 'a row after them is delivered');
my @keys = map { $_->[1]{key} } @{ stream_entries($r, 'emails') };
ok(grep({ $_ eq 'ascii' } @keys), 'control: the job with the ASCII key is in stream emails');
is(scalar(@keys), 2, 'the job with key "müller" is in stream emails too') or diag(bridge_log($b));
is(redis($r, 'XLEN', "caf\x{c3}\x{a9}"), '1', 'the job for target "café" is in its stream');
unlike(bridge_log($b), qr/ignoring wal2queue logical messages/, 'no signed send() is ignored');

# the same send()s through the plugin: the same targets and keys
my $end = $node->safe_psql('app', 'SELECT pg_current_wal_lsn()');
run_command([ 'timeout', '60', 'pg_recvlogical', '-d', $node->connstr('app'), '--slot', 'plug',
	'--start', '--endpos', $end, '-o', 'format=json', '-o', 'messages=true', '-f', $json ]);
my @plugin;
for my $line (split /\n/, slurp_file($json))
{
	my $j = JSON::PP->new->decode($line);	# bytes, as redis_json() reads
	push @plugin, "$j->{target}#" . ($j->{key} // '') unless defined $j->{table};
}
my @pgoutput = ((map { "emails#$_->[1]{key}" } @{ stream_entries($r, 'emails') }),
	map { "caf\x{c3}\x{a9}#" . ($_->[1]{key} // '') } @{ stream_entries($r, "caf\x{c3}\x{a9}") });
is(join(',', sort @pgoutput), join(',', sort @plugin),
	'pgoutput and the plugin make the same targets and keys (UTF-8)');
is(scalar(@plugin), 3, 'the plugin makes three message jobs');
stop_bridge($b);
done_testing();
