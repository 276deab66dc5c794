#!/usr/bin/env python
"""Benchmark Fused DecodeCrop (avion_nb.decode) — the paper's Fig. 5 on this machine's CPU.

For H.264 chunks (456x256, 15 s, 30 fps; encoded here from avion_nb.synth's 'stress' content preset, or taken from
--chunks DIR) with keyframe intervals 250 (x264 default), 30, 8 and 1, each plain and with x264 `tune=fastdecode`
(no CABAC, no deblocking), it reads clips the way pre-training does —
open file -> 4 frames from a random 1 s window -> RandomResizedCrop(224, scale (0.5, 1)) -> uint8 [4,224,224,3] — with
  * decode-then-crop : decode forward from the keyframe, every target frame to full RGB, torchvision resized_crop
  * fused            : same decoding, crop the YUV planes and convert+resize only the box (one swscale call)
  * fused+smart      : fused, decoding only the GOPs that hold a target and dropping non-reference frames (default)
and a pool of M worker processes (--procs). It reports per-clip latency, clips/s per process and in total,
CPU ms per clip, frames decoded per clip, file size per keyint, and a single-process decoder-threads sweep.
Prints a table, writes <name>.json and <name>.png under --out.

    python scripts/bench_decode.py                          # full run, procs 1,2,4,... up to the core count
    python scripts/bench_decode.py --procs 1,8,16,32,64     # a big CPU box
    python scripts/bench_decode.py --chunks data/avion_synth/ego4d/videos_chunked   # real chunk files
    python scripts/bench_decode.py --tiny                   # quick CPU smoke test
"""
import argparse, json, os, platform, re, sys, tempfile, time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from portable import portable_record  # noqa: E402  (records without machine-local paths)
os.environ.setdefault('OMP_NUM_THREADS', '1')

MODES = {'decode-then-crop': dict(fused=False, strategy='forward'),
         'fused': dict(fused=True, strategy='forward'),
         'fused+smart': dict(fused=True, strategy='smart')}
TARGET = 80.0   # clips/s per core


def synth_frames(n, h, w, seed, content='stress'):
    "Generated frames with a content preset of avion_nb.synth (default 'stress': ~0.7 Mb/s at 456x256, CRF 23)."
    from avion_nb.synth import Scene, make_timeline
    sc = Scene(make_timeline(np.random.default_rng(seed), n / 30 + 1), w, h, seed=seed, content=content)
    return np.stack([sc.render(i / 30) for i in range(n)])


def make_chunks(root, keyints, tunes, n_chunks, h, w, seconds, fps, preset):
    "Synthetic chunks per setting label '<keyint>' or '<keyint>+<tune>' (keyint 250 = x264's default GOP)."
    from avion_nb.decode import encode_video
    files = {}
    for c in range(n_chunks):
        frames = synth_frames(int(seconds * fps), h, w, seed=c)
        for tune in tunes:
            for k in keyints:
                lab = f'{k}' + (f'+{tune}' if tune else '')
                p = Path(root) / lab / f'{c}.mp4'
                encode_video(p, frames, fps=fps, keyint=None if k == 250 else k, crf=23, preset=preset, tune=tune)
                files.setdefault(lab, []).append(str(p))
    return files


def given_chunks(d):
    "Chunk files under DIR, grouped by their measured median keyframe interval."
    from avion_nb.decode import video_info
    files = {}
    for p in sorted(x for x in Path(d).rglob('*') if x.suffix.lower() in ('.mp4', '.mov', '.mkv') and x.is_file()):
        i = video_info(p, index=True)
        kt = i.keyframe_times
        k = int(round(np.median(np.diff(kt)) * float(i.fps))) if len(kt) > 1 else i.num_frames
        files.setdefault(str(k), []).append(str(p))
    return files


