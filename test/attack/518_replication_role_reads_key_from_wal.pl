# What: a CDC role (LOGIN REPLICATION: Debezium, a data-warehouse loader;
# on RDS a member of rds_replication) may not read wal2queue.message_key
# (the install revokes every grant; docs/managed.md "Who holds the key"
# names the owner, the bridge's role, superusers, pg_read_all_data and
# backups).  It creates a test_decoding slot of its own, as CDC does; the
# administrator rotates the key (docs: after a leak, or routinely).
# rotate_message_key() INSERTs the new key and its HMAC pads into a logged
# table: test_decoding prints them to the CDC role (decoding ignores table
# privileges).  With them it signs a message of its own transaction
# (pg_logical_emit_message(), executable by PUBLIC on a managed server)
# for the target "emails": the bridge verifies the MAC and delivers the
# forged job.  docs/managed.md: "Forging a signed message needs the key: a
# role that may not read wal2queue.message_key ... cannot compute a MAC."
# Why: sql/src/05_message_key.sql keeps the keys in an ordinary logged
# table (every rotation writes the key to the WAL, which every REPLICATION
# role decodes); docs/managed.md's key holders leave REPLICATION roles out.
# Expected: a role that may not read wal2queue.message_key cannot make a
# job of the bridge: no job in "emails" (e.g. the keys never written to
# the WAL in the clear, or REPLICATION roles named as key holders and the
# signature not relied on where such roles exist).
# Severity: medium (forged jobs for any target by any REPLICATION role, a
# privilege routinely given to CDC tools; silent; a rotation, the answer
# to a leak, hands the new key to every such role).
# Control: W2Q_ATTACK_CONTROL=1 signs with 48 random bytes instead of the
# decoded key: no job, passes.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_managed_node('cdc518');
my $r = start_redis();
$node->safe_psql('postgres', q{CREATE ROLE cdc LOGIN REPLICATION NOSUPERUSER});
psql_as($node, 'admin', q{GRANT SELECT ON wal2queue.message_key TO bridge});
my @args = ('-d', $node->connstr('app') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'jobs_pub', '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
	'--status-interval', '1');
my $b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge streams') or diag(bridge_log($b));

my ($rc, $o, $e) = $node->psql('app', q{SELECT count(*) FROM wal2queue.message_key},
	extra_params => [ '-U', 'cdc' ]);
like($e, qr/permission denied/, 'the CDC role may not read the keys');
psql_as($node, 'cdc', q{SELECT pg_create_logical_replication_slot('cdc', 'test_decoding')});
psql_as($node, 'admin', 'SELECT wal2queue.rotate_message_key()');
my $changes = psql_as($node, 'cdc', q{SELECT data FROM pg_logical_slot_get_changes('cdc', NULL, NULL)});
my ($kid, $ipad, $opad) = $changes =~ /table wal2queue\.message_key: INSERT: id\[bigint\]:(\d+) .*ipad\[bytea\]:'\\x([0-9a-f]+)' opad\[bytea\]:'\\x([0-9a-f]+)'/;
ok(defined $opad, "the CDC role decoded the new key's pads (key $kid)") or diag($changes);
$kid //= 2;
if ($control || !defined $opad)
{
	my $k = join('', map { sprintf('%02x', int(rand(256))) } 1 .. 64);
	($ipad, $opad) = ($k, $k);
}
# a message signed as send() signs it, in the CDC role's own transaction
psql_as($node, 'cdc', qq{
	BEGIN;
	SELECT pg_logical_emit_message(true,
	  'wal2queue!$kid.' || encode(sha256('\\x$opad'::bytea || sha256('\\x$ipad'::bytea
	    || int8send(pg_current_xact_id()::text::bigint) || convert_to('wal2queue:emails', 'UTF8')
	    || '\\x00'::bytea || convert_to('{"forged": true}', 'UTF8'))), 'hex') || ':emails',
	  '{"forged": true}');
	COMMIT;});
psql_as($node, 'admin', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"row": 1}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }, 30), 'a row after it is delivered')
  or diag(bridge_log($b));
is(redis($r, 'XLEN', 'emails'), '0', "no job forged by a role that may not read the keys")
  or diag(redis_json($r, 'XRANGE', 'emails', '-', '+') && join(' ', map { ref $_ ? @$_ : $_ }
	@{ (redis_json($r, 'XRANGE', 'emails', '-', '+') // [])->[0] // [] }));
stop_bridge($b);
done_testing();
