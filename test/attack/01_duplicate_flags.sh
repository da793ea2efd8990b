#!/usr/bin/env bash
# ATTACK (fails on main): a repeated single-valued option is silently
# resolved as "last one wins".  `--tables public.a --tables public.b`
# streams (and registers for prune()) only public.b: jobs of public.a are
# never delivered and nothing says so.  Expected: usage error, exit 2,
# "conflicting or redundant options" (the plugin's own wording for the same
# mistake), before any connection is made.
#   W2Q_BRIDGE=bridge/wal2queue-bridge test/attack/01_duplicate_flags.sh
bridge=${W2Q_BRIDGE:-$(dirname "$0")/../../bridge/wal2queue-bridge}
fail=0
for args in "--tables public.a --tables public.b" "--slot a --slot b" \
	"--sink redis://127.0.0.1:1 --sink redis://127.0.0.1:2" "--route-column a --route-column b"; do
	out=$(timeout 5 "$bridge" -d "host=127.0.0.1 port=1 connect_timeout=1" $args 2>&1)
	rc=$?
	if [ $rc -ne 2 ]; then
		echo "FAIL: $args -> exit $rc: $(echo "$out" | head -1)"
		fail=1
	else
		echo "ok: $args -> exit 2"
	fi
done
exit $fail
