#!/usr/bin/env python
"""Benchmark the memory-efficient video ViT dual encoder (paper §4.1, Fig. 3 and Fig. 4).

Model: video ViT (4x224², 1x16x16 cubes) + CLIP text tower + 256-d projections, symmetric InfoNCE loss, AdamW,
bf16 autocast; all data resident on the GPU. For each variant it measures
  * videos/s of a full training step (forward, backward, optimizer step),
  * peak memory per video  = (peak allocated during a step - static memory) / batch,
    static = parameters + AdamW states + gradients,
  * the maximum batch size (search on OOM with a time bound; variants not searched get an estimate
    (free memory - static) / per-video memory, marked "est"),
  * model FLOPs utilisation (MFU) = videos/s x model FLOPs per video (fwd+bwd, counted on the meta device, no
    recomputation) / measured bf16 matmul peak,
plus the saved-activation breakdown LayerNorm / attention / MLP per video (Fig. 3) of the video ViT.

Variants: naive attention (baseline), SDPA pinned to flash / cudnn, the flash_attn package (if installed),
flash + gradient checkpointing (block / segments / attn-only / mlp-only / first 8 of 12 blocks), torch.compile (flash; flash+ckpt),
and architectures ViT-B vs TSF-B (TimeSformer) vs ViT-L at 4 and 16 frames.

Issue 15 adds, measured in the same process:
  * `ref_*`: a plain PyTorch reference of the same model (same parameters, same function, same kernels: cuBLAS Linears,
    LayerNorm under autocast, SDPA pinned to flash, QuickGELU written out as open_clip does, torch.utils.checkpoint per
    block). `--tiny` checks that it computes exactly avion_nb's function.
  * `legacy_*`: avion_nb with the two eager fast paths switched off (QuickGELU's separate kernels, LayerNorm in fp32
    under autocast), i.e. the model before issue 15.
  * `*@tube0.5`, `*@frame0.75`, ...: token dropping (`avion_nb.vit.TokenDrop`) at that mask ratio; masks are drawn every
    step from a CPU generator outside the compiled model, as the trainer does. The batch of a masked variant is scaled
    by 1/(1-ratio) (about the same tokens per step); videos/s and MB/video are per video as always.
  * the projected GPU-hours of AVION's ViT-B Ego4D pretraining recipe (about 4M clips x 5 epochs) from the model-step
    speed alone (no data loading: the end-to-end figure is measured by scripts/bench_pretrain.py).
MFU is `avion_nb.trainer.mfu` per GPU: 3 x forward FLOPs (of the tokens actually run) x videos/s / the spec bf16 peak
(`trainer.peak_flops`); the measured matmul peak is recorded too.

    python scripts/bench_model.py                      # GPU, subset 'quick' (about 8 min on one H100)
    python scripts/bench_model.py --subset issue15     # reference, eager fast paths, mask ratios (about 5 min on one H200)
    python scripts/bench_model.py --subset full        # everything, longer
    python scripts/bench_model.py --subset naive,flash,flash+ckpt_block   # named variants
    python scripts/bench_model.py --tiny               # CPU smoke test with tiny models (< 30 s)

Writes results.json (--tiny: results_tiny.json), fig3_memory.png, fig4_vit_vs_tsf.png and variants.png under --out (default benchmarks/model/).
"""
import os
os.environ.setdefault('PYTORCH_CUDA_ALLOC_CONF', 'expandable_segments:True')   # less fragmentation near OOM
import argparse, gc, math, sys, time, traceback
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import sdpa_kernel
from torch.utils.checkpoint import checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from portable import portable_record  # noqa: E402  (records without machine-local paths)
from avion_nb.core import get_device, machine_info, save_json, set_plot_style, seed_everything  # noqa: E402
from avion_nb.attention import flash_attn_available, which_sdpa_kernel, set_attn_backend  # noqa: E402
from avion_nb.attention import SDPA_KERNELS  # noqa: E402
from avion_nb.vit import activation_memory_per_video, plot_memory_breakdown, TokenDrop, Mlp, LayerNorm  # noqa: E402
from avion_nb.clip import build_video_clip  # noqa: E402
try:
    from avion_nb.trainer import mfu, peak_flops, train_flops_per_video  # noqa: E402
except Exception as e:   # another change to the trainer module is in progress: say so, and stop
    raise SystemExit(f'bench_model.py needs avion_nb.trainer (mfu, peak_flops, train_flops_per_video): {e!r}')

try:
    from avion_nb.losses import ClipLoss
    def make_loss(): return ClipLoss()
except Exception:   # the losses notebook is not there yet: a local symmetric InfoNCE
    def make_loss():
        def loss(v, t, s):
            logits = s * v.float() @ t.float().T
            y = torch.arange(len(v), device=v.device)
            return dict(loss=(F.cross_entropy(logits, y) + F.cross_entropy(logits.T, y)) / 2)
        return loss

ARCHS = {  # name -> (vision preset, text preset, tsf)
    'ViT-B': ('vit_b16', 'clip_b', False), 'TSF-B': ('vit_b16', 'clip_b', True), 'ViT-L': ('vit_l14', 'clip_l', False)}
EGO4D_CLIPS, EGO4D_EPOCHS = 4_000_000, 5     # AVION's ViT-B Ego4D pretraining recipe: ~4M clip-text pairs x 5 epochs


