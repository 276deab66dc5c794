#!/usr/bin/env bash
# Final GPU call of 2026-11-26 (nvidia-h100-x2 kind; 2 GPUs, 32 cores). Run from the repo root; logs go to $OUT.
source scripts/gpu_env.sh > $OUT/env.log 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > $OUT/gpus.txt
# CPU, in the background: the default embedded dataset (+ chunks) and the larger pretraining set
( python -c "from avion_nb.demo import prepare_demo_data; print(prepare_demo_data('data/avion_synth', verbose=False))" > $OUT/prep_default.log 2>&1;
  python scripts/bench_pretrain.py --prepare_only --ego4d_videos 20 > $OUT/prep_bench.log 2>&1 ) &
PREP=$!
# GPU 1: VideoMAE Fig. 7 (decode-then-crop on x264-default originals vs fused on the planner's chunks)
( CUDA_VISIBLE_DEVICES=1 timeout 290 python scripts/bench_videomae.py --variants dtc_orig,fused_planned --steps 15 --warmup 3 \
    --out $OUT/videomae > $OUT/bench_videomae.log 2>&1 ) &
VMAE=$!
# GPU 0: the gpu-flagged cells of the notebooks fixed after call 1, then ViT-B fine-tuning smoke runs at 16x224²
CUDA_VISIBLE_DEVICES=0 timeout 200 python scripts/test_nbs.py --flags gpu nbs/30_trainer.ipynb nbs/31_pretrain.ipynb \
    nbs/40_finetune_mir.ipynb nbs/41_finetune_cls.ipynb nbs/50_videomae.ipynb nbs/51_videomae_finetune.ipynb > $OUT/test_gpu.log 2>&1
cp _exec/summary.txt $OUT/test_summary.txt 2>/dev/null
wait $PREP
CUDA_VISIBLE_DEVICES=0 timeout 100 python -m avion_nb.finetune_mir --pretrained none --vision vit_b16 --text clip_b --num_frames 16 \
    --checkpointing block --batch_size 16 --max_steps 8 --workers 12 --output_dir $TMPDIR/ft_mir --log_with '' --progress False > $OUT/ft_mir.log 2>&1
CUDA_VISIBLE_DEVICES=0 timeout 80 python -m avion_nb.finetune_cls --pretrained none --vision vit_b16 --num_frames 16 \
    --checkpointing block --batch_size 16 --max_steps 8 --workers 12 --eval_every 0 --output_dir $TMPDIR/ft_cls --log_with '' --progress False > $OUT/ft_cls.log 2>&1
cp $TMPDIR/ft_mir/summary.json $OUT/ft_mir_summary.json; cp $TMPDIR/ft_mir/eval_final.json $OUT/ft_mir_eval.json; cp $TMPDIR/ft_cls/summary.json $OUT/ft_cls_summary.json 2>/dev/null
wait $VMAE
# both GPUs: the 8-GPU script with 2 processes (issue 10's verification)
NPROC=2 STEPS=10 EGO_VIDEOS=20 OUT_DIR=$OUT/scale timeout 230 bash scripts/run_8gpu.sh > $OUT/run_8gpu_n2.log 2>&1
ls -R $OUT > $OUT/listing.txt
