#!/usr/bin/env python
"""Soak benchmark (issue 27): does a long run leak memory, file descriptors or shared memory, or slow down?

Phase 1 (`--minutes`): the real pretraining loader (VideoTextDataset on chunked Ego4D-style 'egocentric' videos,
make_loader with the streaming sampler, `--workers` worker processes, pinned batches) read for many epochs.
Phase 2 (`--steps`): a tiny pretraining run (run_pretrain, the same loader, `--save_every` periodic checkpoints).
A sampler thread records every `--sample_s` seconds: RSS (and USS) of the main process and of every worker, open
file descriptors (main + workers), /dev/shm use, clips/s, load average. Growth is measured after a warm-up (the
first `--warmup_pct` % of phase 1): the median of the last 10 % of the samples against the median of the first
10 % after the warm-up, and a least-squares slope over the whole post-warm-up phase 1.

    python scripts/bench_soak.py --minutes 30 --workers 2 --steps 2000                      # 2-core VM (~40 min)
    python scripts/bench_soak.py --minutes 9 --workers 16 --steps 2000 --batch 64 --out benchmarks/soak/gpu   # GPU host
    python scripts/bench_soak.py --tiny                                                      # smoke test (seconds, temp folder)

Writes soak.json, samples.csv and soak.png under --out (default benchmarks/soak/vm_cpu2) and, unless --tiny or
--no_headline, the keys soak_rss_growth_pct, soak_minutes and soak_fd_growth of benchmarks/headline.json.
"""
import argparse, datetime, json, os, shutil, sys, tempfile, threading, time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from portable import portable_record  # noqa: E402
from avion_nb.core import machine_info, save_json  # noqa: E402


def make_data(root: Path, a) -> Path:
    "Ego4D-style egocentric videos cut into chunks (the layout the trainers read with --chunk_len auto)."
    from avion_nb.synth import make_dataset
    from avion_nb.chunking import chunk_dataset
    kw = dict(ego4d_videos=2, ego4d_duration=10.) if a.tiny else dict(ego4d_videos=a.videos, ego4d_duration=a.video_sec)
    make_dataset(root, 'tiny', content='egocentric', verbose=False, **kw)
    ego = root/'ego4d'
    chunk_dataset(ego/'videos', ego/'videos_chunked', a.chunk_len, keyint=15, verbose=False)
    return root


def _fds(pid) -> int:
    try: return len(os.listdir(f'/proc/{pid}/fd'))
    except OSError: return 0


class Sampler(threading.Thread):
    "Every `period` s: RSS/USS of this process and of each child (the loader workers), fds, /dev/shm, clips/s."
    def __init__(self, period: float, log: Path | None = None):
        super().__init__(daemon=True)
        self.log = log                                     # samples also appended here as they come (a killed run keeps them)
        import psutil
        self.me, self.period, self.rows, self.clips, self.phase = psutil.Process(), period, [], 0, 'start'
        self.t0, self.stop_ev = time.time(), threading.Event()

    def sample(self):
        import psutil
        kids = []
        for c in self.me.children(recursive=True):
            try: kids.append((c.pid, c.memory_full_info()))
            except (psutil.NoSuchProcess, psutil.AccessDenied): pass
        m = self.me.memory_full_info(); shm = shutil.disk_usage('/dev/shm')
        now = time.time(); prev = self.rows[-1] if self.rows else None
        dt = now - prev['t'] if prev else None
        self.rows.append(dict(t=now, minutes=(now - self.t0) / 60, phase=self.phase, clips=self.clips,
                              clips_per_s=(self.clips - prev['clips']) / dt if prev and dt else float('nan'),
                              main_rss_mb=m.rss / 2**20, main_uss_mb=m.uss / 2**20, n_workers=len(kids),
                              workers_rss_mb=sum(k.rss for _, k in kids) / 2**20, workers_uss_mb=sum(k.uss for _, k in kids) / 2**20,
                              worker_rss_mb={p: round(k.rss / 2**20, 1) for p, k in kids},
                              fds_main=_fds(self.me.pid), fds_workers=sum(_fds(p) for p, _ in kids),
                              shm_used_mb=shm.used / 2**20, shm_files=len(os.listdir('/dev/shm')), load1=os.getloadavg()[0]))
        if self.log is not None:
            with open(self.log, 'a') as f: f.write(json.dumps(self.rows[-1]) + '\n')

    def run(self):
        while not self.stop_ev.wait(self.period): self.sample()


