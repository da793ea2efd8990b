# What: create_partitions() names tomorrow's partitions in advance
# (<table>_pYYYYMMDD in the table's schema) and creates each with CREATE
# TABLE ... PARTITION OF under that name.  Any role that may CREATE in the
# schema (PUBLIC in a database upgraded from PostgreSQL 14 or older: the
# class 376 warns about) creates a plain table of that name first, e.g.
# public.jobs_p<today + 6>.  Every create_partitions() and
# maintain_partitions() from then on fails ("relation ... already
# exists"): no later day is created and no old partition dropped, and once
# the days already created run out every INSERT into the job table fails
# ("no partition of relation "jobs" found for row").
# Why: sql/src/40_job_tables.sql create_partitions(): "part :=
# format('%I.%I', nsp, base || '_p' || to_char(...)); EXECUTE
# format('CREATE TABLE %s PARTITION OF %s ...', part, ...)" -- a name taken
# by an unrelated relation is neither checked nor avoided, and the error
# aborts the whole call (and maintain_partitions() with it).
# Expected: a taken name does not stop the others: another name for that
# day (a suffix) or a WARNING naming the squatter, and the remaining days
# are created.  Here (GRANT CREATE ON SCHEMA public TO PUBLIC models the
# upgraded database): maintain_partitions(jobs, 7, 30) succeeds and the
# partition for today + 7 exists.
# W2Q_ATTACK_CONTROL=1 does not create the squatting table: passes.
# Fixed: create_partitions() creates the day under another name
# (<table>_pYYYYMMDD_<8 random hex digits>) with a WARNING naming the
# relation that holds the name.
# Severity: medium (a LOGIN role with CREATE on the schema stops the job
# table's inserts a few days later; loud every day, but the fix is manual).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('partsquat');
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	SELECT wal2queue.create_job_table('public.jobs', true);
	CREATE ROLE mallory LOGIN;
	GRANT CREATE ON SCHEMA public TO PUBLIC;
});
my $squat = $node->safe_psql('postgres',
	q{SELECT to_char((date_trunc('day', now(), 'UTC') + interval '6 days') AT TIME ZONE 'UTC', 'YYYYMMDD')});
my $after = $node->safe_psql('postgres',
	q{SELECT to_char((date_trunc('day', now(), 'UTC') + interval '7 days') AT TIME ZONE 'UTC', 'YYYYMMDD')});
unless ($ENV{W2Q_ATTACK_CONTROL})
{
	my ($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('postgres') . ' user=mallory', '-c', "CREATE TABLE public.jobs_p$squat ()" ]);
	is($err, '', "mallory took the name jobs_p$squat");
}
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT * FROM wal2queue.maintain_partitions('public.jobs', 7, 30)});
is($rc, 0, 'maintain_partitions() ran') or diag($err);
is($node->safe_psql('postgres', "SELECT count(*) FROM wal2queue.partitions('public.jobs') p "
	. "WHERE p.lower_bound = date_trunc('day', now(), 'UTC') + interval '7 days'"), '1',
	"the partition for the day after the squatted one ($after) exists");
like($err, qr/relation or type public\.jobs_p$squat already exists and is not the partition of public\.jobs/,
	'a WARNING names the relation that took the name') unless $ENV{W2Q_ATTACK_CONTROL};
is($node->safe_psql('postgres', "SELECT count(*) FROM wal2queue.partitions('public.jobs') p "
	. "WHERE p.lower_bound = date_trunc('day', now(), 'UTC') + interval '6 days'"), '1',
	"the squatted day ($squat) has its partition too");
$node->safe_psql('postgres', "INSERT INTO jobs (queue, payload, created_at) VALUES ('q', '{}', "
	. "date_trunc('day', now(), 'UTC') + interval '6 days 1 hour')");
is($node->safe_psql('postgres', "SELECT count(*) FROM public.jobs_p$squat"), '0',
	"a row of that day goes to its partition, not into the squatter's table")
	unless $ENV{W2Q_ATTACK_CONTROL};
$node->stop;
done_testing();
