#!/usr/bin/env python
"""End-to-end pretraining throughput (the paper's Table 4 for our hardware).

Makes a larger copy of the embedded dataset (more Ego4D-style long videos, so an epoch holds many batches), chunks
it with the planner's keyframe interval and with x264's default one, then runs short `run_pretrain` jobs and
records videos/s, step time and data-wait share for: fused decode-crop on the planner's chunks, and
decode-then-crop on x264-default chunks. Results: <out>/results_<tag>.json and <out>/history_<tag>_<run>.csv (one row
per step: loss, step time, data wait), printed as a table.

The synthetic set is small (40 videos = 1440 clips = 5 batches of 256), while a real Ego4D epoch is ~4M clips. With so
few batches per epoch only that many loader workers are busy (each worker builds a whole batch), and every epoch
starts with an empty prefetch queue, so the measurement would be dominated by epoch boundaries that do not exist at
scale. `--epoch_repeat K` (default: auto, enough that the run never crosses an epoch) therefore makes one epoch K
passes over the clips, each pass with its own random windows/crops/narrations (pass p of epoch e uses the dataset's
epoch e*K+p randomness), i.e. the same work as K real epochs without the refill bubbles in between.

GPU:  python scripts/bench_pretrain.py --workers 16 --steps 40
2 GPUs (same per-GPU batch):  accelerate launch --multi_gpu --num_processes 2 scripts/bench_pretrain.py --only fused --tag 2gpu
CPU check:  python scripts/bench_pretrain.py --tiny
"""
import argparse, json, math, sys, time, os
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from avion_nb.core import machine_info, save_json
from avion_nb.synth import make_dataset
from avion_nb.chunking import chunk_dataset, read_chunking
from avion_nb.datasets import make_pretrain_data
from avion_nb.pretrain import run_pretrain


