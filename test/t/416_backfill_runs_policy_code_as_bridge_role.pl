# What: the backfill reads every selected table as the bridge's role with
# row-level security on, so a policy on a table another role owns runs
# that role's code with the bridge's privileges.  Mallory, who may only log
# in and CREATE in schema public (PUBLIC's right in a database upgraded from
# PostgreSQL 14: 376's class), creates public.mtable with a row, grants
# SELECT to PUBLIC, enables RLS with a policy USING (public.steal(id));
# the bridge's backfill of 'public.*' reads mtable, and steal() -- SECURITY
# INVOKER -- runs as role bridge.  The reader's transaction is READ ONLY,
# so it cannot write tables, but the replication slot functions are not
# refused there: pg_drop_replication_slot('victim') as role bridge
# (REPLICATION) drops a slot mallory may not touch (checked: her own call
# fails); pg_replication_slot_advance() of the bridge's own slot would as
# well skip jobs, pg_terminate_backend() end the bridge's sessions.
# Why: bridge/backfill_reader.c bf_open_reader() leaves row_security on
# (pg_dump sets row_security = off precisely so that a policy raises an
# error instead of running), and backfill_sql.c bf_page() reads the
# table with a plain SELECT.  376's warning names the schema, but says
# only that such a role can forge jobs.
# Expected: no other role's code runs as the bridge role: the reader sets
# row_security = off (a table whose policy would apply is an error naming
# it): slot victim stays.
# W2Q_ATTACK_CONTROL=1 gives mtable no policy: the slot stays.
# Severity: high (privilege escalation from LOGIN + CREATE on a selected
# schema to the bridge's role: REPLICATION, owner of the job tables), needs
# a bridge role that is not a superuser (docs/operations.md's examples use
# a dedicated role)
# and a selection that takes a table of that schema.
# Fixed: with 407's fix: the backfill's check and reader connections SET
# row_security = off, so a policy that would apply is an error before any
# of its code runs ("query would be affected by row-level security policy
# for table \"mtable\"", exit 1, naming the table and the fix); checked
# now too.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfpolicy');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE ROLE bridge LOGIN REPLICATION;
	CREATE ROLE mallory LOGIN;
	GRANT CREATE ON SCHEMA public TO PUBLIC;
	CREATE TABLE public.jobs (id int PRIMARY KEY, payload text);
	ALTER TABLE public.jobs OWNER TO bridge;
	INSERT INTO public.jobs VALUES (1, 'secret-token-123');
	SELECT pg_create_logical_replication_slot('victim', 'test_decoding');
});
my $policy = $ENV{W2Q_ATTACK_CONTROL} ? '' : q{
	ALTER TABLE public.mtable ENABLE ROW LEVEL SECURITY;
	CREATE POLICY p ON public.mtable FOR SELECT USING (public.steal(id));};
my ($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
	'-d', $node->connstr('postgres') . ' user=mallory', '-c', qq{
	CREATE TABLE public.loot (n serial PRIMARY KEY, who name, what text);
	GRANT USAGE ON SEQUENCE public.loot_n_seq TO PUBLIC;
	GRANT INSERT, SELECT ON public.loot TO PUBLIC;
	CREATE FUNCTION public.steal(int) RETURNS boolean LANGUAGE plpgsql AS \$\$
	BEGIN
		PERFORM pg_drop_replication_slot('victim');
		RETURN true;
	EXCEPTION WHEN OTHERS THEN
		RETURN true;
	END \$\$;
	CREATE TABLE public.mtable (id int PRIMARY KEY);
	INSERT INTO public.mtable VALUES (1);
	GRANT SELECT ON public.mtable TO PUBLIC;
	$policy} ]);
is($err, '', 'mallory set up her table');
($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres') . ' user=mallory',
	'-c', q{SELECT pg_drop_replication_slot('victim')} ]);
like($err, qr/ERROR/, 'mallory herself may not drop a slot');
my $b = start_bridge($node, $r, '-d', $node->connstr('postgres') . ' user=bridge', '--slot', 'bf_pol',
	'--create-slot', '--tables', 'public.*', '--backfill', '--status-interval', '1');
ok(wait_until(sub { backfill_done($r, 'bf_pol') eq '1' || !$b->{h}->pumpable }, 30), 'the backfill ended')
  or diag(bridge_log($b));
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'victim'}), '1',
	'no code of mallory ran as the bridge role: slot victim (which mallory may not drop) is there');
diag(join "\n", grep { /backfill|ERROR|WARNING/ } split /\n/, bridge_log($b));
like(bridge_log($b), qr/could not read table public\.mtable for the backfill: query would be affected by row-level security policy for table "mtable"/,
	'the policy is an error naming the table') unless $ENV{W2Q_ATTACK_CONTROL};
stop_bridge($b, 'KILL') if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
