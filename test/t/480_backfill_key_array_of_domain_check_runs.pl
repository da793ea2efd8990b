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
# Fixed: bridge/backfill_sql.c KEY_SQL finds a domain with a CHECK anywhere
# in a key column's base type (an array's element, recursively through a
# domain over an array of a domain, a composite's attributes, a range's or
# multirange's subtype) and the backfill refuses the table before anything
# is sent, naming the table, the column, its type and the domain: no base
# type avoids the check ("$1::text[]" does not compare with a m.d[]
# column; a cast of the column loses the index).  A domain without a
# CHECK (here m.nd) runs no code: its keys are backfilled.

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
my ($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
	'-d', $node->connstr('postgres') . ' user=mallory', '-c', qq{
	CREATE FUNCTION m.ok(v text) RETURNS boolean LANGUAGE plpgsql AS \$f\$
	BEGIN
		IF current_user <> 'mallory' THEN
			EXECUTE format('COPY (SELECT %L) TO %L', current_user, '$file');
		END IF;
		RETURN true;
	END \$f\$;
	CREATE DOMAIN m.d AS text CHECK (m.ok(VALUE));
	CREATE DOMAIN m.nd AS text;
	CREATE DOMAIN m.da AS m.d[];
	CREATE TYPE m.pair AS (a m.d, b int);
	CREATE TYPE m.dr AS RANGE (subtype = m.d);
	CREATE TABLE m.ajobs (id m.d[] PRIMARY KEY, queue text);
	INSERT INTO m.ajobs SELECT ARRAY['k' || g]::m.d[], 'q' FROM generate_series(1, 9) g;
	CREATE TABLE m.cjobs (id m.pair PRIMARY KEY, queue text);
	INSERT INTO m.cjobs SELECT ROW('k' || g, g)::m.pair, 'q' FROM generate_series(1, 9) g;
	CREATE TABLE m.njobs (id m.da PRIMARY KEY, queue text);
	INSERT INTO m.njobs SELECT ARRAY['k' || g]::m.da, 'q' FROM generate_series(1, 9) g;
	CREATE TABLE m.rjobs (id m.dr PRIMARY KEY, queue text);
	INSERT INTO m.rjobs SELECT m.dr('k' || g, 'l' || g), 'q' FROM generate_series(1, 9) g;
	CREATE TABLE m.okjobs (id m.nd[] PRIMARY KEY, queue text);
	INSERT INTO m.okjobs SELECT ARRAY['k' || g]::m.nd[], 'q' FROM generate_series(1, 9) g;} ]);
is($err, '', "mallory's tables with keys containing a domain");
unlink $file;    # mallory's own INSERTs ran the check as mallory

my %types = ('ajobs' => 'm.d[]', 'cjobs' => 'm.pair', 'njobs' => 'm.d[]', 'rjobs' => 'm.dr');
for my $t (sort keys %types)
{
	my $slot = "bf_arrdom_$t";
	my $b = start_bridge($node, $r, '--slot', $slot, '--create-slot', '--tables', "m.$t",
		'--backfill', '--backfill-batch', '3', '--status-interval', '1');
	ok(wait_until(sub { !$b->{h}->pumpable }, 30), "m.$t: the bridge stops");
	$b->{h}->finish;
	my $status = $b->{h}->full_result(0) >> 8;
	is($status, 1, "m.$t: it exits 1");
	is($node->safe_psql('postgres', qq{SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot'}),
		'0', "m.$t: refused before the slot is created");
	like(bridge_log($b), qr/cannot backfill table m\.$t: its key column id has type \Q$types{$t}\E, which contains domain m\.d with a CHECK constraint/,
		"m.$t: refused, naming the table, column, type and domain");
	is(redis($r, 'EXISTS', "m.$t"), '0', "m.$t: nothing sent");
	ok(!-e $file, "m.$t: no code of the table's owner ran as the bridge's role")
	  or diag('file written by: ' . slurp_file($file));
}

# a domain without a CHECK: its array's keys are read as m.nd[], no code runs
my $b = start_bridge($node, $r, '--slot', 'bf_arrdom_ok', '--create-slot', '--tables', 'm.okjobs',
	'--backfill', '--backfill-batch', '3', '--status-interval', '1');
ok(wait_until(sub { backfill_done($r, 'bf_arrdom_ok') eq '1' }, 30), 'm.okjobs: the backfill ran')
  or diag(bridge_log($b));
is(redis($r, 'XLEN', 'm.okjobs'), '9', 'm.okjobs: each row once');
ok(!-e $file, "m.okjobs: no code of the table's owner ran");
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
