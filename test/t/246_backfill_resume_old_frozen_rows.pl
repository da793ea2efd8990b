# Fixed (attack review 246): a resumed backfill skipped every row inserted more than 2^31
# transactions before the backfill began (frozen rows of an old table).  The
# resume keeps the rows whose xmin the saved snapshot sees, taking xmin as
# "the full xid nearest the saved snapshot's xmax" (backfill_sql.c:bf_page(),
# within 2^31 either side).  A frozen row keeps its raw xmin (PostgreSQL 15
# shows it in the xmin column), so a row older than 2^31 xids -- some 25 days
# of a server running 1000 transactions a second -- is taken for a future
# xid, is invisible in the saved snapshot and is skipped; the backfill says
# done.  The first run (exported snapshot) reads it; only a resume loses it.
# Here: 9 rows inserted and frozen, the server's next xid moved past 2^31 by
# pg_resetwal -x (as an old busy server), the first run stops after page 1
# (page 2 routes a row into a key of another type), the same command line
# resumes.  Expected: 9 rows delivered, and a row inserted between the runs
# delivered once (by the slot, not also by the resume).  Fix (bf_page()): a row is invisible
# to the saved snapshot only if its xmin is in the saved xip or in [saved
# xmax, the resume's next xid) modulo 2^32; a frozen xmin is always visible;
# any other xmin is older than the snapshot.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bffrozen', conf => "autovacuum = off\n");
my $r = start_redis();
backfill_jobs_table($node);
# the server's next xid moved forward (pg_resetwal -x, at a clog segment
# boundary), everything frozen as rows this old are, twice: the catalogs'
# datfrozenxid must stay within 2^31 of the next xid
sub freeze_all
{
	$node->safe_psql('postgres', 'ALTER DATABASE template0 ALLOW_CONNECTIONS true');
	$node->safe_psql($_, 'VACUUM (FREEZE)') for ('template0', 'template1');
	$node->safe_psql('postgres', 'ALTER DATABASE template0 ALLOW_CONNECTIONS false');
	$node->safe_psql('postgres', 'VACUUM (FREEZE)');
}
sub jump
{
	my ($next) = @_;
	$node->stop;
	command_ok([ 'pg_resetwal', '-x', $next, $node->data_dir ], "pg_resetwal -x $next");
	my $seg = sprintf('%s/pg_xact/%04X', $node->data_dir, int($next / 1048576));
	open(my $fh, '>', $seg) or die "$seg: $!";
	binmode $fh;
	print $fh "\0" x 262144;
	close $fh;
	$node->start;
}
my $rowxmin = $node->safe_psql('postgres', 'SELECT min(xmin::text::bigint) FROM jobs');
freeze_all();
jump(8 * 2**20);
freeze_all();
jump(2**31 + 2**21);
my $xid = $node->safe_psql('postgres', 'SELECT pg_current_xact_id()');
ok($xid - $rowxmin > 2**31, "the rows (xmin $rowxmin) are older than 2^31 xids (now $xid)");
is($node->safe_psql('postgres', 'SELECT count(*) FROM jobs'), '9', 'and visible');

my @cmd = backfill_cmd('s', 'public.jobs');
my $b = backfill_stops_on($node, $r, 'bad', 'the first run stops at page 2', @cmd);
is(redis($r, 'HGET', 'wal2queue:progress:s', 'backfill_rows'), '3', 'page 1 is recorded')
  or diag(bridge_log($b));
# a row committed after the saved snapshot (xmin in [saved xmax, next xid)):
# the slot streams it, the resume must not backfill it too
$node->safe_psql('postgres', q{INSERT INTO jobs VALUES (10, 'q')});
$b = start_bridge($node, $r, @cmd);
ok(wait_until(sub { backfill_done($r, 's') eq '1' || !$b->{h}->pumpable }, 30),
	'the resume ends');
ok(wait_until(sub { redis($r, 'XLEN', 'q') + redis($r, 'XLEN', 'bad') >= 10 }, 30), 'the new row streamed');
sleep 2;
my $got = redis($r, 'XLEN', 'q') + redis($r, 'XLEN', 'bad');
is($got, 10, 'every row of the table delivered, the one after the snapshot once') or diag(bridge_log($b));
stop_bridge($b) if $b->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
