# What: the owner of a partitioned job table (the application's role, no
# superuser) gives it an expression index over an IMMUTABLE function of
# its own and a partition of an old day (PARTITION OF, as any owner may).
# The DBA registers a slot selecting it; pg_cron runs, as a superuser,
# maintain_partitions(..., force => true) and prune(..., force => true).
# Judging the old partition (partition_pending(): "SELECT EXISTS (SELECT 1
# FROM ONLY leaf ...)") and deleting from it (delete_delivered()) plan a
# query on the owner's table as the CALLER: the planner loads the leaf's
# index expressions and simplifies them (RelationGetIndexExpressions():
# eval_const_expressions), which calls the owner's function as the
# superuser.  Here it writes current_user into a file with COPY ... TO.
# 489's fix switched only create_partitions() and default_holds_day() to
# the owner; the judge and prune() were named by 489 ("The planning of
# default_holds_day()'s and partition_pending()'s queries does the same")
# and still run the owner's code as the caller.
# Why: sql/src/40_job_tables.sql partition_pending() (EXECUTE of the
# EXISTS query, no role switch) and sql/src/30_prune.sql
# delete_delivered()/prune(); the extension's functions are SECURITY
# INVOKER, the caller typically a superuser.
# Expected: no code of the job table's owner runs as the caller (refuse a
# table whose index expressions, predicates or CHECK constraints call
# another role's function, as the backfill does since 482, or judge as the
# owner in a security-restricted context); no file written.
# Severity: high (privilege escalation from any job table's owner to the
# role that runs maintain_partitions() or prune(): typically a superuser
# via pg_cron; silent).
# Control: W2Q_ATTACK_CONTROL=1 makes the index over queue alone: passes.
# Fixed: maintain_partitions() and prune() skip a table whose index
# expressions (predicates, constraints, statistics, defaults, policies,
# and for prune() DELETE triggers and rules) call a function of a role
# that is neither a superuser nor the caller, before planning anything
# over it, with a WARNING naming the table, the index, the function and
# its owner (wal2queue.foreign_code()): nothing judged, dropped or
# deleted, no file written; the control's old day is judged and pruned.
# Code the owner adds while a call waits is seen: checked again under the
# lock of each old partition judged and of each leaf pruned (4, 5).
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('maintain_judge_owner');
my $file = "$ENV{TESTDIR}/pwned_510";
unlink $file;
$node->safe_psql('postgres', q{
	CREATE EXTENSION wal2queue;
	CREATE ROLE mallory LOGIN;
	CREATE SCHEMA m AUTHORIZATION mallory;
	GRANT USAGE ON SCHEMA wal2queue TO mallory;
});
my $expr = $ENV{W2Q_ATTACK_CONTROL} ? '(queue)' : '((m.tag(0) || queue))';
my ($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
	'-d', $node->connstr('postgres') . ' user=mallory', '-c', qq{
	CREATE FUNCTION m.pwn() RETURNS void LANGUAGE plpgsql VOLATILE AS \$f\$
	BEGIN
		IF current_user <> 'mallory' THEN
			EXECUTE format('COPY (SELECT %L) TO %L', current_user, '$file');
		END IF;
	END \$f\$;
	CREATE FUNCTION m.tag(i int) RETURNS text LANGUAGE plpgsql IMMUTABLE AS \$f\$
	BEGIN
		PERFORM m.pwn();
		RETURN '';
	END \$f\$;
	CREATE TABLE m.jobs (id bigint, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
	  created_at timestamptz NOT NULL DEFAULT now()) PARTITION BY RANGE (created_at);
	CREATE TABLE m.jobs_old PARTITION OF m.jobs FOR VALUES FROM ('2020-01-01') TO ('2020-01-02');
	CREATE TABLE m.jobs_old2 PARTITION OF m.jobs FOR VALUES FROM ('2020-01-02') TO ('2020-01-03');
	CREATE INDEX jobs_tag ON m.jobs $expr;
	INSERT INTO m.jobs VALUES (1, 'q', '{}', '2020-01-02 10:00');} ]);
is($err, '', "mallory's partitioned job table with an expression index and old days");
$node->safe_psql('postgres', q{SELECT wal2queue.create_slot('s510', 'm.jobs')});
unlink $file;

