#!/usr/bin/env python
"""VideoMAE training speed vs loader workers (the paper's Fig. 7 on this machine).

For each variant and number of loader workers per GPU, runs a short VideoMAE pretraining (the real trainer,
`avion_nb.videomae_pretrain.videomae_pretrain`, one process) and records seconds per iteration and the data-loading
overhead (time the step waited for its batch), after `--warmup` steps:

  dtc_orig       decode-then-crop (fused=False) on the original clips (x264 default GOP, as downloaded)
  fused_orig     fused decode-crop on the original clips
  fused_planned  fused decode-crop on the planner's re-encodes (avion_nb.chunking.plan with GOP structures for the
                 VideoMAE workload, storage <= 3x x264-default -> chunk_dataset; or --gop NAME)

Writes results.json (machine_info, command, plan, per-config numbers, the issue's targets) and fig7.png to --out.

    python scripts/bench_videomae.py                      # GPU: ViT-B, 16x224^2, batch 32, workers 4,8,12,16
    python scripts/bench_videomae.py --mode e2e --steps 200   # one longer run (fused_planned, max workers)
    python scripts/bench_videomae.py --tiny               # CPU smoke test
"""
import argparse, json, math, os, sys, shutil, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from portable import portable_record  # noqa: E402  (records without machine-local paths)

import numpy as np
import torch
from avion_nb.core import machine_info, save_json, set_plot_style
from avion_nb.synth import make_dataset
from avion_nb.videomae_pretrain import videomae_pretrain


def get_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', default=str(ROOT/'benchmarks'/'videomae'))
    p.add_argument('--mode', default='sweep', choices=['sweep', 'e2e'])
    p.add_argument('--data', default=None, help='Kinetics-style root; default: generate data/avion_synth_videomae_bench')
    p.add_argument('--n_per_class', type=int, default=40, help='generated training clips per class (11 classes)')
    p.add_argument('--clip_sec', type=float, default=8.0, help='generated clip length (s)')
    p.add_argument('--workers', default='4,8,12,16')
    p.add_argument('--variants', default='dtc_orig,fused_orig,fused_planned')
    p.add_argument('--steps', type=int, default=30, help='measured steps per config (after --warmup)')
    p.add_argument('--warmup', type=int, default=45, help='steps not measured (then one 20-step window): > 2 x workers')
    p.add_argument('--batch_size', type=int, default=32)
    p.add_argument('--model', default='vit_b16')
    p.add_argument('--input_size', type=int, default=224)
    p.add_argument('--num_frames', type=int, default=16)
    p.add_argument('--mixed_precision', default='bf16')
    p.add_argument('--step_time', type=float, default=0.5, help='planner input: expected GPU step time (s)')
    p.add_argument('--read_speed', type=float, default=None, help='planner input: disk read speed MB/s (default: measured)')
    p.add_argument('--content', default='egocentric', help="generated content preset (avion_nb.synth.CONTENT): default, egocentric, stress")
    p.add_argument('--gop', default=None, help="re-encode the planned copy with this GOP structure (avion_nb.synth.gop_params, "
                   "e.g. k32-lat4-fd) instead of running the keyint planner")
    p.add_argument('--tiny', action='store_true', help='CPU smoke test: tiny data and model, workers 0,1')
    return p.parse_args()


def ensure_data(a) -> Path:
    if a.data: return Path(a.data)
    if a.tiny:
        root = Path(tempfile.mkdtemp(prefix='bench_videomae_'))
        make_dataset(root, preset='tiny', num_workers=2, verbose=False, content=a.content, ego4d_videos=1, ego4d_duration=2., ek100_duration=2.,
                     kinetics_train_per_class=4, kinetics_duration=2.)
        return root/'kinetics'
    root = ROOT/'data'/('avion_synth_videomae_bench' + ('' if a.content == 'default' else f'_{a.content}'))
    make_dataset(root, preset='default', content=a.content, ego4d_videos=1, ego4d_duration=10., ek100_participants=2, ek100_videos_per_participant=1,
                 ek100_duration=10., kinetics_train_per_class=a.n_per_class, kinetics_val_per_class=1, kinetics_duration=a.clip_sec)
    return root/'kinetics'


