#!/usr/bin/env bash
# test/faults/mutate.sh -- can the fault matrix fail?  Builds deliberately
# broken bridges (a sed on a copy of bridge/ in a temp dir) and runs the
# cells that should catch each; reports, per mutation, "caught" (a test
# failed that the unmutated bridge passes in the same cells, run once per
# set of cells), "INCONCLUSIVE" (only tests the unmutated bridge fails too),
# "SURVIVED" (every test passed: a missing test), or "did not apply" (its
# pattern no longer matches the sources: adjust it here).
#
#   test/faults/mutate.sh [-l|-n] [NAME...]
#     -l  list the mutations
#     -n  only apply and build each (does its pattern still match?)
#
# Runs the short form of the cells (unless W2Q_FAULTS=full), as
# root or as a user that can run test/tap/run.sh.  Keeps the logs in
# $W2Q_MUTATE_LOGS (default: a temp dir, printed at the end).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

# name @ files (globs under bridge/) @ sed script @ suites @ cells (regex) @ what
mutations=(
"ledger-no-ack@ledger.c@/^advance(/,/^}/ s/if (!x->closed || x->acked < x->submitted)/if (!x->closed)/@100 110@kill -9@the ledger confirms a transaction once its commit is read, before the sink acknowledged it"
"ledger-next-txn@ledger.c@/^advance(/,/^}/ s/l->confirmable = x->end_lsn;/l->confirmable = l->count > 1 ? l->ring[(l->head + 1) \& (l->cap - 1)].end_lsn : x->end_lsn;/@100 101 110@kill -9|walsender|immediate@the ledger confirms, when a transaction completes, the next one's end (one transaction too early)"
"ledger-one-job-early@ledger.c@/^advance(/,/^}/ s/x->acked < x->submitted)/x->acked + 1 < x->submitted)/@100 110@kill -9@the ledger confirms a transaction one job before the sink acknowledged all of it"
"status-write-as-flush@stream.c@/^stream_send_status(/,/^}/ { s/put_u64(msg + 9, flushed);/put_u64(msg + 9, written);/; s/put_u64(msg + 17, flushed);/put_u64(msg + 17, written);/ }@100 101 110@kill -9|walsender|immediate@status updates report the write position as flushed"
"kafka-marks-never-skip@sink_kafka*.c kafka*.c@/mark_covers(const KafkaMark/,/^}/ s/if (!m->has_mark)/if (1 || !m->has_mark)/@110@kill -9@Kafka marks never skip a job already in the partition"
"kafka-mark-resent@sink_kafka*.c kafka*.c@/mark_covers(const KafkaMark/,/^}/ s/seq > m->seq))/seq >= m->seq))/@110@kill -9@Kafka marks do not cover the mark itself: it is sent again"
"replay-flag-not-set@bridge.c@/^sink_failed(/,/^}/ s/b->replay_needed = true;/b->replay_needed = false;/@102 112@CLIENT KILL|produce errors@the replay flag is not set after a sink failure"
)

if [ "${1:-}" = -l ]; then
	for m in "${mutations[@]}"; do
		IFS='@' read -r name _ _ suites cells what <<<"$m"
		printf '%-24s %s (suites %s, cells /%s/)\n' "$name" "$what" "$suites" "$cells"
	done
	exit 0
fi

dry=0
if [ "${1:-}" = -n ]; then
	dry=1
	shift
fi
# test/tap/run.sh, but with the temp dir (data dirs, sockets) kept in the
# mutation's log dir
run_tap()
{
	local tmp=$1
	shift
	local pgxs run=()
	pgxs=$(dirname "$(pg_config --pgxs)")/..
	mkdir -p "$tmp"
	chmod 755 "$tmp"
	[ "$(id -u)" = 0 ] && chown postgres "$tmp" && run=(runuser -u postgres --)
	(cd "$tmp" && "${run[@]}" env PATH="$(pg_config --bindir):$PATH" TMPDIR="$tmp" \
		PERL5LIB="$pgxs/test/perl:$root/test/t/lib" \
		PG_REGRESS="$pgxs/test/regress/pg_regress" TESTDIR="$tmp" \
		W2Q_BRIDGE="$W2Q_BRIDGE" W2Q_ROOT="$root" W2Q_FAULTS_CELLS="$W2Q_FAULTS_CELLS" \
		W2Q_FAULTS="${W2Q_FAULTS:-short}" timeout 1200 prove --timer -v "$@")
}

# the failed tests of a log, numbers stripped (names only)
failures()
{
	grep '^not ok' "$1" | sed -e 's/^not ok [0-9]* - //' -e 's/[0-9][0-9.]*/N/g' | sort -u
}

