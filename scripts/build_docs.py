#!/usr/bin/env python
"""Build the docs as static HTML without Quarto, and (re)generate README.md from `nbs/index.ipynb`.

Quarto (what `nbdev_docs` / `nbdev_preview` use) cannot be installed everywhere, so CI checks the docs with this
static rendering of nbdev's processed notebooks:

1. copy the notebooks (by default the executed copies that `scripts/test_nbs.py` leaves in `_exec/`, so pages
   show real outputs and plots) and the Quarto config into a build folder;
2. run nbdev's own notebook processors (`proc_nbs`: front matter, `show_doc` for every exported symbol, hidden
   cells removed, ...), exactly what `nbdev_docs` feeds to Quarto;
3. render one HTML page per notebook with nbconvert and a navigation sidebar in the order of `nbs/sidebar.yml`.

Math is rendered offline by KaTeX (the npm package, pinned in `KATEX_VERSION`, installed with
`npm install --prefix build/docs_npm katex@<version>` into a git-ignored folder on the first build, or taken from
`$AVION_KATEX_DIR`) and copied into the site; Quarto keeps its own MathJax.

It fails (exit 1) on:

- a processing or rendering error, an error output, a traceback or a warning printed in a page;
- math left raw: a page with `$...$` math and no renderer (KaTeX missing), or an expression KaTeX cannot parse;
- an absolute machine-local path (`/root/...`, `/opt/...`, `/tmp/...`, `/work/...`, `/home/...`) in a page;
- HTML swallowed from docstrings or prose: an element that is not HTML (`<ext>`, `<video_id>`) left in a page
  (the build escapes such text outside code; what remains is reported);
- an external script (CDN) in a page: the site must work offline;
- Markdown left as text in a page (a pipe table, a `#` heading, `**emphasis**`, a `[link](x.ipynb)`), outside code
  or in printed output: Markdown printed with `print` or shown in a `<pre>` instead of rendered;
- clipped code: a line longer than the column in a `<pre>` inside a box that hides its overflow (the page's CSS,
  with a simple cascade of its tag/class selectors), with no scrolling or wrapping box in between;
- a notebook missing from the sidebar (or a sidebar entry without a notebook), a page without a title;
- a README.md that differs from what `index.ipynb` generates (`--write_readme` rewrites it), or a relative link in
  it that points to nothing from the repository root (links to notebook pages are written as `nbs/<name>.ipynb`).

    python scripts/build_docs.py                      # from _exec/ if present, else from nbs/ (no outputs)
    python scripts/build_docs.py --execute            # run the notebooks first (scripts/test_nbs.py), then build
    python scripts/build_docs.py --write_readme       # regenerate README.md from nbs/index.ipynb
    python scripts/build_docs.py --install_katex      # only install the pinned KaTeX from npm (CI does this first)
"""
import argparse, html, json, os, re, shutil, subprocess, sys, warnings
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
CONFIG_FILES = ['_quarto.yml', 'sidebar.yml', 'nbdev.yml', 'styles.css']
KATEX_VERSION = '0.16.22'                      # the npm package `katex`, pinned
KATEX_PREFIX = ROOT/'build'/'docs_npm'         # git-ignored (build/); `npm install --prefix` puts node_modules/ here
STREAM_MAX_LINES = 25                          # longer printed logs scroll in a box of about this many lines
GPU_LOGS = 'benchmarks/gpu_runs/*/test_gpu*.log'   # `scripts/test_nbs.py --flags gpu` logs of the GPU machine


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


# ---------------------------------------------------------------------------------------------------------------
# Markdown fixes, applied to markdown cells and to markdown outputs (show_doc) before nbconvert renders them

_re_attr_link = re.compile(r'\[([^\]]+)\]\(([^)\s]+)\)\{([^{}]*)\}')

def pandoc_links(md):
    "Links with Pandoc attributes (`[source](url){target=\"_blank\" ...}`, in show_doc output) as HTML links."
    return _re_attr_link.sub(lambda m: f'<a href="{m.group(2)}" {m.group(3)}>{m.group(1)}</a>', md)


HTML_TAGS = set("""a abbr address area article aside audio b base bdi bdo blockquote body br button canvas caption cite
code col colgroup data datalist dd del details dfn dialog div dl dt em embed fieldset figcaption figure footer form h1 h2
h3 h4 h5 h6 head header hgroup hr html i iframe img input ins kbd label legend li link main map mark menu meta meter nav
noscript object ol optgroup option output p param picture pre progress q rp rt ruby s samp script search section select
slot small source span strong style sub summary sup table tbody td template textarea tfoot th thead time title tr track
u ul var video wbr center font tt strike big svg path g rect circle line polyline polygon text tspan defs use clippath
lineargradient stop image desc symbol marker pattern mask math mi mo mn msup msub mrow mfrac""".split())

