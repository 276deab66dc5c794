#!/usr/bin/env python
"""Check and time the losses and EK-100 MIR metrics at the paper's scale.

    python scripts/bench_losses.py                 # GPU machine: timings on cuda:0, NCCL gradient check on all GPUs
    python scripts/bench_losses.py --tiny          # CPU smoke test (gloo, 2 processes, small sizes)

1. ClipLoss forward+backward on a global batch of 2,048 pairs (dim 256) and the multi-instance max-margin loss on
   512 pairs (64 x 8 GPUs) with an EK-100-like relevancy: median time and peak memory on one device.
2. The DDP gradient convention of `avion_nb.losses` with the real backend: W processes (NCCL, one GPU each, per-GPU
   batch 256) vs one process on the concatenated batch. Reports the max relative error of every documented relation
   (DDP-averaged parameter grads == single-process grads; local feature grads == W x single-process grads; the
   gather_with_grad=False case gives 1/W encoder grads). Needs >= 2 GPUs (skipped otherwise).
3. `mir_metrics` on the full EK-100 MIR test-split size (9,668 x 3,842) with random similarities (CPU time).

Writes results.json and losses_timing.png under --out (default benchmarks/losses/).
"""
import argparse, json, math, os, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from portable import portable_record  # noqa: E402  (records without machine-local paths)

import numpy as np
import torch
import torch.nn.functional as F


def timeit(fn, device, reps):
    "Median wall time (ms) of fn() over reps runs after 2 warm-ups, and the peak memory (MiB) on CUDA."
    for _ in range(2): fn()
    if device.type == 'cuda': torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); fn()
        if device.type == 'cuda': torch.cuda.synchronize()
        ts.append((time.perf_counter() - t0) * 1e3)
    mem = torch.cuda.max_memory_allocated() / 2**20 if device.type == 'cuda' else None
    return float(np.median(ts)), mem


def bench_losses(device, N_clip, N_mm, dim, reps):
    from avion_nb.losses import ClipLoss, MaxMarginLoss
    g = torch.Generator().manual_seed(0)
    out = {}
    for dtype in (torch.float32, torch.bfloat16):
        v = F.normalize(torch.randn(N_clip, dim, generator=g), dim=-1).to(device, dtype).requires_grad_()
        t = F.normalize(torch.randn(N_clip, dim, generator=g), dim=-1).to(device, dtype).requires_grad_()
        scale = torch.tensor(math.log(1 / 0.07), device=device, requires_grad=True)
        def clip_step():
            ClipLoss()(v, t, scale.exp())['loss'].backward()
        ms, mem = timeit(clip_step, device, reps)
        out[f'clip_N{N_clip}_{str(dtype)[6:]}'] = dict(ms=ms, peak_mib=mem)
        # EK-100-like relevancy: 97 verbs x 300 nouns, R = 0.5*[verb equal] + 0.5*[noun equal]
        vb = torch.randint(0, 97, (N_mm,), generator=g); nb = torch.randint(0, 300, (N_mm,), generator=g)
        R = (0.5 * (vb[:, None] == vb[None]) + 0.5 * (nb[:, None] == nb[None])).to(device)
        vm, tm = v[:N_mm].detach().clone().requires_grad_(), t[:N_mm].detach().clone().requires_grad_()
        def mm_step():
            MaxMarginLoss(0.2)(vm, tm, R).backward()
        ms, mem = timeit(mm_step, device, reps)
        out[f'maxmargin_N{N_mm}_{str(dtype)[6:]}'] = dict(ms=ms, peak_mib=mem, extra_positive_pairs=int((R >= 1).sum() - N_mm))
    return out


def grad_check(world, backend, b, din, dout):
    from avion_nb.losses import run_ddp_check, single_process_reference
    torch.manual_seed(0)
    N, nvid, ntxt = world * b, 4 * world * b, 2 * world * b
    vb, nb = torch.randint(0, 97, (ntxt,)), torch.randint(0, 300, (ntxt,))
    cap = torch.randint(0, ntxt, (nvid,))
    R_full = 0.5 * (vb[cap][:, None] == vb[None]) + 0.5 * (nb[cap][:, None] == nb[None])
    vid_idx = torch.randperm(nvid)[:N]
    inputs = dict(xv=torch.randn(N, din), xt=torch.randn(N, din), Wv=torch.randn(din, dout) / din**0.5,
                  Wt=torch.randn(din, dout) / din**0.5, log_scale=torch.tensor(math.log(1 / 0.07)), R_full=R_full.float(),
                  vid_idx=vid_idx, txt_idx=cap[vid_idx])
    kinds = ['clip_global', 'clip_local', 'clip_nograd', 'maxmargin']
    t0 = time.time()
    res = run_ddp_check(inputs, kinds, world=world, backend=backend)
    spawn_s = time.time() - t0
    dev = 'cuda:0' if backend == 'nccl' else 'cpu'
    rel = lambda a, ref: float((a - ref).abs().max() / ref.abs().max().clamp(min=1e-30))
    avg = lambda kind, k: sum(r[kind][k] for r in res) / world
    rows = lambda r: slice(r * b, (r + 1) * b)
    errs = {}
    for kind in kinds:
        ref = single_process_reference(inputs, kind, dev)
        scale = 1.0 / world if kind == 'clip_nograd' else 1.0   # documented: no-grad gather gives 1/W encoder grads
        fscale = 1.0 if kind == 'clip_nograd' else world         # local feature grads: W x (or 1x without grad gather)
        e = {'loss': rel(avg(kind, 'loss'), ref['loss'])}
        for k in ('Wv', 'Wt'): e[f'ddp_avg_{k}'] = rel(avg(kind, k), scale * ref[k])
        if ref['s'] is not None: e['ddp_avg_logit_scale'] = rel(avg(kind, 's'), ref['s'])
        e['local_feature_grads'] = max(rel(res[r][kind][k], fscale * ref[k][rows(r)]) for r in range(world) for k in ('xv', 'xt'))
        errs[kind] = e
    worst = max(v for e in errs.values() for v in e.values())
    return dict(world=world, backend=backend, per_rank_batch=b, din=din, dout=dout, spawn_and_run_s=spawn_s,
                max_rel_errors=errs, worst=worst, passed=bool(worst < 1e-3))


