#!/usr/bin/env python
"""End-to-end pretraining throughput at several token-drop (mask) ratios (issue 15), on realistic-bitrate data.

Data (made once, reused when complete; `--data` points at it):
  1. `make_dataset(<data>, content='egocentric')`: Ego4D-style long videos at the 'egocentric' content preset
     (~0.4 Mb/s H.264 at 456x256, x264-default GOP, as downloaded),
  2. `chunk_dataset(<data>/ego4d/videos, <data>/ego4d/videos_chunked, 15, keyint=<--gop>)`: 15-s chunks with
     the GOP structure avion_prepare writes by default (k32-lat16-fd: a keyframe every 32 frames, a reference lattice every 16, fastdecode).
Then one `run_pretrain` per mask ratio (`--masks 0,0.5,0.75`, `--mask_mode tube`): ViT-B/16 + CLIP-B text, 4 frames
at 224^2, batch 256, bf16, SDPA, `--chunk_len 15 --workers 16`, with `--compile` as given, no evaluation, no
checkpoints. `--epoch_repeat` (auto) makes one epoch several passes over the clips so the run never crosses an epoch
boundary (a real Ego4D epoch is ~4M clips; see `EpochRepeat`).

For each mask, over the steady-state steps (after `--warmup` steps: compilation, the loader's first batches):
videos/s, data wait % of step time, peak MB/video (peak allocated GPU memory over the batch, total and without the
16 B/param of fp32 weights, gradients and AdamW state), tokens/clip (patch tokens the encoder saw), MFU (training
FLOPs of the encoded tokens, the trainer's `flops_per_video`, x videos/s / the GPU's bf16 dense peak), and the
content bitrate (kb/s, measured from the files: sources and chunks). It prints the projected GPU-hours of AVION's
ViT-B Ego4D recipe (~4M clips x 5 epochs = 20M clips) at the measured mask-0.5 speed.

Writes <out>/e2e_mask.json (machine, versions, command, every number) and updates benchmarks/headline.json keys
`e2e_vps_mask50`, `e2e_vps_mask75`, `ego4d_recipe_gpu_hours`, `e2e_compile_data_wait_pct` (mask 0.5), `e2e_gpu_busy_pct_mask50`
(with --profile) when those masks ran and --out is the default.

GPU (1x H200, 16 cores):  python scripts/bench_pretrain.py --compile --masks 0,0.5,0.75 --workers 16 --steps 60
CPU check (writes only to a temp folder):  python scripts/bench_pretrain.py --tiny
"""
import argparse, gc, json, math, os, shutil, sys, tempfile, time
from datetime import date
from pathlib import Path
import torch
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from portable import portable_record  # noqa: E402  (records without machine-local paths)
from avion_nb.core import machine_info, save_json  # noqa: E402

RECIPE_CLIPS = 4_000_000 * 5      # AVION ViT-B Ego4D pretraining: ~4M clips x 5 epochs


def _complete(d: Path, gop: str) -> bool:
    "Whether `d` holds a complete chunking with GOP structure `gop` (another GOP is cut again, never reused silently)."
    from avion_nb.chunking import read_chunking
    try: j = read_chunking(d) or {}
    except (ValueError, FileNotFoundError): return False
    return bool(j.get('complete', False)) and str(j.get('settings', {}).get('keyint')) == str(gop)


