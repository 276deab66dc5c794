#!/usr/bin/env python
"""Inference benchmarks (issue #25): embedding throughput and search over 1 M windows.

    python scripts/bench_inference.py                      # 2-core VM: embedding on the CPU + search at 1 M x 256
    python scripts/bench_inference.py --tiny               # smoke test (seconds, writes to a temp folder)
    python scripts/bench_inference.py --only embed --workers 16 --batch_size 64 --data_root data/avion_synth  # GPU machine

1. Embedding: clips/s of `avion_nb.inference.embed_videos` (given (video, start, end) rows) against the trainers'
   evaluation loop (`train_parts.embed_videos` on the EK-100 MIR test dataset, as `evaluate_mir` runs it) on the
   same clips, same model (the demo architecture; weights do not change the speed), same batch size and workers.
2. Search over N windows (1 M, 256-d): a documented Gaussian mixture — C = 10,000 centres uniform on the unit
   sphere, each vector = normalise(centre + 0.5 g), g ~ N(0, I/D) — and 100 fresh queries from the same mixture.
   Per query: NumPy brute force (matrix-vector product + argpartition) vs the index's exact search
   (`inference.exact_topk`), one query at a time and in batches of 64, in the same run (this VM's timings drift by
   +-30 %, so the targets are ratios); faiss IVF (the index's approximate method: `inference.build_ivf`, 1,024
   lists at 1 M, 16 probed) and HNSW (M 32) with recall@10 against exact. Also recall@10 of IVF on the model's real
   window embeddings from part 1 (at the size the embedded dataset gives).

Writes results.json under --out (default benchmarks/inference/) and, unless --tiny/--no_headline, merges the headline
keys into benchmarks/headline.json: embed_clips_per_s_vm (CPU run) or embed_clips_per_s_16w (GPU, --workers 16),
search_ms_1M, search_exact_vs_numpy (exact ms / NumPy ms, same run: <= 1 means not slower), search_ann_ms_1M,
search_ann_speedup_vs_exact, search_ann_recall10.
"""
import argparse, json, math, os, sys, time, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT/'scripts'))
from portable import portable_record  # noqa: E402

import numpy as np
import torch


def log(*a): print(*a, flush=True)


def mixture_centres(clusters: int, d: int, seed: int = 0) -> np.ndarray:
    "Centres uniform on the unit sphere (float32 [clusters, d])."
    C = np.random.default_rng(seed).standard_normal((clusters, d)).astype(np.float32)
    return C / np.linalg.norm(C, axis=1, keepdims=True)


def gaussian_mixture(n: int, C: np.ndarray, sigma: float = 0.5, seed: int = 0, block: int = 100_000) -> np.ndarray:
    "Unit vectors normalise(centre + sigma g), g ~ N(0, I/d), centre drawn uniformly from C (float32 [n, d])."
    rng, d = np.random.default_rng(seed), C.shape[1]
    out = np.empty((n, d), np.float32)
    for i in range(0, n, block):
        m = min(block, n - i)
        x = C[rng.integers(0, len(C), m)] + (sigma / math.sqrt(d)) * rng.standard_normal((m, d), dtype=np.float32)
        out[i:i + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def per_query_ms(fns: dict, Q, batch: int = 1, min_reps: int = 3) -> dict:
    """Median ms per query of each fn(Q[i:i+batch]), the functions interleaved query by query (so a load change on a
    shared machine hits them alike), after one warm-up call each."""
    for f in fns.values(): f(Q[:batch])
    ts = {k: [] for k in fns}
    for i in range(0, max(len(Q) - batch + 1, min_reps), batch):
        q = Q[i % len(Q):i % len(Q) + batch]
        for k, f in fns.items(): t0 = time.perf_counter(); f(q); ts[k].append((time.perf_counter() - t0) / len(q))
    return {k: 1e3 * float(np.median(v)) for k, v in ts.items()}


def numpy_topk(E, Q, k):
    "NumPy brute force: one matrix product, argpartition, then the k sorted."
    S = Q @ E.T if len(Q) > 1 else (E @ Q[0])[None]
    idx = np.argpartition(-S, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(S, idx, 1), axis=1)
    return np.take_along_axis(idx, order, 1)


def recall_at(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    return float(np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth)]))


