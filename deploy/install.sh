#!/bin/sh
# Installs vproc on a host: the binaries, the systemd unit, the OCI hooks.d file (CRI-O,
# podman and the containerd NRI hook injector read /usr/share/containers/oci/hooks.d) and the
# documentation the unit points at. Paths inside the unit and the hook follow --prefix.
#
#   deploy/install.sh [--prefix /usr/local] [--destdir DIR] [--bin-dir target/release]
#                     [--no-systemd] [--no-hooks]
#
# --destdir installs under DIR (packaging; the Kubernetes installer step uses --destdir /host
# with --no-systemd). Files are replaced atomically, so a running vproc-mount is never half
# written. POSIX sh: it also runs in the busybox-based image.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
prefix=/usr/local
destdir=
bin_dir=$root/target/release
systemd=1
hooks=1
while [ $# -gt 0 ]; do
  case $1 in
    --prefix) prefix=$2; shift ;;
    --destdir) destdir=$2; shift ;;
    --bin-dir) bin_dir=$2; shift ;;
    --no-systemd) systemd=0 ;;
    --no-hooks) hooks=0 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

# put SRC DEST MODE: copies next to DEST, then renames over it.
put() {
  mkdir -p "$(dirname "$2")"
  cp "$1" "$2.vproc-new"
  chmod "$3" "$2.vproc-new"
  mv -f "$2.vproc-new" "$2"
  echo "installed $2"
}

for b in vproc vproc-mount; do
  [ -x "$bin_dir/$b" ] || { echo "install.sh: $bin_dir/$b is missing (cargo build --release)" >&2; exit 1; }
  put "$bin_dir/$b" "$destdir$prefix/bin/$b" 755
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ "$hooks" = 1 ]; then
  sed "s#/usr/local/bin/#$prefix/bin/#" "$root/deploy/oci-hooks.d/vproc.json" > "$tmp/vproc.json"
  put "$tmp/vproc.json" "$destdir/usr/share/containers/oci/hooks.d/vproc.json" 644
fi
if [ "$systemd" = 1 ]; then
  for u in vproc.service vproc-sysinfo.service; do
    sed "s#/usr/local/bin/#$prefix/bin/#g" "$root/deploy/systemd/$u" > "$tmp/$u"
    put "$tmp/$u" "$destdir/etc/systemd/system/$u" 644
  done
  for d in operations.md deploy.md serve.md views.md sysinfo.md; do
    put "$root/docs/$d" "$destdir/usr/share/doc/vproc/$d" 644
  done
  [ -n "$destdir" ] || echo "next: systemctl daemon-reload && systemctl enable --now vproc (and vproc-sysinfo, see docs/sysinfo.md)"
fi
