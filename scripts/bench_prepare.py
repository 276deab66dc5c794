#!/usr/bin/env python
"""Benchmark dataset preparation (avion_nb.prepare): resize + chunk camera-resolution sources, per stage and per option,
against the ffmpeg shell loop LaViLa's users were given.

Sources: the embedded dataset's camera presets (avion_nb.synth: `camera1080` 1920x1080 30 fps at ~4.2-4.7 Mb/s,
`camera1440`, `ego4d540`), head-mounted motion, --videos videos of --video_sec s (made once under --src_root).

1. stages, one process on one core, on one source: open; decode at source resolution (1 thread, and --threads);
   scale to the short side in YUV (swscale flags) and through RGB (the round trip a naive path takes); x264 encode
   of the scaled frames per preset, with the planned GOP and with x264's default GOP; mux + write;
2. the whole path per process: `chunk_video(short_side=288, keyint=GOP)` (ours) and x264-default GOP;
3. total throughput with one process per core over --videos sources, side by side in one run:
   - ours: avion_nb.prepare.run (process pool, --workers = cores);
   - the shell loop: `ffmpeg -i SRC -vf scale=-2:288 -c:v libx264 -f segment -segment_time 15 -reset_timestamps 1`
     (libx264 default preset), one ffmpeg per core; also at `-preset veryfast`;
   - decoding alone: `ffmpeg -threads 1 -i SRC -f null -`, one per core (the ceiling of any CPU path).

Writes results.json under --out (default benchmarks/prepare/<preset>_<cores>c) and, unless --tiny or --no_headline,
benchmarks/headline.json: `prepare_fps_per_core_vm` on a machine with at most 4 cores, else `prepare_fps_16c` and
the Ego4D projections (`prepare_ego4d_hours_16c` from camera1080, `prepare_ego4d540_hours_16c` from ego4d540).
NVDEC is not measured by this script (no GPU path: it could not be smoke-tested without a GPU).

    python scripts/bench_prepare.py                          # camera1080, 2 x 10-s sources (the 2-core VM: ~3 min)
    python scripts/bench_prepare.py --preset ego4d540 --videos 16 --video_sec 20   # the 16-core machine
    python scripts/bench_prepare.py --tiny                   # seconds, temp folder only (CI)
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT/'scripts'))
from portable import portable_record, portable_command, portable_args  # noqa: E402
import av  # noqa: E402
from avion_nb.core import machine_info, save_json  # noqa: E402
from avion_nb.synth import make_dataset, encoder_options  # noqa: E402
from avion_nb.chunking import chunk_video, list_videos, _out_size  # noqa: E402
from avion_nb.decode import swscale_flags  # noqa: E402
from avion_nb.prepare import run as prepare_run, PrepPlan  # noqa: E402

EGO4D_FRAMES = 3670 * 3600 * 30   # ~396 M source frames (3,670 h at 30 fps)


def sources(root: Path, preset: str, videos: int, sec: float, tiny: bool) -> list:
    "The source videos (made once): `videos` Ego4D-style videos of `sec` s of the camera preset."
    kw = dict(width=320, height=180) if tiny else {}
    P = make_dataset(root, preset, ego4d_videos=videos, ego4d_duration=sec, ek100_duration=1., kinetics_train_per_class=0,
                     ek100_val_fps=None, verbose=not tiny, **kw)
    return list_videos(P['ego4d_videos'])


def timed(fn, *a, **k):
    t = time.perf_counter(); r = fn(*a, **k); return r, time.perf_counter() - t


def stages(src: Path, short: int, gop: str, threads: int, tiny: bool) -> dict:
    "Per-stage timings on one source, one process (frames/s, or ms for open)."
    out = {}
    def opener():
        with av.open(str(src)) as c: return c.streams.video[0].frames
    _, dt = timed(opener); out['open_ms'] = dt * 1e3
    def decode(th, keep=0):
        "Decode every frame (keeping none: no memory traffic in the timing); returns (count, the first `keep` frames)."
        n, kept = 0, []
        with av.open(str(src)) as c:
            s = c.streams.video[0]; s.codec_context.thread_count = th
            if th > 1: s.codec_context.thread_type = 'FRAME'
            for f in c.decode(s):
                n += 1
                if n <= keep: kept.append(f)
        return n, kept
    (n, _), dt = timed(decode, 1); out['decode_fps_1thread'] = n / dt
    _, dt = timed(decode, threads); out[f'decode_fps_{threads}threads'] = n / dt
    _, sub = decode(1, 60); W, H = _out_size(sub[0].width, sub[0].height, short)
    for name in ('FAST_BILINEAR', 'BILINEAR', 'BICUBIC', 'AREA'):
        fl = swscale_flags(name)
        _, dt = timed(lambda: [f.reformat(width=W, height=H, format='yuv420p', interpolation=fl) for f in sub])
        out[f'scale_yuv_{name}_fps'] = len(sub) / dt
    def rgb_round_trip():
        return [av.VideoFrame.from_ndarray(f.to_ndarray(format='rgb24'), format='rgb24').reformat(width=W, height=H, format='yuv420p') for f in sub]
    _, dt = timed(rgb_round_trip); out['scale_via_rgb_BILINEAR_fps'] = len(sub) / dt
    with av.open(str(src)) as c: small = [f.reformat(width=W, height=H, format='yuv420p') for f in c.decode(video=0)]
    del sub
    presets = ('ultrafast', 'veryfast') if tiny else ('ultrafast', 'superfast', 'veryfast', 'faster', 'medium')
    with tempfile.TemporaryDirectory() as d:
        for g in (gop, None):
            for pr in presets:
                def enc():
                    cc = av.CodecContext.create('libx264', 'w'); cc.width, cc.height, cc.pix_fmt = W, H, 'yuv420p'
                    cc.time_base = Fraction(1, 30); cc.framerate = Fraction(30); cc.thread_count = 1
                    cc.options = encoder_options(None, g, pr); pk = []
                    for i, f in enumerate(small):
                        f.pts = i; f.time_base = Fraction(1, 30); f.pict_type = av.video.frame.PictureType.NONE
                        pk += cc.encode(f)
                    return pk + cc.encode(None)
                pk, dt = timed(enc); out[f'encode_{g or "x264-default"}_{pr}_fps'] = len(small) / dt
        # write: mux already-encoded packets of the planned GOP into an MP4
        def mux():
            with av.open(str(Path(d)/'w.mp4'), 'w') as o:
                s = o.add_stream('libx264', rate=30, options=encoder_options(None, gop, 'veryfast')); s.width, s.height, s.pix_fmt = W, H, 'yuv420p'
                s.codec_context.thread_count = 1; pk = []
                for i, f in enumerate(small): f.pts = i; f.time_base = Fraction(1, 30); pk += s.encode(f)
                pk += s.encode(None); t = time.perf_counter()
                for p in pk: o.mux(p)
                return time.perf_counter() - t, len(pk)
        (mt, npk), _ = timed(mux); out['write_fps'] = npk / max(mt, 1e-9)
        for g in (gop, None):
            r, dt = timed(chunk_video, src, Path(d)/f'c_{g}', 15, short_side=short, keyint=g, copy=False)
            out[f'chunk_video_{g or "x264-default"}_fps'] = n / dt
    out.update(frames=n, out_size=[W, H])
    return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in out.items()}


def parallel_shell(cmds: list) -> float:
    "Wall seconds of running every command at once (one process each)."
    t = time.perf_counter(); ps = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for c in cmds]
    for p in ps:
        _, err = p.communicate()
        if p.returncode: raise RuntimeError(f'{cmds[0][0]} failed: {err.decode()[-300:]}')
    return time.perf_counter() - t


def totals(srcs: list, short: int, gop: str, cores: int, work: Path, repeat: int = 1) -> dict:
    "Total source frames/s with one process per core: ours (prepare.run), the ffmpeg loop (default, veryfast), decode only."
    frames = 0
    for s in srcs:
        with av.open(str(s)) as c: frames += sum(1 for pk in c.demux(c.streams.video[0]) if pk.size)   # one packet per frame
    out = dict(frames=frames, processes=cores, repeat=repeat); raw = srcs[0].parent; ff = shutil.which('ffmpeg'); runs = {}
    def ours():
        shutil.rmtree(work/'ours', ignore_errors=True)
        _, dt = timed(prepare_run, raw, work/'ours', PrepPlan(chunk_len=15, short_side=short, gop=gop, preset='veryfast'), workers=cores, verbose=False)
        return frames / dt
    def loop(extra, tag):
        cmds = []
        for i, s in enumerate(srcs):
            d = work/tag/str(i); shutil.rmtree(d, ignore_errors=True); d.mkdir(parents=True, exist_ok=True)
            cmds.append([ff, '-nostdin', '-loglevel', 'error', '-y', '-i', str(s), '-vf', f'scale=-2:{short}', '-c:v', 'libx264', *extra,
                         '-f', 'segment', '-segment_time', '15', '-reset_timestamps', '1', str(d/'%d.mp4')])
        return frames / sum(parallel_shell(cmds[k:k + cores]) for k in range(0, len(cmds), cores))
    def dec():
        cmds = [[ff, '-nostdin', '-loglevel', 'error', '-threads', '1', '-i', str(s), '-f', 'null', '-'] for s in srcs]
        return frames / sum(parallel_shell(cmds[k:k + cores]) for k in range(0, len(cmds), cores))
    paths = dict(ours_fps=ours)
    if ff: paths.update(shell_loop_default_fps=lambda: loop([], 'loop_default'), shell_loop_veryfast_fps=lambda: loop(['-preset', 'veryfast'], 'loop_veryfast'),
                        decode_only_fps=dec)
    else: out['ffmpeg'] = 'not installed: shell-loop baselines skipped'
    for _ in range(repeat):                       # interleaved, so that a busy spell of the machine hits every path
        for k, fn in paths.items(): runs.setdefault(k, []).append(round(fn(), 2))
    out.update({k: max(v) for k, v in runs.items()}, runs=runs)   # best of `repeat` (a shared machine only slows a run down)
    if not ff: return out
    out['ours_vs_shell_loop'] = out['ours_fps'] / out['shell_loop_default_fps']
    out['decode_only_vs_shell_loop'] = out['decode_only_fps'] / out['shell_loop_default_fps']
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in out.items()}


def update_headline(rec: dict, path: Path):
    "Merge this run's prepare keys into benchmarks/headline.json."
    h = json.loads(path.read_text()) if path.exists() else {}; t = rec['totals']; cores = rec['cores']
    base = dict(machine=rec['machine_desc'], command=rec['command'], date=rec['date'])
    per_core = t['ours_fps'] / cores
    if cores <= 4:
        h['prepare_fps_per_core_vm'] = dict(value=round(per_core, 1), **base, detail=(
            f"{rec['preset']} sources ({rec['videos']} x {rec['video_sec']:g} s, {rec['source_mbit']:.2f} Mb/s) -> {rec['short_side']}p "
            f"15-s chunks, GOP {rec['gop']}, {cores} processes: {t['ours_fps']:.1f} frames/s in total; shell loop (libx264 default "
            f"preset + segment) {t.get('shell_loop_default_fps', float('nan')):.1f} ({t['ours_fps'] / t['shell_loop_default_fps'] if t.get('shell_loop_default_fps') else float('nan'):.2f}x), "
            f"decoding alone {t.get('decode_only_fps', float('nan')):.1f}; load average before {rec['load_before']}, after {rec['load_after']}"
            + (' (the VM was shared with other jobs: a lower bound)' if max(rec['load_before'][0], rec['load_after'][0]) > 1.2 * cores else '')
            + '; benchmarks/prepare/README.md'))
    elif cores >= 16:
        h['prepare_fps_16c'] = dict(value=round(t['ours_fps'], 1), **base, detail=f"{rec['preset']}, {cores} processes, CPU only (no NVDEC)")
        key = {'camera1080': 'prepare_ego4d_hours_16c', 'ego4d540': 'prepare_ego4d540_hours_16c'}.get(rec['preset'])
        if key: h[key] = dict(value=round(EGO4D_FRAMES / t['ours_fps'] / 3600, 1), **base,
                              detail=f"3,670 h x 30 fps / {t['ours_fps']:.0f} frames/s ({rec['preset']} sources, CPU only)")
    with open(path, 'w') as f: json.dump(portable_record(h), f, indent=2); f.write('\n')


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--preset', default='camera1080', choices=['camera1080', 'camera1440', 'ego4d540'])
    p.add_argument('--videos', type=int, default=None, help='source videos (default: one per core)')
    p.add_argument('--video_sec', type=float, default=10.)
    p.add_argument('--short_side', type=int, default=288); p.add_argument('--gop', default='k32-lat16-fd')
    p.add_argument('--threads', type=int, default=None, help='threads for the threaded-decode stage (default: cores)')
    p.add_argument('--workers', type=int, default=None, help='processes for the totals (default: all cores)')
    p.add_argument('--repeat', type=int, default=3, help='runs of each total (interleaved; the best is reported, all are recorded)')
    p.add_argument('--src_root', default=None, help='where the sources are made (default data/prepare_bench_<preset>)')
    p.add_argument('--out', default=None); p.add_argument('--tiny', action='store_true'); p.add_argument('--no_headline', action='store_true')
    a = p.parse_args()
    cores = a.workers or len(os.sched_getaffinity(0)); load0 = os.getloadavg()
    tmp = tempfile.TemporaryDirectory() if a.tiny else None
    if a.tiny: a.videos, a.video_sec = a.videos or 2, 2.
    src_root = Path(tmp.name)/'src' if a.tiny else Path(a.src_root or ROOT/'data'/f'prepare_bench_{a.preset}')
    out = Path(tmp.name)/'out' if a.tiny else Path(a.out or ROOT/'benchmarks'/'prepare'/f'{a.preset}_{cores}c')
    srcs = sources(src_root, a.preset, a.videos or cores, a.video_sec, a.tiny)
    print(f'{len(srcs)} sources under {src_root}', flush=True)
    st = stages(srcs[0], a.short_side, a.gop, a.threads or cores, a.tiny); print(json.dumps(st, indent=1), flush=True)
    with tempfile.TemporaryDirectory() as w: tot = totals(srcs, a.short_side, a.gop, cores, Path(w)/'t', 1 if a.tiny else a.repeat)
    print(json.dumps(tot, indent=1), flush=True)
    mi = machine_info(); mbit = sum(s.stat().st_size for s in srcs) * 8 / (len(srcs) * a.video_sec) / 1e6
    desc = (f"{', '.join(mi['gpus'])}, " if mi.get('gpus') else '') + f'{cores} CPU cores' + (' (the 2-core VM)' if cores == 2 else '')
    rec = dict(date=time.strftime('%Y-%m-%d'), command=portable_command(), args=portable_args(vars(a)), machine=mi, machine_desc=desc,
               cores=cores, preset=a.preset, videos=len(srcs), video_sec=a.video_sec, source_mbit=mbit, short_side=a.short_side,
               gop=a.gop, stages=st, totals=tot, load_before=[round(x, 2) for x in load0],
               load_after=[round(x, 2) for x in os.getloadavg()], nvdec='not measured (no GPU path in this script)')
    save_json(portable_record(rec), out/'results.json'); print(f'wrote {out/"results.json"}')
    if not a.tiny and not a.no_headline: update_headline(rec, ROOT/'benchmarks'/'headline.json')
    if tmp: tmp.cleanup()


if __name__ == '__main__':
    main()
