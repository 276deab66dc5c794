#!/usr/bin/env python
"""Probe one pinned SDPA kernel on TimeSformer temporal-attention shapes: N sequences x 12 heads x T tokens x 64, bf16,
forward + backward. Run one (N, kernel) per process: an illegal memory access poisons the CUDA context.

    python benchmarks/gpu_runs/sdpa_probe.py 12544 flash      # ViT-B TSF, batch 64: 64*196 temporal groups
"""
import sys, time, torch, torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
N, kern = int(sys.argv[1]), sys.argv[2]
T = int(sys.argv[3]) if len(sys.argv) > 3 else 4
K = dict(flash=SDPBackend.FLASH_ATTENTION, efficient=SDPBackend.EFFICIENT_ATTENTION, cudnn=SDPBackend.CUDNN_ATTENTION)[kern]
torch.manual_seed(0)
q, k, v = (torch.randn(N, 12, T, 64, device='cuda', dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
t0, stage = time.perf_counter(), 'forward'
try:
    with sdpa_kernel([K]):
        o = F.scaled_dot_product_attention(q, k, v); torch.cuda.synchronize(); stage = 'backward'
        o.float().square().sum().backward(); torch.cuda.synchronize()
    ref = F.scaled_dot_product_attention(q.detach().float(), k.detach().float(), v.detach().float())
    err = ((o.float() - ref).norm() / ref.norm()).item()
    print(f'N={N:6d} N*H={N * 12:7d} T={T} {kern:9s}: fwd+bwd ok, rel err {err:.1e}, {time.perf_counter() - t0:.2f}s', flush=True)
except Exception as e:
    print(f'N={N:6d} N*H={N * 12:7d} T={T} {kern:9s}: FAILED in {stage} {type(e).__name__}: {str(e).splitlines()[0][:150]}', flush=True)
