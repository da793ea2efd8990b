# What: a REFERENCES grantee adds its foreign key onto the job table while
# prune() runs, after owner_cascades() looked and before the DELETE.  The
# superuser's public.jobs grants mallory SELECT and REFERENCES (no
# TRIGGER: owner_triggers() lets it be pruned, test/t/559).  mallory's
# m.child has an AFTER UPDATE trigger that makes mallory a superuser when
# it runs as one.  mallory opens a transaction and runs ALTER TABLE m.child
# ADD FOREIGN KEY (job_id) REFERENCES public.jobs ON DELETE SET NULL (and
# a row referencing job 1): uncommitted, it holds SHARE ROW EXCLUSIVE on
# public.jobs.  The superuser's prune() starts: owner_session() and
# owner_cascades() read the catalogs, where the key is not visible yet,
# and pass; prune()'s LOCK TABLE ... IN ROW EXCLUSIVE MODE waits for
# mallory's lock.  mallory commits; the DELETE, planned after the lock,
# sees the key's action trigger, sets m.child's row to NULL, and her AFTER
# trigger runs as the caller at the end of the DELETE.
# Why: sql/src/30_prune.sql prune(): owner_session() and owner_cascades()
# (sql/src/28_owner_session.sql) judge the catalogs before any lock on the
# job table is held; nothing holds off a foreign key (or a trigger, a
# grant, a domain CHECK of a written table) added between the check and
# the DELETE, and mallory's own lock makes the window as wide as she
# wants, deterministically.  The LOCK (taken for test/t/406) comes only
# after the checks, and they are not repeated under it.
# Expected: prune() skips public.jobs with 559's WARNING (the checks judge
# what the DELETE will run, under a lock that holds new keys and triggers
# off), or its DELETE runs nothing of mallory's as the superuser: m.log
# stays empty, mallory is no superuser.
# Severity: high -- a role with REFERENCES on a superuser's job table (in
# GRANT ALL) gets superuser at the next scheduled prune(), every time.
# Fixed: prune() (sql/src/30_prune.sql) takes the DELETE's ROW EXCLUSIVE
# locks on the job table and its partitions first, and runs
# owner_session() again under them; owner_cascades()
# (sql/src/28_owner_session.sql) locks each table the keys' actions write
# until no new one appears, and only then judges them.  ADD FOREIGN KEY
# (SHARE ROW EXCLUSIVE on the referenced table) and CREATE TRIGGER conflict
# with that lock, so mallory's key either commits before the checks read
# the catalogs (and is refused with 559's WARNING) or waits for the DELETE.
# Control: W2Q_ATTACK_CONTROL=1 commits mallory's key before prune()
# starts: prune() skips the job table with 559's WARNING and mallory stays
# unprivileged (the check itself holds; only the race breaks it).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $node = new_node('prune_fk_race670');
owner_code_fixture($node, extension => 1);
$node->safe_psql('postgres', q{
	CREATE TABLE public.jobs (id bigint PRIMARY KEY, queue text NOT NULL, payload jsonb NOT NULL DEFAULT '{}');
	INSERT INTO public.jobs VALUES (1, 'q', '{}'), (2, 'q', '{}'), (3, 'q', '{}');
	GRANT SELECT, REFERENCES ON public.jobs TO mallory;
	SELECT wal2queue.append_only('public.jobs');
	SELECT wal2queue.create_slot('s670', 'public.jobs');});
my ($out, $err) = as_mallory($node, q{
	CREATE TABLE m.log (cur name, ses name);
	CREATE FUNCTION m.ri() RETURNS trigger LANGUAGE plpgsql AS $f$
	BEGIN
		INSERT INTO m.log VALUES (current_user, session_user);
		IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
			EXECUTE 'ALTER ROLE mallory SUPERUSER';
		END IF;
		RETURN NULL;
	END $f$;
	CREATE TABLE m.child (job_id bigint);
	CREATE TRIGGER child_after AFTER UPDATE ON m.child FOR EACH ROW EXECUTE FUNCTION m.ri();});
is($err, '', "mallory's table and AFTER UPDATE trigger, no key yet");

my $mal = $node->background_psql('postgres', on_error_stop => 1, extra_params => [ '-U', 'mallory' ]);
$mal->query_safe(q{BEGIN});
$mal->query_safe(q{ALTER TABLE m.child ADD CONSTRAINT child_fk FOREIGN KEY (job_id) REFERENCES public.jobs ON DELETE SET NULL});
$mal->query_safe(q{INSERT INTO m.child VALUES (1)});
$mal->query_safe(q{COMMIT}) if $control;

my $su = $node->background_psql('postgres', on_error_stop => 0);
$su->query_until(qr/pruning/, "\\echo pruning\nSELECT wal2queue.prune('public.jobs', force => true) AS pruned;\n\\echo pruned\n");
unless ($control)
{
	ok(wait_until(sub {
		$node->safe_psql('postgres', q{SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE NOT l.granted AND l.relation = 'public.jobs'::regclass AND a.query LIKE '%wal2queue.prune%'}) ne '0' }),
		"prune() passed its checks and waits for mallory's lock on public.jobs");
	$mal->query_safe(q{COMMIT});
}
$su->query_until(qr/pruned/, '');
my $perr = $su->{stderr} // '';
$su->quit;
$mal->quit;
note("prune stderr: $perr");
like($perr, qr/WARNING:  wal2queue\.prune: table public\.jobs is skipped: table m\.child \(the DELETE writes it through its foreign key child_fk/,
	$control ? 'control: the key committed before prune() starts is judged'
	: 'the key committed while prune() waited for its lock is judged under the lock');
is($node->safe_psql('postgres', q{SELECT count(*) FROM m.log WHERE cur <> 'mallory'}), '0',
	"none of mallory's triggers ran as another role");
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}), 'f',
	'mallory is no superuser');
note('m.log: ' . $node->safe_psql('postgres', q{SELECT string_agg(cur || '/' || ses, ', ') FROM m.log}));
note('jobs left: ' . $node->safe_psql('postgres', q{SELECT count(*) FROM public.jobs}));

$node->stop;
done_testing();
