# wal2queue -- top-level Makefile
#
#   make            build the plugin and the bridge
#   make install    plugin + extension into PostgreSQL's directories (pg_config),
#                   the bridge into $(PREFIX)/bin
#   make check      every test suite, on servers it starts and stops itself
#   make check-faults  the fault matrix (test/faults), every cell for both sinks
#   make check-faults-pgoutput  the same through --plugin=pgoutput (-short: one round)
#   make check-faults-kafka-txn  its Kafka cells with --kafka-transactions
#   make check-discard-caches  the plugin's regression suites, flushing every
#                   cache at every chance (debug_discard_caches = 1 where the
#                   server is built with assertions; wal2queue.debug_discard_caches
#                   in any case)
#   make demo       install what is missing, build, run one job end to end
#                   (PLUGIN=pgoutput, or make demo-pgoutput: as on a managed server)
#   make bench      wal2queue against its peers (test/bench)
#   make deps       the Debian 12 packages the project needs that are missing; never
#                   upgrades an installed one (DEPS_UPGRADE=1 allows it)

PG_CONFIG ?= pg_config
PREFIX ?= /usr/local
export PG_CONFIG PREFIX

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

DEB_PACKAGES = gcc make pkg-config perl postgresql-15 postgresql-server-dev-15 \
	libpq-dev libhiredis-dev librdkafka-dev redis-server kcat libipc-run-perl \
	postgresql-15-wal2json libmicrohttpd-dev valgrind

.PHONY: all plugin bridge install check check-regress check-unit check-tap \
	check-asan check-valgrind check-discard-caches check-faults check-faults-short \
	check-faults-pgoutput check-faults-short-pgoutput check-faults-kafka-txn \
	demo demo-pgoutput bench deps clean

all: plugin bridge

plugin:
	$(MAKE) -C plugin

bridge:
	$(MAKE) -C bridge

install: all
	$(MAKE) -C plugin install
	$(MAKE) -C sql install
	$(MAKE) -C bridge install

# check-faults-short-pgoutput adds about 2.5-3 minutes (measured: 2m46s beside
# 2m16s for check-faults-short, 2 shared cores)
check: install check-regress check-unit check-tap check-faults-short check-faults-short-pgoutput

check-regress:
	test/regress/run.sh

# debug_discard_caches can only be 0 on a server built without assertions
# (as Debian's): the plugin's own setting flushes the caches before every
# change it decodes there
check-discard-caches:
	conf='wal2queue.debug_discard_caches = on'; \
	if $(PG_CONFIG) --configure | grep -q enable-cassert; then \
		conf="$$conf; debug_discard_caches = 1"; fi; \
	W2Q_REGRESS_SUITES='plugin_*' W2Q_REGRESS_CONF="$$conf$${W2Q_REGRESS_CONF:+; $$W2Q_REGRESS_CONF}" \
		test/regress/run.sh

check-unit:
	$(MAKE) -C test/unit check

# the unit tests, then the integration suites, under AddressSanitizer and UBSan
check-asan:
	$(MAKE) -C test/unit check SANITIZE=1
	$(MAKE) -C bridge SANITIZE=1
	$(MAKE) -C test/helpers
	W2Q_SANITIZE=1 ASAN_OPTIONS=detect_leaks=1 W2Q_BRIDGE=$(CURDIR)/bridge/build-asan/wal2queue-bridge \
		W2Q_TAP_SKIP="$(CURDIR)/test/tap/no-bridge.txt $(CURDIR)/test/tap/asan-skip.txt" \
		PROVE_FLAGS="$${PROVE_FLAGS:--j$(ASAN_TAP_JOBS)}" test/tap/run.sh

# the sanitized run keeps CI under its time limit four at a time (it used
# 40% of two cores three at a time: 652 s of CPU in 816 s)
ASAN_TAP_JOBS ?= 4

# the suites run TAP_JOBS at a time: each mostly waits on its servers (280
# suites three at a time: 697 s of CPU in 912 s on two cores, 38%; four at a
# time keeps .ci/run under its 45 minutes)
TAP_JOBS ?= 4

check-tap:
	$(MAKE) -C test/helpers
	PROVE_FLAGS="$${PROVE_FLAGS:--j$(TAP_JOBS)}" test/tap/run.sh

# the fault matrix (test/faults/README.md): every cell, both sinks, several
# rounds of the full workload; check-faults-short (part of check) one round
# of smaller transactions.  Without W2Q_FAULTS the suites skip.
FAULT_SUITES = $(wildcard test/t/1[0-9][0-9]_faults_*.pl)

