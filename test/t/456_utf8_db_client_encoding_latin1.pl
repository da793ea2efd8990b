# What: a bridge whose connection asks for another client encoding than
# UTF8 (client_encoding=LATIN1 in -d, or PGCLIENTENCODING=LATIN1 in its
# environment) on a UTF8 database is accepted, and then (a) ignores send()
# jobs whose key or target is not ASCII as forgeries, and (b) hands on
# rows whose text is LATIN1 bytes where jobs carry UTF-8.
# Why: bridge/precheck.c precheck_encoding() returns 0 for a UTF8 server
# whatever the client encoding ("if (server == NULL || strcmp(server,
# "UTF8") == 0) return 0;"), but pgoutput converts the message prefix
# (pq_sendstring) and every text value to the client encoding; send()
# signed the prefix in UTF-8 (sql/src/10_send.sql), so
# bridge/message_sign.c never verifies it.
# Expected: the bridge refuses the connection (as it does for a LATIN1
# server with a non-UTF8 client: "hint: add client_encoding=UTF8 to -d"),
# or sets client_encoding=UTF8 itself; every send() is a job, rows in UTF-8.
# Severity: medium (an environment variable silently loses jobs and
# corrupts text).
# Control: an ASCII key in the same transaction is delivered.
# Fixed: every connection the bridge opens asks for client_encoding=UTF8
# after the keywords of -d (bridge/pgerror.c pgerror_connect(), and the slot
# watch's in bridge/slotwatch.c), which overrides -d's client_encoding, its
# options='-c client_encoding=...' and PGCLIENTENCODING; precheck_encoding()
# refuses, as a last check, a connection whose client encoding the server
# did not set to UTF8.  This test sets all three to LATIN1 at once.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_managed_node('clienc456');
my $r = start_redis();
psql_as($node, 'admin', q{
	CREATE ROLE app_writer LOGIN IN ROLE wal2queue_sender;
	GRANT USAGE ON SCHEMA wal2queue TO app_writer;
	GRANT SELECT ON wal2queue.message_key TO bridge;
});
my $b;
{
	local $ENV{PGCLIENTENCODING} = 'LATIN1';
	$b = start_bridge($node, $r, '-d', $node->connstr('app')
		  . " user=bridge client_encoding=LATIN1 options='-c client_encoding=LATIN1'",
		'--plugin', 'pgoutput', '--publication', 'jobs_pub', '--slot', 'jobs', '--create-slot',
		'--tables', 'public.jobs', '--status-interval', '1');
}
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"|ERROR/ }), 'the bridge starts') or diag(bridge_log($b));
unlike(bridge_log($b), qr/ERROR/, 'it streams whatever client encoding -d and PGCLIENTENCODING ask for')
  or diag(bridge_log($b));
my ($out, $err) = run_command([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d',
	$node->connstr('app') . ' user=app_writer client_encoding=UTF8', '-c',
	"BEGIN; SELECT wal2queue.send('emails', '{\"n\": 1}', 'ascii');"
	  . " SELECT wal2queue.send('emails', '{\"n\": 2}', 'm\x{c3}\x{bc}ller'); COMMIT;" ]);
($out, $err) = run_command([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d',
	$node->connstr('app') . ' user=admin client_encoding=UTF8', '-c',
	"INSERT INTO jobs (queue, payload) VALUES ('q', '{\"name\": \"m\x{c3}\x{bc}ller\"}')" ]);
unlike($err, qr/ERROR/, 'admin inserts a row with "müller"') or diag($err);
unlike($err, qr/ERROR/, 'two send() (keys "ascii", "müller") and a row with "müller"') or diag($err);
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }), 'the row is delivered') or diag(bridge_log($b));
my @keys = map { $_->[1]{key} } @{ stream_entries($r, 'emails') };
ok(grep({ $_ eq 'ascii' } @keys), 'control: the job with the ASCII key is in stream emails');
is(scalar(@keys), 2, 'the job with key "müller" is in stream emails too');
my ($raw) = redis($r, 'XRANGE', 'public.jobs', '-', '+') =~ /(m.{1,2}ller)/s;
is($raw, "m\x{c3}\x{bc}ller", "the row's text is UTF-8 in Redis");
stop_bridge($b);
done_testing();
