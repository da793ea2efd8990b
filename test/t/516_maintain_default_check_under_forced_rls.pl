# What: a multi-tenant job table: its owner "app" enables and FORCEs row
# level security (so that the application, which connects as the owner,
# sees one tenant's rows: USING (queue = current_setting('app.tenant',
# true))), and the table has a DEFAULT partition holding a row of a coming
# day (inserted before that day's partition existed).  The DBA's
# maintain_partitions() (a superuser) asks default_holds_day() whether the
# DEFAULT partition holds rows of each day; since ca32016 it reads them
# "through the table as its owner" (SET ROLE app), where the forced policy
# hides every row (app.tenant is not set in the cron session): false, the
# day is created, and its ATTACH fails ("updated partition constraint for
# default partition ... would be violated by some row"), an error the run
# does not catch: every day of the run is rolled back, at every run, until
# the days run out and INSERTs fail.  The check was added for exactly this
# (a WARNING naming the DEFAULT partition's rows, the other days created);
# before ca32016 it read as the caller, which no policy hides rows from.
# (A policy that calls current_setting('app.tenant') without missing_ok
# fails the run at the check itself.)
# Why: sql/src/40_job_tables.sql default_holds_day(): PERFORM
# set_config('role', owner, true) before the EXECUTE; row_security applies
# to the owner under FORCE ROW LEVEL SECURITY.
# Expected: the other days created, the DEFAULT partition's day kept with
# the WARNING (e.g. read with row_security = off, which fails loudly
# instead of hiding rows, or as the caller); no ERROR.
# Severity: medium (a job table with forced RLS and a DEFAULT partition
# stops getting partitions: an outage once the days run out; loud only in
# the cron log).
# Control: W2Q_ATTACK_CONTROL=1 leaves out FORCE ROW LEVEL SECURITY: passes.
# Fixed: default_holds_day() reads as the caller (no role switch) with
# row_security = off: a superuser or BYPASSRLS caller sees every row (the
# DEFAULT partition's day is named in the WARNING, the other days are
# created); a caller a policy applies to (here the owner itself under
# FORCE) makes the read fail instead of hiding rows, and the day is left
# alone with a WARNING saying so, never an ERROR.  The judge of an old
# partition (partition_pending()) reads the same way: a leaf whose own
# forced policy hides its undelivered row from the owner is kept with a
# WARNING, not dropped with the row (with main's SQL it was dropped).
# Session 8 (test/t/520-529): a table is acted on only when its owner is
# a superuser or the session is the owner's own (owner_session()): the
# DBA's run is skipped with a WARNING (app's policies would run with its
# rights), so the owner's own run is the one that matters here: under
# FORCE it cannot tell and creates no day, a WARNING for each; without
# FORCE (the control) it creates every day but the fifth.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('maintain_rls');
my $force = $ENV{W2Q_ATTACK_CONTROL} ? '' : 'ALTER TABLE a.jobs FORCE ROW LEVEL SECURITY;';
$node->safe_psql('postgres', qq{
	CREATE EXTENSION wal2queue;
	CREATE ROLE app LOGIN;
	CREATE SCHEMA a AUTHORIZATION app;
	GRANT USAGE ON SCHEMA wal2queue TO app;
	SET ROLE app;
	SELECT wal2queue.create_job_table('a.jobs', true);
	CREATE TABLE a.jobs_default PARTITION OF a.jobs DEFAULT;
	INSERT INTO a.jobs (queue, payload, created_at)
	  VALUES ('t1', '{}', date_trunc('day', now(), 'UTC') + interval '5 days 1 hour');
	ALTER TABLE a.jobs ENABLE ROW LEVEL SECURITY;
	$force
	CREATE POLICY tenant ON a.jobs USING (queue = current_setting('app.tenant', true));
	RESET ROLE;
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM ONLY a.jobs_default}), '1',
	'the DEFAULT partition holds a row of the fifth day');
my ($rc, $out, $err) = $node->psql('postgres',
	q{SELECT action || ' ' || partition_name FROM wal2queue.maintain_partitions('a.jobs', 6, 7)});
diag("maintain_partitions: rc $rc\n$out\n$err");
is("$rc|$out", '0|', "the DBA's run creates nothing, without an error");
like($err, qr/WARNING:  wal2queue\.maintain_partitions: table a\.jobs is skipped: it is owned by role app, and this call runs as role postgres/,
	"app's table is skipped with a WARNING");
# the owner itself, to whom the forced policy applies: cannot tell, so no
# day is created, with a WARNING each; in the control (no FORCE) the owner
# sees the row
($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres') . ' user=app',
	'-c', q{SELECT action || ' ' || partition_name FROM wal2queue.maintain_partitions('a.jobs', 8, 7)} ]);
diag("maintain_partitions as app: $out\n$err");
unlike($err, qr/ERROR/, "the owner's run has no error");
if ($ENV{W2Q_ATTACK_CONTROL})
{
	is(() = $out =~ /^created a\.jobs_p\d{8}$/mg, 8, 'the owner creates the days but the fifth');
	like($err, qr/WARNING:  wal2queue\.create_partitions: the DEFAULT partition a\.jobs_default holds rows/,
		"and the DEFAULT partition's day is named in a WARNING");
}
else
{
	is($out, '', 'the owner subject to its forced policy creates no day');
	like($err, qr/WARNING:  wal2queue\.create_partitions: cannot tell whether the DEFAULT partition a\.jobs_default of table a\.jobs holds rows from .* so no partition was created for that day\n.*row-level security applies to role app/s,
		'a WARNING says the DEFAULT partition cannot be read past the policy');
	is(() = $err =~ /cannot tell whether/g, 9, 'one for each day not created (today to the eighth)');
}

# the judge: an old leaf whose own policy, forced, hides its undelivered
# row from its owner, who runs the maintenance (control: not forced)
my $lforce = $ENV{W2Q_ATTACK_CONTROL} ? '' : 'ALTER TABLE a.old_p FORCE ROW LEVEL SECURITY;';
$node->safe_psql('postgres', qq{
	SET ROLE app;
	CREATE TABLE a.old (id bigint, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
	  created_at timestamptz NOT NULL DEFAULT now()) PARTITION BY RANGE (created_at);
	CREATE TABLE a.old_p PARTITION OF a.old FOR VALUES FROM ('2020-01-01') TO ('2020-01-02');
	SELECT wal2queue.append_only('a.old');
	RESET ROLE;
	SELECT wal2queue.create_slot('s516', 'a.old');
	SET ROLE app;
	INSERT INTO a.old VALUES (1, 'q', '{}', '2020-01-01 10:00');
	ALTER TABLE a.old_p ENABLE ROW LEVEL SECURITY;
	$lforce
	CREATE POLICY hide ON a.old_p USING (false);
});
($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres') . ' user=app',
	'-c', q{SELECT action || ' ' || partition_name FROM wal2queue.maintain_partitions('a.old', 0, 7, true)} ]);
diag("maintain_partitions of a.old as app: $out\n$err");
like($out, qr/^kept a\.old_p$/m, 'the old partition holding an undelivered row is kept');
is($node->safe_psql('postgres', q{SELECT count(*) FROM ONLY a.old_p}), '1', 'with its row');
if (!$ENV{W2Q_ATTACK_CONTROL})
{
	like($err, qr/WARNING:  wal2queue\.maintain_partitions: cannot read every row of table a\.old_p: .*\n.*partition a\.old_p is kept/s,
		'a WARNING says the policy keeps the judge from reading it');
}
$node->stop;
done_testing();
