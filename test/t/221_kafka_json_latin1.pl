# Regression (adversarial review 221): the Kafka value of a row is "the row
# as a JSON object" (README, Kafka), but in a database whose encoding is not
# UTF-8 the plugin sent text in the database encoding and bridge/json_row.c
# copied the bytes into the JSON: 'café' in LATIN1 became the single byte
# 0xE9, not valid UTF-8, so not JSON (RFC 8259 section 8.1).  Now the plugin
# converts every text of a job to UTF-8 (plugin/utf8.c), and with
# --plugin=pgoutput the bridge asks for client_encoding=UTF8 on every
# connection (test/t/456), so pgoutput sends the LATIN1 database's text in
# UTF-8 without it in -d.
use strict;
use warnings;
use Encode;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

my $root = $ENV{W2Q_ROOT};
my ($min, $mout, $merr) = ('', '', '');
my $mock = IPC::Run::start(["$root/test/helpers/kafka-mock", '1'], \$min, \$mout, \$merr);
$mock->pump until $mout =~ /\n/;
my ($bootstrap) = $mout =~ /^(\S+)/;

my $node = new_node('latin1');
$node->safe_psql('postgres', q{CREATE DATABASE l1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0});
$node->safe_psql('l1', q{CREATE TABLE jobs (id int PRIMARY KEY, v text)});
my $b = start_bridge($node, undef, '-d', $node->connstr('l1'), '--slot', 'l1', '--create-slot',
	'--tables', 'public.jobs', '--status-interval', '1', '--sink', "kafka://$bootstrap");
ok(wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'l1' AND active}) eq '1' }),
	'the bridge streams the LATIN1 database');
# the client speaks UTF-8; the server stores 'é' as the LATIN1 byte 0xE9
$node->safe_psql('l1', "SET client_encoding = 'UTF8'; INSERT INTO jobs VALUES (1, 'caf\x{c3}\x{a9}')");
my @values;
ok(wait_until(sub {
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bootstrap, '-C', '-t', 'public.jobs', '-o', 'beginning', '-e', '-f', '%s\n', '-q' ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(30));
	@values = grep { length } split /\n/, $out;
	return @values == 1;
}, 30), 'the job reached Kafka') or diag(bridge_log($b));
my $bytes = $values[0] // '';
note('value bytes: ' . join(' ', map { sprintf '%02x', $_ } unpack 'C*', $bytes));
my $row = eval { JSON::PP->new->utf8->decode($bytes) };
ok(defined $row, 'the value is valid UTF-8 JSON') or diag($@);
is($row ? encode('UTF-8', $row->{v}) : undef, "caf\x{c3}\x{a9}", 'the text reads café');
stop_bridge($b);

# --plugin=pgoutput: pgoutput sends text in the client encoding
my @pgo = ('--plugin', 'pgoutput', '--publication', 'p', '--slot', 'l1p', '--create-slot',
	'--tables', 'public.jobs', '--target-prefix', 'pgo.', '--status-interval', '1',
	'--sink', "kafka://$bootstrap");
$b = start_bridge($node, undef, '-d', $node->connstr('l1'), @pgo);
ok(wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'l1p' AND active}) eq '1' }),
	'pgoutput on a LATIN1 database, no client_encoding in -d: the bridge streams') or diag(bridge_log($b));
$node->safe_psql('l1', "SET client_encoding = 'UTF8'; INSERT INTO jobs VALUES (2, 'na\x{c3}\x{af}ve')");
ok(wait_until(sub {
	my ($o, $e) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $bootstrap, '-C', '-t', 'pgo.public.jobs', '-o', 'beginning', '-e', '-f', '%s\n', '-q' ],
		'>', \$o, '2>', \$e, IPC::Run::timeout(30));
	@values = grep { length } split /\n/, $o;
	return @values >= 1;
}, 30), 'pgoutput: the job reached Kafka') or diag(bridge_log($b));
$row = eval { JSON::PP->new->utf8->decode($values[-1] // '') };
is($row ? encode('UTF-8', $row->{v}) : undef, "na\x{c3}\x{af}ve", 'pgoutput: UTF-8 JSON');
stop_bridge($b);
$node->stop;
$mock->kill_kill;
done_testing();
