# prune() deletes rows no slot delivered when the append-only guard no
# longer refuses every UPDATE: guard_floor() (sql/src/25_append_only.sql)
# recognises the guard by its name, its function, tgenabled = 'A' only, not
# by what it fires on.  The owner lets one column be updated:
#   CREATE OR REPLACE TRIGGER wal2queue_append_only BEFORE UPDATE OF queue ...
#   SELECT wal2queue.append_only('public.jobs');   -- enabled ALWAYS again
# (append_only() keeps a trigger of that name as it is); a later UPDATE of
# payload passes the "guard", the rows get xids above the guard floor, and
# prune() takes them for delivered.  Expected: the 10 rows inserted before
# the slot stay (or prune refuses the table: "not append-only").
#
# Fixed: only a COMPLETE guard counts (guard_triggers(): BEFORE, FOR EACH
# ROW, UPDATE of every column, no WHEN, refuse_update(), enabled ALWAYS):
# with the narrowed one prune() refuses the table ("not append-only"), and
# append_only() replaces a trigger of that name that is not complete, so
# the UPDATE of payload is refused again and the rows updated before count
# as undelivered.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('guardnarrow');
my $r = start_redis();
jobs_before_slot($node);
$node->safe_psql('postgres', q{
	CREATE OR REPLACE TRIGGER wal2queue_append_only BEFORE UPDATE OF queue ON jobs
		FOR EACH ROW EXECUTE FUNCTION wal2queue.refuse_update();
	ALTER TABLE jobs ENABLE ALWAYS TRIGGER wal2queue_append_only;
});
my ($ret, $out, $err) = $node->psql('postgres', q{UPDATE jobs SET queue = 'other'});
like($err, qr/is append-only/, 'the narrowed guard still refuses some updates');
($ret, $out, $err) = $node->psql('postgres', q{UPDATE jobs SET payload = payload || '{"attempt": 2}'});
is($ret, 0, 'but an UPDATE of payload passes');
($ret, $out, $err) = $node->psql('postgres', q{SELECT wal2queue.prune('public.jobs')});
like($err, qr/table public\.jobs is not append-only/, 'prune refuses the table while its guard is narrowed');
$node->safe_psql('postgres', q{SELECT wal2queue.append_only('public.jobs')});
($ret, $out, $err) = $node->psql('postgres', q{UPDATE jobs SET payload = payload || '{"attempt": 3}'});
like($err, qr/is append-only/, 'append_only() replaced the narrowed guard: an UPDATE of payload is refused');

my $b = bridge_delivers_new_job($node, $r);
prune_keeps_undelivered($node, lenient => 1);
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
