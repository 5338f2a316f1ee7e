#!/usr/bin/env bash
# Memory soak: vproc serving K readers (one per cgroup, every view in turn) for M minutes,
# sampling the daemon's RSS every 30 s; prints a Markdown table. RSS should stay flat.
#
#   benches/soak.sh [--minutes 10] [--readers 128]
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=10
K=128
while [ $# -gt 0 ]; do
  case $1 in
    --minutes) MINUTES=$2; shift ;;
    --readers) K=$2; shift ;;
    *) echo "usage: $0 [--minutes M] [--readers K]" >&2; exit 2 ;;
  esac
  shift
done
. benches/lib.sh

cargo build --release --quiet
make_cgroups "$K"
start_daemon vproc "$PWD/target/release/vproc" serve
mnt=${ROOT[vproc]}
for i in $(seq 1 "$K"); do
  sh -c "$(join_script "$i")exec sh -c 'while :; do for f in proc/meminfo proc/cpuinfo proc/stat proc/uptime proc/loadavg proc/swaps proc/diskstats sys/devices/system/cpu/online; do cat $mnt/\$f > /dev/null; done; done'" &
  pids+=($!)
done
echo "| minute | daemon RSS kB | daemon PSS kB | daemon CPU s |"
echo "|---:|---:|---:|---:|"
hz=$(getconf CLK_TCK)
end=$(( $(date +%s) + MINUTES * 60 ))
start=$(date +%s)
while :; do
  now=$(date +%s)
  awk -v m="$(( (now - start) / 60 )).$(( (now - start) % 60 * 10 / 60 ))" -v r="$(rss_kb "${PID[vproc]}")" -v p="$(pss_kb "${PID[vproc]}")" -v c="$(cpu_ticks "${PID[vproc]}")" -v hz="$hz" \
    'BEGIN{printf "| %s | %d | %d | %.1f |\n", m, r, p, c / hz}'
  [ "$now" -ge "$end" ] && break
  sleep 30
done