_re_code = re.compile(r'(```.*?```|~~~.*?~~~|`[^`\n]+`|<!--.*?-->)', re.S)
_re_tag = re.compile(r'<(/?)([A-Za-z][\w.:-]*)([^<>\n]*)>')

def escape_non_html(md):
    """Escape `<word>` that is not an HTML element (`<ext>`, `<video_id>`, `<k*chunk_len>`) outside code, so that
    the text shows instead of being swallowed as an unknown HTML tag. Autolinks (`<https://...>`) are kept."""
    def fix(seg):
        def tag(m):
            name, rest = m.group(2), m.group(3)
            if name.lower() in HTML_TAGS and (not rest or rest[0] in ' /\t'): return m.group(0)
            if '://' in m.group(0) or '@' in name + rest: return m.group(0)
            return '&lt;' + m.group(0)[1:-1] + '&gt;'
        # `<k*chunk_len>`: tag names stop at `*`, so also escape `<` directly followed by a name and a non-tag char
        seg = _re_tag.sub(tag, seg)
        return re.sub(r'<(?=[A-Za-z_][\w]*[^\w\s>/="\'-])(?![a-z]+://)', '&lt;', seg)
    parts = _re_code.split(md)
    return ''.join(x if i % 2 else fix(x) for i, x in enumerate(parts))


def fix_signature(md):
    "show_doc writes a function without parameters as `def f(\\n    \\n)`: make it `def f()`."
    return re.sub(r'\(\n[ \t]*\n\)', '()', md)


def local_doc_links(md, doc_url, pages):
    """Links nbdev writes to the published site (`<doc_host><baseurl>/<module>.html#sym`) point to the page of
    this build that documents it (`73_explore.html#sym`), so they work offline."""
    if not doc_url: return md
    def sub(m):
        pg = pages.get(m.group(1))
        return f'{pg}{m.group(2) or ""}' if pg else m.group(0)
    return re.sub(re.escape(doc_url.rstrip('/')) + r'/([\w.-]+\.html)(#[\w.-]*)?', sub, md)


def fix_markdown(md, doc_url=None, pages=None):
    "All markdown fixes: Pandoc-attribute links, signatures, non-HTML `<text>`, links to local pages."
    return local_doc_links(escape_non_html(fix_signature(pandoc_links(md))), doc_url, pages or {})


def md_inline(md):
    "Inline markdown (`code`, *em*, **strong**, links) of a title or subtitle as HTML, everything else escaped."
    import mistune
    out = mistune.html(escape_non_html(md or '')).strip()
    return re.sub(r'^<p>(.*)</p>$', r'\1', out, flags=re.S)


# ---------------------------------------------------------------------------------------------------------------
# GPU-only cells: the CPU build cannot run them; say so and point to the recorded GPU run

def gpu_results(root=ROOT):
    "{notebook name: (PASS/FAIL, log path)} from the latest GPU test log that lists each notebook."
    out = {}
    for log in sorted(root.glob(GPU_LOGS)):
        for line in log.read_text(errors='replace').splitlines():
            m = re.match(r'(PASS|FAIL)\s+[\d.]+s\s+\S*?([\w-]+\.ipynb)\s*$', line)
            if m: out[m.group(2)] = (m.group(1), log.relative_to(root).as_posix())
    return out


def gpu_note(nb_name, results):
    "Markdown note shown under a `#| gpu` cell in the static build."
    r = results.get(nb_name)
    rec = (f'the last recorded GPU run of this notebook\'s tests (`python scripts/test_nbs.py --flags gpu`): '
           f'**{"passed" if r[0] == "PASS" else "FAILED"}**, log `{r[1]}`' if r else 'no GPU run of it is recorded yet')
    return f'<div class="gpu-note">GPU-only cell (<code>#| gpu</code>): not run in the CPU build of these docs; {html.escape(rec, quote=False)}.</div>'


def mark_gpu_cells(nb, nb_name, results):
    "Insert a note after every `#| gpu` code cell of `nb` (the unprocessed copy in the build folder)."
    cells, srcs = [], [''.join(c['source']) if isinstance(c['source'], list) else c['source'] for c in nb['cells']]
    for i, c in enumerate(nb['cells']):
        cells.append(c)
        src = srcs[i]
        # a notebook that shows its recorded GPU result itself (a cell reading benchmarks/gpu_runs/) needs no note
        if any('gpu_runs' in x for x in srcs[i + 1:i + 3]): continue
        if c['cell_type'] == 'code' and re.search(r'^#\|\s*gpu\b', src, re.M):
            note = gpu_note(nb_name, results)
            note = re.sub(r'`([^`]+)`', r'<code>\1</code>', note).replace('**', '')
            cells.append(dict(cell_type='markdown', metadata={}, source=note, id=f'gpunote{len(cells)}'))
    nb['cells'] = cells
    return nb


