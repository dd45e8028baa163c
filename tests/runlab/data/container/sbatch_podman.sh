#!/bin/bash

# Parameters
#SBATCH --cpus-per-task=4
#SBATCH --dependency=afterok:4242
#SBATCH --error=/scratch/runlab/runs/.runlab/slurm/RUN_S01_0123456789ab/%j/%j_0_log.err
#SBATCH --gpus-per-node=1
#SBATCH --job-name=testing.S01
#SBATCH --kill-on-invalid-dep=yes
#SBATCH --mem=16384M
#SBATCH --nodes=1
#SBATCH --open-mode=append
#SBATCH --output=/scratch/runlab/runs/.runlab/slurm/RUN_S01_0123456789ab/%j/%j_0_log.out
#SBATCH --partition=gpu
#SBATCH --requeue
#SBATCH --signal=USR2@90
#SBATCH --time=30
#SBATCH --wckey=submitit

# setup
export PYTHONHASHSEED=7
module load podman

# command
export SUBMITIT_EXECUTOR=slurm
srun --unbuffered --output /scratch/runlab/runs/.runlab/slurm/RUN_S01_0123456789ab/%j/%j_%t_log.out --error /scratch/runlab/runs/.runlab/slurm/RUN_S01_0123456789ab/%j/%j_%t_log.err podman run --rm --network=host --env 'SLURM_*' --env 'SUBMITIT_*' --env CUDA_VISIBLE_DEVICES --env PYTHONHASHSEED --userns=keep-id --device nvidia.com/gpu=all --volume /scratch/runlab/runs:/scratch/runlab/runs --volume /datasets:/datasets --volume "$PWD:$PWD" --workdir "$PWD" --entrypoint python localhost/runlab-suite:gpu -u -m submitit.core._submit /scratch/runlab/runs/.runlab/slurm/RUN_S01_0123456789ab/%j
