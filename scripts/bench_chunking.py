#!/usr/bin/env python
"""Benchmark chunking and the chunk planner (AVION §4.3, eq. 3: B·ρ·T ≤ S_r·Δ) on the embedded dataset.

1. makes the embedded dataset at --root if it is missing (avion_nb.synth.ensure_dataset; 'tiny' with --tiny),
2. plans: measures the bitrate ρ of the long Ego4D + EK-100 videos, the read speed S_r (page cache dropped; or
   --read-speed), T_max by eq. 3, and decode clips/s per core for each keyframe interval of a re-encoded sample
   chunk; picks T and the largest keyframe interval that meets the clips/s target within eq. 3,
3. chunks ego4d/videos and ek100/videos twice: `videos_chunked` with the plan's settings and
   `videos_chunked_x264default` (same T, x264 defaults: keyint 250 + scene cuts, crf 23, preset medium),
4. times the same clip-decoding loop on the long videos and on both chunk layouts (one thread),

and writes results.json (machine, command line, plan, chunking summaries, decode speeds), plan.json,
plan_report.txt and chunking.png under --out (default benchmarks/chunking/).

    python scripts/bench_chunking.py                    # default dataset at data/avion_synth (a few minutes on 2 cores)
    python scripts/bench_chunking.py --read-speed 500   # use a known S_r (MB/s) instead of measuring
    python scripts/bench_chunking.py --tiny --root data/avion_synth_tiny --out /tmp/bench_chunking   # CPU check, ~1 min

The synthetic videos have a small bitrate (tens of kB/s at 456x256), so eq. 3 allows very long chunks; the chunk
length is capped at --max-chunk-len (15 s, the paper's choice) so the chunked layout matches the one the
datasets and the demo use. Pass --max-chunk-len 300 to see the uncapped plan.
"""
import argparse, json, os, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from portable import portable_record  # noqa: E402  (records without machine-local paths)
from avion_nb.core import machine_info, save_json, set_plot_style  # noqa: E402
from avion_nb.synth import ensure_dataset  # noqa: E402
from avion_nb.chunking import (MB, DISKS, plan, chunk_dataset, list_videos, decode_clips, plot_chunk_length,  # noqa: E402
                               plot_keyint_sweep, chunk_name)


