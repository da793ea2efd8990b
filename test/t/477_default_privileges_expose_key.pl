# What: the installing role has the common read-only setup of managed
# servers, "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO reporting"
# (a LOGIN role for dashboards: not a sender), made before wal2queue was
# installed.  The standalone script's wal2queue.message_key is then
# readable by reporting, which reads key 1 and signs a message as send()
# does: the bridge delivers it as a job.
# Why: sql/src/05_message_key.sql creates the table and runs only
# "REVOKE ALL ON wal2queue.message_key FROM PUBLIC"; the grant the default
# privileges added to reporting stays (pg_class.relacl).  docs/managed.md
# ("Who holds the key") names the installing role, the bridge's role,
# superusers and backups; the same holds for members of pg_read_all_data.
# Expected: right after the install only the owner (and what it grants
# afterwards) may read the keys: the script revokes every grant default
# privileges made on the table (or refuses, naming them), so reporting's
# read is refused and no forgery is a job.
# Severity: high -- any role a common default-privileges setup lets read
# new tables can forge jobs for every target, signed and verified.
# Fixed: sql/src/05_message_key.sql revokes, right after creating the table,
# every privilege of every grantee but the owner (aclexplode(relacl)).
# Control (W2Q_ATTACK_CONTROL=1): no default privileges: reporting may not
# read the key.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my ($node, $r, $b) = @{ standalone_app_fixture('defpriv477', roles => 'CREATE ROLE reporting LOGIN;',
	before => sub {
		psql_as($_[0], 'admin', 'ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO reporting') unless $control;
	}, admin_sql => 'GRANT USAGE ON SCHEMA wal2queue TO reporting') }{qw(node r b)};
my ($o, $e);

# reporting reads the key and signs as send() does (sql/src/10_send.sql)
($o, $e) = run_command([ 'psql', '-X', '-q', '-d', $node->connstr('app') . ' user=reporting', '-c', q{DO $$
DECLARE
	k bytea := (SELECT key FROM wal2queue.message_key WHERE id = 1);
	k0 bytea := k || decode(repeat('00', 64 - length(k)), 'hex');
	ipad bytea := k0;
	opad bytea := k0;
	body bytea := convert_to('{"forged": true}', 'UTF8');
BEGIN
	FOR i IN 0..63 LOOP
		ipad := set_byte(ipad, i, get_byte(k0, i) # 54);
		opad := set_byte(opad, i, get_byte(k0, i) # 92);
	END LOOP;
	PERFORM pg_logical_emit_message(true, 'wal2queue!1.' || encode(sha256(opad || sha256(ipad
		|| int8send(pg_current_xact_id()::text::bigint) || convert_to('wal2queue:emails', 'UTF8')
		|| '\x00'::bytea || body)), 'hex') || ':emails', body);
END
$$} ]);
note("reporting: $e");
psql_as($node, 'admin', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"row": 1}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }, 30), 'caught up') or diag(bridge_log($b));
is(redis($r, 'XLEN', 'emails'), '0', "no job forged by reporting, a role that is not a sender");
like($e, qr/permission denied for table message_key/, 'reporting may not read the keys');
stop_bridge($b);
done_testing();
