#!/bin/bash
# Stands in for `podman` where podman cannot start a container (this machine gives it no cgroup
# delegation): takes the `podman run` that runlab's podman runtime builds and runs the same image, with
# the same variables, binds and working directory, through `buildah run`. Other podman commands pass on.
set -euo pipefail
[ "${1:-}" = run ] || exec /usr/bin/podman "$@"
shift
options=()
while [ $# -gt 0 ]; do
    case $1 in
        --env)  # NAME, or podman's NAME* prefix glob: the value comes from this (the job step's) environment
            shift
            for name in $(compgen -e "${1%\*}"); do
                if [[ $1 == *'*' || $name == "$1" ]]; then options+=(--env "$name=${!name}"); fi
            done ;;
        --volume) shift; options+=(--volume "$1") ;;
        --workdir) shift; options+=(--workingdir "$1") ;;
        --entrypoint) shift; entrypoint=$1 ;;
        --rm | --network=host | --userns=keep-id) ;;  # what buildah run does anyway (root here: no keep-id)
        -*) echo "podman-via-buildah: unexpected option $1" >&2; exit 125 ;;
        *) break ;;
    esac
    shift
done
image=$1
shift
container=$(buildah from --quiet "$image")
trap 'buildah rm "$container" >/dev/null' EXIT
buildah run --isolation chroot "${options[@]}" "$container" -- "$entrypoint" "$@"
