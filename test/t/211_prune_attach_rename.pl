# Fixed (was test/attack): prune() decides which slots should have delivered
# a row by matching the registered tables options against the table's
# CURRENT name (its partition root now), but a slot chose the row by the
# name the table had when the row was inserted.  After ALTER TABLE ...
# ATTACH PARTITION (or RENAME, or SET SCHEMA) rows move under another
# slot's pattern: prune() asks only that slot, which never saw them, and
# deletes rows the slot that selects them has not delivered (its bridge is
# stopped).  Expected: prune deletes none of them.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('pruneattach');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE jobs (id int, part int, PRIMARY KEY (id, part)) PARTITION BY LIST (part);
	CREATE TABLE jobs1 PARTITION OF jobs FOR VALUES IN (1);
	CREATE TABLE staging (id int, part int, PRIMARY KEY (id, part));
	CREATE TABLE inbox (id int PRIMARY KEY);
	SELECT wal2queue.append_only('jobs'), wal2queue.append_only('inbox');
	SELECT wal2queue.create_slot('a', 'public.jobs, public.orders');
	SELECT wal2queue.create_slot('b', 'public.staging, public.inbox');
});
# slot b's bridge is stopped: these 20 jobs wait for it
$node->safe_psql('postgres', q{
	INSERT INTO staging SELECT g, 2 FROM generate_series(1, 10) g;
	INSERT INTO inbox SELECT g FROM generate_series(1, 10) g;
});
# the tables are reorganised: staging becomes a partition of jobs, inbox is renamed
$node->safe_psql('postgres', q{
	ALTER TABLE jobs ATTACH PARTITION staging FOR VALUES IN (2);
	ALTER TABLE inbox RENAME TO orders;
});
# slot a's bridge runs and delivers what it selects
my $b = start_bridge($node, $r, '--slot', 'a', '--tables', 'public.jobs,public.orders',
	'--status-interval', '1', '--accept-new-source');
$node->safe_psql('postgres', 'INSERT INTO jobs VALUES (100, 1)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '1' }), 'slot a delivered its job');
my $deleted = 0;
for my $i (1 .. 6)
{
	$node->safe_psql('postgres', 'CHECKPOINT');
	sleep 1;
	$deleted += $node->safe_psql('postgres', q{SELECT wal2queue.prune('public.jobs') + wal2queue.prune('public.orders')});
}
is(redis($r, 'EXISTS', 'public.staging', 'public.inbox'), '0', 'slot a delivered none of slot b\'s 20 jobs');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_logical_slot_peek_changes('b', NULL, NULL, 'format', 'json', 'tables', 'public.staging,public.inbox')}),
	'20', 'slot b has its 20 jobs still to deliver');
is($node->safe_psql('postgres', 'SELECT count(*) FROM staging'), '10', 'prune kept the attached partition\'s undelivered rows');
is($node->safe_psql('postgres', 'SELECT count(*) FROM orders'), '10', 'prune kept the renamed table\'s undelivered rows');
note("prune deleted $deleted rows");
my ($ret, $out, $err) = $node->psql('postgres', q{SELECT wal2queue.prune('public.orders')});
like($err, qr/no bridge has attested replication slot "b" yet/, 'a NOTICE names the slot that holds prune back');

# slot b's bridge delivers its 20 jobs under the names it saw: then they go
my $bb = start_bridge($node, $r, '--slot', 'b', '--tables', 'public.staging,public.inbox',
	'--status-interval', '1', '--accept-new-source');
ok(wait_until(sub { redis($r, 'XLEN', 'public.staging') eq '10' && redis($r, 'XLEN', 'public.inbox') eq '10' }),
	'slot b delivered its 20 jobs under the old names');
ok(wait_until(sub {
	$node->safe_psql('postgres', 'CHECKPOINT');
	$node->safe_psql('postgres', q{SELECT wal2queue.prune('public.jobs'), wal2queue.prune('public.orders')});
	$node->safe_psql('postgres', q{SELECT count(*) FROM orders}) eq '0';
}), 'once slot b delivered them, prune deletes the renamed table\'s rows');
# the attached partition got the job table's append-only guard at ATTACH:
# its older rows count as undelivered (rule, point 6) until force
is($node->safe_psql('postgres', 'SELECT count(*) FROM staging'), '10',
	'the rows the attached partition had before ATTACH wait for force');
$node->safe_psql('postgres', q{SELECT wal2queue.prune('public.jobs', force => true)});
is($node->safe_psql('postgres', 'SELECT count(*) FROM staging'), '0', 'force deletes them');

# slot b stops again: it holds prune of public.jobs, which it does not select
stop_bridge($bb);
$node->safe_psql('postgres', 'INSERT INTO jobs VALUES (101, 1)');
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '2' }), 'slot a delivered its new job');
my $held = 0;
for my $i (1 .. 4)
{
	$node->safe_psql('postgres', 'CHECKPOINT');
	sleep 1;
	($ret, $out, $err) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs')});
	$held = 1 if $err =~ /replication slot "b" holds back prune of table public\.jobs, which it does not select/;
}
ok($held, 'a NOTICE names the stopped slot that holds back a table it does not select');
is($node->safe_psql('postgres', 'SELECT count(*) FROM jobs WHERE id = 101'), '1', 'the new job is kept while slot b is stopped');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
