#!/usr/bin/env bash
# The cgroup v2 lane: builds vproc and the tests/cgroup_v2.rs test binary, and runs that binary
# inside a cgroup-v2-only VM, then inside a hybrid one (v1 controllers plus cgroup2).
#
#   tests/vm/run-tests.sh [--mode v2|hybrid|both] [TEST FILTER...]
#
# Prints the test output and exits non-zero if any VM run failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODES=(v2 hybrid)
if [ "${1:-}" = --mode ]; then
	case $2 in both) ;; *) MODES=("$2") ;; esac
	shift 2
fi
cargo build --quiet --workspace --bins
bin=$(cargo test --quiet --test cgroup_v2 --no-run --message-format=json 2>/dev/null |
	grep '"name":"cgroup_v2"' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n1)
[ -x "$bin" ] || { echo "run-tests: could not build tests/cgroup_v2.rs" >&2; exit 1; }
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$bin" "$stage/cgroup_v2"
cp target/debug/vproc target/debug/vproc-mount "$stage/"
# crun (and its libraries) for the OCI hook test, when the host has it.
crun=$(command -v crun || true)
[ -z "$crun" ] || cp "$crun" "$stage/crun"
status=0
for mode in "${MODES[@]}"; do
	echo "== cgroup v2 lane: $mode =="
	tests/vm/lane.sh --mode "$mode" -i "$stage/cgroup_v2" -i "$stage/vproc" -i "$stage/vproc-mount" \
		${crun:+-i "$stage/crun"} -e VPROC_BIN=/payload/vproc -e VPROC_MOUNT_BIN=/payload/vproc-mount -e VPROC_LANE="$mode" \
		-e RUST_BACKTRACE=1 -- /payload/cgroup_v2 --test-threads 1 "$@" || status=1
done
exit $status
