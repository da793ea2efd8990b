# Fixed (was test/attack, review 11): one row in the DEFAULT partition
# stopped maintain_partitions() for good.  A job inserted with a created_at
# days ahead (a scheduled job, a skewed clock) lands in the DEFAULT
# partition; create_partitions() then ran CREATE TABLE ... PARTITION OF for
# that day, PostgreSQL refused it ("updated partition constraint for default
# partition ... would be violated by some row") and the ERROR aborted
# maintain_partitions() at every run: no day after it created, no old
# partition dropped.  Now create_partitions() (sql/src/40_job_tables.sql)
# asks wal2queue.default_holds_day() before each day: a day the DEFAULT
# partition holds rows of is skipped with a WARNING naming the DEFAULT
# partition, the rows' range and how to move them; the other days are
# created and the old partitions judged as usual.
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
unlike($err, qr/ERROR/, 'maintain_partitions() raises no error') or diag($err);
like($err, qr/WARNING:  wal2queue\.create_partitions: the DEFAULT partition public\.jobs_default holds rows of table public\.jobs with created_at from \d{4}-\d\d-\d\d 00:00:00\+00 to \d{4}-\d\d-\d\d 00:00:00\+00, so no partition was created for that day/,
	'a WARNING names the DEFAULT partition and the day it skipped') unless $ENV{W2Q_ATTACK_CONTROL};
like($err, qr/HINT:  To give the day its partition, move those rows/, 'and says how to move the rows')
	unless $ENV{W2Q_ATTACK_CONTROL};
my $in_default = $ENV{W2Q_ATTACK_CONTROL} ? '0' : '1';
is($node->safe_psql('postgres', q{SELECT count(*) FROM jobs_default}), $in_default, 'the row stays in the DEFAULT partition');
# the day after the row's can take a job: its partition was created
$node->safe_psql('postgres', q{INSERT INTO jobs (queue, payload, created_at) VALUES ('x', '{}', now() + interval '6 days')});
is($node->safe_psql('postgres', q{SELECT count(*) FROM jobs_default}), $in_default, 'a job of a later day goes to its partition');
ok(($out // 0) >= 3, 'it created the days it could') or diag("created: $out");
$node->stop;
done_testing();
