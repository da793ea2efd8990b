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
# Documented limit: no code fix (the key table must be logged, for crash
# safety and standbys, so the WAL holds every key). docs/managed.md "Who
# holds the key" names roles with REPLICATION, physical standbys, base
# backups and WAL archives as key holders, and the README's send()
# guarantee says so. This test proves the documented limit and its edge:
# the docs name REPLICATION roles; a REPLICATION role decodes the key and
# its forged job is delivered; a role without REPLICATION can neither
# create a slot nor decode the key, and its message signed with a guessed
# key is no job.
# Control: W2Q_ATTACK_CONTROL=1 signs with 48 random bytes instead of the
# decoded key: no job (then the "delivered" check is reversed).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $root = $ENV{W2Q_ROOT} // die 'W2Q_ROOT is not set';

# the documented limit
my $managed = slurp_file("$root/docs/managed.md");
my ($holders) = $managed =~ /(- \*Who holds the key\*:.*?)\n\n/s;
ok(defined $holders, 'docs/managed.md has "Who holds the key"');
$holders //= '';
like($holders, qr/role with\s+`REPLICATION`/, 'it names roles with REPLICATION as key holders');
like($holders, qr/physical standbys, base backups and WAL archives/, 'and whoever reads the WAL otherwise');
like(slurp_file("$root/README.md"), qr/a role with `REPLICATION`\s+can sign jobs/,
	"the README's send() guarantee says so");

my $node = new_managed_node('cdc518');
my $r = start_redis();
$node->safe_psql('postgres', q{CREATE ROLE cdc LOGIN REPLICATION NOSUPERUSER;
	CREATE ROLE mallory LOGIN NOSUPERUSER});
psql_as($node, 'admin', q{GRANT SELECT ON wal2queue.message_key TO bridge});
my @args = ('-d', $node->connstr('app') . ' user=bridge', '--plugin', 'pgoutput',
	'--publication', 'jobs_pub', '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
	'--status-interval', '1');
my $b = start_bridge($node, $r, @args);
ok(wait_until(sub { bridge_log($b) =~ /streaming slot "jobs"/ }), 'the bridge streams') or diag(bridge_log($b));

for my $role ('cdc', 'mallory')
{
	my ($rc, $o, $e) = $node->psql('app', q{SELECT count(*) FROM wal2queue.message_key},
		extra_params => [ '-U', $role ]);
	like($e, qr/permission denied/, "$role may not read the keys");
}
my $e_slot;
(undef, undef, $e_slot) = $node->psql('app', q{SELECT pg_create_logical_replication_slot('m', 'test_decoding')},
	extra_params => [ '-U', 'mallory' ]);
like($e_slot, qr/must be superuser or replication role/, 'a role without REPLICATION cannot decode the key');
psql_as($node, 'cdc', q{SELECT pg_create_logical_replication_slot('cdc', 'test_decoding')});
psql_as($node, 'admin', 'SELECT wal2queue.rotate_message_key()');
my $changes = psql_as($node, 'cdc', q{SELECT data FROM pg_logical_slot_get_changes('cdc', NULL, NULL)});
my ($kid, $ipad, $opad) = $changes =~ /table wal2queue\.message_key: INSERT: id\[bigint\]:(\d+) .*ipad\[bytea\]:'\\x([0-9a-f]+)' opad\[bytea\]:'\\x([0-9a-f]+)'/;
ok(defined $opad, "the CDC role decoded the new key's pads (key $kid)") or diag($changes);
$kid //= 2;

# a message signed as send() signs it, in the role's own transaction
sub forge
{
	my ($role, $target, $ip, $op) = @_;
	psql_as($node, $role, qq{
	BEGIN;
	SELECT pg_logical_emit_message(true,
	  'wal2queue!$kid.' || encode(sha256('\\x$op'::bytea || sha256('\\x$ip'::bytea
	    || int8send(pg_current_xact_id()::text::bigint) || convert_to('wal2queue:$target', 'UTF8')
	    || '\\x00'::bytea || convert_to('{"forged": true}', 'UTF8'))), 'hex') || ':$target',
	  '{"forged": true}');
	COMMIT;});
}
sub random_pad { return join('', map { sprintf('%02x', int(rand(256))) } 1 .. 64) }
if ($control || !defined $opad)
{
	($ipad, $opad) = (random_pad(), random_pad());
}
forge('cdc', 'emails', $ipad, $opad);
forge('mallory', 'mallory_emails', random_pad(), random_pad());
psql_as($node, 'admin', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"row": 1}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }, 30), 'a row after them is delivered')
  or diag(bridge_log($b));
is(redis($r, 'XLEN', 'emails'), $control ? '0' : '1',
	'a REPLICATION role decodes the new key and its forged job is delivered');
is(redis($r, 'XLEN', 'mallory_emails'), '0', 'the guessed key of a role without REPLICATION makes no job');
stop_bridge($b);
done_testing();
