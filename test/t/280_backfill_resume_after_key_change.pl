# Attack 280: a resume reads the saved key position in the order of the
# table's key as it is NOW, not as it was when the position was saved.
# The backfill state records the last key delivered as text
# (backfill_key, e.g. ["3"]) but not which columns (or which collation)
# made that order; run_tables() parses it against the key read again in
# the resume's snapshot (backfill_sql.c:load_table(), KEY_SQL) and
# bf_page() asks for "(new key) > (saved text)".  Neither change below
# rewrites the heap, so bf_storage_check() sees the same relfilenode and
# the resume goes on "exactly once":
#  1. the primary key moved to another column of the same type
#     (DROP CONSTRAINT ... ADD PRIMARY KEY USING INDEX): rows delivered
#     before the crash come again, rows not delivered yet are never
#     delivered, and the backfill says done;
#  2. the key column's collation changed (ALTER COLUMN ... TYPE text
#     COLLATE ..., no rewrite, the index is rebuilt in the new order):
#     the same, for the rows whose order differs.
# Expected: every row once, or a refusal naming the changed key.
# The first run stops after page 1 because page 2 routes a row into a key
# of another type (as in test/t/242).
#
# Fixed: the state records the key's columns, types and collations
# (backfill_keydef) with the table's first page; a resume with another key
# is refused naming both, --backfill-after-rewrite reads the table again
# from its start (at least once).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfkeychange');
my $r = start_redis();
my $icu = $node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_collation WHERE collname = 'und-x-icu'});
$node->safe_psql('postgres', q{
	CREATE TABLE jobs (id int PRIMARY KEY, n int NOT NULL, queue text);
	CREATE UNIQUE INDEX jobs_n_idx ON jobs (n);
	INSERT INTO jobs SELECT g, 10 - g, CASE WHEN g = 4 THEN 'bad' ELSE 'q' END
	  FROM generate_series(1, 9) g;
	CREATE TABLE cjobs (k text COLLATE "C" PRIMARY KEY, queue text);
	INSERT INTO cjobs VALUES ('A', 'cq'), ('B', 'cq'), ('C', 'cq'), ('D', 'cbad'),
	  ('a', 'cq'), ('b', 'cq'), ('c', 'cq'), ('d', 'cq');
});

# 1. the primary key moves from id to n (same type, no rewrite)
my @cmd = backfill_cmd('s', 'public.jobs');
backfill_first_page($node, $r, 's', 'bad', @cmd);
$node->safe_psql('postgres', q{
	ALTER TABLE jobs DROP CONSTRAINT jobs_pkey;
	ALTER TABLE jobs ADD PRIMARY KEY USING INDEX jobs_n_idx;
});
my $log = backfill_resume($node, $r, 's', @cmd);
my $done = backfill_done($r, 's');
my $seen = field_counts($r, 'id', 'q', 'bad');
note("primary key moved: done=$done, ids "
	  . join(',', map { "$_ x$seen->{$_}" } sort { $a <=> $b } keys %$seen));
ok($done ne '1' || (scalar(keys %$seen) == 9 && !grep { $_ != 1 } values %$seen),
	'primary key moved: every row once, or the resume refused')
  or diag($log);
like($log, qr/its key is now n integer \(type 23, collation 0\), was id integer/,
	'the refusal names the old and the new key');
like($log, qr/--backfill-after-rewrite/, 'and the way out');
# the way out: the table again from its start, at least once
$log = backfill_resume($node, $r, 's', @cmd, '--backfill-after-rewrite');
$seen = field_counts($r, 'id', 'q', 'bad');
is(backfill_done($r, 's'), '1', '--backfill-after-rewrite finishes it')
  or diag($log);
is(scalar(grep { $seen->{$_} } 1 .. 9), 9, 'every row at least once');

# 2. the key column's collation changes (no rewrite, the index is rebuilt)
SKIP:
{
	skip 'no ICU collation und-x-icu', 3 unless $icu;
	my @cmd2 = backfill_cmd('s2', 'public.cjobs');
	backfill_first_page($node, $r, 's2', 'cbad', @cmd2);
	my $fn = $node->safe_psql('postgres', q{SELECT pg_relation_filenode('cjobs')});
	$node->safe_psql('postgres', q{ALTER TABLE cjobs ALTER COLUMN k TYPE text COLLATE "und-x-icu"});
	note('heap rewritten by the collation change: '
		  . ($node->safe_psql('postgres', q{SELECT pg_relation_filenode('cjobs')}) ne $fn ? 'yes' : 'no'));
	$log = backfill_resume($node, $r, 's2', @cmd2);
	$done = backfill_done($r, 's2');
	$seen = field_counts($r, 'k', 'cq', 'cbad');
	note("collation changed: done=$done, keys " . join(',', map { "$_ x$seen->{$_}" } sort keys %$seen));
	ok($done ne '1' || (scalar(keys %$seen) == 8 && !grep { $_ != 1 } values %$seen),
		'collation changed: every row once, or the resume refused')
	  or diag($log);
	like($log, qr/COLLATE "und-x-icu".*was k text COLLATE "C"/, 'the refusal names both collations');
}
stop_redis($r);
$node->stop;
done_testing();