# 1. maintain_partitions() judges the old days
my ($rc, $mout, $merr) = $node->psql('postgres',
	q{SELECT * FROM wal2queue.maintain_partitions('m.jobs', 0, 7, true)});
diag("maintain_partitions: $mout $merr");
is($rc, 0, 'maintain_partitions() runs without an error');
if ($ENV{W2Q_ATTACK_CONTROL})
{
	like($mout, qr/^(dropped|kept)\|m\.jobs_old$/m, 'the old day is judged');
}
else
{
	is($mout, '', 'nothing is judged, dropped or created');
	like($merr, qr/WARNING:  wal2queue\.maintain_partitions: table m\.jobs is skipped: its index m\.jobs_tag calls function m\.tag\(integer\), owned by role mallory/,
		'a WARNING names the table, the index, the function and its owner');
	is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_inherits WHERE inhparent = 'm.jobs'::regclass}),
		'2', 'the old days are still there');
}
ok(!-e $file, "no code of the table's owner ran as maintain_partitions()'s caller")
  or diag('file written by: ' . slurp_file($file));
unlink $file;

# 2. prune() of the same table (a fresh session: the relcache loads the
# index expressions again)
($rc, $mout, $merr) = $node->psql('postgres', q{SELECT wal2queue.prune('m.jobs', force => true)});
diag("prune: $mout $merr");
is($rc, 0, 'prune() runs without an error');
if (!$ENV{W2Q_ATTACK_CONTROL})
{
	is($mout, '0', 'prune() deletes nothing');
	like($merr, qr/WARNING:  wal2queue\.prune: table m\.jobs is skipped: its index m\.jobs_tag calls function m\.tag\(integer\), owned by role mallory/,
		'a WARNING names the table, the index, the function and its owner');
}
ok(!-e $file, "no code of the table's owner ran as prune()'s caller")
  or diag('file written by: ' . slurp_file($file));

# 3. a DELETE trigger of mallory's runs as prune()'s caller: refused too
# (the index gone; maintain_partitions(), which deletes no row, is not
# concerned by it)
if (!$ENV{W2Q_ATTACK_CONTROL})
{
	($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('postgres') . ' user=mallory', '-c', q{
		DROP INDEX m.jobs_tag;
		CREATE FUNCTION m.on_delete() RETURNS trigger LANGUAGE plpgsql AS $f$
		BEGIN
			PERFORM m.pwn();
			RETURN OLD;
		END $f$;
		CREATE TRIGGER jobs_on_delete BEFORE DELETE ON m.jobs FOR EACH ROW EXECUTE FUNCTION m.on_delete();
		INSERT INTO m.jobs VALUES (2, 'q', '{}', '2020-01-02 11:00');} ]);
	is($err, '', 'mallory gives the table a DELETE trigger');
	unlink $file;
	($rc, $mout, $merr) = $node->psql('postgres', q{SELECT wal2queue.prune('m.jobs', force => true)});
	diag("prune: $mout $merr");
	is($mout, '0', 'prune() deletes nothing');
	like($merr, qr/WARNING:  wal2queue\.prune: table m\.jobs is skipped: its trigger jobs_on_delete of m\.jobs(_old2)? calls function m\.on_delete\(\), owned by role mallory/,
		'a WARNING names the trigger');
	ok(!-e $file, "no trigger of the table's owner ran as prune()'s caller")
	  or diag('file written by: ' . slurp_file($file));
	like($node->safe_psql('postgres', q{SELECT * FROM wal2queue.maintain_partitions('m.jobs', 0, 7, true)}),
		qr/^(dropped|kept)\|m\.jobs_old2$/m, 'maintain_partitions() judges the old days');
}