def _worker(args):
    files, n, mode, seed, threads, window, frames, size = args
    import torch
    torch.set_num_threads(1)
    from avion_nb.decode import read_frames_at, sample_times, video_info, RandomResizedCrop
    durs = {f: video_info(f).duration for f in files}
    g, st, lat = torch.Generator().manual_seed(seed), {}, []
    spec = RandomResizedCrop(size, scale=(0.5, 1.0))
    read_frames_at(files[0], [0.5], spec, generator=g, threads=threads, **MODES[mode])   # warm up imports/caches
    t_start, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        f = files[int(torch.randint(len(files), (1,), generator=g))]
        t0 = float(torch.rand(1, generator=g)) * max(0.0, durs[f] - window - 0.05)
        t = time.perf_counter()
        x = read_frames_at(f, sample_times(t0, t0 + window, frames, True, g), spec, generator=g, threads=threads,
                           stats=st, **MODES[mode])
        lat.append(time.perf_counter() - t)
        assert x.shape == (frames, size, size, 3)
    return dict(t_start=t_start, t_end=time.perf_counter(), cpu=time.process_time() - c0, lat=lat,
                frames_decoded=st.get('frames_decoded', 0), packets_fed=st.get('packets_fed', 0))


def measure(pool_ctx, files, mode, procs, clips_per_proc, threads=1, window=1.0, frames=4, size=224, seed=0):
    jobs = [(files, clips_per_proc, mode, seed * 1000 + i, threads, window, frames, size) for i in range(procs)]
    if procs == 1: res = [_worker(jobs[0])]
    else:
        with pool_ctx.Pool(procs) as pool: res = pool.map(_worker, jobs)
    n = procs * clips_per_proc
    wall = max(r['t_end'] for r in res) - min(r['t_start'] for r in res)
    lat = np.concatenate([r['lat'] for r in res])
    return dict(mode=mode, procs=procs, threads=threads, clips=n, ms_per_clip=float(lat.mean() * 1e3),
                ms_per_clip_p50=float(np.median(lat) * 1e3), ms_per_clip_p90=float(np.quantile(lat, .9) * 1e3),
                clips_per_s=n / wall, clips_per_s_per_proc=n / wall / procs,
                cpu_ms_per_clip=sum(r['cpu'] for r in res) / n * 1e3, clips_per_cpu_s=n / sum(r['cpu'] for r in res),
                frames_decoded_per_clip=sum(r['frames_decoded'] for r in res) / n,
                packets_fed_per_clip=sum(r['packets_fed'] for r in res) / n)


