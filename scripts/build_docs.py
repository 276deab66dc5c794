#!/usr/bin/env python
"""Build the docs as static HTML without Quarto, and (re)generate README.md from `nbs/index.ipynb`.

Quarto (what `nbdev_docs` / `nbdev_preview` use) cannot be installed everywhere, so CI checks the docs with this
static rendering of nbdev's processed notebooks:

1. copy the notebooks (by default the executed copies that `scripts/test_nbs.py` leaves in `_exec/`, so pages
   show real outputs and plots) and the Quarto config into a build folder;
2. run nbdev's own notebook processors (`proc_nbs`: front matter, `show_doc` for every exported symbol, hidden
   cells removed, ...), exactly what `nbdev_docs` feeds to Quarto;
3. render one HTML page per notebook with nbconvert and a navigation sidebar in the order of `nbs/sidebar.yml`.

It fails (exit 1) on a processing or rendering error, an error output in a page, a notebook missing from the
sidebar (or a sidebar entry without a notebook), a page without a title, or a README.md that differs from what
`index.ipynb` generates (`--write_readme` rewrites it).

    python scripts/build_docs.py                      # from _exec/ if present, else from nbs/ (no outputs)
    python scripts/build_docs.py --execute            # run the notebooks first (scripts/test_nbs.py), then build
    python scripts/build_docs.py --write_readme       # regenerate README.md from nbs/index.ipynb
"""
import argparse, html, json, os, re, shutil, subprocess, sys, warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
CONFIG_FILES = ['_quarto.yml', 'sidebar.yml', 'nbdev.yml', 'styles.css']


def sidebar_order():
    "Flatten nbs/sidebar.yml into [(section or None, notebook file name)]."
    import yaml
    sb = yaml.safe_load((NBS/'sidebar.yml').read_text())['website']['sidebar']['contents']
    out = []
    def walk(items, section):
        for it in items:
            if isinstance(it, str): out.append((section, it))
            elif isinstance(it, dict) and 'contents' in it: walk(it['contents'], it.get('section'))
            elif isinstance(it, dict) and 'href' in it: out.append((section, it['href']))
    walk(sb, None)
    return out


def frontmatter(nb):
    "Title and description from the raw front-matter cell nbdev's processors write."
    for c in nb.cells:
        if c.cell_type == 'raw' and c.source.startswith('---'):
            import yaml
            fm = yaml.safe_load(c.source.strip().strip('-')) or {}
            return fm.get('title'), fm.get('description')
    return None, None


_re_attr_link = re.compile(r'\[([^\]]+)\]\(([^)\s]+)\)\{([^{}]*)\}')

def pandoc_links(md):
    "Links with Pandoc attributes (`[source](url){target=\"_blank\" ...}`, in show_doc output) as HTML links."
    return _re_attr_link.sub(lambda m: f'<a href="{m.group(2)}" {m.group(3)}>{m.group(1)}</a>', md)


def quarto_cell_options(cell):
    "Apply the Quarto cell options nbdev leaves in code cells (`#| echo: false` on show_doc cells, ...), as Quarto would."
    if cell.cell_type == 'markdown': cell.source = pandoc_links(cell.source)
    for o in cell.get('outputs', []):
        if 'text/markdown' in o.get('data', {}): o.data['text/markdown'] = pandoc_links(o.data['text/markdown'])
    if cell.cell_type != 'code': return cell
    lines, opts = cell.source.splitlines(), {}
    while lines and lines[0].startswith('#|'):
        k, _, v = lines.pop(0)[2:].partition(':'); opts[k.strip()] = v.strip().lower()
    if opts.get('include') == 'false': return None
    cell.source = '\n'.join(lines)
    if opts.get('echo') == 'false' or not cell.source.strip():
        cell.metadata.setdefault('tags', []).append('remove_input')
        if not cell.get('outputs'): return None
    if opts.get('output') == 'false': cell.outputs = []
    return cell


PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title} – avion_nb</title>
<style>
body{{margin:0;font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;color:#222;display:flex}}
nav{{width:270px;min-width:270px;height:100vh;position:sticky;top:0;overflow-y:auto;background:#f6f8fa;border-right:1px solid #ddd;padding:16px;box-sizing:border-box;font-size:14px}}
nav h2{{font-size:18px;margin:0 0 12px}} nav .sec{{margin:14px 0 4px;font-weight:600;color:#555;text-transform:uppercase;font-size:12px}}
nav a{{display:block;padding:3px 6px;color:#0b57d0;text-decoration:none;border-radius:4px}} nav a.cur{{background:#dde7f7;font-weight:600}}
main{{flex:1;max-width:1000px;padding:24px 40px;box-sizing:border-box;overflow-x:auto}}
main .description{{font-style:italic;color:#555;font-size:1.15em}} pre{{background:#f6f8fa;padding:8px;overflow-x:auto}}
.jp-OutputArea-output pre{{border-left:2px solid lightsalmon;background:none}} img{{max-width:100%}}
table{{border-collapse:collapse}} td,th{{border:1px solid #ddd;padding:3px 8px}}
</style>{head}</head><body><nav><h2><a href="index.html">avion_nb</a></h2>{nav}</nav>
<main><h1>{title}</h1><p class="description">{desc}</p>{body}</main></body></html>"""


def build(src: Path, out: Path):
    from nbdev.config import get_config
    from nbdev.processors import FilterDefaults
    import nbdev.doclinks, nbdev.serve_drv
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    cfg = get_config()
    order = sidebar_order()
    listed = [f for _, f in order]
    present = sorted(p.name for p in NBS.glob('*.ipynb'))
    errors = []
    for f in present:
        if f not in listed: errors.append(f'nbs/{f} is not in nbs/sidebar.yml')
    for f in listed:
        if f not in present: errors.append(f'nbs/sidebar.yml lists {f}, which does not exist')
    # 1. build folder: notebooks from src (falling back to nbs/), config from nbs/
    bsrc = ROOT/'_docsrc'
    shutil.rmtree(bsrc, ignore_errors=True); bsrc.mkdir()
    for f in present:
        s = src/f if (src/f).exists() else NBS/f
        if s != NBS/f and _sources(s) != _sources(NBS/f):
            # compare cell sources, not mtimes: `nbdev_clean` rewrites every notebook after the tests ran
            print(f'note: {s} does not have the cells of nbs/{f} (stale): using nbs/{f} (no outputs); '
                  f'python scripts/test_nbs.py {NBS.name}/{f} refreshes it'); s = NBS/f
        shutil.copy(s, bsrc/f)
    for f in CONFIG_FILES: shutil.copy(NBS/f, bsrc/f)
    # 2. nbdev's processors (front matter, show_doc, hidden cells, ...): what `proc_nbs` runs for each notebook
    #    (`nbdev.serve_drv.main` with `FilterDefaults`), one notebook at a time so that every failure is reported
    nbdev.doclinks._build_modidx()
    if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))  # the docs import avion_nb even if not installed
    cache = cfg.config_path/'_proc'
    shutil.rmtree(cache, ignore_errors=True); cache.mkdir()
    for f in present:
        with warnings.catch_warnings(record=True) as ws:
            warnings.simplefilter('always')
            try: nbdev.serve_drv.main((bsrc/f, cache/f, FilterDefaults))
            except Exception as e:
                lines = str(e).splitlines() or ['']
                code = next((l for l in lines[1:] if l.strip() and not l.startswith('#|')), '')
                cause = e.__cause__ or e.__context__ or e
                errors.append(f'{f}: nbdev processing failed: {lines[0]} `{code}` -> {type(cause).__name__}: {cause}')
            finally: os.environ.pop('IN_TEST', None)
        for w in ws:
            if 'Found cells containing imports and other code' in str(w.message):
                # nbdev runs such cells (all of them) in its docs kernel: keep imports in cells of their own
                code = next((l for l in str(w.message).split('---')[1].splitlines() if l.strip() and not l.startswith('#|')), '')
                print(f'note: {f}: nbdev executes this cell for the docs (imports mixed with code): `{code}`')
            elif not issubclass(w.category, DeprecationWarning): print(f'note: {f}: {w.category.__name__}: {w.message}')
    # 3. one page per notebook
    shutil.rmtree(out, ignore_errors=True); out.mkdir(parents=True)
    exp = HTMLExporter(template_name='lab', exclude_input_prompt=True, exclude_output_prompt=True)
    exp.register_preprocessor(TagRemovePreprocessor(remove_input_tags={'remove_input'}, enabled=True), enabled=True)
    pages = {}
    for f in listed:
        p = Path(cache)/f
        if not p.exists(): errors.append(f'processing produced no {f}'); continue
        nb = _read(p)
        title, desc = frontmatter(nb)
        if not title: errors.append(f'{f}: no title (first cell must be "# Title" then "> description")')
        for i, c in enumerate(nb.cells):
            for o in c.get('outputs', []):
                if o.get('output_type') == 'error':
                    errors.append(f'{f}: cell {i} has an error output: {o.get("ename")}: {o.get("evalue")}')
                txt = ''.join(o.get('text', '')) if o.get('output_type') == 'stream' else ''
                if 'Traceback (most recent call last)' in txt: errors.append(f'{f}: cell {i} prints a traceback')
        nb.cells = [c for c in nb.cells if not (c.cell_type == 'raw' and c.source.startswith('---'))]
        nb.cells = [c for c in map(quarto_cell_options, nb.cells) if c is not None]
        try:
            body, _ = exp.from_notebook_node(nb)
        except Exception as e:
            errors.append(f'{f}: nbconvert failed: {e!r}'); continue
        m_head = re.search(r'<head>(.*)</head>', body, re.S); m_body = re.search(r'<body[^>]*>(.*)</body>', body, re.S)
        pages[f] = (title or f, desc or '', m_head.group(1) if m_head else '', m_body.group(1) if m_body else body)
    for f, (title, desc, head, body) in pages.items():
        nav, cur_sec = [], object()
        for sec, g in order:
            if sec != cur_sec and sec: nav.append(f'<div class="sec">{html.escape(sec)}</div>')
            cur_sec = sec
            t = pages.get(g, (g,))[0]
            nav.append(f'<a href="{_html_name(g)}"{" class=cur" if g == f else ""}>{html.escape(str(t))}</a>')
        head = re.sub(r'<title>.*?</title>', '', head, flags=re.S)
        (out/_html_name(f)).write_text(PAGE.format(title=html.escape(title), desc=html.escape(desc), head=head,
                                                   nav='\n'.join(nav), body=body))
    return errors, cache


def _sources(p):
    "Cell types and sources of notebook `p`, to check an executed copy still matches its notebook."
    import nbformat
    return [(c.cell_type, c.source) for c in nbformat.read(p, as_version=4).cells]


def _read(p):
    "Read a notebook with nbformat: multi-line strings joined, as nbconvert's filters expect."
    import nbformat
    return nbformat.read(p, as_version=4)


def _html_name(f): return 'index.html' if f == 'index.ipynb' else f.replace('.ipynb', '.html')


README_WARNING = '<!-- WARNING: THIS FILE WAS AUTOGENERATED FROM nbs/index.ipynb by scripts/build_docs.py! DO NOT EDIT! -->'


def readme_text(cache):
    "README.md from the processed index notebook: title, description, then its markdown and code cells."
    from nbconvert import MarkdownExporter
    nb = _read(Path(cache)/'index.ipynb')
    title, desc = frontmatter(nb)
    # drop the front matter and nbdev's own "autogenerated" cell (it is about the processed notebook)
    nb.cells = [c for c in nb.cells if not (c.cell_type == 'raw' or 'THIS FILE WAS AUTOGENERATED' in c.source)]
    md, _ = MarkdownExporter().from_notebook_node(nb)
    md = re.sub(r'\n{3,}', '\n\n', md).strip()
    return f'# {title}\n\n{README_WARNING}\n\n> {desc}\n\n{md}\n'


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--src', default=None, help='folder of executed notebooks (default: _exec if present, else nbs)')
    p.add_argument('--out', default='_site', help='output folder for the HTML pages')
    p.add_argument('--execute', action='store_true', help='run scripts/test_nbs.py first to get fresh outputs')
    p.add_argument('--write_readme', action='store_true', help='rewrite README.md instead of checking it')
    a = p.parse_args()
    os.chdir(ROOT)
    if a.execute:
        subprocess.run([sys.executable, 'scripts/test_nbs.py', '--save_dir', '_exec'], check=True)
    src = Path(a.src) if a.src else (ROOT/'_exec' if (ROOT/'_exec').exists() else NBS)
    errors, cache = build(src, ROOT/a.out)
    rd = readme_text(cache)
    if a.write_readme: (ROOT/'README.md').write_text(rd); print('wrote README.md')
    elif not (ROOT/'README.md').exists() or (ROOT/'README.md').read_text() != rd:
        errors.append('README.md is out of date with nbs/index.ipynb: run python scripts/build_docs.py --write_readme')
    n = len(list((ROOT/a.out).glob('*.html')))
    for e in errors: print('DOCS ERROR:', e)
    print(f'docs: {n} pages written to {a.out}/ ({len(errors)} errors)')
    sys.exit(1 if errors or n == 0 else 0)


if __name__ == '__main__':
    main()