def loader_phase(root: Path, a, smp: Sampler) -> dict:
    from avion_nb.datasets import VideoTextDataset, make_loader
    ds = VideoTextDataset.ego4d(root, chunk_len=a.chunk_len, num_frames=4, size=a.size, train=True, crop='rrc', bad_sample='skip')
    dl = make_loader(ds, a.batch, num_workers=a.workers, shuffle=True, seed=0, drop_last=True, stream=True,
                     prefetch_factor=2 if a.workers else None, pin_memory=torch.cuda.is_available())
    smp.phase, t_end = 'loader', time.time() + a.minutes * 60
    for b in dl.for_epoch(0):
        smp.clips += len(b['video'])
        if time.time() >= t_end: break
    smp.phase = 'between'; del dl
    return dict(clips=smp.clips, dataset_clips=len(ds), epochs=smp.clips / len(ds))


def train_phase(root: Path, run_dir: Path, a, smp: Sampler) -> dict:
    from avion_nb.pretrain import run_pretrain
    smp.phase, c0 = 'train', smp.clips
    r = run_pretrain(root, run_dir, tiny=True, workers=a.workers, max_steps=a.steps, epochs=10**6, save_every=a.save_every,
                     keep=2, eval_data='none', progress=False, log_with='none', cpu=not torch.cuda.is_available(),
                     batch_size=a.train_batch)
    smp.clips = c0 + a.steps * a.train_batch
    return dict(steps=r['summary']['global_step'], checkpoints=sorted(p.name for p in (run_dir/'checkpoints').iterdir()),
                videos_per_s=r['summary'].get('videos_per_s'))


