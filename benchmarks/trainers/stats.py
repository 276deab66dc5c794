"""Line counts of the trainer modules and the import graph of avion_nb (issue 16's before/after note).
Usage: python benchmarks/trainers/stats.py > benchmarks/trainers/<before|after>.md"""
import ast, pathlib, subprocess, sys, datetime
root = pathlib.Path(__file__).resolve().parents[2]
pkg = root/'avion_nb'
trainers = ['trainer','pretrain','finetune_mir','finetune_cls','videomae','videomae_finetune']
commit = subprocess.run(['git','rev-parse','--short','HEAD'], cwd=root, capture_output=True, text=True).stdout.strip()
print(f'# Trainer modules: line counts and import graph\n\ncommit {commit} (+ working tree), {datetime.date.today()}, '
      f'command: `python benchmarks/trainers/stats.py`\n')
print('| module | lines |\n|---|---|')
tot = 0
for m in trainers:
    n = len((pkg/f'{m}.py').read_text().splitlines()); tot += n
    print(f'| avion_nb/{m}.py | {n} |')
print(f'| **total** | **{tot}** |\n')
print('## Import graph (module -> avion_nb modules it imports)\n')
mods = sorted(p.stem for p in pkg.glob('*.py') if not p.stem.startswith('_'))
for m in mods:
    tree = ast.parse((pkg/f'{m}.py').read_text())
    deps = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level and node.module: deps.add(node.module.split('.')[0])
            elif node.level and not node.module: deps.update(a.name for a in node.names)
            elif node.module and node.module.startswith('avion_nb.'): deps.add(node.module.split('.')[1])
        elif isinstance(node, ast.Import):
            deps.update(a.name.split('.')[1] for a in node.names if a.name.startswith('avion_nb.'))
    deps &= set(mods); deps.discard(m)
    print(f'- {m} -> {", ".join(sorted(deps)) or "(none)"}')
tr = set(trainers) - {'trainer'}
print('\nTrainer-to-trainer imports:', end=' ')
bad = []
for m in trainers:
    tree = ast.parse((pkg/f'{m}.py').read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level and (node.module or '').split('.')[0] in tr and m != (node.module or ''):
            bad.append(f'{m} -> {node.module}')
print(', '.join(sorted(set(bad))) or 'none')