def bench_mir(nv, nt):
    from avion_nb.metrics import mir_metrics
    g = np.random.default_rng(0)
    tv, tn = g.integers(0, 97, nt), g.integers(0, 300, nt)
    cap = np.arange(nv) % nt
    R = (0.5 * (tv[cap][:, None] == tv[None]) + 0.5 * (tn[cap][:, None] == tn[None])).astype(np.float32)
    S = g.standard_normal(R.shape, dtype=np.float32)
    t0 = time.time(); m = mir_metrics(S, R); dt = time.time() - t0
    return dict(shape=[nv, nt], seconds=dt, metrics_random=m)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--tiny', action='store_true', help='CPU smoke test with small sizes')
    p.add_argument('--out', default=str(ROOT / 'benchmarks' / 'losses'))
    p.add_argument('--reps', type=int, default=20)
    a = p.parse_args()
    from avion_nb.core import machine_info, save_json
    if a.tiny and a.out == p.get_default('out'):   # a smoke test never overwrites the recorded numbers
        import tempfile; a.out = tempfile.mkdtemp(prefix='avion_bench_tiny_')
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    cuda = torch.cuda.is_available() and not a.tiny
    device = torch.device('cuda:0' if cuda else 'cpu')
    N_clip, N_mm, dim = (2048, 512, 256) if not a.tiny else (64, 32, 16)
    result = dict(command=' '.join([sys.executable] + sys.argv), machine=machine_info(), device=str(device), tiny=a.tiny)

    print(f'[1/3] loss timings on {device} ...', flush=True)
    result['loss_timings'] = bench_losses(device, N_clip, N_mm, dim, 3 if a.tiny else a.reps)
    for k, v in result['loss_timings'].items(): print(f'  {k:28s} {v["ms"]:8.2f} ms  peak {v["peak_mib"]} MiB')

    ngpu = torch.cuda.device_count() if cuda else 0
    if a.tiny: world, backend, b, din, dout = 2, 'gloo', 4, 6, 5
    elif ngpu >= 2: world, backend, b, din, dout = ngpu, 'nccl', 256, 64, 256
    else: world = 0
    if world:
        print(f'[2/3] DDP gradient check: {world} x {backend}, per-rank batch {b} ...', flush=True)
        result['grad_check'] = gc = grad_check(world, backend, b, din, dout)
        for kind, e in gc['max_rel_errors'].items():
            print(f'  {kind:12s} ' + '  '.join(f'{k}={v:.1e}' for k, v in e.items()))
        print(f'  worst relative error {gc["worst"]:.2e} -> {"PASS" if gc["passed"] else "FAIL"}')
    else:
        print('[2/3] DDP gradient check skipped (needs >= 2 GPUs, or --tiny for the CPU version)')
        result['grad_check'] = None

    nv, nt = (9668, 3842) if not a.tiny else (500, 200)
    print(f'[3/3] mir_metrics on {nv} x {nt} (CPU) ...', flush=True)
    result['mir'] = bench_mir(nv, nt)
    print(f'  {result["mir"]["seconds"]:.1f}s')

    save_json(portable_record(result), out / 'results.json')
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    from avion_nb.core import set_plot_style
    set_plot_style()
    names = list(result['loss_timings']); ms = [result['loss_timings'][k]['ms'] for k in names]
    fig, ax = plt.subplots(figsize=(6, 2.8))
    ax.barh(names, ms, color='C0'); ax.set_xlabel('forward + backward (ms)'); ax.set_title(f'losses on {device}')
    fig.savefig(out / 'losses_timing.png'); plt.close(fig)
    print(f'saved {out / "results.json"} and {out / "losses_timing.png"}')
    if result['grad_check'] is not None and not result['grad_check']['passed']: sys.exit(1)


if __name__ == '__main__':
    main()
