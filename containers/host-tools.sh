#!/bin/sh
# Installs what builds and runs the image on a Debian/Ubuntu host without a Docker daemon or Apptainer
# (CI, as root): podman and buildah to build and run it, mmdebstrap for the base root filesystem.
# Idempotent: does nothing when all three are there.
set -eu
missing=""
for tool in podman buildah mmdebstrap; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
[ -n "$missing" ] || exit 0
[ "$(id -u)" = 0 ] || { echo "host-tools: error:$missing missing; run as root to install them" >&2; exit 1; }
echo "host-tools: installing$missing"
apt-get update -qq
# shellcheck disable=SC2086  # one package per word
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing uidmap >/dev/null
