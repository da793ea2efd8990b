# Fixed: any role that could log in stopped every INSERT into a job table
# for as long as it liked, after the table was TRUNCATEd (or VACUUM FULL,
# CLUSTER: a guard state not recorded) (attack review 12).  The event
# trigger wal2queue_guard_alter runs guard_on_alter() (SECURITY DEFINER) at
# the end of every ALTER TYPE; its lock_shape_changed() took SHARE locks,
# as the extension's owner, on every guarded table whose guard_state()
# differed from its record, whatever the type.  Now lock_shape_changed()
# (sql/src/24_text_shape.sql) takes the altered types from the command's
# objects (pg_event_trigger_ddl_commands(): the type, or a composite's
# pg_class row) and locks only the guarded tables that use one of them
# (columns of the type, arrays, domains, ranges, composites over it: the
# types text_shape() follows): ALTER TYPE of a type no job table uses locks
# nothing.
# Here: a LOGIN-only role's composite in pg_temp, ALTER TYPE ... ADD
# ATTRIBUTE in an open transaction; the application's INSERT goes through.
# And the lock still taken where it is needed: ALTER TYPE ... RENAME VALUE of
# an enum that a second (truncated) job table uses as an array column locks
# that table in SHARE mode, and not the other one.
# W2Q_ATTACK_CONTROL=1 leaves the TRUNCATE out.  Fails without the fix (the
# INSERT waits and times out, mallory holds ShareLock).
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

# the lock is still taken on a table that uses the altered type
$node->safe_psql('postgres', q{
	CREATE TYPE colour AS ENUM ('red', 'green');
	CREATE TABLE public.jobs2 (id bigserial PRIMARY KEY, queue text NOT NULL, tags colour[]);
	SELECT wal2queue.append_only('public.jobs2');
	INSERT INTO jobs2 (queue, tags) VALUES ('q', '{red}');
});
$node->safe_psql('postgres', 'TRUNCATE jobs2') unless $ENV{W2Q_ATTACK_CONTROL};
my $o = $node->background_psql('postgres');
$o->query_safe('BEGIN');
$o->query_safe("ALTER TYPE colour RENAME VALUE 'red' TO 'crimson'");
my $locks = $node->safe_psql('postgres', q{
	SELECT coalesce(string_agg(l.relation::regclass || ':' || l.mode, ',' ORDER BY l.relation::regclass::text), 'none')
	  FROM pg_locks l WHERE l.pid <> pg_backend_pid() AND l.locktype = 'relation'
	   AND l.relation IN ('public.jobs'::regclass, 'public.jobs2'::regclass)});
is($locks, 'jobs2:ShareLock', 'ALTER TYPE of a type one job table uses locks that table only');
$o->query_safe('COMMIT');
$o->quit;
$node->stop;
done_testing();
