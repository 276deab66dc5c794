"""Line counts of the trainer modules and the import graph of avion_nb (issue 16's before/after note).

    python benchmarks/trainers/stats.py              # the working tree
    python benchmarks/trainers/stats.py 06dab9d      # a commit (files read with git show)

Module-level imports are listed first; imports inside functions (lazy, taken only when that function runs) after
'lazy:'."""
import ast, subprocess, sys, datetime
from pathlib import Path
root = Path(__file__).resolve().parents[2]
rev = sys.argv[1] if len(sys.argv) > 1 else None
git = lambda *a: subprocess.run(['git', *a], cwd=root, capture_output=True, text=True).stdout
if rev:
    mods = sorted(Path(p).stem for p in git('ls-tree', '--name-only', rev, 'avion_nb/').split() if p.endswith('.py'))
    src = lambda m: git('show', f'{rev}:avion_nb/{m}.py')
else:
    mods = sorted(p.stem for p in (root/'avion_nb').glob('*.py'))
    src = lambda m: (root/'avion_nb'/f'{m}.py').read_text()
mods = [m for m in mods if not m.startswith('_')]
trainers = ['trainer', 'pretrain', 'finetune_mir', 'finetune_cls', 'videomae', 'videomae_finetune']
if 'videomae_pretrain' in mods: trainers.append('videomae_pretrain')   # after: the VideoMAE pretrainer's own module
print(f'# Trainer modules: line counts and import graph\n\n{"commit " + rev if rev else "working tree at commit " + git("rev-parse", "--short", "HEAD").strip()}, '
      f'command: `python benchmarks/trainers/stats.py{" " + rev if rev else ""}`\n')
print('| module | lines |\n|---|---|')
tot = 0
for m in trainers:
    n = len(src(m).splitlines()); tot += n
    print(f'| avion_nb/{m}.py | {n} |')
print(f'| **total** | **{tot}** |\n')

def deps(m):
    tree = ast.parse(src(m)); top, lazy = set(), set()
    funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    inner = {id(x) for f in funcs for x in ast.walk(f)}
    for node in ast.walk(tree):
        got = set()
        if isinstance(node, ast.ImportFrom):
            if node.level and node.module: got.add(node.module.split('.')[0])
            elif node.level: got.update(a.name for a in node.names)
            elif node.module and node.module.startswith('avion_nb.'): got.add(node.module.split('.')[1])
            elif node.module == 'avion_nb': got.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            got.update(a.name.split('.')[1] for a in node.names if a.name.startswith('avion_nb.'))
        (lazy if id(node) in inner else top).update(got & set(mods) - {m})
    return top, lazy - top

print('## Import graph (module -> avion_nb modules it imports; lazy: inside functions)\n')
graph = {}
for m in mods:
    top, lazy = deps(m); graph[m] = top
    print(f'- {m} -> {", ".join(sorted(top)) or "(none)"}' + (f'; lazy: {", ".join(sorted(lazy))}' if lazy else ''))
tr = set(trainers) - {'trainer', 'videomae'} if 'videomae_pretrain' in mods else set(trainers) - {'trainer'}
bad = sorted(f'{m} -> {d}' for m in tr for d in graph[m] if d in tr)
print('\nTrainer-to-trainer imports (module level):', ', '.join(bad) or 'none')
