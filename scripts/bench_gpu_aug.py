#!/usr/bin/env python
"""Benchmark AVION's GPU-side augmentation (avion_nb.gpu_aug).

Measures, on the best device available:
  1. clips/s of `to_float_normalized` (uint8 [B,T,H,W,3] -> normalized [B,3,T,H,W]) in fp32 and bf16,
  2. clips/s of the full train `GPUAugment` (flip + color jitter + grayscale + normalization),
  3. clips/s of the same work done the classic way: torchvision on the CPU, clip by clip (single thread),
  4. the H2D copy overlap of `prefetch_to_device`: seconds/iteration of a loop "copy batch + fixed compute"
     with plain `.to(device)` vs the prefetcher (pinned memory, side stream).
Prints a table and writes results.json and a bar plot under --out.

    python scripts/bench_gpu_aug.py --out benchmarks/gpu_aug     # on the GPU machine
    python scripts/bench_gpu_aug.py --tiny                        # CPU smoke test (tiny shapes)
"""
import argparse, sys, time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from portable import portable_record  # noqa: E402  (records without machine-local paths)
from avion_nb.core import get_device, machine_info, save_json, set_plot_style  # noqa: E402
from avion_nb.gpu_aug import GPUAugment, to_float_normalized, prefetch_to_device  # noqa: E402


def _sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize(dev)


def timeit(fn, dev, iters, warmup=2):
    for _ in range(warmup): fn()
    _sync(dev); t0 = time.perf_counter()
    for _ in range(iters): fn()
    _sync(dev)
    return (time.perf_counter() - t0) / iters


def cpu_torchvision_per_clip(x_cpu, n_clips):
    "The classic CPU pipeline on `n_clips` clips: per clip float conversion, flip, ColorJitter, Normalize."
    import torchvision.transforms.v2 as T2
    tf = T2.Compose([T2.RandomHorizontalFlip(0.5), T2.ColorJitter(0.4, 0.4, 0.4, 0.1), T2.RandomGrayscale(0.2),
                     T2.Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))])
    for i in range(n_clips):
        clip = x_cpu[i].permute(0, 3, 1, 2).float().div_(255)   # [T,3,H,W]
        tf(clip)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', default='benchmarks/gpu_aug')
    p.add_argument('--tiny', action='store_true', help='tiny shapes, few iterations (CPU smoke test)')
    p.add_argument('--batch', type=int, default=128)
    p.add_argument('--frames', type=int, default=4)
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--iters', type=int, default=20)
    p.add_argument('--cpu_clips', type=int, default=16, help='clips for the CPU torchvision baseline')
    p.add_argument('--device', default=None)
    a = p.parse_args()
    if a.tiny: a.batch, a.frames, a.size, a.iters, a.cpu_clips = 4, 2, 32, 3, 4
    dev = get_device(a.device)
    torch.set_num_threads(1)   # the CPU baseline runs as one data-loader worker would
    B, T, S = a.batch, a.frames, a.size
    g = torch.Generator().manual_seed(0)
    x_cpu = torch.randint(0, 256, (B, T, S, S, 3), dtype=torch.uint8, generator=g)
    x = x_cpu.to(dev)
    res = dict(cmd=' '.join(sys.argv), machine=machine_info(), device=str(dev), batch=B, frames=T, size=S, iters=a.iters)
    rows = {}

    for name, dt in [('normalize_fp32', torch.float32), ('normalize_bf16', torch.bfloat16)]:
        s = timeit(lambda: to_float_normalized(x, dtype=dt), dev, a.iters)
        rows[name] = B / s
    aug = GPUAugment.from_flags(True, color_jitter=0.4, flip_p=0.5, gray_p=0.2, seed=0).to(dev)
    rows['gpuaugment_train_fp32'] = B / timeit(lambda: aug(x), dev, a.iters)
    aug16 = GPUAugment.from_flags(True, color_jitter=0.4, flip_p=0.5, gray_p=0.2, dtype=torch.bfloat16, seed=0).to(dev)
    rows['gpuaugment_train_bf16'] = B / timeit(lambda: aug16(x), dev, a.iters)
    nc = min(a.cpu_clips, B)
    cpu_torchvision_per_clip(x_cpu, 1)   # warm-up (imports, first-call overheads)
    t0 = time.perf_counter(); cpu_torchvision_per_clip(x_cpu, nc); rows['cpu_torchvision_1thread'] = nc / (time.perf_counter() - t0)
    res['clips_per_s'] = rows

    # H2D overlap: a loader of pinned uint8 batches and a fixed amount of compute per batch
    n_batches = max(4, a.iters // 2)
    batches = [dict(video=x_cpu.pin_memory() if dev.type == 'cuda' else x_cpu) for _ in range(n_batches)]
    w = torch.randn(1024 if not a.tiny else 64, 1024 if not a.tiny else 64, device=dev)

    def compute(b):
        y = to_float_normalized(b['video'], dtype=torch.bfloat16)
        z = w
        for _ in range(8 if not a.tiny else 1): z = z @ w; z = z / z.norm()
        return y.sum() + z.sum()

    def loop_plain():
        for b in batches: compute({k: v.to(dev, non_blocking=False) for k, v in b.items()})

    def loop_prefetch():
        for b in prefetch_to_device(batches, dev): compute(b)

    t_plain = timeit(loop_plain, dev, 3, warmup=1) / n_batches
    t_pref = timeit(loop_prefetch, dev, 3, warmup=1) / n_batches
    t_copy = timeit(lambda: [b['video'].to(dev, non_blocking=True) for b in batches], dev, 3, warmup=1) / n_batches
    res['overlap_s_per_batch'] = dict(plain=t_plain, prefetch=t_pref, copy_only=t_copy,
                                      batch_mb=x_cpu.numel() / 2**20)

    print(f"device {dev}  batch {B}x{T}x{S}x{S}x3 uint8 ({x_cpu.numel() / 2**20:.1f} MiB)")
    for k, v in rows.items(): print(f'  {k:28s} {v:12.1f} clips/s')
    print(f"  loop s/batch: plain {t_plain * 1e3:.2f} ms   prefetch {t_pref * 1e3:.2f} ms   (copy alone {t_copy * 1e3:.2f} ms)")

    if a.tiny and a.out == p.get_default('out'):   # a smoke test never overwrites the recorded numbers
        import tempfile; a.out = tempfile.mkdtemp(prefix='avion_bench_tiny_')
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    save_json(portable_record(res), out / 'results.json')
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    set_plot_style()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.2), gridspec_kw=dict(width_ratios=[2, 1]))
    ax1.barh(list(rows), list(rows.values())); ax1.set_xscale('log'); ax1.set_xlabel('clips / s (log)')
    ax1.set_title(f'{dev.type}: {B}x{T}x{S}² clips')
    ax2.bar(['plain .to()', 'prefetch'], [t_plain * 1e3, t_pref * 1e3]); ax2.set_ylabel('ms / batch')
    ax2.set_title('copy + compute loop')
    fig.savefig(out / 'gpu_aug.png'); print('wrote', out / 'results.json', out / 'gpu_aug.png')


if __name__ == '__main__':
    main()
