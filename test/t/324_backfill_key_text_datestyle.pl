# The backfill's resume position (backfill_key) is the key's text as the
# backfill connection's session printed it (backfill_page.c,
# bf_page_key_texts: PQgetvalue), and the resume casts it back in its own
# session (keytypes[k], format_type).  The bridge sets no DateStyle (nor
# IntervalStyle, TimeZone, lc_monetary) on that connection: it inherits the
# server's, the database's or the role's.  A date key printed under
# DateStyle 'SQL, DMY' ("03/01/2026", 3 January) and read back after the
# setting changed to 'SQL, MDY' is 1 March: the resume goes on after the
# wrong row, and keydef (d024c20) does not notice (same column, type,
# collation).  Here rows 2026-01-04 .. 2026-03-01 (57 of 90) are never
# delivered, nothing is logged, and
# the backfill says done.  Expected: every row once (a position printed in
# a fixed format, e.g. DateStyle ISO on the backfill's connection), or a
# refusal.  The first run stops after page 1 because page 2 routes a row
# into a key of another type (as in test/t/280).
# Fixed: every backfill connection pins DateStyle ISO, IntervalStyle
# postgres, extra_float_digits 3 (backfill_sql.h, BF_PINNED_SETTINGS), the
# settings PostgreSQL's own logical replication pins on its walsenders.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfdatestyle');
my $r = start_redis();
$node->safe_psql('postgres', q{
	ALTER DATABASE postgres SET datestyle = 'SQL, DMY';
	CREATE TABLE djobs (d date PRIMARY KEY, queue text);
	INSERT INTO djobs SELECT date '2026-01-01' + g, CASE WHEN g = 3 THEN 'dbad' ELSE 'dq' END
	  FROM generate_series(0, 89) g;
});
my @cmd = ('--slot', 'sds', '--create-slot', '--backfill', '--backfill-batch', '3',
	'--tables', 'public.djobs', '--route-column', 'queue', '--status-interval', '1');
redis($r, 'SET', 'dbad', 'a string');
my $b = start_bridge($node, $r, @cmd);
ok(wait_until(sub { !$b->{h}->pumpable }, 30), 'the first run stops at page 2 (WRONGTYPE)');
$b->{h}->finish;
is(redis($r, 'HGET', 'wal2queue:progress:sds', 'backfill_rows'), '3', 'page 1 is recorded');
my $key = redis($r, 'HGET', 'wal2queue:progress:sds', 'backfill_key');
note("backfill_key $key");
redis($r, 'DEL', 'dbad');

# the setting changes before the resume
$node->safe_psql('postgres', q{ALTER DATABASE postgres SET datestyle = 'SQL, MDY'});
$b = start_bridge($node, $r, @cmd);
wait_until(sub { redis($r, 'HGET', 'wal2queue:progress:sds', 'backfill_done') eq '1'
	  || !$b->{h}->pumpable }, 60);
sleep 1;
my $log = bridge_log($b);
stop_bridge($b);
my $done = redis($r, 'HGET', 'wal2queue:progress:sds', 'backfill_done');
my $n = redis($r, 'XLEN', 'dq') + redis($r, 'XLEN', 'dbad');
note("done=$done, rows delivered $n of 90");
ok($done ne '1' || $n == 90, 'every row once, or the resume refused') or diag($log);
stop_redis($r);
$node->stop;
done_testing();
