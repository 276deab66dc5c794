#!/usr/bin/env python
"""Side by side on the same chunks and clips (issue 14): our fused reader vs what users would otherwise pick, and
where one clip's time goes.

Readers, each giving uint8 [4, 224, 224, 3] for the same 4 frame times (4 frames in a random 1-s window) and the same
RandomResizedCrop box (scale (0.5, 1)), one process, one decoder thread:
  ours                 avion_nb.decode.read_frames_at: fused YUV crop + swscale, smart GOP skipping, non-ref drops
  pyav-dtc             plain PyAV: seek to the keyframe before the first time, decode forward, every target frame to
                       full RGB, then torchvision resized_crop (decode-then-crop)
  torchcodec-<seek>    torchcodec VideoDecoder(seek_mode='exact'|'approximate').get_frames_played_at, then resized_crop
  torchcodec-<seek>-native   the same with torchcodec's decoder-native transforms RandomCrop(box size) + Resize(224):
                       the crop happens in FFmpeg's filter graph (its position is torchcodec's own random draw)
torchcodec is optional: without it (or without FFmpeg's shared libraries, e.g. Debian's `apt-get install ffmpeg`)
its rows are skipped with a message.

  ours-reuse-open      ours, the container kept open between clips (every clip reads the same chunk here: the upper
                       bound of what avion_nb.decode.OpenVideoCache saves)
  ours-into-batch      ours, the frames written straight into a batch row (out=; ClipDataset.__getitems__ does this)

Then a per-clip breakdown of our reader (open + header, demux + seek, decode, YUV crop + conversion, stack) and of the
loader's per-batch steps (collate = stack into one batch, move to shared memory = worker -> main transfer, pinning).

    python scripts/bench_decoders.py                  # 456x256 15-s chunks, content 'egocentric', 3 GOP structures
    python scripts/bench_decoders.py --tiny           # CPU smoke test (< 30 s)

Writes <name>.json under --out (default benchmarks/decode).
"""
import argparse, os, platform, re, sys, tempfile, time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from portable import portable_record  # noqa: E402  (records without machine-local paths)
os.environ.setdefault('OMP_NUM_THREADS', '1')
from avion_nb.core import machine_info, save_json  # noqa: E402
from avion_nb import decode as D  # noqa: E402


def make_chunks(d: Path, gops, seconds, w, h, content) -> dict:
    from avion_nb.synth import Scene, make_timeline, write_video
    sc = Scene(make_timeline(np.random.default_rng(3), seconds), w, h, seed=3, content=content)
    frames = [sc.render(i / 30) for i in range(int(seconds * 30))]
    return {g: str(write_video(d/f'{g}.mp4', frames, 30, keyint=None if g == 'x264-default' else g, preset='veryfast'))
            for g in gops}


def clips_for(path, n, size, seed):
    "n clips of one chunk: (4 times in a random 1-s window, an even-aligned RRC box), drawn once for every reader."
    info = D.video_info(path); g = torch.Generator().manual_seed(seed); out = []
    for _ in range(n):
        t0 = float(torch.rand(1, generator=g)) * (info.duration - 1.1)
        ts = D.sample_times(t0, t0 + 1.0, 4, True, g)
        box = D.RandomResizedCrop(size, scale=(0.5, 1.0)).sample(info.width, info.height, g).aligned(info.width, info.height)
        out.append((ts, box))
    return out


def ours(path, ts, box): return D.read_frames_at(path, ts, box)


_CACHE, _ROW, _K = None, None, 0
def ours_reuse(path, ts, box):
    "ours, the container kept open between clips (OpenVideoCache; every clip here reads the same chunk: all hits)."
    global _CACHE
    if _CACHE is None: _CACHE = D.OpenVideoCache(4)
    return D.read_frames_at(path, ts, box, cache=_CACHE)


def ours_into_batch(path, ts, box):
    "ours, frames written straight into a row of a preallocated batch tensor (the DataLoader path: no clip stack)."
    global _ROW, _K
    if _ROW is None or _ROW.shape[1:] != (len(ts), box.out_h, box.out_w, 3):
        _ROW, _K = torch.empty(64, len(ts), box.out_h, box.out_w, 3, dtype=torch.uint8), 0
    _K += 1   # a ring of 64 rows: the comparison keeps the clips of one repetition (<= 64)
    return D.read_frames_at(path, ts, box, out=_ROW[_K % 64])