check-faults: bridge
	$(MAKE) -C test/helpers
	$(MAKE) -C test/faults
	W2Q_FAULTS=full PROVE_FLAGS=-j2 test/tap/run.sh $(FAULT_SUITES)

check-faults-short: bridge
	$(MAKE) -C test/helpers
	$(MAKE) -C test/faults
	W2Q_FAULTS=short PROVE_FLAGS=-j4 test/tap/run.sh $(FAULT_SUITES)

# the same matrices through --plugin=pgoutput, as on a managed server: the
# cluster refuses custom output plugins, the bridge's role is no superuser
check-faults-pgoutput: bridge
	$(MAKE) -C test/helpers
	$(MAKE) -C test/faults
	W2Q_SOURCE_PLUGIN=pgoutput W2Q_FAULTS=full PROVE_FLAGS=-j2 test/tap/run.sh $(FAULT_SUITES)

check-faults-short-pgoutput: bridge
	$(MAKE) -C test/helpers
	$(MAKE) -C test/faults
	W2Q_SOURCE_PLUGIN=pgoutput W2Q_FAULTS=short PROVE_FLAGS=-j4 test/tap/run.sh $(FAULT_SUITES)

# the Kafka cells with --kafka-transactions (test/faults/README.md: what the
# mock cluster cannot show, and how the verifier accounts for it)
check-faults-kafka-txn: bridge
	$(MAKE) -C test/helpers
	$(MAKE) -C test/faults
	W2Q_KAFKA_TXN=1 W2Q_FAULTS=$${W2Q_FAULTS:-full} PROVE_FLAGS=-j2 test/tap/run.sh \
		$(wildcard test/t/11[0-9]_faults_kafka_*.pl)

# the end-to-end suites with the bridge under valgrind (errors, definite leaks)
check-valgrind: bridge
	$(MAKE) -C test/helpers
	W2Q_BRIDGE=$(CURDIR)/test/tap/valgrind-bridge W2Q_BRIDGE_BIN=$(CURDIR)/bridge/wal2queue-bridge \
		test/tap/run.sh test/t/001_redis_basic.pl test/t/008_standby_metrics.pl test/t/009_kafka.pl

# make demo PLUGIN=pgoutput (or make demo-pgoutput): the demo as on a managed
# server, through pgoutput; it needs nothing installed into PostgreSQL
PLUGIN ?= wal2queue
demo: deps all
ifeq ($(PLUGIN),pgoutput)
	test/demo.sh --plugin=pgoutput
else
	$(SUDO) $(MAKE) install PG_CONFIG=$(PG_CONFIG) PREFIX=$(PREFIX)
	test/demo.sh --plugin=$(PLUGIN)
endif

demo-pgoutput:
	$(MAKE) demo PLUGIN=pgoutput

bench: all install
	test/bench/run.sh

# Only what is missing, at the versions the system's sources offer, and never
# an upgrade of an installed package: apt-get's simulation is read first, and
# if installing would upgrade anything (say postgresql-15 on a running
# server), nothing is installed and the packages are listed.
# DEPS_UPGRADE=1 allows the upgrades.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -z "$$missing" ]; then echo "all Debian packages present"; exit 0; fi; \
	echo "missing Debian packages:" $$missing; \
	if [ -n "$(SUDO)" ] && ! command -v $(SUDO) >/dev/null 2>&1; then \
		echo "make deps: installing needs root: run it as root (su -c 'make deps') or install sudo" >&2; \
		exit 1; \
	fi; \
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq || exit 1; \
	upgrades=$$(LC_ALL=C apt-get install -s --no-upgrade --no-install-recommends $$missing | \
		sed -n 's/^Inst \([^ ]*\) \[\([^]]*\)\] (\([^ ]*\).*/  \1 \2 -> \3/p'); \
	if [ -n "$$upgrades" ] && [ "$(DEPS_UPGRADE)" != 1 ]; then \
		echo "make deps: installing them would upgrade installed packages:" >&2; \
		echo "$$upgrades" >&2; \
		echo "nothing installed: upgrade these yourself when it suits the server (restart!)," >&2; \
		echo "or run make deps DEPS_UPGRADE=1" >&2; \
		exit 1; \
	fi; \
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-upgrade \
		--no-install-recommends $$missing

clean:
	$(MAKE) -C plugin clean
	$(MAKE) -C bridge clean
	$(MAKE) -C test/unit clean
	$(MAKE) -C test/helpers clean
