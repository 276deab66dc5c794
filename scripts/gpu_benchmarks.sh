#!/usr/bin/env bash
# The GPU benchmarks of issue 22, run on a lent GPU machine (1 GPU, 16 cores, no internet) one stage per call, each
# stage under its own time limit, logs flushed to $OUT as they are written. Default threads: no OMP_NUM_THREADS.
# Usage there:   OUT=/some/dir bash scripts/gpu_benchmarks.sh STAGE[:seconds] [STAGE[:seconds] ...]
#   gputests   the gpu-flagged cells of 11_vit (GPU masks == CPU masks) and 30d_trainer (no host sync per step)
#   smoke      the gpu-flagged cells of 11_vit and 30d_trainer + a short compiled masked run with a profile
#   e2e        bench_pretrain --compile at masks 0/0.5/0.75 (each in a fresh process) with a profile of 4 steady mask-0.5
#              steps after the measured ones, then bench_model's plain-PyTorch reference step and our compiled step (the
#              same ViT-B on the same GPU; MODEL_S=0 skips it)
#   threads    bench_pretrain --compile at mask 0.5 with --main_threads 16 (one thread per core: the old default)
#   loader     bench_loader, 16 workers, egocentric then stress content, automatic main threads and 16
#   learning   learning_check_mask.py --compile
# The pretraining stages warm up bench_pretrain's default 2 x workers + 10 steps: shorter warm-ups time batches the
# workers queued while the first step compiled (2026-12-07 H100: 1,483 videos/s at warm-up 12, 548 steady).
# Data is generated once per warm machine on its local disk (/tmp/avion_gpu_data), never in the repo; each stage's
# files land in $OUT/<stage>/ (the device tool returns at most 8 files, two folders deep).
set -u
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
source scripts/gpu_env.sh > "$OUT/env.txt" 2>&1; cat "$OUT/env.txt"
unset OMP_NUM_THREADS
echo "nproc $(nproc); $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader)"
# the CPU a per-core figure depends on: model, SMT (threads per core), cgroup CPU limit, usable cores
python -c "from avion_nb.core import cpu_topology; print('cpu', cpu_topology())" 2>&1 | tee -a "$OUT/env.txt"
lscpu 2>/dev/null | grep -E "Model name|^CPU\(s\)|Thread\(s\) per core|Core\(s\) per socket|Socket\(s\)|MHz" | tee -a "$OUT/env.txt"
D=/tmp/avion_gpu_data
run() { local name=$1 lim=$2; shift 2; local t0=$(date +%s); mkdir -p "$OUT/$name"
  echo "== $name (limit ${lim}s): $*"
  timeout --signal=INT --kill-after=20 "$lim" "$@" 2>&1 | grep --line-buffered -v -i "USDT\|warnings.warn\|UserWarning" > "$OUT/$name/log.txt"
  echo "== $name rc=${PIPESTATUS[0]} in $(( $(date +%s) - t0 ))s"; tail -20 "$OUT/$name/log.txt"; }
for arg in "$@"; do
  stage=${arg%%:*}; lim=${arg#*:}; [ "$lim" = "$arg" ] && lim=0
  case $stage in
    gputests) run gputests $(( lim ? lim : 120 )) python scripts/test_nbs.py --flags gpu --save_dir '' nbs/11_vit.ipynb nbs/30d_trainer.ipynb ;;
    smoke) run smoke $(( lim ? lim : 150 )) bash -c "python scripts/test_nbs.py --flags gpu --save_dir '' nbs/11_vit.ipynb nbs/30d_trainer.ipynb | tail -4;
             python scripts/bench_pretrain.py --compile --masks 0.5 --steps 6 --warmup 8 --ego4d_videos 4 --profile 3 \
               --data $D/ego_small --out $OUT/smoke --no_headline" ;;
    e2e) run e2e $(( lim ? lim : 540 )) python scripts/bench_pretrain.py --compile --masks 0,0.5,0.75 --workers 16 --steps 30 \
             --profile 4 --data $D/ego_e2e --out "$OUT/e2e"
         [ "${MODEL_S:-150}" -gt 0 ] && run model ${MODEL_S:-150} python scripts/bench_model.py --subset ref_flash+ckpt_block,compile_flash+ckpt_block,compile_flash@0.5 \
             --no_breakdown --search_time 0 --time_budget $(( ${MODEL_S:-150} - 30 )) --compile_min_budget 30 --min_time 1.5 --out "$OUT/model" ;;
    omp) run omp_default $(( lim ? lim : 150 )) python scripts/bench_pretrain.py --compile --masks 0.5 --workers 16 --steps 20 \
             --data $D/ego_e2e --out "$OUT/omp_default" --no_headline
         OMP_NUM_THREADS=1 run omp_env1 $(( lim ? lim : 150 )) python scripts/bench_pretrain.py --compile --masks 0.5 --workers 16 \
             --steps 20 --data $D/ego_e2e --out "$OUT/omp_env1" --no_headline ;;
    threads) run threads $(( lim ? lim : 200 )) python scripts/bench_pretrain.py --compile --masks 0.5 --workers 16 --steps 30 \
             --main_threads 16 --data $D/ego_e2e --out "$OUT/threads" --no_headline ;;
    loader) run loader $(( lim ? lim : 300 )) python scripts/bench_loader.py --data $D/loader --workers 16 --main_threads 0 16 \
             --contents egocentric,stress --gops x264-default,k16-nrb-fd,k32-lat16-fd --videos 12 --seconds 5 --out "$OUT/loader" ;;
    learning) run learning $(( lim ? lim : 420 )) python scripts/learning_check_mask.py --data $D/learning --compile --out "$OUT/learning" ;;
    *) echo "unknown stage $stage"; exit 2 ;;
  esac
done
