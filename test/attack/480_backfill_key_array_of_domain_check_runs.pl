# What: the owner of a selected job table (the application's role, no
# superuser) gives the table a primary key whose type is an ARRAY of a
# domain (or a composite type with a domain attribute) whose CHECK calls
# its own plpgsql function.  433's fix casts the saved key to its "base
# type", but only peels domains off the column's own type: the base of
# m.d[] is m.d[] itself, and "$1::m.d[]" runs array_in, which runs
# domain_in on every element, so the CHECK (the owner's code) runs as the
# bridge's role on every page after the first (and in the resume's key
# check).  Same through a composite key type m.pair (a m.d attribute):
# record_in checks the domain (and a range type over the domain: range_in,
# checked by hand).  Here the function writes current_user into
# a file with COPY ... TO (superuser only).  433's class around its fix.
# Why: bridge/backfill_sql.c KEY_SQL: the recursive "d" CTE follows
# typbasetype only "WHERE y.typtype = 'd'"; an array's (typelem) or a
# composite's (attributes) domains are not followed; key_after() then
# writes "$p::%s" with that type (bf_key_readable too).
# Expected: no code of the table's owner runs as the bridge's role: the
# saved key read as a type whose input runs no domain check (e.g. compare
# against the column's own value: "(k) > (SELECT ...)" is no better; cast
# to the element's base type array, int[] / text[], or refuse a key whose
# type contains a domain with a CHECK, naming it); rows delivered once and
# no file written.
# W2Q_ATTACK_CONTROL=1 uses a domain without CHECK: passes.  W2Q_480_TABLES=m.ajobs
# or m.cjobs backfills one of the two (each fails alone).
# Severity: high (privilege escalation from any table owner whose table a
# backfill selects to the bridge's role: a superuser or a REPLICATION role
# that reads every table; silent).
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfarrdom');
my $r = start_redis();
my $file = "$ENV{TESTDIR}/pwned_480";
unlink $file;
$node->safe_psql('postgres', q{
	CREATE ROLE mallory LOGIN;
	CREATE SCHEMA m AUTHORIZATION mallory;
});
my $check = $ENV{W2Q_ATTACK_CONTROL} ? '' : 'CHECK (m.ok(VALUE))';
my ($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
	'-d', $node->connstr('postgres') . ' user=mallory', '-c', qq{
	CREATE FUNCTION m.ok(v text) RETURNS boolean LANGUAGE plpgsql AS \$f\$
	BEGIN
		IF current_user <> 'mallory' THEN
			EXECUTE format('COPY (SELECT %L) TO %L', current_user, '$file');
		END IF;
		RETURN true;
	END \$f\$;
	CREATE DOMAIN m.d AS text $check;
	CREATE TYPE m.pair AS (a m.d, b int);
	CREATE TABLE m.ajobs (id m.d[] PRIMARY KEY, queue text);
	INSERT INTO m.ajobs SELECT ARRAY['k' || g]::m.d[], 'q' FROM generate_series(1, 9) g;
	CREATE TABLE m.cjobs (id m.pair PRIMARY KEY, queue text);
	INSERT INTO m.cjobs SELECT ROW('k' || g, g)::m.pair, 'q' FROM generate_series(1, 9) g;} ]);
is($err, '', "mallory's tables with keys of an array of a domain and of a composite with a domain");
unlink $file;    # mallory's own INSERTs ran the check as mallory
my $b = start_bridge($node, $r, '--slot', 'bf_arrdom', '--create-slot', '--tables', ($ENV{W2Q_480_TABLES} // 'm.*'),
	'--backfill', '--backfill-batch', '3', '--status-interval', '1');
ok(wait_until(sub { backfill_done($r, 'bf_arrdom') eq '1' || -e $file }, 30), 'the backfill ran')
  or diag(bridge_log($b));
sleep 1;
ok(!-e $file, "no code of the table's owner ran as the bridge's role")
  or diag('file written by: ' . slurp_file($file));
stop_bridge($b, 'KILL') if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
