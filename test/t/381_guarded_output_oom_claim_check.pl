# Attack review 12 (issue 11 fixes of this session): the walsender's guarded
# output turns "text over 1GB" into a claim check only when the output
# function fails with a size error; on a server with less memory to give
# than 1.5GB (vm.overcommit_memory = 2, as PostgreSQL's docs recommend, a
# ulimit, a small container) the same value fails with out_of_memory
# instead, which guarded_output() raises again: an ERROR at every attempt,
# the slot never moves (the wedge issue 11 item 3 / 366 closed, back).
# Why: plugin/job.c guarded_output() rolls back only
#   edata->sqlerrcode == ERRCODE_PROGRAM_LIMIT_EXCEEDED or
#   "invalid memory alloc request size";
# jsonpath_out's StringInfo doubles 512MB -> 1GB (repalloc: 1.5GB at once)
# before it would raise "Cannot enlarge string buffer", so with less address
# space or commit room than that the value raises ERRCODE_OUT_OF_MEMORY
# ("out of memory", "Failed on request of size 1073741823"), every time.
# Here the postmaster gets RLIMIT_AS 1.2GB (prlimit; inherited by every
# backend it forks, as a ulimit -v before pg_ctl start would be) and the
# value is 366's: a jsonpath of 8200 literals 1e131071 (28kB stored, text
# over 1GB).  Expected: as without the limit, the row is a claim check and
# the next job is delivered (the same value, the same outcome, whatever the
# memory).  W2Q_ATTACK_CONTROL=1 leaves the limit out: then it passes.
# Fixed: plugin/job.c output_too_large(): an out of memory counts as the
# size failure when the output function held at least 256MB beyond the
# value's detoasted size (here 512MB: the buffer before its doubling);
# plugin/FORMAT.md "Out of memory instead of the size error".
# Severity: high (the slot is wedged, WAL piles up, every later job of the
# database is held back), needs a role that can insert a jsonpath (or any
# extension-type value whose text passes 1GB) on a server that cannot
# allocate 1.5GB in one backend.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('guard_oom');
$node->safe_psql('postgres', q{
	CREATE TABLE paths (id int PRIMARY KEY, p jsonpath);
	CREATE TABLE jobs (id int PRIMARY KEY, note text);
	SELECT 'x' FROM pg_create_logical_replication_slot('w', 'wal2queue');
	INSERT INTO paths SELECT 1, ('$[' || string_agg('1e131071', ',') || ']')::jsonpath
	  FROM generate_series(1, 8200);
	INSERT INTO jobs VALUES (1, 'the next job');
});
unless ($ENV{W2Q_ATTACK_CONTROL})
{
	my $pid = slurp_file($node->data_dir . '/postmaster.pid');
	($pid) = $pid =~ /^(\d+)/;
	system('prlimit', '--pid', $pid, '--as=1200000000') == 0 or die "prlimit failed";
	diag("postmaster $pid: " . `prlimit --pid $pid --as --noheadings`);
}
my ($rc, $out, $err) = $node->psql('postgres', q~
	SELECT count(*) FILTER (WHERE data LIKE '%the next job%')
	  FROM pg_logical_slot_peek_changes('w', NULL, NULL, 'format', 'json')~);
is($err, '', 'decoding goes past the row (no error)');
is($out, '1', 'the next job is delivered');
($rc, $out, $err) = $node->psql('postgres', q~
	SELECT count(*) FROM pg_logical_slot_peek_changes('w', NULL, NULL, 'format', 'json')
	 WHERE data::json->>'table' = 'wal2queue.claim_check'~);
is($out, '1', 'the jsonpath row is a claim check') or diag($err);
($rc, $out, $err) = $node->psql('postgres', q~
	SELECT count(*) FROM pg_logical_slot_get_changes('w', NULL, NULL, 'format', 'json')~);
is($err, '', 'the slot moves on');
$node->stop;
done_testing();
