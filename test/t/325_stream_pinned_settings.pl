# A streamed row and a backfilled one print their values alike, whatever
# the database's settings.  The backfill pins DateStyle ISO, IntervalStyle
# postgres and extra_float_digits 3 on its connections (324); the stream
# used the walsender's, which come from the database and the role: in a
# database with DateStyle 'SQL, DMY' a backfilled date was "2026-01-03" and
# a streamed one "03/01/2026".  Fixed: the bridge runs the same SETs on its
# replication connection before START_REPLICATION (stream.c pin_settings),
# in both plugin modes.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('streampin');
my $r = start_redis();
$node->safe_psql('postgres', q{
	ALTER DATABASE postgres SET datestyle = 'SQL, DMY';
	ALTER DATABASE postgres SET intervalstyle = 'sql_standard';
	CREATE TABLE pjobs (id int PRIMARY KEY, d date, i interval);
	INSERT INTO pjobs VALUES (1, date '2026-01-03', interval '1 day 2 hours');
});
my $b = start_bridge($node, $r, '--slot', 'spin', '--create-slot', '--backfill',
	'--tables', 'public.pjobs', '--status-interval', '1');
ok(wait_until(sub { redis($r, 'XLEN', 'public.pjobs') eq '1' }, 30), 'the row is backfilled')
	or diag(bridge_log($b));
$node->safe_psql('postgres', q{INSERT INTO pjobs VALUES (2, date '2026-01-03', interval '1 day 2 hours')});
ok(wait_until(sub { redis($r, 'XLEN', 'public.pjobs') eq '2' }, 30), 'the new row is streamed')
	or diag(bridge_log($b));
my $e = stream_entries($r, 'public.pjobs');
is($e->[0][1]{d}, '2026-01-03', 'the backfilled date is ISO');
is($e->[1][1]{d}, $e->[0][1]{d}, 'the streamed date is printed the same way');
is($e->[1][1]{i}, $e->[0][1]{i}, 'and the interval');
is($e->[1][1]{i}, '1 day 02:00:00', 'IntervalStyle postgres');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
