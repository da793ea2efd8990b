# Attack review 12 (issue 11 fixes of this session): any role that can log
# in stops every INSERT into a job table for as long as it likes, after the
# table was TRUNCATEd (or VACUUM FULL, CLUSTER: a guard state not recorded).
# Why: the event trigger wal2queue_guard_alter runs guard_on_alter()
# (SECURITY DEFINER, sql/src/25_append_only.sql) at the end of EVERY ALTER
# TYPE, whoever runs it and whatever the type; it calls lock_shape_changed()
# (24_text_shape.sql), which takes LOCK TABLE ... IN SHARE MODE, as the
# extension's owner, on every guarded table whose guard_state() differs
# from its last record -- not only the tables that use the altered type.
# TRUNCATE changes the relfilenode without any event trigger, so after it
# the job table "differs" until append_only() is run again.  A role with no
# privilege on the table (here: LOGIN only, a composite type in pg_temp,
# which TEMP, granted to PUBLIC, allows) runs BEGIN; ALTER TYPE ... and
# leaves the transaction open: it holds SHARE on the job table, and the
# application's INSERTs (ROW EXCLUSIVE) wait behind it.
# Expected: an ALTER TYPE of a type no job table uses locks no job table
# (and a role's DDL never takes locks it has no right to on others'
# tables).  W2Q_ATTACK_CONTROL=1 leaves the TRUNCATE out: then nothing is
# locked and the INSERT goes through.
# Severity: medium (denial of service of the job queue by any role that can
# log in, needs an unrecorded guard state: TRUNCATE, VACUUM FULL, CLUSTER,
# pg_upgrade, DDL with the event triggers off; no job is lost).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('alter_type_lock');
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE TABLE public.jobs (id bigserial PRIMARY KEY, queue text NOT NULL, payload jsonb);
	SELECT wal2queue.append_only('public.jobs');
	INSERT INTO jobs (queue, payload) VALUES ('q', '{}');
	CREATE ROLE mallory LOGIN;
});
# the operator empties the queue table (W2Q_ATTACK_CONTROL=1: not)
$node->safe_psql('postgres', 'TRUNCATE jobs') unless $ENV{W2Q_ATTACK_CONTROL};

my $m = $node->background_psql('postgres', extra_params => [ '-U', 'mallory' ]);
$m->query_safe('BEGIN');
$m->query_safe('CREATE TYPE pg_temp.mine AS (a int)');
$m->query_safe('ALTER TYPE pg_temp.mine ADD ATTRIBUTE b int');
my $held = $node->safe_psql('postgres', q{
	SELECT coalesce(string_agg(l.mode, ','), 'none') FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
	 WHERE a.usename = 'mallory' AND l.relation = 'public.jobs'::regclass});
diag("locks mallory's session holds on public.jobs: $held");
my ($rc, $out, $err) = $node->psql('postgres',
	q{SET statement_timeout = '3s'; INSERT INTO jobs (queue, payload) VALUES ('q', '{"n": 2}')});
is($err, '', 'the application inserts a job while the other role\'s transaction is open') ;
is($held, 'none', 'the role holds no lock on the job table');
$m->query_safe('COMMIT');
$m->quit;
$node->stop;
done_testing();