def growth(rows, key, warm_min, phase='loader'):
    "(growth %, slope %/hour, start, end) of `key` over the samples of `phase` after `warm_min` minutes."
    xs = [(r['minutes'], r[key]) for r in rows if r['phase'] == phase and r['minutes'] >= warm_min and r['n_workers']]
    if len(xs) < 4: return dict(growth_pct=float('nan'), slope_pct_per_h=float('nan'), start=float('nan'), end=float('nan'), n=len(xs))
    t, v = np.array(xs).T; k = max(1, len(v) // 10)
    start, end = float(np.median(v[:k])), float(np.median(v[-k:]))
    slope = float(np.polyfit(t, v, 1)[0]) * 60 / start * 100 if start else float('nan')
    return dict(growth_pct=(end - start) / start * 100 if start else float('nan'), slope_pct_per_h=slope, start=start, end=end, n=len(xs))


def plot(rows, path: Path, warm_min: float, title: str):
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    t = [r['minutes'] for r in rows]
    fig, ax = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    panels = [('memory (MB)', [('main_rss_mb', 'main RSS'), ('workers_rss_mb', 'workers RSS (sum)'), ('workers_uss_mb', 'workers USS (sum)')]),
              ('open file descriptors', [('fds_main', 'main'), ('fds_workers', 'workers (sum)')]),
              ('/dev/shm used (MB)', [('shm_used_mb', '/dev/shm')]), ('clips/s', [('clips_per_s', 'clips/s')])]
    for axi, (name, keys) in zip(ax.flat, panels):
        for k, lab in keys: axi.plot(t, [r[k] for r in rows], label=lab)
        axi.axvline(warm_min, color='grey', ls=':', lw=1)
        tr = [r['minutes'] for r in rows if r['phase'] == 'train']
        if tr: axi.axvspan(min(tr), max(tr), color='orange', alpha=0.1)
        axi.set_title(name); axi.legend(fontsize=8)
    for axi in ax[1]: axi.set_xlabel('minutes (dotted: end of warm-up; shaded: trainer phase)')
    fig.suptitle(title, fontsize=10); fig.tight_layout(); fig.savefig(path, dpi=90); plt.close(fig)


def update_headline(rec, path: Path):
    h = json.loads(path.read_text()) if path.exists() else {}
    m = rec['machine']; g = rec['growth']
    machine = f"{len(m.get('gpus') or [])}x {(m.get('gpus') or ['no GPU'])[0]}, {m['cpu_count']} CPU cores"
    base = dict(machine=machine, command=rec['command'], date=m['time'][:10])
    where = f"benchmarks/soak/{Path(rec['out']).name}/soak.json"
    h['soak_rss_growth_pct'] = dict(value=round(g['total_rss_mb']['growth_pct'], 2), **base, detail=(
        f"RSS of the main process + {rec['settings']['workers']} loader workers, median of the last 10 % vs the first 10 % of the "
        f"samples after a {rec['warmup_min']:.1f}-min warm-up (slope {g['total_rss_mb']['slope_pct_per_h']:.2f} %/h); target <= 5 %. {where}"))
    h['soak_minutes'] = dict(value=round(rec['minutes'], 1), **base, detail=(
        f"loader phase {rec['settings']['minutes']} min ({rec['loader']['epochs']:.0f} epochs) + trainer phase "
        f"{rec['train']['steps']} steps with checkpoints every {rec['settings']['save_every']}; mean load {rec['load_mean']:.1f}. {where}"))
    h['soak_fd_growth'] = dict(value=int(g['fds_total']['end'] - g['fds_total']['start']), **base, detail=(
        f"open file descriptors (main + workers) after the warm-up: {g['fds_total']['start']:.0f} -> {g['fds_total']['end']:.0f}. {where}"))
    path.write_text(json.dumps(portable_record(h), indent=2) + '\n'); print(f'updated {path}')


def report(rows, a, out: Path, loader: dict, train: dict):
    "soak.json, samples.csv and soak.png from the samples; (record, growth)."
    for r in rows: r['total_rss_mb'] = r['main_rss_mb'] + r['workers_rss_mb']; r['fds_total'] = r['fds_main'] + r['fds_workers']
    ld = [r['minutes'] for r in rows if r['phase'] == 'loader' and r['n_workers'] >= a.workers]   # every worker up
    warm = ld[0] + (ld[-1] - ld[0]) * a.warmup_pct / 100
    g = {k: growth(rows, k, warm) for k in ('total_rss_mb', 'main_rss_mb', 'workers_rss_mb', 'workers_uss_mb', 'fds_total', 'shm_used_mb', 'clips_per_s')}
    tr = [r['minutes'] for r in rows if r['phase'] == 'train']
    g_train = {k: growth(rows, k, tr[0] + (tr[-1] - tr[0]) * a.warmup_pct / 100, 'train') for k in ('total_rss_mb', 'fds_total', 'shm_used_mb')} if tr else {}
    minutes = rows[-1]['minutes']
    rec = dict(command=' '.join(['python'] + sys.argv), machine=machine_info(), out=str(out), settings=vars(a), minutes=minutes,
               warmup_min=warm, loader=loader, train=train, growth=g, growth_train_phase=g_train, load_mean=float(np.mean([r['load1'] for r in rows])),
               leftover_shm_files=rows[-1]['shm_files'] - rows[0]['shm_files'])
    import pandas as pd
    pd.DataFrame([{k: v for k, v in r.items() if k != 'worker_rss_mb'} for r in rows]).to_csv(out/'samples.csv', index=False)
    (out/'samples.jsonl').unlink(missing_ok=True)            # complete: samples.csv holds them
    save_json(portable_record(dict(rec, per_worker_rss_mb=[r['worker_rss_mb'] for r in rows])), out/'soak.json')
    plot(rows, out/'soak.png', warm, f"soak: {a.workers} workers, {minutes:.1f} min, load {rec['load_mean']:.1f} "
         f"({rec['machine']['cpu_count']} cores); RSS growth {g['total_rss_mb']['growth_pct']:.1f} % after warm-up")
    print(json.dumps(dict(minutes=round(minutes, 2), epochs=round(loader['epochs'], 1), train_steps=train['steps'],
                          **{f'{k}_growth_pct': round(v['growth_pct'], 2) for k, v in g.items()},
                          fd_growth=g['fds_total']['end'] - g['fds_total']['start'],
                          train_rss_growth_pct=round(g_train.get('total_rss_mb', {}).get('growth_pct', float('nan')), 2), load_mean=round(rec['load_mean'], 2))))
    print(f'wrote {out}/soak.json, samples.csv, soak.png')
    return rec, g


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument('--minutes', type=float, default=30., help='loader phase length')
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--batch', type=int, default=16, help='loader phase batch')
    p.add_argument('--size', type=int, default=224, help='crop size of the loader phase')
    p.add_argument('--steps', type=int, default=2000, help='trainer phase steps (tiny model)')
    p.add_argument('--train_batch', type=int, default=2)
    p.add_argument('--save_every', type=int, default=100)
    p.add_argument('--sample_s', type=float, default=10.)
    p.add_argument('--warmup_pct', type=float, default=20.)
    p.add_argument('--videos', type=int, default=6); p.add_argument('--video_sec', type=float, default=60.)
    p.add_argument('--chunk_len', type=int, default=15)
    p.add_argument('--data', default='', help='data folder (kept; default: a temporary one)')
    p.add_argument('--out', default=str(ROOT/'benchmarks'/'soak'/'vm_cpu2'))
    p.add_argument('--no_headline', action='store_true')
    p.add_argument('--from_samples', metavar='JSONL', help='only rebuild the report from the samples of a soak stopped early '
                   '(its samples.jsonl); --data names its data folder, the other flags its settings')
    p.add_argument('--steps_done', type=int, default=0, help='with --from_samples: trainer steps done when the samples end')
    p.add_argument('--headline_from', metavar='SOAK_JSON', help='only update benchmarks/headline.json from a soak.json')
    p.add_argument('--tiny', action='store_true', help='seconds, writes only to a temporary folder')
    a = p.parse_args()
    if a.headline_from:
        f = Path(a.headline_from)
        if not f.is_file(): print(f'--headline_from: no file {f}', file=sys.stderr); sys.exit(2)
        update_headline(json.loads(f.read_text()), ROOT/'benchmarks'/'headline.json'); return
    if a.tiny: a.minutes, a.steps, a.save_every, a.sample_s, a.size, a.batch, a.chunk_len, a.workers = 0.25, 6, 3, 1., 32, 2, 5, min(a.workers, 1)
    if a.from_samples:
        from avion_nb.datasets import read_ego4d_pkl
        rows = [json.loads(l) for l in open(a.from_samples) if l.strip()]
        n = len(read_ego4d_pkl(Path(a.data)/'ego4d'/'annotations'/'ego4d_train.pkl').start)
        last = [r for r in rows if r['phase'] == 'loader'][-1]
        out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
        report(rows, a, out, dict(clips=last['clips'], dataset_clips=n, epochs=last['clips'] / n),
               dict(steps=a.steps_done, stopped_early=True, checkpoints=f'every {a.save_every} steps'))
        if not a.no_headline: update_headline(json.loads((out/'soak.json').read_text()), ROOT/'benchmarks'/'headline.json')
        return
    tmp = tempfile.TemporaryDirectory()
    out = Path(tmp.name)/'out' if a.tiny else Path(a.out); out.mkdir(parents=True, exist_ok=True)
    (out/'samples.jsonl').unlink(missing_ok=True)
    root = make_data(Path(a.data) if a.data else Path(tmp.name)/'data', a)
    torch.set_num_threads(1)
    smp = Sampler(a.sample_s, out/'samples.jsonl'); smp.sample(); smp.start()
    loader = loader_phase(root, a, smp); smp.sample()
    train = train_phase(root, Path(tmp.name)/'run', a, smp)
    smp.stop_ev.set(); smp.join(); smp.sample(); smp.rows[-1]['phase'] = 'end'
    rec, g = report(smp.rows, a, out, loader, train)
    if a.tiny:
        assert train['steps'] == a.steps and len(smp.rows) >= 3 and all(r['n_workers'] >= a.workers for r in smp.rows if r['phase'] == 'loader' and r['clips']), smp.rows[-3:]
    elif not a.no_headline: update_headline(rec, ROOT/'benchmarks'/'headline.json')


if __name__ == '__main__':
    main()