def bench_search(n, d, clusters, nq, k, *, hnsw: bool, hnsw_budget_s: float, nlist=None, seed=0) -> dict:
    import faiss
    from avion_nb.inference import exact_topk, build_ivf
    t0 = time.perf_counter(); C = mixture_centres(clusters, d, seed)
    E, Q = gaussian_mixture(n, C, seed=seed + 1), gaussian_mixture(nq, C, seed=seed + 2)     # queries: fresh draws, same centres
    res = dict(n=n, dim=d, clusters=clusters, sigma=0.5, queries=nq, k=k, data_s=time.perf_counter() - t0, faiss=faiss.__version__,
               threads=torch.get_num_threads())
    log(f'  data {n} x {d} ({clusters} clusters) in {res["data_s"]:.1f}s')
    truth = exact_topk(E, Q, k)[1]
    test = numpy_topk(E, Q[:5], k)
    res['exact_matches_numpy'] = recall_at(test, truth[:5], k)
    fns = dict(numpy=lambda q: numpy_topk(E, q, k), exact=lambda q: exact_topk(E, q, k))
    one, b64 = per_query_ms(fns, Q), per_query_ms(fns, Q, 64)
    res.update(numpy_ms=one['numpy'], exact_ms=one['exact'], numpy_batch64_ms=b64['numpy'], exact_batch64_ms=b64['exact'])
    res['exact_vs_numpy'] = res['exact_ms'] / res['numpy_ms']
    res['exact_vs_numpy_batch64'] = res['exact_batch64_ms'] / res['numpy_batch64_ms']
    log(f'  numpy {res["numpy_ms"]:.2f} ms/query, exact {res["exact_ms"]:.2f} ms (ratio {res["exact_vs_numpy"]:.2f}); '
        f'batch 64: numpy {res["numpy_batch64_ms"]:.2f}, exact {res["exact_batch64_ms"]:.2f} ms/query')
    t0 = time.perf_counter(); ivf = build_ivf(E, nlist=nlist); res['ivf_build_s'] = time.perf_counter() - t0
    res['ivf'] = dict(nlist=int(ivf.nlist), nprobe=int(ivf.nprobe))
    res['ivf_ms'] = per_query_ms(dict(ivf=lambda q: ivf.search(q, k)), Q)['ivf']
    res['ivf_batch64_ms'] = per_query_ms(dict(ivf=lambda q: ivf.search(q, k)), Q, 64)['ivf']
    res['ivf_recall10'] = recall_at(ivf.search(Q, k)[1], truth, k)
    res['ivf_speedup_vs_exact'] = res['exact_ms'] / res['ivf_ms']
    log(f'  IVF ({ivf.nlist} lists, nprobe {ivf.nprobe}): build {res["ivf_build_s"]:.1f}s, {res["ivf_ms"]:.3f} ms/query, '
        f'{res["ivf_speedup_vs_exact"]:.0f}x exact, recall@10 {res["ivf_recall10"]:.3f}')
    del ivf
    if hnsw:
        h = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT); h.hnsw.efConstruction = 40
        probe = min(n, 50_000); t0 = time.perf_counter(); h.add(E[:probe]); t_probe = time.perf_counter() - t0
        est = t_probe * n / probe * (1 + math.log(n / probe + 1) / 4)
        if probe < n and est > hnsw_budget_s:
            res['hnsw'] = dict(skipped=f'estimated build {est:.0f}s > --hnsw_budget_s {hnsw_budget_s:.0f}s')
            log(f'  HNSW skipped: {res["hnsw"]["skipped"]}')
        else:
            if probe < n: h.add(E[probe:])
            build = time.perf_counter() - t0; h.hnsw.efSearch = 64
            ms = per_query_ms(dict(h=lambda q: h.search(q, k)), Q)['h']
            res['hnsw'] = dict(M=32, efConstruction=40, efSearch=64, build_s=build, ms=ms, recall10=recall_at(h.search(Q, k)[1], truth, k),
                               speedup_vs_exact=res['exact_ms'] / ms)
            log(f'  HNSW (M 32, efSearch 64): build {build:.0f}s, {ms:.3f} ms/query, {res["hnsw"]["speedup_vs_exact"]:.0f}x exact, '
                f'recall@10 {res["hnsw"]["recall10"]:.3f}')
    return res


