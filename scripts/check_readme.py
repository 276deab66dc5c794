#!/usr/bin/env python
"""Run every ```sh block of README.md as a newcomer would, each in a fresh copy of the repository; exit 1 naming the
block and the line that fails.

README.md is generated from `nbs/index.ipynb` (`python scripts/build_docs.py --write_readme`): edit the notebook.
Each ```sh block is checked in its own temporary folder holding the git-tracked files of this working tree (what a
fresh clone at HEAD has, plus uncommitted edits; no `data/`, `runs/`, `.venv/`), with the current Python environment
active (`PYTHONPATH` set to the copy, so its code is what runs). A block is, by its first line:

- runnable (no marker): every command runs, in order, in one shell; a command that fails (non-zero exit, also inside
  an `&&` chain or a pipe) fails the check with the README line. Blocks must be self-contained and fit `--timeout`
  (300 s: tiny settings, the embedded dataset). Environment setup at the head of an `&&` chain (`python3 -m venv`,
  `. .venv/bin/activate`, `pip install -e .`) is skipped, as in the `--help` checks: the checked environment is that
  install (CI made it with the test command), so `... && pip install -e . && avion_demo` runs `avion_demo`;
- `# needs: <what>[, <what>...]` with what in gpu, real data, time, network: it cannot run here, so each command is
  checked without doing its work: a program runs with `--help` only (`avion_x ...` -> `avion_x --help`,
  `python -m m ...` -> `python -m m --help`, `accelerate launch ... -m m` -> `python -m m --help` after checking its
  `--config_file` exists, `bash s.sh` -> `bash s.sh --help`); `pip install` checks that the extras it names
  (`".[dev]"`) exist in settings.ini; venv creation and activation are skipped (the environment is active).
  A text in parentheses after the tags is a note for the reader, e.g. `# needs: time (about 15 min on 2 cores)`.

The README's test command is not run: it is what CI itself runs first, so the check only verifies that `.ci/run`
contains it verbatim.

    python scripts/check_readme.py              # check every block
    python scripts/check_readme.py --list       # show the blocks and how each is checked
    python scripts/check_readme.py --block 5    # check block 5 only (numbers as --list shows them)
"""
import argparse, configparser, os, re, shlex, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NEEDS = {'gpu', 'real data', 'time', 'network'}
NAME = 'README.md'   # the checked file's name, in messages
_re_needs = re.compile(r'^#\s*needs:\s*(.*)$')


def sh_blocks(md: str) -> list[dict]:
    "The ```sh (or ```bash) fenced blocks of markdown `md`: [{'line': first line number of the code, 'lines': [...]}]."
    out, cur = [], None
    for n, l in enumerate(md.splitlines(), 1):
        if cur is None:
            m = re.match(r'^\s*```\s*(sh|bash|shell)\s*$', l)
            if m: cur = dict(line=n + 1, lines=[])
        elif re.match(r'^\s*```\s*$', l): out.append(cur); cur = None
        else: cur['lines'].append(l)
    if cur is not None: raise ValueError(f'{NAME}: the ```sh block starting at line {cur["line"] - 1} is never closed')
    return out


def needs_of(block: dict) -> set:
    "The `# needs:` tags of a block's first line (empty: runnable); unknown tags raise ValueError naming the line."
    first = block['lines'][0].strip() if block['lines'] else ''
    m = _re_needs.match(first)
    if not m: return set()
    tags = {t.strip() for t in re.sub(r'\(.*\)', '', m.group(1)).split(',') if t.strip()}
    bad = tags - NEEDS
    if bad or not tags: raise ValueError(f'{NAME} line {block["line"]}: unknown needs {sorted(bad)}; use some of {sorted(NEEDS)}')
    return tags


def commands(block: dict) -> list[tuple[int, str]]:
    "Logical commands of a block (backslash continuations joined, comments and blank lines dropped): [(README line, text)]."
    out, buf, start = [], '', None
    for i, l in enumerate(block['lines']):
        if not buf and (not l.strip() or l.lstrip().startswith('#')): continue
        if start is None: start = block['line'] + i
        if l.rstrip().endswith('\\'): buf += l.rstrip()[:-1] + ' '; continue
        out.append((start, buf + l)); buf, start = '', None
    if buf: out.append((start, buf))
    return out


