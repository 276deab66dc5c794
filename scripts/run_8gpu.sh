#!/usr/bin/env bash
# Issue 10: the eight-GPU runs of the trainers, one command on the 8-GPU machine:
#     source scripts/gpu_env.sh   # only where av/open_clip/nbdev are not installed (carried wheels)
#     bash scripts/run_8gpu.sh    # NPROC=8 by default; NPROC=2 runs the same on 2 GPUs (how it was verified)
# Writes under $OUT_DIR (default benchmarks/scale/):
#   results_1gpu.json, results_<N>gpu.json            ViT-B/16 pretraining, 4 frames, 256 clips per GPU, fused decode-crop
#   results_1gpu_global.json                           1 GPU at the N-GPU global batch (cached-feature accumulation): loss curve
#   *_history.csv, videomae_<N>gpu/summary.json        per-step records; VideoMAE s/it and data wait on N GPUs
#   scaling.png                                        the paper's Fig. 2 for this machine (videos/s vs GPUs, data wait)
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; echo 'usage: [NPROC=8] [STEPS=40] [WORKERS=n] [OUT_DIR=dir] bash scripts/run_8gpu.sh'; exit 0;; esac
NPROC=${NPROC:-8}; STEPS=${STEPS:-40}; CORES=$(nproc)
WORKERS=${WORKERS:-$(( CORES / NPROC > 16 ? 16 : CORES / NPROC ))}
OUT=${OUT_DIR:-benchmarks/scale}; CFG=configs/accelerate_8gpu.yaml
mkdir -p "$OUT"
echo "NPROC=$NPROC STEPS=$STEPS WORKERS=$WORKERS (per GPU) on $CORES cores -> $OUT"
python scripts/bench_pretrain.py --prepare_only --ego4d_videos "${EGO_VIDEOS:-80}"
# 1. pretraining throughput at the same per-GPU batch: 1 GPU, then NPROC GPUs
CUDA_VISIBLE_DEVICES=0 python scripts/bench_pretrain.py --only fused --workers "$WORKERS" --steps "$STEPS" --tag 1gpu --out "$OUT"
accelerate launch --config_file "$CFG" --num_processes "$NPROC" scripts/bench_pretrain.py --only fused --workers "$WORKERS" \
    --steps "$STEPS" --tag "${NPROC}gpu" --out "$OUT"
# 2. the loss curve at the same global batch on 1 GPU (NPROC micro-batches of 256 with cached features)
CUDA_VISIBLE_DEVICES=0 python scripts/bench_pretrain.py --only fused --workers "$WORKERS" --steps "$STEPS" \
    --batch_size $(( 256 * NPROC )) --accum_freq "$NPROC" --tag 1gpu_global --out "$OUT"
for d in /tmp/avion_bench_runs/*; do cp "$d"/history_*.csv "$OUT/$(basename "$d")_history.csv" 2>/dev/null || true; done
# 3. VideoMAE pretraining on NPROC GPUs: seconds per iteration and data-loading wait
python - <<'PY'
import sys; sys.path.insert(0, '.')
from avion_nb.synth import make_dataset
make_dataset('data/avion_synth_videomae_bench', 'default', ego4d_videos=1, ego4d_duration=10., ek100_participants=2,
             ek100_videos_per_participant=1, ek100_duration=10., kinetics_train_per_class=100, kinetics_val_per_class=1,
             kinetics_duration=8., verbose=False)
PY
accelerate launch --config_file "$CFG" --num_processes "$NPROC" -m avion_nb.videomae_pretrain \
    --data_root data/avion_synth_videomae_bench --output_dir "$OUT/videomae_${NPROC}gpu" --max_steps "$STEPS" \
    --batch_size 32 --workers "$WORKERS" --log_with none --no-checkpoint --no-recon_plot --no-progress
python scripts/plot_scaling.py "$OUT"
