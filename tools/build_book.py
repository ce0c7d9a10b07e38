"""Build the series into a static website: ``make book`` → ``_build/book/index.html``.

Every ``notebooks/NN_*.ipynb`` becomes one page with its stored outputs (widgets show the static fallback figure they
were stored with), the README is the landing page with the table of contents in the numbering above it, and the
glossary of notebook 00 gets a page of its own. Every page carries the same navigation bar (contents, glossary,
previous / next notebook); links to notebooks and markdown files of the repository are rewritten to their pages, links
to other files of the repository are copied along, so every relative link of the site resolves.

Why nbconvert: it is already in the pinned environment (no new dependency), it is the renderer the series is tested
with, it is maintained by the Jupyter project, and its templates ship inside the wheel, so the build needs no network
(Jupyter Book 2 builds through a Node toolchain that fetches its theme; Jupyter Book 1 / Sphinx would add dozens of
packages for the same pages). The pages load MathJax from its CDN when viewed online; offline the formulas show as
TeX source. Usage: ``python tools/build_book.py [-o _build/book]``.
"""
from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_RE = re.compile(r"^(\d\d)_[a-z0-9_]+\.ipynb$")
HREF_RE = re.compile(r'(href|src)="([^"#?]*)([^"]*)"')
TITLE_RE = re.compile(r"^#\s+(.+)$", re.M)
BADGE_IMG_RE = re.compile(r'<img alt="Open In Colab" src="https://colab\.research\.google\.com/assets/[^"]*"\s*/?>')
NAV_CSS = """<style>
.book-nav{position:sticky;top:0;z-index:10;background:#f7f7f7;border-bottom:1px solid #ddd;padding:6px 16px;
font:14px/1.6 system-ui,sans-serif;display:flex;gap:14px;flex-wrap:wrap;align-items:center}
.book-nav a{text-decoration:none;color:#1a5fb4}.book-nav .here{font-weight:600}.book-nav .grow{flex:1}
.book-toc{font:15px/1.7 system-ui,sans-serif;margin:12px 100px 24px}.book-toc ul{list-style:none;padding-left:12px}
.colab-badge{font:12px system-ui,sans-serif;background:#f9ab00;color:#222;border-radius:3px;padding:1px 6px;
white-space:nowrap}</style>"""


def notebooks(root: Path = ROOT) -> list:
    return sorted(p for p in (root / "notebooks").glob("*.ipynb") if NOTEBOOK_RE.match(p.name))


def title_of(nb: dict, fallback: str) -> str:
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            m = TITLE_RE.search("".join(cell["source"]))
            if m:
                return m.group(1).strip()
    return fallback


def _exporter():
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    exporter.require_js_url = ""  # only interactive widget state needs require.js; none is stored
    return exporter


def _markdown_notebook(text: str, title: str):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)])
    nb.metadata["title"] = title
    return nb


