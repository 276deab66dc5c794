#!/usr/bin/env bash
# Issue 27: a pretraining run across SLURM nodes, one torchrun launcher per node (the docs' "Across machines" section,
# nbs/31a_faults.ipynb). The arguments go to the trainer; --output_dir must be on a file system every node mounts.
#     sbatch --nodes 2 scripts/slurm_multinode.sh --data_root /shared/data --output_dir /shared/runs/p1 --save_every 500
# After a node failure, submit the same command with --resume latest. Other trainers: TRAINER=avion_nb.finetune_mir ...
#SBATCH --job-name=avion
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=128
#SBATCH --time=24:00:00
set -euo pipefail
TRAINER=${TRAINER:-avion_nb.pretrain}
GPUS=${GPUS_PER_NODE:-${SLURM_GPUS_ON_NODE:-8}}
HEAD=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)     # the rendezvous host: the job's first node
PORT=${PORT:-29500}
echo "job $SLURM_JOB_ID: $SLURM_JOB_NUM_NODES nodes x $GPUS GPUs, rendezvous $HEAD:$PORT, $TRAINER $*"
# srun starts one task per node; each task is a launcher whose node rank is its SLURM_NODEID
srun --kill-on-bad-exit=1 bash -c "exec torchrun --nnodes $SLURM_JOB_NUM_NODES --node_rank \$SLURM_NODEID --nproc_per_node $GPUS \
    --rdzv_backend c10d --rdzv_endpoint $HEAD:$PORT --rdzv_id $SLURM_JOB_ID -m $TRAINER $(printf '%q ' "$@")"
