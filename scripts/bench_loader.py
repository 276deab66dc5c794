#!/usr/bin/env python
"""Loader benchmark through the real Dataset and DataLoader (issue 14): clips/s at N workers on realistic content.

For each content preset (avion_nb.synth CONTENT: 'egocentric' ~0.4 Mb/s, 'stress' ~0.7 Mb/s at 456x256) it
  1. generates Ego4D-style long videos (x264 defaults, as downloaded) with that content,
  2. cuts them into 15-s chunks once per GOP structure (avion_nb.synth.gop_params: 'x264-default' = x264's own
     settings, keyint 250 + scene cuts; 'k30' = a keyframe every 30 frames; '-nrb' = non-reference B-frames;
     '-fd' = tune fastdecode; 'intra' = all-intra), and records the storage of each vs the x264-default chunks,
  3. reads (trains nothing) with the pretraining recipe: VideoTextDataset, 4 frames in each narration's window (segment sampling
     with a random point per segment), RandomResizedCrop(224, scale (0.5, 1)), CLIP tokenization in the worker, through
     make_loader (workers, streaming sampler, prefetch, pinned memory) and copies each batch to the GPU (when there
     is one), measuring clips/s after every worker delivered its first batch,
  4. decode-then-crop (fused=False) on the x264-default chunks as the baseline users would write,
and one process's decode statistics (frames decoded per clip, CPU ms per clip) for every GOP structure.

    python scripts/bench_loader.py --no_stress_dtc                    # GPU host: egocentric + stress, 16 workers (~4 min)
    python scripts/bench_loader.py --contents egocentric --workers 4 8 16 --gops x264-default,k16-nrb-fd
    python scripts/bench_loader.py --tiny                             # CPU smoke test (< 30 s)
    python scripts/bench_loader.py --one_worker --contents egocentric --gops k16-nrb-fd,k32-lat16-fd   # per-core CPU figure

Writes results.json (machine, versions, command, every number) under --out (default benchmarks/loader).
"""
import argparse, json, os, shutil, sys, tempfile, time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from portable import portable_record  # noqa: E402  (records without machine-local paths)
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
    if a.window > 0: tb.end = np.minimum(tb.end, tb.start + a.window)
    kw = dict(open_cache=a.open_cache, batch_memory=not a.no_batch_memory, snap=a.snap) if not a.old_api else {}
    return VideoTextDataset(tb, video_dir, chunk_len=a.chunk_len, num_frames=a.frames, size=a.size, fused=fused, train=True, **kw)


def _children_cpu() -> dict:
    "{pid: CPU seconds} of this process's child processes (the DataLoader workers), from /proc (Linux)."
    me, out, hz = os.getpid(), {}, os.sysconf('SC_CLK_TCK')
    for d in os.listdir('/proc'):
        if not d.isdigit(): continue
        try: f = open(f'/proc/{d}/stat').read().rsplit(')', 1)[1].split()
        except OSError: continue
        if int(f[1]) == me: out[int(d)] = (int(f[11]) + int(f[12])) / hz
    return out


def decode_stats(ds, n, seed=0):
    "One process: frames decoded and CPU ms per clip over n samples (the loader's read path, no DataLoader)."
    from avion_nb.decode import read_clip
    g = torch.Generator().manual_seed(seed); st = {}; c0 = time.process_time()
    kw = {k: v for k, v in ds.read_kw().items() if k != 'stats'} if hasattr(ds, 'read_kw') else \
        dict(ext=ds.ext, chunk_len=ds.chunk_len, crop=ds.crop, fused=ds.fused)
    for k in range(n):
        i = int(torch.randint(len(ds), (1,), generator=g))
        s, e = ds.window(i, g)
        read_clip(ds.video_dir, ds.table.video_id(i), s, e, ds.num_frames, jitter=True, generator=g, stats=st, **kw)
    c = kw.get('cache')
    return dict(frames_decoded_per_clip=st.get('frames_decoded', 0) / n, packets_fed_per_clip=st.get('packets_fed', 0) / n,
                cpu_ms_per_clip=(time.process_time() - c0) / n * 1e3, chunks=len(list(Path(ds.video_dir).glob(f'*/*.{ds.ext}'))),
                open_cache_hit_rate=c.hits / max(1, c.hits + c.misses) if c is not None else None)


