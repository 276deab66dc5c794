#!/usr/bin/env python
"""Screenshot every page of the static docs (`_site/`, from `scripts/build_docs.py`) in headless Chromium, for review.

Uses Debian's `chromium` (`apt-get install -y chromium`) with a fresh profile and no network services, one process
per page. Each page is captured at its full height (measured in a first pass: the pages record it in `<html data-height>`;
capped by `--max_height` px) so that the whole page can be read, and a
small copy (`--small_width` px wide) is written next to it for committing as evidence.

    python scripts/build_docs.py && python scripts/screenshot_docs.py                 # -> _site/screenshots/
    python scripts/screenshot_docs.py --out benchmarks/docs/pages --small_only        # small copies only
    python scripts/screenshot_docs.py --pages 21_metrics 80_benchmarks                 # some pages

A page that fails to render (Chromium error or a blank image) is reported and makes the script exit 1.
"""
import argparse, os, shutil, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync', '--hide-scrollbars',
         '--disable-default-apps', '--disable-extensions', '--mute-audio', '--force-device-scale-factor=1']


def chromium():
    "Path of the Chromium binary (Debian's `chromium`, or `chromium-browser` / `google-chrome`)."
    for n in ('chromium', 'chromium-browser', 'google-chrome'):
        if shutil.which(n): return shutil.which(n)
    sys.exit('chromium not found: apt-get install -y chromium')


def page_height(exe, url, width, timeout=90):
    """The page's rendered height in px: build_docs.py's pages write it into `<html data-height=...>` once loaded
    (after KaTeX), and `--dump-dom` prints the DOM; None if not found."""
    import re
    with tempfile.TemporaryDirectory(prefix='chromium-profile-', ignore_cleanup_errors=True) as prof:
        try:
            r = subprocess.run([exe, *FLAGS, f'--user-data-dir={prof}', f'--window-size={width},1000',
                                '--virtual-time-budget=5000', '--dump-dom', url], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired: return None
    m = re.search(r'<html[^>]*data-height="(\d+)"', r.stdout)
    return int(m.group(1)) if m else None


def shoot(exe, url, png, width, height, timeout=90):
    "One screenshot of `url` at `width` x `height` into `png`; returns (ok, message)."
    with tempfile.TemporaryDirectory(prefix='chromium-profile-', ignore_cleanup_errors=True) as prof:
        cmd = [exe, *FLAGS, f'--user-data-dir={prof}', f'--window-size={width},{height}', '--virtual-time-budget=5000',
               '--run-all-compositor-stages-before-draw', f'--screenshot={png}', url]
        try: r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired: return False, 'timed out'
    if not Path(png).exists(): return False, (r.stderr.strip().splitlines() or ['no screenshot written'])[-1]
    return True, ''


def is_blank(png):
    "True if the image is (almost) one colour."
    from PIL import Image
    im = Image.open(png).convert('L').resize((64, 64))
    lo, hi = im.getextrema()
    return hi - lo < 10


def small_copy(png, dst, width):
    "A downscaled copy (PNG, `width` px wide, palette-quantised) of `png` at `dst`."
    from PIL import Image
    im = Image.open(png).convert('RGB')
    h = round(im.height * width / im.width)
    im.resize((width, h), Image.LANCZOS).quantize(colors=128).save(dst, optimize=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--site', default='_site', help='folder of the static docs')
    p.add_argument('--out', default=None, help='where screenshots go (default: <site>/screenshots)')
    p.add_argument('--pages', nargs='*', help='page names (without .html); default: every page')
    p.add_argument('--width', type=int, default=1280, help='window width in px')
    p.add_argument('--max_height', type=int, default=30000, help='cap on the captured page height in px')
    p.add_argument('--height', type=int, default=0, help='fixed window height in px (0: estimated from the page, full page)')
    p.add_argument('--small_width', type=int, default=640, help='width of the small copies in px')
    p.add_argument('--small_only', action='store_true', help='keep only the small copies')
    p.add_argument('--timeout', type=int, default=90, help='seconds per Chromium call (raise it on a loaded machine)')
    a = p.parse_args()
    os.chdir(ROOT)
    site = Path(a.site).resolve()
    if not (site/'index.html').exists(): sys.exit(f'{a.site}/index.html not found: run python scripts/build_docs.py first')
    out = Path(a.out or site/'screenshots'); out.mkdir(parents=True, exist_ok=True)
    pages = sorted(site.glob('*.html')) if not a.pages else [site/f'{n}.html' for n in a.pages]
    exe, bad = chromium(), []
    for pg in pages:
        if not pg.exists(): bad.append(f'{pg.name}: no such page'); continue
        h = a.height or min(a.max_height, (page_height(exe, pg.as_uri(), a.width, a.timeout) or 3000) + 20)
        full = out/f'{pg.stem}.png' if not a.small_only else Path(tempfile.mkdtemp())/f'{pg.stem}.png'
        ok, msg = shoot(exe, pg.as_uri(), full, a.width, h, a.timeout)
        if ok and is_blank(full): ok, msg = False, 'blank page'
        if not ok: bad.append(f'{pg.name}: {msg}'); print(f'FAIL {pg.name}: {msg}', flush=True); continue
        small_copy(full, out/f'{pg.stem}.small.png' if not a.small_only else out/f'{pg.stem}.png', a.small_width)
        if a.small_only: full.unlink()
        print(f'ok   {pg.name} ({a.width}x{h})', flush=True)
    print(f'screenshots: {len(pages) - len(bad)} of {len(pages)} pages in {out}')
    sys.exit(1 if bad else 0)


if __name__ == '__main__':
    main()
