#!/usr/bin/env python
"""Learning check of token dropping (issue 15, item 5): does pretraining with mask 0.5 learn as well as unmasked?

On the embedded dataset (avion_nb.synth, a larger Ego4D-style training set; the held-out EK-100 MIR participant for
the zero-shot evaluation), from scratch, two `run_pretrain` runs with the same model, data order, seed and schedule:
  A. unmasked for `--epochs` E epochs,
  M. mask `--mask` (tube) for `--mask_epochs_factor` x E epochs.
The learning rate warms up linearly for `--warmup_epochs` and then stays constant (cosine with lr_end = lr), so the
first k epochs of every run are the same whatever its length: M's evaluation after E epochs is the masked run of E
epochs, and M's evaluation at the epoch where its cumulative training time (sum of step times: compute + data wait,
without evaluations and start-up) reaches A's is the masked run given A's wall-clock time.

Criteria (the issue's): zero-shot held-out MIR mAP (average of V->T and T->V) of M after E epochs >= 95 % of A's, and
M at A's training time beats A. A third check guards the claim: A must have learned (mAP >= 1.2 x the untrained model's).

The model is AVION's (ViT-B/16, 4 frames at 224^2; a small text tower, trained from scratch) so that the GPU, not
the loader, bounds the step and fewer tokens can buy time; `--model demo` uses the demo's small model instead (on a
big GPU it is loader-bound, so masking cannot save wall-clock time there).

    python scripts/learning_check_mask.py                  # 1x H200 (16 cores): ~4 min; writes benchmarks/pretrain/mask_learning.json
    python scripts/learning_check_mask.py --tiny           # CPU smoke test: tiny data/model, output only in a temp folder
    python scripts/learning_check_mask.py --model demo --cpu --workers 2 --ego4d_videos 12 --epochs 40 --eval_every 10 --mask_epochs_factor 1.25
                                                           # 2-core CPU VM, ~6.5 min idle: writes benchmarks/pretrain/mask_learning_cpu.json

On a CPU the step is compute-bound, so fewer tokens buy wall-clock time there too. The JSON records the machine
(nproc, CPU model, torch), the load average before and after each run (other jobs on the machine slow both runs),
the command, every evaluation and the pass/fail of each criterion.
"""
import argparse, json, os, sys, tempfile, time
from pathlib import Path
import torch
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from avion_nb.core import machine_info, save_json  # noqa: E402
sys.path.insert(0, str(ROOT/'scripts'))
from portable import portable_command, portable_args, portable_record  # noqa: E402


def cpu_model() -> str | None:
    "The CPU's model name from /proc/cpuinfo (Linux), else None."
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'): return line.split(':', 1)[1].strip()
    except OSError: pass
    return None


def load_avg():
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, 'getloadavg') else None

MODELS = dict(
    base=dict(vision='vit_b16', text='{"width": 256, "heads": 4, "layers": 4}', img_size=224, num_frames=4, embed_dim=256,
              attn='sdpa', checkpointing='none', batch_size=128, lr=3e-4, lr_start=1e-6, wd=0.05),
    demo=dict(vision='{"width": 128, "layers": 4, "heads": 4, "patch_size": 16}', text='{"width": 64, "heads": 2, "layers": 2}',
              img_size=64, num_frames=4, embed_dim=128, attn='sdpa', checkpointing='none', batch_size=32, lr=1e-3, lr_start=1e-5, wd=0.05),
    tiny=dict(vision='{"width": 32, "layers": 1, "heads": 2, "patch_size": 16}', text='{"width": 32, "heads": 2, "layers": 1}',
              img_size=32, num_frames=2, embed_dim=16, attn='sdpa', checkpointing='none', batch_size=2, lr=1e-3, lr_start=1e-5, wd=0.05))


def epoch_times(history: list) -> dict:
    "{k: cumulative training seconds at the end of epoch k} from per-step rows (each row's epoch and step time)."
    out, t = {0: 0.}, 0.
    for h in history:
        t += h['step_s']; out[int(h['epoch']) + 1] = t
    return out


