#!/usr/bin/env python
"""Side by side on the same chunks and clips (issues 14, 22): our fused reader vs what users would otherwise pick, and
where one clip's time goes.

Every reader gives uint8 [4, 224, 224, 3] for the same 4 frame times (4 frames in a random 1-s window) and the same
RandomResizedCrop box (scale (0.5, 1)), builds its decoder per clip (a training worker reads a different chunk every
clip), and runs on ONE thread, set here rather than by the environment: torch.set_num_threads(--torch_threads, default
1, what a DataLoader worker runs with), PyAV thread_count 1 / thread_type NONE, torchcodec num_ffmpeg_threads=1.
  ours                 avion_nb.decode.read_frames_at: fused YUV crop + swscale, smart GOP skipping, non-ref drops
  pyav-dtc             plain PyAV (the reference): seek to the keyframe before the first time, decode forward, every
                       target frame to full RGB, then torchvision resized_crop (decode-then-crop)
  torchcodec-<seek>    torchcodec VideoDecoder(seek_mode='exact'|'approximate').get_frames_played_at, then the same
                       torchvision resized_crop
  torchcodec-<seek>-native   the same with torchcodec's decoder-native transforms RandomCrop(box size) + Resize(224):
                       crop and resize in FFmpeg's filter graph (the crop position is torchcodec's own random draw)
  torchcodec-recommended     torchcodec as its documentation suggests for this access pattern (few frames of a short
                       file that is decoded many times, parallelism across worker processes): the batch API
                       get_frames_played_at, frame-exact seeking from custom_frame_mappings prepared once per chunk
                       (no scan when the decoder is built), num_ffmpeg_threads=1, default NCHW output, torchvision crop
torchcodec is optional: without it (or without FFmpeg's shared libraries, e.g. Debian's `apt-get install ffmpeg`)
its rows are skipped with a message.
  ours-reuse-open      ours, the container kept open between clips (every clip reads the same chunk here: the upper
                       bound of what avion_nb.decode.OpenVideoCache saves)
  ours-into-batch      ours, the frames written straight into a batch row (out=; ClipDataset.__getitems__ does this)

Repetitions are interleaved (rep 1 of every reader, then rep 2, ...) so a shared machine's load drifts over all of
them alike; the table gives the best CPU ms per clip over the repetitions, the JSON every repetition and the median.
Then a per-clip breakdown of our reader (open + header, demux + seek, decode, YUV crop + conversion, stack) and of the
loader's per-batch steps (collate = stack into one batch, move to shared memory = worker -> main transfer, pinning).

    python scripts/bench_decoders.py                  # 456x256 15-s chunks, content 'egocentric', 3 GOP structures
    python scripts/bench_decoders.py --video a.mp4,b.mp4   # existing chunk files instead of synthetic ones
    python scripts/bench_decoders.py --torch_threads 2     # the old setup: torch's default pool on a 2-core machine
    python scripts/bench_decoders.py --tiny           # CPU smoke test (seconds, temp folder only)

Writes <name>.json under --out (default benchmarks/decode).
"""
import argparse, json, os, platform, re, statistics, sys, tempfile, time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from portable import portable_record  # noqa: E402  (records without machine-local paths)
from avion_nb.core import machine_info, save_json  # noqa: E402
from avion_nb import decode as D  # noqa: E402


def make_chunks(d: Path, gops, seconds, w, h, content) -> dict:
    from avion_nb.synth import Scene, make_timeline, write_video
    sc = Scene(make_timeline(np.random.default_rng(3), seconds), w, h, seed=3, content=content)
    frames = [sc.render(i / 30) for i in range(int(seconds * 30))]
    return {g: str(write_video(d/f'{g}.mp4', frames, 30, keyint=None if g == 'x264-default' else g, preset='veryfast'))
            for g in gops}


def chunk_facts(path) -> dict:
    "What every row reports about its chunk: resolution, duration, bitrate, frames, keyframes."
    import av
    with av.open(str(path)) as c:
        s = c.streams.video[0]; pk = [p for p in c.demux(s) if p.pts is not None]
        w, h, dur = s.codec_context.width, s.codec_context.height, float(s.duration * s.time_base)
    return dict(width=w, height=h, seconds=round(dur, 3), kbps=round(os.path.getsize(path) * 8 / dur / 1e3, 1),
                frames=len(pk), keyframes=sum(p.is_keyframe for p in pk))


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
        s = c.streams.video[0]; s.codec_context.thread_type, s.codec_context.thread_count = 'NONE', 1
        tb = s.time_base
        c.seek(int(min(ts) / tb), stream=s, backward=True, any_frame=False)
        want, got, last = sorted(ts), {}, None
        for f in c.decode(s):
            while want and f.time > want[0] + 1e-9:          # passed the target: the previous frame was shown at it
                got[want.pop(0)] = last
            last = f
            if not want: break
            if abs(f.time - want[0]) < 1e-9: got[want.pop(0)] = f
        for t in want: got[t] = last
        frames = torch.from_numpy(np.stack([got[t].to_ndarray(format='rgb24', threads=1) for t in ts]))
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


