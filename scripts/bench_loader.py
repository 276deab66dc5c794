#!/usr/bin/env python
"""Loader benchmark through the real Dataset and DataLoader (issue 14): clips/s at N workers on realistic content.

For each content preset (avion_nb.synth CONTENT: 'egocentric' ~0.4 Mb/s, 'stress' ~0.7 Mb/s at 456x256) it
  1. generates Ego4D-style long videos (x264 defaults, as downloaded) with that content,
  2. cuts them into 15-s chunks once per GOP structure (avion_nb.synth.gop_params: 'x264-default' = x264's own
     settings, keyint 250 + scene cuts; 'k30' = a keyframe every 30 frames; '-nrb' = non-reference B-frames;
     '-fd' = tune fastdecode; 'intra' = all-intra), and records the storage of each vs the x264-default chunks,
  3. reads (trains nothing) with the pretraining recipe: VideoTextDataset, 4 frames in a 1-s window (segment sampling
     with a random point per segment), RandomResizedCrop(224, scale (0.5, 1)), CLIP tokenization in the worker, through
     make_loader (workers, streaming sampler, prefetch, pinned memory) and copies each batch to the GPU (when there
     is one), measuring clips/s after every worker delivered its first batch,
  4. decode-then-crop (fused=False) on the x264-default chunks as the baseline users would write,
and one process's decode statistics (frames decoded per clip, CPU ms per clip) for every GOP structure.

    python scripts/bench_loader.py                                    # GPU host: egocentric + stress, 16 workers
    python scripts/bench_loader.py --contents egocentric --workers 4 8 16 --gops x264-default,k16-nrb-fd
    python scripts/bench_loader.py --tiny                             # CPU smoke test (< 30 s)

Writes results.json (machine, versions, command, every number) under --out (default benchmarks/loader).
"""
import argparse, json, os, shutil, sys, tempfile, time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from avion_nb.core import machine_info, save_json  # noqa: E402


def make_data(root: Path, content: str, a) -> Path:
    from avion_nb.synth import make_dataset
    kw = dict(ego4d_videos=a.videos, ego4d_duration=a.video_sec, ek100_participants=2, ek100_videos_per_participant=1,
              ek100_duration=4., kinetics_train_per_class=0, kinetics_val_per_class=0)
    if a.tiny: kw.update(ego4d_videos=2, ego4d_duration=10.)
    make_dataset(root, 'tiny' if a.tiny else 'default', content=content, num_workers=os.cpu_count(), verbose=False, **kw)
    return root/'ego4d'


def chunk(ego: Path, gop: str, a) -> dict:
    from avion_nb.chunking import chunk_dataset
    dst = ego/f'videos_chunked_{gop}'
    s = chunk_dataset(ego/'videos', dst, a.chunk_len, keyint=None if gop == 'x264-default' else gop, crf=None,
                      preset=a.preset, copy=False, num_workers=os.cpu_count(), verbose=False)
    return dict(dir=str(dst), bytes=s['bytes'], src_bytes=s['src_bytes'], duration=s['duration'],
                kbps=s['bytes'] * 8 / s['duration'] / 1e3, src_kbps=s['src_bytes'] * 8 / s['duration'] / 1e3)


def dataset(ego: Path, video_dir, a, fused=True):
    "The Ego4D training dataset on `video_dir` chunks, each narration's window cut to its first `--window` s."
    from avion_nb.datasets import VideoTextDataset, read_ego4d_pkl
    tb = read_ego4d_pkl(ego/'annotations'/'ego4d_train.pkl')
    tb.end = np.minimum(tb.end, tb.start + a.window)
    return VideoTextDataset(tb, video_dir, chunk_len=a.chunk_len, num_frames=a.frames, size=a.size, fused=fused, train=True)


def decode_stats(ds, n, seed=0):
    "One process: frames decoded and CPU ms per clip over n samples (the loader's read path, no DataLoader)."
    from avion_nb.decode import read_clip
    g = torch.Generator().manual_seed(seed); st = {}; c0 = time.process_time()
    for k in range(n):
        i = int(torch.randint(len(ds), (1,), generator=g))
        s, e = ds.window(i, g)
        read_clip(ds.video_dir, ds.table.video_id(i), s, e, ds.num_frames, ext=ds.ext, chunk_len=ds.chunk_len, crop=ds.crop,
                  fused=ds.fused, jitter=True, generator=g, stats=st)
    return dict(frames_decoded_per_clip=st.get('frames_decoded', 0) / n, packets_fed_per_clip=st.get('packets_fed', 0) / n,
                cpu_ms_per_clip=(time.process_time() - c0) / n * 1e3)


