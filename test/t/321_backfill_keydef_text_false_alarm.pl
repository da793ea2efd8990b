# backfill_keydef (d024c20, 280) is compared as text, and the text is
# format_type() and quote_ident() of names, not the oids it also holds.
# format_type() schema-qualifies a type that the session's search_path does
# not show, and every name follows a RENAME.  A resume whose key is exactly
# the same (same column, same type oid, same collation; the index, the heap
# and the order untouched) is refused as "another key":
#  1. the key is an enum of schema app; between the crash and the resume
#     the database's search_path gets app (ALTER DATABASE ... SET
#     search_path): "kind" is not "app.kind";
#  2. the key is a domain; it is renamed (ALTER DOMAIN ... RENAME TO).
# The refusal's ways out are to "restore the key" (nothing changed in it)
# or --backfill-after-rewrite, which delivers the table again (at least
# once).  Expected: both resumes finish exactly once.
# The first run stops after page 1 because page 2 routes a row into a key
# of another type (as in test/t/280).
# Fixed: the keydef starts with the key's identity ("w2q2 attnum:typoid:
# collid,...; " then the names for people), compared by that part alone
# (backfill_resume.c, same_key); an older state's names-only keydef is
# compared as before.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfkeydef');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE SCHEMA app;
	CREATE TYPE app.kind AS ENUM ('k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8', 'k9');
	CREATE TABLE ejobs (k app.kind PRIMARY KEY, queue text);
	INSERT INTO ejobs SELECT ('k' || g)::app.kind, CASE WHEN g = 4 THEN 'ebad' ELSE 'eq' END
	  FROM generate_series(1, 9) g;
	CREATE DOMAIN job_id AS int CHECK (VALUE > 0);
	CREATE TABLE djobs (id job_id PRIMARY KEY, queue text);
	INSERT INTO djobs SELECT g, CASE WHEN g = 4 THEN 'dbad' ELSE 'dq' END
	  FROM generate_series(1, 9) g;
});

sub first_run
{
	my ($slot, $bad, @cmd) = @_;
	backfill_first_page($node, $r, $slot, $bad, @cmd);
	note("$slot: backfill_keydef " . redis($r, 'HGET', "wal2queue:progress:$slot", 'backfill_keydef'));
}

sub total
{
	my $n = 0;
	$n += redis($r, 'XLEN', $_) for @_;
	return $n;
}

# 1. the search_path of the database now shows schema app
my @cmd = backfill_cmd('se', 'public.ejobs');
first_run('se', 'ebad', @cmd);
$node->safe_psql('postgres', q{ALTER DATABASE postgres SET search_path = "$user", public, app});
my $log = backfill_resume($node, $r, 'se', @cmd);
is(backfill_done($r, 'se'), '1',
	'enum key, search_path changed: the resume finishes') or diag($log);
unlike($log, qr/its key is now/, 'no "another key" refusal of the same key') or diag($log);
is(total('eq', 'ebad'), 9, 'every row once');
$node->safe_psql('postgres', q{ALTER DATABASE postgres RESET search_path});

# 2. the key's domain is renamed
@cmd = backfill_cmd('sd', 'public.djobs');
first_run('sd', 'dbad', @cmd);
$node->safe_psql('postgres', q{ALTER DOMAIN job_id RENAME TO job_ident});
$log = backfill_resume($node, $r, 'sd', @cmd);
is(backfill_done($r, 'sd'), '1',
	'domain key renamed: the resume finishes') or diag($log);
unlike($log, qr/its key is now/, 'no "another key" refusal of the same key') or diag($log);
is(total('dq', 'dbad'), 9, 'every row once');
stop_redis($r);
$node->stop;
done_testing();
