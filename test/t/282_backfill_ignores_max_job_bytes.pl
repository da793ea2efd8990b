# Attack 282: the backfill ignores --max-job-bytes, so a row that the
# stream turns into a claim check is backfilled whole, and a row larger
# than what Redis takes in one argument (proto-max-bulk-len) stops the
# backfill for good.  docs/operations.md promises backfilled
# rows "like streamed rows" and plugin/FORMAT.md "shaped exactly like
# streamed rows"; the plugin replaces a job over max-job-bytes by its claim
# check (plugin/job.c), the bridge's backfill builds every row whole
# (backfill_page.c:bf_page_build(), rowjob_build()) and
# --backfill-page-bytes cuts only between rows (bf_page_cut(): "a larger
# row alone").  Here Redis takes arguments up to 1MB (proto-max-bulk-len,
# its minimum) and the bridge runs with --max-job-bytes=512kB: a 2MB row
# inserted after a slot comes as a claim check; the same row already in
# the table makes the backfill stop with "Redis FCALL failed: ERR Protocol
# error: invalid bulk length" (naming neither the table nor the row), at
# every restart of the same command line: the backfill can never finish
# and the slot holds WAL from its consistent point on.
# Expected: the backfilled 2MB row is a claim check too, as streamed.
#
# Fixed: the backfill makes the plugin's claim check of a row whose text
# is over --max-job-bytes (default 64MB; backfill_page.c:
# bf_page_claim_checks()), and a sink error names the table and the keys.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfwide');
my $r = start_redis(args => [ '--proto-max-bulk-len', '1mb' ]);
is(redis($r, 'CONFIG', 'GET', 'proto-max-bulk-len'), "proto-max-bulk-len\n1048576", 'Redis takes arguments up to 1MB');
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, body text);
	ALTER TABLE jobs ALTER COLUMN body SET STORAGE EXTERNAL;
	INSERT INTO jobs VALUES (1, 'small'), (2, repeat('x', 2 * 1024 * 1024)), (3, 'small too');
});
my @cmd = ('--slot', 's', '--create-slot', '--backfill', '--tables', 'public.jobs',
	'--max-job-bytes', '512kB', '--backfill-page-bytes', '64kB', '--status-interval', '1');
my $br = start_bridge($node, $r, @cmd);
my $done = wait_backfill_done($r, $br, 's', 40);
ok($done, 'the backfill of a table holding a 2MB row finishes') or diag(substr(bridge_log($br), -3000));
my @e = @{ stream_entries($r, 'public.jobs') };
note('backfilled entries: ' . join(', ', map { ($_->[1]{id} // "claim check($_->[1]{key})") } @e));
my ($cc) = grep { ($_->[1]{wal2queue_claim_check} // '') eq 't' } @e;
ok($cc, 'the 2MB row is backfilled as a claim check, as the stream delivers it');

stop_bridge($br);

# the same command line again (a service manager) fails the same way
$br = start_bridge($node, $r, @cmd);
wait_backfill_done($r, $br, 's', 40);
is(backfill_done($r, 's'), '1', 'a restart finishes it')
  or diag(substr(bridge_log($br), -1500));
stop_bridge($br);

# a row under --max-job-bytes but over what Redis takes: the error names the table and key
$br = start_bridge($node, $r, '--slot', 'w', '--create-slot', '--backfill', '--tables', 'public.jobs',
	'--max-job-bytes', '4MB', '--backfill-page-bytes', '64kB', '--target-prefix', 'w:', '--status-interval', '1');
ok(wait_until(sub { bridge_log($br) =~ /could not deliver the backfill/ }, 30), 'a row Redis refuses stops the page');
like(bridge_log($br), qr/could not deliver the backfill of table public\.jobs, 1 rows from key \["2"\] to \["2"\]: /,
	'the error names the table and the key');
stop_bridge($br);

# the stream, for comparison: the same row inserted after a slot is a claim check
$br = start_bridge($node, $r, '--slot', 'st', '--create-slot', '--tables', 'public.jobs',
	'--max-job-bytes', '512kB', '--target-prefix', 'st:', '--status-interval', '1');
ok(wait_until(sub { bridge_log($br) =~ /streaming slot/ }, 30), 'a plain slot streams');
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (4, repeat('y', 2 * 1024 * 1024))});
ok(wait_until(sub { scalar(@{ stream_entries($r, 'st:public.jobs') }) >= 1 }, 30), 'the streamed 2MB row arrives');
my $last = stream_entries($r, 'st:public.jobs')->[-1];
is($last->[1]{wal2queue_claim_check}, 't', 'streamed: a claim check');
stop_bridge($br);
stop_redis($r);
$node->stop;
done_testing();