def V(arch='ViT-B', frames=4, attn='naive', ckpt='none', compile=False, search=False, group='variants', impl='avion',
      mask=0., modes=('tube',)):
    return dict(arch=arch, frames=frames, attn=attn, ckpt=ckpt, compile=compile, search=search, group=group, impl=impl,
                mask=mask, modes=tuple(modes))

FL = 'sdpa:flash'
TF = ('tube', 'frame')
VARIANTS = {   # in priority order (the time budget drops the tail)
    'naive': V(search=True),
    'flash': V(attn=FL, search=True),
    'flash+ckpt_block': V(attn=FL, ckpt='block', search=True),
    'tsf_naive': V('TSF-B', search=True, group='fig4'),
    'tsf_flash': V('TSF-B', attn=FL, search=True, group='fig4'),
    'tsf_flash+ckpt_block': V('TSF-B', attn=FL, ckpt='block', search=True, group='fig4'),
    'cudnn': V(attn='sdpa:cudnn'),
    'flash_attn_pkg': V(attn='flash_attn'),
    'flash+ckpt_segments': V(attn=FL, ckpt='segments'),
    'flash+ckpt_attn': V(attn=FL, ckpt='attn'),
    'flash+ckpt_mlp': V(attn=FL, ckpt='mlp'),
    'flash+ckpt_partial8': V(attn=FL, ckpt='partial:8'),
    'compile_flash': V(attn=FL, compile=True),
    'compile_flash+ckpt_block': V(attn=FL, ckpt='block', compile=True),
    'vit_b_16f_flash+ckpt_block': V('ViT-B', 16, FL, 'block', group='arch'),
    'tsf_b_16f_flash+ckpt_block': V('TSF-B', 16, FL, 'block', group='arch'),
    'vit_l_4f_flash+ckpt_block': V('ViT-L', 4, FL, 'block', group='arch'),
    'vit_l_16f_flash+ckpt_block': V('ViT-L', 16, FL, 'block', group='arch'),
    'vit_b_16f_naive': V('ViT-B', 16, 'naive', group='arch'),
    'vit_l_4f_flash': V('ViT-L', 4, FL, group='arch'),
    # issue 15: plain reference, the model before the eager fast paths, token dropping
    'ref_flash+ckpt_block': V(attn=FL, ckpt='block', impl='ref', group='eager'),
    'legacy_flash+ckpt_block': V(attn=FL, ckpt='block', impl='legacy', group='eager'),
    'ref_flash': V(attn=FL, impl='ref', group='eager'),
    'legacy_flash': V(attn=FL, impl='legacy', group='eager'),
    'flash+ckpt_block@0.5': V(attn=FL, ckpt='block', mask=0.5, modes=TF, group='mask'),
    'flash+ckpt_block@0.75': V(attn=FL, ckpt='block', mask=0.75, modes=TF, group='mask'),
    'flash+ckpt_block@rlt': V(attn=FL, ckpt='block', modes=('rlt',), group='mask'),
    'compile_flash+ckpt_block@0.5': V(attn=FL, ckpt='block', compile=True, mask=0.5, modes=TF, group='mask'),
    'compile_flash+ckpt_block@0.75': V(attn=FL, ckpt='block', compile=True, mask=0.75, modes=TF, group='mask'),
    'compile_flash@0.5': V(attn=FL, compile=True, mask=0.5, modes=TF, group='mask'),
    'compile_flash@0.75': V(attn=FL, compile=True, mask=0.75, modes=TF, group='mask'),
}
SUBSETS = {
    'quick': ['naive', 'flash', 'flash+ckpt_block', 'tsf_naive', 'tsf_flash', 'tsf_flash+ckpt_block', 'cudnn',
              'flash_attn_pkg', 'flash+ckpt_segments', 'flash+ckpt_attn', 'flash+ckpt_mlp', 'flash+ckpt_partial8', 'compile_flash',
              'vit_b_16f_flash+ckpt_block', 'vit_l_4f_flash+ckpt_block', 'tsf_b_16f_flash+ckpt_block',
              'compile_flash+ckpt_block', 'vit_l_16f_flash+ckpt_block'],
    'issue15': ['ref_flash+ckpt_block', 'flash+ckpt_block', 'legacy_flash+ckpt_block', 'compile_flash+ckpt_block@0.5',
                'flash+ckpt_block@0.5', 'flash+ckpt_block@0.75', 'compile_flash@0.75', 'compile_flash+ckpt_block@0.75',
                'compile_flash+ckpt_block', 'ref_flash', 'flash', 'legacy_flash', 'compile_flash@0.5'],
    'tiny': ['ref_flash+ckpt_block', 'flash+ckpt_block', 'legacy_flash+ckpt_block', 'flash+ckpt_block@0.5',
             'flash+ckpt_block@rlt'],
    'full': None,
}
SUBSETS['full'] = list(VARIANTS)


