# What: 410's squat with a TYPE instead of a table.  CREATE TABLE also
# creates the table's row type under the table's name, so a type (enum,
# domain, composite) named <table>_pYYYYMMDD in the job table's schema,
# created by any role that may CREATE there, makes CREATE TABLE ...
# PARTITION OF fail ("type "jobs_p..." already exists"), and the whole
# create_partitions() / maintain_partitions() call with it, every day: no
# later day is created, no old partition dropped, and once the days already
# created run out every INSERT fails ("no partition of relation ...").
# Why: sql/src/40_job_tables.sql create_partitions(): the fix of 410 checks
# only "IF to_regclass(part) IS NOT NULL" (a relation); a pg_type row of
# that name in the schema is not looked for (to_regtype(part)).
# Expected: as 410: a WARNING and another name for the day; the day after
# the squatted one is created; maintain_partitions(jobs, 7, 30) succeeds.
# W2Q_ATTACK_CONTROL=1 does not create the type: passes.
# Severity: medium (same as 410: a LOGIN role with CREATE on the schema
# stops the job table's inserts a few days later).
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
		'-d', $node->connstr('postgres') . ' user=mallory', '-c', "CREATE TYPE public.jobs_p$squat AS ENUM ('x')" ]);
	is($err, '', "mallory took the type name jobs_p$squat");
}
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT * FROM wal2queue.maintain_partitions('public.jobs', 7, 30)});
is($rc, 0, 'maintain_partitions() ran') or diag($err);
is($node->safe_psql('postgres', "SELECT count(*) FROM wal2queue.partitions('public.jobs') p "
	. "WHERE p.lower_bound = date_trunc('day', now(), 'UTC') + interval '7 days'"), '1',
	"the partition for the day after the squatted one ($after) exists");
like($err, qr/jobs_p$squat/,
	'a WARNING names the type that took the name') unless $ENV{W2Q_ATTACK_CONTROL};
is($node->safe_psql('postgres', "SELECT count(*) FROM wal2queue.partitions('public.jobs') p "
	. "WHERE p.lower_bound = date_trunc('day', now(), 'UTC') + interval '6 days'"), '1',
	"the squatted day ($squat) has its partition too");
is($node->psql('postgres', "INSERT INTO jobs (queue, payload, created_at) VALUES ('q', '{}', "
	. "date_trunc('day', now(), 'UTC') + interval '6 days 1 hour')"), 0, "a row of that day can be inserted");
$node->stop;
done_testing();
