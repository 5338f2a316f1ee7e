# Shared by the benchmark scripts: a scratch dir, test cgroups, daemons, and a cleanup that
# removes all of them on exit (daemons by pid, lazy unmounts and the daemons' state files in
# /run/vproc/serve, rmdir of our own cgroups).
# Needs root and cgroup v1 memory/cpu/cpuacct/cpuset hierarchies.

work=$(mktemp -d /tmp/vproc-bench.XXXXXX)
pids=()
mounts=()
cgroups=()
declare -A PID ROOT
CONTROLLERS="memory cpu cpuacct cpuset"

cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for m in "${mounts[@]}"; do
    umount -l "$m" 2>/dev/null || true
    # A stopped daemon keeps its mount's record (which connections it served, for
    # `remount --all`); a bench's mountpoint is never served again.
    rm -f /run/vproc/serve/"$(printf '%s' "$m" | sed 's/[^A-Za-z0-9.-]/_/g')".*
  done
  for c in "${cgroups[@]}"; do rmdir "$c" 2>/dev/null || true; done
  # Never recurse into a mount that is still there (lxcfs's cgroup tree is the real one).
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

own_cg() { awk -F: -v c="$1" '{n=split($2,a,","); for(i=1;i<=n;i++) if(a[i]==c) {print ($3=="/"?"":$3); exit}}' /proc/self/cgroup; }

cg_dir() { # CONTROLLER I
  echo "/sys/fs/cgroup/$1$(own_cg "$1")/vproc-bench-$$-$2"
}

# make_cgroups N: cgroups 1..N under this script's own cgroup; cgroup i is limited to 256+i MiB.
make_cgroups() {
  local i c d
  for i in $(seq 1 "$1"); do
    for c in $CONTROLLERS; do
      d=$(cg_dir "$c" "$i")
      mkdir -p "$d"; cgroups+=("$d")
      if [ "$c" = cpuset ]; then
        cat "$(dirname "$d")/cpuset.cpus" > "$d/cpuset.cpus"
        cat "$(dirname "$d")/cpuset.mems" > "$d/cpuset.mems"
      fi
    done
    echo $(( (256 + i) << 20 )) > "$(cg_dir memory "$i")/memory.limit_in_bytes"
  done
}

join_script() { # I: shell commands that move the shell into cgroup I
  local s="" c
  for c in $CONTROLLERS; do s+="echo \$\$ > $(cg_dir "$c" "$1")/cgroup.procs; "; done
  printf '%s' "$s"
}

# start_daemon LABEL CMD...: starts CMD MOUNT in the background and waits for the mount. Not to
# be called in $(...): the pid and mount must reach the cleanup lists of this shell.
start_daemon() {
  local label=$1; shift
  local mnt=$work/mnt-$label
  mkdir -p "$mnt"
  "$@" "$mnt" > "$work/$label.log" 2>&1 &
  PID[$label]=$!
  ROOT[$label]=$mnt
  pids+=($!); mounts+=("$mnt")
  for _ in $(seq 100); do [ -e "$mnt/proc/meminfo" ] && break; sleep 0.1; done
}

# A daemon and its children (vproc serve's supervisor and its worker).
tree() { echo "$1"; cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -v '^$' || true; }
cpu_ticks() { for p in $(tree "$1"); do awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null; done | awk '{s += $1} END {print s + 0}'; }
rss_kb() { for p in $(tree "$1"); do awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null; done | awk '{s += $1} END {print s + 0}'; }
# Proportional set size: pages shared between the processes (the binary, libc) counted once.
pss_kb() { for p in $(tree "$1"); do awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null; done | awk '{s += $1} END {print s + 0}'; }
