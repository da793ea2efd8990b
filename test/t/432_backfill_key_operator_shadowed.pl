# What: a role that may CREATE in schema public (the database's owner under
# PostgreSQL 15's default -- the application's role in the common "the app
# owns its database" setup -- or PUBLIC in a database upgraded from 14)
# creates an operator public.> (character varying, character varying) whose
# function is plpgsql.  The backfill's pages compare the key with the
# unqualified operator ("... AND (\"id\") > ($1::character varying)"),
# pg_catalog has no exact varchar > varchar (varchar uses text's), so the
# planted operator is the exact match and is chosen: its code runs as the
# bridge's role (here a superuser, as the quick start runs it) from the
# second page on.  Here it writes current_user into a file with COPY ... TO
# (superuser only): the application's role runs code as a superuser.  416's
# class (another role's code run as the bridge role) around its fix
# (row_security off keeps policies out, not operators).
# Why: bridge/backfill_sql.c bf_page_only(): 'add(&sql, &len, ") > (%s%s"'
# writes a bare ">" and the backfill connections pin no search_path
# (BF_PINNED_SETTINGS, bridge/backfill_sql.h:58: datestyle, intervalstyle,
# extra_float_digits only), so the session's "$user", public is searched.
# Expected: the backfill's SQL runs no code of another role: search_path
# pinned to pg_catalog (SET search_path = pg_catalog, pg_temp) or operators
# written OPERATOR(pg_catalog.>); the 9 rows delivered once, no file.
# W2Q_ATTACK_CONTROL=1 plants no operator: passes.
# Severity: high (privilege escalation from a database owner or a role with
# CREATE on public to the bridge's role, a superuser or a REPLICATION role;
# no sign of it in the bridge's log).
# Fixed: every backfill connection pins search_path = pg_catalog, pg_temp
# (backfill_sql.h BF_SAFE_SETTINGS; the lock's and mark_backfilled()'s
# connections too), and the pages compare the key with the ">" of the btree
# opclass ORDER BY sorts it by, written OPERATOR(schema.>) (backfill_sql.c
# KEY_SQL, key_after): here OPERATOR(pg_catalog.>), text's.  The planted
# public.format(text, name, name) and public.unnest(int2[]) the catalog
# queries (TABLES_SQL, KEY_SQL) would pick are checked here too.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfop');
my $r = start_redis();
my $file = "$ENV{TESTDIR}/pwned_432";
unlink $file;
$node->safe_psql('postgres', q{
	CREATE ROLE mallory LOGIN;
	GRANT CREATE ON SCHEMA public TO mallory;
	CREATE TABLE jobs (id varchar PRIMARY KEY, queue text);
	INSERT INTO jobs SELECT 'k' || g, 'q' FROM generate_series(1, 9) g;
});
unless ($ENV{W2Q_ATTACK_CONTROL})
{
	my ($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('postgres') . ' user=mallory', '-c', qq{
		CREATE FUNCTION public.gt(a varchar, b varchar) RETURNS boolean LANGUAGE plpgsql AS \$f\$
		BEGIN
			IF current_user <> 'mallory' THEN
				EXECUTE format('COPY (SELECT %L) TO %L', current_user, '$file');
			END IF;
			RETURN a::text > b::text;
		END \$f\$;
		CREATE OPERATOR public.> (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = public.gt);
		CREATE FUNCTION public.unnest(a int2[]) RETURNS SETOF int2 LANGUAGE plpgsql AS \$f\$
		BEGIN
			IF current_user <> 'mallory' THEN
				EXECUTE format('COPY (SELECT %L) TO %L', current_user, '$file');
			END IF;
			RETURN QUERY SELECT pg_catalog.unnest(a);
		END \$f\$;
		CREATE FUNCTION public.format(f text, a name, b name) RETURNS text LANGUAGE plpgsql AS \$f\$
		BEGIN
			IF current_user <> 'mallory' THEN
				EXECUTE pg_catalog.format('COPY (SELECT %L) TO %L', current_user, '$file');
			END IF;
			RETURN pg_catalog.format(f, a, b);
		END \$f\$;} ]);
	is($err, '', 'mallory planted public.>(varchar, varchar), public.unnest(int2[]), public.format(text, name, name)');
}
my $b = start_bridge($node, $r, '--slot', 'bf_op', '--create-slot', '--tables', 'public.jobs',
	'--backfill', '--backfill-batch', '3', '--status-interval', '1');
ok(wait_until(sub { backfill_done($r, 'bf_op') eq '1' || -e $file }, 30), 'the backfill ran');
sleep 1;
ok(!-e $file, "no code of another role ran as the bridge's role")
  or diag('file written by: ' . slurp_file($file));
is(redis($r, 'XLEN', 'public.jobs'), '9', 'each row once');
stop_bridge($b, 'KILL') if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
