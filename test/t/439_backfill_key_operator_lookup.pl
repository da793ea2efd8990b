# The backfill's pages compare the key with the ">" of the btree opclass
# ORDER BY sorts it by, written OPERATOR(schema.name) and looked up in that
# schema alone (backfill_sql.c KEY_SQL, key_after; 432): not pg_catalog's
# ">" for every type.  With search_path pinned to pg_catalog
# (BF_SAFE_SETTINGS) an unqualified or OPERATOR(pg_catalog.>) comparison of
# an extension's type with an implicit cast to text (citext) would compare
# as text while ORDER BY sorts as citext: a page would skip rows or repeat
# them.
#  1. a key (citext COLLATE "C"): citext orders a < B < c < D, text under
#     "C" B < D < a < c: every row once, in pages of 3 (a row form
#     "(c) OPERATOR(public.>) ($1::public.citext)");
#  2. a key (integer, citext): the two ">" are in other schemas, so the
#     page compares column by column ("(n > $1 OR (n = $1 AND c > $2))"):
#     every row once;
#  3. a resume of an older bridge's state whose keydef is names only, its
#     enum key's type printed with the database's search_path ("k kind",
#     now "k app.kind" with the pinned path): the same key (its column
#     names, type and collation oids), so the backfill finishes, every row
#     once, not "its key is now ...";
#  4. a role without superuser cannot create an operator class (the ORDER BY
#     uses the type's default btree opclass, which no such role can plant).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $node = new_node('bfkeyops');
my $r = start_redis();
$node->safe_psql('postgres', q{
	CREATE EXTENSION citext;
	CREATE TABLE sjobs (c citext COLLATE "C" PRIMARY KEY, queue text);
	INSERT INTO sjobs SELECT x, 'sq' FROM unnest(ARRAY['a', 'B', 'c', 'D', 'e', 'F', 'g', 'H']) x;
	CREATE TABLE cjobs (n int, c citext COLLATE "C", queue text, PRIMARY KEY (n, c));
	INSERT INTO cjobs SELECT n, x, 'cq' FROM generate_series(1, 2) n,
	  unnest(ARRAY['a', 'B', 'c', 'D', 'e', 'F', 'g']) x;
});
my @cmd = ('--slot', 'ops', '--create-slot', '--backfill', '--backfill-batch', '3',
	'--tables', 'public.sjobs,public.cjobs', '--route-column', 'queue', '--status-interval', '1');
my $b = start_bridge($node, $r, @cmd);
ok(wait_backfill_done($r, $b, 'ops', 60), 'the backfill finishes') or diag(bridge_log($b));
sleep 1;
stop_bridge($b);
my %sq = %{ field_counts($r, 'c', 'sq') };
is(scalar(keys %sq), 8, 'citext key: every row') or diag(explain \%sq);
is(redis($r, 'XLEN', 'sq'), '8', 'citext key: once');
is(redis($r, 'XLEN', 'cq'), '14', '(integer, citext) key: every row once');

# 3. an older state's names-only keydef, printed with the database's path
$node->safe_psql('postgres', q{
	CREATE SCHEMA app;
	CREATE TYPE app.kind AS ENUM ('k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8', 'k9');
	CREATE TABLE ejobs (k app.kind PRIMARY KEY, queue text);
	INSERT INTO ejobs SELECT ('k' || g)::app.kind, CASE WHEN g = 4 THEN 'ebad' ELSE 'eq' END
	  FROM generate_series(1, 9) g;
	ALTER DATABASE postgres SET search_path = app, public;
});
@cmd = backfill_cmd('old', 'public.ejobs');
backfill_first_page($node, $r, 'old', 'ebad', @cmd);
my $keydef = redis($r, 'HGET', 'wal2queue:progress:old', 'backfill_keydef');
like($keydef, qr/^w2q2 [^;]*; k app\.kind \(type \d+, collation 0\)$/,
	'the keydef names the type qualified (the pinned search_path)');
(my $names = $keydef) =~ s/^w2q2 [^;]*; //;
$names =~ s/app\.kind/kind/;
redis($r, 'HSET', 'wal2queue:progress:old', 'backfill_keydef', $names);
my $log = backfill_resume($node, $r, 'old', @cmd);
is(backfill_done($r, 'old'), '1', 'the older state\'s backfill finishes') or diag($log);
unlike($log, qr/its key is now/, 'not refused as another key');
is(redis($r, 'XLEN', 'eq') + redis($r, 'XLEN', 'ebad'), 9, 'every row once');

# 4. no operator class without superuser
$node->safe_psql('postgres', q{CREATE ROLE mallory LOGIN; GRANT CREATE ON SCHEMA public TO mallory});
my ($out, $err) = run_command([ 'psql', '-X', '-A', '-t', '-d',
	$node->connstr('postgres') . ' user=mallory', '-c',
	q{CREATE OPERATOR CLASS public.mine DEFAULT FOR TYPE int4 USING btree AS
	  OPERATOR 1 pg_catalog.< , FUNCTION 1 pg_catalog.btint4cmp(int4, int4)} ]);
like($err, qr/must be superuser to create an operator class/,
	'a role without superuser cannot create an operator class');
stop_redis($r);
$node->stop;
done_testing();