_MAPPINGS = {}
def frame_mappings(path) -> bytes:
    "torchcodec's custom_frame_mappings JSON (pts, duration, key_frame per frame) from one demux pass, once per chunk."
    if path not in _MAPPINGS:
        import av
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            fr = sorted((p.pts, p.duration, int(p.is_keyframe)) for p in c.demux(s) if p.pts is not None)
        _MAPPINGS[path] = json.dumps({'frames': [dict(pts=a, duration=b, key_frame=k) for a, b, k in fr]}).encode()
    return _MAPPINGS[path]


def torchcodec_recommended(path, ts, box):
    "torchcodec as its docs suggest here: batch API, exact seeks from prepared frame mappings, one FFmpeg thread."
    from torchcodec.decoders import VideoDecoder
    from torchvision.transforms.v2 import functional as TF
    dec = VideoDecoder(path, custom_frame_mappings=frame_mappings(path), num_ffmpeg_threads=1)
    x = TF.resized_crop(dec.get_frames_played_at(ts).data, box.y, box.x, box.h, box.w, [box.out_h, box.out_w], antialias=True)
    return (x.flip(-1) if box.flip else x).permute(0, 2, 3, 1)


def readers():
    rs = {'ours': ours, 'pyav-dtc': pyav_dtc}
    if hasattr(D, 'OpenVideoCache'): rs.update({'ours-reuse-open': ours_reuse, 'ours-into-batch': ours_into_batch})
    try:
        import torchcodec  # noqa: F401
        from torchcodec.decoders import VideoDecoder  # noqa: F401  (loads FFmpeg's shared libraries)
        for m in ('exact', 'approximate'):
            rs[f'torchcodec-{m}'] = torchcodec_reader(m, False)
            rs[f'torchcodec-{m}-native'] = torchcodec_reader(m, True)
        rs['torchcodec-recommended'] = torchcodec_recommended
    except Exception as e:
        print(f'torchcodec rows skipped: {type(e).__name__}: {str(e).splitlines()[0][:200]} '
              f'(pip install torchcodec; it needs FFmpeg shared libraries, e.g. apt-get install ffmpeg)')
    return rs


def time_once(fn, path, clips):
    "CPU and wall ms per clip over all clips (one repetition), and the outputs."
    c0, w0 = time.process_time(), time.perf_counter()
    out = [fn(path, ts, box) for ts, box in clips]
    n = len(clips)
    return (time.process_time() - c0) / n * 1e3, (time.perf_counter() - w0) / n * 1e3, out


def compare(rs, path, clips, reps):
    "Every reader on the same clips, repetitions interleaved across readers; best and median CPU ms per clip."
    cpu, wall, outs, err = {k: [] for k in rs}, {k: [] for k in rs}, {}, {}
    for k, fn in rs.items():
        try: fn(path, *clips[0])                          # warm-up (imports, caches, frame mappings)
        except Exception as e: err[k] = f'{type(e).__name__}: {str(e)[:200]}'
    for _ in range(reps):
        for k, fn in rs.items():
            if k in err: continue
            try: c, w, outs[k] = time_once(fn, path, clips)
            except Exception as e: err[k] = f'{type(e).__name__}: {str(e)[:200]}'; continue
            cpu[k].append(c); wall[k].append(w)
    ref = torch.stack([torch.as_tensor(o) for o in outs['ours']]).float() if 'ours' in outs else None
    row = {}
    for k in rs:
        if k in err: row[k] = dict(error=err[k]); continue
        x = torch.stack([torch.as_tensor(o) for o in outs[k]]).float()
        row[k] = dict(cpu_ms_per_clip=min(cpu[k]), cpu_ms_median=statistics.median(cpu[k]), wall_ms_best=min(wall[k]),
                      cpu_ms_reps=[round(v, 3) for v in cpu[k]],
                      mean_abs_diff_vs_ours=None if ref is None else float((x - ref).abs().mean()))
    return row


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


def load_avg():
    "1/5/15-min load averages (a shared machine's figures are only comparable at like load)."
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, 'getloadavg') else None


def cpu_model():
    "The CPU's model name from /proc/cpuinfo (Linux), else None."
    try:
        for line in open('/proc/cpuinfo'):
            if line.startswith('model name'): return line.split(':', 1)[1].strip()
    except OSError: pass
    return None


