#!/usr/bin/env bash
# Runs a command inside a throwaway QEMU VM whose kernel has cgroup v2 only (or, with
# --mode hybrid, v1 controllers plus a cgroup2 mount), as root, with /dev/fuse; exits with the
# command's status. Used by .ci/run to run the tests on a real v2 kernel.
#
#   tests/vm/lane.sh [--mode v2|hybrid] [--userland busybox|host] [-i PATH]... [-e VAR=VAL]...
#                    -- COMMAND [ARGS...]
#
# -i copies a file or directory into the guest's /payload (dynamic ELF files get their shared
# libraries at the same paths). The guest is a Debian cloud kernel (fetched once with
# `apt-get download` into $VPROC_VM_CACHE, default /var/cache/vproc-vm) and a busybox initramfs;
# no disk, no network but loopback, 2 vCPUs under software emulation. Needs qemu-system-x86 and
# busybox-static. Status 124: timeout; 125: the VM or this script failed.
#
# --userland host runs COMMAND in the host's own root filesystem instead (procps, Python, Java,
# Node, runc, the build directory, at their host paths), shared read-only over virtiofs with a
# tmpfs overlay for writes (nothing on the host is written), in the current directory. It
# needs QEMU's virtiofsd (Debian's qemu-system-x86 has /usr/lib/qemu/virtiofsd).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${VPROC_VM_CACHE:-/var/cache/vproc-vm}
MODE=v2
USERLAND=busybox
TIMEOUT=${VPROC_VM_TIMEOUT:-600}
INCLUDES=()
ENVS=()
die() { echo "vproc-lane: $*" >&2; exit 125; }
while [ $# -gt 0 ]; do
	case $1 in
	--mode) MODE=$2; shift 2 ;;
	--userland) USERLAND=$2; shift 2 ;;
	-i) INCLUDES+=("$2"); shift 2 ;;
	-e) ENVS+=("$2"); shift 2 ;;
	--) shift; break ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || die "usage: $0 [--mode v2|hybrid] [-i PATH]... [-e VAR=VAL]... -- COMMAND [ARGS...]"
case $MODE in v2 | hybrid) ;; *) die "--mode is v2 or hybrid" ;; esac
case $USERLAND in busybox | host) ;; *) die "--userland is busybox or host" ;; esac
VIRTIOFSD=
if [ "$USERLAND" = host ]; then
	for v in /usr/lib/qemu/virtiofsd /usr/libexec/virtiofsd; do [ -x "$v" ] && VIRTIOFSD=$v && break; done
	[ -n "$VIRTIOFSD" ] || die "--userland host needs virtiofsd (apt-get install qemu-system-x86)"
fi
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing: apt-get install qemu-system-x86"
BUSYBOX=/bin/busybox
[ -x $BUSYBOX ] && ! ldd $BUSYBOX >/dev/null 2>&1 || die "a static /bin/busybox is needed: apt-get install busybox-static"

# The kernel: the package the cloud metapackage depends on, unpacked once.
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
KPKG=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
if [ -z "$KPKG" ]; then
	KPKG=$(cd "$CACHE" && ls -d linux-image-*-cloud-amd64 2>/dev/null | sort -V | tail -n1)
fi
[ -n "$KPKG" ] || die "cannot find the cloud kernel package (apt-get update first)"
KDIR=$CACHE/$KPKG
if [ ! -f "$KDIR/.complete" ]; then
	echo "vproc-lane: fetching $KPKG (once)" >&2
	rm -rf "$KDIR"
	mkdir -p "$KDIR"
	(cd "$KDIR" && apt-get download "$KPKG" >/dev/null 2>&1) || { apt-get update -qq; (cd "$KDIR" && apt-get download "$KPKG" >/dev/null); } || die "apt-get download $KPKG failed"
	dpkg-deb -x "$KDIR"/*.deb "$KDIR/root"
	rm -f "$KDIR"/*.deb
	touch "$KDIR/.complete"
fi
VMLINUZ=$(ls "$KDIR"/root/boot/vmlinuz-* | head -n1)
KVER=${VMLINUZ##*/vmlinuz-}
MODDIR=$KDIR/root/lib/modules/$KVER

# Modules the tests need that are not built in, with their dependencies first.
declare -A SEEN=()
ORDER=()
add_module() {
	local n=$1 p d
	[ -z "${SEEN[$n]:-}" ] || return 0
	SEEN[$n]=1
	grep -q "/$n.ko$" "$MODDIR/modules.builtin" 2>/dev/null && return 0
	p=$(find "$MODDIR/kernel" -name "$n.ko*" -print -quit)
	[ -n "$p" ] || die "module $n not in $KPKG"
	local deps
	deps=$(case $p in *.xz) xz -dc "$p" ;; *.zst) zstd -dcq "$p" ;; *) cat "$p" ;; esac | tr '\0' '\n' | sed -n 's/^depends=//p' | tr , ' ')
	for d in $deps; do add_module "$d"; done
	ORDER+=("$n:$p")
}
# fuse for vproc serve, overlay for vproc run --overlay (and the host userland's root), zram
# (and its default compressor) for a swap device, virtio_pci and virtiofs for the host userland.
for m in fuse overlay zram lzo-rle virtio_pci virtiofs; do add_module $m; done

