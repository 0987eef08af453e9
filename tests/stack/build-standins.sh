#!/usr/bin/env bash
# CI only: builds, from Debian's and PyPI's packages, local stand-ins for the third-party images that the
# stack's files name but that no registry here can serve, and tags each under the official name, so that
# docker-compose.yaml and dockerfiles/ stay exactly what users run. What each stand-in is, and where it differs
# from the real image, is written in docker-compose.ci.yaml beside this script.
#   base:    burnout-ci/debian:bookworm, a `debootstrap --variant=minbase` rootfs with this host's extra CA
#            certificates (packages reach the registries through a TLS-intercepting proxy)
#   python:  python:3.11.13-slim-bookworm                 <- standins/python
#   postgres:17.5-bookworm                                <- standins/postgres
#   valkey/valkey:8.1.4-alpine                            <- standins/valkey
#   quay.io/minio/minio:<tag of docker-compose.yaml>      <- standins/minio
#   apache/airflow:slim-3.3.2-python3.11                  <- standins/airflow
#   haproxy:<tag of docker-compose.yaml>                  <- standins/haproxy
# Needs a running Docker engine, debootstrap and root (for debootstrap). Images already built are kept.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=${STACK_WORK_DIR:-$repo/.stack}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
base=burnout-ci/debian:bookworm

say() { printf '[standins] %s\n' "$*" >&2; }

build_base() {
  docker image inspect "$base" >/dev/null 2>&1 && return
  local rootfs="$work/rootfs"
  rm -rf "$rootfs"
  say "debootstrap bookworm from $mirror"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/" 2>/dev/null || true
  chroot "$rootfs" update-ca-certificates >/dev/null
  # As in the official Debian images: updates and security suites, and no package caches left behind.
  cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import --change 'CMD ["bash"]' - "$base" >/dev/null
  rm -rf "$rootfs"
}

# build <tag> <folder>: the folder is the build context, with the project's lock as pip constraints.
build() {
  local tag=$1 folder=$2 context="$work/context-$2"
  if docker image inspect "$tag" >/dev/null 2>&1; then
    say "$tag: present"
    return
  fi
  say "$tag: building from standins/$folder"
  rm -rf "$context" && cp -r "$here/standins/$folder" "$context"
  cp "$repo/requirements.lock" "$context/constraints.txt"
  # The legacy builder's deprecation notice is noise here: the log is shown only when the build fails.
  docker build --tag "$tag" "$context" >"$work/build-$folder.log" 2>&1 \
    || { tail -30 "$work/build-$folder.log" >&2; say "$tag: build failed"; exit 1; }
  rm -rf "$context"
}

mkdir -p "$work"
build_base
build python:3.11.13-slim-bookworm python
build postgres:17.5-bookworm postgres
build valkey/valkey:8.1.4-alpine valkey
minio_image=$(sed -n 's/^ *image: *\(quay.io\/minio\/minio:[^ ]*\)$/\1/p' "$repo/docker-compose.yaml")
build "${minio_image:?no quay.io/minio/minio image in docker-compose.yaml}" minio
build apache/airflow:slim-3.3.2-python3.11 airflow
haproxy_image=$(sed -n 's/^ *image: *\(haproxy:[^ ]*\)$/\1/p' "$repo/docker-compose.yaml")
build "${haproxy_image:?no haproxy image in docker-compose.yaml}" haproxy

# Every third-party image the stack's files name must now exist locally, or compose would try a registry.
missing=0
for image in $(
  sed -n 's/^FROM \([^ ]*\).*/\1/p' "$repo"/dockerfiles/*/Dockerfile
  sed -n 's/^ *image: *\([^ ]*\)$/\1/p' "$repo/docker-compose.yaml"
); do
  case "$image" in burnout-*) continue ;; esac
  docker image inspect "$image" >/dev/null 2>&1 || { say "no stand-in for $image"; missing=1; }
done
exit "$missing"