def simple_commands(cmd: str) -> list[list[str]]:
    "Split a command line on `&&`, `||`, `;` and `|` into word lists (quotes honoured, comments dropped)."
    lex = shlex.shlex(cmd, posix=True, punctuation_chars=True); lex.whitespace_split = True
    out, cur = [], []
    for t in lex:
        if t in ('&&', '||', ';', '|', '&'):
            if cur: out.append(cur)
            cur = []
        else: cur.append(t)
    if cur: out.append(cur)
    return out


def _extras():
    cfg = configparser.ConfigParser(); cfg.read(ROOT/'settings.ini')
    return {k[:-len('_requirements')] for k in cfg['DEFAULT'] if k.endswith('_requirements') and k != 'requirements'}


def help_check(words: list[str], cwd: Path):
    "How to check one simple command without running it: (argv to run or None, note). Raises ValueError when unknown."
    while words and re.match(r'^[A-Za-z_]\w*=', words[0]): words = words[1:]   # VAR=value prefixes
    if not words: return None, 'empty'
    p, rest = words[0], words[1:]
    py = p in ('python', 'python3') or re.fullmatch(r'python3\.\d+', p)
    if p in ('.', 'source') or (py and rest[:2] == ['-m', 'venv']): return None, 'environment setup: skipped (the venv is active)'
    if p in ('pip', 'pip3') or (py and rest[:2] == ['-m', 'pip']):
        args = rest[2:] if py else rest
        if args[:1] != ['install']: raise ValueError(f'`{" ".join(words)}`: only `pip install` is known')
        known = _extras()
        for a in args:
            m = re.fullmatch(r'[^\[]*\[([\w,\s-]+)\]', a)
            if m:
                bad = {e.strip() for e in m.group(1).split(',')} - known
                if bad: raise ValueError(f'`{" ".join(words)}`: extra(s) {sorted(bad)} not in settings.ini (known: {sorted(known)})')
        return None, 'pip install: extras checked against settings.ini'
    if py:
        if rest[:1] == ['-m'] and len(rest) > 1: return [sys.executable, '-m', rest[1], '--help'], None
        if rest and rest[0].endswith('.py'): return [sys.executable, rest[0], '--help'], None
        raise ValueError(f'`{" ".join(words)}`: cannot check this python command without running it')
    if p == 'accelerate' and rest[:1] == ['launch']:
        a = rest[1:]
        for i, w in enumerate(a):
            if w == '--config_file' and i + 1 < len(a) and not (cwd/a[i + 1]).is_file():
                raise ValueError(f'`{" ".join(words)}`: --config_file {a[i + 1]} does not exist')
        if '-m' in a: return [sys.executable, '-m', a[a.index('-m') + 1], '--help'], None
        scripts = [w for w in a if w.endswith('.py')]
        if scripts: return [sys.executable, scripts[0], '--help'], None
        raise ValueError(f'`{" ".join(words)}`: no `-m module` or script to launch')
    if p in ('bash', 'sh') and rest: return ['bash', rest[0], '--help'], None
    if shutil.which(p): return [p, '--help'], None
    raise ValueError(f'`{p}`: command not found (is the package installed in the active environment?)')


def _installs(words):
    "True for `pip install ...` and `python -m venv ...` (optionally after VAR=value prefixes)."
    while words and re.match(r'^[A-Za-z_]\w*=', words[0]): words = words[1:]
    py = words[:1] in (['python'], ['python3'])
    return (words[:2] in (['pip', 'install'], ['pip3', 'install']) or (py and words[1:4] == ['-m', 'pip', 'install'])
            or (py and words[1:3] == ['-m', 'venv']))


def _setup(words) -> bool:
    "Environment setup a runnable block may start with: venv creation, activation, an install of this package."
    p = words[:1]
    return _installs(words) or p in (['.'], ['source']) and len(words) == 2 and words[1].endswith('activate')


def strip_setup(cmd: str, line: int) -> str:
    """`cmd` without the environment setup at the head of its `&&` chain ('true' if nothing is left); ValueError if setup
    appears elsewhere (after other work, or joined by `|`, `;`, `||`)."""
    parts = simple_commands(cmd)
    if not any(_setup(w) for w in parts): return cmd
    if any(op in cmd.replace('&&', '') for op in ('|', ';', '&')):
        raise ValueError(f'{NAME} line {line}: `{cmd.strip()}` sets up an environment inside a pipe or list: join with `&&` only')
    k = 0
    while k < len(parts) and _setup(parts[k]): k += 1
    if any(_setup(w) for w in parts[k:]):
        raise ValueError(f'{NAME} line {line}: `{cmd.strip()}` installs after other work: mark its block `# needs: network`')
    return ' && '.join(shlex.join(w) for w in parts[k:]) or 'true'


