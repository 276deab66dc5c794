#!/usr/bin/env python
"""The package's layering and the notebooks' rhythm, checked (issue 23; run by .ci/run).

Imports (always checked; a failure exits 1):
  * a cycle of module-level imports among avion_nb modules fails. Module-level means any import that runs when the
    module is imported: top-level statements (also inside a top-level `if`/`try`), and a module `__getattr__`'s
    imports or `importlib.import_module('avion_nb.x')` calls (a lazy re-export is still an edge). Imports inside an
    `if __name__ == '__main__':` block run only when the module is a program, and are not edges.
  * a module-level import of a module whose notebook comes later in the numbering (an upward import) fails.
  * imports inside functions are allowed; those that go upward are listed (not a failure).

Notebook cells (reported; they fail only with --strict_cells, since the whole repository does not meet them yet):
  * exported-cell lines: the lines of a `#| export` code cell without its `#|` directive lines;
  * targets: median <= 15; no cell over 60 lines, except at most five whose first line after the directives is a
    comment `# whole: <why>`, each <= 100 lines; non-blank Markdown lines / exported code lines >= 0.5.

    python scripts/check_structure.py                 # imports fail, cell statistics printed
    python scripts/check_structure.py --strict_cells  # cell targets fail too
    python scripts/check_structure.py --json out.json # also write the statistics
"""
import argparse, ast, json, re, statistics, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = 'avion_nb'
MEDIAN_MAX, CELL_MAX, WHOLE_MAX, WHOLE_N, PROSE_MIN = 15, 60, 100, 5, 0.5
_DIRECTIVE = re.compile(r'^\s*#\s*\|')
_EXPORT = re.compile(r'^\s*#\s*\|\s*export')
_WHOLE = re.compile(r'^\s*#\s*whole:\s*\S')
_NB_KEY = re.compile(r'^(\d+)([a-z]*)_')


def nb_key(stem: str):
    "Sort key of a notebook name by its number prefix: '30a_run_settings' -> (30, 'a'); unnumbered last."
    m = _NB_KEY.match(stem)
    return (int(m.group(1)), m.group(2)) if m else (10**6, stem)


def module_notebooks(pkg: Path) -> dict:
    "module name -> the notebook stem it is generated from (nbdev's header line)."
    out = {}
    for f in sorted(pkg.glob('*.py')):
        m = re.search(r'File to edit: \.\./nbs/([^\s]+)\.ipynb', f.read_text()[:600])
        if m: out[f.stem] = m.group(1)
    return out


def _target(node, modname: str, mods: set) -> list:
    "avion_nb modules an import node names."
    out = []
    if isinstance(node, ast.Import):
        for a in node.names:
            p = a.name.split('.')
            if p[0] == PKG and len(p) > 1: out.append(p[1])
    elif isinstance(node, ast.ImportFrom):
        if node.level == 1 or (node.level == 0 and (node.module or '').split('.')[0] == PKG):
            sub = (node.module or '').split('.')
            sub = sub[1:] if node.level == 0 else sub
            if sub and sub[0]: out.append(sub[0])
            else: out += [a.name for a in node.names if a.name in mods]    # from . import decode
    elif isinstance(node, ast.Call) and getattr(node.func, 'attr', getattr(node.func, 'id', '')) == 'import_module':
        if node.args and isinstance(node.args[0], ast.Constant) and str(node.args[0].value).startswith(PKG + '.'):
            out.append(str(node.args[0].value).split('.')[1])
    return [m for m in out if m in mods and m != modname]


def _is_main_guard(node) -> bool:
    return isinstance(node, ast.If) and '__main__' in ast.unparse(node.test) and '__name__' in ast.unparse(node.test)


