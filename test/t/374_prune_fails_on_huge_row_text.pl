# Attack review 11, fixed: one claim-checked row whose text form passes 1GB makes
# every prune() of its table fail.  prune() (sql/src/30_prune.sql) filters
# candidate rows with pg_catalog.octet_length(ROW(t.*)::text) < floor: it
# builds the row's text form to measure it.  A row of one text value of
# 600MB of '"' (a claim check for the plugin, which never converts it:
# textbound) has a 1.2GB text form (record_out doubles each quote): the
# DELETE fails with "out of memory" / "invalid memory alloc request size",
# the whole prune() call rolls back -- the rows of every partition, every
# other row of the table -- at every run, until the claim check's worker
# deletes that row.  maintain_partitions() fails the same way.
# Fixed: prune() measures a row with small_enough() (sql/src/30_prune.sql):
# a row with a text, varchar, char or bytea column whose stored length alone
# (octet_length(), no detoasting) reaches the claim-check floor is kept
# without building its text (a CASE makes sure the text is built only
# after); delete_delivered() catches an error of a row whose text still
# cannot be built (out of memory, over 1GB) and then takes the rows one at
# a time, keeping those it cannot measure (the row 'arr': a text[] of one
# such value).  maintain_partitions() uses small_enough() too.
# Severity: medium (prune of a table blocked while such a row exists; no
# job lost).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('prune_huge_text');
my $r = start_redis();
# the control: the same row at 6MB
my $mb = $ENV{W2Q_ATTACK_CONTROL} ? 6 : 600;
append_only_jobs($node, 'note text, notes text[]');
my $b = start_jobs_bridge($node, $r);
$node->safe_psql('postgres', qq{
	INSERT INTO jobs (queue, note) VALUES ('big', repeat('"', $mb * 1024 * 1024));
	INSERT INTO jobs (queue, notes) VALUES ('arr', ARRAY[repeat('"', $mb * 1024 * 1024)]);
	INSERT INTO jobs (queue) VALUES ('small');
});
delivered_once($r, $b, [qw(big arr small)], 'all three delivered', 120);
my ($deleted, $err) = (0, '');
for my $i (1 .. 8)
{
	$node->safe_psql('postgres', 'CHECKPOINT');
	sleep 1;
	wait_attested($node, 'jobs', 10);
	my ($rc, $out);
	($rc, $out, $err) = $node->psql('postgres', "SELECT wal2queue.prune('public.jobs')");
	$deleted += $out if $rc == 0 && $out ne '';
	last if $rc != 0
	  || $node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE queue = 'small'") eq '0';
}
unlike($err, qr/ERROR/, 'prune() raises no error');
like($err, qr/NOTICE:  wal2queue.prune: could not measure a row of table public.jobs/,
	'it says it kept a row it could not measure') unless $ENV{W2Q_ATTACK_CONTROL};
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE queue = 'small'"), '0',
	'the small delivered row is pruned');
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE queue = 'big'"), '1',
	'the claim-checked row is kept');
# an array is not measured by its stored length: building its text (the
# quotes escaped by the array, then doubled by the row: 2.4GB) fails, and
# prune() then takes the rows one at a time, keeping it
is($node->safe_psql('postgres', "SELECT count(*) FROM jobs WHERE queue = 'arr'"), '1',
	'the claim-checked row whose text cannot be built is kept');
stop_bridge($b);
stop_redis($r);
$node->stop;
done_testing();
