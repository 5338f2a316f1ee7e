#!/bin/sh
# /init of the cgroup v2 test VM (busybox sh as pid 1). The host side is tests/vm/lane.sh, which
# appends /etc/lane.conf and /lane-cmd.sh to the base image.
#
# Serial ports: ttyS0 = kernel console and the final "vproc-lane: EXIT=N" line; ttyS1 = the
# command's stdout and stderr.
export PATH=/payload:/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root TMPDIR=/tmp

finish() {
	echo "vproc-lane: EXIT=$1"
	sync
	poweroff -f
	sleep 5
	exit "$1"
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm /run /tmp /root /var/lib
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
chmod 1777 /tmp
hostname vproc-lane
ip link set lo up 2>/dev/null

while read -r m; do
	[ -n "$m" ] && { insmod "/lib/modules/$m.ko" || echo "vproc-lane: insmod $m failed"; }
done </lib/modules/load-order
[ -c /dev/fuse ] || mknod /dev/fuse c 10 229
chmod 666 /dev/fuse
# 256 MiB of compressed-RAM swap, so swap views have something to show.
if [ -e /sys/block/zram0/disksize ]; then
	echo 268435456 >/sys/block/zram0/disksize && mkswap /dev/zram0 >/dev/null && swapon /dev/zram0
fi

LANE_MODE=v2
[ -f /etc/lane.conf ] && . /etc/lane.conf
CG=/sys/fs/cgroup
if [ "$LANE_MODE" = v2 ]; then
	mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 $CG
	for c in $(cat $CG/cgroup.controllers); do echo "+$c" >$CG/cgroup.subtree_control; done
else
	# hybrid: v1 controllers (cpu and cpuacct co-mounted, as systemd does) plus cgroup2.
	mount -t tmpfs -o mode=755 tmpfs $CG
	for c in $(awk 'NR > 1 && $4 == 1 { print $1 }' /proc/cgroups); do
		case $c in cpu | cpuacct) name=cpu,cpuacct ;; net_cls | net_prio) name=net_cls,net_prio ;; *) name=$c ;; esac
		[ -d "$CG/$name" ] && continue
		mkdir "$CG/$name"
		mount -t cgroup -o "$name" cgroup "$CG/$name"
	done
	# systemd's links for co-mounted controllers.
	ln -s cpu,cpuacct $CG/cpu
	ln -s cpu,cpuacct $CG/cpuacct
	mkdir $CG/systemd $CG/unified
	mount -t cgroup -o none,name=systemd cgroup $CG/systemd
	mount -t cgroup2 cgroup2 $CG/unified
fi

out=/dev/ttyS1
stty -F $out raw -echo 2>/dev/null || out=/dev/console
if [ "${LANE_USERLAND:-busybox}" = host ]; then
	# The host's root, read-only over virtiofs, under a tmpfs overlay; the command runs in it.
	R=/newroot
	mkdir -p /host /ovl $R
	mount -t virtiofs -o ro hostroot /host || finish 125
	mount -t tmpfs -o mode=755 tmpfs /ovl
	mkdir -p /ovl/upper /ovl/work
	mount -t overlay -o lowerdir=/host,upperdir=/ovl/upper,workdir=/ovl/work overlay $R || finish 125
	mkdir -p $R/proc $R/sys $R/dev $R/tmp $R/run $R/payload
	mount -t proc proc $R/proc
	mount --rbind /sys $R/sys
	mount --rbind /dev $R/dev
	mount -t tmpfs -o mode=1777 tmpfs $R/tmp
	mount -t tmpfs -o mode=755 tmpfs $R/run
	mount --bind /payload $R/payload
	# A working directory under /tmp or /run (a CI clone, say) was just covered by a tmpfs:
	# it gets an overlay of its own.
	case $LANE_WORKDIR in
	/tmp/* | /run/*)
		mkdir -p /ovl/wd/upper /ovl/wd/work $R$LANE_WORKDIR
		mount -t overlay -o lowerdir=/host$LANE_WORKDIR,upperdir=/ovl/wd/upper,workdir=/ovl/wd/work overlay $R$LANE_WORKDIR || finish 125
		;;
	esac
	cp /lane-cmd.sh $R/run/lane-cmd.sh
	# The overlay becomes the namespace's root (as switch_root does): programs that setns()
	# into this mount namespace land at its root, which a plain chroot would leave at the
	# initramfs.
	cd $R && mount --move . / || finish 125
	PATH=/payload:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		chroot . /bin/sh -c 'cd "$1" || exit 125; exec /bin/sh /run/lane-cmd.sh' sh "$LANE_WORKDIR" </dev/null >$out 2>&1
	rc=$?
else
	cd /payload
	/bin/sh /lane-cmd.sh </dev/null >$out 2>&1
	rc=$?
fi
stty -F $out raw -echo 2>/dev/null
finish $rc
