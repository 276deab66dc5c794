#!/usr/bin/env python
"""Edit notebooks as text: convert between `nbs/*.ipynb` and jupytext "percent" scripts.

The notebooks stay the source of truth; this is only an editing aid for people (and tools) who prefer text.

    python scripts/nbtext.py to-py nbs/03_decode.ipynb .nbsrc/03_decode.py   # notebook -> percent script
    python scripts/nbtext.py to-nb .nbsrc/03_decode.py nbs/03_decode.ipynb   # percent script -> clean notebook

`to-nb` writes a notebook with a python3 kernelspec and no jupytext metadata, then runs `nbdev_clean` on it,
so the result is exactly what CI expects.
"""
import json, subprocess, sys
from pathlib import Path
import jupytext

KERNEL = {'display_name': 'Python 3 (ipykernel)', 'language': 'python', 'name': 'python3'}


def to_nb(src, dst):
    nb = jupytext.read(src, fmt='py:percent')
    nb.metadata = {'kernelspec': KERNEL}
    for c in nb.cells: c.metadata = {}
    jupytext.write(nb, dst, fmt='ipynb')
    subprocess.run(['nbdev_clean', '--fname', str(dst)], check=True)


def to_py(src, dst):
    nb = jupytext.read(src)
    jupytext.write(nb, dst, fmt='py:percent')
    # drop the jupytext header so the script stays minimal
    txt = Path(dst).read_text()
    if txt.startswith('# ---'):
        end = txt.find('# ---', 5)
        txt = txt[txt.find('\n', end) + 1:].lstrip('\n')
        Path(dst).write_text(txt)


if __name__ == '__main__':
    if len(sys.argv) != 4 or sys.argv[1] not in ('to-nb', 'to-py'): sys.exit(__doc__)
    (to_nb if sys.argv[1] == 'to-nb' else to_py)(sys.argv[2], sys.argv[3])