def loader_speed(ds, workers, a, device, main_threads=0):
    from avion_nb.datasets import make_loader
    from avion_nb.gpu_aug import prefetch_to_device
    from avion_nb.core import main_thread_count, set_threads
    # the main process's intra-op threads, as a trainer sets them (0: the trainers' automatic rule)
    n_main = set_threads(main_threads or main_thread_count(workers, 1, gpu=device.type == 'cuda'))
    dl = make_loader(ds, a.batch, num_workers=workers, shuffle=True, seed=0, drop_last=True, stream=True,
                     prefetch_factor=a.prefetch if workers else None)
    it = iter(prefetch_to_device(dl.for_epoch(0), device))
    t_start = time.perf_counter()
    for _ in range(max(1, workers)): next(it)            # start-up: every worker's first batch
    first = time.perf_counter() - t_start
    n, wait, t0, m0, w0 = 0, 0.0, time.perf_counter(), time.process_time(), _children_cpu()
    while time.perf_counter() - t0 < a.seconds or n < a.batch * 2:
        tw = time.perf_counter(); b = next(it); wait += time.perf_counter() - tw
        if device.type == 'cuda': b['video'].float().mean()   # touch the batch on the GPU
        n += b['video'].shape[0]
    if device.type == 'cuda': torch.cuda.synchronize()
    dt, m1, w1 = time.perf_counter() - t0, time.process_time(), _children_cpu()
    wcpu = sum(w1[p] - w0[p] for p in w1 if p in w0)   # CPU seconds of the workers during the measurement
    del it, dl
    return dict(workers=workers, main_threads=n_main, main_threads_setting=main_threads or 'auto', clips=n, seconds=dt,
                clips_per_s=n / dt, startup_s=first,
                batch_shape=list(b['video'].shape), pinned=bool(device.type == 'cuda'),
                worker_cpu_ms_per_clip=wcpu / n * 1e3, worker_busy=wcpu / dt / max(1, workers),
                main_cpu_ms_per_clip=(m1 - m0) / n * 1e3, main_cores_busy=(m1 - m0) / dt)


def one_worker_cpu(ds, a, n_batches=4, seed=0):
    """CPU ms per clip of what one DataLoader worker does for a batch (the dataset's batch read + collate into shared
    memory), in this process posing as worker 0: a per-core figure that a loaded machine disturbs less than clips/s."""
    from torch.utils.data._utils import worker as W
    from avion_nb.datasets import collate_clips
    torch.set_num_threads(1)
    old, W._worker_info = W._worker_info, W.WorkerInfo(id=0, num_workers=1, seed=seed, dataset=ds)
    try:
        g = torch.Generator().manual_seed(seed)
        keys = [[(0, int(i)) for i in torch.randint(len(ds), (a.batch,), generator=g)] for _ in range(n_batches + 1)]
        def one(k):
            b = collate_clips(ds.__getitems__(k) if hasattr(ds, '__getitems__') else [ds[x] for x in k])
            assert b['video'].is_shared()
        one(keys[0]); c0 = time.process_time()   # warm-up batch
        for k in keys[1:]: one(k)
        ms = (time.process_time() - c0) / (n_batches * a.batch) * 1e3
    finally: W._worker_info = old
    return dict(workers=1, one_worker_cpu_ms_per_clip=ms, clips_per_cpu_s=1e3 / ms, clips=n_batches * a.batch)


