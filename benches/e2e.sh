#!/usr/bin/env bash
# End-to-end read benchmark: the kernel's /proc, lxcfs (if installed) and every path vproc
# offers, in one run, with K concurrent readers each in its own memory-limited cgroup (so K
# containers); prints a Markdown table and draws a chart (SVG) of reads/s and p99 per path.
#
#   benches/e2e.sh [--seconds S] [--readers 1,16,128] [--file meminfo] [--no-lxcfs]
#                  [--chart FILE.svg] [--cache-ms N] [--baseline VPROC_BINARY]
#
# Paths:
#   native           /proc/meminfo (the kernel; the cost floor, not virtualized)
#   lxcfs            LXCFS/proc/meminfo
#   vproc-container  VPROC/by-pid/<reader pid>/proc/meminfo: the container's own file, as
#                    vproc run, vproc-mount, the OCI hook and the NRI path bind it
#   vproc-bound      the shared file bound over /proc/meminfo from inside the container (a new
#                    mount and pid namespace), as runc does for `docker run -v`
#   vproc-shared     VPROC/proc/meminfo read by path from the host's pid namespace
#   baseline         with --baseline: another vproc build's VPROC/proc/meminfo, read by path
#                    (to compare a change with what it replaces, in the same run)
#
# Needs root, gcc, util-linux (unshare) and cgroup v1 memory/cpu/cpuacct/cpuset hierarchies.
# Everything it creates (mounts, daemons, cgroups vproc-bench-*) is removed on exit
# (benches/lib.sh). Readers start at one instant, so K readers really overlap.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER=3
READERS=1,16,128
FILE=meminfo
LXCFS=1
CHART=
CACHE_MS=100
BASELINE=
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) SECONDS_PER=$2; shift ;;
    --readers) READERS=$2; shift ;;
    --file) FILE=$2; shift ;;
    --no-lxcfs) LXCFS=0 ;;
    --chart) CHART=$2; shift ;;
    --cache-ms) CACHE_MS=$2; shift ;;
    --baseline) BASELINE=$2; shift ;;
    *) echo "usage: $0 [--seconds S] [--readers LIST] [--file NAME] [--no-lxcfs] [--chart FILE] [--cache-ms N]" >&2; exit 2 ;;
  esac
  shift
done
command -v lxcfs >/dev/null || LXCFS=0

. benches/lib.sh

cargo build --release --quiet
gcc -O2 -o "$work/reader" benches/reader.c
VPROC=$PWD/target/release/vproc

make_cgroups "$(tr , '\n' <<<"$READERS" | sort -n | tail -1)"

start_daemon vproc "$VPROC" serve --cache-ms "$CACHE_MS"
targets=(native vproc-container vproc-bound vproc-shared)
if [ $LXCFS = 1 ]; then
  start_daemon lxcfs lxcfs -p "$work/lxcfs.pid"
  targets=(native lxcfs vproc-container vproc-bound vproc-shared)
fi
if [ -n "$BASELINE" ]; then
  start_daemon baseline "$BASELINE" serve --cache-ms "$CACHE_MS"
  targets+=(baseline)
fi
daemon_of() { case $1 in vproc*) echo vproc ;; lxcfs) echo lxcfs ;; baseline) echo baseline ;; *) echo "" ;; esac; }

# reader_cmd TARGET I START_AT: the shell command of reader I (run in its cgroup).
reader_cmd() {
  local t=$1 i=$2 at=$3 want=-
  [ "$FILE" = meminfo ] && [ "$t" != native ] && want=$(( 256 + i << 10 ))
  local r="$work/reader"
  case $t in
    native) echo "exec $r /proc/$FILE $SECONDS_PER $want hist $at" ;;
    lxcfs) echo "exec $r ${ROOT[lxcfs]}/proc/$FILE $SECONDS_PER $want hist $at" ;;
    vproc-container) echo "exec $r ${ROOT[vproc]}/by-pid/\$\$/proc/$FILE $SECONDS_PER $want hist $at" ;;
    vproc-shared) echo "exec $r ${ROOT[vproc]}/proc/$FILE $SECONDS_PER $want hist $at" ;;
    baseline) echo "exec $r ${ROOT[baseline]}/proc/$FILE $SECONDS_PER $want hist $at" ;;
    vproc-bound) echo "exec unshare --mount --propagation private --pid --fork sh -c 'mount --bind ${ROOT[vproc]}/proc/$FILE /proc/$FILE && exec $r /proc/$FILE $SECONDS_PER $want hist $at'" ;;
  esac
}

hz=$(getconf CLK_TCK)
results=$work/results.tsv
: > "$results"

