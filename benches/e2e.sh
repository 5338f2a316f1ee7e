#!/usr/bin/env bash
# End-to-end read benchmark: native /proc, lxcfs (if installed) and vproc, side by side, with
# K concurrent readers each in its own memory-limited cgroup; prints a Markdown table.
#
#   benches/e2e.sh [--seconds S] [--readers 1,16,128] [--file meminfo] [--no-lxcfs]
#
# Needs root, gcc and cgroup v1 memory/cpu/cpuacct/cpuset hierarchies. Everything it creates
# (mounts, daemons, cgroups vproc-bench-*) is removed on exit (benches/lib.sh).
# Readers start one after another, so with many readers their windows overlap only mostly.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER=3
READERS=1,16,128
FILE=meminfo
LXCFS=1
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) SECONDS_PER=$2; shift ;;
    --readers) READERS=$2; shift ;;
    --file) FILE=$2; shift ;;
    --no-lxcfs) LXCFS=0 ;;
    *) echo "usage: $0 [--seconds S] [--readers LIST] [--file NAME] [--no-lxcfs]" >&2; exit 2 ;;
  esac
  shift
done
command -v lxcfs >/dev/null || LXCFS=0

. benches/lib.sh

cargo build --release --quiet
gcc -O2 -o "$work/reader" benches/reader.c
VPROC=$PWD/target/release/vproc

make_cgroups "$(tr , '\n' <<<"$READERS" | sort -n | tail -1)"

ROOT[native]=/
PID[native]=
start_daemon vproc "$VPROC" serve
targets=(native vproc)
if [ $LXCFS = 1 ]; then
  start_daemon lxcfs lxcfs -p "$work/lxcfs.pid"
  targets=(native lxcfs vproc)
fi

hz=$(getconf CLK_TCK)

echo "| readers | target | reads/s | p50 µs | p99 µs | daemon CPU µs/read | daemon RSS kB | daemon PSS kB | wrong values |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
for k in ${READERS//,/ }; do
  for t in "${targets[@]}"; do
    path=${ROOT[$t]%/}/proc/$FILE
    [ "$t" = native ] && path=/proc/$FILE
    before=0; [ "$t" = native ] || before=$(cpu_ticks "${PID[$t]}")
    rp=()
    for i in $(seq 1 "$k"); do
      want=-1
      [ "$FILE" = meminfo ] && [ "$t" != native ] && want=$(( 256 + i << 10 ))
      [ "$want" = -1 ] && want=""
      sh -c "$(join_script "$i")exec $work/reader $path $SECONDS_PER $want" > "$work/out-$i" &
      rp+=($!)
    done
    wait "${rp[@]}"
    after=0; rss=-; pss=-; [ "$t" = native ] || { after=$(cpu_ticks "${PID[$t]}"); rss=$(rss_kb "${PID[$t]}"); pss=$(pss_kb "${PID[$t]}"); }
    ops=0; wrong=0
    for i in $(seq 1 "$k"); do
      read -r o _ w < "$work/out-$i"
      ops=$((ops + o)); wrong=$((wrong + w))
    done
    for i in $(seq 1 "$k"); do tail -n +2 "$work/out-$i"; done | sort -n > "$work/lat"
    n=$(wc -l < "$work/lat")
    p50=$(sed -n "$(( (n + 1) / 2 ))p" "$work/lat")
    p99=$(sed -n "$(( (n * 99 + 99) / 100 ))p" "$work/lat")
    if [ "$t" = native ]; then cpu="-"; else cpu=$(awk -v d=$((after - before)) -v hz="$hz" -v n="$ops" 'BEGIN{printf "%.1f", d / hz * 1e6 / n}'); fi
    awk -v k="$k" -v t="$t" -v ops="$ops" -v s="$SECONDS_PER" -v p50="$p50" -v p99="$p99" -v cpu="$cpu" -v rss="$rss" -v pss="$pss" -v w="$wrong" \
      'BEGIN{printf "| %d | %s | %.0f | %.1f | %.1f | %s | %s | %s | %d |\n", k, t, ops / s, p50 / 1000, p99 / 1000, cpu, rss, pss, w}'
  done
done
