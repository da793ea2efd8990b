# Attack review 11: a --backfill condition that is not valid SQL (or names
# a column the table lacks) creates and registers the slot, then exits 1
# and leaves the slot.  The bridge takes the condition as text
# (bridge/main.c) and first runs it in the backfill's page query
# ("SELECT ... FROM ONLY t WHERE true AND (<condition>) ..."), after
# CREATE_REPLICATION_SLOT and register_slot().  The slot then holds WAL, and
# as a registered slot no bridge attested it holds back prune() of every
# job table of the database (a NOTICE) until someone runs the bridge again
# or drops and unregisters it.  A typo ('id >') is an operator's mistake on
# the command line: the rule is exit 2 with a hint and nothing created.
# Expected: exit 2 naming --backfill and the server's error (the condition
# checked before anything is created, e.g. by preparing
# "SELECT 1 FROM ONLY t WHERE (<condition>) LIMIT 0" for each selected
# table), no slot created.
# Severity: low (recoverable: the next run with a good condition resumes).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('cli_bad_backfill');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs');
	INSERT INTO jobs (queue, payload) VALUES ('q', '{}');
});
my @conds = $ENV{W2Q_ATTACK_CONTROL} ? () : ('id >', 'no_such_column = 1');
for my $cond (@conds)
{
	my ($code, $out) = run_bridge('-d', $node->connstr('postgres'),
		'--sink', "redis://127.0.0.1:$r->{port}", '--slot', 'bf', '--create-slot',
		'--tables', 'public.jobs', '--backfill', $cond);
	is($code, 2, "--backfill '$cond': exit 2 (usage)") or diag($out);
	is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0',
		"--backfill '$cond': no slot was created");
	$node->safe_psql('postgres', q{
		SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active;
		SELECT wal2queue.unregister_slot('bf')});
	redis($r, 'FLUSHALL');
}
pass('the control: no bad condition tried') if $ENV{W2Q_ATTACK_CONTROL};
stop_redis($r);
$node->stop;
done_testing();