BASE=$CACHE/base-$KPKG-$( { cat "$HERE/init.sh" $BUSYBOX; echo "${ORDER[*]}"; } | sha256sum | cut -c1-12).cpio
if [ ! -f "$BASE" ]; then
	st=$(mktemp -d)
	mkdir -p "$st"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,payload,lib/modules}
	cp $BUSYBOX "$st/bin/busybox"
	for a in $($BUSYBOX --list); do [ "$a" = busybox ] || ln -s busybox "$st/bin/$a"; done
	install -m 755 "$HERE/init.sh" "$st/init"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$st/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$st/etc/group"
	: >"$st/lib/modules/load-order"
	for e in "${ORDER[@]}"; do
		n=${e%%:*} p=${e#*:}
		case $p in *.xz) xz -dc "$p" ;; *.zst) zstd -dcq "$p" ;; *) cat "$p" ;; esac >"$st/lib/modules/$n.ko"
		echo "$n" >>"$st/lib/modules/load-order"
	done
	(cd "$st" && find . | LC_ALL=C sort | $BUSYBOX cpio -o -H newc 2>/dev/null) >"$BASE.tmp"
	mv "$BASE.tmp" "$BASE"
	rm -rf "$st"
fi
flock -u 9

WORK=$(mktemp -d /tmp/vproc-lane.XXXXXX)
QPID=
VPID=
cleanup() {
	[ -z "$QPID" ] || kill "$QPID" 2>/dev/null || true
	[ -z "$VPID" ] || kill "$VPID" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

P=$WORK/payload
mkdir -p "$P/payload" "$P/etc"
copy_libs() {
	local f=$1 lib
	head -c 4 "$f" 2>/dev/null | grep -q $'^\x7fELF' || return 0
	ldd "$f" >/dev/null 2>&1 || return 0
	for lib in $(ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
		[ -e "$P$lib" ] && continue
		mkdir -p "$P$(dirname "$lib")"
		cp -L "$lib" "$P$lib"
	done
}
for i in "${INCLUDES[@]}"; do
	[ -e "$i" ] || die "no such file: $i"
	cp -a "$i" "$P/payload/"
	while IFS= read -r -d '' f; do copy_libs "$f"; done < <(find "$P/payload/$(basename "$i")" -type f -perm -u+x -print0)
done
q() { local s=${1//\'/\'\\\'\'}; printf "'%s'" "$s"; }
{
	echo "LANE_MODE=$MODE"
	echo "LANE_USERLAND=$USERLAND"
	echo "LANE_WORKDIR=$(q "$PWD")"
} >"$P/etc/lane.conf"
{
	for e in "${ENVS[@]}"; do echo "export ${e%%=*}=$(q "${e#*=}")"; done
	printf 'exec'
	for a in "$@"; do printf ' %s' "$(q "$a")"; done
	echo
} >"$P/lane-cmd.sh"
(cd "$P" && find . | LC_ALL=C sort | $BUSYBOX cpio -o -H newc 2>/dev/null) >"$WORK/payload.cpio"
cat "$BASE" "$WORK/payload.cpio" >"$WORK/initrd"

KARGS="console=ttyS0 quiet panic=-1 oops=panic"
if [ "$MODE" = v2 ]; then KARGS="$KARGS cgroup_no_v1=all"; fi
QEMU_HOST=()
if [ "$USERLAND" = host ]; then
	# sandbox=chroot: the default namespace sandbox cannot pivot_root with source=/.
	"$VIRTIOFSD" --socket-path="$WORK/vfs.sock" -o source=/ -o sandbox=chroot -o cache=auto \
		-o no_posix_lock -o no_flock -o log_level=err &
	VPID=$!
	for _ in $(seq 100); do [ -S "$WORK/vfs.sock" ] && break; sleep 0.05; done
	[ -S "$WORK/vfs.sock" ] || die "virtiofsd did not start"
	# vhost-user needs the guest's memory shared (a memfd backend).
	QEMU_HOST=(-object memory-backend-memfd,id=mem,size=2048M,share=on -numa node,memdev=mem
		-chardev "socket,id=vfs,path=$WORK/vfs.sock" -device vhost-user-fs-pci,chardev=vfs,tag=hostroot)
fi
timeout -k 5 "$TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -m 2048 -smp 2 "${QEMU_HOST[@]}" \
	-no-reboot -display none -monitor none -nodefaults -vga none \
	-serial "file:$WORK/console" -serial "file:$WORK/out" \
	-kernel "$VMLINUZ" -initrd "$WORK/initrd" -append "$KARGS" </dev/null &
QPID=$!
set +e
wait $QPID
qrc=$?
set -e
QPID=
tr -d '\r' <"$WORK/out"
rc=$(grep -a -o 'vproc-lane: EXIT=[0-9]*' "$WORK/console" | tail -n1 | cut -d= -f2 || true)
if [ -z "$rc" ]; then
	[ "$qrc" = 124 ] && rc=124 || rc=125
	echo "vproc-lane: the VM ended without a status (qemu $qrc); console:" >&2
	tail -n 40 "$WORK/console" | tr -d '\r' >&2
fi
echo "vproc-lane: mode=$MODE userland=$USERLAND kernel=$KVER exit=$rc" >&2
exit "$rc"