def map_by_epoch(evals: dict) -> dict:
    return {int(v['epoch']): v['mAP_avg'] for v in evals.values()}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', default='data/avion_learn', help='dataset root (generated and chunked if missing, else reused)')
    p.add_argument('--out', default='benchmarks/pretrain', help='mask_learning.json goes here')
    p.add_argument('--model', default='base', choices=('base', 'demo'))
    p.add_argument('--ego4d_videos', type=int, default=64, help='Ego4D-style 30-s training videos to generate')
    p.add_argument('--epochs', type=int, default=40, help='epochs of the unmasked run A')
    p.add_argument('--mask', type=float, default=0.5)
    p.add_argument('--mask_mode', default='tube', choices=('tube', 'frame'))
    p.add_argument('--mask_epochs_factor', type=float, default=2., help="the masked run's epochs / A's (enough to pass A's time)")
    p.add_argument('--eval_every', type=int, default=10, help='epochs between evaluations (must divide --epochs)')
    p.add_argument('--warmup_epochs', type=float, default=3.)
    p.add_argument('--workers', type=int, default=16)
    p.add_argument('--compile', action='store_true', help='torch.compile both runs (adds compile time to the first steps of both)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--cpu', action='store_true', help='train on the CPU (also the default when no GPU is visible)')
    p.add_argument('--name', default=None, help='result file name (default mask_learning.json, mask_learning_cpu.json on the CPU)')
    p.add_argument('--tiny', action='store_true', help='CPU smoke test: tiny data, model and epochs; output only in a temp folder')
    a = p.parse_args()
    tmp = None
    if a.tiny:
        tmp = tempfile.TemporaryDirectory()
        a.epochs, a.eval_every, a.warmup_epochs, a.workers = 2, 1, 0.5, 0
        if a.data == p.get_default('data'): a.data = f'{tmp.name}/data'
        if a.out == p.get_default('out'): a.out = f'{tmp.name}/out'
    if a.epochs % a.eval_every: p.error(f'--eval_every {a.eval_every} must divide --epochs {a.epochs}')
    if not 0 < a.mask < 1: p.error(f'--mask must be in (0, 1), got {a.mask}')
    from avion_nb.demo import prepare_demo_data
    from avion_nb.pretrain import run_pretrain
    root, out = Path(a.data), Path(a.out)
    command = portable_command()
    on_cpu = bool(a.tiny or a.cpu or not torch.cuda.is_available())
    out_name = a.name or ('mask_learning_cpu.json' if on_cpu else 'mask_learning.json')
    T0 = time.perf_counter()
    prep = prepare_demo_data(root, preset='tiny' if a.tiny else 'default', chunk_len=5 if a.tiny else 15, keyint=15 if a.tiny else 30,
                             verbose=False, **({} if a.tiny else dict(ego4d_videos=a.ego4d_videos)), num_workers=os.cpu_count())
    print(f"data ready at {root} ({prep['generate_s']:.0f}s generate, {prep['chunk_s']:.0f}s chunk)", flush=True)
    model = MODELS['tiny' if a.tiny else a.model]
    lr = model['lr']
    common = dict(**model, train_data='ego4d', eval_data='ek100_mir', rephraser=True, color_jitter=0.4, rrc_scale='0.5,1.0',
                  lr_schedule='cosine', lr_end=lr, warmup_epochs=a.warmup_epochs, eval_every=a.eval_every, eval_batch_size=64,
                  workers=a.workers, seed=a.seed, log_with='none', progress=False, meter_window=1, checkpoint=False,
                  compile=a.compile, cpu=on_cpu)
    E, EM = a.epochs, max(a.epochs + a.eval_every, round(a.epochs * a.mask_epochs_factor / a.eval_every) * a.eval_every)
    runs_dir = tempfile.TemporaryDirectory()
    mi = machine_info(); mi.update(nproc=os.cpu_count(), cpu_model=cpu_model(), device='cpu' if on_cpu else mi.get('gpus', ['cuda'])[0])
    mi.pop('host', None)
    res = dict(command=command, machine_info=mi, args=portable_args(vars(a)), config=common, data=prep,
               load_avg_start=load_avg(), runs={})
    for name, kw in (('unmasked', dict(epochs=E, eval_first=True)), (f'mask{a.mask:g}', dict(epochs=EM, mask_ratio=a.mask, mask_mode=a.mask_mode))):
        t0, l0 = time.perf_counter(), load_avg()
        r = run_pretrain(root, f'{runs_dir.name}/{name}', **common, **kw)
        ep_t = epoch_times(r['history'])
        maps = map_by_epoch(r['evals'])
        res['runs'][name] = dict(epochs=kw['epochs'], mask_ratio=kw.get('mask_ratio', 0.), train_s=ep_t[max(ep_t)], run_s=time.perf_counter() - t0,
                                 videos_per_s=r['summary']['videos_per_s'], data_wait_pct=r['summary']['data_wait_pct'],
                                 tokens_per_clip=r['summary']['tokens_per_clip'], tokens_total=r['summary']['tokens_total'],
                                 steps=r['summary']['global_step'], load_avg_start=l0, load_avg_end=load_avg(), mAP_avg_by_epoch=maps,
                                 train_s_by_epoch={k: ep_t[k] for k in maps if k in ep_t},
                                 evals={k: {m: v[m] for m in ('mAP_v2t', 'mAP_t2v', 'mAP_avg', 'nDCG_avg', 'epoch')} for k, v in r['evals'].items()})
        print(f"{name}: {kw['epochs']} epochs, {res['runs'][name]['train_s']:.1f}s training, {res['runs'][name]['videos_per_s']:.1f} videos/s, "
              f"data wait {res['runs'][name]['data_wait_pct']:.1f}%, tokens/clip {res['runs'][name]['tokens_per_clip']:.0f}, "
              f"mAP_avg by epoch {json.dumps({k: round(v, 2) for k, v in sorted(maps.items())})}", flush=True)
    A, M = res['runs']['unmasked'], res['runs'][f'mask{a.mask:g}']
    a_map, untrained = A['mAP_avg_by_epoch'][E], A['mAP_avg_by_epoch'][0]
    m_at_E = M['mAP_avg_by_epoch'][E]
    within = [k for k, t in M['train_s_by_epoch'].items() if k > 0 and t <= A['train_s']]
    k_t = max(within) if within else None
    m_at_t = M['mAP_avg_by_epoch'][k_t] if k_t else None
    checks = dict(
        learned=dict(untrained_mAP=untrained, unmasked_mAP=a_map, ratio=a_map / max(untrained, 1e-9), threshold=1.2,
                     passed=a_map >= 1.2 * untrained),
        equal_epochs=dict(epochs=E, unmasked_mAP=a_map, masked_mAP=m_at_E, ratio=m_at_E / max(a_map, 1e-9), threshold=0.95,
                          unmasked_train_s=A['train_s'], masked_train_s=M['train_s_by_epoch'][E], passed=m_at_E >= 0.95 * a_map),
        equal_time=dict(unmasked_train_s=A['train_s'], unmasked_epochs=E, unmasked_mAP=a_map, masked_epochs=k_t,
                        masked_train_s=M['train_s_by_epoch'][k_t] if k_t else None, masked_mAP=m_at_t,
                        note='the last masked evaluation whose cumulative training time is <= the unmasked run\'s',
                        passed=bool(m_at_t is not None and m_at_t > a_map)))
    res['checks'] = checks
    res['passed'] = all(c['passed'] for c in checks.values())
    res['wall_s'] = time.perf_counter() - T0
    res['load_avg_end'] = load_avg()
    c = checks
    print(f"untrained mAP_avg {untrained:.2f} -> unmasked {a_map:.2f} after {E} epochs ({c['learned']['ratio']:.2f}x, learned: "
          f"{'PASS' if c['learned']['passed'] else 'FAIL'})", flush=True)
    print(f"equal epochs ({E}): mask {a.mask:g} {m_at_E:.2f} vs unmasked {a_map:.2f} = {100 * c['equal_epochs']['ratio']:.1f} % "
          f"(>= 95 %: {'PASS' if c['equal_epochs']['passed'] else 'FAIL'}); training {c['equal_epochs']['masked_train_s']:.1f}s vs {A['train_s']:.1f}s", flush=True)
    print(f"equal time ({A['train_s']:.1f}s of training): mask {a.mask:g} after {k_t} epochs ({c['equal_time']['masked_train_s'] or 0:.1f}s) "
          f"{(m_at_t if m_at_t is not None else float('nan')):.2f} vs unmasked {a_map:.2f} (beats: {'PASS' if c['equal_time']['passed'] else 'FAIL'})", flush=True)
    print(f"overall: {'PASS' if res['passed'] else 'FAIL'} ({res['wall_s']:.0f}s)", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    save_json(portable_record(res), out/out_name); print(f'wrote {out/out_name}', flush=True)
    return res


if __name__ == '__main__': main()