def bench_embed(root, *, workers, batch_size, reps, device, pretrained=None) -> tuple[dict, np.ndarray]:
    from avion_nb.demo import DEMO_MODEL
    from avion_nb.train_parts import model_config, build_model, parse_arch, embed_videos as trainer_embed
    from avion_nb.weights import save_pretrained
    from avion_nb.inference import load_model, embed_videos, _accelerator
    from avion_nb.datasets import VideoTextDataset
    if pretrained: model = load_model(pretrained, device=device); src = str(pretrained)
    else:
        cfg = model_config(parse_arch(DEMO_MODEL['vision']), parse_arch(DEMO_MODEL['text']), DEMO_MODEL['num_frames'],
                           DEMO_MODEL['img_size'], DEMO_MODEL['embed_dim'])
        torch.manual_seed(0); tmp = Path(tempfile.mkdtemp(prefix='avion_bench_model_'))
        save_pretrained(build_model(cfg), tmp/'demo', cfg, eval_settings=dict(num_frames=cfg['num_frames'], img_size=cfg['img_size']))
        model = load_model(tmp/'demo', device=device); src = 'demo architecture, random weights'
    T, S = model.info.num_frames, model.info.img_size
    ds = VideoTextDataset.ek100_mir(root, 'test', num_frames=T, crop='center', size=S, short_side=S, train=False)
    rows = [(str(ds.video_path(ds.table.video_id(i))), float(ds.table.start[i]), float(ds.table.end[i])) for i in range(len(ds))]
    acc = _accelerator(next(model.parameters()).device)
    res = dict(model=src, clips=len(ds), num_frames=T, img_size=S, workers=workers, batch_size=batch_size, device=str(acc.device), runs=[])
    log(f'  {len(ds)} EK-100 MIR test clips, {T} x {S}^2, batch {batch_size}, {workers} workers, {acc.device}')
    for r in range(reps):
        t0 = time.perf_counter(); a = trainer_embed(acc, model, ds, batch_size=batch_size, num_workers=workers, progress=False)
        t1 = time.perf_counter(); b = embed_videos(model, rows, batch_size=batch_size, workers=workers, progress=False)
        t2 = time.perf_counter()
        res['runs'].append(dict(trainer_loop_clips_per_s=len(ds) / (t1 - t0), embed_videos_clips_per_s=len(ds) / (t2 - t1)))
        log(f'  rep {r}: trainer loop {len(ds) / (t1 - t0):.1f} clips/s, embed_videos {len(ds) / (t2 - t1):.1f} clips/s')
    res['max_abs_diff'] = float(np.abs(a.float().cpu().numpy() - b.embeddings).max())
    for k in ('trainer_loop_clips_per_s', 'embed_videos_clips_per_s'): res[k] = float(np.median([x[k] for x in res['runs']]))
    res['embed_vs_trainer'] = res['embed_videos_clips_per_s'] / res['trainer_loop_clips_per_s']
    return res, b.embeddings


