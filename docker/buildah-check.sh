#!/usr/bin/env bash
# Build docker/Dockerfile WITHOUT a Docker engine and run the image on the bundled sample data.
#
#   bash docker/buildah-check.sh            (what `nox -s image` runs; needs root, buildah and
#                                            debootstrap: apt-get install -y buildah debootstrap)
#
# 1. A local base image stands in for python:3.11-slim-bookworm (Docker Hub may be unreachable):
#    debootstrap of Debian bookworm with python3 (3.11), pip and openjdk-17-jre-headless,
#    imported with buildah as localhost/etl-base:bookworm. Built once, reused while it exists
#    (ETL_IMAGE_REBUILD_BASE=1 rebuilds it; ETL_IMAGE_NO_CACHE=1 also ignores cached layers).
# 2. buildah build --isolation chroot --layers with PYTHON_IMAGE=<that base>, the repository root
#    as context and docker/Dockerfile.dockerignore as ignore file: localhost/etl-app:check.
# 3. buildah run: the image's entrypoint with `run --env local --cmd full` (the etl-app CLI on the
#    bundled sample data) must exit 0 and print SUCCESS.
# Timings and the image size go to stdout and, as JSON, to $ETL_IMAGE_REPORT if set.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE=${ETL_IMAGE_BASE:-localhost/etl-base:bookworm}
APP_IMAGE=${ETL_IMAGE_TAG:-localhost/etl-app:check}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ISOLATION=chroot
export BUILDAH_ISOLATION=$ISOLATION

for tool in buildah debootstrap; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "buildah-check: '$tool' not found: apt-get install -y buildah debootstrap" >&2
    exit 2
  fi
done
if [ "$(id -u)" != 0 ]; then
  echo "buildah-check: run as root (debootstrap and buildah's chroot isolation need it)" >&2
  exit 2
fi

now() { date +%s; }
started=$(now)

# ---- 1. local base image ------------------------------------------------------------------------
base_s=0
if [ "${ETL_IMAGE_REBUILD_BASE:-0}" = 1 ] || ! buildah inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
  t0=$(now)
  rootfs=$(mktemp -d /var/tmp/etl-base.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  debootstrap --variant=minbase \
    --include=python3,python3-pip,python-is-python3,openjdk-17-jre-headless,ca-certificates \
    bookworm "$rootfs" "$MIRROR"
  # Like the official python image: pip may install into the interpreter (no PEP 668 marker),
  # apt lists and caches are not shipped, apt can fetch from the same mirror.
  rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
  echo "deb $MIRROR bookworm main" > "$rootfs/etc/apt/sources.list"
  # Trust the CAs this machine adds (an egress proxy may re-sign TLS): pip, uv (SSL_CERT_FILE)
  # and Java's cacerts (the ca-certificates-java hook) then reach PyPI and Maven Central as here.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    mount -t proc proc "$rootfs/proc"
    chroot "$rootfs" update-ca-certificates --fresh >/dev/null || { umount "$rootfs/proc"; exit 1; }
    umount "$rootfs/proc"
  fi
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
  container=$(buildah from scratch)
  mountpoint=$(buildah mount "$container")
  cp -a "$rootfs"/. "$mountpoint"/
  buildah umount "$container" >/dev/null
  buildah config --env LANG=C.UTF-8 --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd python3 --label org.opencontainers.image.description="local stand-in for python:3.11-slim-bookworm" \
    "$container"
  buildah commit --rm -q "$container" "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
  base_s=$(( $(now) - t0 ))
  echo "buildah-check: base image $BASE_IMAGE built in ${base_s}s"
else
  echo "buildah-check: reusing base image $BASE_IMAGE"
fi

# ---- 2. the etl-app image -----------------------------------------------------------------------
t0=$(now)
no_cache=()
if [ "${ETL_IMAGE_NO_CACHE:-0}" = 1 ]; then no_cache=(--no-cache); fi
buildah build --isolation "$ISOLATION" --layers "${no_cache[@]}" \
  --build-arg PYTHON_IMAGE="$BASE_IMAGE" \
  --ignorefile docker/Dockerfile.dockerignore \
  -f docker/Dockerfile -t "$APP_IMAGE" .
build_s=$(( $(now) - t0 ))
echo "buildah-check: built $APP_IMAGE in ${build_s}s"

# ---- 3. run the image's etl-app on the bundled sample ------------------------------------------
t0=$(now)
container=$(buildah from "$APP_IMAGE")
trap 'buildah rm "$container" >/dev/null 2>&1 || true' EXIT
# The chroot shares the host's network namespace but not its /etc/hosts entry for the container's
# name: Spark binds to loopback.
output=$(buildah run --isolation "$ISOLATION" \
  --env SPARK_LOCAL_IP=127.0.0.1 --env SPARK_LOCAL_HOSTNAME=localhost \
  "$container" -- /usr/bin/tini -- /opt/etl-app/entrypoint.sh run --env local --cmd full 2>&1) || {
  echo "$output" | tail -40
  echo "buildah-check: etl-app run in the image FAILED" >&2
  exit 1
}
run_s=$(( $(now) - t0 ))
echo "$output" | grep -v '^\s*$' | tail -25
if ! grep ": SUCCESS in " <<<"$output"; then
  echo "buildah-check: etl-app run in the image did not report SUCCESS" >&2
  exit 1
fi

total_s=$(( $(now) - started ))
size_h=$(buildah images --noheading --format '{{.Size}}' "$APP_IMAGE" | head -1)
echo "buildah-check: OK image=$APP_IMAGE size=$size_h base_s=$base_s build_s=$build_s run_s=$run_s total_s=$total_s"
if [ -n "${ETL_IMAGE_REPORT:-}" ]; then
  printf '{"image": "%s", "size": "%s", "base_s": %s, "build_s": %s, "run_s": %s, "total_s": %s}\n' \
    "$APP_IMAGE" "$size_h" "$base_s" "$build_s" "$run_s" "$total_s" > "$ETL_IMAGE_REPORT"
fi
