"""Portable records for the benchmark scripts: the command line, paths and arguments without machine-local parts.

A result JSON under `benchmarks/` is committed and shown on the docs' benchmarks page, so it must not hold the
paths of the machine it was made on (`/opt/.../bin/python`, `/root/out/...`, `/tmp/...`, the checkout's folder).
Every bench script records its command with these helpers (they run as `python scripts/bench_x.py`, so
`scripts/` is on `sys.path`):

    from portable import portable_command, portable_args, portable_path
    res = dict(command=portable_command(), args=portable_args(vars(a)), ...)

What they write:
- the interpreter (`sys.executable` or any absolute `.../bin/python3.x`) as `python`;
- a path inside the repository relative to its root (`data/avion_synth`, `scripts/bench_model.py`);
- a path under `$OUT` (the device machine's output folder) as `$OUT/...`, under the temp folder as `$TMPDIR/...`;
- any other absolute path under a machine-local root (`/root`, `/opt`, `/tmp`, `/work`, `/home`, `/mnt`, `/data`...)
  as `$OUT/<its last part>`, so that no machine path is ever recorded.

`python scripts/portable.py` runs the self-checks below.
"""
from __future__ import annotations
import os, re, shlex, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]          # the repository root
LOCAL_ROOTS = ('root', 'opt', 'tmp', 'work', 'home', 'mnt', 'data', 'scratch', 'usr', 'var', 'Users', 'private')
_PY = re.compile(r'(?:^|/)python[\d.]*$')


def _prefixes():
    "(absolute prefix, replacement), longest first: the repository, $OUT, the temp folder."
    out = [(str(ROOT), ''), (os.environ.get('OUT', ''), '$OUT'), (os.environ.get('TMPDIR', '') or tempfile.gettempdir(), '$TMPDIR'),
           ('/tmp', '$TMPDIR')]
    seen, res = set(), []
    for p, r in out:
        p = p.rstrip('/')
        if len(p) > 1 and p not in seen:
            seen.add(p); res.append((p, r))
            rp = os.path.realpath(p)
            if rp != p and rp not in seen: seen.add(rp); res.append((rp, r))
    return sorted(res, key=lambda x: -len(x[0]))


def portable_path(p) -> str:
    "One path without machine-local parts (see the module docstring); relative paths are returned unchanged."
    s = str(p)
    if not s.startswith('/'): return s
    if _PY.search(s) and ('/bin/' in s or s == sys.executable): return 'python'
    for pre, rep in _prefixes():
        if s == pre: return rep or '.'
        if s.startswith(pre + '/'):
            rest = s[len(pre) + 1:]
            return f'{rep}/{rest}' if rep else rest
    if s.split('/')[1] in LOCAL_ROOTS: return '$OUT/' + (Path(s).name or '')
    return s


def _token(t: str) -> str:
    "A command-line token: a path, or `--flag=path`, or a comma list of paths."
    if '=' in t and t.startswith('-'):
        k, v = t.split('=', 1); return f'{k}={_token(v)}'
    if ',' in t and '/' in t: return ','.join(portable_path(x) for x in t.split(','))
    return portable_path(t)


def portable_command(argv=None, executable=None) -> str:
    "`python <script> <args>` as run (default: this process's), with every path made portable."
    argv = list(sys.argv if argv is None else argv)
    toks = [portable_path(executable or sys.executable)] + [_token(t) for t in argv]
    if toks[0] != 'python': toks[0] = 'python'
    return ' '.join(t if re.fullmatch(r'[\w@%+=:,./$~-]+', t) else shlex.quote(t) for t in toks)


def portable_args(d: dict) -> dict:
    "An argparse namespace's `vars()` with every path-like value (str / Path, or lists of them) made portable."
    def one(v):
        if isinstance(v, Path): return portable_path(v)
        if isinstance(v, str): return _token(v) if v.startswith(('/', '-')) or ',/' in v else v
        if isinstance(v, (list, tuple)): return type(v)(one(x) for x in v)
        if isinstance(v, dict): return {k: one(x) for k, x in v.items()}
        return v
    return {k: one(v) for k, v in d.items()}


_ABS = re.compile(r"(?<![\w.$])/(?:[\w.@+-]+/)*[\w.@+-]+")


def portable_text(s: str) -> str:
    "Every absolute path inside a free-text string (a command, a log line, a detail) made portable."
    return _ABS.sub(lambda m: portable_path(m.group(0)), s)


def portable_record(obj):
    """A result record (dicts, lists, strings, Paths) with every absolute machine-local path in it made portable:
    the one filter every bench script passes its JSON through before writing it under `benchmarks/`."""
    if isinstance(obj, Path): return portable_path(obj)
    if isinstance(obj, str): return portable_text(obj) if '/' in obj else obj
    if isinstance(obj, (list, tuple)): return [portable_record(x) for x in obj]
    if isinstance(obj, dict): return {k: portable_record(v) for k, v in obj.items()}
    return obj


def _check():
    rec = portable_record({'command': f'{sys.executable} scripts/x.py --out /root/out/a --data {ROOT}/data/d', 'n': 3,
                           'files': [Path('/opt/torch/lib/x.so')], 'detail': 'ratio 4/3, 224^2, speed 1.2/s'})
    assert rec['command'] == 'python scripts/x.py --out $OUT/a --data data/d', rec
    assert rec['files'] == ['$OUT/x.so'] and rec['n'] == 3 and rec['detail'] == 'ratio 4/3, 224^2, speed 1.2/s', rec
    tmp = tempfile.gettempdir()
    assert portable_path('/opt/torch/.venv/bin/python') == 'python'
    assert portable_path('/root/.pyenv/versions/3.11.7/bin/python3.11') == 'python'
    assert portable_path(ROOT/'data'/'avion_synth') == 'data/avion_synth'
    assert portable_path(f'{tmp}/lbdata') == '$TMPDIR/lbdata', portable_path(f'{tmp}/lbdata')
    assert portable_path('/root/out/r/model') in ('$OUT/model', '$OUT/r/model')
    assert portable_path('relative/x') == 'relative/x'
    os.environ['OUT'] = '/root/out'
    assert portable_path('/root/out/r/model') == '$OUT/r/model'
    c = portable_command([str(ROOT/'scripts/bench_model.py'), '--out', '/root/out/r/model', '--data=/tmp/x', '--n', '3'],
                         executable='/opt/torch/.venv/bin/python')
    assert c == 'python scripts/bench_model.py --out $OUT/r/model --data=$TMPDIR/x --n 3', c
    a = portable_args(dict(out='/root/out/r/model', n=3, tiny=False, name='gpuhost', files=['/tmp/a', 'b']))
    assert a == dict(out='$OUT/r/model', n=3, tiny=False, name='gpuhost', files=['$TMPDIR/a', 'b']), a
    assert not re.search(r'/(root|opt|tmp|work)/', portable_command()), portable_command()
    print('portable.py: ok')


if __name__ == '__main__': _check()
