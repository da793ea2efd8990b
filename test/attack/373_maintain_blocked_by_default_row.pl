# Attack review 11: one row in the DEFAULT partition stops
# maintain_partitions() for good.  docs/extension.md: "a day that overlaps an
# existing partition is skipped, so hand-made partitions with other bounds
# and a DEFAULT partition are left alone".  But create_partitions()
# (sql/src/40_job_tables.sql) runs CREATE TABLE ... PARTITION OF for a day
# that a row of the DEFAULT partition belongs to (a job inserted with a
# created_at days ahead, e.g. a scheduled job or a skewed clock): PostgreSQL
# refuses ("updated partition constraint for default partition ... would be
# violated by some row") and the ERROR aborts maintain_partitions(): no day
# after it is created and no old partition is dropped, at every run, until
# someone moves the row.  (Without a DEFAULT partition such an INSERT fails
# instead, which is the application's to see.)
# Expected: the day is skipped (or reported 'kept'/with a WARNING naming the
# row's day and the DEFAULT partition) and the other days are created and
# the old partitions judged as usual.
# Severity: low (no job is lost; partitions stop rolling, rows pile into
# the DEFAULT partition).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('maintain_default');
# the control: the future row is due today, inside an existing partition
my $ahead = $ENV{W2Q_ATTACK_CONTROL} ? '0 days' : '5 days';
$node->safe_psql('postgres', qq{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs', true);
	CREATE TABLE jobs_default PARTITION OF jobs DEFAULT;
	INSERT INTO jobs (queue, payload, created_at) VALUES ('later', '{}', now() + interval '$ahead');
});
my ($rc, $out, $err) = $node->psql('postgres',
	"SELECT count(*) FROM wal2queue.maintain_partitions('public.jobs', 7) WHERE action = 'created'");
is($err, '', 'maintain_partitions() raises no error') or diag($err);
ok(($out // 0) >= 3, 'it created the days it could') or diag("created: $out");
$node->stop;
done_testing();