echo "| readers | path | reads/s | × lxcfs | × native | p50 µs | p99 µs | daemon CPU µs/read | daemon PSS kB | wrong values |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for k in ${READERS//,/ }; do
  declare -A RATE=()
  for t in "${targets[@]}"; do
    d=$(daemon_of "$t")
    before=0; [ -z "$d" ] || before=$(cpu_ticks "${PID[$d]}")
    at=$(( $(date +%s%N) + 300000000 + k * 3000000 ))
    rp=()
    for i in $(seq 1 "$k"); do
      sh -c "$(join_script "$i")$(reader_cmd "$t" "$i" "$at")" > "$work/out-$i" &
      rp+=($!)
    done
    wait "${rp[@]}"
    after=0; pss=-; [ -z "$d" ] || { after=$(cpu_ticks "${PID[$d]}"); pss=$(pss_kb "${PID[$d]}"); }
    ops=0; wrong=0; errors=0
    for i in $(seq 1 "$k"); do
      read -r o e w < "$work/out-$i"
      ops=$((ops + o)); wrong=$((wrong + w)); errors=$((errors + e))
    done
    # Merge the readers' histograms, then take percentiles.
    for i in $(seq 1 "$k"); do tail -n +2 "$work/out-$i"; done |
      awk '{c[$1] += $2} END {for (b in c) print b, c[b]}' | sort -n > "$work/hist"
    read -r p50 p99 < <(awk '{b[NR] = $1; c[NR] = $2; n += $2} END {
        s = 0; p50 = p99 = 0
        for (i = 1; i <= NR; i++) { s += c[i]; if (!p50 && s >= n * 0.5) p50 = b[i]; if (!p99 && s >= n * 0.99) p99 = b[i] }
        print p50, p99 }' "$work/hist")
    rate=$(awk -v o="$ops" -v s="$SECONDS_PER" 'BEGIN{printf "%.0f", o / s}')
    RATE[$t]=$rate
    if [ -z "$d" ]; then cpu="-"; else cpu=$(awk -v d=$((after - before)) -v hz="$hz" -v n="$ops" 'BEGIN{printf "%.1f", n ? d / hz * 1e6 / n : 0}'); fi
    xl=-; [ -n "${RATE[lxcfs]:-}" ] && [ "$t" != native ] && xl=$(awk -v a="$rate" -v b="${RATE[lxcfs]}" 'BEGIN{printf "%.1f×", a / b}')
    xn=$(awk -v a="$rate" -v b="${RATE[native]}" 'BEGIN{printf "%.2f×", a / b}')
    printf "| %d | %s | %s | %s | %s | %.1f | %.1f | %s | %s | %d |\n" "$k" "$t" "$rate" "$xl" "$xn" \
      "$(awk -v v="$p50" 'BEGIN{print v / 1000}')" "$(awk -v v="$p99" 'BEGIN{print v / 1000}')" "$cpu" "$pss" "$((wrong + errors))"
    printf "%s\t%s\t%s\t%s\n" "$k" "$t" "$rate" "$p99" >> "$results"
  done
done

[ -z "$CHART" ] && exit 0
# The chart: for each reader count, reads/s (log scale) and p99 (log scale) per path.
awk -F'\t' -v out="$CHART" '
  function lg(v) { return v > 0 ? log(v) / log(10) : 0 }
  { k[NR] = $1; t[NR] = $2; r[NR] = $3; p[NR] = $4 / 1000; if (!(($1) in seen)) { seen[$1] = 1; ks[++nk] = $1 }
    if (!(($2) in tseen)) { tseen[$2] = 1; ts[++nt] = $2 } n = NR }
  END {
    color["native"] = "#888888"; color["lxcfs"] = "#d62728"; color["vproc-container"] = "#1f77b4"
    color["vproc-bound"] = "#2ca02c"; color["vproc-shared"] = "#9467bd"; color["baseline"] = "#ff7f0e"
    W = 980; H = 420; bw = 16; gx = 70
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H > out
    printf "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n" > out
    for (panel = 0; panel < 2; panel++) {
      x0 = 60 + panel * (W / 2); y0 = 40; ph = 300; pw = W / 2 - 90
      title = panel == 0 ? "reads/s (log scale, higher is better)" : "p99 latency µs (log scale, lower is better)"
      printf "<text x=\"%d\" y=\"24\" font-weight=\"bold\">%s</text>\n", x0, title > out
      lo = panel == 0 ? 2 : 0; hi = panel == 0 ? 7 : 6
      for (e = lo; e <= hi; e++) {
        y = y0 + ph - (e - lo) / (hi - lo) * ph
        printf "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", x0, x0 + pw, y, y > out
        printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">1e%d</text>\n", x0 - 4, y + 4, e > out
      }
      for (j = 1; j <= nk; j++) {
        gx0 = x0 + 10 + (j - 1) * (pw / nk)
        printf "<text x=\"%.1f\" y=\"%d\">%d reader%s</text>\n", gx0, y0 + ph + 18, ks[j], ks[j] == 1 ? "" : "s" > out
        m = 0
        for (i = 1; i <= n; i++) if (k[i] == ks[j]) {
          v = panel == 0 ? r[i] : p[i]
          h = (lg(v) - lo) / (hi - lo) * ph; if (h < 1) h = 1
          printf "<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" fill=\"%s\"><title>%s %s: %s</title></rect>\n", gx0 + m * (bw + 2), y0 + ph - h, bw, h, color[t[i]], ks[j], t[i], v > out
          m++
        }
      }
    }
    for (i = 1; i <= nt; i++) {
      lx = 60 + (i - 1) * 150
      printf "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/><text x=\"%d\" y=\"%d\">%s</text>\n", lx, H - 40, color[ts[i]], lx + 16, H - 30, ts[i] > out
    }
    print "</svg>" > out
  }' "$results"
echo "chart: $CHART"