# ---------------------------------------------------------------------------------------------------------------
# Cells: Quarto options, long logs

def quarto_cell_options(cell, doc_url=None, pages=None):
    "Apply the Quarto cell options nbdev leaves in code cells (`#| echo: false` on show_doc cells, ...), as Quarto would."
    if cell.cell_type == 'markdown': cell.source = fix_markdown(cell.source, doc_url, pages)
    for o in cell.get('outputs', []):
        if 'text/markdown' in o.get('data', {}): o.data['text/markdown'] = fix_markdown(o.data['text/markdown'], doc_url, pages)
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


def stream_text(o):
    "The text of a stream output as the reader sees it (carriage-return progress updates resolved)."
    t = o.get('text', '')
    return '\n'.join(l.rsplit('\r', 1)[-1] for l in t.split('\n'))


_re_tmp = re.compile(r'(?:/private)?/tmp/tmp[\w-]{6,}')

def scrub_tempdirs(cell):
    """Python `tempfile` folders printed by the tests (`/tmp/tmpab12cd34/run/...`) as `$TMPDIR/...`: they are
    throw-away folders of the test run, not paths a reader has. Every other machine-local path fails the check."""
    for o in cell.get('outputs', []):
        if 'text' in o: o['text'] = _re_tmp.sub('$TMPDIR', o['text'])
        for k, v in o.get('data', {}).items():
            if k.startswith('text/') and isinstance(v, str): o['data'][k] = _re_tmp.sub('$TMPDIR', v)
    return cell


def merge_streams(cell):
    "Join consecutive stream outputs of one name (a log printed line by line is one block, not fifty)."
    outs = []
    for o in cell.get('outputs', []):
        if o.get('output_type') == 'stream' and outs and outs[-1].get('output_type') == 'stream' and outs[-1].name == o.name:
            outs[-1].text += o.text
        else: outs.append(o)
    for o in outs:
        if o.get('output_type') == 'stream': o.text = stream_text(o)
    cell.outputs = outs
    return cell


# ---------------------------------------------------------------------------------------------------------------
# Checks on the notebook outputs and on the rendered pages

_re_warning = re.compile(r'\b[A-Z]\w*Warning\b:|\bwarnings\.warn\(|^\s*warn\(|\bWARNING\b', re.M)

def output_problems(f, i, o):
    "Errors, tracebacks and warnings in one output of cell `i` of page `f`."
    errs = []
    if o.get('output_type') == 'error': errs.append(f'{f}: cell {i} has an error output: {o.get("ename")}: {o.get("evalue")}')
    txt = o.get('text', '') if o.get('output_type') == 'stream' else ''.join(
        str(v) for k, v in o.get('data', {}).items() if k.startswith('text/plain'))
    if 'Traceback (most recent call last)' in txt: errs.append(f'{f}: cell {i} prints a traceback')
    m = _re_warning.search(txt)
    if m: errs.append(f'{f}: cell {i} prints a warning: {txt[m.start():].splitlines()[0][:160]!r}')
    return errs


LOCAL_PATH = re.compile(r'(?<![\w.~:/%-])/(?:root|opt|tmp|work|home|Users|private|mnt|scratch|var/folders|usr/local)/[^\s<>"\')]*')

_BLOCKS = {'p', 'div', 'pre', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'li', 'ul', 'ol', 'table', 'tr', 'td', 'th', 'br', 'blockquote'}

class _PageScan(HTMLParser):
    """Collect text (outside script/style), unknown elements, external scripts and math in a page body; also the text a
    reader sees as rendered (outside code, plus printed output) and every <pre> with the chain of its ancestors."""
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.text, self.unknown, self.external, self.math = [], [], [], [], []
        self.rendered, self.pres = [], []   # [text]; [[ancestors [(tag, classes)], text]]
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag not in HTML_TAGS: self.unknown.append(tag)
        if tag == 'script' and (a.get('src') or '').startswith(('http:', 'https:', '//')): self.external.append(a['src'])
        if tag == 'link' and (a.get('href') or '').startswith(('http:', 'https:', '//')): self.external.append(a['href'])
        if tag not in ('br', 'hr', 'img', 'input', 'meta', 'link', 'wbr', 'col', 'source', 'area', 'base', 'embed', 'param', 'track'):
            self.stack.append((tag, frozenset((a.get('class') or '').split())))
            if tag == 'pre': self.pres.append([list(self.stack), ''])
        if tag in _BLOCKS: self.rendered.append('\n')   # a block starts a line
    def handle_endtag(self, tag):
        if any(t == tag for t, _ in self.stack):
            while self.stack and self.stack.pop()[0] != tag: pass
    def handle_data(self, d):
        tags = [t for t, _ in self.stack]
        if 'script' in tags or 'style' in tags: return
        self.text.append(d)
        code = 'pre' in tags or 'code' in tags
        if not code: self.math.extend(find_math(d))
        # printed output (a stream or text/plain <pre>) is what the reader sees: markdown there was meant to render
        if not code or ('pre' in tags and any('jp-RenderedText' in c for _, c in self.stack)): self.rendered.append(d)
        if 'pre' in tags: self.pres[-1][1] += d


