"""Profile steady training steps of any loop that calls `optimizer.step()`: top ops by GPU and CPU time, and how busy
the GPU was (the union of its kernels' intervals over the profiled steps' wall time).

    with StepProfile(skip=20, steps=4) as prof:   # profiles optimizer steps 21-24 of whatever runs inside
        run_pretrain(...)
    prof.report('benchmarks/pretrain/profile_mask0.5')   # -> .txt (tables) and .json (summary)

It counts steps with torch.optim's global post-step hook, so the trainer needs no change.
"""
import json, time
from pathlib import Path
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook
from torch.profiler import profile, ProfilerActivity


class StepProfile:
    def __init__(self, skip: int, steps: int = 4):
        self.skip, self.steps, self.n, self.prof, self.summary = skip, steps, 0, None, {}

    def _hook(self, opt, args, kwargs):
        self.n += 1
        if self.prof is not None: self.prof.step()

    def __enter__(self):
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
        sched = torch.profiler.schedule(wait=max(0, self.skip - 1), warmup=1, active=self.steps, repeat=1)
        self.prof = profile(activities=acts, schedule=sched, record_shapes=False)
        self.prof.__enter__()
        self.handle = register_optimizer_step_post_hook(self._hook)
        return self

    def __exit__(self, *exc):
        self.handle.remove()
        self.prof.__exit__(*exc)

    def gpu_busy(self) -> dict:
        "GPU-busy share of the profiled window: union of kernel intervals / window (first to last event of the steps)."
        evs = self.prof.events() or []
        kern = sorted((e.time_range.start, e.time_range.end) for e in evs          # kernels and copies, not the GPU-side
                      if e.device_type == torch.autograd.DeviceType.CUDA and e.time_range.end > e.time_range.start   # step ranges
                      and not getattr(e, 'is_user_annotation', False) and not e.name.startswith('ProfilerStep'))
        if not evs: return {}
        t0 = min(e.time_range.start for e in evs); t1 = max(e.time_range.end for e in evs)
        busy, cur_s, cur_e = 0.0, None, None
        for s, e in kern:
            if cur_e is None or s > cur_e:
                if cur_e is not None: busy += cur_e - cur_s
                cur_s, cur_e = s, e
            else: cur_e = max(cur_e, e)
        if cur_e is not None: busy += cur_e - cur_s
        win = (t1 - t0) / 1e3                                   # us -> ms
        return dict(window_ms=win, steps=self.steps, step_ms=win / self.steps, gpu_busy_ms=busy / 1e3,
                    gpu_busy_pct=100 * busy / max(t1 - t0, 1e-9) if kern else None)

    def report(self, stem) -> dict:
        stem = Path(stem); stem.parent.mkdir(parents=True, exist_ok=True)
        ka = self.prof.key_averages()
        cuda = torch.cuda.is_available()
        dev_key = 'self_device_time_total' if cuda else 'self_cpu_time_total'
        by_dev = sorted(ka, key=lambda e: getattr(e, dev_key, 0), reverse=True)[:15]
        by_cpu = sorted(ka, key=lambda e: e.self_cpu_time_total, reverse=True)[:15]
        busy = self.gpu_busy()
        row = lambda e: dict(op=e.key, calls=e.count, self_cpu_ms=e.self_cpu_time_total / 1e3,
                             self_gpu_ms=getattr(e, 'self_device_time_total', 0) / 1e3 if cuda else None)
        self.summary = dict(busy, top_gpu=[row(e) for e in by_dev] if cuda else [], top_cpu=[row(e) for e in by_cpu])
        txt = [f"profiled {self.steps} steps after {self.skip}: " + json.dumps(busy)]
        if cuda: txt += ['', 'top ops by self GPU time', ka.table(sort_by='self_device_time_total', row_limit=15)]
        txt += ['', 'top ops by self CPU time', ka.table(sort_by='self_cpu_time_total', row_limit=15)]
        Path(f'{stem}.txt').write_text('\n'.join(txt))
        Path(f'{stem}.json').write_text(json.dumps(self.summary, indent=2))
        return self.summary