def loader_speed(ds, workers, a, device):
    from avion_nb.datasets import make_loader
    from avion_nb.gpu_aug import prefetch_to_device
    dl = make_loader(ds, a.batch, num_workers=workers, shuffle=True, seed=0, drop_last=True, stream=True,
                     prefetch_factor=a.prefetch if workers else None)
    it = iter(prefetch_to_device(dl.for_epoch(0), device))
    t_start = time.perf_counter()
    for _ in range(max(1, workers)): next(it)            # start-up: every worker's first batch
    first = time.perf_counter() - t_start
    n, wait, t0 = 0, 0.0, time.perf_counter()
    while time.perf_counter() - t0 < a.seconds or n < a.batch * 2:
        tw = time.perf_counter(); b = next(it); wait += time.perf_counter() - tw
        if device.type == 'cuda': b['video'].float().mean()   # touch the batch on the GPU
        n += b['video'].shape[0]
    if device.type == 'cuda': torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    del it, dl
    return dict(workers=workers, clips=n, seconds=dt, clips_per_s=n / dt, startup_s=first,
                batch_shape=list(b['video'].shape), pinned=bool(device.type == 'cuda'))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', default=str(ROOT/'benchmarks'/'loader'))
    p.add_argument('--data', default=str(ROOT/'data'), help='where the generated datasets go')
    p.add_argument('--contents', default='egocentric,stress')
    p.add_argument('--gops', default='x264-default,k30,k30-nrb,k30-nrb-fd,k16-nrb-fd,intra-fd')
    p.add_argument('--stress_gops', default='x264-default,k30,k16-nrb-fd', help='GOP structures for the contents after the first')
    p.add_argument('--workers', type=int, nargs='+', default=[16])
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--prefetch', type=int, default=4)
    p.add_argument('--seconds', type=float, default=8.0, help='measured seconds per configuration')
    p.add_argument('--videos', type=int, default=48, help='generated Ego4D-style videos per content')
    p.add_argument('--video_sec', type=float, default=60.0)
    p.add_argument('--chunk_len', type=int, default=15)
    p.add_argument('--preset', default='veryfast', help='x264 preset of the chunks')
    p.add_argument('--frames', type=int, default=4)
    p.add_argument('--window', type=float, default=1.0, help='clip window (s): the first seconds of each narration')
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--stat_clips', type=int, default=40, help='clips for the one-process decode statistics')
    p.add_argument('--name', default='results')
    p.add_argument('--tiny', action='store_true', help='CPU smoke test: tiny videos, 2 GOPs, 1 content, 2 workers')
    a = p.parse_args()
    if a.tiny:
        a.contents, a.gops, a.workers, a.batch, a.seconds, a.size, a.stat_clips = 'egocentric', 'x264-default,k8-nrb-fd', [2], 2, 0.5, 64, 2
        a.chunk_len, a.name, a.prefetch = 4, 'results_tiny', 2
        tmp = tempfile.TemporaryDirectory(); a.data = tmp.name
        if a.out == str(ROOT/'benchmarks'/'loader'): a.out = str(Path(tmp.name)/'out')   # a smoke test writes nothing in the repo
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    t_all = time.time()
    rec = dict(command=' '.join(['python', 'scripts/bench_loader.py'] + sys.argv[1:]), machine=machine_info(),
               settings={k: v for k, v in vars(a).items() if k not in ('out', 'data')}, device=str(device),
               sampling=f'{a.frames} frames in a {a.window:g}-s window (segment sampling, random point per segment), '
                        f'RandomResizedCrop({a.size}, scale (0.5, 1)), CLIP tokenization, batch {a.batch}', results=[])
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    for ci, content in enumerate(a.contents.split(',')):
        t = time.time(); ego = make_data(Path(a.data)/f'loader_bench_{content}', content, a)
        print(f'[{content}] data in {time.time() - t:.0f}s', flush=True)
        gops = (a.gops if ci == 0 or a.tiny else a.stress_gops).split(',')
        if 'x264-default' not in gops: gops = ['x264-default'] + gops
        store = {}
        for gop in gops:
            t = time.time(); store[gop] = chunk(ego, gop, a)
            print(f'[{content}] chunks {gop}: {store[gop]["kbps"]:.0f} kb/s in {time.time() - t:.0f}s', flush=True)
        base = store['x264-default']['bytes']
        variants = [('x264-default', False)] + [(g, True) for g in gops]
        for gop, fused in variants:
            ds = dataset(ego, store[gop]['dir'], a, fused)
            st = decode_stats(ds, a.stat_clips)
            for w in a.workers:
                r = loader_speed(ds, w, a, device)
                r.update(content=content, gop=gop, mode='fused+smart' if fused else 'decode-then-crop',
                         source_kbps=store[gop]['src_kbps'], chunk_kbps=store[gop]['kbps'],
                         storage_vs_x264_default=store[gop]['bytes'] / base, **st)
                rec['results'].append(r)
                print(f"[{content}] {gop:14s} {r['mode']:16s} workers {w:2d}: {r['clips_per_s']:7.1f} clips/s | "
                      f"{r['chunk_kbps']:5.0f} kb/s ({r['storage_vs_x264_default']:.2f}x x264-default) | "
                      f"{st['frames_decoded_per_clip']:5.1f} frames/clip, {st['cpu_ms_per_clip']:5.1f} CPU ms/clip (1 proc)", flush=True)
                save_json(rec, out/f'{a.name}.json')
    rec['seconds'] = time.time() - t_all
    save_json(rec, out/f'{a.name}.json')
    print(f'wrote {out / (a.name + ".json")} in {rec["seconds"]:.0f}s')


if __name__ == '__main__':
    main()
