# What: a backfill's resume position is the last key as TEXT; a key column
# of an enum type (a primary key (kind, id)) whose label at that position is
# renamed (ALTER TYPE ... RENAME VALUE) between the stop and the restart
# makes every resume fail: the page query casts the saved text back
# ("$1::kind") and the old label no longer exists ("invalid input value
# for enum kind: \"urgent\""), so the command line never finishes its
# backfill and never streams, with no hint; check_key() sees the same key
# definition (attnum, type oid, collation) and lets it through.
# Why: bridge/backfill_sql.c bf_page(): "AND (keys) > ($1::type, ...)" with
# the position printed when the page was read; backfill_resume.c
# check_key() compares the key's columns and types, not whether the saved
# position still parses (an enum's labels are not part of BF_KEYDEF_TAG's
# identity).
# Expected: the resume goes on in the enum's order (the position kept by
# the label's sort order / oid rather than its text) or is refused once
# with a message naming the label and the way out; here: every row once,
# done.
# W2Q_ATTACK_CONTROL=1 renames another label: passes.
# Severity: low (an enum in the key and a rename during a migration; loud,
# but a dead end without a hint).
# Fixed: a resume checks that the saved key texts still read as the key's
# types (backfill_sql.c bf_key_readable(), in a savepoint): one that does
# not is refused at once, exit 1, naming the position, the server's error,
# the likely cause (an enum label renamed) and both ways out: rename it
# back and restart (exactly once), or --backfill-after-rewrite (the table
# read again from its start, at least once).  Checked now: the refusal,
# then the label renamed back and the same command line: every row once.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfenumkey');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE TYPE kind AS ENUM ('urgent', 'normal', 'spare');
	CREATE TABLE jobs (kind kind, id int, queue text, PRIMARY KEY (kind, id));
	INSERT INTO jobs SELECT 'urgent', g, CASE WHEN g = 4 THEN 'bad' ELSE 'q' END FROM generate_series(1, 9) g;
});
my $slot = 'bf_ek';
my @cmd = backfill_cmd($slot, 'public.jobs');
backfill_first_page($node, $r, $slot, 'bad', @cmd);
$node->safe_psql('postgres', $ENV{W2Q_ATTACK_CONTROL} ? q{ALTER TYPE kind RENAME VALUE 'spare' TO 'other'}
	: q{ALTER TYPE kind RENAME VALUE 'urgent' TO 'high'});
my $log = backfill_resume($node, $r, $slot, @cmd);
unless ($ENV{W2Q_ATTACK_CONTROL})
{
	like($log, qr/ERROR: cannot resume the backfill of table public\.jobs: its saved position \["urgent","3"\] no longer reads as its key \(ERROR:  invalid input value for enum (?:public\.)?kind: "urgent".*rename it back.*--backfill-after-rewrite/,
		'the resume is refused, naming the position, the label and the ways out');
	is(backfill_done($r, $slot), '0', 'not recorded done');
	$node->safe_psql('postgres', q{ALTER TYPE kind RENAME VALUE 'high' TO 'urgent'});
	$log = backfill_resume($node, $r, $slot, @cmd);
}
is(backfill_done($r, $slot), '1', 'the resumed backfill finished')
  or diag(join "\n", grep { /resuming|backfill of|WARNING|ERROR/ } split /\n/, $log);
is(redis($r, 'XLEN', 'q') + redis($r, 'XLEN', 'bad'), 9, 'every row once');
stop_redis($r);
$node->stop;
done_testing();
