# Attack review 11: a logical message with a huge key (or target) wedges
# the slot in the JSON form and ignores max-job-bytes in the binary form.
# w2q_message_job() (plugin/job.c) counts the key and target at their RAW
# length (size = JOB_OVERHEAD + strlen(target) + strlen(key)), and when the
# job is oversized w2q_claim_check() keeps job->key and job->target in the
# claim check: unlike a row (row_key_and_target(): "a key or route value
# that alone would take half the limit is left out"), nothing drops them.
# A member of wal2queue_sender calls wal2queue.send('t', 'p',
# repeat(chr(1), 180MB)): in the JSON form the claim check's key is escaped
# to 6 bytes a byte, over 1GB -- "out of memory: Cannot enlarge string
# buffer" at every attempt, the slot never gets past the message (issue 11
# item 3: "a defined outcome above it that never wedges ... Same for
# messages").  In the binary form with max-job-bytes 1kB the "claim check"
# is 360MB (the key twice); a key over ~520MB would wedge it too.  Smaller
# keys show the same: a 1MB key of control characters gives a 12MB JSON
# claim check under max-job-bytes 1MB (the key in the job and in the claim
# check's row, each escaped).
# Expected: a message whose key or target alone takes half of max-job-bytes
# leaves them out of its claim check (as rows do); both forms deliver the
# next job; every job is at most max-job-bytes (plus a claim check's fixed
# size).
# Severity: high (one send() by a sender role stalls every JSON-form
# consumer of the database forever; WAL piles up).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('msg_huge_key');
# the control: a short key (then every check passes)
my $key = $ENV{W2Q_ATTACK_CONTROL} ? "'k'" : 'repeat(chr(1), 180 * 1024 * 1024)';
$node->safe_psql('postgres', qq{
	CREATE EXTENSION wal2queue;
	SELECT 'x' FROM pg_create_logical_replication_slot('m', 'wal2queue');
	SELECT wal2queue.send('huge', 'p', $key) IS NOT NULL;
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
($rc, $out, $err) = $node->psql('postgres', q{
	SELECT max(length(data)) FROM pg_logical_slot_peek_binary_changes('m', NULL, NULL,
		'format', 'binary', 'max-job-bytes', '1kB')});
is($err, '', 'the binary form decodes past the message');
ok($out ne '' && $out <= 1024 + 4096, 'the binary form has no job over max-job-bytes (1kB)')
	or diag("largest binary job: $out bytes");
$node->stop;
done_testing();
