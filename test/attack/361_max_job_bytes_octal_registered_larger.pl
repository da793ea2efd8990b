# Attack review 11: --max-job-bytes 010000 is read as 4096 by the plugin and
# registered as 10000, so prune() deletes rows the plugin made claim checks
# of.  The plugin parses its option with the server's GUC integer parser
# (plugin/options.c parse_max_job_bytes: parse_int(), which calls
# strtol(value, &end, 0): a leading 0 is octal, 0x hexadecimal), while the
# bridge registers the same text through pg_size_bytes() (bridge/slot.c
# registry_call and stream_record_max_job_bytes), which reads it as decimal.
# The registry then holds a LARGER max_job_bytes than the slot is read with,
# and claim_check_floor() (sql/src/30_prune.sql, point 7) is computed for
# 10000 bytes: 567 here instead of 198.  A row whose key (also its route
# value) is 300 control characters is a claim check at 4096 (7 bytes of job
# a byte, over half the limit) with a text form of 349 bytes: pruned
# without force.  (0x1000 is the other way round: pg_size_bytes refuses it,
# register_slot() fails with a WARNING and the slot stays unregistered.)
# Expected: the bridge and the registry read the size as the plugin does
# (or the bridge refuses a size it cannot read the same way, exit 2), and
# a claim-checked row survives prune() without force.
# Severity: high (an undelivered job is deleted without force); the spelling
# is unusual but accepted silently.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('prune_cc_octal');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs');
});
my $size = $ENV{W2Q_ATTACK_CONTROL} ? '4096' : '010000';
my $b = start_bridge($node, $r, '--slot', 'jobs', '--create-slot', '--tables', 'public.jobs',
	'--route-column', 'queue', '--key-column', 'queue', '--max-job-bytes', $size,
	'--status-interval', '1');
ok(wait_until(sub { $node->safe_psql('postgres',
	"SELECT count(*) FROM wal2queue.slots WHERE slot_name = 'jobs'") eq '1' }, 30),
	'the bridge registered its slot') or diag(bridge_log($b));
diag('registered max_job_bytes: ' . $node->safe_psql('postgres',
	"SELECT max_job_bytes FROM wal2queue.slots WHERE slot_name = 'jobs'"));

$node->safe_psql('postgres', q{
	INSERT INTO jobs (queue, payload) VALUES (repeat(chr(1), 300), '{"n": 1}')});
$node->safe_psql('postgres', q{
	INSERT INTO jobs (queue, payload) VALUES ('small', '{"n": 2}')});
ok(wait_until(sub { redis($r, 'XLEN', 'small') eq '1' }, 30), 'the small job is delivered')
	or diag(bridge_log($b));
my $cc = 0;
for my $k (split /\n/, redis($r, 'KEYS', '*'))
{
	next if $k eq 'small' || $k =~ /^wal2queue/;
	for my $e (@{ stream_entries($r, $k) })
	{
		$cc++ if ($e->[1]{wal2queue_claim_check} // '') eq 't';
	}
}
is($cc, 1, 'the big-keyed row is a claim check: the plugin reads 010000 as 4096')
	or diag(redis($r, 'KEYS', '*'));
ok(wait_attested($node, 'jobs', 30), 'the bridge attests its slot');
diag('claim-check floor ' . $node->safe_psql('postgres',
	"SELECT wal2queue.claim_check_floor('public.jobs')") . ', the row\'s text form '
	. $node->safe_psql('postgres',
	"SELECT octet_length(ROW(j.*)::text) FROM jobs j WHERE queue <> 'small'"));

my $deleted = 0;
for my $i (1 .. 6)
{
	$node->safe_psql('postgres', 'CHECKPOINT');
	sleep 1;
	wait_attested($node, 'jobs', 10);
	$deleted += $node->safe_psql('postgres', "SELECT wal2queue.prune('public.jobs')");
	last if $node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE queue = 'small'") eq '0';
}
diag("prune deleted $deleted rows");
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE queue = 'small'"), '0',
	'the small row, delivered whole, is pruned (the control)');
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE queue <> 'small'"), '1',
	'the row behind the claim check is still there for its worker');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
