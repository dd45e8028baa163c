#!/bin/bash
# Stands in for apptainer, podman or docker (by the name it is called under) where none can run a container:
# logs its arguments, refuses options runlab does not pass, and runs the image's python on the host in the
# working directory with the variables the runtime would pass in: all of them for apptainer; for podman and
# docker only those named by --env (NAME, or podman's NAME* prefix glob), on the image's PATH.
set -euo pipefail
runtime=$(basename "$0")
printf '%s\n' "$runtime" "$@" > "$RUNLAB_FAKE_RUNTIME_LOG"
shift  # exec | run
passed=()
workdir=$PWD
while [ $# -gt 0 ]; do
    case $1 in
        --env)
            shift
            if [[ $1 == *'*' ]]; then
                for name in $(compgen -e "${1%\*}"); do passed+=("$name=${!name}"); done
            elif [ -n "${!1+set}" ]; then
                passed+=("$1=${!1}")
            fi ;;
        --env=*) name=${1#--env=}; if [ -n "${!name+set}" ]; then passed+=("$name=${!name}"); fi ;;
        --workdir) shift; workdir=$1 ;;
        --bind | --volume | --user | --entrypoint | --device | --gpus) shift ;;
        --rm | --network=host | --userns=keep-id | --nv) ;;
        -*) echo "fake $runtime: unexpected option $1" >&2; exit 125 ;;
        *) shift; [ "$runtime" = apptainer ] && shift; break ;;  # the image (apptainer: and its command)
    esac
    shift
done
cd "$workdir"
if [ "$runtime" = apptainer ]; then
    exec python "$@"
fi
exec env -i PATH="$RUNLAB_FAKE_IMAGE_PATH" "${passed[@]}" python "$@"