def update_headline(rec, path: Path):
    "benchmarks/headline.json: the loader keys from this run (egocentric, 16 workers, fused, best clips/s at <= 3x storage)."
    import datetime, json
    rs = [r for r in rec['results'] if r['content'] == 'egocentric' and r['workers'] == 16 and r['mode'] == 'fused+smart'
          and r.get('main_threads_setting', 'auto') == 'auto'
          and r['storage_vs_x264_default'] <= 3.0]
    if not rs or rec['device'] != 'cuda': print('headline not updated: no 16-worker egocentric GPU result at <= 3x'); return
    best = max(rs, key=lambda r: r['clips_per_s'])
    m = rec['machine']; machine = f"{len(m.get('gpus') or [])}x {(m.get('gpus') or ['no GPU'])[0]}, {m['cpu_count']} CPU cores"
    def thr(r): t = r.get('main_threads_setting', 'auto'); return '' if t == 'auto' else f' ({t} main threads)'
    others = '; '.join(f"{r['content']} {r['gop']} {r['mode']}{thr(r)}: {r['clips_per_s']:.0f} clips/s at {r['storage_vs_x264_default']:.2f}x"
                       for r in rec['results'] if r['workers'] == 16 and r is not best)
    base = dict(machine=machine, command=rec['command'], date=(m.get('time') or '')[:10] or datetime.date.today().isoformat())
    h = json.loads(path.read_text()) if path.exists() else {}
    h['loader_clips_per_s_16w'] = dict(value=round(best['clips_per_s'], 1), **base, detail=(
        f"VideoTextDataset + make_loader (16 workers, stream, prefetch {rec['settings']['prefetch']}, pinned) + copy to GPU, "
        f"{rec.get('sampling', '4 frames in 1 s').split(' (')[0]}, RRC 224, batch {rec['settings']['batch']}, 'egocentric' content, 15-s chunks with GOP {best['gop']} at "
        f"{best['storage_vs_x264_default']:.2f}x x264-default storage; targets at <= 3x: >= 1,700 (issue 22, to keep up with "
        f"the masked step) {'met' if best['clips_per_s'] >= 1700 else 'missed'}, >= 1,000 (issue 14) "
        f"{'met' if best['clips_per_s'] >= 1000 else 'missed'}. Same run: {others}. benchmarks/loader/README.md"))
    h['loader_content_kbps'] = dict(value=round(best['source_kbps']), **base, detail=(
        f"H.264 kb/s of the generated 'egocentric' source videos (456x256, 30 fps, CRF 23, x264 veryfast); "
        f"{best['gop']} chunks: {best['chunk_kbps']:.0f} kb/s. benchmarks/loader/README.md"))
    h['loader_storage_vs_x264_default'] = dict(value=round(best['storage_vs_x264_default'], 2), **base, detail=(
        f"bytes of the {best['gop']} chunks / bytes of x264-default chunks of the same videos (target <= 3). benchmarks/loader/README.md"))
    path.write_text(json.dumps(portable_record(h), indent=2) + '\n'); print(f'updated {path}')


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', default=str(ROOT/'benchmarks'/'loader'))
    p.add_argument('--data', default=str(ROOT/'data'), help='where the generated datasets go')
    p.add_argument('--contents', default='egocentric,stress')
    p.add_argument('--gops', default='x264-default,k16-nrb-fd,k16-lat8-fd,k32-lat16-fd')
    p.add_argument('--stress_gops', default='x264-default,k16-nrb-fd,k32-lat16-fd', help='GOP structures for the contents after the first')
    p.add_argument('--no_stress_dtc', action='store_true', help='skip decode-then-crop for the contents after the first')
    p.add_argument('--no_default_reads', action='store_true', help='make the x264-default chunks (storage baseline) but do not read them')
    p.add_argument('--workers', type=int, nargs='+', default=[16])
    p.add_argument('--main_threads', type=int, nargs='+', default=[0],
                   help="the main process's intra-op threads to sweep (0: the trainers' automatic rule, core.main_thread_count)")
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--prefetch', type=int, default=4)
    p.add_argument('--seconds', type=float, default=6.0, help='measured seconds per configuration')
    p.add_argument('--videos', type=int, default=16, help='generated Ego4D-style videos per content')
    p.add_argument('--video_sec', type=float, default=60.0)
    p.add_argument('--chunk_len', type=int, default=15)
    p.add_argument('--preset', default='veryfast', help='x264 preset of the chunks')
    p.add_argument('--frames', type=int, default=4)
    p.add_argument('--window', type=float, default=0, help='clip window (s): 0 = each narration\'s own window, as pretraining '
                   'reads it (2.3 s mean in the generated data); > 0 cuts it to its first seconds (figures before 2026-12-07 used 1 s: '
                   '1.5x cheaper per clip on k16-nrb-fd chunks than the recipe)')
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--stat_clips', type=int, default=20, help='clips for the one-process decode statistics')
    p.add_argument('--name', default='results')
    p.add_argument('--open_cache', type=int, default=4, help='open containers kept per worker (ClipDataset open_cache; 0 = none)')
    p.add_argument('--no_batch_memory', action='store_true', help='samples one by one + stacking collate (the old path)')
    p.add_argument('--snap', type=int, default=0, help='ClipDataset snap (reference-lattice GOPs)')
    p.add_argument('--old_api', action='store_true', help=argparse.SUPPRESS)   # before/after runs against an older avion_nb
    p.add_argument('--no_headline', action='store_true', help='do not update benchmarks/headline.json')
    p.add_argument('--one_worker', action='store_true', help='no DataLoader: CPU ms per clip of one worker\'s batch work in this '
                   'process (per-core figure for a small or shared machine)')
    p.add_argument('--tiny', action='store_true', help='CPU smoke test: tiny videos, 2 GOPs, 1 content, 2 workers')
    p.add_argument('--headline_from', metavar='RESULTS_JSON', help='only update benchmarks/headline.json from a results file '
                   '(e.g. one copied back from the GPU machine) and exit')
    a = p.parse_args()
    if any(m < 0 for m in a.main_threads): p.error(f'--main_threads: counts must be >= 0 (0: automatic), got {a.main_threads}')
    if a.headline_from:
        import json
        f = Path(a.headline_from)
        if not f.is_file(): print(f'--headline_from: no file {f}', file=sys.stderr); sys.exit(2)
        rec = json.loads(f.read_text())
        if rec.get('device') != 'cuda': print(f'--headline_from: {f} was not measured on a GPU machine', file=sys.stderr); sys.exit(2)
        update_headline(rec, ROOT/'benchmarks'/'headline.json'); return
    if a.tiny:
        a.contents, a.gops, a.workers, a.batch, a.seconds, a.size, a.stat_clips = 'egocentric', 'x264-default,k8-nrb-fd', [2], 2, 0.5, 64, 2
        a.chunk_len, a.name, a.prefetch = 4, 'results_tiny', 2
        tmp = tempfile.TemporaryDirectory(); a.data = tmp.name
        if a.out == str(ROOT/'benchmarks'/'loader'): a.out = str(Path(tmp.name)/'out')   # a smoke test writes nothing in the repo
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    t_all = time.time()
    rec = dict(command=' '.join(['python', 'scripts/bench_loader.py'] + sys.argv[1:]), machine=machine_info(),
               settings={k: v for k, v in vars(a).items() if k not in ('out', 'data')}, device=str(device),
               sampling=f'{a.frames} frames in ' + (f'a {a.window:g}-s window' if a.window > 0 else "each narration's window") + ' (segment sampling, random point per segment), '
                        f'RandomResizedCrop({a.size}, scale (0.5, 1)), CLIP tokenization, batch {a.batch}', results=[])
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    try:
        for ci, content in enumerate(a.contents.split(',')):
            t = time.time(); ego = make_data(Path(a.data)/f'loader_bench_{content}', content, a)
            print(f'[{content}] data in {time.time() - t:.0f}s', flush=True)
            gops = (a.gops if ci == 0 or a.tiny else a.stress_gops).split(',')
            if 'x264-default' not in gops: gops = ['x264-default'] + gops
            store = {}
            dtc = ci == 0 or a.tiny or not a.no_stress_dtc
            for gop in gops:
                t = time.time(); store[gop] = chunk(ego, gop, a)
                print(f'[{content}] chunks {gop}: {store[gop]["kbps"]:.0f} kb/s in {time.time() - t:.0f}s', flush=True)
            base = store['x264-default']['bytes']
            variants = [('x264-default', False)] * dtc + [(g, True) for g in gops]
            if a.no_default_reads: variants = [v for v in variants if v[0] != 'x264-default']
            for gop, fused in variants:
                ds = dataset(ego, store[gop]['dir'], a, fused)
                st = decode_stats(ds, a.stat_clips)
                for w, mt in ([(1, 0)] if a.one_worker else [(w, mt) for w in a.workers for mt in a.main_threads]):
                    r = one_worker_cpu(ds, a) if a.one_worker else loader_speed(ds, w, a, device, mt)
                    r.update(content=content, gop=gop, mode='fused+smart' if fused else 'decode-then-crop',
                             source_kbps=store[gop]['src_kbps'], chunk_kbps=store[gop]['kbps'],
                             storage_vs_x264_default=store[gop]['bytes'] / base, **st)
                    rec['results'].append(r)
                    if a.one_worker:
                        print(f"[{content}] {gop:14s} {r['mode']:16s} one worker: {r['one_worker_cpu_ms_per_clip']:5.1f} CPU ms/clip "
                              f"({r['clips_per_cpu_s']:5.1f} clips per CPU-s) | {r['chunk_kbps']:5.0f} kb/s ({r['storage_vs_x264_default']:.2f}x "
                              f"x264-default) | {st['frames_decoded_per_clip']:5.1f} frames/clip", flush=True)
                        save_json(portable_record(rec), out/f'{a.name}.json'); continue
                    print(f"[{content}] {gop:14s} {r['mode']:16s} workers {w:2d} main threads {r['main_threads']:2d}: {r['clips_per_s']:7.1f} clips/s | "
                          f"{r['chunk_kbps']:5.0f} kb/s ({r['storage_vs_x264_default']:.2f}x x264-default) | "
                          f"{st['frames_decoded_per_clip']:5.1f} frames/clip, {st['cpu_ms_per_clip']:5.1f} CPU ms/clip (1 proc) | "
                          f"workers {r['worker_busy']:.0%} busy, {r['worker_cpu_ms_per_clip']:.1f} CPU ms/clip; main "
                          f"{r['main_cores_busy']:.2f} cores", flush=True)
                    save_json(portable_record(rec), out/f'{a.name}.json')
    except KeyboardInterrupt:   # a time limit (timeout --signal=INT): keep what was measured
        rec['interrupted'] = True; print('interrupted: saving what was measured', flush=True)
    finally:
        rec['seconds'] = time.time() - t_all
        save_json(portable_record(rec), out/f'{a.name}.json')
        print(f'wrote {out / (a.name + ".json")} in {rec["seconds"]:.0f}s')
        if not (a.tiny or a.no_headline or a.one_worker) and out.resolve() == (ROOT/'benchmarks'/'loader').resolve():
            update_headline(rec, ROOT/'benchmarks'/'headline.json')


if __name__ == '__main__':
    main()