def plot(results, path):
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from avion_nb.core import set_plot_style
    set_plot_style()
    fig, ax = plt.subplots(1, 4, figsize=(19, 4.2))
    r1 = [r for r in results if r['threads'] == 1]
    keyints = list(dict.fromkeys(r['keyint'] for r in r1))
    modes = [m for m in MODES if any(r['mode'] == m for r in r1)]
    styles = {'decode-then-crop': ':', 'fused': '--', 'fused+smart': '-'}
    cols = dict(zip(keyints, plt.rcParams['axes.prop_cycle'].by_key()['color']))
    for k in keyints:
        for m in modes:
            rs = sorted((r for r in r1 if r['keyint'] == k and r['mode'] == m), key=lambda r: r['procs'])
            if not rs: continue
            x = [r['procs'] for r in rs]
            kw = dict(ls=styles[m], color=cols[k], marker='o', label=f'keyint {k}, {m}')
            ax[0].plot(x, [r['ms_per_clip'] for r in rs], **kw)
            ax[1].plot(x, [r['clips_per_s_per_proc'] for r in rs], **kw)
            ax[2].plot(x, [r['clips_per_s'] for r in rs], **kw)
    # (d) clips per CPU-second of one process, grouped by keyint
    wbar = 0.8 / max(1, len(modes))
    for j, m in enumerate(modes):
        vals = [next((r['clips_per_cpu_s'] for r in r1 if r['keyint'] == k and r['mode'] == m and r['procs'] == 1), 0)
                for k in keyints]
        ax[3].bar(np.arange(len(keyints)) + (j - (len(modes) - 1) / 2) * wbar, vals, wbar, label=m,
                  hatch={'decode-then-crop': '..', 'fused': '//', 'fused+smart': ''}[m], color=f'C{j + 4}')
    ax[3].set_xticks(np.arange(len(keyints))); ax[3].set_xticklabels([f'keyint {k}' for k in keyints])
    for a in ax[1], ax[3]: a.axhline(TARGET, color='k', lw=1, alpha=.6)
    ax[3].text(-0.4, TARGET * 1.03, f'target {TARGET:g}/core', fontsize=8)
    procs = sorted({r['procs'] for r in r1})
    for a, t in zip(ax, ['(a) latency (ms / clip)', '(b) clips/s per process', '(c) total clips/s',
                         '(d) clips per CPU-second (1 process)']):
        a.set_title(t, fontsize=11)
    for a in ax[:3]: a.set_xlabel('# worker processes'); a.set_xticks(procs)
    ax[0].set_yscale('log'); ax[1].set_yscale('log')
    ax[2].legend(fontsize=7, loc='upper left', bbox_to_anchor=(-2.45, -0.18), ncol=len(keyints))
    ax[3].tick_params(axis='x', labelsize=8, rotation=20)
    ax[3].legend(fontsize=8)
    fig.savefig(path, dpi=110); plt.close(fig)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', default='benchmarks/decode')
    p.add_argument('--name', default=None, help='file stem of the results (default: <host>_cpu<N>)')
    p.add_argument('--procs', default=None, help='comma list of worker-process counts (default 1,2,4,... <= cores)')
    p.add_argument('--keyints', default='250,30,8,1')
    p.add_argument('--modes', default=','.join(MODES))
    p.add_argument('--chunks', default=None, help='use these chunk files (grouped by measured keyint) instead of synthetic ones')
    p.add_argument('--n_chunks', type=int, default=3, help='synthetic chunks per keyint')
    p.add_argument('--clips', type=int, default=60, help='clips per process per measurement')
    p.add_argument('--threads', default='1,2', help='decoder threads for the single-process sweep')
    p.add_argument('--preset', default='medium', help='x264 preset of the synthetic chunks')
    p.add_argument('--tunes', default='none,fastdecode', help="x264 tunes of the synthetic chunks ('none' = no tune)")
    p.add_argument('--tiny', action='store_true', help='small chunks, few clips (quick CPU check)')
    p.add_argument('--replot', default=None, help='only redraw the PNG of an existing results JSON')
    a = p.parse_args()
    if a.replot:
        plot(json.loads(Path(a.replot).read_text())['results'], Path(a.replot).with_suffix('.png')); return
    import multiprocessing as mp
    import torch
    from avion_nb.core import machine_info, save_json
    ncpu = os.cpu_count() or 1
    procs = [int(x) for x in a.procs.split(',')] if a.procs else [2 ** i for i in range(8) if 2 ** i <= ncpu]
    keyints, modes = [int(x) for x in a.keyints.split(',')], a.modes.split(',')
    tunes = [None if t in ('', 'none') else t for t in a.tunes.split(',')]
    h, w, secs, size = 256, 456, 15.0, 224
    if a.tiny: h, w, secs, size, a.clips, a.n_chunks, procs, keyints, tunes = 96, 160, 3.0, 64, 6, 1, procs[:1], [250, 1], [None]
    name = a.name or re.sub(r'[^A-Za-z0-9_.-]', '', f'{platform.node()}_cpu{ncpu}') + ('_tiny' if a.tiny else '')
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    info = machine_info(); t_all = time.time()
    tmp = tempfile.TemporaryDirectory()
    if a.chunks: files = given_chunks(a.chunks); labels = sorted(files, key=lambda x: -int(x)); ref = labels[0]
    else:
        t = time.time(); files = make_chunks(tmp.name, keyints, tunes, a.n_chunks, h, w, secs, 30, a.preset)
        labels, ref = list(files), str(max(keyints)) + (f'+{tunes[0]}' if tunes[0] else '')
        print(f'encoded {a.n_chunks} chunk(s) x {len(keyints)} keyints of {w}x{h} {secs:g}s in {time.time() - t:.0f}s')
    sizes = {k: float(np.mean([os.path.getsize(f) for f in fs])) for k, fs in files.items()}
    ctx = mp.get_context('fork')
    results = []
    hdr = f'{"keyint":>16} {"mode":>16} {"procs":>5} {"thr":>3} {"ms/clip":>8} {"clips/s/proc":>12} {"clips/s":>8} {"cpu ms/clip":>11} {"frames dec/clip":>15}'
    print(hdr); print('-' * len(hdr))
    def run(k, m, P, threads=1):
        r = measure(ctx, files[k], m, P, a.clips, threads=threads, size=size)
        r.update(keyint=k, file_mb=sizes[k] / 2 ** 20, kbps=sizes[k] * 8 / secs / 1e3 if not a.chunks else None)
        results.append(r)
        print(f'{k:>16} {m:>16} {P:>5} {threads:>3} {r["ms_per_clip"]:8.1f} {r["clips_per_s_per_proc"]:12.1f} '
              f'{r["clips_per_s"]:8.1f} {r["cpu_ms_per_clip"]:11.1f} {r["frames_decoded_per_clip"]:15.1f}', flush=True)
    for k in labels:
        for m in modes:
            for P in procs: run(k, m, P)
    thread_list = [int(x) for x in a.threads.split(',') if int(x) > 1]
    for k in [x for x in labels if '+' not in x][:1] + [x for x in labels if '+' not in x][-1:] if thread_list else []:
        for T in thread_list: run(k, 'fused+smart', 1, T)
    # summary against the target: clips/s of ONE process (one core), our default decoder (fused+smart)
    print(f'\nper-core throughput (1 process; wall clock, and per CPU-second of the process, which a busy shared machine '
          f'disturbs less) vs the {TARGET:g} clips/s/core target, and vs the same decoder on keyint-{ref} chunks:')
    one = {(r['keyint'], r['mode']): r for r in results if r['procs'] == 1 and r['threads'] == 1}
    summary = []
    for k in labels:
        for m in modes:
            r = one.get((k, m))
            if not r: continue
            base = one.get((ref, m))
            s = dict(keyint=k, mode=m, clips_per_s_core=r['clips_per_s'], pct_of_target=100 * r['clips_per_s'] / TARGET,
                     clips_per_cpu_s=r['clips_per_cpu_s'], pct_of_target_cpu=100 * r['clips_per_cpu_s'] / TARGET,
                     speedup_vs_default_keyint=r['clips_per_s'] / base['clips_per_s'] if base else None,
                     file_mb=r['file_mb'])
            summary.append(s)
            print(f'  keyint {k:>16} {m:>16}: {s["clips_per_s_core"]:6.1f} clips/s/core = {s["pct_of_target"]:5.1f}% of target'
                  f' (per CPU-second: {s["clips_per_cpu_s"]:6.1f} = {s["pct_of_target_cpu"]:5.1f}%)'
                  f'; {s["speedup_vs_default_keyint"]:.2f}x keyint-{ref}; {s["file_mb"]:.2f} MiB/chunk')
    rec = dict(command=' '.join([Path(sys.executable).name] + sys.argv), machine=info,
               load_avg_after=os.getloadavg(), seconds=time.time() - t_all,
               settings=dict(width=w, height=h, chunk_seconds=secs, fps=30, frames=4, window_s=1.0, crop=f'RRC {size} scale (0.5,1)',
                             clips_per_proc=a.clips, preset=a.preset, tunes=a.tunes, chunks=a.chunks or 'synthetic', n_chunks=a.n_chunks,
                             target_clips_per_s_per_core=TARGET),
               file_bytes={str(k): v for k, v in sizes.items()}, results=results, summary=summary)
    save_json(portable_record(rec), out / f'{name}.json')
    plot(results, out / f'{name}.png')
    print(f'wrote {out / (name + ".json")} and .png in {time.time() - t_all:.0f}s')


if __name__ == '__main__':
    main()
