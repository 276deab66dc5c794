#!/usr/bin/env python
"""Time the README's two quick-start commands as a newcomer runs them: each in its own fresh `git clone` of this
repository (HEAD), with bash, exactly as README.md writes them (issue 26).

For each command it waits until the machine is idle (1-min load average below `--max_load`, checked before anything
is cloned; `--wait_idle` seconds at most, then one line and exit 2), clones, runs the command with a clean
environment (no active virtual environment, no PYTHONPATH), and records: wall time, install time (until pip wrote
the editable install's `.pth` file), the load average at the start, at the end and every 30 s, the exit code and the
outcome (the demo's mAP before -> after from its `runs/demo/demo.json`; the tests' `notebooks: ...` and `scripts:
...` lines). Commands run one after the other, never overlapping. Output goes to `<clone>/readme_command.log`.

    python scripts/bench_readme.py                        # both commands -> benchmarks/demo/readme_commands.json
    python scripts/bench_readme.py --commands demo        # one of them (the other's record is kept)
    python scripts/bench_readme.py --tiny                 # CPU self-check: two trivial commands, temp folder only
"""
import argparse, json, os, platform, re, shutil, subprocess, sys, tempfile, time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'scripts'))
from check_readme import sh_blocks, commands  # noqa: E402


def load1() -> float: return float(Path('/proc/loadavg').read_text().split()[0])
def loads() -> list: return [float(x) for x in Path('/proc/loadavg').read_text().split()[:3]]
def now() -> str: return datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def _terminal_signals():
    "SIGINT and SIGQUIT at their defaults, as in a terminal (this script started as a background job would pass them ignored)."
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL); signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def readme_commands(readme: Path) -> dict:
    "{'install + demo': command, 'install + tests': command} from the README's quick-start blocks."
    found = {}
    for b in sh_blocks(readme.read_text()):
        for _, c in commands(b):
            if 'pip install' in c and c.rstrip().endswith('avion_demo'): found.setdefault('install + demo', c)
            if 'pip install' in c and 'scripts/test_nbs.py' in c: found.setdefault('install + tests', c)
    return found


def wait_idle(max_load: float, limit: float) -> list:
    "Wait until the 1-min load average is below `max_load`; the load triple then. SystemExit(2) after `limit` s."
    t0 = time.monotonic()
    while load1() >= max_load:
        if time.monotonic() - t0 > limit:
            print(f'--max_load {max_load}: the 1-min load average stayed at or above it for {limit:.0f} s (now {load1():.2f}); '
                  'stop the other work or raise --wait_idle', file=sys.stderr); sys.exit(2)
        time.sleep(10)
    return loads()


def installed(clone: Path) -> bool:
    "Whether pip has written the editable install of avion_nb into the clone's .venv."
    sp = list(clone.glob('.venv/lib/python*/site-packages'))
    return bool(sp) and any(sp[0].glob('__editable__*avion_nb*')) or any(clone.glob('.venv/lib/python*/site-packages/avion_nb*.egg-link')) \
        or any(clone.glob('.venv/lib/python*/site-packages/_avion_nb*.pth'))


def outcome(name: str, clone: Path, log: str) -> str:
    if 'demo' in name:
        f = clone/'runs'/'demo'/'demo.json'
        if not f.exists(): return 'no runs/demo/demo.json'
        d = json.loads(f.read_text())
        return (f"held-out average mAP {d['before']['mAP_avg']:.1f} → {d['after']['mAP_avg']:.1f} ({d['mAP_ratio']:.2f}×); "
                f"the demo's own record (demo.json): {d['wall_s']:.0f} s")
    lines = [l.strip() for l in log.splitlines() if re.match(r'^(notebooks|scripts): \d+ passed', l.strip())]
    return '; '.join(lines) or 'no test count line'