def update_headline(result: dict, path: Path, command: str, where: str):
    h = json.loads(path.read_text()) if path.exists() else {}
    date, machine = time.strftime('%Y-%m-%d'), result['machine_short']
    put = lambda key, v, detail: h.__setitem__(key, dict(value=round(float(v), 4), machine=machine, command=command, date=date, detail=detail))
    e, s = result.get('embed'), result.get('search')
    if e:
        key = 'embed_clips_per_s_vm' if e['device'] == 'cpu' else 'embed_clips_per_s_16w' if e['workers'] == 16 else None
        if key: put(key, e['embed_videos_clips_per_s'], f'avion_nb.inference.embed_videos on {e["clips"]} EK-100 MIR test clips of the embedded '
                          f'dataset ({e["num_frames"]}x{e["img_size"]}^2, demo architecture), {e["workers"]} workers; trainer loop '
                          f'{e["trainer_loop_clips_per_s"]:.1f} clips/s; ' + where)
    if s and s['n'] >= 1_000_000:
        d = f'{s["n"]:,} x {s["dim"]} Gaussian mixture ({s["clusters"]:,} clusters), one query at a time; ' + where
        put('search_ms_1M', s['exact_ms'], 'exact search (inference.exact_topk), ' + d)
        put('search_exact_vs_numpy', s['exact_vs_numpy'], f'exact ms / NumPy brute-force ms in the same run (NumPy {s["numpy_ms"]:.1f} ms), ' + d)
        put('search_ann_ms_1M', s['ivf_ms'], f'faiss IVF ({s["ivf"]["nlist"]} lists, nprobe {s["ivf"]["nprobe"]}), ' + d)
        put('search_ann_speedup_vs_exact', s['ivf_speedup_vs_exact'], 'exact ms / IVF ms, same run, ' + d)
        put('search_ann_recall10', s['ivf_recall10'], 'IVF top-10 vs exact top-10, ' + d)
    path.write_text(json.dumps(h, indent=2) + '\n')


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--tiny', action='store_true', help='smoke test: small sizes, a temp output folder, no headline')
    p.add_argument('--only', choices=('all', 'embed', 'search'), default='all')
    p.add_argument('--data_root', default='', help='embedded dataset root (default: a tiny one generated in a temp folder)')
    p.add_argument('--pretrained', default='', help='model to embed with (default: the demo architecture, random weights)')
    p.add_argument('--workers', type=int, default=2); p.add_argument('--batch_size', type=int, default=16)
    p.add_argument('--reps', type=int, default=2); p.add_argument('--cpu', action='store_true')
    p.add_argument('--n', type=int, default=1_000_000); p.add_argument('--dim', type=int, default=256)
    p.add_argument('--clusters', type=int, default=10_000); p.add_argument('--queries', type=int, default=100)
    p.add_argument('--no_hnsw', action='store_true'); p.add_argument('--hnsw_budget_s', type=float, default=600.)
    p.add_argument('--out', default=str(ROOT/'benchmarks'/'inference')); p.add_argument('--no_headline', action='store_true')
    a = p.parse_args()
    if a.tiny:
        a.n, a.clusters, a.queries, a.reps = 20_000, 200, 20, 1
        if a.out == p.get_default('out'): a.out = tempfile.mkdtemp(prefix='avion_bench_tiny_')
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    from avion_nb.core import machine_info
    device = 'cpu' if (a.cpu or a.tiny or not torch.cuda.is_available()) else 'cuda'
    mi = machine_info()
    result = dict(command=' '.join(['python'] + [Path(sys.argv[0]).as_posix()] + sys.argv[1:]), machine=mi, tiny=a.tiny,
                  loadavg_start=os.getloadavg(), date=time.strftime('%Y-%m-%d %H:%M'),
                  machine_short=(f'{torch.cuda.device_count()}x {torch.cuda.get_device_name(0)}, {os.cpu_count()} CPU cores' if device == 'cuda'
                                 else f'{os.cpu_count()}-core CPU VM'))
    real = None
    if a.only in ('all', 'embed'):
        log('[1/2] embedding throughput')
        root = a.data_root
        if not root:
            from avion_nb.synth import make_dataset
            root = Path(tempfile.mkdtemp(prefix='avion_bench_data_'))/'synth'
            make_dataset(root, 'tiny', verbose=False, ek100_duration=60., ego4d_videos=0, kinetics_train_per_class=0, kinetics_val_per_class=0)
            result['data'] = 'tiny embedded dataset with 60 s EK-100 videos (generated)'
        else: result['data'] = portable_record(str(root))
        result['embed'], real = bench_embed(root, workers=a.workers, batch_size=a.batch_size, reps=a.reps, device=device,
                                            pretrained=a.pretrained or None)
    if a.only in ('all', 'search'):
        log('[2/2] search')
        result['search'] = bench_search(a.n, a.dim, a.clusters, a.queries, 10, hnsw=not a.no_hnsw, hnsw_budget_s=a.hnsw_budget_s)
        if real is not None and len(real) >= 20:
            from avion_nb.inference import exact_topk, build_ivf
            k = min(10, len(real) - 1); truth = exact_topk(real, real[:100], k)[1]; ivf = build_ivf(real)
            result['search']['real_embeddings'] = dict(n=len(real), dim=real.shape[1], nlist=int(ivf.nlist), nprobe=int(ivf.nprobe), k=k,
                                                       ivf_recall=recall_at(ivf.search(real[:100], k)[1], truth, k), model=result['embed']['model'])
            log(f'  IVF recall@{k} on {len(real)} real window embeddings: {result["search"]["real_embeddings"]["ivf_recall"]:.3f}')
    result['loadavg_end'] = os.getloadavg()
    (out/'results.json').write_text(json.dumps(portable_record(result), indent=2, default=str) + '\n')
    log(f'saved {out/"results.json"}')
    if not a.tiny and not a.no_headline: update_headline(result, ROOT/'benchmarks'/'headline.json', result['command'], portable_record(str(out/'results.json')))


if __name__ == '__main__':
    main()
