# ATTACK (fails on main), two Redis entry-shape defects:
# 1. a --route-column value '' writes the stream "" (issue 11 item 5: an
#    empty target follows one documented rule -- the default target or a
#    stop naming table, key and LSN; docs/redis.md says nothing);
# 2. a table column named _lsn or _seq yields a second _lsn/_seq field in
#    the entry, so a consumer reading fields as a map (every client library)
#    gets the column's value as the job's LSN: the dedupe identity
#    (_lsn, _seq) documented in docs/redis.md can be forged by row data.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('fields');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TABLE rt (id int PRIMARY KEY, q text);
	CREATE TABLE odd (id int PRIMARY KEY, _lsn text, _seq text);
	SELECT pg_create_logical_replication_slot('rs', 'wal2queue');
	SELECT pg_create_logical_replication_slot('od', 'wal2queue');
	INSERT INTO rt VALUES (1, '');
	INSERT INTO odd VALUES (1, 'FF/FFFFFFFF', '99');
});
my $b1 = start_bridge($node, $r, '--slot', 'rs', '--tables', 'public.rt', '--route-column', 'q',
	'--accept-new-source');
my $b2 = start_bridge($node, $r, '--slot', 'od', '--tables', 'public.odd', '--accept-new-source');
sleep 4;
is(redis($r, 'EXISTS', ''), '0', 'no stream with the empty name ""');
my $x = redis_json($r, 'XRANGE', 'public.odd', '-', '+') // [];
my @fields = $x->[0] ? @{ $x->[0][1] } : ();
my @names = @fields[ grep { $_ % 2 == 0 } 0 .. $#fields ];
diag("entry fields: @names");
is(scalar(grep { $_ eq '_lsn' } @names), 1, 'exactly one _lsn field per entry');
stop_bridge($b1) if $b1->{h}->pumpable;
stop_bridge($b2) if $b2->{h}->pumpable;
stop_redis($r);
$node->stop;
done_testing();
