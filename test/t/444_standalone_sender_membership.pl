# The standalone script's send() runs as the role that installed it
# (SECURITY DEFINER).  After a superuser revoked pg_logical_emit_message()
# from PUBLIC and granted it to wal2queue_sender (the statements its WARNING
# gives), that role may emit messages only as a member of wal2queue_sender:
# the script makes it one when it may (CREATEROLE: TAP 440 sends that way),
# and when it may not (no CREATEROLE, wal2queue_sender created beforehand
# by someone else) it says so with a WARNING and the GRANT to run; send()
# fails until then, and works after.  The messages are read back through a
# test_decoding slot.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $root = $ENV{W2Q_ROOT} // die 'W2Q_ROOT is not set';
my $script = $PostgreSQL::Test::Utils::tmp_check . '/wal2queue-standalone.sql';
run_command([ "$root/sql/make-standalone.sh", $script, sort glob("$root/sql/src/*.sql") ]);
my $node = new_node('sendermember', no_allow_list => 1);
$node->safe_psql('postgres', q{
	CREATE ROLE wal2queue_sender NOLOGIN;
	CREATE ROLE owner1 LOGIN CREATEROLE;
	CREATE ROLE owner2 LOGIN;
	CREATE ROLE app LOGIN IN ROLE wal2queue_sender;
	CREATE DATABASE db1 OWNER owner1;
	CREATE DATABASE db2 OWNER owner2;
});

sub install
{
	my ($db, $user) = @_;
	my ($o, $e) = run_command([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr($db) . " user=$user", '-f', $script ]);
	return $e;
}

# as app, send() one job; psql's stderr
sub send_job
{
	my ($db) = @_;
	my ($o, $e) = run_command([ 'psql', '-X', '-q', '-d', $node->connstr($db) . ' user=app',
		'-c', q{SELECT wal2queue.send('t', 'p')} ]);
	return $e;
}

my $revoke = q{REVOKE EXECUTE ON FUNCTION pg_catalog.pg_logical_emit_message(boolean, text, text),
	pg_catalog.pg_logical_emit_message(boolean, text, bytea) FROM PUBLIC;
	GRANT EXECUTE ON FUNCTION pg_catalog.pg_logical_emit_message(boolean, text, text),
	pg_catalog.pg_logical_emit_message(boolean, text, bytea) TO wal2queue_sender;};

# CREATEROLE: the installing role makes itself a member, silently
my $e = install('db1', 'owner1');
unlike($e, qr/ERROR|no member of wal2queue_sender/, 'a CREATEROLE role installs without a word about it');
is($node->safe_psql('postgres', q{SELECT pg_has_role('owner1', 'wal2queue_sender', 'USAGE')}), 't',
	'and is a member of wal2queue_sender');

# no CREATEROLE: a WARNING with the GRANT to run
$e = install('db2', 'owner2');
unlike($e, qr/ERROR/, 'a role without CREATEROLE installs too (wal2queue_sender exists)');
like($e, qr/WARNING:  role "owner2" is no member of wal2queue_sender and may not make itself one/,
	'a WARNING says it is no member');
like($e, qr/DETAIL:  send\(\) runs as that role: it fails once pg_logical_emit_message\(\) is revoked from PUBLIC\./,
	'and what that means');
my ($grant) = $e =~ /HINT:  Have a role with CREATEROLE run: (GRANT wal2queue_sender TO owner2;)/;
ok(defined $grant, 'and the GRANT to run') or diag($e);

# the superuser's REVOKE in both databases: send() in db1 works, in db2
# it fails until the GRANT
$node->safe_psql($_, $revoke . 'GRANT USAGE ON SCHEMA wal2queue TO app;') for ('db1', 'db2');
$node->safe_psql($_, qq{SELECT pg_create_logical_replication_slot('s_$_', 'test_decoding')}) for ('db1', 'db2');
is(send_job('db1'), '', 'db1: send() works after the REVOKE');
like(send_job('db2'), qr/permission denied for function pg_logical_emit_message/,
	'db2: send() fails after the REVOKE, as the WARNING said');
$node->safe_psql('postgres', $grant // 'SELECT');
is(send_job('db2'), '', 'db2: send() works after the GRANT of the WARNING');
for my $db ('db1', 'db2')
{
	is($node->safe_psql($db, qq{SELECT count(*) FROM pg_logical_slot_get_changes('s_$db', NULL, NULL)
		WHERE data ~ '^message: transactional: 1 prefix: wal2queue!1\.[0-9a-f]{64}:t, '}), '1', "$db: one job message (signed)");
}
$node->stop;
done_testing();
