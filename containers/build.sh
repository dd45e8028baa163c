#!/bin/sh
# Builds the suite's image from a commit: containers/Dockerfile (podman or docker) or
# containers/suite.def (apptainer), the same base, lock and install either way.
#
# usage: containers/build.sh [--variant gpu|cpu] [--base registry|rootfs] [--tag NAME]
#                            [--archive FILE.oci.tar] [--apptainer FILE.sif] [--no-cache]
#   --variant    gpu (default): CUDA 13 torch and JAX; cpu: their CPU builds
#   --base       registry (default): the Debian 12 slim image pinned by digest in both recipes;
#                rootfs: a Debian 12 root filesystem made here with mmdebstrap (no registry needed)
#   --tag        image name (default runlab-suite:<variant>)
#   --archive    also save the image as an OCI archive (what `apptainer build` converts to a SIF)
#   --apptainer  build a SIF from containers/suite.def instead of an OCI image
#   --no-cache   rebuild every layer (a rebuild of the same commit gives the same image id)
#
# The source is `git archive` of HEAD (a dirty tree is refused: the image's revision label must say
# what it holds); SOURCE_DATE_EPOCH is HEAD's commit time, so a rebuild gives the same image.
# Wheels are downloaded once per lock into the cache ($SUITE_BUILD_CACHE, default
# ~/.cache/runlab-suite) and hash-checked; the root filesystem is cached there too.
# Environment: CONTAINER_TOOL (podman or docker; default the first found),
# BUILDAH_ISOLATION=chroot where the build may not create namespaces (CI), TORCH_CPU_WHEELS (where
# the cpu variant's torch is found: a folder or page of links; default PyTorch's CPU index).
set -eu
suite=$(cd "$(dirname "$0")/.." && pwd)
variant=gpu base=registry tag="" archive="" sif="" no_cache=""
while [ "$#" -gt 0 ]; do
    case "$1" in
        --no-cache) no_cache=--no-cache; shift; continue ;;
        --variant) variant=$2 ;;
        --base) base=$2 ;;
        --tag) tag=$2 ;;
        --archive) archive=$(realpath -m "$2") ;;
        --apptainer) sif=$(realpath -m "$2") ;;
        *) echo "build: error: unknown argument $1; see the head of $0" >&2; exit 2 ;;
    esac
    shift 2
done
fail() { echo "build: error: $*" >&2; exit 2; }
case "$variant" in gpu | cpu) ;; *) fail "--variant is gpu or cpu, not $variant" ;; esac
case "$base" in registry | rootfs) ;; *) fail "--base is registry or rootfs, not $base" ;; esac
tag=${tag:-runlab-suite:$variant}
lock="$suite/containers/lock/$variant.txt"
cache=${SUITE_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/runlab-suite}

cd "$suite"
[ -z "$(git status --porcelain --untracked-files=no)" ] || fail "the working tree has uncommitted changes; commit them first"
SOURCE_COMMIT=$(git rev-parse HEAD)
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct HEAD)
export SOURCE_DATE_EPOCH

# The lock's wheels, once per lock: every file checked against its sha256 by pip.
wheels="$cache/wheels/$variant-$(sha256sum "$lock" | cut -c1-16)"
if [ ! -f "$wheels/.complete" ]; then
    echo "build: downloading the wheels of $lock into $wheels"
    platforms="--platform manylinux1_x86_64 --platform manylinux2010_x86_64 --platform manylinux2014_x86_64"
    for minor in $(seq 5 36); do platforms="$platforms --platform manylinux_2_${minor}_x86_64"; done  # glibc of Debian 12
    find_links=""
    [ "$variant" = cpu ] && find_links="--find-links ${TORCH_CPU_WHEELS:-https://download.pytorch.org/whl/cpu/torch/}"
    # shellcheck disable=SC2086  # word-split on purpose: repeated --platform options
    python3 -m pip download --quiet --disable-pip-version-check --require-hashes --no-deps --only-binary=:all: \
        --python-version 3.11 --implementation cp $platforms $find_links --requirement "$lock" --dest "$wheels"
    touch "$wheels/.complete"
fi

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
git archive --format=tar "$SOURCE_COMMIT" | tar -x -C "$context"
mkdir "$context/.wheelhouse"
cp -l "$wheels"/*.whl "$context/.wheelhouse/" 2>/dev/null || cp "$wheels"/*.whl "$context/.wheelhouse/"

if [ -n "$sif" ]; then
    [ "$base" = registry ] || fail "--apptainer builds from the registry base; for --base rootfs build the OCI image and convert its --archive"
    cd "$context"
    apptainer build --force --build-arg VARIANT="$variant" --build-arg SOURCE_COMMIT="$SOURCE_COMMIT" \
        --build-arg SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" "$sif" containers/suite.def
    echo "build: $sif"
    exit 0
fi

tool=${CONTAINER_TOOL:-$(command -v podman || command -v docker || true)}
[ -n "$tool" ] || fail "no podman or docker here; set CONTAINER_TOOL or build the SIF with --apptainer"
tool=$(basename "$tool")
set -- --file containers/Dockerfile --tag "$tag" --build-arg VARIANT="$variant" \
    --build-arg SOURCE_COMMIT="$SOURCE_COMMIT" --build-arg SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH"
if [ "$base" = rootfs ]; then
    rootfs="$cache/rootfs/debian-bookworm-python3.tar"
    if [ ! -f "$rootfs" ]; then
        echo "build: making a Debian 12 root filesystem with python3 in $rootfs"
        mkdir -p "$(dirname "$rootfs")"
        partial="${rootfs%.tar}.partial.tar"  # mmdebstrap writes the format its target's suffix names
        mmdebstrap --quiet --variant=minbase --include=python3,python3-venv bookworm "$partial"
        mv "$partial" "$rootfs"
    fi
    base_image="localhost/runlab-base:bookworm-$(sha256sum "$rootfs" | cut -c1-12)"
    "$tool" image inspect "$base_image" >/dev/null 2>&1 || "$tool" import "$rootfs" "$base_image" >/dev/null
    set -- "$@" --build-arg BASE_IMAGE="$base_image"
fi
# podman: OCI format (docker's names the build container, so no two builds match; OCI drops HEALTHCHECK,
# the entrypoint's `check` is the same test), every timestamp the commit's, no history of build ids.
# docker: BuildKit takes SOURCE_DATE_EPOCH from the build argument.
[ "$tool" = podman ] && set -- "$@" --format oci --timestamp "$SOURCE_DATE_EPOCH" --omit-history
"$tool" build $no_cache "$@" "$context"
if [ -n "$archive" ]; then
    "$tool" save --format oci-archive --output "$archive" "$tag" 2>/dev/null || "$tool" save --output "$archive" "$tag"
    echo "build: $archive"
fi
echo "build: $tag $("$tool" image inspect --format '{{.Id}}' "$tag")"
