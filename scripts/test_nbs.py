#!/usr/bin/env python
"""Run every notebook's tests (nbdev's `test_nb`), in parallel, and print a closing line `N passed, N failed`.

This is the project's test command (README and `.ci/run`). It differs from plain `nbdev_test` in three ways:
it prints a per-notebook time table, it fails when no notebook ran, and it ends with the count line CI reads.

    python scripts/test_nbs.py                   # all notebooks, cells flagged gpu/slow skipped
    python scripts/test_nbs.py --flags gpu       # also run cells flagged `#|gpu` (on the GPU machine)
    python scripts/test_nbs.py nbs/03_decode.ipynb
"""
import argparse, os, sys, time, traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_one(fn, flags):
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    from nbdev.test import test_nb
    from nbdev.config import get_config
    cfg = get_config()
    skip = [f for f in cfg.tst_flags.split() if f not in flags]
    t0 = time.time()
    try:
        ok, _ = test_nb(Path(fn), skip_flags=skip, force_flags=flags, showerr=True, basepath=cfg.config_path)
        return fn, bool(ok), time.time() - t0, ''
    except Exception:
        return fn, False, time.time() - t0, traceback.format_exc()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('paths', nargs='*', help='notebooks to test (default: every nbs/*.ipynb)')
    p.add_argument('--flags', default='', help='space-separated test flags to enable, e.g. "gpu slow"')
    p.add_argument('--n_workers', type=int, default=min(2, os.cpu_count() or 1))
    a = p.parse_args()
    os.chdir(ROOT)
    fns = [Path(x) for x in a.paths] or sorted(p for p in (ROOT / 'nbs').rglob('*.ipynb')
                                               if not p.name.startswith('_') and '.ipynb_checkpoints' not in str(p))
    flags = a.flags.split()
    print(f'testing {len(fns)} notebooks with {a.n_workers} workers, flags={flags or "none"}', flush=True)
    results, t0 = [], time.time()
    with ProcessPoolExecutor(a.n_workers) as ex:
        futs = [ex.submit(_run_one, str(f), flags) for f in fns]
        for fu in as_completed(futs):
            fn, ok, dt, err = fu.result()
            results.append((fn, ok, dt))
            print(f'{"PASS" if ok else "FAIL"} {dt:7.1f}s  {fn}', flush=True)
            if err: print(err, flush=True)
    n_pass = sum(ok for _, ok, _ in results); n_fail = len(results) - n_pass
    print(f'total wall time {time.time() - t0:.1f}s')
    if not results: print('no notebooks were tested: that is a failure')
    print(f'notebooks: {n_pass} passed, {n_fail} failed')
    sys.exit(0 if results and n_fail == 0 else 1)


if __name__ == '__main__':
    main()
