# What: a table without a primary key, read by its replica identity index,
# where the index's collation is not the column's: name text COLLATE ci (a
# case-insensitive ICU collation, deterministic = false) with UNIQUE INDEX
# (name COLLATE "C") as REPLICA IDENTITY -- 'a' and 'A' are both there,
# distinct for the index.  The backfill orders and compares the key with
# the COLUMN's collation ("ORDER BY name", "name OPERATOR(pg_catalog.>)
# ($1::text)"), under which 'a' = 'A': once a page ends at 'a', the next
# page's "name > 'a'" leaves out 'A' (and the page order of equal names is
# arbitrary).  Rows are silently missing from the backfill; the stream
# never sends them (committed before the consistent point).
# Why: bridge/backfill_sql.c KEY_SQL reads the key's columns, types and
# collations from pg_attribute (a.attcollation), not the index's own
# (pg_index.indcollation) nor its opclasses (indclass); key_after() and
# bf_page_only()'s ORDER BY then use the column's collation.  A key in the
# index's order needs "COLLATE \"C\"" on both (or a refusal of a key whose
# index collation or opclass differs from the column's, naming it).
# Expected: every row delivered once: 6 entries (or a refusal naming the
# index's collation before anything is sent).
# W2Q_ATTACK_CONTROL=1 gives the column the "C" collation too: passes.
# Severity: medium (silent loss of backfilled rows; needs a replica identity
# index whose collation differs from a nondeterministic column's -- a
# table without a primary key, as pgoutput users have).
# Fixed: KEY_SQL reads each key column's collation and opclass from the
# index (pg_index.indcollation, indclass); the pages are ordered "ORDER BY
# name COLLATE pg_catalog."C" USING OPERATOR(pg_catalog.<)" and compared
# "(name COLLATE pg_catalog."C") OPERATOR(pg_catalog.>) ($1::text)": the
# index's order.  The keydef records the index's collation oid, so a state
# saved by an older bridge (the column's collation) is refused by
# check_key() ("its key is now ..., was ...") instead of resumed in
# another order.

use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfcoll');
my $r = start_redis();
my $coll = $ENV{W2Q_ATTACK_CONTROL} ? '"C"' : 'ci';
$node->safe_psql('postgres', qq{
	CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
	CREATE TABLE names (name text COLLATE $coll NOT NULL, v int);
	CREATE UNIQUE INDEX names_c ON names (name COLLATE "C");
	ALTER TABLE names REPLICA IDENTITY USING INDEX names_c;
	INSERT INTO names VALUES ('a', 1), ('A', 2), ('b', 3), ('B', 4), ('c', 5), ('C', 6);
});
my $b = start_bridge($node, $r, '--slot', 'bf_coll', '--create-slot', '--tables', 'public.names',
	'--backfill', '--backfill-batch', '1', '--status-interval', '1');
ok(wait_until(sub { backfill_done($r, 'bf_coll') eq '1' || !$b->{h}->pumpable }, 30), 'the backfill ran')
  or diag(bridge_log($b));
sleep 1;
is(redis($r, 'XLEN', 'public.names'), '6', 'each of the 6 rows delivered')
  or diag(join("\n", grep { /INFO|WARNING|ERROR/ } split /\n/, bridge_log($b)));
stop_bridge($b, 'KILL') if $b->{h}->pumpable;

# the index's operator class: on a column of ICU collation "und-x-icu"
# (a < A < b), a text_pattern_ops replica identity (~<~: byte order, A < B
# < a): the pages follow the index, not the column's default opclass
$node->safe_psql('postgres', q{
	CREATE TABLE pnames (name text COLLATE "und-x-icu" NOT NULL, v int);
	CREATE UNIQUE INDEX pnames_p ON pnames (name text_pattern_ops);
	ALTER TABLE pnames REPLICA IDENTITY USING INDEX pnames_p;
	INSERT INTO pnames VALUES ('a', 1), ('A', 2), ('b', 3), ('B', 4), ('c', 5), ('C', 6);
});
$b = start_bridge($node, $r, '--slot', 'bf_pcoll', '--create-slot', '--tables', 'public.pnames',
	'--backfill', '--backfill-batch', '1', '--status-interval', '1');
ok(wait_until(sub { backfill_done($r, 'bf_pcoll') eq '1' || !$b->{h}->pumpable }, 30),
	'text_pattern_ops: the backfill ran') or diag(bridge_log($b));
is(join(',', map { $_->[1]{name} } @{ stream_entries($r, 'public.pnames') }), 'A,B,C,a,b,c',
	"text_pattern_ops: each row once, in the index's order");
stop_bridge($b, 'KILL') if $b->{h}->pumpable;

# a state saved by an older bridge: its keydef holds the column's collation
# (ci), the pages were in the column's order; the resume refuses it
$node->safe_psql('postgres', q{
	CREATE TABLE rnames (name text COLLATE ci NOT NULL, queue text);
	CREATE UNIQUE INDEX rnames_c ON rnames (name COLLATE "C");
	ALTER TABLE rnames REPLICA IDENTITY USING INDEX rnames_c;
	INSERT INTO rnames SELECT n, CASE WHEN n = 'a' THEN 'rbad' ELSE 'rq' END
	  FROM unnest(ARRAY['a', 'A', 'b', 'B', 'c', 'C', 'd', 'D', 'e']) n;
});
my @cmd = backfill_cmd('bf_rcoll', 'public.rnames');
backfill_first_page($node, $r, 'bf_rcoll', 'rbad', @cmd);
my $ci = $node->safe_psql('postgres', q{SELECT oid FROM pg_collation WHERE collname = 'ci'});
my $c = $node->safe_psql('postgres', q{SELECT oid FROM pg_collation WHERE collname = 'C'});
my $def = redis($r, 'HGET', 'wal2queue:progress:bf_rcoll', 'backfill_keydef');
is($def, qq{w2q2 1:25:$c; name text COLLATE "C" (type 25, collation $c)}, "the keydef holds the index's collation");
redis($r, 'HSET', 'wal2queue:progress:bf_rcoll', 'backfill_keydef',
	"w2q2 1:25:$ci; name text COLLATE ci (type 25, collation $ci)");
my $log = backfill_resume($node, $r, 'bf_rcoll', @cmd);
like($log, qr/cannot resume the backfill of table public\.rnames: its key is now name text COLLATE "C"/,
	"an older state in the column's collation: refused, naming the key now and then");
isnt(backfill_done($r, 'bf_rcoll'), '1', 'not recorded done');
stop_redis($r);
$node->stop;
done_testing();