def planned_copy(a, kin: Path):
    "Run the chunk planner on the training clips and re-encode them with its settings (resumable)."
    from avion_nb.chunking import plan, chunk_dataset
    src = kin/'videos'/'train'
    dst = kin/'videos_planned'
    if a.gop:   # a given GOP structure: one chunk per clip, no planner sweep
        chunk_dataset(src, dst/'train', max(1, math.ceil(a.clip_sec if not a.tiny else 2.0)), keyint=a.gop, crf=None,
                      preset='veryfast', copy=False, num_workers=min(os.cpu_count(), 16), overwrite=True)
        shutil.copy(dst/'train'/'chunking.json', dst/'chunking.json')
        return dst, dict(gop=a.gop), f'given GOP structure {a.gop}'
    from avion_nb.chunking import GOP_CANDIDATES
    kw = dict(batch_size=a.batch_size, step_time=a.step_time, gops=GOP_CANDIDATES, workload='videomae', max_storage=3.0,
              clips=10, verbose=True)
    if a.read_speed: kw['read_speed'] = a.read_speed * 2**20
    if a.tiny: kw.update(gops=('x264-default', 'k16-nrb-fd'), clips=2)
    pl = plan(src, **kw)
    ck = pl.chunk_kwargs()
    ck['chunk_len'] = max(ck['chunk_len'], 1)
    chunk_dataset(src, dst/'train', num_workers=min(os.cpu_count(), 16), **ck, overwrite=True)
    shutil.copy(dst/'train'/'chunking.json', dst/'chunking.json')
    from dataclasses import asdict
    return dst, {k: v for k, v in asdict(pl).items() if k not in ('machine',)}, pl.report()


def run_config(a, kin, variant, workers, video_dir, steps, tmp):
    fused = variant != 'dtc_orig'
    out = Path(tmp)/f'{variant}_w{workers}'
    kw = dict(data_root=str(kin), output_dir=str(out), video_dir=str(video_dir), fused=fused, num_workers=workers,
              max_steps=a.warmup + steps, epochs=100000, warmup_epochs=0, no_checkpoint=True, recon_plot=False,
              log_with='none', progress=False, batch_size=a.batch_size, model=a.model, input_size=a.input_size,
              num_frames=a.num_frames, mixed_precision=a.mixed_precision)
    if a.tiny:   # the trainer's --tiny values fill every setting not given: leave the model, size and precision to it
        for k in ('model', 'input_size', 'num_frames', 'mixed_precision'): kw.pop(k)
        kw.update(tiny=True, batch_size=4)
    t0 = time.time()
    s = videomae_pretrain(**kw)
    # history rows hold 20-step windowed means: skip --warmup steps (the loader's prefetched batches drain first: with
    # W workers and prefetch 2 the queue holds up to 2W batches, so a short run never waits), then a full window
    hist = json.loads((out/'history.json').read_text())
    h = hist[a.warmup + 20:] if len(hist) > a.warmup + 20 else hist[a.warmup:]
    wait = float(np.mean([r['data_wait_s'] for r in h])) if h else float('nan')
    step = float(np.mean([r['step_s'] for r in h])) if h else float('nan')
    res = dict(variant=variant, workers=workers, fused=fused, steps=len(h), s_per_it=step, data_wait_s=wait,
               data_wait_pct=100 * wait / step if step else float('nan'), videos_per_s=kw['batch_size'] / step if step else 0,
               final_loss=s.get('final_loss'), wall_s=time.time() - t0, losses=[r['loss'] for r in h])
    if torch.cuda.is_available(): res['gpu_mem_gb'] = torch.cuda.max_memory_allocated() / 2**30; torch.cuda.reset_peak_memory_stats()
    print(f"{variant:14s} workers {workers:3d}: {step:.3f} s/it, data wait {wait:.3f} s/it ({res['data_wait_pct']:.0f}%), "
          f"{res['videos_per_s']:.1f} clips/s", flush=True)
    shutil.rmtree(out, ignore_errors=True)
    if torch.cuda.is_available(): torch.cuda.empty_cache()
    return res


