#!/usr/bin/env python
"""Run every notebook's tests (nbdev's `test_nb`), in parallel, and print a closing line `N passed, N failed`.

This is the project's test command (README and `.ci/run`). It differs from plain `nbdev_test` in three ways:
it prints a per-notebook time table, it fails when no notebook ran, and it ends with the count line CI reads.

    python scripts/test_nbs.py                   # all notebooks, cells flagged gpu/slow skipped
    python scripts/test_nbs.py --flags gpu       # also run cells flagged `#|gpu` (on the GPU machine)
    python scripts/test_nbs.py nbs/03_decode.ipynb
    python scripts/test_nbs.py --scripts_only    # only the benchmark scripts' `--tiny` CPU checks

With no notebook named, every `scripts/bench_*.py` that has a `--tiny` mode also runs once in it (on the CPU, in a
temporary working directory, with a time limit); the scripts without one are listed. A `--tiny` run must not touch
the recorded numbers under benchmarks/ (checked), and the closing line counts the scripts too.

Every notebook and script runs in its own session with a time limit (`--timeout`): one that hangs (say a
forked child stuck forever) is killed with everything it started and counted as failed; it cannot stall the run.
Processes a notebook leaves behind are killed too, and named.
"""
import argparse, json, os, signal, subprocess, sys, tempfile, time, traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_TIMES = ROOT/'_exec'/'times.json'
try: _last_time = json.loads(_TIMES.read_text())
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


def _bench_scripts():
    "(scripts with a --tiny mode, scripts without) among scripts/bench_*.py."
    fs = sorted((ROOT/'scripts').glob('bench_*.py'))
    tiny = [f for f in fs if "'--tiny'" in f.read_text() or '"--tiny"' in f.read_text()]
    return tiny, [f for f in fs if f not in tiny]

def _snap(folder):
    import hashlib
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(folder).rglob('*')) if p.is_file()}

_ACTIVE = set()   # sessions running now: killed when the runner is interrupted

def _run_group(cmd, timeout, cwd=None, env=None):
    """Run `cmd` in a new session with a time limit: (exit code or None on timeout, output, leftovers). On timeout
    everything in the session is killed; after a normal exit, any process of it still alive (a child the command
    left behind) is killed and counted in `leftovers`."""
    with tempfile.TemporaryFile('w+') as log:
        p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True, text=True)
        _ACTIVE.add(p.pid)
        try: rc = p.wait(timeout)
        except subprocess.TimeoutExpired: rc = None
        leftovers = _kill_session(p.pid, grace=0 if rc is None else 2.0); _ACTIVE.discard(p.pid)
        if rc is None: p.wait()
        log.seek(0); out = log.read()
    return rc, out, leftovers

def _session_pids(sid) -> list:
    "The live (not zombie) processes of session `sid`: the command and all it started, whatever their process groups."
    try: out = subprocess.run(['ps', '-o', 'pid=,stat=', '-s', str(sid)], capture_output=True, text=True).stdout.split('\n')
    except Exception: return []
    return [int(l.split()[0]) for l in out if l.strip() and not l.split()[1].startswith('Z')]

def _kill_session(sid, grace=2.0) -> int:
    """SIGKILL every process of session `sid` still alive after `grace` s (helpers such as multiprocessing's resource
    tracker end by themselves once their parent is gone); how many were killed."""
    t = time.time() + grace
    while (pids := _session_pids(sid)) and time.time() < t: time.sleep(0.1)
    for pid in pids:
        try: os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError): pass
    return len(pids)

