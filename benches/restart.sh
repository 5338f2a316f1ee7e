#!/usr/bin/env bash
# Stall benchmark: K readers (one per cgroup) read meminfo in a loop while the daemon is
# upgraded N times (`vproc upgrade`) and then has its worker SIGKILLed N times. With --unit,
# the daemon runs from the shipped systemd unit under tests/tools/systemd_emulator.py, and N
# `systemctl restart`s, N crashes of the whole service and N `systemctl reload`s follow. For
# each event, the stall is the longest read that overlapped it; prints p50/p99/max per kind and
# the throughput dip (reads per 100 ms at the event's worst bin, against the run's median bin).
#
#   benches/restart.sh [--events 20] [--readers 4] [--unit]
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=20
K=4
UNIT=0
while [ $# -gt 0 ]; do
  case $1 in
    --events) EVENTS=$2; shift ;;
    --readers) K=$2; shift ;;
    --unit) UNIT=1 ;;
    *) echo "usage: $0 [--events N] [--readers K] [--unit]" >&2; exit 2 ;;
  esac
  shift
done
. benches/lib.sh

cargo build --release --quiet
gcc -O2 -o "$work/reader" benches/reader.c
VPROC=$PWD/target/release/vproc
make_cgroups "$K"
if [ "$UNIT" = 1 ]; then
  # The shipped unit's own command lines, driven one action at a time through a fifo.
  mnt=$work/mnt-unit
  mkdir -p "$mnt"
  mounts+=("$mnt")
  mkfifo "$work/unit.in"
  # Its notify socket's directory goes in $work: the cleanup ends it by signal, not by the
  # end of its input, which is when it removes that directory itself.
  TMPDIR=$work python3 tests/tools/systemd_emulator.py deploy/systemd/vproc.service \
    --replace "/usr/local/bin/vproc-mount=$PWD/target/release/vproc-mount" \
    --replace "/usr/local/bin/vproc=$VPROC" --replace "/var/lib/vproc=$mnt" \
    < "$work/unit.in" > "$work/unit.out" 2> "$work/unit.log" &
  pids+=($!)
  exec 7> "$work/unit.in"
  unit() { # ACTION: runs it and waits for its answer
    local n
    n=$(wc -l < "$work/unit.out")
    echo "$1" >&7
    while [ "$(wc -l < "$work/unit.out")" -le "$n" ]; do sleep 0.001; done
    tail -1 "$work/unit.out" | grep -q '^ok ' || { tail -1 "$work/unit.out" >&2; exit 1; }
  }
  unit start
else
  start_daemon vproc "$VPROC" serve
  mnt=${ROOT[vproc]}
fi
status_file=$(ls /run/vproc/serve/*"$(basename "$work")"*mnt-*.status)

# Readers run until every event is done (they stop on SIGTERM and print what they measured).
secs=3600
for i in $(seq 1 "$K"); do
  sh -c "$(join_script "$i")exec $work/reader $mnt/proc/meminfo $secs - ts" > "$work/out-$i" &
  pids+=($!)
done
sleep 1
# A second with no event: the noise floor (scheduling on a busy machine) to read stalls against.
quiet_start=$(date +%s%N); sleep 1; quiet_end=$(date +%s%N)
: > "$work/events"
kinds="upgrade crash"
for _ in $(seq 1 "$EVENTS"); do
  s=$(date +%s%N); "$VPROC" upgrade "$mnt" > /dev/null; e=$(date +%s%N)
  echo "upgrade $s $e" >> "$work/events"; sleep 0.1
done
for _ in $(seq 1 "$EVENTS"); do
  gen=$(awk '/generation/{print $2}' "$status_file")
  w=$(awk '/worker/{print $2}' "$status_file")
  s=$(date +%s%N); kill -KILL "$w"
  while [ "$(awk '/generation/{print $2}' "$status_file" 2>/dev/null)" = "$gen" ]; do sleep 0.001; done
  e=$(date +%s%N)
  echo "crash $s $e" >> "$work/events"; sleep 0.1
done
if [ "$UNIT" = 1 ]; then
  kinds="$kinds service-restart service-crash service-reload"
  for action in restart crash reload; do
    for _ in $(seq 1 "$EVENTS"); do
      s=$(date +%s%N); unit "$action"; e=$(date +%s%N)
      echo "service-$action $s $e" >> "$work/events"; sleep 0.1
    done
  done
fi
sleep 0.5
readers=("${pids[@]:$((${#pids[@]} - K))}")
kill -TERM "${readers[@]}"
wait "${readers[@]}"
# The service stopped as systemctl would (its stop flushes the store and unmounts).
if [ "$UNIT" = 1 ]; then unit stop; fi
for i in $(seq 1 "$K"); do tail -n +2 "$work/out-$i"; done | sort -n > "$work/reads"
total=0; errors=0
for i in $(seq 1 "$K"); do read -r o e _ < "$work/out-$i"; total=$((total + o)); errors=$((errors + e)); done

# Per event: the longest read overlapping it, and the emptiest 100 ms bin it touched.
awk -v bin=100000000 '
  FILENAME == ARGV[1] { kind[NR] = $1; s[NR] = $2; e[NR] = $3 + 100000000; n = NR; if (NR == 1) t0 = $2; next }
  {
    start = $1; end = $1 + $2
    bins[sprintf("%.0f", int(end / bin))]++
    for (i = 1; i <= n; i++) if (start <= e[i] && end >= s[i] && $2 > worst[i]) worst[i] = $2
  }
  END {
    for (b in bins) print "BIN", bins[b]
    for (i = 1; i <= n; i++) {
      mn = -1
      for (b = int(s[i] / bin); b <= int(e[i] / bin); b++) { key = sprintf("%.0f", b); c = (key in bins) ? bins[key] : 0; if (mn < 0 || c < mn) mn = c }
      print "EV", kind[i], worst[i] / 1e6, mn, (s[i] - t0) / 1e6
    }
  }' "$work/events" "$work/reads" > "$work/summary"
median=$(awk '$1 == "BIN" {print $2}' "$work/summary" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
echo "| event | runs | stall p50 ms | stall p99 ms | stall max ms | worst 100 ms bin / median bin |"
echo "|---|---:|---:|---:|---:|---:|"
for kind in $kinds; do
  awk -v k="$kind" '$1 == "EV" && $2 == k {print $3, $4}' "$work/summary" | sort -n |
    awk -v k="$kind" -v med="$median" '{ st[NR] = $1; if (NR == 1 || $2 < dip) dip = $2 }
      END { printf "| %s | %d | %.2f | %.2f | %.2f | %.2f |\n", k, NR, st[int((NR + 1) / 2)], st[int((NR * 99 + 99) / 100)], st[NR], dip / med }'
done
awk -v s="$quiet_start" -v e="$quiet_end" '$1 >= s && $1 + $2 <= e && $2 > w { w = $2 } END {
  printf "| (no event: 1 s noise floor) | - | - | - | %.2f | - |\n", w / 1e6 }' "$work/reads"
echo
echo "reads: $total, failed: $errors, median reads per 100 ms: $median"