def _complete(d: Path) -> bool:
    try: return bool((read_chunking(d) or {}).get('complete', False))
    except ValueError: return False

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--root', default='data/avion_bench', help='where the larger dataset is generated (reused if present)')
    p.add_argument('--out', default='benchmarks/pretrain')
    p.add_argument('--ego4d_videos', type=int, default=40, help='Ego4D-style 120 s videos to generate (36 clips each)')
    p.add_argument('--keyint', type=int, default=30, help="the planner's keyframe interval (benchmarks/chunking/plan.json)")
    p.add_argument('--chunk_len', type=int, default=15)
    p.add_argument('--vision', default='vit_b16'); p.add_argument('--text', default='clip_b')
    p.add_argument('--attn', default='sdpa'); p.add_argument('--checkpointing', default='block')
    p.add_argument('--compile', action='store_true')
    p.add_argument('--batch_size', type=int, default=256, help='clips per process')
    p.add_argument('--accum_freq', type=int, default=1, help='micro-batches per step (cached features: same negatives)')
    p.add_argument('--workers', type=int, default=16, help='loader processes per GPU')
    p.add_argument('--steps', type=int, default=40)
    p.add_argument('--only', default='fused,baseline', help="comma list of: fused, baseline")
    p.add_argument('--tag', default='1gpu')
    p.add_argument('--epoch_repeat', type=int, default=0, help='passes over the clips per epoch (0: auto, no epoch boundary in the run)')
    p.add_argument('--tiny', action='store_true', help='a CPU-sized check: tiny model and data, 4 steps')
    p.add_argument('--prepare_only', action='store_true', help='generate and chunk the data, then stop')
    a = p.parse_args()
    if a.tiny:
        a.ego4d_videos, a.vision, a.text, a.batch_size, a.workers, a.steps = 2, '{"width":32,"layers":1,"heads":2}', 'text_tiny', 8, 2, 4
        a.checkpointing = 'none'
        if a.root == p.get_default('root'): a.root = '/tmp/avion_bench_tiny'
        if a.out == p.get_default('out'): a.out = '/tmp/avion_bench_tiny_out'
    rank0 = int(os.environ.get('RANK', '0')) == 0
    root, out = Path(a.root), Path(a.out); out.mkdir(parents=True, exist_ok=True)
    ego = root/'ego4d'/'videos'
    chunked, chunked_def = root/'ego4d'/'videos_chunked', root/'ego4d'/'videos_chunked_x264default'
    if rank0 and not (_complete(chunked) and _complete(chunked_def) and (root/'meta.json').exists()):
        t0 = time.perf_counter()
        make_dataset(root, 'tiny' if a.tiny else 'default', ego4d_videos=a.ego4d_videos, num_workers=os.cpu_count(), verbose=False)
        chunk_dataset(ego, chunked, a.chunk_len, keyint=a.keyint, verbose=False)
        chunk_dataset(ego, chunked_def, a.chunk_len, keyint=None, preset='veryfast', verbose=False)
        print(f'data ready in {time.perf_counter() - t0:.0f}s', flush=True)
    if a.prepare_only: return
    while not (_complete(chunked) and _complete(chunked_def)): time.sleep(2)   # other ranks wait for rank 0
    # decode-then-crop on x264-default chunks: point a second root at the x264-default layout
    base = root.parent/(root.name + '_x264default')
    if rank0 and not base.exists():
        (base/'ego4d').mkdir(parents=True)
        for n in ('annotations', 'videos'): (base/'ego4d'/n).symlink_to((root/'ego4d'/n).resolve())
        (base/'ego4d'/'videos_chunked').symlink_to((root/'ego4d'/'videos_chunked_x264default').resolve())
    while not (base/'ego4d'/'videos_chunked').exists(): time.sleep(1)
    runs = dict(fused=dict(data_root=root, fused=True), baseline=dict(data_root=base, fused=False))
    res = dict(command=' '.join([sys.executable] + sys.argv), args=vars(a), machine_info=machine_info(), runs={})
    rf = out/f'results_{a.tag}.json'
    world = int(os.environ.get('WORLD_SIZE', '1'))
    for name in [s.strip() for s in a.only.split(',') if s.strip()]:
        n_clips = len(make_pretrain_data(runs[name]['data_root'], eval_data='none', num_frames=4, img_size=224)[0])
        k = a.epoch_repeat or max(1, math.ceil((a.steps + 2) * a.batch_size * world / n_clips))
        rep = dict(clips=n_clips, epoch_repeat=k, steps_per_epoch=(k * n_clips) // (a.batch_size * world))
        # per-step (meter_window=1) timings in the history rows, so data-wait spikes are visible; the summary uses totals anyway
        r = run_pretrain(output_dir=f'/tmp/avion_bench_runs/{a.tag}_{name}', eval_data='none', vision=a.vision, text=a.text,
                         attn=a.attn, checkpointing=a.checkpointing, compile=a.compile, batch_size=a.batch_size, accum_freq=a.accum_freq,
                         workers=a.workers, epochs=10**6, max_steps=a.steps, save_every=0, log_with='none', progress=False,
                         mixed_precision='bf16', epoch_repeat=k, meter_window=1, checkpoint=False, **runs[name])
        s = dict(r['summary'], **rep)
        h = r['history']
        if h:   # per-step timings (StepMeter window 1): also the steady state without the first `warmup` steps' outliers
            import pandas as pd
            df = pd.DataFrame(h)
            if rank0: df.to_csv(out/f'history_{a.tag}_{name}.csv', index=False)
            st = df.iloc[2:]
            if len(st):
                s.update(step_s_median=float(st['step_s'].median()), data_wait_s_median=float(st['data_wait_s'].median()),
                         data_wait_steps_over_10pct=int((st['data_wait_s'] > 0.1 * st['step_s']).sum()),
                         peak_gpu_mem_gb=float(df['gpu_mem_gb'].max()) if 'gpu_mem_gb' in df else None,
                         loss_first=float(df['loss'].iloc[0]), loss_last=float(df['loss'].iloc[-1]))
        res['runs'][name] = s
        if rank0:
            print(f"{a.tag} {name:9s} videos/s {s['videos_per_s']:8.1f}  step {s['step_s']:.3f}s  data wait {s['data_wait_s']:.3f}s "
                  f"({s['data_wait_pct']:.1f}%)  MFU {s['mfu'] or 0:.1%}  peak mem {s.get('peak_gpu_mem_gb') or 0:.1f} GB  "
                  f"epoch x{s['epoch_repeat']}", flush=True)
            save_json(res, rf)
    return res

if __name__ == '__main__': main()