_RAW_MD = [   # (what, pattern) of Markdown that should have been rendered, found in a page's rendered text
    ('a Markdown table', re.compile(r'^[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-{3,}:?[ \t]*)+\|?[ \t]*$', re.M)),
    ('a Markdown heading', re.compile(r'^[ \t]{0,3}#{1,6}[ \t]+[A-Za-z`*][^\n]*$', re.M)),
    ('Markdown emphasis', re.compile(r'(?<![\w*])\*\*(?=[^\s*])[^*\n]{1,80}?(?<=[^\s*])\*\*(?![\w*])')),
    ('a Markdown link', re.compile(r'\[[^\]\n]{1,80}\]\((?:https?://|\.{0,2}/?[\w./-]+\.(?:ipynb|html|md)\b)[^)\s]*\)')),
]

def raw_markdown_problems(f, text):
    "Markdown left as text in a rendered page (a table, a heading, **emphasis** or a link shown raw): at most 3 per kind."
    errs = []
    for what, rx in _RAW_MD:
        hits = [m.group(0).strip() for m in rx.finditer(text)]
        for h in hits[:3]: errs.append(f'{f}: {what} shown as raw text (print it as Markdown/HTML, not text): {h[:80]!r}')
    return errs


# --- clipped code: a <pre> inside a box that hides its overflow, with no scrolling of its own ---------------------
CLIP_LINE = 110   # characters: a longer code line is wider than the page's column

def _css_rules(page_html):
    "[(selector, {property: (value, important)}, order)] of the page's inline stylesheets (no @media blocks)."
    css = re.sub(r'/\*.*?\*/', '', ''.join(re.findall(r'<style[^>]*>(.*?)</style>', page_html, re.S)), flags=re.S)
    css = re.sub(r'@media[^{]*\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}', '', css)
    out = []
    for n, m in enumerate(re.finditer(r'([^{}@]+)\{([^{}]*)\}', css)):
        props = {}
        for d in m.group(2).split(';'):
            k, _, v = d.partition(':')
            if v: props[k.strip().lower()] = (v.replace('!important', '').strip().lower(), '!important' in v)
        for sel in m.group(1).split(','): out.append((sel.strip(), props, n))
    return out

def _matches(sel, chain):
    "Does a simple selector (tags, classes, descendant combinators only) match the last element of `chain`?"
    parts = sel.split()
    if not parts or any(re.search(r'[^\w.-]', p) for p in parts): return False
    def ok(p, el):
        tag, classes = el; m = re.match(r'([\w-]*)((?:\.[\w-]+)*)$', p)
        return bool(m) and (not m.group(1) or m.group(1) == tag) and set(m.group(2).split('.')[1:]) <= classes
    if not ok(parts[-1], chain[-1]): return False
    i = len(chain) - 2
    for p in reversed(parts[:-1]):
        while i >= 0 and not ok(p, chain[i]): i -= 1
        if i < 0: return False
        i -= 1
    return True

def _computed(rules, chain, props):
    "The computed value of the first of `props` (shorthand first) for the last element of `chain`: importance, specificity, order."
    best = None
    for sel, decl, n in rules:
        for j, k in enumerate(props):
            if k in decl and _matches(sel, chain):
                v, imp = decl[k]
                spec = (imp, sel.count('.'), len(sel.split()), n, j)
                if best is None or spec > best[0]: best = (spec, v.split()[0] if v else v)
    return best[1] if best else None

def _overflow_x(rules, chain): return _computed(rules, chain, ('overflow', 'overflow-x')) or 'visible'

