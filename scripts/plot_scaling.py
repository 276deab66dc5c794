#!/usr/bin/env python
"""The paper's Fig. 2 for this machine: pretraining videos/s and data-wait share vs number of GPUs, from the
results_<N>gpu.json files of scripts/bench_pretrain.py in a folder (default benchmarks/scale). Writes scaling.png
and scaling.json (speed-up and efficiency vs 1 GPU)."""
import json, re, sys
from pathlib import Path
import matplotlib; matplotlib.use('Agg')
import matplotlib.pyplot as plt
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from avion_nb.core import set_plot_style, save_json

def main(folder='benchmarks/scale'):
    d = Path(folder); pts = {}
    for f in sorted(d.glob('results_*gpu.json')):
        m = re.fullmatch(r'results_(\d+)gpu\.json', f.name)
        if not m: continue
        r = json.loads(f.read_text()).get('runs', {}).get('fused')
        if r: pts[int(m.group(1))] = r
    if 1 not in pts: raise SystemExit(f'{d}: no results_1gpu.json with a fused run')
    n = sorted(pts); v = [pts[k]['videos_per_s'] for k in n]; w = [pts[k]['data_wait_pct'] for k in n]
    out = {k: dict(videos_per_s=pts[k]['videos_per_s'], speedup=pts[k]['videos_per_s'] / pts[1]['videos_per_s'],
                   efficiency=pts[k]['videos_per_s'] / pts[1]['videos_per_s'] / k, data_wait_pct=pts[k]['data_wait_pct']) for k in n}
    save_json(out, d/'scaling.json')
    set_plot_style()
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ax[0].plot(n, v, 'o-', label='measured'); ax[0].plot(n, [v[0] * k for k in n], '--', c='gray', label='linear')
    ax[0].set(xlabel='GPUs', ylabel='videos/s', title='GPU side: pretraining throughput'); ax[0].legend()
    ax[1].bar([str(k) for k in n], w); ax[1].axhline(10, ls='--', c='r', lw=1, label='10% target')
    ax[1].set(xlabel='GPUs', ylabel='% of step time', title='CPU side: data-loading wait'); ax[1].legend()
    fig.tight_layout(); fig.savefig(d/'scaling.png', dpi=110)
    for k in n: print(f"{k} GPU(s): {out[k]['videos_per_s']:.1f} videos/s, {out[k]['speedup']:.2f}x, data wait {out[k]['data_wait_pct']:.1f}%")

if __name__ == '__main__': main(*sys.argv[1:])