def time_command(name: str, cmd: str, workdir: Path, a) -> dict:
    start_load = wait_idle(a.max_load, a.wait_idle)
    clone = workdir/name.replace(' + ', '_')
    shutil.rmtree(clone, ignore_errors=True)
    subprocess.run(['git', 'clone', '-q', str(ROOT), str(clone)], check=True)
    commit = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=clone, capture_output=True, text=True, check=True).stdout.strip()
    env = {k: v for k, v in os.environ.items() if k not in ('VIRTUAL_ENV', 'PYTHONPATH', 'PYTHONHOME')}
    env['PATH'] = os.pathsep.join(p for p in env.get('PATH', '').split(os.pathsep) if '.venv' not in p)
    logf = clone/'readme_command.log'
    print(f'{name}: {cmd}   (clone {commit[:7]}, load {start_load[0]:.2f}; log {logf})', flush=True)
    started, t0, samples, install_s, last = now(), time.monotonic(), [start_load[0]], None, time.monotonic()
    with open(logf, 'w') as out:
        p = subprocess.Popen(['bash', '-c', cmd], cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             preexec_fn=_terminal_signals)
        while p.poll() is None:
            time.sleep(1)
            if install_s is None and installed(clone): install_s = time.monotonic() - t0
            if time.monotonic() - last >= 30:
                last = time.monotonic(); samples.append(load1())
                print(f'  {name}: {(last - t0) / 60:5.1f} min, load {samples[-1]:.2f}'
                      + ('' if install_s is None else f', installed after {install_s / 60:.1f} min'), flush=True)
    wall = time.monotonic() - t0; end_load = loads(); samples.append(end_load[0])
    log = logf.read_text(errors='replace')
    rec = dict(name=name, command=cmd, clone_commit=commit, started=started, ended=now(), wall_s=round(wall, 1),
               install_s=None if install_s is None else round(install_s, 1),
               run_s=None if install_s is None else round(wall - install_s, 1), rc=p.returncode,
               load_avg_start=start_load, load_avg_end=end_load, load_avg_mean=round(sum(samples) / len(samples), 2),
               load_avg_max=max(samples), load_samples=len(samples), outcome=outcome(name, clone, log))
    print(f'{name}: {wall / 60:.1f} min, exit {p.returncode}; {rec["outcome"]}', flush=True)
    keep = Path(a.log_dir)/f'{clone.name}.log'; keep.parent.mkdir(parents=True, exist_ok=True); shutil.copy(logf, keep)
    if p.returncode:
        fails = [l for l in log.splitlines() if l.startswith('FAIL') or 'Error' in l][:20]
        print('\n'.join(fails + ['...'] + log.splitlines()[-15:]) + f'\nwhole log: {keep}', flush=True)
    return rec


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--commands', default='demo,tests', help='which: demo, tests or both (comma list)')
    p.add_argument('--max_load', type=float, default=0.5, help='start a command only below this 1-min load average')
    p.add_argument('--wait_idle', type=float, default=900, help='seconds to wait for that, then exit 2')
    p.add_argument('--out', default=str(ROOT/'benchmarks'/'demo'/'readme_commands.json'))
    p.add_argument('--pip', default="pip with this machine's configured indexes", help='how pip reached its packages (recorded)')
    p.add_argument('--keep', action='store_true', help='keep the clones (default: removed after the run)')
    p.add_argument('--log_dir', default=str(Path(tempfile.gettempdir())/'bench_readme_logs'),
                   help="each command's whole output is copied here as <name>.log (default: a folder under the temp dir)")
    p.add_argument('--tiny', action='store_true', help='self-check: two trivial commands in a temp folder, no record written')
    a = p.parse_args()
    want = [w.strip() for w in a.commands.split(',') if w.strip()]
    if not want or set(want) - {'demo', 'tests'}: p.error(f"--commands: expected demo and/or tests, got {a.commands!r}")
    if not Path('/proc/loadavg').exists(): p.error('needs /proc/loadavg (Linux)')
    if a.tiny:
        cmds = {'install + demo': 'python3 -c "print(1)" && true', 'install + tests': 'echo "notebooks: 1 passed, 0 failed"'}
        a.max_load, a.wait_idle = 1e9, 1
    else:
        cmds = readme_commands(ROOT/'README.md')
        if len(cmds) != 2: p.error(f'README.md: expected the install + demo and install + tests commands, found {sorted(cmds)}')
    out = Path(a.out)
    if not a.tiny and out.exists():
        try: json.loads(out.read_text())
        except json.JSONDecodeError as e: p.error(f'--out {out}: not valid JSON ({e})')
    names = [n for n in cmds if n.split(' + ')[1] in want]
    with tempfile.TemporaryDirectory(prefix='readme_cmds_') as tmp:
        work = Path(tmp) if not a.keep else Path(tempfile.mkdtemp(prefix='readme_cmds_'))
        recs = [time_command(n, cmds[n], work, a) for n in names]
        if a.tiny:
            assert [r['rc'] for r in recs] == [0, 0] and recs[1]['outcome'] == 'notebooks: 1 passed, 0 failed', recs
            print('bench_readme --tiny: OK'); return
    old = json.loads(out.read_text()) if out.exists() else {}
    keep = [c for c in old.get('commands', []) if c['name'] not in names]
    order = {'install + demo': 0, 'install + tests': 1}
    import torch
    res = dict(date=datetime.now(timezone.utc).strftime('%Y-%m-%d'), commit=recs[0]['clone_commit'],
               machine=dict(cpu_count=os.cpu_count(), gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                            python=platform.python_version(), os=platform.platform(),
                            mem_gb=round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30, 1)),
               pip=a.pip, load_note=(f'Each command started only when the 1-min load average was below {a.max_load} and ran alone '
                                     '(one after the other); results vary by machine, network and load'),
               how=('each command in its own `git clone` of the repository, run with bash exactly as the README writes it, no '
                    'virtual environment active (`python scripts/bench_readme.py`); wall time from the start of the command to its '
                    'end; install_s ends when pip wrote the editable install; load average from /proc/loadavg at the start, the '
                    'end and every 30 s'),
               commands=sorted(keep + recs, key=lambda c: order.get(c['name'], 9)))
    if keep: res['note'] = 'kept from an earlier run: ' + ', '.join(c['name'] for c in keep)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1, ensure_ascii=False) + '\n')
    print(f'wrote {out}')
    if any(r['rc'] for r in recs): sys.exit(1)


if __name__ == '__main__': main()