def clipped_problems(f, page_html, pres):
    "Code or output lines longer than the column inside a box with `overflow: hidden` and no scrolling box in between."
    rules, errs = _css_rules(page_html), []
    for chain, text in pres:
        long = [l for l in text.splitlines() if len(l.expandtabs()) > CLIP_LINE]
        if not long or (_computed(rules, chain, ('white-space',)) or 'pre') in ('pre-wrap', 'normal', 'pre-line', 'break-spaces'):
            continue   # short lines, or lines that wrap
        for i in range(len(chain) - 1, -1, -1):   # from the <pre> outwards: the first box that scrolls or hides wins
            ov = _overflow_x(rules, chain[:i + 1])
            if ov in ('auto', 'scroll'): break
            if ov in ('hidden', 'clip'):
                box = chain[i][0] + ''.join('.' + c for c in sorted(chain[i][1]))
                errs.append(f'{f}: code clipped: a {len(long[0])}-character line in a <pre> inside `{box}` (overflow {ov}) '
                            f'with no scrolling box: {long[0].strip()[:60]!r}...')
                break
    return errs[:5]


_re_math = re.compile(r'\$\$(.+?)\$\$|(?<![\\$\w])\$(?!\s)([^$\n]+?)(?<![\s\\])\$(?![\w$])|\\\((.+?)\\\)|\\\[(.+?)\\\]', re.S)

def find_math(text):
    "LaTeX expressions in `text` with the delimiters KaTeX's auto-render uses ($$..$$, $..$, \\(..\\), \\[..\\])."
    return [next(g for g in m.groups() if g is not None) for m in _re_math.finditer(text)]


def page_problems(f, page_html, has_katex):
    "Machine-local paths, swallowed HTML, external scripts and raw math in a rendered page (its <main> part)."
    m = re.search(r'<main>(.*)</main>', page_html, re.S)
    sc = _PageScan(); sc.feed(m.group(1) if m else page_html)
    errs, text = [], ''.join(sc.text)
    for p in sorted(set(LOCAL_PATH.findall(text)))[:5]:
        errs.append(f'{f}: machine-local path in the page: {p}')
    for t in sorted(set(sc.unknown)):
        errs.append(f'{f}: <{t}> is not HTML (swallowed text from a docstring or prose?): escape it or put it in backticks')
    sc2 = _PageScan(); sc2.feed(page_html)
    for u in sorted(set(sc2.external)): errs.append(f'{f}: loads {u} from the network (the docs must work offline)')
    errs += raw_markdown_problems(f, ''.join(sc.rendered))
    errs += clipped_problems(f, page_html, sc.pres)
    if sc.math and not has_katex:
        errs.append(f'{f}: {len(sc.math)} math expressions (e.g. ${sc.math[0][:40]}$) but no math renderer (KaTeX) in the site')
    return errs, sc.math


def katex_problems(exprs_by_page, kdir):
    "Expressions KaTeX cannot parse (they would show red or raw), checked with node and the installed katex."
    node = shutil.which('node')
    if not node or not kdir or not exprs_by_page: return []
    items = [(f, e) for f, es in exprs_by_page.items() for e in sorted(set(es))]
    js = ("const k=require(process.argv[1]);let d='';process.stdin.on('data',c=>d+=c).on('end',()=>{const out=[];"
          "for(const [f,e] of JSON.parse(d)){try{k.renderToString(e,{throwOnError:true})}catch(x){out.push([f,e,String(x.message)])}}"
          "console.log(JSON.stringify(out))})")
    r = subprocess.run([node, '-e', js, str(kdir)], input=json.dumps(items), capture_output=True, text=True)
    if r.returncode: return [f'KaTeX check failed to run: {r.stderr.strip()[:300]}']
    return [f'{f}: KaTeX cannot render ${e[:60]}$: {msg[:160]}' for f, e, msg in json.loads(r.stdout)]


# ---------------------------------------------------------------------------------------------------------------
# KaTeX: installed from the npm registry into a git-ignored folder, copied into the site

def katex_dir(install=True):
    "The installed katex package folder (`$AVION_KATEX_DIR`, or build/docs_npm/node_modules/katex, installed with npm if missing)."
    env = os.environ.get('AVION_KATEX_DIR')
    d = Path(env) if env else KATEX_PREFIX/'node_modules'/'katex'
    def ok():
        try: return (d/'dist'/'katex.min.js').exists() and (env or json.loads((d/'package.json').read_text())['version'] == KATEX_VERSION)
        except Exception: return False
    if not ok() and install and not env:
        if shutil.which('npm'):
            print(f'installing katex@{KATEX_VERSION} from the npm registry into {d.parent.parent.relative_to(ROOT)}/')
            subprocess.run(['npm', 'install', '--no-save', '--no-audit', '--no-fund', '--loglevel=error',
                            '--prefix', str(KATEX_PREFIX), f'katex@{KATEX_VERSION}'], check=False)
        else: print('note: npm not found: cannot install KaTeX (math would stay raw)')
    return d if ok() else None


