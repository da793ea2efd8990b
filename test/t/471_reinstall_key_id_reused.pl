# What: the documented upgrade of the standalone script (docs/managed.md
# "Upgrading": uninstall with DROP SCHEMA wal2queue CASCADE, install again)
# while the bridge runs.  The new install's first key gets id 1 again (an
# identity column starts anew) with another random key.  send() signs with
# the new key 1.
# Why: the bridge caches keys by id and reads them again only for an id it
# does not know (bridge/pgoutput.c judge_signed(): message_keys_find() finds
# the cached, old key 1; message_sign_verify() fails; SIGNED_NO_JOB, counted
# as a forgery): every send() after the reinstall is skipped and confirmed
# past until the bridge restarts, with only the generic "ignoring wal2queue
# logical messages" warning.  The same is expected after DROP EXTENSION / CREATE
# EXTENSION wal2queue.
# Expected: a MAC that does not verify with a cached key, in a transaction
# the cache's snapshot did not see, is judged only after the keys are read
# again (as an unknown id is): the send() after the reinstall is delivered.
# Severity: high -- silent loss of every send() job after a documented
# operation, until someone restarts the bridge.
# Fixed: judge_signed() (bridge/pgoutput.c) reads the keys again, as for an
# unknown id, when the cached key does not verify the MAC of a transaction
# the keys' snapshot did not see.
# Control (W2Q_ATTACK_CONTROL=1): the bridge is restarted after the
# reinstall: the job is delivered.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_managed_node('reinst471');
my $r = start_redis();
my $script = $PostgreSQL::Test::Utils::tmp_check . '/wal2queue-standalone.sql';
my $grants = q{GRANT SELECT ON wal2queue.message_key TO bridge; GRANT USAGE ON SCHEMA wal2queue TO bridge, app_writer};
psql_as($node, 'admin', q{CREATE ROLE app_writer LOGIN IN ROLE wal2queue_sender;} . $grants);
my @args = ('-d', $node->connstr('app') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'jobs_pub', '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
	'--status-interval', '1');

sub send_job { psql_as($node, 'app_writer', "SELECT wal2queue.send('emails', '{\"n\": $_[0]}')") }
my $rows = 0;
sub caught_up
{
	$rows++;
	psql_as($node, 'admin', "INSERT INTO jobs (queue, payload) VALUES ('q', '{\"row\": $rows}')");
	return wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq "$rows" }, 30);
}
sub payloads { join(',', map { $_->[1]{payload} } @{ stream_entries($r, 'emails') }) }

my $b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge streams') or diag(bridge_log($b));
send_job(1);
ok(caught_up(), 'caught up') or diag(bridge_log($b));
is(payloads(), '{"n": 1}', 'job 1 (key 1 of the first install) is delivered');

# the documented upgrade: uninstall, install (the same script here)
psql_as($node, 'admin', 'DROP SCHEMA wal2queue CASCADE');
my ($o, $e) = run_command([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
	'-d', $node->connstr('app') . ' user=admin', '-f', $script ]);
unlike($e, qr/ERROR/, 'installed again') or diag($e);
psql_as($node, 'admin', $grants);
like(psql_as($node, 'admin', 'SELECT id FROM wal2queue.message_key'), qr/^[0-9]+$/, 'the new install has one key');
if ($control)
{
	stop_bridge($b);
	$b = start_bridge($node, $r, @args);
	ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'control: the bridge restarted');
}
send_job(2);
ok(caught_up(), 'caught up') or diag(bridge_log($b));
is(payloads(), '{"n": 1},{"n": 2}', 'job 2, signed with the new key 1, is delivered by the running bridge')
  or diag(bridge_log($b));
stop_bridge($b);
done_testing();
