# Fixed (was test/attack, review 11): two partitioned job tables whose
# names share their first 53 bytes got the same partition names
# (left(table, 53) || '_pYYYYMMDD'), so the second create_job_table(...,
# true) failed with "relation ... already exists", and maintain_partitions()
# of a table made otherwise failed every day on the other's names (inserts
# then fail once the days run out).  Now create_partitions()
# (sql/src/40_job_tables.sql) cuts a name longer than 53 bytes to 44 and
# appends '_' and 8 hex digits of the md5 of the full table name: 63 bytes
# with the day, and the tables' names differ.  A name of 53 bytes or less is
# used whole, as before, and days are matched to existing partitions by
# their bounds, not their names: partitions made under the old names keep
# working (checked below with one named as the old code named it).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('partition_names');
$node->safe_psql('postgres', 'CREATE EXTENSION wal2queue');
my $prefix = 'q' x 53;
# the control: the two names differ within the first 53 bytes
my ($a, $b) = $ENV{W2Q_ATTACK_CONTROL}
  ? ('a' . substr($prefix, 1) . '_eu', 'b' . substr($prefix, 1) . '_us')
  : ("${prefix}_eu", "${prefix}_us");
$node->safe_psql('postgres', "SELECT wal2queue.create_job_table('public.$a', true)");
my ($rc, $out, $err) = $node->psql('postgres',
	"SELECT wal2queue.create_job_table('public.$b', true)");
is($err, '', 'the second job table is created') or diag($err);
is($node->safe_psql('postgres',
	"SELECT count(*) FROM wal2queue.partitions(to_regclass('public.$b'))"), '4',
	'the second job table has its four daily partitions');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM wal2queue.partitions('public.$a')"), '4',
	'the first keeps its four');
my $names = $node->safe_psql('postgres',
	"SELECT string_agg(p.partition::text, ' ') FROM wal2queue.partitions('public.$b') p");
note("partitions of the second table: $names");
is($node->safe_psql('postgres', qq{
	SELECT count(*) FROM (SELECT partition FROM wal2queue.partitions('public.$a')
	                      UNION SELECT partition FROM wal2queue.partitions('public.$b')) u
	 WHERE octet_length(u.partition::text) <= 63 + 7}), '8',
	'eight partitions of their own, each name within 63 bytes');
# a table whose partition of today was named as before (cut to 53 bytes):
# its other days are added beside it
my $c = "${prefix}_ap";
$node->safe_psql('postgres', qq{
	CREATE TABLE public.$c (id bigserial, queue text NOT NULL, payload jsonb NOT NULL,
	    created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (id, created_at))
	    PARTITION BY RANGE (created_at);
	CREATE TABLE public.${prefix}_p00000000 PARTITION OF public.$c
	    FOR VALUES FROM (date_trunc('day', now(), 'UTC')) TO (date_trunc('day', now(), 'UTC') + interval '1 day');
});
($rc, $out, $err) = $node->psql('postgres',
	"SELECT count(*) FROM wal2queue.maintain_partitions('public.$c') WHERE action = 'created'");
is($err, '', 'maintain_partitions() of a table with a partition under the old name raises no error');
is($out, '3', 'it creates the three days after it');
# a name of 53 bytes is used whole
my $d = 'd' x 53;
$node->safe_psql('postgres', "SELECT wal2queue.create_job_table('public.$d', true)");
is($node->safe_psql('postgres',
	"SELECT count(*) FROM wal2queue.partitions('public.$d') p WHERE p.partition::text ~ '^$d\\_p[0-9]{8}\$'"),
	'4', 'a name of 53 bytes keeps its form <table>_pYYYYMMDD');
$node->stop;
done_testing();
