#!/usr/bin/env bash
# Fuzzes every target of vproc's parsers for a while each (default 60 s), on the stable
# toolchain (no sanitizer: the targets are safe Rust, so a panic or an abort is what is found).
# A crashing input is copied into tests/fuzz-regressions/<target>/, where
# `cargo test --test fuzz_regressions` replays it for good.
#
#   fuzz/run.sh [--seconds N] [TARGET...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). Corpora stay in fuzz/corpus/ (not committed).
set -euo pipefail
cd "$(dirname "$0")"
SECS=60
if [ "${1:-}" = --seconds ]; then SECS=$2; shift 2; fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(kernel_text cgroup_files mountinfo fuse_request views state_files)
status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t" "../tests/fuzz-regressions/$t"
  # Start from real inputs: the fixture trees' files and the kept regression inputs.
  if [ -z "$(ls -A "corpus/$t")" ]; then
    find ../tests/fixtures -type f -size -64k -exec cp -t "corpus/$t" {} + 2>/dev/null || true
    cp ../tests/fuzz-regressions/"$t"/* "corpus/$t/" 2>/dev/null || true
  fi
  echo "== $t ($SECS s)"
  if ! cargo fuzz run -s none "$t" "corpus/$t" -- -max_total_time="$SECS" -rss_limit_mb=2048 \
       -artifact_prefix="artifacts/$t/" 2>&1 | tail -n 4; then
    status=1
  fi
  for a in artifacts/"$t"/crash-* artifacts/"$t"/oom-* artifacts/"$t"/timeout-*; do
    [ -e "$a" ] || continue
    cp "$a" "../tests/fuzz-regressions/$t/"
    echo "$t: kept $(basename "$a") as a regression input"
    status=1
  done
done
exit $status
