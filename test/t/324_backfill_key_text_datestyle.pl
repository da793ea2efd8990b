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
my @cmd = backfill_cmd('sds', 'public.djobs');
my $b = backfill_stops_on($node, $r, 'dbad', 'the first run stops at page 2 (WRONGTYPE)', @cmd);
is(redis($r, 'HGET', 'wal2queue:progress:sds', 'backfill_rows'), '3', 'page 1 is recorded');
my $key = redis($r, 'HGET', 'wal2queue:progress:sds', 'backfill_key');
note("backfill_key $key");

# the setting changes before the resume
$node->safe_psql('postgres', q{ALTER DATABASE postgres SET datestyle = 'SQL, MDY'});
$b = start_bridge($node, $r, @cmd);
wait_backfill_done($r, $b, 'sds', 60);
sleep 1;
my $log = bridge_log($b);
stop_bridge($b);
my $done = backfill_done($r, 'sds');
my $n = redis($r, 'XLEN', 'dq') + redis($r, 'XLEN', 'dbad');
note("done=$done, rows delivered $n of 90");
ok($done ne '1' || $n == 90, 'every row once, or the resume refused') or diag($log);
is($key, '["2026-01-03"]', 'the position is printed in ISO whatever the database\'s DateStyle');

# A state of an older bridge (keydef without its "w2q2 " identity): its key
# was printed with the session's settings, and is read back with them until
# the backfill finishes.  Here an interval key printed under IntervalStyle
# sql_standard: "-1 28:00:00" is -1 day -28 hours there, +4 hours under the
# pinned postgres style (every row after it would be skipped).
$node->safe_psql('postgres', q{
	ALTER DATABASE postgres SET intervalstyle = 'sql_standard';
	CREATE TABLE ijobs (k interval PRIMARY KEY, queue text);
	INSERT INTO ijobs SELECT interval '-1 day' - g * interval '1 hour',
	  CASE WHEN g = 27 THEN 'ibad' ELSE 'iq' END FROM generate_series(0, 30) g;
});
@cmd = backfill_cmd('sis', 'public.ijobs');
backfill_stops_on($node, $r, 'ibad', 'interval key: the first run stops at page 2', @cmd);
my $keydef = redis($r, 'HGET', 'wal2queue:progress:sis', 'backfill_keydef');
like($keydef, qr/^w2q2 1:1186:0; k interval/, 'the keydef holds the key\'s identity, then its names');
# forge what an older bridge recorded: names only, the key as the session printed it
(my $names = $keydef) =~ s/^w2q2 [^;]*; //;
my $old = $node->safe_psql('postgres',
	q{SELECT max(k)::text FROM (SELECT k FROM ijobs ORDER BY k LIMIT 3) s});
is($old, '-1 28:00:00', 'sql_standard prints the third key so');
redis($r, 'HSET', 'wal2queue:progress:sis', 'backfill_keydef', $names, 'backfill_key', "[\"$old\"]");
$b = start_bridge($node, $r, @cmd);
wait_backfill_done($r, $b, 'sis', 60);
sleep 1;
$log = bridge_log($b);
stop_bridge($b);
is(backfill_done($r, 'sis'), '1', 'the older state\'s backfill finishes')
  or diag($log);
is(redis($r, 'XLEN', 'iq') + redis($r, 'XLEN', 'ibad'), 31, 'every row once');
like($log, qr/written by an older bridge/, 'the older state is read with the session\'s settings, and said so');
stop_redis($r);
$node->stop;
done_testing();
