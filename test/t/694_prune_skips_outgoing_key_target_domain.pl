# What: a superuser's job table with a foreign key onto the
# application's table (jobs.account_id REFERENCES app.accounts) is
# skipped by prune() at every run when app.accounts has a column of a
# domain its owner owns (email app.email), though a DELETE from the job
# table never reads or writes app.accounts: an outgoing key is checked
# on INSERT and UPDATE of the referencing row only.
# Why: sql/src/28_owner_session.sql owner_code(): the closure starts from
# every constraint of the table, a foreign key included, and follows
# pg_depend from it to the referenced table, and from that pg_class row
# to the types of ALL its columns (the recursive step follows every
# dependency of a pg_class row reached, written or not); app.email, a
# domain of role app, is then judged as run by the job table's owner.
# (The same for an outgoing key onto a table with row level security
# of another owner: its policies are judged, though a key's check does
# not apply them, SECURITY_NOFORCE_RLS.)
# Expected: prune() deletes the delivered rows of public.jobs, no
# WARNING: only what a DELETE from it (and the writes and checks it
# sets off) runs is judged.
# Severity: low -- operator: a common schema (a superuser's job table,
# e.g. made by create_job_table(), referencing the application's own
# tables, whose columns use the application's domains) is never pruned;
# the HINT (give the domain to the superuser, or stop using it) asks for
# a change of an unrelated table.
# Fixed: owner_code() (sql/src/28_owner_session.sql), for prune()'s
# DELETE of the job table or of a partition (no VIA), does not start from
# the table's own foreign keys: they are not followed to the tables they
# reference.  A table written through a key's action, and the
# maintenance functions (ATTACH checks keys), still follow them.
# Control: W2Q_ATTACK_CONTROL=1 has no foreign key onto app.accounts:
# public.jobs is pruned.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $fk = $control ? '' : 'REFERENCES app.accounts (id)';
my $node = new_node('prune_outgoing_key694');
$node->safe_psql('postgres', qq{
	CREATE EXTENSION wal2queue;
	CREATE ROLE app;
	CREATE SCHEMA app AUTHORIZATION app;
	SET ROLE app;
	CREATE DOMAIN app.email AS text CHECK (VALUE LIKE '%@%');
	CREATE TABLE app.accounts (id bigint PRIMARY KEY, email app.email);
	INSERT INTO app.accounts VALUES (1, 'a\@example.com');
	GRANT REFERENCES ON app.accounts TO PUBLIC;
	RESET ROLE;
	CREATE TABLE public.jobs (id bigint PRIMARY KEY, queue text NOT NULL, account_id bigint $fk);
	INSERT INTO public.jobs VALUES (1, 'q', 1), (2, 'q', 1);
	SELECT wal2queue.append_only('public.jobs');
	SELECT wal2queue.create_slot('s694', 'public.jobs');});
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs', force => true)});
note("prune: $out $err");
unlike($err, qr/is skipped/, 'prune() does not skip public.jobs');
is($out, '2', 'prune() deletes the rows of public.jobs');

$node->stop;
done_testing();