def prepare(root: Path, a) -> dict:
    "Generate and chunk the egocentric data unless it is there already; returns timings and the measured bitrates."
    from avion_nb.synth import make_dataset
    from avion_nb.chunking import chunk_dataset, measure_bitrate
    ego, chunked = root/'ego4d'/'videos', root/'ego4d'/'videos_chunked'
    t0 = time.perf_counter(); gen_s = chunk_s = 0.
    if not (root/'meta.json').exists():
        kw = dict(ego4d_videos=a.ego4d_videos, ego4d_duration=a.video_sec, ek100_participants=2, ek100_videos_per_participant=1,
                  ek100_duration=4., kinetics_train_per_class=0, kinetics_val_per_class=0)
        make_dataset(root, 'tiny' if a.tiny else 'default', content='egocentric', num_workers=os.cpu_count(), verbose=False, **kw)
        gen_s = time.perf_counter() - t0
    if not _complete(chunked, a.gop):             # new sources, or chunks of another GOP: cut them (again)
        shutil.rmtree(chunked, ignore_errors=True)
        chunk_dataset(ego, chunked, a.chunk_len, keyint=a.gop, num_workers=os.cpu_count(), verbose=False)
        chunk_s = time.perf_counter() - t0 - gen_s
    print(f'data: ' + (f'generated in {gen_s:.0f}s, ' if gen_s else f'reusing the sources in {root}, ')
          + (f'chunked ({a.gop}) in {chunk_s:.0f}s' if chunk_s else f'reusing the {a.gop} chunks'), flush=True)
    src, chk = measure_bitrate(ego), measure_bitrate(chunked)
    return dict(generate_s=gen_s, chunk_s=chunk_s, source_kbps=src['rho'] * 8 / 1e3, chunk_kbps=chk['rho'] * 8 / 1e3,
                source_videos=src['videos'], source_hours=src['duration'] / 3600, chunk_files=chk['videos'],
                storage_vs_source=chk['bytes'] / src['bytes'])


def steady(hist: list, warmup: int, steps: int | None = None) -> dict:
    "Videos/s and data wait over the `steps` steps after `warmup` (per-step timings, StepMeter window 1)."
    st = hist[warmup:warmup + steps if steps else None] or hist
    step = sum(h['step_s'] for h in st); wait = sum(h['data_wait_s'] for h in st)
    vids = sum(h['videos_per_s'] * h['step_s'] for h in st)        # window 1: each row's own videos/s
    return dict(steps=len(st), step_s=step / len(st), videos_per_s=vids / step, data_wait_s=wait / len(st),
                data_wait_pct=100 * wait / step, videos=vids)


def print_row(row: dict, a) -> None:
    print(f"mask {row['mask_ratio']:<5g} main threads {row['main_threads']:>2} {row['videos_per_s']:8.1f} videos/s  step {row['step_s']:.3f}s  "
          f"data wait {row['data_wait_pct']:5.1f}%  tokens/clip {row['tokens_per_clip']:.0f}/{row['tokens_total']}  MFU {(row['mfu'] or 0):.1%}  "
          f"peak {row['peak_mb_per_video'] or 0:.1f} MB/video ({row['act_mb_per_video'] or 0:.1f} without weights/optimizer)  "
          f"[{row['steps']} steps after {a.warmup}, run {row['run_s']:.0f}s]", flush=True)


def fresh_run(out: Path, m: float, mt: int) -> tuple:
    "One (mask, main threads) run in a new process with this command's other flags; (its row, its profile summary)."
    import subprocess
    argv, skip = [], False
    for x in sys.argv[1:]:                                     # drop the flags this call sets itself
        if skip: skip = False; continue
        name = x.split('=')[0]
        if name in ('--masks', '--main_threads', '--out'): skip = '=' not in x; continue
        argv.append(x)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, __file__, *argv, '--masks', f'{m:g}', '--main_threads', str(mt), '--out', tmp,
               '--no_headline', '--same_process']
        rc = subprocess.run(cmd).returncode
        if rc: raise SystemExit(f'the run at mask {m:g}, main threads {mt} failed (exit {rc}): {" ".join(cmd)}')
        sub = json.loads((Path(tmp)/'e2e_mask.json').read_text())
        for f in Path(tmp).glob('profile_mask*'): out.mkdir(parents=True, exist_ok=True); shutil.copy(f, out/f.name)
    (row,) = sub['runs'].values()
    return row, sub.get('profiles', {}).get(f'{m:g}')


