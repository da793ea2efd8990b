# Every backfill connection pins search_path = pg_catalog, pg_temp
# (backfill_sql.h BF_SAFE_SETTINGS, 432, 433): the backfill's SQL runs no
# code of another role.  A --backfill condition is pasted into that SQL, so
# it is read with that path too:
#  1. a condition naming a function of the application's schema unqualified
#     ("is_due(id)", the database's search_path holding app) is refused
#     before anything is created: exit 2, the condition, the table and the
#     server's error named, and the rule (schema-qualify) said;
#  2. the same condition schema-qualified ("app.is_due(id)") delivers the
#     rows it selects once;
#  3. a condition comparing a varchar column ("queue = 'q'") chooses
#     pg_catalog's text = even where a role with CREATE on public planted
#     public.= (varchar, varchar): its code does not run as the bridge's
#     role (COPY ... TO a file, superuser only).
# Fixed: the condition's names looked up in pg_catalog alone; the error's
# hint (backfill_sql.c bf_condition_hint) names the rule, as
# docs/operations.md ("Backfill") does.
# W2Q_ATTACK_CONTROL=1 plants no operator.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfcondpath');
my $r = start_redis();
my $file = "$ENV{TESTDIR}/pwned_438";
unlink $file;
$node->safe_psql('postgres', q{
	CREATE ROLE mallory LOGIN;
	GRANT CREATE ON SCHEMA public TO mallory;
	CREATE SCHEMA app;
	CREATE FUNCTION app.is_due(id int) RETURNS boolean LANGUAGE sql AS 'SELECT id % 2 = 1';
	ALTER DATABASE postgres SET search_path = app, public;
	CREATE TABLE jobs (id int PRIMARY KEY, queue varchar);
	INSERT INTO jobs SELECT g, 'q' FROM generate_series(1, 9) g;
});
my $nslots = sub { $node->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots') };
my @base = ('--sink', "redis://127.0.0.1:$r->{port}", '--create-slot',
	'--tables', 'public.jobs', '--backfill-batch', '3', '--status-interval', '1');

# 1. unqualified: refused, the rule said
my ($code, $out) = run_bridge('-d', $node->connstr('postgres'), @base, '--slot', 'bfc',
	'--backfill', 'is_due(id)');
is($code, 2, 'an unqualified function in the condition: exit 2 (usage)') or diag($out);
like($out, qr/invalid --backfill condition "is_due\(id\)" for table public\.jobs: function is_due\(integer\) does not exist; the backfill reads with search_path = pg_catalog, pg_temp .*schema-qualified/,
	'the condition, the table, the error and the rule are named');
is($nslots->(), '0', 'nothing was created');

# 2. qualified: the rows it selects, once
my $b = start_bridge($node, $r, @base, '--slot', 'bfc', '--backfill', 'app.is_due(id)');
ok(wait_backfill_done($r, $b, 'bfc', 60), 'the qualified condition: the backfill finishes')
  or diag(bridge_log($b));
is(redis($r, 'XLEN', 'public.jobs'), '5', 'the 5 odd rows, once');
stop_bridge($b);

# 3. a planted operator is not chosen for the condition's comparison
unless ($ENV{W2Q_ATTACK_CONTROL})
{
	my ($o, $err) = run_command([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('postgres') . ' user=mallory', '-c', qq{
		CREATE FUNCTION public.eq(a varchar, b varchar) RETURNS boolean LANGUAGE plpgsql AS \$f\$
		BEGIN
			IF current_user <> 'mallory' THEN
				EXECUTE format('COPY (SELECT %L) TO %L', current_user, '$file');
			END IF;
			RETURN a::text = b::text;
		END \$f\$;
		CREATE OPERATOR public.= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.eq);} ]);
	is($err, '', 'mallory planted public.=(varchar, varchar)');
	# the planted operator is what the session's path chooses
	$node->safe_psql('postgres', q{SELECT count(*) FROM jobs WHERE queue = 'q'::varchar});
	ok(-e $file, 'control: with the session\'s search_path the planted operator runs');
	unlink $file;
}
$b = start_bridge($node, $r, @base, '--slot', 'bfc2', '--backfill', "queue = 'q'::varchar");
ok(wait_backfill_done($r, $b, 'bfc2', 60), 'the varchar condition: the backfill finishes')
  or diag(bridge_log($b));
ok(!-e $file, "no code of another role ran as the bridge's role")
  or diag('file written by: ' . slurp_file($file));
is(redis($r, 'XLEN', 'public.jobs'), '14', 'the 9 rows once more (5 + 9)');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
