#!/usr/bin/env bash
# One call on a lent GPU machine (1x H200, 16 cores, no internet) that runs the issue-14/15 GPU benchmarks in order of
# priority, each under its own time limit, and copies what they wrote back under $OUT:
#   1. end-to-end compiled pretraining at mask ratios 0 / 0.5 / 0.75 on egocentric-content k16-nrb-fd chunks
#      (scripts/bench_pretrain.py -> benchmarks/pretrain/e2e_mask.json, headline e2e_* keys)
#   2. the loader through the real DataLoader at 16 workers, egocentric and stress content
#      (scripts/bench_loader.py -> benchmarks/loader/results.json, headline loader_* keys)
#   3. the token-dropping learning check (scripts/learning_check_mask.py -> benchmarks/pretrain/mask_learning.json)
# Usage there:  OUT=/some/dir bash scripts/gpu_benchmarks.sh [pretrain_s loader_s learning_s]
# Data is generated on the machine's local disk (/tmp/avion_gpu_data), never in the repo.
set -u
T1=${1:-280}; T2=${2:-200}; T3=${3:-0}
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT/logs"; touch "$OUT/logs/.start"   # logs first: they come back even when a run is killed
source scripts/gpu_env.sh > "$OUT/logs/env.txt" 2>&1; cat "$OUT/logs/env.txt"
nproc; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
D=/tmp/avion_gpu_data
run() { local name=$1 lim=$2; shift 2; local t0=$(date +%s)
  echo "== $name (limit ${lim}s): $*"; timeout --signal=INT --kill-after=20 "$lim" "$@" > "$OUT/logs/$name.txt" 2>&1
  local rc=$?; echo "== $name rc=$rc in $(( $(date +%s) - t0 ))s"; tail -25 "$OUT/logs/$name.txt"; }
run pretrain "$T1" python scripts/bench_pretrain.py --compile --masks 0,0.5,0.75 --workers 16 --data $D/ego_e2e ${PRETRAIN_ARGS:-}
run loader "$T2" python scripts/bench_loader.py --data $D/loader --workers 16 ${LOADER_ARGS:-}
[ "$T3" -gt 0 ] && run learning "$T3" python scripts/learning_check_mask.py --data $D/learning ${LEARNING_ARGS:-}
# only the result files the runs changed or added (the device tool returns a limited number of files)
find benchmarks -type f -newer "$OUT/logs/.start" | while read -r f; do mkdir -p "$OUT/$(dirname "$f")"; cp "$f" "$OUT/$f"; done
