# What: a superuser's job table with a column that is an array of an
# enum type another role owns (tags app.tag[], the application's role
# owning its enum types) is skipped by prune() at every run, while the
# same column of type app.tag is pruned.  owner_code() exempts an enum
# type from the owner check (its owner can only add and rename labels,
# and create casts, whose functions are judged), but not the enum's
# array type, which is a type of its own (typtype 'b') owned by the
# enum's owner: the closure reaches it from the column and refuses it.
# Why: sql/src/28_owner_session.sql owner_code(): the owner CASE for
# pg_type excludes typtype 'e' only; the array type of an enum (its
# typelem an enum, typinput array_in, typoutput array_out, built-in) has
# nothing its owner can change that the enum's owner cannot (ALTER TYPE
# of an array type is refused: "cannot alter array type"), and its casts
# are followed like the enum's.
# Expected: prune() treats app.tag[] as it treats app.tag: public.jobs2
# (tags app.tag[]) is pruned like public.jobs1 (tag app.tag), no WARNING.
# Severity: low -- operator: a common legitimate schema (enum types owned
# by the application's or the migration role, an array of them in the
# job table) is never pruned, with a WARNING telling to give the type to
# the table's owner (ALTER TYPE app.tag[] OWNER TO ... is refused by
# PostgreSQL: the array follows its element); the workaround is to give
# the enum to the table owner.
# Fixed: owner_code() (sql/src/28_owner_session.sql) exempts from the
# owner check the array type of an enum (typtype 'b', array subscripting,
# the enum's typarray) as it exempts the enum: it cannot be altered, and
# the enum it depends on is still followed (its casts judged).
# Control: W2Q_ATTACK_CONTROL=1 checks public.jobs1 (tag app.tag), which
# is pruned (the enum exemption holds).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $control = $ENV{W2Q_ATTACK_CONTROL};
my $table = $control ? 'public.jobs1' : 'public.jobs2';
my $node = new_node('prune_enum_array691');
$node->safe_psql('postgres', qq{
	CREATE EXTENSION wal2queue;
	CREATE ROLE app;
	CREATE SCHEMA app AUTHORIZATION app;
	SET ROLE app;
	CREATE TYPE app.tag AS ENUM ('urgent', 'bulk');
	RESET ROLE;
	CREATE TABLE public.jobs1 (id bigint PRIMARY KEY, queue text NOT NULL, tag app.tag);
	CREATE TABLE public.jobs2 (id bigint PRIMARY KEY, queue text NOT NULL, tags app.tag[]);
	INSERT INTO $table VALUES (1, 'q', NULL), (2, 'q', NULL);
	SELECT wal2queue.append_only('$table');
	SELECT wal2queue.create_slot('s691', '$table');});
my ($rc, $out, $err) = $node->psql('postgres', qq{SELECT wal2queue.prune('$table', force => true)});
note("prune: $out $err");
unlike($err, qr/is skipped/, "prune() does not skip $table");
is($out, '2', "prune() deletes the rows of $table");
note('the HINT\'s ALTER TYPE: ' . join(' ', ($node->psql('postgres', 'ALTER TYPE app._tag OWNER TO postgres'))[1, 2]));

$node->stop;
done_testing();