def decode_speed(files, seconds, num_frames, window):
    "Mean clips/s per core and frames/clip of the planner's clip loop over `files` (time split evenly)."
    rs = [decode_clips(f, num_frames, window, seconds=seconds / len(files), min_clips=3, seed=i) for i, f in enumerate(files)]
    clips = sum(r['clips'] for r in rs); dt = sum(r['seconds'] for r in rs)
    return dict(clips_per_s=clips / dt, frames_per_clip=sum(r['frames_per_clip'] * r['clips'] for r in rs) / clips, files=len(files))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--root', default='data/avion_synth', help='embedded dataset root (made if missing)')
    p.add_argument('--out', default='benchmarks/chunking')
    p.add_argument('--tiny', action='store_true', help="tiny dataset preset and short timings (CPU check)")
    p.add_argument('--batch-size', type=int, default=1024, help='B (global batch, clips per step)')
    p.add_argument('--step-time', type=float, default=4.0, help='Δ: seconds per training step')
    p.add_argument('--read-speed', type=float, default=None, help='S_r in MB/s (default: measure on the videos)')
    p.add_argument('--target', type=float, default=None, help='decode target, clips/s per core (default B/(Δ·cores))')
    p.add_argument('--cores', type=int, default=None, help='decoding processes (default: all CPUs)')
    p.add_argument('--keyints', default='250,60,30,15,8,4,1')
    p.add_argument('--chunk-len', type=int, default=None, help='force T (s) instead of eq. 3')
    p.add_argument('--max-chunk-len', type=int, default=15)
    p.add_argument('--short-side', type=int, default=None)
    p.add_argument('--crf', type=int, default=None)
    p.add_argument('--preset', default='veryfast', help='x264 preset for the planned chunks')
    p.add_argument('--num-frames', type=int, default=4)
    p.add_argument('--window', type=float, default=1.0)
    p.add_argument('--decode-seconds', type=float, default=None, help='timing budget per keyint / per layout')
    p.add_argument('--workers', type=int, default=None)
    a = p.parse_args()
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    dsec = a.decode_seconds or (0.5 if a.tiny else 3.0)
    res = dict(command=' '.join([sys.executable] + sys.argv), machine=machine_info(), args=vars(a))
    t0 = time.time()
    P = ensure_dataset(a.root, 'tiny' if a.tiny else 'default', num_workers=a.workers)
    res['dataset_seconds'] = round(time.time() - t0, 1)
    sets = {'ego4d': P['ego4d'], 'ek100': P['ek100']}
    vids = [v for d in sets.values() for v in list_videos(d/'videos')]
    print(f'planning on {len(vids)} long videos', flush=True)
    pl = plan(vids, a.batch_size, a.step_time, read_speed=None if a.read_speed is None else a.read_speed * MB,
              read_path=Path(a.root), target_clips_per_s=a.target, cores=a.cores,
              keyints=tuple(int(k) for k in a.keyints.split(',')), chunk_len=a.chunk_len, max_chunk_len=a.max_chunk_len,
              short_side=a.short_side, crf=a.crf, preset=a.preset, num_frames=a.num_frames, window=a.window,
              decode_seconds=dsec, out=out/'plan.json')
    (out/'plan_report.txt').write_text(pl.report() + '\n')
    res['plan'] = json.loads((out/'plan.json').read_text())
    layouts = {'videos_chunked': pl.chunk_kwargs(),
               'videos_chunked_x264default': dict(chunk_len=pl.chunk_len, short_side=a.short_side, crf=None, keyint=None, preset=None, copy=False)}
    res['chunking'] = {}
    for lay, kw in layouts.items():
        for name, d in sets.items():
            print(f'chunking {name}/videos -> {name}/{lay} with {kw}', flush=True)
            s = chunk_dataset(d/'videos', d/lay, **kw, num_workers=a.workers, overwrite=True)
            res['chunking'][f'{name}/{lay}'] = dict(settings=kw, **s)
    # the same clip loop on the long videos and on both chunk layouts (EK-100 videos)
    ek = list_videos(P['ek100']/'videos')[:4]; T = pl.chunk_len; res['decode'] = {}
    res['decode']['long_videos'] = decode_speed(ek, dsec, a.num_frames, a.window)
    for lay in layouts:
        files = [P['ek100']/lay/v.relative_to(P['ek100']/'videos')/chunk_name(0, T, v.suffix[1:]) for v in ek]
        res['decode'][lay] = decode_speed(files, dsec, a.num_frames, a.window)
    for k, v in res['decode'].items(): print(f"decode {k:28s} {v['clips_per_s']:7.1f} clips/s per core, {v['frames_per_clip']:6.1f} frames/clip")
    for k, v in res['chunking'].items(): print(f"{k:40s} {v['chunks']:5d} chunks, {v['bytes'] / MB:8.2f} MB "
                                            f"({v['bytes'] / v['duration'] / 1e3:.1f} kB/s), {v['seconds']:.1f}s to make")
    # figures
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    set_plot_style()
    fig, axs = plt.subplots(1, 3, figsize=(14, 3.6))
    plot_chunk_length(ax=axs[0], chosen=(1024, 15), chosen_label='paper: B=1024, T=15 s')
    disks = dict(DISKS); disks['this machine'] = pl.read_speed
    plot_chunk_length(pl.rho, a.step_time, disks=disks, ax=axs[1], chosen=(a.batch_size, pl.chunk_len_max), chosen_label='this plan: T_max')
    axs[1].set_title(f'measured ρ={pl.rho / 1e3:.1f} kB/s, Δ={a.step_time:g} s')
    plot_keyint_sweep(pl.sweep, chosen=pl.keyint, target=pl.target_clips_per_s, ax=axs[2])
    plt.tight_layout(); fig.savefig(out/'chunking.png', dpi=110); plt.close(fig)
    res['seconds'] = round(time.time() - t0, 1)
    save_json(portable_record(res), out/'results.json')
    print(f"wrote {out/'results.json'}, {out/'plan.json'}, {out/'plan_report.txt'}, {out/'chunking.png'} in {res['seconds']}s")


if __name__ == '__main__':
    main()
