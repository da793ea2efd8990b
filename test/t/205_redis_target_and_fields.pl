# Two Redis entry shapes the sink refuses (found by the attack review):
# 1. a --route-column value '' would write the stream "": like NULL, it
#    leaves the default target, the table's name (issue 11 item 5: one
#    documented rule, never a loop);
# 2. a column named _lsn or _seq would give an entry a second _lsn/_seq
#    field, so row data could forge the job's identity (_lsn, _seq): the
#    bridge stops naming the table and the column rule.
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
ok(wait_until(sub { redis($r, 'XLEN', 'public.rt') eq '1' }, 30), "empty route value: the job goes to the table's stream");
ok($b1->{h}->pumpable, 'empty route value: the bridge keeps running');
ok(wait_until(sub { !$b2->{h}->pumpable }, 30), '_lsn column: the bridge stops');
$b2->{h}->finish;
is($b2->{h}->full_result(0) >> 8, 1, '_lsn column: exit 1');
like(bridge_log($b2), qr/of table public\.odd \(key "1"\) committed at [0-9A-F]+\/[0-9A-F]+ to Redis: a column named _lsn or _seq would shadow/,
	'_lsn column: the error names the table, key, LSN and the rule');
is(redis($r, 'EXISTS', ''), '0', 'no stream with the empty name ""');
is(redis($r, 'EXISTS', 'public.odd'), '0', 'no entry with a forged _lsn');
stop_redis($r);
$node->stop;
done_testing();
