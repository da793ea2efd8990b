# What: the owner of a selected job table (the application's role, no
# superuser, no CREATE on public) gives the table a primary key of a domain
# type whose CHECK calls its own plpgsql function.  Each backfill page after
# the first casts the saved key to the key's type ("... AND (\"id\") >
# ($1::m.k)"): the cast checks the domain, so the function runs as the
# bridge's role (here a superuser, as the quick start runs it) on every page.
# Here it writes current_user into a file with COPY ... TO (superuser only).
# 416's class (a table owner's code run as the bridge role: row_security off
# keeps policies out) through a domain's CHECK instead of a policy.
# Why: bridge/backfill_sql.c bf_page_only(): 'snprintf(num, sizeof(num),
# "$%d::", np + 1); ... add(&sql, &len, "%s%s", t->keytypes[k], "")' casts
# the parameter to the column's declared type, a domain included; the CHECK
# of a domain is evaluated by that cast (and by the resume's key check).
# Expected: no code the table's owner wrote runs as the bridge's role while
# reading rows: cast the key to the domain's base type (the comparison is
# the base type's), or refuse a key column whose type is a domain with a
# CHECK (naming it); the 9 rows delivered once and no file written.
# W2Q_ATTACK_CONTROL=1 uses a domain without CHECK: passes.
# Severity: high (privilege escalation from any table owner whose table a
# backfill selects to the bridge's role: a superuser, or a REPLICATION role
# that reads every table; silent).
# Fixed: the saved key is cast to the key column's base type (through
# domains of domains, backfill_sql.c KEY_SQL: format_type of the base type,
# qualified under the pinned search_path), in the pages and in the resume's
# check (bf_key_readable); the comparison is the base type's, as ORDER BY's.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfdom');
my $r = start_redis();
my $file = "$ENV{TESTDIR}/pwned_433";
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
	CREATE DOMAIN m.k AS text $check;
	CREATE TABLE m.jobs (id m.k PRIMARY KEY, queue text);
	INSERT INTO m.jobs SELECT 'k' || g, 'q' FROM generate_series(1, 9) g;} ]);
is($err, '', "mallory's table with a domain key");
unlink $file;    # mallory's own INSERTs ran the check as mallory
my $b = start_bridge($node, $r, '--slot', 'bf_dom', '--create-slot', '--tables', 'm.jobs',
	'--backfill', '--backfill-batch', '3', '--status-interval', '1');
ok(wait_until(sub { backfill_done($r, 'bf_dom') eq '1' || -e $file }, 30), 'the backfill ran')
  or diag(bridge_log($b));
sleep 1;
ok(!-e $file, "no code of the table's owner ran as the bridge's role")
  or diag('file written by: ' . slurp_file($file));
is(redis($r, 'XLEN', 'm.jobs'), '9', 'each row once');
stop_bridge($b, 'KILL') if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
