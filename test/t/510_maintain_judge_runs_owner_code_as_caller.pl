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
# Fixed (session 8, replacing foreign_code(), test/t/520-529):
# maintain_partitions() and prune() act on a table only when its owner is
# a superuser or the session is the owner's own (wal2queue.owner_session()):
# the superuser's runs on mallory's table are skipped with a WARNING naming
# table, owner and caller, before planning anything over it (in the
# control too: the rule is who owns the table, not what its code calls);
# mallory's own runs judge, drop and prune, its code running as itself
# (no file).  The old checks again under each lock (session 7's 4 and 5)
# are gone: code the owner adds meanwhile changes nothing, the owner is
# the same (only the owner or a superuser changes it).
use strict;
use warnings;
use POSIX qw(strftime);
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('maintain_judge_owner');
my $file = "$ENV{TESTDIR}/pwned_510";
my $expr = $ENV{W2Q_ATTACK_CONTROL} ? '(queue)' : '((m.tag(0) || queue))';
my ($out, $err) = owner_code_fixture($node, extension => 1, pwn => 'copy', file => $file, sql => qq{
	CREATE TABLE m.jobs (id bigint, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
	  created_at timestamptz NOT NULL DEFAULT now()) PARTITION BY RANGE (created_at);
	CREATE TABLE m.jobs_old PARTITION OF m.jobs FOR VALUES FROM ('2020-01-01') TO ('2020-01-02');
	CREATE TABLE m.jobs_old2 PARTITION OF m.jobs FOR VALUES FROM ('2020-01-02') TO ('2020-01-03');
	CREATE INDEX jobs_tag ON m.jobs $expr;
	INSERT INTO m.jobs VALUES (1, 'q', '{}', '2020-01-02 10:00');});
is($err, '', "mallory's partitioned job table with an expression index and old days");
$node->safe_psql('postgres', q{SELECT wal2queue.create_slot('s510', 'm.jobs')});
unlink $file;

my $ctl = $ENV{W2Q_ATTACK_CONTROL};
my $mallory = $node->connstr('postgres') . ' user=mallory';
sub skipped
{
	my ($fn, $tbl) = @_;
	return qr/WARNING:  wal2queue\.$fn: table \Q$tbl\E is skipped: it is owned by role mallory, and this call runs as role postgres in a session of role postgres/;
}

# 1. the superuser's maintain_partitions() skips mallory's table
my ($rc, $mout, $merr) = $node->psql('postgres',
	q{SELECT * FROM wal2queue.maintain_partitions('m.jobs', 0, 7, true)});
diag("maintain_partitions: $mout $merr");
is($rc, 0, 'maintain_partitions() runs without an error');
is($mout, '', 'nothing is judged, dropped or created');
like($merr, skipped('maintain_partitions', 'm.jobs'), 'a WARNING names the table, its owner and the caller');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_inherits WHERE inhparent = 'm.jobs'::regclass}),
	'2', 'the old days are still there');
ok(!-e $file, "no code of the table's owner ran as maintain_partitions()'s caller")
  or diag('file written by: ' . slurp_file($file));

# 2. prune() likewise, with a DELETE trigger of mallory's too
($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', $mallory, '-c', q{
	CREATE FUNCTION m.on_delete() RETURNS trigger LANGUAGE plpgsql AS $f$
	BEGIN
		PERFORM m.pwn();
		RETURN OLD;
	END $f$;
	CREATE TRIGGER jobs_on_delete BEFORE DELETE ON m.jobs FOR EACH ROW EXECUTE FUNCTION m.on_delete();} ]);
is($err, '', 'mallory gives the table a DELETE trigger');
($rc, $mout, $merr) = $node->psql('postgres', q{SELECT wal2queue.prune('m.jobs', force => true)});
diag("prune: $mout $merr");
is("$rc|$mout", '0|0', 'prune() runs without an error and deletes nothing');
like($merr, skipped('prune', 'm.jobs'), 'a WARNING names the table, its owner and the caller');
ok(!-e $file, "no code of the table's owner ran as prune()'s caller")
  or diag('file written by: ' . slurp_file($file));

# 3. mallory's own session prunes and maintains it; its code runs as itself
($mout, $merr) = run_command([ 'psql', '-X', '-A', '-t', '-d', $mallory,
	'-c', q{SELECT wal2queue.prune('m.jobs', force => true)} ]);
is("$mout|$merr", '1|', "mallory's prune() deletes the delivered row");
($mout, $merr) = run_command([ 'psql', '-X', '-A', '-t', '-d', $mallory,
	'-c', q{SELECT * FROM wal2queue.maintain_partitions('m.jobs', 0, 7, true)} ]);
is("$mout|$merr", "created|m.jobs_p" . strftime("%Y%m%d", gmtime) . "\ndropped|m.jobs_old\ndropped|m.jobs_old2|", "mallory's maintain_partitions() judges and drops the old days");
ok(!-e $file, "the owner's code ran as the owner only")
  or diag('file written by: ' . slurp_file($file));
$node->stop;
done_testing();
