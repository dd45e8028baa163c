#!/bin/bash

# Parameters
#SBATCH --account=proj42
#SBATCH --constraint='a100|h100'
#SBATCH --cpus-per-task=8
#SBATCH --dependency=afterok:41:42
#SBATCH --error=/runs/.runlab/slurm/RUN_S01_0123456789ab/%j/%j_0_log.err
#SBATCH --exclusive
#SBATCH --gres=gpu:a100:2
#SBATCH --job-name=study.S01
#SBATCH --kill-on-invalid-dep=yes
#SBATCH --mail-type=END
#SBATCH --mem=16384M
#SBATCH --nodes=1
#SBATCH --open-mode=append
#SBATCH --output=/runs/.runlab/slurm/RUN_S01_0123456789ab/%j/%j_0_log.out
#SBATCH --partition=gpu
#SBATCH --qos=high
#SBATCH --requeue
#SBATCH --signal=USR2@120
#SBATCH --time=30
#SBATCH --wckey=submitit

# setup
export PYTHONHASHSEED=7
module load cuda/12.4

# command
export SUBMITIT_EXECUTOR=slurm
srun --unbuffered --output /runs/.runlab/slurm/RUN_S01_0123456789ab/%j/%j_%t_log.out --error /runs/.runlab/slurm/RUN_S01_0123456789ab/%j/%j_%t_log.err python -u -m submitit.core._submit /runs/.runlab/slurm/RUN_S01_0123456789ab/%j
