"""VideoMAE on the embedded dataset: does masked pretraining learn, and does fine-tuning from it beat training from scratch?

1. `videomae_pretrain` (`avion_nb.videomae_pretrain`) on the Kinetics-style training list; at the end the masked loss on the *held-out* clips is
   compared with the predict-the-mean baseline ((K-1)/K with normalized-pixel targets).
2. `videomae_finetune` from the pretrained `encoder.pt` and from scratch, same recipe and seed, on the held-out split.

Writes <out>/transfer.json (and the two runs' folders). Sizes are flags; the defaults are the GPU setting (ViT-S/16,
112², 16 frames); `--cpu_tiny` is the CPU setting of the notebooks' slow cells.

    python scripts/bench_videomae_transfer.py --out benchmarks/videomae/transfer_gpu
    python scripts/bench_videomae_transfer.py --tiny      # a CPU smoke test (tiny data in a temporary folder, a few steps)
"""
import argparse, json, os, sys, time, tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from portable import portable_record  # noqa: E402  (records without machine-local paths)
from avion_nb.core import save_json, machine_info
from avion_nb.synth import make_dataset
from avion_nb.videomae_pretrain import videomae_pretrain
from avion_nb.videomae_finetune import videomae_finetune

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument('--data_root', default='data/avion_synth')
p.add_argument('--out', default='runs/videomae_transfer')
p.add_argument('--model', default='vit_s16'); p.add_argument('--input_size', type=int, default=112)
p.add_argument('--patch_size', type=int, default=16); p.add_argument('--num_frames', type=int, default=16)
p.add_argument('--mask_ratio', type=float, default=0.9)
p.add_argument('--pt_epochs', type=int, default=800); p.add_argument('--pt_batch', type=int, default=32)
p.add_argument('--pt_lr', type=float, default=1.5e-3); p.add_argument('--pt_warmup', type=float, default=40)
p.add_argument('--ft_epochs', type=int, default=50); p.add_argument('--ft_batch', type=int, default=8)
p.add_argument('--ft_lr', type=float, default=1e-3); p.add_argument('--ft_warmup', type=float, default=5)
p.add_argument('--workers', type=int, default=16); p.add_argument('--seed', type=int, default=0, help='pretraining seed')
p.add_argument('--ft_seeds', default='0,1,2', help='fine-tuning seeds (both arms; mean reported)')
p.add_argument('--cpu_tiny', action='store_true', help='CPU setting: tiny model (decoder 64 wide, 2 blocks) at 64², patch 8, 4 frames, 75%% masking, batch 16')
p.add_argument('--skip_pretrain', action='store_true', help='reuse <out>/pretrain/encoder.pt')
p.add_argument('--tiny', action='store_true', help='CPU smoke test: --cpu_tiny sizes at 32², a tiny dataset and output in a temporary folder, 4 + 2 steps')
a = p.parse_args()
preset = 'default'
if a.cpu_tiny or a.tiny:
    a.model, a.input_size, a.patch_size, a.num_frames, a.mask_ratio, a.pt_batch = 'vit_tiny', 64, 8, 4, 0.75, 16
if a.tiny:
    tmp = tempfile.mkdtemp(prefix='avion_transfer_tiny_')
    a.data_root, a.out, preset, a.input_size, a.pt_batch, a.ft_batch, a.workers = f'{tmp}/data', f'{tmp}/out', 'tiny', 32, 4, 4, 0
    a.pt_epochs, a.pt_warmup, a.ft_epochs, a.ft_warmup, a.ft_seeds = 1, 0, 1, 0, '0'
out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
make_dataset(a.data_root, preset=preset, verbose=False)
common = dict(data_root=a.data_root, vision=a.model, img_size=a.input_size, patch_size=a.patch_size,
              num_frames=a.num_frames, workers=a.workers, seed=a.seed, log_with='none', progress=False, tiny=a.cpu_tiny or a.tiny)
res = dict(args=vars(a), machine=machine_info(), command=' '.join([sys.executable] + sys.argv))
if not a.skip_pretrain:
    t0 = time.time()
    dec = dict(decoder_width=64, decoder_depth=2, decoder_heads=2) if a.cpu_tiny else {}
    pt = videomae_pretrain(output_dir=str(out/'pretrain'), mask_ratio=a.mask_ratio, batch_size=a.pt_batch, epochs=a.pt_epochs,
                           lr=a.pt_lr, warmup_epochs=a.pt_warmup, save_every_epochs=0, **dec, **common)
    res['pretrain'] = dict(recon=pt['recon'], steps=pt['global_step'], seconds=time.time() - t0, final_train_loss=pt['final_loss'],
                           step_s=pt.get('step_s'), data_wait_pct=pt.get('data_wait_pct'))
    print('pretrain:', res['pretrain'], flush=True)
    save_json(portable_record(res), out/'transfer.json')
if a.skip_pretrain and (out/'transfer.json').exists():
    res = dict(json.loads((out/'transfer.json').read_text()), **{k: res[k] for k in ('args', 'machine', 'command')})
seeds = [int(x) for x in a.ft_seeds.split(',')]
for name, pre in (('from_videomae', str(out/'pretrain'/'encoder.pt')), ('from_scratch', 'none')):
    runs = res.setdefault(name + '_seeds', {})
    for seed in seeds:
        t0 = time.time()
        ft = videomae_finetune(output_dir=str(out/f'ft_{name}_s{seed}'), pretrained=pre, batch_size=a.ft_batch, epochs=a.ft_epochs,
                               lr=a.ft_lr, warmup_epochs=a.ft_warmup, eval_every=max(1, a.ft_epochs // 5), save_every_epochs=0,
                               **dict(common, seed=seed))
        runs[str(seed)] = dict(final_eval=ft['final_eval'], evals=ft['evals'], seconds=time.time() - t0, steps=ft['global_step'])
        print(name, 'seed', seed, ft['final_eval'], flush=True)
        save_json(portable_record(res), out/'transfer.json')
    fe = [r['final_eval'] for r in runs.values()]
    res[name + '_mean'] = {k: sum(f[k] for f in fe) / len(fe) for k in ('top1', 'top5')} | dict(seeds=sorted(runs, key=int))
    save_json(portable_record(res), out/'transfer.json')
print({k: res[k] for k in res if k.endswith('_mean')}, {k: res.get('pretrain', {}).get('recon') for k in ['pretrain']})
if a.tiny: __import__('shutil').rmtree(tmp, ignore_errors=True)