def copy_repo(dst: Path):
    "The git-tracked files of this working tree (as they are now) under `dst`: a fresh clone plus uncommitted edits."
    files = subprocess.run(['git', 'ls-files', '-z'], cwd=ROOT, capture_output=True, check=True).stdout.split(b'\0')
    for f in files:
        if not f: continue
        src = ROOT/os.fsdecode(f)
        if not src.is_file(): continue   # deleted in the working tree, or a submodule
        (dst/os.fsdecode(f)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst/os.fsdecode(f))


def env_for(cwd: Path):
    return {**os.environ, 'PYTHONPATH': str(cwd), 'PYTHONUNBUFFERED': '1'}


def tail(s, n=30): return '\n'.join(s.rstrip().splitlines()[-n:])


def run_block(cmds, cwd: Path, timeout: float):
    "Run the commands in one bash in `cwd`; None if all pass, else (README line, command, exit code, output tail)."
    failfile = cwd/'.readme_check_failed'
    script = ['set -o pipefail', f'__fail() {{ echo "$1 $2" > {shlex.quote(str(failfile))}; exit 1; }}']
    for k, (line, c) in enumerate(cmds): script += [f'{{ {strip_setup(c, line)}', f'}} || __fail {k} $?']
    try:
        r = subprocess.run(['bash', '-c', '\n'.join(script)], cwd=cwd, env=env_for(cwd), capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b'').decode(errors='replace') if isinstance(e.stdout, bytes) else (e.stdout or '')
        return cmds[-1][0], f'(the block, after {timeout:.0f} s)', 'timeout', tail(out)
    if r.returncode == 0: return None
    if failfile.exists():
        k, rc = failfile.read_text().split(); line, c = cmds[int(k)]
        return line, c, rc, tail(r.stdout + r.stderr)
    return cmds[-1][0], '(the block)', r.returncode, tail(r.stdout + r.stderr)


def check_help(cmds, cwd: Path, timeout: float):
    "The --help check of a `# needs:` block: None if every command passes, else (line, command, reason, output)."
    for line, c in cmds:
        try:
            for words in simple_commands(c):
                argv, note = help_check(words, cwd)
                if argv is None: continue
                try:
                    r = subprocess.run(argv, cwd=cwd, env=env_for(cwd), capture_output=True, text=True, timeout=timeout,
                                       stdin=subprocess.DEVNULL)
                except subprocess.TimeoutExpired: return line, c, f'`{" ".join(argv[1:] if argv[0] == sys.executable else argv)}` timed out', ''
                if r.returncode != 0 or 'usage' not in (r.stdout + r.stderr).lower():
                    shown = ' '.join(['python'] + argv[1:] if argv[0] == sys.executable else argv)
                    return line, c, f'`{shown}` exit {r.returncode}' + ('' if r.returncode else ' without a usage text'), tail(r.stdout + r.stderr)
        except ValueError as e: return line, c, str(e), ''
    return None


def ci_commands():
    return {l.strip() for l in (ROOT/'.ci'/'run').read_text().splitlines()}


def plan(blocks):
    "[(block number, block, mode)] with mode 'ci' (the README test command), 'run' or 'help (needs: ...)'."
    ci, out = ci_commands(), []
    for i, b in enumerate(blocks, 1):
        cmds, needs = commands(b), needs_of(b)
        if cmds and not needs and all(c in ci for _, c in cmds): mode = 'ci'
        elif needs: mode = f'help (needs: {", ".join(sorted(needs))})'
        else: mode = 'run'
        if mode == 'run':   # installing here would re-point the active environment at a temporary copy: setup is skipped
            for line, c in cmds: strip_setup(c, line)
        out.append((i, b, mode))
    return out


