#!/usr/bin/env python
"""Benchmark the full data loader of avion_nb.datasets (decode + crop + tokenize + collate, plus the H2D copy and
GPUAugment when a GPU is present): clips/s vs number of workers, fused DecodeCrop vs decode-then-crop, chunked or not.

    python scripts/bench_loader.py --out benchmarks/loader                       # default synthetic dataset under data/avion_synth
    python scripts/bench_loader.py --root data/avion_synth --workers 4 8 16 --chunk_len 15
    python scripts/bench_loader.py --tiny                                         # CPU smoke test (tiny dataset in a temp dir)

Writes results.json and loader.png under --out.
"""
import argparse, sys, tempfile, time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from avion_nb.core import get_device, machine_info, save_json, set_plot_style  # noqa: E402
from avion_nb.datasets import VideoTextDataset, make_loader  # noqa: E402
from avion_nb.gpu_aug import GPUAugment, prefetch_to_device  # noqa: E402


def bench(ds, batch_size, workers, n_batches, device, aug):
    dl = make_loader(ds, batch_size, num_workers=workers, shuffle=True, seed=0, drop_last=True,
                     persistent_workers=False)
    it = iter(prefetch_to_device(dl.for_epoch(0), device))
    first = next(it)                     # worker start-up and the first batch are not counted
    n, t0 = 0, time.perf_counter()
    for b in it:
        if aug is not None: aug(b['video'])
        n += b['video'].shape[0]
        if n >= n_batches * batch_size: break
    if device.type == 'cuda': torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return dict(clips=n, seconds=dt, clips_per_s=n / dt if dt > 0 else float('nan'),
                batch_shape=list(first['video'].shape))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--root', default='data/avion_synth', help='embedded dataset root (generated with the default preset if missing)')
    p.add_argument('--out', default='benchmarks/loader')
    p.add_argument('--workers', type=int, nargs='+', default=[0, 2, 4, 8])
    p.add_argument('--batch', type=int, default=16)
    p.add_argument('--batches', type=int, default=5)
    p.add_argument('--frames', type=int, default=4)
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--chunk_len', type=int, default=None, help='read videos_chunked/ made with this chunk length')
    p.add_argument('--tiny', action='store_true')
    a = p.parse_args()
    tmp = None
    if a.tiny:
        from avion_nb.synth import make_dataset
        tmp = tempfile.TemporaryDirectory(); a.root = Path(tmp.name) / 'synth'
        make_dataset(a.root, 'tiny', verbose=False)
        a.workers, a.batch, a.batches, a.size = [0, 2], 2, 2, 64
    else:
        from avion_nb.synth import ensure_dataset
        ensure_dataset(a.root, 'default')
    dev = get_device()
    aug = GPUAugment.from_flags(True, color_jitter=0.4, flip_p=0.5, dtype=torch.bfloat16).to(dev) if dev.type == 'cuda' else None
    res = dict(cmd=' '.join(sys.argv), machine=machine_info(), root=str(a.root), batch=a.batch, frames=a.frames,
               size=a.size, chunk_len=a.chunk_len, device=str(dev), runs=[])
    for fused in (True, False):
        ds = VideoTextDataset.ego4d(a.root, num_frames=a.frames, size=a.size, fused=fused, chunk_len=a.chunk_len)
        for w in a.workers:
            r = bench(ds, a.batch, w, a.batches, dev, aug)
            r.update(fused=fused, workers=w); res['runs'].append(r)
            print(f"fused={fused!s:5} workers={w:3d}  {r['clips_per_s']:8.1f} clips/s  batch {r['batch_shape']}", flush=True)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    save_json(res, out / 'results.json')
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    set_plot_style()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for fused in (True, False):
        rr = [r for r in res['runs'] if r['fused'] == fused]
        ax.plot([r['workers'] for r in rr], [r['clips_per_s'] for r in rr], 'o-', label='fused DecodeCrop' if fused else 'decode, then crop')
    ax.set_xlabel('data-loader workers'); ax.set_ylabel('clips / s'); ax.legend()
    ax.set_title(f'Ego4D loader, {a.frames}x{a.size}², chunk_len={a.chunk_len}')
    fig.savefig(out / 'loader.png'); print('wrote', out / 'results.json', out / 'loader.png')
    if tmp is not None: tmp.cleanup()


if __name__ == '__main__':
    main()