# the same suites and cells with the unmutated bridge, once per set: a
# mutation is caught only by a test the unmutated bridge passes
reference()
{
	local suites=$1 cells=$2 key tests=() s
	key=$(printf '%s|%s' "$suites" "$cells" | md5sum | cut -c1-8)
	if [ ! -f "$logs/reference-$key/tap.log" ]; then
		if [ ! -x "$logs/reference/bridge/wal2queue-bridge" ]; then
			mkdir -p "$logs/reference"
			cp -r "$root/bridge" "$logs/reference/bridge"
			cp -r "$root/common" "$logs/reference/common"
			rm -rf "$logs/reference/bridge/build" "$logs/reference/bridge/wal2queue-bridge"
			make -s -C "$logs/reference/bridge" >"$logs/reference/build.log" 2>&1 || return 1
			chmod -R a+rX "$logs/reference"
		fi
		for s in $suites; do tests+=("$root"/test/t/${s}_faults_*.pl); done
		mkdir -p "$logs/reference-$key"
		W2Q_BRIDGE="$logs/reference/bridge/wal2queue-bridge" W2Q_FAULTS_CELLS="$cells" \
			run_tap "$logs/reference-$key/tap" "${tests[@]}" >"$logs/reference-$key/tap.log" 2>&1
	fi
	failures "$logs/reference-$key/tap.log"
}

logs=${W2Q_MUTATE_LOGS:-$(mktemp -d /tmp/w2q-mutate.XXXXXX)}
mkdir -p "$logs"
chmod 755 "$logs"
make -s -C "$root/test/faults" && make -s -C "$root/test/helpers" || exit 2
declare -a report
for m in "${mutations[@]}"; do
	IFS='@' read -r name files script suites cells what <<<"$m"
	if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$name"; then
		continue
	fi
	work="$logs/$name"
	rm -rf "$work"
	mkdir -p "$work"
	cp -r "$root/bridge" "$work/bridge"
	cp -r "$root/common" "$work/common"	# bridge/Makefile builds ../common too
	rm -rf "$work/bridge/build" "$work/bridge/build-asan" "$work/bridge/wal2queue-bridge"
	applied=0
	for g in $files; do
		for f in "$work"/bridge/$g; do
			[ -f "$f" ] || continue
			cp "$f" "$f.orig"
			sed -i -e "$script" "$f"
			cmp -s "$f" "$f.orig" || { applied=1; diff -u "$f.orig" "$f" >>"$work/mutation.diff"; }
			rm -f "$f.orig"
		done
	done
	if [ $applied = 0 ]; then
		report+=("$(printf '%-24s did not apply (pattern not found in bridge/%s)' "$name" "$files")")
		continue
	fi
	if ! make -s -C "$work/bridge" >"$work/build.log" 2>&1; then
		report+=("$(printf '%-24s did not build (see %s/build.log)' "$name" "$work")")
		continue
	fi
	chmod -R a+rX "$work"
	if [ $dry = 1 ]; then
		report+=("$(printf '%-24s applies and builds' "$name")")
		continue
	fi
	tests=()
	for s in $suites; do tests+=("$root"/test/t/${s}_faults_*.pl); done
	t0=$(date +%s)
	W2Q_BRIDGE="$work/bridge/wal2queue-bridge" W2Q_FAULTS_CELLS="$cells" \
		run_tap "$work/tap" "${tests[@]}" >"$work/tap.log" 2>&1
	rc=$?
	took=$(( $(date +%s) - t0 ))
	failed=$(grep -c '^not ok' "$work/tap.log")
	if [ $rc -ne 0 ] && [ "$failed" = 0 ]; then
		report+=("$(printf '%-24s ERROR     (exit %d, no test failed: see %s/tap.log)' "$name" $rc "$work")")
	elif [ $rc -ne 0 ]; then
		ref=$(reference "$suites" "$cells")
		new=$(comm -23 <(failures "$work/tap.log") <(printf '%s\n' "$ref" | sed '/^$/d'))
		if [ -n "$new" ]; then
			report+=("$(printf '%-24s caught    (%d s): %s' "$name" "$took" "$(printf '%s' "$new" | head -1 | cut -c1-80)")")
		else
			report+=("$(printf '%-24s INCONCLUSIVE (%d s): the unmutated bridge fails the same tests' "$name" "$took")")
		fi
	else
		report+=("$(printf '%-24s SURVIVED  (%d s): %s' "$name" "$took" "$what")")
	fi
	echo "${report[-1]}"
done
echo
echo "mutations (logs in $logs):"
printf '  %s\n' "${report[@]}"
! printf '%s\n' "${report[@]}" | grep -q 'SURVIVED\|did not\|ERROR\|INCONCLUSIVE'
