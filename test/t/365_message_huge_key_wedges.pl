# Fixed: a logical message with a huge key (or target) wedged the slot in
# the JSON form and ignored max-job-bytes in the binary form.
# w2q_message_job() (plugin/job.c) counted the key and target at their raw
# length, and w2q_claim_check() kept job->key and job->target in the claim
# check: unlike a row (row_key_and_target(): "a key or route value that
# alone would take half the limit is left out"), nothing dropped them.
# wal2queue.send('t', 'p', repeat(chr(1), 180MB)): in the JSON form the
# claim check's key escaped to 6 bytes a byte, over 1GB, "Cannot enlarge
# string buffer" at every attempt; in the binary form with max-job-bytes
# 1kB the "claim check" was 360MB (the key twice).
# Now job.c message_key_and_target() applies the row's rule: key and target
# are counted as JSON strings, and when together they would take half of
# max-job-bytes the job is oversized and its claim check has no key and the
# default target "wal2queue" (plugin/FORMAT.md); a key or target whose
# stored length alone is over the limit is not even converted to UTF-8.
# Checked: both forms deliver the next job, no job over max-job-bytes (plus
# a claim check's fixed size), the claim check has key null and target
# wal2queue, for a key of 180MB (not converted) and one of 300kB (converted:
# 1.8MB as a JSON string).  W2Q_ATTACK_CONTROL=1: short keys (the messages
# are whole jobs, and every check passes but the claim checks').
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('msg_huge_key');
# the control: a short key (then every check passes)
my $key = $ENV{W2Q_ATTACK_CONTROL} ? "'k'" : 'repeat(chr(1), 180 * 1024 * 1024)';
my $key2 = $ENV{W2Q_ATTACK_CONTROL} ? "'k'" : 'repeat(chr(1), 300 * 1024)';
$node->safe_psql('postgres', qq{
	CREATE EXTENSION wal2queue;
	SELECT 'x' FROM pg_create_logical_replication_slot('m', 'wal2queue');
	SELECT wal2queue.send('huge', 'p', $key) IS NOT NULL;
	SELECT wal2queue.send('medium', 'p', $key2) IS NOT NULL;
	SELECT wal2queue.send('after', 'the next job') IS NOT NULL;
});
my ($rc, $out, $err) = $node->psql('postgres', q~
	SELECT count(*) FILTER (WHERE data LIKE '{"target":"after"%'), max(length(data))
	  FROM pg_logical_slot_peek_changes('m', NULL, NULL, 'format', 'json', 'max-job-bytes', '1MB')~);
is($err, '', 'the JSON form decodes past the message (no error)');
like($out, qr/^1\|/, 'the JSON form delivers the next job') or diag("out: $out");
my ($jmax) = $out =~ /\|(\d+)$/;
ok(defined $jmax && $jmax <= 1024 * 1024 + 4096, 'the JSON form has no job over max-job-bytes')
	or diag('largest JSON job: ' . ($jmax // 'none'));
$out = $node->safe_psql('postgres', q~
	SELECT string_agg(concat_ws('|', data::json->>'target', data::json->>'key',
	                            data::json->'row'->>'kind'), ',')
	  FROM pg_logical_slot_peek_changes('m', NULL, NULL, 'format', 'json', 'max-job-bytes', '1MB')
	 WHERE data::json->>'table' = 'wal2queue.claim_check'~);
is($out, 'wal2queue|message,wal2queue|message',
	'the claim checks leave out the huge keys and the targets');
($rc, $out, $err) = $node->psql('postgres', q{
	SELECT max(length(data)) FROM pg_logical_slot_peek_binary_changes('m', NULL, NULL,
		'format', 'binary', 'max-job-bytes', '1kB')});
is($err, '', 'the binary form decodes past the message');
ok($out ne '' && $out <= 1024 + 4096, 'the binary form has no job over max-job-bytes (1kB)')
	or diag("largest binary job: $out bytes");
$node->stop;
done_testing();
