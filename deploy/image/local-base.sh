#!/bin/sh
# Imports a minimal busybox image from the host's busybox-static (apt-get install
# busybox-static), for building the vproc image where no registry is reachable; prints its
# name. DOCKER_HOST is honoured.
#
#   deploy/image/local-base.sh [NAME]
set -eu
name=${1:-vproc-base:busybox}
bb=$(command -v busybox)
ldd "$bb" 2>&1 | grep -q 'not a dynamic' ||
  { echo "local-base.sh: $bb is not static (apt-get install busybox-static)" >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp" "$root/proc" "$root/sys" "$root/dev" "$root/etc" "$root/run" "$root/var/lib"
cp "$bb" "$root/bin/busybox"
for applet in $("$bb" --list); do
  [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
tar -C "$root" -c . | docker import --change 'ENV PATH=/usr/local/bin:/bin' - "$name" >/dev/null
echo "$name"