def fail(msg):
    "A user error: one line, exit 2, before anything is written."
    print(f'bench_decoders.py: {msg}', file=sys.stderr); sys.exit(2)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', default=str(ROOT/'benchmarks'/'decode'))
    p.add_argument('--name', default=None)
    p.add_argument('--gops', default='x264-default,k30-nrb-fd,k16-nrb-fd', help='GOP structures of the synthetic chunks')
    p.add_argument('--video', default=None, help='comma-separated existing chunk files to compare on (instead of --gops)')
    p.add_argument('--content', default='egocentric')
    p.add_argument('--clips', type=int, default=30)
    p.add_argument('--reps', type=int, default=3, help='interleaved repetitions; the best CPU time per clip is reported '
                                                      '(and the median is kept): shared machines')
    p.add_argument('--torch_threads', type=int, default=1,
                   help="torch intra-op threads of this process (1: what a DataLoader worker runs with; the decoders "
                        "run one thread each regardless)")
    p.add_argument('--tiny', action='store_true')
    a = p.parse_args()
    videos = [v for v in (a.video or '').split(',') if v]
    for v in videos:
        if not Path(v).is_file(): fail(f'--video: no file {v}')
    if a.torch_threads < 1: fail(f'--torch_threads: must be >= 1, got {a.torch_threads}')
    if a.clips < 1 or a.reps < 1: fail('--clips and --reps must be >= 1')
    torch.set_num_threads(a.torch_threads)
    w, h, secs, size = 456, 256, 15.0, 224
    tmp = tempfile.TemporaryDirectory()
    if a.tiny:
        w, h, secs, size, a.clips, a.reps, a.gops = 160, 96, 3.0, 64, 4, 1, 'x264-default,k8-nrb-fd'
        if a.out == str(ROOT/'benchmarks'/'decode'): a.out = tmp.name
    name = a.name or re.sub(r'[^A-Za-z0-9_.-]', '', f'decoders_{platform.node()}_cpu{os.cpu_count()}') + ('_tiny' if a.tiny else '')
    t0 = time.time(); load0 = load_avg()
    if videos: files = {'/'.join(Path(v).parts[-3:]): v for v in videos}
    else:
        files = make_chunks(Path(tmp.name), a.gops.split(','), secs, w, h, a.content)
        print(f'encoded {len(files)} chunks {w}x{h} {secs:g}s ({a.content}) in {time.time() - t0:.0f}s', flush=True)
    rs = readers()
    rec = dict(command=' '.join(['python', 'scripts/bench_decoders.py'] + sys.argv[1:]), machine=machine_info(),
               settings=dict(content=None if videos else a.content, clips=a.clips, reps=a.reps, size=size,
                             torch_threads=torch.get_num_threads(),
                             sampling='4 frames in a random 1-s window, RRC scale (0.5, 1), a decoder per clip, 1 decoder thread',
                             timing='CPU ms per clip (process_time), repetitions interleaved across readers; '
                                    'cpu_ms_per_clip = best of reps, cpu_ms_median = their median',
                             torchcodec_recommended='get_frames_played_at; custom_frame_mappings (exact seeks, no scan) '
                                                    'prepared once per chunk; num_ffmpeg_threads=1; NCHW; torchvision resized_crop'),
               load_avg_start=load0, results=[], breakdown={})
    rec['machine']['cpu_model'] = cpu_model()
    try:
        import torchcodec; rec['machine']['torchcodec'] = torchcodec.__version__
    except Exception: pass
    print(f'torch threads {torch.get_num_threads()}, load {load0}; CPU ms per clip: best of {a.reps} (median), wall best, '
          f'mean |diff| vs ours', flush=True)
    for g, f in files.items():
        facts = chunk_facts(f); clips = clips_for(f, a.clips, size, seed=1); la = load_avg()
        row = compare(rs, f, clips, a.reps)
        rec['results'].append(dict(gop=g, **facts, load_avg_before=la, load_avg_after=load_avg(), readers=row))
        print(f"{g}: {facts['width']}x{facts['height']}, {facts['seconds']:g} s, {facts['kbps']:.0f} kb/s, "
              f"{facts['keyframes']} keyframes / {facts['frames']} frames; load {la}", flush=True)
        base = row.get('ours', {}).get('cpu_ms_per_clip')
        for k, r in row.items():
            if 'error' in r: print(f'  {k:31s} error: {r["error"]}'); continue
            ratio = f'  {r["cpu_ms_per_clip"] / base:4.2f}x ours' if base else ''
            print(f'  {k:31s} {r["cpu_ms_per_clip"]:7.2f} ({r["cpu_ms_median"]:7.2f})  wall {r["wall_ms_best"]:7.2f}  '
                  f'diff {r["mean_abs_diff_vs_ours"]:5.1f}{ratio}', flush=True)
        rec['breakdown'][g] = breakdown(f, clips)
        print('  ours, per clip (ms): ' + ', '.join(f'{k} {v:.2f}' for k, v in rec['breakdown'][g].items()), flush=True)
    rec['batch_steps'] = batch_steps(8 if a.tiny else 64, 4, size)
    print('per batch of', 8 if a.tiny else 64, 'clips (ms):', ', '.join(f'{k} {v:.2f}' for k, v in rec['batch_steps'].items()))
    rec['load_avg_end'] = load_avg(); rec['seconds'] = round(time.time() - t0, 1)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True); save_json(portable_record(rec), out/f'{name}.json')
    print(f'wrote {out / (name + ".json")} in {time.time() - t0:.0f}s; load {rec["load_avg_end"]}')


if __name__ == '__main__':
    main()
