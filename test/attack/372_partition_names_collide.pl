# Attack review 11: two partitioned job tables whose names share their first
# 53 bytes get the same partition names, so the second cannot get any.
# create_partitions() (sql/src/40_job_tables.sql) names a partition
# left(table, 53) || '_pYYYYMMDD' ("a table name is shortened to keep the
# partition name within 63 bytes", docs/extension.md): for
# <53 x 'q'>..._eu and <53 x 'q'>..._us the names are equal.  The second
# create_job_table(..., true) fails with "relation ... already exists" (and
# rolls back); if the second table was made another way (or the first
# table's days lie elsewhere), maintain_partitions() of one table fails on
# the other's partition names every day: no new partition, and inserts for
# the next day fail with "no partition of relation ... found for row".
# Expected: both tables get their partitions (a shortened name made unique,
# e.g. with a few characters of a hash of the full name, and the day).
# Severity: medium (an outage of inserts; needs long table names with a
# shared prefix, e.g. app_notifications_outbound_email_delivery_jobs_eu/_us).
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
$node->stop;
done_testing();