def self_check():
    "The parsing and the failure report on made-up blocks: a failure inside `&&` or a pipe names its line; bad markers raise."
    b = sh_blocks('x\n```sh\necho one\nfalse && echo never \\\n  two\necho three\n```\n')
    assert [c for _, c in commands(b[0])] == ['echo one', 'false && echo never    two', 'echo three'], commands(b[0])
    with tempfile.TemporaryDirectory() as d:
        assert run_block(commands(b[0]), Path(d), 30)[:3] == (4, 'false && echo never    two', '1')
        assert run_block([(1, 'echo a | grep -q zzz')], Path(d), 30)[0] == 1
        assert run_block([(1, 'cd / && true'), (2, 'test "$PWD" = /')], Path(d), 30) is None   # one shell per block
    assert simple_commands('A=1 bash s.sh && pip install -e ".[dev]" # c') == [['A=1', 'bash', 's.sh'], ['pip', 'install', '-e', '.[dev]']]
    assert help_check(['NPROC=8', 'bash', 's.sh'], ROOT)[0] == ['bash', 's.sh', '--help']
    assert help_check(['accelerate', 'launch', '--num_processes', '2', '-m', 'm.x', '--y'], ROOT)[0] == [sys.executable, '-m', 'm.x', '--help']
    for bad in ('# needs: gpus', '# needs:'):
        try: needs_of(dict(line=1, lines=[bad, 'ls'])); raise AssertionError(f'{bad!r} accepted')
        except ValueError: pass
    assert strip_setup('python3 -m venv .venv && . .venv/bin/activate && pip install -e . && avion_demo --x 1', 1) == 'avion_demo --x 1'
    assert strip_setup('echo a | grep a', 1) == 'echo a | grep a' and strip_setup('pip install -e .', 1) == 'true'
    for bad in ('avion_demo && pip install -e .', 'pip install -e . | cat', 'pip install x; avion_demo'):
        try: plan([dict(line=1, lines=[bad])]); raise AssertionError(f'{bad!r} accepted in a runnable block')
        except ValueError: pass


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--readme', default='README.md', help='the markdown file whose ```sh blocks are checked (default: README.md)')
    p.add_argument('--block', type=int, action='append', help='check only this block (repeatable; numbers as --list shows)')
    p.add_argument('--list', action='store_true', help='list the blocks and how each is checked, run nothing')
    p.add_argument('--timeout', type=float, default=300, help='seconds one runnable block may take (default: 300)')
    p.add_argument('--keep', action='store_true', help='keep the temporary copies (their paths are printed)')
    a = p.parse_args()
    global NAME
    readme = (ROOT/a.readme) if not Path(a.readme).is_absolute() else Path(a.readme)
    NAME = readme.name
    self_check()   # the checker still catches what it is meant to catch
    try: todo = plan(sh_blocks(readme.read_text()))
    except (ValueError, OSError) as e: print(f'check_readme: {e}'); sys.exit(2)
    if a.block:
        bad = set(a.block) - {i for i, _, _ in todo}
        if bad: print(f'check_readme: --block {sorted(bad)}: {readme.name} has blocks 1..{len(todo)}'); sys.exit(2)
        todo = [t for t in todo if t[0] in a.block]
    failed, t_all = [], time.time()
    for i, b, mode in todo:
        cmds = commands(b)
        head = f'block {i} ({readme.name} line {b["line"]}, {len(cmds)} command(s)): {mode}'
        if a.list:
            print(head); [print(f'    {l}: {c}') for l, c in cmds]; continue
        if mode == 'ci': print(f'{head}: run by .ci/run itself (it contains the command verbatim)'); continue
        t0, d = time.time(), Path(tempfile.mkdtemp(prefix='readme_block_'))
        try:
            copy_repo(d)
            res = run_block(cmds, d, a.timeout) if mode == 'run' else check_help(cmds, d, min(a.timeout, 120))
        finally:
            if a.keep: print(f'    kept {d}')
            else: shutil.rmtree(d, ignore_errors=True)
        if res is None: print(f'{head}: ok in {time.time() - t0:.1f} s'); continue
        line, c, why, out = res
        print(f'FAIL {head}\n    {readme.name} line {line}: {c.strip()}\n    -> {why if mode != "run" else f"exit {why}"}')
        if out: print('    ' + out.replace('\n', '\n    '))
        failed.append(i)
    if a.list: return
    print(f'readme: {len(todo) - len(failed)} of {len(todo)} blocks ok in {time.time() - t_all:.0f} s'
          + (f'; failed: block(s) {", ".join(map(str, failed))}' if failed else ''))
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