class Book:
    """One build: pages are rendered into ``out``; ``pending`` holds linked repository files still to publish."""

    def __init__(self, out: Path, root: Path = ROOT):
        self.root, self.out = root, out
        self.exporter = _exporter()
        self.nbs = notebooks(root)
        self.titles = {p: title_of(json.loads(p.read_text(encoding="utf-8")), p.stem) for p in self.nbs}
        self.pending: list = []
        self.done: set = set()

    def page_of(self, src: Path) -> Path:
        """Where a repository file lives in the site (``.ipynb`` / ``.md`` become ``.html``)."""
        rel = src.relative_to(self.root)
        if src == self.root / "README.md":
            return self.out / "index.html"
        return self.out / (rel.with_suffix(".html") if src.suffix in (".ipynb", ".md") else rel)

    def nav(self, page: Path) -> str:
        def a(target: Path, text: str) -> str:
            cls = ' class="here"' if target == page else ""
            return f'<a{cls} href="{_rel(target, page)}">{html.escape(text)}</a>'

        items = [a(self.out / "index.html", "gfplearn · contents"), a(self.out / "glossary.html", "glossary · 术语表"),
                 '<span class="grow"></span>']
        pages = [self.page_of(p) for p in self.nbs]
        if page in pages:
            i = pages.index(page)
            if i:
                items.append(a(pages[i - 1], "← " + self.titles[self.nbs[i - 1]]))
            if i + 1 < len(pages):
                items.append(a(pages[i + 1], self.titles[self.nbs[i + 1]] + " →"))
        return f'{NAV_CSS}<nav class="book-nav">{"".join(items)}</nav>'

    def toc(self, page: Path) -> str:
        rows = "".join(f'<li><a href="{_rel(self.page_of(p), page)}">{html.escape(self.titles[p])}</a></li>'
                       for p in self.nbs)
        glossary = f'<li><a href="{_rel(self.out / "glossary.html", page)}">Glossary · 术语表</a></li>'
        return f'<div class="book-toc"><strong>Contents</strong><ul>{rows}{glossary}</ul></div>'

    def write(self, page: Path, body: str, src_dir: Path, title: str, toc: bool = False) -> None:
        body = HREF_RE.sub(lambda m: self._link(m, src_dir, page), body)
        body = re.sub(r"<title>.*?</title>", f"<title>{html.escape(title)}</title>", body, count=1, flags=re.S)
        body = body.replace('<script src=""></script>', "")
        body = BADGE_IMG_RE.sub('<span class="colab-badge">open in Colab</span>', body)  # no remote image
        extra = self.nav(page) + (self.toc(page) if toc else "")
        body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + extra, body, count=1)
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(body, encoding="utf-8")

    def _link(self, m, src_dir: Path, page: Path) -> str:
        attr, target, rest = m.groups()
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("/"):
            return m.group(0)  # a fragment, an absolute URL (http:, data:, mailto:) or a site-absolute path
        src = (src_dir / target).resolve()
        if not src.is_relative_to(self.root) or not src.exists():
            return m.group(0)  # left as it is; the link check of the tests reports it
        if src not in self.done:
            self.done.add(src)
            self.pending.append(src)
        return f'{attr}="{_rel(self.page_of(src), page)}{rest}"'

    def render(self, src: Path) -> None:
        page = self.page_of(src)
        if src.suffix == ".ipynb":
            import nbformat

            nb = nbformat.read(src, as_version=4)
            body, _ = self.exporter.from_notebook_node(nb)
            self.write(page, body, src.parent, self.titles.get(src, src.stem))
        elif src.suffix == ".md":
            text = src.read_text(encoding="utf-8")
            title = (TITLE_RE.search(text) or [None, src.stem])[1]
            body, _ = self.exporter.from_notebook_node(_markdown_notebook(text, title))
            self.write(page, body, src.parent, title, toc=src == self.root / "README.md")
        elif src.is_file():
            page.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, page)

    def glossary(self) -> None:
        """The "Glossary · 术语表" section of notebook 00 as its own page."""
        overview = next((p for p in self.nbs if p.name.startswith("00_")), None)
        text = "# Glossary · 术语表\n\nThe glossary of notebook 00 is not there yet."
        if overview is not None:
            for cell in json.loads(overview.read_text(encoding="utf-8"))["cells"]:
                src = "".join(cell["source"])
                if cell["cell_type"] == "markdown" and src.startswith("## Glossary"):
                    text = "#" + src
        body, _ = self.exporter.from_notebook_node(_markdown_notebook(text, "Glossary · 术语表"))
        self.write(self.out / "glossary.html", body, self.root / "notebooks", "Glossary · 术语表")

    def build(self) -> list:
        if self.out.exists():
            shutil.rmtree(self.out)
        self.out.mkdir(parents=True)
        self.done.update([self.root / "README.md", *self.nbs])
        self.pending = [self.root / "README.md", *self.nbs]
        self.glossary()
        while self.pending:
            self.render(self.pending.pop(0))
        return sorted(self.out.rglob("*.html"))


def _rel(target: Path, page: Path) -> str:
    import os

    return Path(os.path.relpath(target, page.parent)).as_posix()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", type=Path, default=ROOT / "_build" / "book")
    args = ap.parse_args(argv)
    pages = Book(args.out.resolve()).build()
    print(f"{len(pages)} pages in {args.out}; open {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
