# What: prune()'s DELETE sets off a foreign key ON DELETE SET NULL into a
# superuser's table public.job_results whose key column is of a domain
# owned by mallory (m.jobref, over bigint: a shared type of the
# application's schema).  mallory holds no privilege on either table and
# adds no trigger.  After the table is set up, mallory, as the domain's
# owner, adds a CHECK to it calling its own function.  The action's UPDATE
# sets the column to NULL, which is coerced to the domain and checked: the
# function runs as the owner of public.job_results, the superuser, at the
# next prune(), and makes mallory a superuser.  owner_cascades() passes the
# table: no TRIGGER grantee, no trigger of another role.
# Why: sql/src/28_owner_session.sql owner_cascades()/owner_triggers(): only
# the triggers (and their functions, operators and types, pg_depend) of a
# table the DELETE writes are judged; the code its action's UPDATE runs
# otherwise -- the CHECK constraints of its columns' domains (their owner
# can add one at any time, ALTER DOMAIN ... ADD CONSTRAINT), and likewise
# a column default (ON DELETE SET DEFAULT; DEFAULT m.def(), which mallory
# replaces later: the same result, run once), CHECK constraints and index
# expressions that call another role's function -- is not.
# Expected: prune() skips public.jobs with a WARNING naming the domain and
# its owner (as it does for a trigger that uses another role's type), or
# mallory's code never runs as the superuser.
# Severity: high -- a role that owns only a type used by a superuser's
# table gets superuser at the next scheduled prune().
# Control: W2Q_ATTACK_CONTROL=1 makes the column plain bigint (the domain
# unused): mallory's CHECK never runs, prune() deletes, mallory stays
# unprivileged.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('prune_domain632');
owner_code_fixture($node, extension => 1);
my ($out, $err) = as_mallory($node, 'CREATE DOMAIN m.jobref AS bigint;'
	  . grab_function_sql('ok(bigint)', 'boolean', 'true'));
is($err, '', 'mallory creates the domain m.jobref and the function m.ok(bigint)');
my $type = $control ? 'bigint' : 'm.jobref';
$node->safe_psql('postgres', qq{
	CREATE TABLE public.jobs (id bigint PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
	  created_at timestamptz NOT NULL DEFAULT now());
	CREATE TABLE public.job_results (id bigint PRIMARY KEY,
	  job_id $type REFERENCES public.jobs ON DELETE SET NULL, result text);
	SELECT wal2queue.append_only('public.jobs');
	INSERT INTO public.jobs (id, queue) SELECT g, 'q' FROM generate_series(1, 20) g;
	INSERT INTO public.job_results SELECT g, g, 'done' FROM generate_series(1, 20) g;
	SELECT wal2queue.create_slot('s632', 'public.jobs');});
($out, $err) = as_mallory($node, 'ALTER DOMAIN m.jobref ADD CONSTRAINT grab CHECK (m.ok(VALUE)) NOT VALID');
is($err, '', 'later, mallory adds a CHECK calling its function to its domain');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
	'mallory is no superuser');

my ($rc, $pout, $perr) = $node->psql('postgres', "SELECT wal2queue.prune('public.jobs', 1, force => true)");
note("prune: rc $rc: $pout $perr");
is($rc, 0, 'prune() runs');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
	"no code of mallory ran as the superuser (prune() said: $pout $perr)");
done_testing();