def pyav_dtc(path, ts, box):
    import av
    with av.open(str(path)) as c:
        s = c.streams.video[0]; s.codec_context.thread_count = 1; tb = s.time_base
        c.seek(int(min(ts) / tb), stream=s, backward=True, any_frame=False)
        want, got, last = sorted(ts), {}, None
        for f in c.decode(s):
            while want and f.time > want[0] + 1e-9:          # passed the target: the previous frame was shown at it
                got[want.pop(0)] = last
            last = f
            if not want: break
            if abs(f.time - want[0]) < 1e-9: got[want.pop(0)] = f
        for t in want: got[t] = last
        frames = torch.from_numpy(np.stack([got[t].to_ndarray(format='rgb24') for t in ts]))
    return D.crop_resize_flip(frames, box)


def torchcodec_reader(seek_mode, native):
    from torchcodec.decoders import VideoDecoder
    def read(path, ts, box):
        if native:
            from torchcodec.transforms import RandomCrop, Resize
            dec = VideoDecoder(path, seek_mode=seek_mode, num_ffmpeg_threads=1, dimension_order='NHWC',
                               transforms=[RandomCrop((box.h, box.w)), Resize((box.out_h, box.out_w))])
            return dec.get_frames_played_at(ts).data
        dec = VideoDecoder(path, seek_mode=seek_mode, num_ffmpeg_threads=1, dimension_order='NHWC')
        return D.crop_resize_flip(dec.get_frames_played_at(ts).data, box)
    return read


def readers():
    rs = {'ours': ours, 'pyav-dtc': pyav_dtc}
    if hasattr(D, 'OpenVideoCache'): rs.update({'ours-reuse-open': ours_reuse, 'ours-into-batch': ours_into_batch})
    try:
        import torchcodec  # noqa: F401
        from torchcodec.decoders import VideoDecoder  # noqa: F401  (loads FFmpeg's shared libraries)
        for m in ('exact', 'approximate'):
            rs[f'torchcodec-{m}'] = torchcodec_reader(m, False)
            rs[f'torchcodec-{m}-native'] = torchcodec_reader(m, True)
    except Exception as e:
        print(f'torchcodec rows skipped: {type(e).__name__}: {str(e).splitlines()[0][:200]} '
              f'(pip install torchcodec; it needs FFmpeg shared libraries, e.g. apt-get install ffmpeg)')
    return rs


def time_reader(fn, path, clips, reps):
    fn(path, *clips[0])                                   # warm-up (imports, caches)
    best_cpu, out = float('inf'), None
    for _ in range(reps):
        c0 = time.process_time()
        out = [fn(path, ts, box) for ts, box in clips]
        best_cpu = min(best_cpu, (time.process_time() - c0) / len(clips))
    return best_cpu * 1e3, out


def breakdown(path, clips):
    "Where one clip of our reader goes: time spent inside each stage (wrapped), per clip."
    acc = {k: 0.0 for k in ('open', 'demux_seek', 'decode', 'crop_convert')}
    orig = dict(open=D.open_video, demux=D._demux_window, conv=D.FusedCrop.__call__)
    def wrap(name, f):
        def g(*a, **k):   # CPU time of this process (a shared machine disturbs it less than wall time)
            t = time.process_time()
            try: return f(*a, **k)
            finally: acc[name] += time.process_time() - t
        return g
    D.open_video = wrap('open', orig['open']); D._demux_window = wrap('demux_seek', orig['demux'])
    D.FusedCrop.__call__ = wrap('crop_convert', orig['conv'])
    dec_t = [0.0]   # decoder time: _decode_targets minus the conversions it calls
    orig_dt = D._decode_targets
    def dt(*a, **k):
        t = time.process_time(); c0 = acc['crop_convert']
        try: return orig_dt(*a, **k)
        finally: dec_t[0] += time.process_time() - t - (acc['crop_convert'] - c0)
    D._decode_targets = dt
    try:
        t = time.process_time()
        for ts, box in clips: D.read_frames_at(path, ts, box)
        total = time.process_time() - t
    finally:
        D.open_video, D._demux_window, D.FusedCrop.__call__, D._decode_targets = orig['open'], orig['demux'], orig['conv'], orig_dt
    acc['decode'] = dec_t[0]; n = len(clips)
    res = {k: v / n * 1e3 for k, v in acc.items()}
    res['other'] = total / n * 1e3 - sum(res.values()); res['total'] = total / n * 1e3
    return res


