# What: docs/migration.md step 5 followed literally for a table the
# application owns (the usual case: the application's role created
# job_queue through its migrations; here role app, LOGIN, no superuser).
# append_only() "as the table's owner" (app), then the rows from before it
# removed "once" with "SELECT wal2queue.prune('public.job_queue', force =>
# true); -- repeat until it returns 0" and the plain prune() "e.g. from
# cron; repeat until it returns 0", run by the operator (the superuser, or
# cron's role).  Both return 0 at once -- the guide's signal that they are
# done -- and delete nothing: prune() skips a table whose owner is no
# superuser unless the session is the owner's own (a WARNING, in cron's log
# only).  The guide's own check then shows the rows still there and
# explains it as "a row the slot has not confirmed yet stays: run it again a
# minute later", forever.  With a NOLOGIN owner (a common setup: an owner
# role, applications logging in as its members) no step of the guide can
# run it at all (544's WARNING).
# Why: docs/migration.md "5. Leave the table alone; prune it" never says
# that prune() acts only in a session of the table's owner (or on a
# superuser's table): sql/src/28_owner_session.sql owner_session(), in
# docs/extension.md only; test/t/032 and 555 run it on a superuser's table.
# Expected: following step 5 as written deletes the rows it says it
# deletes, or step 5 says where prune() must run (a session logged in as
# the owner, pg_cron's schedule_in_database(..., username)) and that 0 with
# that WARNING is not "done".
# Severity: low (docs; nothing is lost: the table never shrinks, and every
# row stays in a lost slot's duplicates window; the WARNING names the
# cause where someone reads it).
# Reliability: deterministic; fails every run on main at 362c68c.
# Control: W2Q_ATTACK_CONTROL=1 runs the same steps with the superuser
# owning the table (as 032 and 555 do): the forced prune() deletes the rows
# (passes).
# Fixed: docs/migration.md step 5 now says to run prune(), the forced and
# the plain call, in a session of the table's owner (the application's own
# cron with its login, or pg_cron's schedule_in_database(..., 'app')),
# that a call from another role returns 0 too, with a WARNING that the
# table is skipped, so a 0 is "done" only without it, and points to
# docs/extension.md for an owner that cannot log in (544).  This test
# follows the corrected text: the operator's call returns 0 with that
# WARNING and deletes nothing; the forced call in the owner's session,
# repeated until it returns 0 without a WARNING, deletes every row from
# before append_only(); a plain call then returns 0 without one.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('migr584');
$node->safe_psql('postgres', q{CREATE EXTENSION wal2queue;
	CREATE ROLE app LOGIN;
	GRANT CREATE ON SCHEMA public TO app;
	GRANT USAGE ON SCHEMA wal2queue TO app;});
my $create = q{CREATE TABLE job_queue (
    id         bigserial PRIMARY KEY,
    payload    jsonb NOT NULL,
    status     text NOT NULL DEFAULT 'pending',
    created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO job_queue (payload, status) SELECT '{}', 'completed' FROM generate_series(1, 90);
INSERT INTO job_queue (payload) SELECT '{}' FROM generate_series(1, 10);};
my $owner = $control ? '' : ' user=app';
sub as_owner
{
	my ($sql) = @_;
	my ($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('postgres') . $owner, '-c', $sql ]);
	die "as owner: $err" if $err =~ /ERROR/;
	return $out;
}
as_owner($create);
# step 1's slot (the bridge's backfill would deliver the 10 pending; the
# forced prune trusts the slot's catalog_xmin for rows older than it)
$node->safe_psql('postgres', q{SELECT wal2queue.create_slot('job_queue', 'public.job_queue')});
# step 5, as the table's owner
as_owner(q{SELECT wal2queue.append_only('public.job_queue')});
my $last = $node->safe_psql('postgres', 'SELECT max(id) FROM job_queue');
# the operator's (or cron's) call: a 0 with a WARNING is not "done"
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT wal2queue.prune('public.job_queue', force => true)});
note("the operator's forced prune: rc $rc: $out $err");
if ($control)
{
	unlike($err, qr/WARNING/, "the superuser's table: the superuser's call is the owner's");
}
else
{
	is($out, '0', "the operator's call returns 0");
	like($err, qr/WARNING:  wal2queue\.prune: table public\.job_queue is skipped: it is owned by role app, and this call runs as role postgres in a session of role postgres/,
		"with the WARNING step 5 shows: it did nothing");
	is($node->safe_psql('postgres', "SELECT count(*) FROM job_queue WHERE id <= $last"), '100', 'and nothing was deleted');
}
# step 5, the rows from before append_only(), in the owner's session:
# "repeat until it returns 0 without a WARNING"
my $total = $control ? $out : 0;
my $warned = '';
for my $i (1 .. 5)
{
	my ($o, $e) = run_command([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('postgres') . $owner, '-c', q{SELECT wal2queue.prune('public.job_queue', force => true)} ]);
	$o =~ s/\s+$//;
	note("the owner's forced prune: $o $e") if $i == 1;
	$warned .= $e if $e =~ /WARNING|ERROR/;
	last if $o eq '0' || $o eq '';
	$total += $o;
}
is($warned, '', "the owner's forced prune() runs without a WARNING");
is($node->safe_psql('postgres', "SELECT count(*) FROM job_queue WHERE id <= $last"), '0',
	"the guide's check: SELECT count(*) FROM job_queue WHERE id <= \$last_id_before_append_only; -- 0: done ($total deleted)");
# the plain call from cron, as the owner
my ($o, $e) = run_command([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
	'-d', $node->connstr('postgres') . $owner, '-c', q{SELECT wal2queue.prune('public.job_queue')} ]);
note("the owner's plain prune: $o $e");
unlike($e, qr/WARNING|ERROR/, "the owner's plain prune() runs without a WARNING");
$node->stop;
done_testing();
