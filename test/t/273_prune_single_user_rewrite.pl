# prune() deletes rows no slot delivered after a table rewrite made in
# single-user mode (postgres --single, the documented way out of an xid
# wraparound stop), with the event triggers installed and enabled ALWAYS.
# PostgreSQL does not fire event triggers in single-user mode, so
# wal2queue_guard_rewrite records nothing; guard_watch()
# (sql/src/25_append_only.sql) sees both event triggers enabled and so
# guard_floor() ignores the pg_class row that moved with the rewrite.  The
# rewrite gave every row its xid, above delivers_from; the slot decoded it
# (as no job) and confirmed past it.
# Expected: the 10 rows inserted before the slot stay.
#
# Fixed: as 272 -- the file the single-user rewrite made was recorded by no
# event trigger, so the guard state differs from the recorded one and
# prune() keeps every row of the table (NOTICE) until append_only().
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('singleuser');
my $r = start_redis();
jobs_before_slot($node);
$node->stop;
my ($out, $err) = ('', '');
IPC::Run::run([ 'postgres', '--single', '-D', $node->data_dir, 'postgres' ],
	'<', \"ALTER TABLE jobs ADD COLUMN shard float8 DEFAULT random();\n", '>', \$out, '2>', \$err);
unlike($out . $err, qr/ERROR/, 'the rewrite ran in single-user mode') or diag($out . $err);
$node->start;
is($node->safe_psql('postgres', q{SELECT count(*) FROM wal2queue.guard_events WHERE event LIKE 'rewrite%'}), '0',
	'no event trigger recorded it');

my $b = bridge_delivers_new_job($node, $r);
prune_keeps_undelivered($node);
my ($rc, $o, $e) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs')});
like($e, qr/NOTICE:  wal2queue\.prune: table public\.jobs changed since its append-only guard was recorded/,
	'prune says why it keeps the table');
like($e, qr/HINT:  Run SELECT wal2queue\.append_only\('public\.jobs'\)/, 'and names the way out');
# the way out: append_only() records the guard again; rows before it stay
$node->safe_psql('postgres', q{SELECT wal2queue.append_only('public.jobs')});
$node->safe_psql('postgres', q{INSERT INTO jobs (queue, payload) VALUES ('q', '{"after": true}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '2' }), 'the slot delivers the job inserted after it');
my $deleted = prune_until($node, 1, tries => 10);
is($deleted, 1, 'after append_only() prune deletes the delivered job written since');
is($node->safe_psql('postgres', q{SELECT count(*) FROM jobs WHERE payload ? 'n'}), '10',
	'and still keeps the 10 jobs no slot delivered');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