def batch_steps(batch, frames, size, reps=5):
    "Per-batch loader steps on uint8 clips: collate (stack), worker->main transfer (move to shared memory), pinning."
    clips = [torch.randint(0, 255, (frames, size, size, 3), dtype=torch.uint8) for _ in range(batch)]
    out = {}
    t = time.perf_counter()
    for _ in range(reps): b = torch.stack(clips)
    out['collate_stack_ms'] = (time.perf_counter() - t) / reps * 1e3
    t = time.perf_counter()
    for _ in range(reps): torch.stack(clips).share_memory_()
    out['stack_then_share_ms'] = (time.perf_counter() - t) / reps * 1e3
    # what DataLoader workers do: default_collate stacks straight into a shared-memory storage (one copy)
    from torch.utils.data import get_worker_info  # noqa: F401
    t = time.perf_counter()
    for _ in range(reps):
        st = clips[0].untyped_storage()._new_shared(b.numel() * b.element_size())
        torch.stack(clips, out=clips[0].new(st).resize_(b.shape))
    out['stack_into_shared_ms'] = (time.perf_counter() - t) / reps * 1e3
    if torch.cuda.is_available():
        t = time.perf_counter()
        for _ in range(reps): b.pin_memory()
        out['pin_ms'] = (time.perf_counter() - t) / reps * 1e3
    out['batch_mb'] = b.numel() / 2**20
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', default=str(ROOT/'benchmarks'/'decode'))
    p.add_argument('--name', default=None)
    p.add_argument('--gops', default='x264-default,k30-nrb-fd,k16-nrb-fd')
    p.add_argument('--content', default='egocentric')
    p.add_argument('--clips', type=int, default=30)
    p.add_argument('--reps', type=int, default=2, help='repetitions; the best CPU time per clip counts (shared machines)')
    p.add_argument('--tiny', action='store_true')
    a = p.parse_args()
    w, h, secs, size = 456, 256, 15.0, 224
    tmp = tempfile.TemporaryDirectory()
    if a.tiny:
        w, h, secs, size, a.clips, a.reps, a.gops = 160, 96, 3.0, 64, 4, 1, 'x264-default,k8-nrb-fd'
        if a.out == str(ROOT/'benchmarks'/'decode'): a.out = tmp.name
    name = a.name or re.sub(r'[^A-Za-z0-9_.-]', '', f'decoders_{platform.node()}_cpu{os.cpu_count()}') + ('_tiny' if a.tiny else '')
    t0 = time.time(); files = make_chunks(Path(tmp.name), a.gops.split(','), secs, w, h, a.content)
    print(f'encoded {len(files)} chunks {w}x{h} {secs:g}s ({a.content}) in {time.time() - t0:.0f}s', flush=True)
    rs = readers(); rec = dict(command=' '.join(['python', 'scripts/bench_decoders.py'] + sys.argv[1:]), machine=machine_info(),
                              settings=dict(width=w, height=h, seconds=secs, content=a.content, clips=a.clips, reps=a.reps, size=size,
                                            sampling='4 frames in a random 1-s window, RRC scale (0.5, 1), 1 decoder thread'),
                              results=[], breakdown={})
    try:
        import torchcodec; rec['machine']['torchcodec'] = torchcodec.__version__
    except Exception: pass
    print(f'{"GOP":14s} {"kb/s":>6s} ' + ' '.join(f'{k:>27s}' for k in rs) + '   (CPU ms per clip, best of reps)')
    for g, f in files.items():
        clips = clips_for(f, a.clips, size, seed=1)
        kbps = os.path.getsize(f) * 8 / secs / 1e3; row = dict(gop=g, kbps=kbps); ref = None
        for k, fn in rs.items():
            try:
                ms, out = time_reader(fn, f, clips, a.reps)
                x = torch.stack([o if torch.is_tensor(o) else torch.as_tensor(o) for o in out]).float()
                if ref is None: ref = x
                diff = float((x - ref).abs().mean())
                row[k] = dict(cpu_ms_per_clip=ms, mean_abs_diff_vs_ours=diff)
            except Exception as e:
                row[k] = dict(error=f'{type(e).__name__}: {str(e)[:200]}')
        rec['results'].append(row)
        print(f'{g:14s} {kbps:6.0f} ' + ' '.join(f"{row[k]['cpu_ms_per_clip']:12.1f} (diff {row[k]['mean_abs_diff_vs_ours']:5.1f})"
                                              if 'cpu_ms_per_clip' in row[k] else f"{'error':>27s}" for k in rs), flush=True)
        rec['breakdown'][g] = breakdown(f, clips)
        print(f'  ours, per clip (ms): ' + ', '.join(f'{k} {v:.2f}' for k, v in rec['breakdown'][g].items()), flush=True)
    rec['batch_steps'] = batch_steps(8 if a.tiny else 64, 4, size)
    print('per batch of', 8 if a.tiny else 64, 'clips (ms):', ', '.join(f'{k} {v:.2f}' for k, v in rec['batch_steps'].items()))
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True); save_json(portable_record(rec), out/f'{name}.json')
    print(f'wrote {out / (name + ".json")} in {time.time() - t0:.0f}s')


if __name__ == '__main__':
    main()
