# `make deps` installs only what is missing and never upgrades an installed
# package: with fake apt-get, dpkg-query and sudo on PATH (nothing is
# installed for real), it reads apt-get's simulation first and refuses when
# installing would upgrade anything, unless DEPS_UPGRADE=1.
use strict;
use warnings;
use File::Temp qw(tempdir);
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = $ENV{W2Q_ROOT};
my $bin = tempdir(CLEANUP => 1);
my $log = "$bin/calls.log";

sub script
{
	my ($name, $body) = @_;
	open my $f, '>', "$bin/$name" or die $!;
	print $f "#!/bin/sh\n$body";
	close $f;
	chmod 0755, "$bin/$name";
}
script('dpkg-query', q{
pkg=$3
for p in $FAKE_INSTALLED; do
	[ "$p" = "$pkg" ] && { echo "install ok installed"; exit 0; }
done
exit 1
});
script('apt-get', q{
echo "apt-get $*" >> "$FAKE_LOG"
case " $* " in *" -s "*) printf '%b' "$FAKE_SIM";; esac
exit 0
});
script('sudo', q{
echo "sudo $1" >> "$FAKE_LOG"
exec "$@"
});

my ($packages) = slurp_file("$root/Makefile") =~ /^DEB_PACKAGES = (.*?[^\\])$/ms;
$packages =~ s/\\\n//g;
my @all = split ' ', $packages;
my @present = grep { $_ ne 'kcat' && $_ ne 'valgrind' } @all;

# make deps with these installed and this simulation: (exit, output, calls)
sub deps
{
	my ($installed, $sim, @args) = @_;
	unlink $log;
	local $ENV{PATH} = "$bin:$ENV{PATH}";
	local $ENV{FAKE_INSTALLED} = join(' ', @$installed);
	local $ENV{FAKE_SIM} = $sim;
	local $ENV{FAKE_LOG} = $log;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'make', '-s', '-C', $root, 'deps', @args ], '>', \$out, '2>', \$err);
	my $code = $? >> 8;
	return ($code, $out . $err, -f $log ? slurp_file($log) : '');
}

my ($code, $out, $calls) = deps(\@all, '');
is($code, 0, 'everything present: exit 0');
like($out, qr/all Debian packages present/, 'everything present: says so');
is($calls, '', 'everything present: apt-get is not run');

my $upgrade = "Inst kcat (1.7.1-1 Debian:12/stable [amd64])\\n"
  . "Inst postgresql-15 [15.18-0+deb12u1] (15.20-0+deb12u1 Debian-Security:12/stable-security [amd64])\\n";
($code, $out, $calls) = deps(\@present, $upgrade);
isnt($code, 0, 'an install that would upgrade postgresql-15: refused');
like($out, qr/missing Debian packages: kcat valgrind/, 'it names what is missing');
like($out, qr/would upgrade installed packages:\n  postgresql-15 15\.18-0\+deb12u1 -> 15\.20-0\+deb12u1/,
	'it names the upgrade, from and to');
like($out, qr/DEPS_UPGRADE=1/, 'it says how to allow it');
like($calls, qr/apt-get install -s --no-upgrade --no-install-recommends kcat valgrind/,
	'it asked apt-get for a simulation');
unlike($calls, qr/install -y/, 'nothing was installed');

($code, $out, $calls) = deps(\@present, $upgrade, 'DEPS_UPGRADE=1');
is($code, 0, 'DEPS_UPGRADE=1: exit 0');
like($calls, qr/apt-get install -y -qq --no-upgrade --no-install-recommends kcat valgrind/,
	'DEPS_UPGRADE=1: installs the missing packages');

($code, $out, $calls) = deps(\@present,
	"Inst kcat (1.7.1-1 Debian:12/stable [amd64])\\nInst valgrind (1:3.19.0-1 Debian:12/stable [amd64])\\n");
is($code, 0, 'only new packages: exit 0');
like($calls, qr/^apt-get install -y -qq --no-upgrade --no-install-recommends kcat valgrind$/m,
	'only new packages: installs exactly the missing ones, --no-upgrade');
if ($> != 0)
{
	like($calls, qr/^sudo env$/m, 'as a user: through sudo');
	($code, $out, $calls) = deps(\@present, '', 'SUDO=no-such-sudo');
	isnt($code, 0, 'as a user without sudo: refused');
	like($out, qr/installing needs root: run it as root \(su -c 'make deps'\) or install sudo/,
		'as a user without sudo: says what to do');
}
else
{
	unlike($calls, qr/^sudo/m, 'as root: no sudo');
}
done_testing();