def _run_script(fn, timeout=300):
    "Run `python <fn> --tiny` on the CPU in a temporary directory: (name, ok, seconds, error text)."
    t0 = time.time()
    env = {**os.environ, 'CUDA_VISIBLE_DEVICES': '', 'OMP_NUM_THREADS': '1', 'MPLBACKEND': 'Agg',
           'PYTHONPATH': os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')])}
    with tempfile.TemporaryDirectory() as d:
        rc, out, left = _run_group([sys.executable, str(fn), '--tiny'], timeout, cwd=d, env=env)
    ok = rc == 0
    err = (f'timed out after {timeout} s (it and all it started killed):\n{out[-3000:]}' if rc is None else
           '' if ok else f'exit {rc}:\n{out[-3000:]}')
    if left and ok: err = f'note: {left} process(es) left running after the script ended were killed'
    return f'{Path(fn).relative_to(ROOT)} --tiny', ok, time.time() - t0, err

def _run_nb(fn, flags, save_dir, timeout):
    "Run one notebook in a child `test_nbs.py --_one` process (own session, time limit): (name, ok, seconds, error text)."
    t0 = time.time()
    with tempfile.TemporaryDirectory() as d:
        res = Path(d)/'result.json'
        cmd = [sys.executable, __file__, str(fn), '--_one', str(res), '--flags', ' '.join(flags), '--save_dir', save_dir]
        rc, out, left = _run_group(cmd, timeout, cwd=ROOT)
        r = json.loads(res.read_text()) if res.exists() else None
    if r is None:
        why = f'timed out after {timeout} s (it and all it started killed)' if rc is None else f'the notebook process died (exit {rc})'
        return str(Path(fn).resolve()), False, time.time() - t0, f'{why}; its last output:\n{out[-3000:]}'
    fn, ok, dt, err = r
    if not ok and out.strip(): err += f'\nwhat the notebook process (and its children) printed outside the cells, last part:\n{out[-2000:]}'
    if left: err = (err + '\n' if err else '') + f'note: {left} process(es) left running after the notebook ended were killed'
    return fn, ok, dt, err

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('paths', nargs='*', help='notebooks to test (default: every nbs/*.ipynb)')
    p.add_argument('--flags', default='', help='space-separated test flags to enable, e.g. "gpu slow"')
    p.add_argument('--n_workers', type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument('--save_dir', default='_exec', help='where executed copies (with outputs) are written, for the docs build; "" to skip')
    p.add_argument('--scripts', action=argparse.BooleanOptionalAction, default=None,
                   help="run the bench scripts' --tiny checks (default: only when no notebook is named)")
    p.add_argument('--scripts_only', action='store_true', help='only the bench scripts')
    p.add_argument('--timeout', type=int, default=900, help='seconds one notebook may run before it (and all it started) is killed')
    p.add_argument('--_one', help=argparse.SUPPRESS)   # internal: run the one notebook named, write its result here
    a = p.parse_args()
    if a._one:
        r = _run_one(a.paths[0], a.flags.split(), a.save_dir)
        Path(a._one).write_text(json.dumps(r))
        # end as Python's exit would (daemonic children such as DataLoader workers terminated), but never wait on a
        # stuck non-daemonic child: the runner kills what is left in the session and names it
        import multiprocessing as mp
        for c in mp.active_children():
            if c.daemon: c.terminate(); c.join(1)
        sys.stdout.flush(); sys.stderr.flush(); os._exit(0)
    os.chdir(ROOT)
    run_scripts = a.scripts_only or (a.scripts if a.scripts is not None else not a.paths)
    fns = [Path(x) for x in a.paths] or sorted(p for p in (ROOT / 'nbs').rglob('*.ipynb')
                                               if not p.name.startswith('_') and '.ipynb_checkpoints' not in str(p))
    # longest notebooks first keeps both workers busy until the end
    fns = sorted(fns, key=lambda f: -_last_time.get(f.name, 0))
    if a.scripts_only: fns = []
    scripts, no_tiny = _bench_scripts() if run_scripts else ([], [])
    if run_scripts:
        print(f'bench scripts with a --tiny check: {len(scripts)}; without one (not run): '
              f'{", ".join(f.name for f in no_tiny) or "none"}', flush=True)
        before = _snap(ROOT/'benchmarks')
    flags = a.flags.split()
    print(f'testing {len(fns)} notebooks with {a.n_workers} workers, flags={flags or "none"}', flush=True)
    results, t0 = [], time.time()
    # one process (group) per notebook: running a notebook replaces its __main__, and a hung one is killed alone
    def _stop(signum, frame): raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, _stop)
    ex, futs, sfuts = ThreadPoolExecutor(a.n_workers), [], []
    try:
        futs = [ex.submit(_run_nb, str(f), flags, a.save_dir, a.timeout) for f in fns]
        sfuts = [ex.submit(_run_script, f) for f in scripts]
        script_results = []
        for fu in as_completed(futs + sfuts):
            fn, ok, dt, err = fu.result()
            (script_results if fu in sfuts else results).append((fn, ok, dt))
            print(f'{"PASS" if ok else "FAIL"} {dt:7.1f}s  {fn}', flush=True)
            if err: print(err, flush=True)
    except KeyboardInterrupt:   # Ctrl-C or SIGTERM: the children run in their own sessions, so take them down here
        for f in futs + sfuts: f.cancel()
        for g in list(_ACTIVE): _kill_session(g, grace=0)
        print(f'interrupted after {time.time() - t0:.0f} s: {len(results)} notebooks finished', flush=True)
        sys.stdout.flush(); os._exit(130)
    ex.shutdown()
    if run_scripts:
        changed = sorted(k for k, v in _snap(ROOT/'benchmarks').items() if before.get(k) != v)
        if changed:
            print('FAIL: the --tiny script runs changed recorded benchmark files: ' + ', '.join(changed[:10]), flush=True)
            script_results.append(('benchmarks/ unchanged', False, 0.0))
    if a.save_dir and not a.paths:
        _TIMES.parent.mkdir(exist_ok=True)
        _TIMES.write_text(json.dumps({Path(f).name: round(dt, 1) for f, _, dt in results}))
    n_pass = sum(ok for _, ok, _ in results); n_fail = len(results) - n_pass
    s_pass = sum(ok for _, ok, _ in script_results); s_fail = len(script_results) - s_pass
    print(f'total wall time {time.time() - t0:.1f}s')
    if not results and not a.scripts_only: print('no notebooks were tested: that is a failure')
    summary = f'notebooks: {n_pass} passed, {n_fail} failed'
    if run_scripts: summary += f'\nscripts: {s_pass} passed, {s_fail} failed (--tiny checks; without --tiny: {len(no_tiny)})'
    if a.save_dir:
        Path(a.save_dir).mkdir(exist_ok=True); (Path(a.save_dir)/'summary.txt').write_text(summary + '\n')
    print(summary)
    sys.exit(0 if (results or a.scripts_only) and n_fail == 0 and s_fail == 0 else 1)


if __name__ == '__main__':
    main()