# 4. code the owner adds while prune() runs: an index created in a
# transaction that commits while prune() waits for the table's lock (the
# first check did not see it) is checked again under the lock
if (!$ENV{W2Q_ATTACK_CONTROL})
{
	($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('postgres') . ' user=mallory', '-c', q{
		CREATE TABLE m.jobs4 (id bigint, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
		  created_at timestamptz NOT NULL DEFAULT now());
		INSERT INTO m.jobs4 VALUES (1, 'q', '{}', now());} ]);
	is($err, '', 'mallory creates a plain job table');
	$node->safe_psql('postgres', q{SELECT wal2queue.create_slot('s510b', 'm.jobs4')});
	unlink $file;
	my ($bout, $berr) = ('', '');
	my $bg = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('postgres') . ' user=mallory', '-c',
		q{BEGIN; CREATE INDEX jobs4_tag ON m.jobs4 ((m.tag(0) || queue)); SELECT pg_sleep(3); COMMIT;} ],
		'>', \$bout, '2>', \$berr);
	ok(wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
		WHERE c.relname = 'jobs4' AND l.mode = 'ShareLock' AND l.granted}) eq '1' }, 10),
		"mallory's CREATE INDEX holds the table, uncommitted");
	($rc, $mout, $merr) = $node->psql('postgres', q{SELECT wal2queue.prune('m.jobs4', force => true)});
	diag("prune: $mout $merr");
	$bg->finish;
	is($berr, '', "mallory's index committed while prune() waited");
	like($merr, qr/WARNING:  wal2queue\.prune: table m\.jobs4 is skipped: its index m\.jobs4_tag calls function m\.tag\(integer\), owned by role mallory/,
		'prune() checks the table again under its lock and skips it');
	ok(!-e $file, "no code the owner added while prune() ran ran as its caller")
	  or diag('file written by: ' . slurp_file($file));
}

# 5. the same for maintain_partitions()'s judge: the run is held after its
# first check (its horizon waits for the slot registry, locked here), the
# owner indexes the old partition meanwhile; the partition is checked again
# under its own lock, and kept
if (!$ENV{W2Q_ATTACK_CONTROL})
{
	($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('postgres') . ' user=mallory', '-c', q{
		CREATE TABLE m.jobs5 (id bigint, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
		  created_at timestamptz NOT NULL DEFAULT now()) PARTITION BY RANGE (created_at);
		CREATE TABLE m.jobs5_old PARTITION OF m.jobs5 FOR VALUES FROM ('2020-01-01') TO ('2020-01-02');
		INSERT INTO m.jobs5 VALUES (1, 'q', '{}', '2020-01-01 10:00');} ]);
	is($err, '', 'mallory creates a partitioned table with an old day');
	$node->safe_psql('postgres', q{SELECT wal2queue.create_slot('s510c', 'm.jobs5')});
	unlink $file;
	my ($aout, $aerr, $mout5, $merr5) = ('', '', '', '');
	my $holder = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres'), '-c',
		q{BEGIN; LOCK TABLE wal2queue.slots IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(5); COMMIT;} ],
		'>', \$aout, '2>', \$aerr);
	ok(wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM pg_locks
		WHERE relation = 'wal2queue.slots'::regclass AND mode = 'AccessExclusiveLock' AND granted}) eq '1' }, 10),
		'the slot registry is locked');
	my $run = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres'), '-c',
		q{SELECT * FROM wal2queue.maintain_partitions('m.jobs5', 0, 7, true)} ],
		'>', \$mout5, '2>', \$merr5);
	ok(wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM pg_locks
		WHERE relation = 'wal2queue.slots'::regclass AND NOT granted}) eq '1' }, 10),
		'maintain_partitions() waits for it, past its first check');
	($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('postgres') . ' user=mallory', '-c',
		q{CREATE INDEX jobs5_old_tag ON m.jobs5_old ((m.tag(0) || queue))} ]);
	is($err, '', 'mallory indexes the old partition meanwhile');
	$run->finish;
	$holder->finish;
	diag("maintain_partitions: $mout5 $merr5");
	like($mout5, qr/^kept\|m\.jobs5_old$/m, 'the old partition is kept');
	like($merr5, qr/WARNING:  wal2queue\.maintain_partitions: table m\.jobs5_old is skipped: its index m\.jobs5_old_tag calls function m\.tag\(integer\), owned by role mallory/,
		'checked again under its lock, with a WARNING');
	ok(!-e $file, "no code the owner added while maintain_partitions() ran ran as its caller")
	  or diag('file written by: ' . slurp_file($file));
}
$node->stop;
done_testing();
