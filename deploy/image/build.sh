#!/bin/sh
# Builds the vproc image: static binaries (glibc, crt-static), the deployment files, and
# Dockerfile on top of BASE (any image with a POSIX shell; busybox by default).
#
#   deploy/image/build.sh [--tag TAG] [--base IMAGE] [--target-dir DIR]
#
# Without a registry, make a base first: deploy/image/local-base.sh prints the name of a
# busybox image it imported from the host's busybox-static. DOCKER_HOST is honoured.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)
tag=ghcr.io/vproc/vproc:$version
base=
target_dir=$root/target/static
while [ $# -gt 0 ]; do
  case $1 in
    --tag) tag=$2; shift ;;
    --base) base=$2; shift ;;
    --target-dir) target_dir=$2; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
triple=$(rustc -vV | sed -n 's/^host: //p')
(cd "$root" && RUSTFLAGS="-C target-feature=+crt-static" \
  CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=symbols \
  cargo build --release --locked --target "$triple" --target-dir "$target_dir")
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/bin" "$ctx/share/deploy" "$ctx/share/docs"
cp "$target_dir/$triple/release/vproc" "$target_dir/$triple/release/vproc-mount" "$ctx/bin/"
cp -R "$root/deploy/systemd" "$root/deploy/oci-hooks.d" "$root/deploy/install.sh" "$ctx/share/deploy/"
cp "$root"/docs/*.md "$ctx/share/docs/"
cp "$here/Dockerfile" "$ctx/"
set -- --tag "$tag"
[ -z "$base" ] || set -- "$@" --build-arg "BASE=$base"
docker build --quiet "$@" "$ctx" >/dev/null
echo "$tag"
