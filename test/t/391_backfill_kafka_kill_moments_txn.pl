# test/t/390 with --kafka-transactions: the creation marker and every state
# committed in a Kafka transaction, the bridge killed with -9 after the
# marker, after the slot, after the first state and after the last page
# (not mid-page: librdkafka's mock cluster shows aborted messages to the
# read-back, see test/t/036), then the same command line finishes the
# backfill, each row exactly once.
use strict;
use warnings;
use File::Basename qw(dirname);
# loaded here, at compile time: their INIT blocks set up the test's logs
use PostgreSQL::Test::Utils;
use Test::More;
use W2QTest;

$ENV{W2Q_390_TXN} = 1;
my $file = dirname(__FILE__) . '/390_backfill_kafka_kill_moments.pl';
do $file;
die $@ if $@;