def n_params(a) -> int:
    from avion_nb.train_parts import model_config, build_model, parse_arch
    with torch.device('meta'):
        m = build_model(model_config(parse_arch(a.vision), parse_arch(a.text), a.frames, a.size, 256))
    return sum(p.numel() for p in m.parameters())


def machine_short(info: dict) -> str:
    g = info.get('gpus') or []
    return (f"{len(g)}x {g[0]}, " if g else 'CPU only, ') + f"{info.get('cpu_count')} CPU cores"


def update_headline(path: Path, items: dict, machine: str, command: str):
    "Set keys of headline.json to {value, machine, command, date, detail}, keeping every other key."
    h = json.loads(path.read_text()) if path.exists() else {}
    for k, (v, detail) in items.items():
        h[k] = dict(value=v, machine=machine, command=command, date=date.today().isoformat(), detail=detail)
    save_json(portable_record(h), path)


def write_headline(res: dict, where: str = 'benchmarks/pretrain'):
    """benchmarks/headline.json: e2e_vps_mask50/75, ego4d_recipe_gpu_hours, e2e_compile_data_wait_pct, e2e_gpu_busy_pct_mask50 from a
    run's record; `where`: the folder holding that record (and its profile), named in each key's detail."""
    from types import SimpleNamespace
    a, command, half = SimpleNamespace(**res['args']), res['command'], res['runs'].get('0.5')
    mach, d = machine_short(res['machine_info']), res['data']
    if res['machine_info'].get('torch'): mach += f", torch {res['machine_info']['torch'].split('+')[0]}"
    data_txt = (f"'egocentric' content ({d['source_kbps']:.0f} kb/s sources), 15-s {a.gop} chunks ({d['chunk_kbps']:.0f} kb/s), "
                f"{a.workers} workers; ViT-B/16 + CLIP-B text, {a.frames}x{a.size}^2, batch {a.batch_size}, bf16, "
                f"{'compiled' if a.compile else 'eager'}, {a.attn}, checkpointing {a.checkpointing}; {a.steps} steps after {a.warmup}")
    def tgt(ok: bool, t: str) -> str: return f"target {t} (issue 22): {'met' if ok else 'not met'}"
    items = {}
    if half:
        items['e2e_vps_mask50'] = (round(half['videos_per_s'], 1), f"end-to-end pretraining videos/s at mask 0.5 ({a.mask_mode}), "
                                   f"{half['peak_mb_per_video'] or 0:.1f} MB/video peak; {data_txt}; {where}/e2e_mask.json; {tgt(half['videos_per_s'] >= 1400, '>= 1,400')}")
        items['ego4d_recipe_gpu_hours'] = (round(res['ego4d_recipe_gpu_hours'], 2), f"20M clips (AVION ViT-B Ego4D: ~4M clips x 5 epochs) / "
                                           f"{half['videos_per_s']:.1f} videos/s (e2e, mask 0.5) / 3600; {where}/e2e_mask.json; {tgt(res['ego4d_recipe_gpu_hours'] <= 4, '<= 4')}")
    if half and a.compile:
        items['e2e_compile_data_wait_pct'] = (round(half['data_wait_pct'], 2), f"data wait % of step time, compiled run at mask 0.5: "
                                              f"{half['videos_per_s']:.1f} videos/s; {data_txt}; {where}/e2e_mask.json; {tgt(half['data_wait_pct'] <= 5, '<= 5 %')}")
    q = res['runs'].get('0.75')
    if q:
        items['e2e_vps_mask75'] = (round(q['videos_per_s'], 1), f"end-to-end pretraining videos/s at mask 0.75 ({a.mask_mode}), data wait "
                                   f"{q['data_wait_pct']:.1f} %; {data_txt}; {where}/e2e_mask.json; {tgt(q['videos_per_s'] >= 1600, '>= 1,600')}")
    prof = res.get('profiles', {}).get('0.5', {})
    if prof.get('gpu_busy_ms') and half:     # kernel time per step / the measured steady step (the 4-step window can be a burst)
        busy = 100 * prof['gpu_busy_ms'] / prof['steps'] / 1e3 / half['step_s']
        items['e2e_gpu_busy_pct_mask50'] = (round(busy, 1), f"GPU kernel time per step ({prof['gpu_busy_ms'] / prof['steps']:.0f} ms, union "
                                            f"of kernel intervals over {prof['steps']} profiled steps) / the steady mask-0.5 step "
                                            f"({half['step_s']:.3f} s); {data_txt}; {where}/profile_mask0.5.txt; {tgt(busy >= 90, '>= 90 %')}")
    if items:
        update_headline(ROOT/'benchmarks'/'headline.json', items, mach, command)
        print(f"updated benchmarks/headline.json: {', '.join(items)}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', default='data/avion_bench_ego', help='dataset root (generated and chunked if incomplete, else reused)')
    p.add_argument('--out', default='benchmarks/pretrain', help='e2e_mask.json goes here')
    p.add_argument('--masks', default='0,0.5,0.75', help='comma list of mask ratios')
    p.add_argument('--mask_mode', default='tube', choices=('tube', 'frame'))
    p.add_argument('--ego4d_videos', type=int, default=24, help='Ego4D-style videos to generate')
    p.add_argument('--video_sec', type=float, default=60., help='their length (s)')
    from avion_nb.prepare import PrepPlan
    p.add_argument('--gop', default=PrepPlan.gop, help=f"GOP structure of the chunks (02_chunking names); default: avion_prepare's "
                   f"({PrepPlan.gop}; the 2026-12-07 H100 figures used k16-nrb-fd)")
    p.add_argument('--chunk_len', type=int, default=15)
    p.add_argument('--vision', default='vit_b16'); p.add_argument('--text', default='clip_b')
    p.add_argument('--frames', type=int, default=4); p.add_argument('--size', type=int, default=224)
    p.add_argument('--attn', default='sdpa'); p.add_argument('--checkpointing', default='none')
    p.add_argument('--compile', action='store_true')
    p.add_argument('--batch_size', type=int, default=256)
    p.add_argument('--workers', type=int, default=16)
    p.add_argument('--main_threads', default='0', help="comma-separated main-process intra-op thread counts to sweep "
                   "(0: the trainers' automatic rule); the headline takes the automatic runs")
    p.add_argument('--profile', type=int, default=0, metavar='N', help='profile N steady steps (after the measured ones) of the '
                   '--profile_mask run: top ops and GPU-busy %% -> <out>/profile_mask<r>.txt/.json')
    p.add_argument('--profile_mask', type=float, default=0.5)
    p.add_argument('--headline_from', metavar='E2E_JSON', help='only update benchmarks/headline.json from an e2e_mask.json '
                   '(e.g. one copied back from the GPU machine) and exit')
    p.add_argument('--steps', type=int, default=60, help='measured steps per mask')
    p.add_argument('--warmup', type=int, default=-1, help='steps before the measurement (-1: the loader queue\'s batches, '
                   '--workers x 2 prefetched, + 10). Fewer measures batches the workers decoded while the first step compiled: '
                   'on the H100 at mask 0.5, warm-up 12 gave 1,483 videos/s, warm-up 40 gave 548')
    p.add_argument('--epoch_repeat', type=int, default=0, help='passes over the clips per epoch (0: auto, no epoch boundary)')
    p.add_argument('--no_headline', action='store_true', help='do not update benchmarks/headline.json')
    p.add_argument('--same_process', action='store_true', help='run every (mask, threads) in this process; by default each '
                   'run gets a fresh process, as a user starts a run: no cached GPU memory or compiled graphs carried over '
                   '(a second ViT-B run beside the first one\'s 66 GB of cached memory ran out of memory on the H100)')
    p.add_argument('--tiny', action='store_true', help='CPU smoke test: tiny data, model and steps, all output in a temp folder')
    a = p.parse_args()
    if a.headline_from:
        f = Path(a.headline_from)
        if not f.is_file(): p.error(f'--headline_from: no file {f}')
        res = json.loads(f.read_text())
        if not res.get('machine_info', {}).get('gpus'): p.error(f'--headline_from: {f} was not measured on a GPU machine')
        rel = f.resolve().parent.relative_to(ROOT.resolve()) if f.resolve().is_relative_to(ROOT.resolve()) else f.parent
        write_headline(res, str(rel)); print('updated benchmarks/headline.json'); return
    masks = [float(x) for x in a.masks.split(',') if x.strip()]
    if int(os.environ.get('WORLD_SIZE', '1')) > 1: p.error('one process (one GPU) only: the runs, files and headline are single-GPU figures')
    if any(not 0 <= m < 1 for m in masks): p.error(f'--masks: ratios must be in [0, 1), got {a.masks}')
    try: threads = [int(x) for x in str(a.main_threads).split(',') if x.strip()]
    except ValueError: p.error(f'--main_threads: expected comma-separated integers, got {a.main_threads!r}')
    if not threads or any(t < 0 for t in threads): p.error(f'--main_threads: counts must be >= 0 (0: automatic), got {a.main_threads!r}')
    tmp = None
    if a.tiny:
        tmp = tempfile.TemporaryDirectory()
        a.ego4d_videos, a.video_sec, a.vision, a.text, a.frames, a.size = 2, 10., '{"width":32,"layers":1,"heads":2}', 'text_tiny', 2, 32
        a.batch_size, a.workers, a.steps, a.warmup = 4, 1, 3, 1
        if a.masks == p.get_default('masks'): a.masks, masks = '0,0.5', [0., 0.5]
        if a.data == p.get_default('data'): a.data = f'{tmp.name}/data'
        if a.out == p.get_default('out'): a.out = f'{tmp.name}/out'
        a.no_headline = True
    from avion_nb.datasets import make_pretrain_data
    from avion_nb.pretrain import run_pretrain
    from avion_nb.trainer import peak_flops, mfu
    if a.warmup < 0: a.warmup = 2 * a.workers + 10     # PretrainSettings.prefetch = 2 batches queued per worker
    elif a.warmup < 2 * a.workers and not a.tiny:
        print(f'note: --warmup {a.warmup} < the {2 * a.workers} batches the workers queue while the first step compiles: '
              'the measured steps are partly served from that queue (an upper bound of the steady state)', flush=True)
    root, out = Path(a.data), Path(a.out)
    command = ' '.join(['python', 'scripts/bench_pretrain.py'] + sys.argv[1:])
    res = dict(command=command, args=vars(a), machine_info=machine_info(), recipe_clips=RECIPE_CLIPS, data=prepare(root, a), runs={})
    print(f"content bitrate: sources {res['data']['source_kbps']:.0f} kb/s, {a.gop} chunks {res['data']['chunk_kbps']:.0f} kb/s", flush=True)
    n_clips = len(make_pretrain_data(root, eval_data='none', num_frames=a.frames, img_size=a.size)[0])
    total = a.steps + a.warmup
    k = a.epoch_repeat or max(1, math.ceil((total + a.profile + 4) * a.batch_size / n_clips))
    static_b = 16 * n_params(a)                       # fp32 weights + gradients + AdamW m, v
    cuda = torch.cuda.is_available() and not a.tiny
    peak = peak_flops('cuda') if cuda else None
    runs_dir = tempfile.TemporaryDirectory()
    from step_profile import StepProfile
    import contextlib
    for i, (mt, m) in enumerate([(mt, m) for mt in threads for m in masks]):
        if not a.same_process:     # this process never trains: a run's cached GPU memory would crowd the next one
            row, prof_sum = fresh_run(out, m, mt)
            res['runs'][f'{m:g}' if mt == 0 else f'{m:g}@threads{mt}'] = row
            if prof_sum: res.setdefault('profiles', {})[f'{m:g}'] = prof_sum
            continue                     # the run printed its own row
        gc.collect()
        if cuda: torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        # the profiled steps come after the measured ones (the profiler and its trace export slow a step 2-3x)
        prof = StepProfile(a.warmup + a.steps, a.profile) if a.profile and m == a.profile_mask and mt == threads[0] else None
        with prof if prof is not None else contextlib.nullcontext():
          r = run_pretrain(output_dir=f'{runs_dir.name}/mask{m:g}', data_root=str(root), eval_data='none', vision=a.vision, text=a.text,
                         num_frames=a.frames, img_size=a.size, attn=a.attn, checkpointing=a.checkpointing, compile=a.compile,
                         batch_size=a.batch_size, workers=a.workers, chunk_len=str(a.chunk_len), epochs=10**6, max_steps=total + (a.profile + 2 if prof else 0),
                         save_every=0, log_with='none', progress=False, mixed_precision='bf16', epoch_repeat=k, meter_window=1,
                         checkpoint=False, mask_ratio=m, mask_mode=a.mask_mode, cpu=a.tiny, main_threads=mt)
        s, h = r['summary'], r['history']
        st = steady(h, a.warmup, a.steps)
        peak_b = max((x.get('gpu_mem_gb', 0.) for x in h), default=0.) * 2**30
        if prof is not None:
            ps = prof.report(out/f'profile_mask{m:g}'); res.setdefault('profiles', {})[f'{m:g}'] = {k: v for k, v in ps.items() if not k.startswith('top')}
            print(f"profile of {a.profile} steady steps at mask {m:g}: {ps.get('step_ms', 0):.1f} ms/step, GPU busy "
                  f"{ps.get('gpu_busy_pct') or 0:.1f} %; top CPU op {ps['top_cpu'][0]['op'] if ps['top_cpu'] else '-'} "
                  f"-> {out}/profile_mask{m:g}.txt", flush=True)
        row = dict(mask_ratio=m, mask_mode=a.mask_mode, main_threads=s.get('main_threads'), main_threads_setting=mt or 'auto',
                   **st, run_s=time.perf_counter() - t0,
                   tokens_per_clip=s['tokens_per_clip'], tokens_total=s['tokens_total'], flops_per_video=s['flops_per_video'],
                   flops_per_video_unmasked=s['flops_per_video_unmasked'], flops_basis=s['flops_basis'],
                   mfu=mfu(s['flops_per_video'], st['videos_per_s'], peak) if peak else None,
                   peak_mb=peak_b / 2**20 if cuda else None, peak_mb_per_video=peak_b / a.batch_size / 2**20 if cuda else None,
                   act_mb_per_video=max(peak_b - static_b, 0) / a.batch_size / 2**20 if cuda else None,
                   loss_first=h[0]['loss'], loss_last=h[-1]['loss'], clips=n_clips, epoch_repeat=k)
        res['runs'][f'{m:g}' if mt == 0 else f'{m:g}@threads{mt}'] = row
        print_row(row, a)
    half = res['runs'].get('0.5')
    if half:
        hours = RECIPE_CLIPS / half['videos_per_s'] / 3600
        res['ego4d_recipe_gpu_hours'] = hours
        print(f"AVION ViT-B Ego4D recipe ({RECIPE_CLIPS / 1e6:.0f}M clips = 4M x 5 epochs) at mask 0.5: "
              f"{RECIPE_CLIPS / 1e6:.0f}M / {half['videos_per_s']:.1f} videos/s / 3600 = {hours:.2f} GPU-hours on this GPU", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    save_json(portable_record(res), out/'e2e_mask.json'); print(f'wrote {out/"e2e_mask.json"}', flush=True)
    if not a.no_headline and out.resolve() == (ROOT/'benchmarks'/'pretrain').resolve(): write_headline(res)
    return res


if __name__ == '__main__': main()
