# What: send() jobs are committed while the bridge is stopped (or behind);
# then the standalone script is upgraded as docs/managed.md "Upgrading"
# says (keep wal2queue.slots, uninstall with DROP SCHEMA wal2queue CASCADE,
# install, register the slot again), and the bridge started.  The jobs
# waiting in the WAL were signed with the old install's key 1; the new
# install has another key under the same id 1.
# Why: keys are "never deleted" only within one install: the uninstall
# drops them and the identity column of sql/src/05_message_key.sql starts
# at 1 again, so the bridge verifies the waiting messages with the new key
# 1 (bridge/pgoutput.c judge_signed(): message_sign_verify() fails,
# SIGNED_NO_JOB, counted as forgeries) and confirms past them.  Neither the
# upgrade's instructions nor the bridge say that undelivered send() jobs
# must be drained first.  The same is expected with DROP/CREATE EXTENSION.
# Expected: the jobs committed before the upgrade are delivered (e.g. keys
# carried over, or ids never reused so an old id is unknown and refused by
# name), or the documented procedure drains them first and the bridge
# refuses to confirm past messages it cannot judge.
# Severity: medium -- silent loss of the backlog of send() jobs at a
# documented upgrade.
# Fixed (documents): docs/managed.md "Upgrading" drains first: stop
# sending, note pg_current_wal_lsn(), wait until every slot's
# confirmed_flush_lsn is past it, then uninstall and install.  This test
# follows that procedure: the jobs are delivered before the upgrade.
# Control (W2Q_ATTACK_CONTROL=1): no upgrade: the jobs are delivered.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_managed_node('upgrade475');
my $r = start_redis();
my $script = $PostgreSQL::Test::Utils::tmp_check . '/wal2queue-standalone.sql';
my $grants = q{GRANT SELECT ON wal2queue.message_key TO bridge; GRANT USAGE ON SCHEMA wal2queue TO bridge, app_writer};
psql_as($node, 'admin', q{CREATE ROLE app_writer LOGIN IN ROLE wal2queue_sender;} . $grants);
my @args = ('-d', $node->connstr('app') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'jobs_pub', '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
	'--status-interval', '1');
my $b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /registered slot "jobs"/ }), 'the bridge registers its slot') or diag(bridge_log($b));
stop_bridge($b);

psql_as($node, 'app_writer', "SELECT wal2queue.send('emails', '{\"n\": $_}')") for 1 .. 3;
unless ($control)
{
	# docs/managed.md "Upgrading" steps 1-3: drain before dropping the keys
	my $lsn = psql_as($node, 'admin', 'SELECT pg_current_wal_lsn()');
	$b = start_bridge($node, $r, @args);
	ok(wait_until(sub { psql_as($node, 'admin', "SELECT bool_and(confirmed_flush_lsn >= '$lsn') FROM pg_replication_slots WHERE database = current_database()") eq 't' }, 60),
		'the documented query says the slot is drained') or diag(bridge_log($b));
	is(redis($r, 'XLEN', 'emails'), '3', 'drained: the 3 send() jobs are delivered before the upgrade');
	stop_bridge($b);
	my $slots = psql_as($node, 'admin', 'SELECT count(*) FROM wal2queue.slots');
	psql_as($node, 'admin', 'DROP SCHEMA wal2queue CASCADE');
	my ($o, $e) = run_command([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('app') . ' user=admin', '-f', $script ]);
	unlike($e, qr/ERROR/, "uninstalled and installed again ($slots slot registered before)") or diag($e);
	psql_as($node, 'admin', $grants);
}
$b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge streams') or diag(bridge_log($b));
psql_as($node, 'admin', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"row": 1}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }, 30), 'a row after them is delivered')
  or diag(bridge_log($b));
is(redis($r, 'XLEN', 'emails'), '3', 'the 3 send() jobs committed before the upgrade are delivered')
  or diag(bridge_log($b));
stop_bridge($b);
done_testing();
