# What: a row whose text form cannot be built (a jsonb of 8200 numbers
# 1e131071: 30kB stored, over 1GB as text; any role that may insert a job
# can write it) wedges the backfill for good.  The stream delivers such a
# row as a claim check (plugin/job.c guarded_output(), 366), and prune()
# and maintain_partitions() keep it (374, 382); the backfill reads every
# page as text (SELECT <columns> ... ORDER BY key LIMIT n), so the page
# holding it fails on the server at every attempt: the bridge exits 1
# ("could not read table public.jobs: ERROR:  out of memory DETAIL:  Cannot
# enlarge string buffer containing 1073627135 bytes by 131072 more
# bytes"), and so does every restart of the command line: no later row is
# backfilled and nothing is ever streamed, while the slot (kept: a page was
# delivered before) holds WAL back.  (As the first row of a backfill the
# run drops its slot and exits 1 the same way at every start.)
# Why: bridge/backfill_sql.c bf_page() selects each column as text and
# backfill_page.c bf_page_claim_checks() decides on the claim check only
# after the values arrived; nothing measures a value on the server first
# (octet_length(), pg_column_size(), a guarded conversion as job.c does)
# or falls back to one row at a time.
# Expected: the row is delivered as a claim check (as the stream would
# deliver it) and the backfill finishes: 3 entries, done recorded; a
# restart streams row 4.
# W2Q_ATTACK_CONTROL=1 writes the number 1 instead: passes.
# Severity: high (one row any job producer can write stops the migration
# and the whole queue: nothing is streamed after a backfill that never
# ends; each attempt also builds 1GB in a backend, 5-9 s here).
# Fixed: each page is read in a savepoint (backfill_oversize.c); a page
# the server cannot build (SQLSTATE 54000, or 53200 out of memory) is read
# again one row at a time, and the row that fails alone is read with its
# key (and route) columns only and delivered as a claim check of size
# 1073741823 (MaxAllocSize, "at least 1GB", as the plugin's guarded output
# says it); then pages go on.  Checked now too: the claim check's fields.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfhugerow');
my $r = start_redis();
my $num = $ENV{W2Q_ATTACK_CONTROL} ? '1' : '1e131071';
$node->safe_psql('postgres', qq{
	CREATE TABLE jobs (id int PRIMARY KEY, payload jsonb);
	INSERT INTO jobs VALUES (1, '{"n": 1}');
	INSERT INTO jobs SELECT 2, jsonb_agg('$num'::numeric) FROM generate_series(1, 8200);
	INSERT INTO jobs VALUES (3, '{"n": 3}');
});
my $b = start_bridge($node, $r, '--slot', 'bf_huge', '--create-slot', '--tables', 'public.jobs',
	'--backfill', '--backfill-batch', '1', '--max-job-bytes', '1MB', '--status-interval', '1');
ok(wait_until(sub { backfill_done($r, 'bf_huge') eq '1' || !$b->{h}->pumpable }, 60)
	  && backfill_done($r, 'bf_huge') eq '1', 'the backfill finished')
  or diag(join "\n", grep { /backfill|ERROR|WARNING/ } (split /\n/, bridge_log($b))[0 .. 10]);
is(redis($r, 'XLEN', 'public.jobs'), '3', 'three jobs, the big one as a claim check');
unless ($ENV{W2Q_ATTACK_CONTROL})
{
	my $cc = join ' ', map { join '=', $_->[1]{wal2queue_claim_check} // '', $_->[1]{key} // '', $_->[1]{size} // '' }
	  grep { $_->[1]{wal2queue_claim_check} } @{ stream_entries($r, 'public.jobs') };
	is($cc, 't=2=1073741823', 'row 2 is a claim check naming its key, size at least 1GB');
}
stop_bridge($b, 'KILL') if $b->{h}->pumpable;
# the same command line again, as a service manager restarts it
my $b2 = start_bridge($node, $r, '--slot', 'bf_huge', '--create-slot', '--tables', 'public.jobs',
	'--backfill', '--backfill-batch', '1', '--max-job-bytes', '1MB', '--status-interval', '1');
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (4, '{"n": 4}')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.jobs') eq '4' || !$b2->{h}->pumpable }, 60)
	  && redis($r, 'XLEN', 'public.jobs') eq '4', 'a restart delivers the rest and streams a new row')
  or diag(join "
", grep { /backfill|ERROR|WARNING/ } (split /\n/, bridge_log($b2))[0 .. 10]);
stop_bridge($b2, 'KILL') if $b2->{h}->pumpable;

# part 2: pages of 10, the row in the middle of one: the page is read again
# row by row, the rows around it whole
$node->safe_psql('postgres', qq{
	CREATE TABLE jobs2 (id int PRIMARY KEY, payload jsonb);
	INSERT INTO jobs2 SELECT g, '{"n": 1}' FROM generate_series(1, 5) g;
	UPDATE jobs2 SET payload = (SELECT jsonb_agg('$num'::numeric) FROM generate_series(1, 8200)) WHERE id = 3;
});
my $b3 = start_bridge($node, $r, '--slot', 'bf_huge2', '--create-slot', '--tables', 'public.jobs2',
	'--backfill', '--backfill-batch', '10', '--max-job-bytes', '1MB', '--status-interval', '1');
ok(wait_until(sub { backfill_done($r, 'bf_huge2') eq '1' || !$b3->{h}->pumpable }, 60)
	  && backfill_done($r, 'bf_huge2') eq '1', 'pages of 10: the backfill finished')
  or diag(join "\n", grep { /backfill|ERROR|WARNING/ } (split /\n/, bridge_log($b3))[0 .. 10]);
my @e = @{ stream_entries($r, 'public.jobs2') };
is(join(' ', map { $_->[1]{wal2queue_claim_check} ? "cc$_->[1]{key}" : $_->[1]{id} } @e),
	$ENV{W2Q_ATTACK_CONTROL} ? '1 2 3 4 5' : '1 2 cc3 4 5', 'pages of 10: rows 1, 2, 4, 5 whole, row 3 a claim check');
stop_bridge($b3, 'KILL') if $b3->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