def copy_katex(kdir, out):
    "katex.min.{js,css}, its fonts and the auto-render extension into `out/katex/`."
    dst = out/'katex'; (dst/'contrib').mkdir(parents=True, exist_ok=True)
    for f in ('katex.min.js', 'katex.min.css'): shutil.copy(kdir/'dist'/f, dst/f)
    shutil.copy(kdir/'dist'/'contrib'/'auto-render.min.js', dst/'contrib'/'auto-render.min.js')
    shutil.copytree(kdir/'dist'/'fonts', dst/'fonts', dirs_exist_ok=True)
    shutil.copy(kdir/'LICENSE', dst/'LICENSE')


KATEX_HEAD = """<link rel="stylesheet" href="katex/katex.min.css"><script defer src="katex/katex.min.js"></script>
<script defer src="katex/contrib/auto-render.min.js"></script>
<script>document.addEventListener("DOMContentLoaded",function(){renderMathInElement(document.querySelector("main"),
{delimiters:[{left:"$$",right:"$$",display:true},{left:"\\\\[",right:"\\\\]",display:true},{left:"$",right:"$",display:false},
{left:"\\\\(",right:"\\\\)",display:false}],throwOnError:false,ignoredClasses:["jp-OutputArea-output"]});});</script>"""


PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title_text} – avion_nb</title>
{head}
<style>
body{{margin:0;font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;color:#222;display:flex}}
nav{{width:270px;min-width:270px;height:100vh;position:sticky;top:0;overflow-y:auto;background:#f6f8fa;border-right:1px solid #ddd;padding:16px;box-sizing:border-box;font-size:14px}}
nav h2{{font-size:18px;margin:0 0 12px}} nav .sec{{margin:14px 0 4px;font-weight:600;color:#555;text-transform:uppercase;font-size:12px}}
nav a{{display:block;padding:3px 6px;color:#0b57d0;text-decoration:none;border-radius:4px}} nav a.cur{{background:#dde7f7;font-weight:600}}
main{{flex:1;min-width:0;max-width:1100px;padding:24px 40px;box-sizing:border-box}}
main .description{{font-style:italic;color:#555;font-size:1.15em}}
main .description code,main h1 code{{font-style:normal;background:#f0f0f0;padding:0 3px;border-radius:3px}}
/* code blocks in prose (```sh ...```) and cells: a background; outputs: a salmon rule, no background */
.jp-RenderedMarkdown pre,.jp-MarkdownOutput pre{{background:#f6f8fa !important;padding:8px 10px !important;border-radius:4px;overflow-x:auto;white-space:pre !important;word-break:normal !important}}
.jp-RenderedMarkdown pre code,.jp-MarkdownOutput pre code{{white-space:pre !important;word-break:normal !important}}
/* input cells: the lab theme hides the editor's overflow, so long code lines scroll inside their own block */
.jp-InputArea-editor pre{{overflow-x:auto}}
.jp-OutputArea-output pre{{border-left:2px solid lightsalmon;background:none;padding-left:8px}}
/* printed logs: never wrapped mid-number; long ones scroll inside a box */
.jp-RenderedText pre{{white-space:pre !important;word-break:normal !important;overflow:auto;max-height:{stream_em}em}}
/* outputs as blocks that scroll sideways, so wide tables are not cut off */
.jp-OutputArea-child{{display:block !important}} .jp-OutputArea-prompt{{display:none !important}}
.jp-OutputArea-output{{display:block !important;max-width:100%;overflow-x:auto}}
.jp-RenderedHTMLCommon table{{table-layout:auto !important;border-collapse:collapse}}
.jp-RenderedHTMLCommon td,.jp-RenderedHTMLCommon th{{border:1px solid #ddd;padding:3px 8px;white-space:normal;max-width:40em;text-align:left}}
.jp-RenderedMarkdown td,.jp-RenderedMarkdown th{{white-space:normal}}
img{{max-width:100%;height:auto}}
.gpu-note{{background:#fff8e1;border-left:3px solid #f0ad4e;padding:6px 10px;font-size:.9em;margin:4px 0 12px}}
</style>
<script>window.addEventListener("load",function(){{setTimeout(function(){{document.documentElement.setAttribute("data-height",
Math.max(document.documentElement.scrollHeight,document.querySelector("main").scrollHeight))}},100)}})</script>
</head><body><nav><h2><a href="index.html">avion_nb</a></h2>{nav}</nav>
<main><h1>{title}</h1><p class="description">{desc}</p>{body}</main></body></html>"""


def build(src: Path, out: Path):
    from nbdev.config import get_config
    import nbdev.doclinks, nbdev.serve_drv
    from nbdev.processors import FilterDefaults
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    cfg = get_config()
    order = sidebar_order()
    listed = [f for _, f in order]
    present = sorted(p.name for p in NBS.glob('*.ipynb'))
    errors = []
    for f in present:
        if f not in listed: errors.append(f'nbs/{f} is not in nbs/sidebar.yml (a page missing from the sidebar)')
    for f in listed:
        if f not in present: errors.append(f'nbs/sidebar.yml lists {f}, which does not exist')
    # 1. build folder: notebooks from src (falling back to nbs/), config from nbs/; a note under every GPU-only cell
    bsrc = ROOT/'_docsrc'
    shutil.rmtree(bsrc, ignore_errors=True); bsrc.mkdir()
    gres = gpu_results()
    for f in present:
        s = src/f if (src/f).exists() else NBS/f
        if s != NBS/f and _sources(s) != _sources(NBS/f):
            # compare cell sources, not mtimes: `nbdev_clean` rewrites every notebook after the tests ran
            print(f'note: {s} does not have the cells of nbs/{f} (stale): using nbs/{f} (no outputs); '
                  f'python scripts/test_nbs.py {NBS.name}/{f} refreshes it'); s = NBS/f
        nb = json.loads(s.read_text())
        (bsrc/f).write_text(json.dumps(mark_gpu_cells(nb, f, gres), indent=1))
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
    kdir = katex_dir()
    if kdir: copy_katex(kdir, out)
    exp = HTMLExporter(template_name='lab', exclude_input_prompt=True, exclude_output_prompt=True)
    exp.register_preprocessor(TagRemovePreprocessor(remove_input_tags={'remove_input'}, enabled=True), enabled=True)
    doc_url = f"{cfg.get('doc_host', '').rstrip('/')}{cfg.get('doc_baseurl', '')}".rstrip('/') or None
    mod_pages = {re.sub(r'^\d+[a-z]?_', '', f).replace('.ipynb', '.html'): _html_name(f) for f in present}
    mod_pages.update({'index.html': 'index.html'})
    pages = {}
    for f in listed:
        p = Path(cache)/f
        if not p.exists(): errors.append(f'processing produced no {f}'); continue
        nb = _read(p)
        title, desc = frontmatter(nb)
        if not title: errors.append(f'{f}: no title (first cell must be "# Title" then "> description")')
        for i, c in enumerate(nb.cells):
            for o in c.get('outputs', []): errors += output_problems(f, i, o)
        nb.cells = [c for c in nb.cells if not (c.cell_type == 'raw' and c.source.startswith('---'))]
        nb.cells = [merge_streams(scrub_tempdirs(c)) for c in (quarto_cell_options(c, doc_url, mod_pages) for c in nb.cells) if c is not None]
        try:
            body, _ = exp.from_notebook_node(nb)
        except Exception as e:
            errors.append(f'{f}: nbconvert failed: {e!r}'); continue
        m_head = re.search(r'<head>(.*)</head>', body, re.S); m_body = re.search(r'<body[^>]*>(.*)</body>', body, re.S)
        pages[f] = (title or f, desc or '', m_head.group(1) if m_head else '', m_body.group(1) if m_body else body)
    math = {}
    for f, (title, desc, head, body) in pages.items():
        nav, cur_sec = [], object()
        for sec, g in order:
            if sec != cur_sec and sec: nav.append(f'<div class="sec">{html.escape(sec)}</div>')
            cur_sec = sec
            t = pages.get(g, (g,))[0]
            nav.append(f'<a href="{_html_name(g)}"{" class=cur" if g == f else ""}>{md_inline(str(t))}</a>')
        # nbconvert's head loads MathJax, require.js, the widget manager and mermaid from CDNs: keep only its styles
        head = re.sub(r'<title>.*?</title>|<script\b.*?</script>|<link\b[^>]*>', '', head, flags=re.S)
        head += KATEX_HEAD if kdir else ''
        page = PAGE.format(title_text=html.escape(re.sub(r'[`*]', '', title)), title=md_inline(title),
                           desc=md_inline(desc), head=head, nav='\n'.join(nav), body=body, stream_em=STREAM_MAX_LINES * 1.3)
        (out/_html_name(f)).write_text(page)
        errs, math[f] = page_problems(f, page, bool(kdir))
        errors += errs
    errors += katex_problems(math, kdir)
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
    """README.md from the processed index notebook: title, description, then its markdown cells and the outputs
    of its code cells (`#| echo: false` cells show only their output, e.g. a figure read from benchmarks/)."""
    from nbconvert import MarkdownExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    nb = _read(Path(cache)/'index.ipynb')
    title, desc = frontmatter(nb)
    # drop the front matter and nbdev's own "autogenerated" cell (it is about the processed notebook)
    nb.cells = [c for c in nb.cells if not (c.cell_type == 'raw' or 'THIS FILE WAS AUTOGENERATED' in c.source)]
    for c in nb.cells:
        if c.cell_type == 'markdown': c.source = pandoc_links(c.source)
    nb.cells = [c for c in map(quarto_cell_options, nb.cells) if c is not None]
    exp = MarkdownExporter()
    exp.register_preprocessor(TagRemovePreprocessor(remove_input_tags={'remove_input'}, enabled=True), enabled=True)
    md, _ = exp.from_notebook_node(nb)
    md = re.sub(r'\n{3,}', '\n\n', md).strip()
    # a link to a notebook page (`[Data layout](09_data_layout.ipynb)`) works in the docs; from the repo root it is nbs/...
    md = re.sub(r'\]\(([\w.-]+\.ipynb)(#[^)\s]*)?\)',
                lambda m: f'](nbs/{m.group(1)}{m.group(2) or ""})' if (NBS/m.group(1)).exists() else m.group(0), md)
    return f'# {title}\n\n{README_WARNING}\n\n> {desc}\n\n{md}\n'


def self_check():
    "The page checks on a made-up page: each kind of raw Markdown and clipped code is found, code and scrolling boxes are not."
    long = 'x = 1; ' * 30
    page = ('<style>.box{overflow:hidden} .ok pre{overflow-x:auto}</style><main>'
            '<div class="jp-RenderedMarkdown"><p>ok <strong>b</strong></p><pre><code># comment\n|---|---|</code></pre></div>'
            '<div class="jp-RenderedText"><pre>## Results\n| a | b |\n|---|---|\nsee **this**, [p](09_x.ipynb)</pre></div>'
            f'<div class="box"><div class="highlight"><pre>{long}</pre></div></div><div class="box ok"><pre>{long}</pre></div>'
            '<div class="jp-InputArea-editor ok"><pre># code comment\nprint("**kw**")</pre></div></main>')
    errs = page_problems('t', page, True)[0]
    kinds = ['Markdown table', 'Markdown heading', 'Markdown emphasis', 'Markdown link', 'code clipped']
    assert [sum(k in e for e in errs) for k in kinds] == [1] * len(kinds), errs


def readme_link_problems(md, root=ROOT):
    "Relative links of README.md (outside code) whose target does not exist from the repository root."
    text = _re_code.sub('', md)
    return [f'README.md: the link ({t}) points to nothing from the repository root' for t in
            re.findall(r'\]\(([^)\s]+)\)', text) if not re.match(r'[a-z]+:|#', t) and not (root/t.split('#')[0]).exists()]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--src', default=None, help='folder of executed notebooks (default: _exec if present, else nbs)')
    p.add_argument('--out', default='_site', help='output folder for the HTML pages')
    p.add_argument('--execute', action='store_true', help='run scripts/test_nbs.py first to get fresh outputs')
    p.add_argument('--write_readme', action='store_true', help='rewrite README.md instead of checking it')
    p.add_argument('--install_katex', action='store_true', help=f'only install katex@{KATEX_VERSION} with npm (into build/docs_npm/) and exit')
    a = p.parse_args()
    os.chdir(ROOT)
    if a.install_katex:
        d = katex_dir()
        print(f'katex: {d.relative_to(ROOT) if d and d.is_relative_to(ROOT) else d}' if d else 'katex: NOT installed')
        sys.exit(0 if d else 1)
    self_check()   # the page checks still find what they are meant to find
    if a.execute:
        subprocess.run([sys.executable, 'scripts/test_nbs.py', '--save_dir', '_exec'], check=True)
    src = Path(a.src) if a.src else (ROOT/'_exec' if (ROOT/'_exec').exists() else NBS)
    errors, cache = build(src, (ROOT/a.out).resolve())
    rd = readme_text(cache)
    if a.write_readme: (ROOT/'README.md').write_text(rd); print('wrote README.md')
    elif not (ROOT/'README.md').exists() or (ROOT/'README.md').read_text() != rd:
        errors.append('README.md is out of date with nbs/index.ipynb: run python scripts/build_docs.py --write_readme')
    errors += readme_link_problems(rd)
    n = len(list((ROOT/a.out).glob('*.html')))
    for e in errors: print('DOCS ERROR:', e)
    print(f'docs: {n} pages written to {a.out}/ ({len(errors)} errors)')
    sys.exit(1 if errors or n == 0 else 0)


if __name__ == '__main__':
    main()
