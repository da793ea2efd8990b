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
# unused) and each case's code builtin: nothing of mallory's runs, prune()
# deletes, mallory stays unprivileged.
# Fixed: owner_triggers() (sql/src/28_owner_session.sql) ends with
# owner_code(), so every table prune()'s DELETE writes (the job table,
# its leaves, and each table owner_cascades() reaches through a key's
# action, with its partitions) is judged for the code a write runs besides
# triggers: the closure over pg_depend of its columns (their types), column
# defaults and generation expressions, constraints (CHECK; a foreign key's
# equality operators), indexes (expressions, predicates, operator
# classes), partition key, rules and policies, with a type's constraints
# (a domain's CHECKs), an operator family's members and an operator's
# commutator and negator.  Every function, operator, type, operator class
# or family and text search configuration or dictionary in it must be
# owned by a trusted role (a superuser, the installer, a member of the
# role the code runs as and of the caller), else the job table is skipped,
# 0 returned, with a WARNING naming the part, the object and its owner, and
# a HINT (ALTER ... OWNER TO, or stop using it).  Four cases, each able to
# fail before the fix: the domain (mallory adds its CHECK later), ON DELETE
# SET DEFAULT with DEFAULT m.def(), a table CHECK calling m.chk() and an
# index expression calling m.idx() (mallory replaces each function, once
# harmless, with one that grabs superuser, CREATE OR REPLACE).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('prune_domain632');
owner_code_fixture($node, extension => 1);
# mallory's objects, harmless when the tables are made and filled
my ($out, $err) = as_mallory($node, q{CREATE DOMAIN m.jobref AS bigint;
	CREATE FUNCTION m.def() RETURNS bigint LANGUAGE sql IMMUTABLE AS 'SELECT NULL::bigint';
	CREATE FUNCTION m.chk(bigint) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
	CREATE FUNCTION m.idx(bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS 'SELECT $1';}
	  . grab_function_sql('ok(bigint)', 'boolean', 'true'));
is($err, '', 'mallory creates the domain m.jobref and the functions m.def(), m.chk(), m.idx(), m.ok()');
$node->safe_psql('postgres', q{
	CREATE TABLE public.jobs (id bigint PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
	  created_at timestamptz NOT NULL DEFAULT now());
	SELECT wal2queue.append_only('public.jobs');
	INSERT INTO public.jobs (id, queue) SELECT g, 'q' FROM generate_series(1, 40) g;
	SELECT wal2queue.create_slot('s632', 'public.jobs');});

# each case: the superuser's results table (its key's action writes it as
# the superuser), what mallory does later, and what the WARNING names
my @cases = (
	[ 'a domain CHECK (ON DELETE SET NULL)',
	  ($control ? 'bigint' : 'm.jobref') . ' REFERENCES public.jobs ON DELETE SET NULL', '',
	  'ALTER DOMAIN m.jobref ADD CONSTRAINT grab CHECK (m.ok(VALUE)) NOT VALID',
	  qr/column job_id of table public\.r_domain \(the DELETE writes it through its foreign key r_domain_job_id_fkey as role postgres\) uses domain m\.jobref of role mallory/ ],
	[ 'a column DEFAULT (ON DELETE SET DEFAULT)',
	  'bigint DEFAULT ' . ($control ? 'NULL' : 'm.def()') . ' REFERENCES public.jobs ON DELETE SET DEFAULT', '',
	  grab_function_sql('def()', 'bigint', 'NULL'),
	  qr/the default of column job_id of table public\.r_default .* uses function m\.def\(\) of role mallory/ ],
	[ 'a CHECK constraint',
	  'bigint REFERENCES public.jobs ON DELETE SET NULL CONSTRAINT grab CHECK ('
		. ($control ? 'job_id > 0' : 'm.chk(job_id)') . ')', '',
	  grab_function_sql('chk(bigint)', 'boolean', 'true'),
	  qr/constraint grab of table public\.r_check .* uses function m\.chk\(bigint\) of role mallory/ ],
	[ 'an index expression',
	  'bigint REFERENCES public.jobs ON DELETE SET NULL',
	  'CREATE INDEX r_index_grab ON public.r_index ((' . ($control ? 'abs(job_id)' : 'm.idx(job_id)') . '))',
	  grab_function_sql('idx(bigint)', 'bigint', '1'),
	  qr/index public\.r_index_grab of table public\.r_index .* uses function m\.idx\(bigint\) of role mallory/ ]);
for my $c (@cases)
{
	my ($what, $col, $index, $later, $warning) = @$c;
	my ($table) = $warning =~ /(r_[a-z]+)/;
	$node->safe_psql('postgres', qq{
		CREATE TABLE public.$table (id bigint PRIMARY KEY, job_id $col);
		$index;
		INSERT INTO public.$table SELECT j.id, j.id FROM public.jobs j;});
	$later =~ s/^CREATE FUNCTION/CREATE OR REPLACE FUNCTION/;
	($out, $err) = as_mallory($node, $later);
	is($err, '', "$what: later, mallory makes its code grab superuser");
	my ($rc, $pout, $perr) = $node->psql('postgres', "SELECT wal2queue.prune('public.jobs', 10, force => true)");
	is($rc, 0, "$what: prune() runs");
	is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
		"$what: no code of mallory ran as the superuser");
	if ($control)
	{
		is($pout, '10', "$what: control: prune() deletes");
	}
	else
	{
		is($pout, '0', "$what: prune() skips the job table");
		like($perr, $warning, "$what: the WARNING names the table, its part, the object and its owner");
		like($perr, qr/HINT:  If that code is trusted, give it to the owner of table public\.$table/,
			"$what: with a HINT");
	}
	$node->safe_psql('postgres', "DROP TABLE public.$table; ALTER ROLE mallory NOSUPERUSER");
}
done_testing();