# -- the plain PyTorch reference -------------------------------------------------------------------------------------------
class RefBlock(nn.Module):
    "A pre-LN CLIP block written the plain way (open_clip's QuickGELU, nn.LayerNorm, fused qkv, SDPA)."
    def __init__(self, d, heads, eps, causal=False, kernel=None):
        super().__init__()
        self.heads, self.causal, self.kernel = heads, causal, kernel
        self.norm1, self.norm2 = nn.LayerNorm(d, eps=eps), nn.LayerNorm(d, eps=eps)
        self.attn = nn.Module(); self.attn.qkv = nn.Linear(d, 3 * d); self.attn.proj = nn.Linear(d, d)
        self.mlp = nn.Module(); self.mlp.fc1 = nn.Linear(d, 4 * d); self.mlp.fc2 = nn.Linear(4 * d, d)

    def forward(self, x):
        B, N, C = x.shape
        q, k, v = self.attn.qkv(self.norm1(x)).view(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        if self.kernel is None: o = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        else:
            with sdpa_kernel([self.kernel]): o = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        x = x + self.attn.proj(o.transpose(1, 2).reshape(B, N, C))
        h = self.mlp.fc1(self.norm2(x))
        return x + self.mlp.fc2(h * torch.sigmoid(1.702 * h))


class RefVideoCLIP(nn.Module):
    "Plain PyTorch video-text dual encoder with the parameters (names included) and the function of `build_video_clip`'s."
    def __init__(self, m):
        super().__init__()
        vc, tc = m.visual.cfg, m.text.cfg
        if not (vc.act == tc.act == 'quick_gelu' and vc.ln_pre and not vc.patch_bias and vc.pool == 'cls' and not vc.tsf
                and vc.output_dim is None and vc.tubelet == 1 and vc.mlp_ratio == tc.mlp_ratio == 4):
            raise ValueError('the reference implements the CLIP-style joint ViT-B/L dual encoder only')
        if m.visual.cfg.attn.startswith('sdpa:'): kernel = SDPA_KERNELS[m.visual.cfg.attn.split(':')[1]]
        elif m.visual.cfg.attn == 'sdpa': kernel = None
        else: raise ValueError(f'the reference runs SDPA only, not {m.visual.cfg.attn!r}')
        D, p, S = vc.width, vc.patch_size, m.visual.num_spatial
        self.ckpt = vc.checkpointing == 'block'
        v = self.visual = nn.Module()
        v.patch_embed = nn.Conv3d(3, D, (1, p, p), stride=(1, p, p), bias=False)
        v.cls_token = nn.Parameter(torch.zeros(D)); v.pos_embed = nn.Parameter(torch.zeros(1 + S, D))
        v.temporal_embed = nn.Parameter(torch.zeros(m.visual.grid[0], D))
        v.ln_pre = nn.LayerNorm(D, eps=vc.ln_eps)
        v.blocks = nn.ModuleList(RefBlock(D, vc.heads, vc.ln_eps, kernel=kernel) for _ in range(vc.layers))
        v.norm = nn.LayerNorm(D, eps=vc.ln_eps)
        self.visual_proj = nn.Linear(D, m.embed_dim, bias=False)
        t = self.text = nn.Module()
        t.token_embedding = nn.Embedding(tc.vocab_size, tc.width)
        t.positional_embedding = nn.Parameter(torch.zeros(tc.context_length, tc.width))
        t.blocks = nn.ModuleList(RefBlock(tc.width, tc.heads, tc.ln_eps, causal=True, kernel=kernel) for _ in range(tc.layers))
        t.ln_final = nn.LayerNorm(tc.width, eps=tc.ln_eps)
        self.text_proj = nn.Linear(tc.width, m.embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.zeros(()))
        self.load_state_dict(m.state_dict())

    def _blocks(self, blocks, x):
        for b in blocks: x = checkpoint(b, x, use_reentrant=False) if self.ckpt and torch.is_grad_enabled() else b(x)
        return x

    def forward(self, video, tokens):
        v, t = self.visual, self.text
        x = v.patch_embed(video).flatten(2).transpose(1, 2)                                   # [B, T*S, D]
        B, _, D = x.shape
        x = x + (v.temporal_embed[:, None] + v.pos_embed[1:][None]).reshape(-1, D).to(x.dtype)
        x = torch.cat([(v.cls_token + v.pos_embed[0]).to(x.dtype).expand(B, 1, D), x], 1)
        ve = self.visual_proj(v.norm(self._blocks(v.blocks, v.ln_pre(x)))[:, 0])
        y = t.token_embedding(tokens) + t.positional_embedding[:tokens.shape[1]]
        y = t.ln_final(self._blocks(t.blocks, y))[torch.arange(B, device=y.device), tokens.argmax(-1)]
        te = self.text_proj(y)
        return F.normalize(ve, dim=-1), F.normalize(te, dim=-1), self.logit_scale.exp()


def legacy_eager(model):
    "avion_nb before issue 15: QuickGELU as its own kernels, LayerNorm in fp32 under autocast."
    for m in model.modules():
        if isinstance(m, Mlp): m.fold_quick_gelu = False
        if isinstance(m, LayerNorm): m.keep_dtype = False
    return model


def check_reference(bench, dev):
    "Max |difference| of the embeddings and the gradients between the reference and avion_nb (fp32, same weights)."
    v = V(attn='sdpa:math' if dev.type == 'cpu' else FL, ckpt='block')
    seed_everything(0)
    with torch.device(dev): m = bench.build(v)
    ref = RefVideoCLIP(m).to(dev)
    video, tok = bench.inputs(2, 4)
    video = video.float()
    out = {}
    for name, mod in (('avion_nb', m), ('reference', ref)):
        if dev.type == 'cuda':   # fp32 on the GPU: the flash kernel needs half precision, use the math kernel
            for b in mod.modules():
                if isinstance(b, RefBlock): b.kernel = SDPA_KERNELS['math']
            if name == 'avion_nb': set_attn_backend(mod, 'sdpa:math')
        ve, te, s = mod(video, tok); (ve.sum() * 2 + te.sum() * 3).backward()
        out[name] = (ve.detach(), te.detach(), {n: p.grad.clone() for n, p in mod.named_parameters() if p.grad is not None})
    (va, ta, ga), (vr, tr, gr) = out['avion_nb'], out['reference']
    emb = max((va - vr).abs().max().item(), (ta - tr).abs().max().item())
    grad = max(((ga[n] - gr[n]).abs().max() / gr[n].abs().max().clamp_min(1e-12)).item() for n in gr)
    return dict(max_abs_diff_embeddings=emb, max_rel_diff_grads=grad, same_params=sorted(ga) == sorted(gr))


def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize(dev)


def is_oom(e):
    oom = getattr(torch, 'OutOfMemoryError', None) or torch.cuda.OutOfMemoryError
    return isinstance(e, oom) or 'out of memory' in str(e).lower()


def free_cuda():
    gc.collect()
    if torch.cuda.is_available(): torch.cuda.empty_cache()


def matmul_peak_tflops(dev, tiny=False, seconds=3.0):
    "Measured dense matmul throughput: bf16 8192^3 on CUDA (fp32 512^3 on CPU)."
    n, dt = (512, torch.float32) if dev.type == 'cpu' or tiny else (8192, torch.bfloat16)
    a, b = torch.randn(n, n, device=dev, dtype=dt), torch.randn(n, n, device=dev, dtype=dt)
    for _ in range(3): a @ b
    sync(dev); it, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(10): a @ b
        it += 10; sync(dev)
    return 2 * n ** 3 * it / (time.perf_counter() - t0) / 1e12


class Bench:
    def __init__(self, a, dev):
        self.a, self.dev = a, dev
        self.cuda = dev.type == 'cuda'
        self.adt = torch.bfloat16 if self.cuda else None
        self.total_mem = torch.cuda.get_device_properties(dev).total_memory if self.cuda else None
        self._flops = {}

    # -- model and data -----------------------------------------------------------------------------------
    def build(self, v, device=None):
        vis, txt, tsf = ARCHS[v['arch']]
        kw = dict(num_frames=v['frames'], embed_dim=256, attn=v['attn'], checkpointing=v['ckpt'], tsf=tsf)
        if self.a.tiny:
            vis, txt = 'vit_tiny', 'text_tiny'
            kw.update(img_size=self.a.size, layers=4 if v['arch'] == 'ViT-L' else 2)
        else: kw['img_size'] = self.a.size
        return build_video_clip(vis, text=txt, **kw).to(device or self.dev)

    def inputs(self, B, frames, device=None):
        dev = device or self.dev
        dt = torch.bfloat16 if dev.type == 'cuda' else torch.float32   # autocast casts to bf16 anyway
        video = torch.randn(B, 3, frames, self.a.size, self.a.size, device=dev, dtype=dt)
        n = 77
        tok = torch.randint(1, 49405, (B, n), device=dev)
        L = torch.randint(4, n, (B,), device=dev)
        ar = torch.arange(n, device=dev)
        tok = torch.where(ar[None] < L[:, None], tok, 0); tok[torch.arange(B, device=dev), L] = 49407
        tok[:, 0] = 49406
        return video, tok

    def flops_per_video(self, v, keep=None):
        """Training FLOPs per video (`trainer.train_flops_per_video`: 3 x forward, no recomputation) of the tokens run:
        all of them, or the kept ones `keep` [2, n]; counted on the meta device."""
        key = (v['arch'], v['frames'], None if keep is None else keep.shape[1])
        if key not in self._flops:
            vv = dict(v, attn='naive', ckpt='none')
            with torch.device('meta'): m = self.build(vv, device=torch.device('meta'))
            video, tok = self.inputs(2, v['frames'], device=torch.device('meta'))
            args = (video, tok) if keep is None else (video, tok, keep[:2].to('meta'))
            self._flops[key] = train_flops_per_video(m, *args)
        return self._flops[key]

    def static_inputs(self, B, frames):
        "Synthetic clips for 'rlt': the left half of every frame repeats the first frame (static), the right half moves."
        video, tok = self.inputs(B, frames)
        video[..., : self.a.size // 2] = video[:, :, :1, :, : self.a.size // 2]
        return video, tok

    # -- one variant (several rows when it measures several mask modes) ---------------------------------------------------
    def run_variant(self, name, v, budget_left):
        a, dev = self.a, self.dev
        base = dict(v, name=name)
        if v['attn'] == 'flash_attn' and not flash_attn_available():
            return [dict(base, status='skipped: flash_attn package not installed')]
        if v['attn'] in ('sdpa:cudnn', 'flash_attn') and not self.cuda: return [dict(base, status=f"skipped: {v['attn']} needs CUDA")]
        if v['compile'] and budget_left < self.a.compile_min_budget:
            return [dict(base, status=f'skipped: time budget (compiling needs about {self.a.compile_min_budget:.0f}s)')]
        seed_everything(0); free_cuda()
        t_start = time.perf_counter()
        with torch.device(self.dev): model = self.build(v)
        if v['impl'] == 'ref': model = RefVideoCLIP(model).to(self.dev)
        elif v['impl'] == 'legacy': legacy_eager(model)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05, fused=self.cuda)
        loss_fn = make_loss()
        fwd = model
        if v['compile']:
            fwd = torch.compile(model, backend='aot_eager' if not self.cuda else 'inductor', dynamic=False)
        ac = dict(device_type=dev.type, dtype=torch.bfloat16, enabled=self.cuda)
        ratio = v['mask']
        gen = torch.Generator().manual_seed(0)
        drop = None

        def step(video, tok):
            keep = model.visual.token_keep(video, drop, gen) if drop is not None else None
            opt.zero_grad(set_to_none=True)
            with torch.autocast(**ac):
                ve, te, s = fwd(video, tok) if keep is None else fwd(video, tok, keep)
                loss = loss_fn(ve, te, s)['loss']
            loss.backward(); opt.step()
            with torch.no_grad(): model.logit_scale.clamp_(0, math.log(100))
            return loss

        n_params = sum(p.numel() for p in model.parameters())
        rows = []
        B0 = max(1, a.batch * 4 // v['frames'] // (2 if v['arch'] == 'ViT-L' else 1))   # --batch is for ViT-B, 4 frames
        if ratio > 0 and not a.fixed_batch: B0 = int(round(B0 / (1 - ratio)))               # about the same tokens per step
        for mode in v['modes']:
            r = dict(base, name=name if len(v['modes']) == 1 and not ratio else f"{name.split('@')[0]}@{mode}{ratio if ratio else ''}",
                     mask_mode=mode if (ratio or mode == 'rlt') else None, params_M=n_params / 1e6)
            drop = TokenDrop(ratio, mode) if (ratio or mode == 'rlt') else None
            make = self.static_inputs if mode == 'rlt' else self.inputs
            B = B0
            while True:
                try:
                    video, tok = make(B, v['frames'])
                    t0 = time.perf_counter(); step(video, tok); sync(dev); r['first_step_s'] = time.perf_counter() - t0
                    break
                except RuntimeError as e:
                    if not is_oom(e) or B == 1:
                        r['status'] = f'error: {type(e).__name__}: {str(e).splitlines()[0][:300]}'
                        rows.append(r); del model, opt; free_cuda(); return rows
                    del e; video = tok = None; opt.zero_grad(set_to_none=True); free_cuda(); B //= 2
            r['batch'] = B
            keep = model.visual.token_keep(video, drop, torch.Generator().manual_seed(0)) if drop is not None else None
            r['tokens_per_clip'] = 1 + (keep.shape[1] if keep is not None else v['frames'] * (a.size // 16) ** 2)
            if mode == 'rlt': r['rlt_changed_tokens_per_clip'] = float(model.visual.last_token_counts.float().mean())
            # throughput
            for _ in range(a.warmup): step(video, tok)
            sync(dev)
            if self.cuda:
                opt.zero_grad(set_to_none=True); free_cuda()
                static = torch.cuda.memory_allocated(dev) + 4 * n_params - video.numel() * video.element_size()
                torch.cuda.reset_peak_memory_stats(dev)
            it, t0 = 0, time.perf_counter()
            while it < a.iters and (it < 3 or time.perf_counter() - t0 < a.min_time):
                step(video, tok); it += 1
            sync(dev); dt = (time.perf_counter() - t0) / it
            r.update(step_s=dt, iters=it, videos_per_s=B / dt)
            if self.cuda:
                peak = torch.cuda.max_memory_allocated(dev)
                r.update(static_mb=static / 2**20, peak_mb=peak / 2**20, mem_per_video_mb=(peak - static) / B / 2**20)
                r['max_batch_est'] = int((self.total_mem * 0.97 - static) / max(peak - static, 1) * B)
            fl = self.flops_per_video(v, keep)
            r.update(train_tflop_per_video=fl / 1e12, mfu=mfu(fl, r['videos_per_s'], self.spec_peak),
                     mfu_measured_peak=r['videos_per_s'] * fl / (self.peak * 1e12),
                     ego4d_gpu_hours_model_step=EGO4D_CLIPS * EGO4D_EPOCHS / r['videos_per_s'] / 3600)
            if a.profile and name in a.profile.split(','): r['profile'] = self.profile(step, video, tok, r['name'])
            del video, tok
            # max batch search
            if self.cuda and v['search'] and a.search_time > 0 and not v['compile'] and not ratio:
                r.update(self.max_batch(step, v, r['max_batch_est'], min(a.search_time, max(budget_left - (time.perf_counter() - t_start), 0))))
            r['status'] = 'ok'
            r['wall_s'] = time.perf_counter() - t_start
            rows.append(r)
        del model, opt, fwd
        if v['compile']: torch._dynamo.reset()
        free_cuda()
        return rows

    def profile(self, step, video, tok, name):
        "The kernels of two training steps by total device time (torch.profiler), written to profile_<name>.txt."
        from torch.profiler import profile, ProfilerActivity
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if self.cuda else [])
        sync(self.dev)
        with profile(activities=acts) as prof:
            for _ in range(2): step(video, tok)
            sync(self.dev)
        key = 'self_device_time_total' if self.cuda else 'self_cpu_time_total'
        table = prof.key_averages().table(sort_by=key, row_limit=30, max_name_column_width=70)
        fn = Path(self.a.out) / f"profile_{name.replace('+', '_').replace('@', '_')}.txt"
        fn.write_text(f'{name}: 2 training steps, batch {len(video)}\n{table}\n')
        summ = dict(file=fn.name)
        try:
            if self.cuda:
                ev = [e for e in prof.events() if 'cuda' in str(getattr(e, 'device_type', '')).lower()]
                summ.update(kernels_per_step=len(ev) / 2, kernel_time_ms_per_step=sum(e.device_time for e in ev) / 2e3)
        except Exception as e: summ['summary_error'] = repr(e)
        return summ

    def max_batch(self, step, v, est, budget):
        "Largest batch whose training step fits: grow from the estimate, then bisect; bounded by `budget` seconds."
        t0 = time.perf_counter(); lo, hi, tries, err = 0, None, [], None
        cap = self.a.max_batch_cap
        b = max(1, min(cap, int(est * 0.9)))

        def fits(B):
            nonlocal err
            video = tok = None
            try:
                video, tok = self.inputs(B, v['frames']); step(video, tok); sync(self.dev); return True
            except RuntimeError as e:
                if not is_oom(e): err = str(e).splitlines()[0][:200]
                return False
            finally:
                del video, tok; free_cuda()

        while time.perf_counter() - t0 < budget:
            ok = fits(b); tries.append((b, ok))
            if ok:
                lo = b
                if lo >= cap: break
            else: hi = b
            if hi is None: b = min(cap, int(b * 1.25) + 1)
            elif hi - lo <= max(1, lo // 50): break
            else: b = (lo + hi) // 2 if lo else max(1, hi // 2)
        exact = hi is not None and hi - lo <= max(1, lo // 50)
        return dict(max_batch=lo, max_batch_fail=hi, max_batch_exact=exact, max_batch_tries=tries,
                    max_batch_search_s=time.perf_counter() - t0, max_batch_error=err)


def memory_breakdown(bench):
    "Fig. 3: saved activations per video of the video ViT, by layer type (baseline / +flash / +grad-ckpt)."
    a, dev = bench.a, bench.dev
    out = {}
    for label, attn, ck in [('baseline', 'naive', 'none'), ('+ flash', FL if bench.cuda else 'sdpa', 'none'),
                            ('+ grad-ckpt', FL if bench.cuda else 'sdpa', 'block')]:
        with torch.device(dev): m = bench.build(V(attn=attn, ckpt=ck)).visual.train()
        out[label] = activation_memory_per_video(m, (3, 4, a.size, a.size), autocast_dtype=bench.adt)
        del m; free_cuda()
    return out


def plots(res, out, tiny):
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    set_plot_style()
    R = {r['name']: r for r in res['results'] if r.get('status') == 'ok'}
    tag = ' (tiny, CPU)' if tiny else ''
    # Fig. 3
    if res.get('memory_breakdown'):
        ax = plot_memory_breakdown(res['memory_breakdown'], f'Video ViT-B, 4x224², saved activations per video{tag}')
        ax.figure.savefig(out / 'fig3_memory.png'); plt.close(ax.figure)
    # Fig. 4: TSF-B vs ViT-B
    rows = [('baseline', 'naive', 'tsf_naive'), ('+ flash-attn', 'flash', 'tsf_flash'),
            ('+ grad-ckpt', 'flash+ckpt_block', 'tsf_flash+ckpt_block')]
    fig, axs = plt.subplots(1, 2, figsize=(9, 3))
    for j, (key, label) in enumerate([('max_batch', '# of videos (max batch)'), ('videos_per_s', 'videos / sec')]):
        ax = axs[j]
        for k, (arch, col) in enumerate([('TSF-B', 2), ('ViT-B', 1)]):
            vals = []
            for lab, vit_name, tsf_name in rows:
                r = R.get(tsf_name if arch == 'TSF-B' else vit_name, {})
                vals.append(r.get(key) or (r.get('max_batch_est') if key == 'max_batch' else None) or 0)
            ys = [i + (0.2 if k else -0.2) for i in range(len(rows))]
            ax.barh(ys, vals, height=0.4, label=arch)
            for y, val in zip(ys, vals): ax.text(val, y, f' {val:.0f}' if val else ' n/a', va='center', fontsize=8)
        ax.set_yticks(range(len(rows))); ax.set_yticklabels([r[0] for r in rows]); ax.invert_yaxis()
        ax.set_xlabel(label)
        if key == 'max_batch' and any(ax.patches) and max(b.get_width() for b in ax.patches) > 0: ax.set_xscale('log')
    axs[1].legend(fontsize=8); fig.suptitle(f'Video-text dual encoder, 4 frames{tag}', fontsize=10)
    fig.savefig(out / 'fig4_vit_vs_tsf.png'); plt.close(fig)
    # all variants
    names = [n for n in R]
    fig, axs = plt.subplots(1, 3, figsize=(13, 0.6 + 0.32 * len(names)), sharey=True)
    for ax, key, label in [(axs[0], 'videos_per_s', 'videos / sec'), (axs[1], 'mem_per_video_mb', 'peak MB / video'),
                           (axs[2], 'max_batch', 'max batch (* = estimate)')]:
        vals = [R[n].get(key) or (R[n].get('max_batch_est') if key == 'max_batch' else 0) or 0 for n in names]
        ax.barh(names, vals)
        for i, n in enumerate(names):
            star = '*' if key == 'max_batch' and not R[n].get('max_batch') else ''
            ax.text(vals[i], i, f' {vals[i]:.0f}{star}', va='center', fontsize=7)
        ax.set_xlabel(label)
    axs[0].invert_yaxis(); fig.suptitle(f'Training step of the video CLIP per variant{tag}', fontsize=10)
    fig.savefig(out / 'variants.png'); plt.close(fig)


def targets(res):
    R = {r['name']: r for r in res['results'] if r.get('status') == 'ok'}
    t = {}
    def mb(n): r = R.get(n, {}); return r.get('max_batch') or r.get('max_batch_est')
    ok_fast = [(n, r['videos_per_s'], r.get('mem_per_video_mb'), r.get('mask', 0.), r.get('mask_mode')) for n, r in R.items()
               if r['arch'] == 'ViT-B' and r['frames'] == 4 and r.get('mem_per_video_mb') is not None
               and r['mem_per_video_mb'] <= 100 and r.get('impl', 'avion') == 'avion']
    best = max(ok_fast, key=lambda x: x[1]) if ok_fast else None
    t['best_vps_at_le_100MB'] = dict(variant=best[0], videos_per_s=best[1], mem_per_video_mb=best[2], mask_ratio=best[3],
                                     mask_mode=best[4], target=700, met=best[1] >= 700,
                                     ego4d_gpu_hours_model_step=EGO4D_CLIPS * EGO4D_EPOCHS / best[1] / 3600) if best else None
    unmasked = [(n, r['videos_per_s'], r.get('mem_per_video_mb')) for n, r in R.items() if n in ('compile_flash+ckpt_block', 'flash+ckpt_block')]
    if unmasked:
        b = max(unmasked, key=lambda x: x[1])
        t['best_unmasked'] = dict(variant=b[0], videos_per_s=b[1], mem_per_video_mb=b[2],
                                  ego4d_gpu_hours_model_step=EGO4D_CLIPS * EGO4D_EPOCHS / b[1] / 3600)
    for ours, ref in [('flash+ckpt_block', 'ref_flash+ckpt_block'), ('flash', 'ref_flash')]:
        if ours in R and ref in R:
            x = R[ours]['videos_per_s'] / R[ref]['videos_per_s']
            d = dict(ratio=x, ours=R[ours]['videos_per_s'], reference=R[ref]['videos_per_s'], target=0.95, met=x >= 0.95)
            if 'legacy_' + ours in R: d['legacy_ratio'] = R['legacy_' + ours]['videos_per_s'] / R[ref]['videos_per_s']
            t[f'eager_{ours}_vs_reference'] = d
    if 'naive' in R and 'flash' in R:
        x = R['flash']['videos_per_s'] / R['naive']['videos_per_s']
        t['flash_vs_naive_throughput'] = dict(ratio=x, target=1.7, met=x >= 1.7, paper=1.7)
    if mb('naive') and mb('flash+ckpt_block'):
        x = mb('flash+ckpt_block') / mb('naive')
        t['flash_ckpt_vs_naive_max_batch'] = dict(ratio=x, target=13, met=x >= 13, paper=13.8,
                                                   exact=bool(R['naive'].get('max_batch') and R['flash+ckpt_block'].get('max_batch')))
    if mb('naive') and mb('flash'):
        t['flash_vs_naive_max_batch'] = dict(ratio=mb('flash') / mb('naive'), paper=3.0)
    return t


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', default=None, help='output folder (default benchmarks/model; --tiny: runs/bench_model_tiny)')
    p.add_argument('--tiny', action='store_true', help='tiny models and shapes, CPU smoke test (subset tiny, < 30 s)')
    p.add_argument('--subset', default=None, help="'quick' (default), 'issue15', 'tiny', 'full', or comma-separated variant names: " + ', '.join(VARIANTS))
    p.add_argument('--batch', type=int, default=64, help='batch for throughput (halved on OOM); masked variants use batch/(1-ratio)')
    p.add_argument('--fixed_batch', action='store_true', help='masked variants use --batch too')
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--iters', type=int, default=10)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--min_time', type=float, default=2.0, help='time each throughput measurement at least this long (s)')
    p.add_argument('--search_time', type=float, default=45, help='max seconds of max-batch search per variant (0: off)')
    p.add_argument('--max_batch_cap', type=int, default=6144)
    p.add_argument('--time_budget', type=float, default=420, help='stop starting new variants after this many seconds')
    p.add_argument('--compile_min_budget', type=float, default=150, help='skip a compile variant with less time left (s)')
    p.add_argument('--no_breakdown', action='store_true')
    p.add_argument('--profile', default='', help='comma-separated variant names to profile (kernel tables in profile_<name>.txt)')
    p.add_argument('--device', default=None)
    a = p.parse_args()
    if a.tiny:
        a.batch, a.size, a.iters, a.warmup, a.min_time, a.search_time, a.compile_min_budget = 4, 32, 2, 0, 0., 0, 0
        a.no_breakdown = True
        if a.device is None: a.device = 'cpu'
        torch.set_num_threads(1)    # tiny ops gain nothing from threads, and spinning OpenMP workers slow a shared CI machine
    a.subset = a.subset or ('tiny' if a.tiny else 'quick')
    a.out = a.out or ('runs/bench_model_tiny' if a.tiny else 'benchmarks/model')
    dev = get_device(a.device)
    names = SUBSETS.get(a.subset) or [s.strip() for s in a.subset.split(',') if s.strip()]
    bad = [n for n in names if n not in VARIANTS]
    if bad: p.error(f'unknown variant(s) {bad}; known: {list(VARIANTS)}')
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    T0 = time.perf_counter()
    res = dict(command=' '.join(['python'] + sys.argv), args=vars(a), machine_info=machine_info(), results=[])
    bench = Bench(a, dev)
    bench.peak = matmul_peak_tflops(dev, a.tiny, seconds=0.2 if a.tiny else 3.0)
    bench.spec_peak = peak_flops(dev)
    res.update(matmul_peak_tflops=bench.peak, spec_peak_tflops=bench.spec_peak / 1e12 if bench.spec_peak else None)
    print(f'device {dev}, measured matmul peak {bench.peak:.3f} TFLOP/s, spec bf16 peak (trainer.peak_flops, for MFU) '
          f'{res["spec_peak_tflops"]} TFLOP/s', flush=True)
    if bench.cuda:
        res['sdpa_default_kernel_bf16_vitb'] = which_sdpa_kernel(torch.bfloat16, (8, 12, 785, 64), dev)
        print('default SDPA kernel (bf16, ViT-B 4x224²):', res['sdpa_default_kernel_bf16_vitb'])
    if any(VARIANTS[n]['impl'] == 'ref' for n in names):
        res['reference_check'] = check_reference(bench, dev)
        print('reference vs avion_nb (fp32, same weights):', res['reference_check'], flush=True)
        if a.tiny and not (res['reference_check']['max_abs_diff_embeddings'] < 1e-4 and res['reference_check']['same_params']):
            raise SystemExit('the reference does not compute the same function as avion_nb')
    if not a.no_breakdown:
        try:
            res['memory_breakdown'] = memory_breakdown(bench)
            for k, d in res['memory_breakdown'].items():
                print(f'  Fig.3 {k:12s} ' + '  '.join(f'{c}={v:.1f}' for c, v in d.items()) + '  MB/video', flush=True)
        except Exception as e:
            res['memory_breakdown_error'] = traceback.format_exc(); print('memory breakdown failed:', e)
    hdr = (f"{'variant':32s} {'B':>5s} {'tok':>5s} {'vid/s':>8s} {'MB/vid':>7s} {'maxB':>7s} {'MFU':>6s} {'Ego4D h*':>8s} {'wall':>6s}")
    print(hdr, flush=True)
    for n in names:
        left = a.time_budget - (time.perf_counter() - T0)
        if left <= 0:
            res['results'].append(dict(VARIANTS[n], name=n, status='skipped: time budget')); continue
        try: rows = bench.run_variant(n, VARIANTS[n], left)
        except Exception as e:
            rows = [dict(VARIANTS[n], name=n, status=f'error: {type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ""}',
                         traceback=traceback.format_exc())]; free_cuda()
        for r in rows:
            res['results'].append(r)
            if r.get('status') == 'ok':
                mbv = r.get('mem_per_video_mb'); mx = r.get('max_batch') or r.get('max_batch_est')
                star = '' if r.get('max_batch') else '*'
                m_ = '-' if r['mfu'] is None else f"{r['mfu']:.1%}"
                print(f"{r['name']:32s} {r['batch']:5d} {r['tokens_per_clip']:5d} {r['videos_per_s']:8.1f} "
                      f"{mbv if mbv is None else round(mbv, 1)!s:>7s} {(str(mx) + star) if mx else '-':>7s} {m_:>6s} "
                      f"{r['ego4d_gpu_hours_model_step']:8.1f} {r['wall_s']:6.1f}", flush=True)
            else: print(f'{r["name"]:32s} {r["status"]}', flush=True)
        save_json(portable_record(res), out / 'results.json')   # partial results survive a crash
    res['targets'] = targets(res)
    res['total_wall_s'] = time.perf_counter() - T0
    save_json(portable_record(res), out / 'results.json')
    if not a.tiny: plots(res, out, a.tiny)
    print(f'* Ego4D h: projected GPU-hours of AVION\'s ViT-B Ego4D recipe ({EGO4D_CLIPS / 1e6:.0f}M clips x {EGO4D_EPOCHS} epochs) '
          'at this MODEL-STEP speed on one GPU (no data loading; end-to-end speed is measured separately)')
    for k, d in res['targets'].items(): print(f'target {k}: {d}')
    print(f'wrote {out}/results.json in {res["total_wall_s"]:.0f}s')


if __name__ == '__main__':
    main()
