#!/usr/bin/env bash
# The cgroup v2 lane, in three modes:
#   v2, hybrid   the busybox guest (nothing but busybox and the binaries copied in) runs
#                tests/cgroup_v2.rs in a cgroup-v2-only VM, then in a hybrid one (v1
#                controllers plus cgroup2);
#   v2-host      the host's own userland (procps, Python, Java, Node, runc, this build), shared
#                into a cgroup-v2-only VM, runs every integration test binary that uses real
#                cgroups, with the same assertions as on the host.
#
#   tests/vm/run-tests.sh [--mode v2|hybrid|v2-host|all] [TEST FILTER...]
#
# Prints the test output, then one line per mode: `lane MODE: N passed, N failed, N skipped`.
# Exits non-zero if any VM run failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODES=(v2 hybrid v2-host)
if [ "${1:-}" = --mode ]; then
	case $2 in all) ;; *) MODES=("$2") ;; esac
	shift 2
fi
# The test binaries of the v2-host mode ($VPROC_LANE_TESTS, space-separated, to choose; NAME:A,B
# runs the tests of NAME whose names contain A or B). Not by default: the docker tests that
# build the image (see tests/docker.rs).
read -r -a HOST_TESTS <<<"${VPROC_LANE_TESTS:-real_cgroups cgroup_v2 serve run read_paths status engines restart docker:docker_run_with}"
cargo build --quiet --workspace --bins
exe() { # NAME: the path of the test binary tests/NAME.rs
	cargo test --quiet --test "$1" --no-run --message-format=json 2>/dev/null |
		grep "\"name\":\"$1\"" | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n1
}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
status=0
summary=()
count() { # MODE LOG: the mode's totals line
	awk -v mode="$1" '
		/^test result:/ { p += $4; f += $6 }
		/^skipped:/ { s++ }
		END { printf "lane %s: %d passed, %d failed, %d skipped\n", mode, p, f, s }' "$2"
}
for mode in "${MODES[@]}"; do
	echo "== cgroup v2 lane: $mode =="
	log=$stage/$mode.log
	case $mode in
	v2 | hybrid)
		bin=$(exe cgroup_v2)
		[ -x "$bin" ] || { echo "run-tests: could not build tests/cgroup_v2.rs" >&2; exit 1; }
		cp "$bin" "$stage/cgroup_v2"
		cp target/debug/vproc target/debug/vproc-mount "$stage/"
		# crun (and its libraries) for the OCI hook test, when the host has it.
		crun=$(command -v crun || true)
		[ -z "$crun" ] || cp "$crun" "$stage/crun"
		tests/vm/lane.sh --mode "$mode" -i "$stage/cgroup_v2" -i "$stage/vproc" -i "$stage/vproc-mount" \
			${crun:+-i "$stage/crun"} -e VPROC_BIN=/payload/vproc -e VPROC_MOUNT_BIN=/payload/vproc-mount -e VPROC_LANE="$mode" \
			-e RUST_BACKTRACE=1 -- /payload/cgroup_v2 --test-threads 1 "$@" 2>&1 | tee "$log" || status=1
		;;
	v2-host)
		script=$stage/host-tests.sh
		{
			echo 'rc=0'
			for entry in "${HOST_TESTS[@]}"; do
				t=${entry%%:*}
				filters=()
				[ "$t" = "$entry" ] || IFS=, read -r -a filters <<<"${entry#*:}"
				bin=$(exe "$t")
				[ -x "$bin" ] || { echo "run-tests: could not build tests/$t.rs" >&2; exit 1; }
				printf 'echo "== %s =="\n' "$entry"
				# The guest's serial port is a terminal: no colour codes in the log.
				printf '%q --color never' "$bin"
				for a in "$@" "${filters[@]}"; do printf ' %q' "$a"; done
				echo ' || rc=1'
			done
			echo 'exit $rc'
		} >"$script"
		# A guard against a hung VM, not a speed limit: ~20 min unloaded, ~40 with one of the
		# host's two cores busy (all of it under software emulation).
		VPROC_VM_TIMEOUT=${VPROC_VM_TIMEOUT:-3600} tests/vm/lane.sh --mode v2 --userland host \
			-e VPROC_LANE=v2 -e VPROC_LANE_USERLAND=host -e VPROC_REQUIRE_REAL="${VPROC_REQUIRE_REAL:-0}" -e RUST_BACKTRACE=1 \
			-e PATH="$PATH" \
			-i "$script" -- /bin/sh /payload/host-tests.sh 2>&1 | tee "$log" || status=1
		;;
	*) echo "run-tests: unknown mode $mode" >&2; exit 2 ;;
	esac
	line=$(count "$mode" "$log")
	summary+=("$line")
	# A mode that ran nothing (the VM did not come up, a binary was not found) failed.
	case $line in *": 0 passed,"*) echo "run-tests: lane $mode ran no test" >&2; status=1 ;; esac
done
printf '%s\n' "${summary[@]}"
exit $status
