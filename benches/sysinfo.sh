#!/usr/bin/env bash
# The cost of one sysinfo(2) call answered by vproc (seccomp user notification) against the
# kernel's own: the same loop natively, in `vproc run --no-sysinfo`, and in `vproc run`.
#
#   benches/sysinfo.sh [--calls 100000]
set -euo pipefail
cd "$(dirname "$0")/.."
N=100000
while [ $# -gt 0 ]; do
  case $1 in
    --calls) N=$2; shift ;;
    *) echo "usage: $0 [--calls N]" >&2; exit 2 ;;
  esac
  shift
done
cargo build --release --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/sysinfo" benches/sysinfo.c
VPROC=$PWD/target/release/vproc
echo "| where | ns per sysinfo call | totalram seen |"
echo "|---|---:|---:|"
out=$("$work/sysinfo" "$N"); echo "| native (host) | ${out%% ns*} | ${out##*totalram } |"
out=$("$VPROC" run --cgroup-parent . --memory 256m --no-sysinfo -v "$work:$work" -- "$work/sysinfo" "$N")
echo "| vproc run --no-sysinfo | ${out%% ns*} | ${out##*totalram } |"
out=$("$VPROC" run --cgroup-parent . --memory 256m -v "$work:$work" -- "$work/sysinfo" "$((N / 10))")
echo "| vproc run (answered by vproc) | ${out%% ns*} | ${out##*totalram } |"