def imports_of(path: Path, mods: set) -> tuple:
    "(module-level edges, in-function edges) of one module: lists of (target, line)."
    tree, name = ast.parse(path.read_text()), path.stem
    top, inner = [], []
    def walk(node, level):
        for ch in ast.iter_child_nodes(node):
            if level == 'top' and _is_main_guard(ch): continue
            if isinstance(ch, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                lazy = level == 'top' and getattr(ch, 'name', '') == '__getattr__'   # a lazy re-export runs on attribute access
                sub = 'top' if lazy or (isinstance(ch, ast.ClassDef) and level == 'top') else 'inner'
                walk(ch, sub); continue
            for t in _target(ch, name, mods): (top if level == 'top' else inner).append((t, ch.lineno))
            walk(ch, level)
    walk(tree, 'top')
    return top, inner


def cycles(graph: dict) -> list:
    "Strongly connected components with more than one module (Tarjan), each sorted."
    idx, low, on, stack, out, n = {}, {}, set(), [], [], [0]
    def visit(v):
        idx[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
        for w in graph.get(v, ()):
            if w not in idx: visit(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], idx[w])
        if low[v] == idx[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: out.append(sorted(comp))
    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in idx: visit(v)
    return out


def import_report(root: Path = ROOT) -> dict:
    pkg = root/PKG
    files = [f for f in sorted(pkg.glob('*.py')) if f.stem not in ('__init__', '_modidx')]
    mods = {f.stem for f in files}
    nbs = module_notebooks(pkg)
    graph, upward_top, upward_inner = {}, [], []
    for f in files:
        top, inner = imports_of(f, mods)
        graph[f.stem] = sorted({t for t, _ in top})
        for edges, bucket in ((top, upward_top), (inner, upward_inner)):
            for t, line in edges:
                a, b = nbs.get(f.stem), nbs.get(t)
                if a and b and nb_key(a) < nb_key(b):
                    bucket.append(f'{PKG}/{f.name}:{line} -> {t} ({a} imports {b})')
    return dict(modules=len(mods), edges=sum(map(len, graph.values())), graph=graph, cycles=cycles(graph),
                upward_module_level=sorted(set(upward_top)), upward_in_functions=sorted(set(upward_inner)))


def cell_stats(root: Path = ROOT) -> dict:
    "Exported-cell sizes and prose ratio over nbs/*.ipynb."
    sizes, md_lines, whole, big = [], 0, [], []
    for f in sorted((root/'nbs').glob('*.ipynb')):
        for i, c in enumerate(json.loads(f.read_text())['cells']):
            lines = ''.join(c.get('source', '')).splitlines()
            if c['cell_type'] == 'markdown': md_lines += sum(1 for l in lines if l.strip())
            if c['cell_type'] != 'code' or not any(_EXPORT.match(l) for l in lines): continue
            body = [l for l in lines if not _DIRECTIVE.match(l)]
            n = len(body); sizes.append(n)
            where = f'{f.name} cell {i} ({n} lines)'
            if body and _WHOLE.match(body[0]): whole.append((where, n))
            elif n > CELL_MAX: big.append(where)
    code = sum(sizes)
    return dict(notebooks=len(list((root/'nbs').glob('*.ipynb'))), exported_cells=len(sizes),
                median=statistics.median(sizes) if sizes else 0, over_40=sum(n > 40 for n in sizes),
                over_60=sum(n > CELL_MAX for n in sizes), over_80=sum(n > 80 for n in sizes),
                max=max(sizes, default=0), exported_code_lines=code, markdown_lines=md_lines,
                prose_ratio=round(md_lines / code, 3) if code else 0.0,
                whole_cells=[w for w, _ in whole], over_60_not_whole=big,
                _whole_sizes=[n for _, n in whole])


def cell_failures(s: dict) -> list:
    f = []
    if s['median'] > MEDIAN_MAX: f.append(f"median exported cell {s['median']} lines > {MEDIAN_MAX}")
    if s['over_60_not_whole']: f.append(f"{len(s['over_60_not_whole'])} exported cells over {CELL_MAX} lines without '# whole: <why>'")
    if len(s['whole_cells']) > WHOLE_N: f.append(f"{len(s['whole_cells'])} '# whole:' cells (at most {WHOLE_N})")
    if any(n > WHOLE_MAX for n in s['_whole_sizes']): f.append(f"a '# whole:' cell over {WHOLE_MAX} lines")
    if s['prose_ratio'] < PROSE_MIN: f.append(f"Markdown/code ratio {s['prose_ratio']} < {PROSE_MIN}")
    return f


def self_test():
    "The checker on a made-up package: a lazy `__getattr__` re-export closes a cycle, a `__main__` import does not."
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        d = Path(d); (d/PKG).mkdir(); (d/'nbs').mkdir()
        hdr = lambda nb: f'# AUTOGENERATED! DO NOT EDIT! File to edit: ../nbs/{nb}.ipynb.\n'
        (d/PKG/'low.py').write_text(hdr('01_low') + "import importlib\ndef __getattr__(n): return getattr(importlib.import_module('avion_nb.high'), n)\n")
        (d/PKG/'high.py').write_text(hdr('02_high') + "from .low import x\ndef f():\n    from avion_nb import low\n")
        (d/PKG/'mid.py').write_text(hdr('01a_mid') + "if __name__ == '__main__':\n    from avion_nb.high import f\ndef g():\n    import avion_nb.high\n")
        r = import_report(d)
        assert r['cycles'] == [['high', 'low']], r['cycles']
        assert r['graph']['mid'] == [] and len(r['upward_in_functions']) == 1 and len(r['upward_module_level']) == 1, r
        (d/PKG/'low.py').write_text(hdr('01_low') + "x = 1\n")
        assert import_report(d)['cycles'] == []


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--strict_cells', action='store_true', help='fail when the cell-size or prose targets are not met')
    p.add_argument('--json', default='', help='also write the statistics to this file')
    p.add_argument('--root', default=str(ROOT), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    root = Path(a.root)
    self_test()
    imp, cs = import_report(root), cell_stats(root)
    print(f"imports: {imp['modules']} modules, {imp['edges']} module-level import edges")
    for c in imp['cycles']: print('  CYCLE: ' + ' <-> '.join(c))
    for u in imp['upward_module_level']: print('  UPWARD (module level): ' + u)
    for u in imp['upward_in_functions']: print('  upward inside a function (allowed): ' + u)
    print(f"cells: {cs['exported_cells']} exported cells in {cs['notebooks']} notebooks; median {cs['median']} lines "
          f"(target <= {MEDIAN_MAX}); {cs['over_40']} over 40, {cs['over_60']} over {CELL_MAX} "
          f"({len(cs['over_60_not_whole'])} without '# whole:'), {cs['over_80']} over 80, longest {cs['max']}; "
          f"'# whole:' cells {len(cs['whole_cells'])} (at most {WHOLE_N})")
    print(f"prose: {cs['markdown_lines']} non-blank Markdown lines / {cs['exported_code_lines']} exported code lines "
          f"= {cs['prose_ratio']} (target >= {PROSE_MIN})")
    for b in cs['over_60_not_whole']: print('  long cell: ' + b)
    if a.json:
        out = dict(imports={k: v for k, v in imp.items()}, cells={k: v for k, v in cs.items() if not k.startswith('_')})
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(out, indent=1) + '\n')
    fails = [f"import cycle: {' <-> '.join(c)}" for c in imp['cycles']]
    fails += [f'upward module-level import: {u}' for u in imp['upward_module_level']]
    cf = cell_failures(cs)
    if a.strict_cells: fails += cf
    elif cf: print('cell targets not met (not a failure without --strict_cells): ' + '; '.join(cf))
    if fails:
        for f in fails: print('FAIL: ' + f)
        sys.exit(1)
    print('structure OK' + ('' if a.strict_cells else ' (imports; cell targets reported only)'))


if __name__ == '__main__': main()
