# Regression (issue 11 item 3, adversarial review 212): one huge jsonb value
# wedged the slot.  plugin/job.c bounded a value before calling its output
# function only for text-like types and json; jsonb_out of a 180 MiB string
# of control characters (~1 GiB of \u0001 escapes) failed with "Cannot
# enlarge string buffer" at every attempt and no later job was decoded.  Now
# plugin/textbound.c bounds the text of every type from its stored form.
# Expected: a claim check, and the next job, decoded by a backend limited to
# 1.5 GiB of address space, in a few seconds.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('jsonbwedge');
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, payload jsonb NOT NULL);
	SELECT 'x' FROM pg_create_logical_replication_slot('jb', 'wal2queue');
	INSERT INTO jobs VALUES (1, to_jsonb(repeat(chr(1), 180 * 1024 * 1024)));
	INSERT INTO jobs VALUES (2, '{"next": true}');
});
# decode in a backend limited to 1.5 GiB of address space (new backends
# inherit the postmaster's limits): the claim check must not need the text
my ($postmaster) = split /\n/, slurp_file($node->data_dir . '/postmaster.pid');
system('prlimit', '--pid', $postmaster, '--as=' . (1536 * 1024 * 1024)) == 0
  or diag('prlimit failed: the decoding backend runs without a memory limit');
my ($ret, $out, $err) = $node->psql('postgres',
	q{SELECT string_agg(coalesce(data::json->'row'->>'id', 'claim-check:' || (data::json->'row'->>'key')), ',')
	    FROM pg_logical_slot_get_changes('jb', NULL, NULL, 'format', 'json', 'tables', 'public.jobs')});
is($ret, 0, 'decoding the huge jsonb row does not fail') or diag($err);
is($out, 'claim-check:1,2', 'the huge row is a claim check and the next job follows');
$node->stop;
done_testing();
