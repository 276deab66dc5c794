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
_TIMES = ROOT/'_exec'/'times.json'
try: _last_time = __import__('json').loads(_TIMES.read_text())
except Exception: _last_time = {}


def _run_one(fn, flags, save_dir):
    "Execute notebook `fn` the way `nbdev.test.test_nb` does, and save the executed copy into `save_dir`."
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    os.environ['IN_TEST'] = '1'
    import matplotlib; matplotlib.use('Agg')
    from fastcore.xtras import working_directory
    from nbdev.config import get_config
    from nbdev.process import NBProcessor
    from nbdev.frontmatter import FrontmatterProc
    from execnb.shell import CaptureShell
    from execnb.nbio import read_nb, write_nb
    cfg = get_config()
    sys.path.insert(0, str(cfg.config_path))
    skip = set(cfg.tst_flags.split()) - set(flags)
    fn = Path(fn).resolve()
    # Execute a processed copy (directives parsed out, front matter cell inserted), exactly as nbdev's `test_nb`,
    # but remember which original cell each processed cell came from, so the outputs can be written back onto the
    # original cells: the saved copy keeps every `#| export` / `#| hide` / `#| default_exp` line that nbdev's docs
    # processing needs (show_doc for exported symbols, hidden cells removed).
    nb = read_nb(fn)
    for i, c in enumerate(nb.cells): c['orig_i_'] = i
    nb = NBProcessor(nb=nb, procs=FrontmatterProc, process=True).nb

    def _no_eval(cell):
        if cell.cell_type != 'code': return True
        if 'nbdev_export' + '(' in cell.source: return True
        direc = getattr(cell, 'directives_', {}) or {}
        if direc.get('eval:', [''])[0].lower() == 'false': return True
        return bool(skip & direc.keys())

    t0, err, ok = time.time(), '', True
    k = CaptureShell(fn)
    try:
        with working_directory(fn.parent): k.run_all(nb, exc_stop=True, preproc=_no_eval)
    except Exception:
        ok = False
        try: err = k.prettytb(fname=fn)
        except Exception: err = traceback.format_exc()
    if save_dir:
        out = Path(save_dir)/fn.relative_to(cfg.nbs_path.resolve())
        out.parent.mkdir(parents=True, exist_ok=True)
        orig = read_nb(fn)
        for c in nb.cells:
            i = c.get('orig_i_')
            if i is None or c.cell_type != 'code': continue  # e.g. the front matter cell nbdev inserted
            oc = orig.cells[i]
            oc['outputs'] = c.get('outputs', [])
            oc['execution_count'] = c.get('execution_count')
        write_nb(orig, out)
    return str(fn), ok, time.time() - t0, err


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('paths', nargs='*', help='notebooks to test (default: every nbs/*.ipynb)')
    p.add_argument('--flags', default='', help='space-separated test flags to enable, e.g. "gpu slow"')
    p.add_argument('--n_workers', type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument('--save_dir', default='_exec', help='where executed copies (with outputs) are written, for the docs build; "" to skip')
    a = p.parse_args()
    os.chdir(ROOT)
    fns = [Path(x) for x in a.paths] or sorted(p for p in (ROOT / 'nbs').rglob('*.ipynb')
                                               if not p.name.startswith('_') and '.ipynb_checkpoints' not in str(p))
    # longest notebooks first keeps both workers busy until the end
    fns = sorted(fns, key=lambda f: -_last_time.get(f.name, 0))
    flags = a.flags.split()
    print(f'testing {len(fns)} notebooks with {a.n_workers} workers, flags={flags or "none"}', flush=True)
    results, t0 = [], time.time()
    import multiprocessing as mp
    # one notebook per worker process: running a notebook replaces the worker's __main__
    with ProcessPoolExecutor(a.n_workers, mp_context=mp.get_context('spawn'), max_tasks_per_child=1) as ex:
        futs = [ex.submit(_run_one, str(f), flags, a.save_dir) for f in fns]
        for fu in as_completed(futs):
            fn, ok, dt, err = fu.result()
            results.append((fn, ok, dt))
            print(f'{"PASS" if ok else "FAIL"} {dt:7.1f}s  {fn}', flush=True)
            if err: print(err, flush=True)
    if a.save_dir and not a.paths:
        _TIMES.parent.mkdir(exist_ok=True)
        _TIMES.write_text(__import__('json').dumps({Path(f).name: round(dt, 1) for f, _, dt in results}))
    n_pass = sum(ok for _, ok, _ in results); n_fail = len(results) - n_pass
    print(f'total wall time {time.time() - t0:.1f}s')
    if not results: print('no notebooks were tested: that is a failure')
    summary = f'notebooks: {n_pass} passed, {n_fail} failed'
    if a.save_dir:
        Path(a.save_dir).mkdir(exist_ok=True); (Path(a.save_dir)/'summary.txt').write_text(summary + '\n')
    print(summary)
    sys.exit(0 if results and n_fail == 0 else 1)


if __name__ == '__main__':
    main()
