# Fixed (found with 365): a message's payload converted to UTF-8 past 1GB
# wedged a walsender of a database that is not UTF-8.  In the JSON form a
# walsender converts every text to UTF-8 (utf8.c; the SQL functions return
# the database encoding and do not), and w2q_message_job() (plugin/job.c)
# converted the payload before its size was judged: in a WIN1252 database,
# 350MB of '€' (1 byte each, 3 in UTF-8) is 1.05GB of UTF-8, "Cannot
# enlarge string buffer" at every attempt.  Now a payload whose stored
# length is over twice max-job-bytes is oversized without being converted
# (no conversion to UTF-8 shrinks a character below half its bytes): its
# claim check is made at once.
# Checked: pg_recvlogical (a walsender) reads past the message in the JSON
# form and gets its claim check and the next job.  W2Q_ATTACK_CONTROL=1: a
# payload of 1kB (a whole job, converted).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use W2QTest;

my $node = new_node('msg_payload_conversion');
my $n = $ENV{W2Q_ATTACK_CONTROL} ? '1024' : '350 * 1024 * 1024';
$node->safe_psql('postgres', q{CREATE DATABASE w ENCODING 'WIN1252' LC_COLLATE 'C'
	LC_CTYPE 'C' TEMPLATE template0});
$node->safe_psql('w', q{SELECT 'x' FROM pg_create_logical_replication_slot('m', 'wal2queue')});
$node->safe_psql('w', qq{SELECT pg_logical_emit_message(true, 'wal2queue:big',
	repeat(chr(128), $n)) IS NOT NULL});
my $end = $node->safe_psql('w',
	q{SELECT pg_logical_emit_message(true, 'wal2queue:after', 'the next job')});

my $out = $node->basedir . '/m.json';
my ($rout, $rerr) = ('', '');
my $ok = IPC::Run::run(
	[ 'pg_recvlogical', '-d', $node->connstr('w'), '--slot', 'm', '--start',
	  '--endpos', $end, '--no-loop', '-f', $out, '-o', 'format=json',
	  '-o', 'max-job-bytes=1MB', '-o', 'messages=true' ],
	'>', \$rout, '2>', \$rerr, IPC::Run::timeout(300));
ok($ok, 'the walsender reads past the message') or diag($rerr);
my $text = -e $out ? slurp_file($out) : '';
like($text, qr/"target":"after"/, 'the next job is delivered');
if ($ENV{W2Q_ATTACK_CONTROL})
{
	like($text, qr/"target":"big".*"payload":"\x{e2}\x{82}\x{ac}/, 'the payload, in UTF-8');
}
else
{
	like($text, qr/"target":"big","table":"wal2queue.claim_check".*"kind":"message"/,
		'the message is a claim check');
}
$node->stop;
done_testing();