def plot(results, path):
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    set_plot_style()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.3))
    names = {'dtc_orig': 'decode-then-crop (orig.)', 'fused_orig': 'fused DecodeCrop (orig.)', 'fused_planned': 'fused DecodeCrop (planned chunks)'}
    for v in dict.fromkeys(r['variant'] for r in results):
        rs = sorted((r for r in results if r['variant'] == v), key=lambda r: r['workers'])
        w = [r['workers'] for r in rs]
        axes[0].plot(w, [r['data_wait_s'] for r in rs], 'o-', label=names.get(v, v))
        axes[1].plot(w, [r['s_per_it'] for r in rs], 'o-', label=names.get(v, v))
    axes[0].set_title('(a) data-loading overhead', fontsize=10); axes[0].set_ylabel('sec / iter')
    axes[1].set_title('(b) training speed', fontsize=10); axes[1].set_ylabel('sec / iter')
    for ax in axes: ax.set_xlabel('# of workers per GPU'); ax.set_ylim(bottom=0)
    axes[1].legend(fontsize=8)
    fig.tight_layout(); fig.savefig(path, dpi=120); plt.close(fig)


def main():
    a = get_args()
    if a.tiny and Path(a.out).resolve() == (ROOT/'benchmarks'/'videomae').resolve():   # a smoke test writes nothing in the repo
        a.out = tempfile.mkdtemp(prefix='bench_videomae_tiny_')
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    workers = [0, 1] if a.tiny and a.workers == '4,8,12,16' else [int(w) for w in a.workers.split(',')]
    if a.tiny: a.steps, a.warmup = min(a.steps, 4), min(a.warmup, 1)
    variants = a.variants.split(',')
    t0 = time.time()
    kin = ensure_data(a)
    print(f'data: {kin} ({time.time() - t0:.0f}s)', flush=True)
    dirs = {'dtc_orig': kin/'videos', 'fused_orig': kin/'videos'}
    plan_info, report = None, None
    if 'fused_planned' in variants or a.mode == 'e2e':
        t1 = time.time(); dirs['fused_planned'], plan_info, report = planned_copy(a, kin)
        print(f'planned re-encode in {time.time() - t1:.0f}s', flush=True)
    rec = dict(machine=machine_info(), command=' '.join([sys.executable] + sys.argv), args=vars(a), data=str(kin),
               plan=plan_info, plan_report=report, results=[])
    name = 'results_tiny.json' if a.tiny else ('results.json' if a.mode == 'sweep' else 'e2e.json')
    with tempfile.TemporaryDirectory() as tmp:
        if a.mode == 'e2e':
            rec['results'].append(run_config(a, kin, 'fused_planned', max(workers), dirs['fused_planned'], a.steps, tmp))
        else:
            for v in variants:
                for w in workers:
                    rec['results'].append(run_config(a, kin, v, w, dirs[v], a.steps, tmp))
                    save_json(portable_record(rec), out/name)
    if a.mode == 'sweep':
        by = {(r['variant'], r['workers']): r for r in rec['results']}
        tg = {}
        for w in workers:
            b, f = by.get(('dtc_orig', w)), by.get(('fused_planned', w))
            if b and f: tg[f'overhead_ratio_dtc_over_fused_planned_w{w}'] = b['data_wait_s'] / max(f['data_wait_s'], 1e-9)
        if ('fused_planned', max(workers)) in by:
            tg['fused_planned_data_wait_pct_at_max_workers'] = by[('fused_planned', max(workers))]['data_wait_pct']
        tg['targets'] = 'overhead ratio >= 3; data wait <= 10% of step time at 16 workers on one H100'
        rec['summary'] = tg
        print(json.dumps(tg, indent=1))
        plot(rec['results'], out/('fig7_tiny.png' if a.tiny else 'fig7.png'))
    save_json(portable_record(rec), out/name)
    print(f'wrote {out/name} in {time.time() - t0:.0f}s')


if __name__ == '__main__':
    main()
